/**
 * The limiter's logic over a store: admission of each request (operating budget -> `slow` limits ->
 * concurrency ceiling -> leaky bucket), feedback from responses, and counters.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { resolveLimits } from "../BitrixConfig.js"
import * as Metrics from "../Metrics.js"
import type { RateLimiterStoreError } from "../BitrixError.js"
import type { Capacity, Grant, LimiterStats, Options, Outcome, Service, StoreService } from "../RateLimiter.js"
import type * as Bucket from "./limiterBucket.js"
import * as Claims from "./limiterClaims.js"
import * as Flights from "./limiterFlights.js"
import { type Gate, unsafeMakeGate } from "./limiterGate.js"
import * as Operating from "./limiterOperating.js"
import { SlowOverride } from "./limiterSlow.js"

/** The numbers the logic runs on, after presets, headroom and defaults. */

/** Feeds a wait on a limit to the metrics (`Metrics.limiterWaits`, `Metrics.limiterWaitMs`). */
const recordWait = (limit: "bucket" | "operating", waitMs: number) =>
  Effect.zipRight(
    Metric.increment(Metric.tagged(Metrics.limiterWaits, "limit", limit)),
    Metric.incrementBy(Metric.tagged(Metrics.limiterWaitMs, "limit", limit), waitMs)
  )

/** The limiter's settings for one portal: its keys in the store, the limits it keeps to and its concurrency ceiling. */
export interface Settings {
  /** The bucket's key: `bucket:<portal>:<egress>` (the portal keeps its bucket per portal and source address). */
  readonly bucketKey: string
  /** The budgets' key: `operating:<portal>:<credential>` (the portal keeps them per credential and method). */
  readonly budgetKey: string
  /** How long a failing store is retried before the limiter gives up. */
  readonly storeRetry: Duration.Duration
  /** `undefined` when limits are off: no bucket at all. */
  readonly bucket: Bucket.BucketShape | undefined
  /** With limits off the limit is infinite, so only explicit blocks (a 429 that arrived anyway) hold a method. */
  readonly operating: Operating.OperatingShape
  /** Upper bound of the concurrency ceiling; `Infinity` when unbounded. */
  readonly maxConcurrent: number
  readonly initialConcurrent: number
}

/**
 * The spread of arrival delays the bucket allows for by default (see `RateLimiter.Options.arrivalJitterMs`): a
 * second covers connection set-up, network jitter and a busy event loop on either side, and costs each busy stretch
 * one second once (two requests' worth on the standard plan), never the steady rate.
 */
export const defaultArrivalJitterMs = 1000

/** The default window when limits are off, only used to prune. */
const defaultWindowMs = 600_000
/** Multiplicative decrease happens at most once per this interval, so one burst of 503s halves once. */
const shrinkIntervalMs = 1000
/** How long a failing store is retried by default (a Redis failover or restart takes seconds). */
export const defaultStoreRetry: Duration.Duration = Duration.seconds(30)

/**
 * The store retried while it fails, for `within` at most: from 100 ms apart, doubling, to at most 2 s apart. A
 * store's operation is atomic and at worst repeats a reservation (which only makes the pacing more careful), so a
 * retry is always safe.
 */
const storeSchedule = (within: Duration.Duration) =>
  Schedule.exponential("100 millis", 2).pipe(Schedule.union(Schedule.spaced("2 seconds")), Schedule.upTo(within))

/** Resolves the options to numbers. */
export const resolveSettings = (options: Options): Settings => {
  const limits = resolveLimits(options.limits)
  const headroom = Math.max(0, options.bucketHeadroom ?? 0)
  // Other apps on the same portal and IP drain the same bucket: run `headroom` requests under its size.
  const jitter = options.arrivalJitterMs
  const arrivalJitterMs = jitter !== undefined && Number.isFinite(jitter) && jitter >= 0 ? jitter : defaultArrivalJitterMs
  const bucket =
    limits === undefined
      ? undefined
      : { poolSize: Math.max(1, limits.poolSize - headroom), requestsPerSecond: limits.requestsPerSecond, arrivalJitterMs }
  const maxConcurrent =
    options.maxConcurrent !== undefined ? Math.max(1, Math.floor(options.maxConcurrent)) : bucket?.poolSize ?? Infinity
  const portal = options.key ?? "default"
  const storeRetry = options.storeRetry === undefined ? defaultStoreRetry : Duration.decode(options.storeRetry)
  return {
    bucketKey: `bucket:${portal}:${options.egress ?? "default"}`,
    budgetKey: `operating:${portal}:${options.credential ?? "default"}`,
    storeRetry,
    bucket,
    operating:
      limits === undefined
        ? { limitSeconds: Infinity, windowMs: defaultWindowMs }
        : { limitSeconds: limits.operatingLimitSeconds, windowMs: limits.operatingWindowSeconds * 1000 },
    maxConcurrent,
    initialConcurrent: Math.min(maxConcurrent, bucket?.poolSize ?? Infinity)
  }
}

/** Counts how often each method occurs: a batch of 50 `crm.lead.get` weighs 50 in that method's estimate. */
const methodWeights = (methods: ReadonlyArray<string>): ReadonlyMap<string, number> => {
  const weights = new Map<string, number>()
  for (const method of methods) {
    const key = Operating.methodKey(method)
    weights.set(key, (weights.get(key) ?? 0) + 1)
  }
  return weights
}

/** When the request running in this fiber was admitted (set by `withPermit` around it), for `record`. */
const admittedAt = FiberRef.unsafeMake<number | undefined>(undefined)

/**
 * The calls of one method that finished but may be in no report held (see `settling` in `makeService`), oldest
 * first: both ways they leave (a report from a request admitted after them, the end of the window) take the
 * oldest, so they are dropped from the front and the weight is kept as a sum. A limiter of 100,000 bulk items
 * sees thousands of them in a window; filtering a list on each answer cost time and memory growing with it.
 */
class SettlingCalls {
  private readonly finishedAtMs: Array<number> = []
  private readonly weights: Array<number> = []
  private head = 0
  /** The weight of the calls held. */
  weight = 0
  /** A call finished at `atMs` (kept in order: a clock that steps back keeps the call a little longer). */
  add(weight: number, atMs: number): void {
    const last = this.finishedAtMs.length > this.head ? this.finishedAtMs[this.finishedAtMs.length - 1]! : atMs
    this.finishedAtMs.push(Math.max(atMs, last))
    this.weights.push(weight)
    this.weight += weight
  }
  /** Drops the calls that finished at or before `ms`. */
  dropThrough(ms: number): void {
    while (this.head < this.finishedAtMs.length && this.finishedAtMs[this.head]! <= ms) {
      this.weight -= this.weights[this.head]!
      this.head++
    }
    if (this.head === this.finishedAtMs.length) {
      this.finishedAtMs.length = 0
      this.weights.length = 0
      this.head = 0
      this.weight = 0
    } else if (this.head > 1024 && this.head * 2 > this.finishedAtMs.length) {
      this.finishedAtMs.splice(0, this.head)
      this.weights.splice(0, this.head)
      this.head = 0
    }
  }
}

/** Acquires `gate` and registers its release in `scope`, with no gap an interruption could slip into. */
const holdIn = (scope: Scope.Scope, gate: Gate) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.zipRight(restore(gate.acquire), Scope.addFinalizer(scope, gate.release))
  )

/**
 * Makes the limiter's service over `store`. `guards.answers: false` leaves out the gate on answers (for tests that
 * show what the arithmetic on starts does alone).
 */
export const makeService = (
  options: Options,
  store: StoreService,
  guards: { readonly answers: boolean } = { answers: true }
): Effect.Effect<Service> =>
  Effect.sync(() => {
    const settings = resolveSettings(options)
    const ceiling = unsafeMakeGate(settings.initialConcurrent)
    let ceilingValue = settings.initialConcurrent
    let lastShrinkAtMs = Number.NEGATIVE_INFINITY
    const counters = {
      started: 0,
      inFlight: 0,
      bucketWaits: 0,
      bucketWaitMs: 0,
      operatingWaits: 0,
      operatingWaitMs: 0,
      throttled: 0,
      serverErrors: 0,
      methodBlocks: 0
    }
    /** This limiter's requests that may still count in the portal's bucket (see `limiterFlights.ts`). */
    let flights: Array<Flights.Flight> = []
    /** Requests per method that passed the budget check and have not finished. */
    const pending = new Map<string, number>()
    /**
     * Calls that finished but may be in no report held: the portal bills a request as it ends, and a report is
     * the total when its own request ran, so it leaves out whatever was still running then. A call stays here
     * until a report arrives from a request admitted after it finished (that total includes it), or until it
     * leaves the window.
     */
    const settling = new Map<string, SettlingCalls>()
    const settlingOf = (method: string) => {
      const existing = settling.get(method)
      if (existing !== undefined) return existing
      const created = new SettlingCalls()
      settling.set(method, created)
      return created
    }
    const settlingCalls = (method: string, nowMs: number) => {
      const calls = settling.get(method)
      if (calls === undefined) return 0
      calls.dropThrough(nowMs - settings.operating.windowMs)
      return calls.weight
    }
    /** Completed (and replaced) whenever a method's budget or pending count changes, to wake its waiters. */
    const signals = new Map<string, Deferred.Deferred<void>>()

    const signalOf = (method: string) => {
      const existing = signals.get(method)
      if (existing !== undefined) return existing
      const created = Deferred.unsafeMake<void>(FiberId.none)
      signals.set(method, created)
      return created
    }
    const notify = (methods: Iterable<string>) =>
      Effect.sync(() => {
        for (const method of methods) {
          const signal = signals.get(method)
          if (signal === undefined) continue
          signals.delete(method)
          Deferred.unsafeDone(signal, Effect.void)
        }
      })

    const setCeiling = (next: number) => {
      ceilingValue = next
      return ceiling.resize(next)
    }

    const schedule = storeSchedule(settings.storeRetry)
    /** A store operation retried while the store fails (a warning on the first failure), then its error. */
    const viaStore = <A>(operation: Effect.Effect<A, RateLimiterStoreError>): Effect.Effect<A, RateLimiterStoreError> => {
      let warned = false
      return operation.pipe(
        Effect.tapError((error) =>
          warned
            ? Effect.void
            : Effect.zipRight(
                Effect.sync(() => void (warned = true)),
                Effect.logWarning("rate limiter: the store failed; no request starts until it answers").pipe(
                  Effect.annotateLogs({ store: error.store, operation: error.operation, detail: error.detail })
                )
              )
        ),
        Effect.retry(schedule)
      )
    }
    /**
     * A store write after an answer came: retried like any, but never a failure of the request it reports on (its
     * answer is in hand, and failing it would lose rows or invite a repeated write). Dropped with a warning.
     */
    const afterAnswer = (operation: Effect.Effect<void, RateLimiterStoreError>): Effect.Effect<void> =>
      viaStore(operation).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("rate limiter: the store stayed unreachable; this feedback is lost").pipe(
            Effect.annotateLogs({ store: error.store, operation: error.operation, detail: error.detail })
          )
        )
      )

    /** The first method that must wait, or reserves the budget of all of them. */
    const tryReserveBudgets = (
      weights: ReadonlyMap<string, number>,
      budgets: ReadonlyArray<Operating.MethodBudget>,
      nowMs: number
    ): { readonly method: string; readonly verdict: Operating.Verdict & { readonly _tag: "Wait" } } | undefined => {
      let index = 0
      for (const [method, weight] of weights) {
        const verdict = Operating.decide(budgets[index++]!, settings.operating, nowMs, pending.get(method) ?? 0, weight, settlingCalls(method, nowMs))
        if (verdict._tag === "Wait") return { method, verdict }
      }
      for (const [method, weight] of weights) pending.set(method, (pending.get(method) ?? 0) + weight)
      return undefined
    }

    const releaseBudgets = (weights: ReadonlyMap<string, number>) =>
      Effect.zipRight(
        Effect.flatMap(Clock.currentTimeMillis, (nowMs) =>
          Effect.sync(() => {
            for (const [method, weight] of weights) {
              const left = (pending.get(method) ?? 0) - weight
              if (left > 0) pending.set(method, left)
              else pending.delete(method)
              const calls = settlingOf(method)
              calls.dropThrough(nowMs - settings.operating.windowMs)
              calls.add(weight, nowMs)
            }
          })
        ),
        notify(weights.keys())
      )

    /** Waits until every method has budget, then counts the request as pending for each until `scope` closes. */
    const awaitBudgets = (weights: ReadonlyMap<string, number>, scope: Scope.Scope) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const methods = [...weights.keys()]
          let waitStartedMs: number | undefined
          while (true) {
            // Take the wake-up signals before reading, so a change between the read and the wait is not lost.
            const wakeUps = new Map(methods.map((method) => [method, signalOf(method)] as const))
            const nowMs = yield* Clock.currentTimeMillis
            const budgets = yield* restore(
              viaStore(store.methodBudgets({ key: settings.budgetKey, methods, nowMs, windowMs: settings.operating.windowMs }))
            )
            const blocked = tryReserveBudgets(weights, budgets, nowMs)
            if (blocked === undefined) {
              yield* Scope.addFinalizer(scope, releaseBudgets(weights))
              if (waitStartedMs !== undefined) {
                counters.operatingWaits++
                counters.operatingWaitMs += nowMs - waitStartedMs
                yield* recordWait("operating", nowMs - waitStartedMs)
              }
              return
            }
            const { method, verdict } = blocked
            const waitMs = verdict.untilMs === undefined ? undefined : Math.max(0, verdict.untilMs - nowMs)
            if (waitStartedMs === undefined) {
              waitStartedMs = nowMs
              yield* Effect.logDebug("rate limiter: waiting for a method's operating budget").pipe(
                Effect.annotateLogs({ method, reason: verdict.reason, waitMs: waitMs ?? "until a request finishes" })
              )
            }
            const wakeUp = Deferred.await(wakeUps.get(method)!)
            yield* restore(waitMs === undefined ? wakeUp : Effect.race(Effect.sleep(waitMs), wakeUp))
          }
        })
      )

    /**
     * Claims the next start of every `slow` pacer in force, holding each pacer's lock in `locks` until the
     * start; the returned effect records the start and frees the locks.
     */
    const claimPacedStart = (locks: Scope.CloseableScope) =>
      Effect.gen(function* () {
        const pacers = (yield* SlowOverride).flatMap((program) => (program.pacer === undefined ? [] : [program.pacer]))
        for (const pacer of pacers) {
          yield* holdIn(locks, pacer.lock)
          const nowMs = yield* Clock.currentTimeMillis
          if (pacer.nextStartMs > nowMs) yield* Effect.sleep(Math.ceil(pacer.nextStartMs - nowMs))
        }
        return (startMs: number) =>
          Effect.zipRight(
            Effect.sync(() => {
              for (const pacer of pacers) pacer.nextStartMs = startMs + pacer.intervalMs
            }),
            Scope.close(locks, Exit.void)
          )
      })

    /**
     * Waits until the requests this limiter started leave a slot in the portal's bucket even if each arrived as late
     * as its answer allows (the guard against stalls longer than the jitter the reservation allows for), then counts
     * the request among them until `scope` closes. Returns how long it waited.
     */
    const takeFlight = (bucket: Bucket.BucketShape, scope: Scope.Scope) =>
      Effect.clockWith((clock) =>
        Effect.gen(function* () {
          let waitedMs = 0
          while (true) {
            // Checked and taken in one step, so two fibers cannot take the same slot.
            const waitMs = yield* Effect.uninterruptible(
              Effect.suspend(() => {
                const nowMs = clock.unsafeCurrentTimeMillis()
                flights = Flights.liveFlights(flights, bucket, nowMs)
                const wait = Flights.flightWaitMs(flights, bucket, nowMs)
                if (wait > 0) return Effect.succeed(wait)
                const flight: Flights.Flight = { answeredAtMs: undefined }
                flights.push(flight)
                return Effect.as(
                  Scope.addFinalizer(
                    scope,
                    Effect.sync(() => {
                      flight.answeredAtMs = clock.unsafeCurrentTimeMillis()
                    })
                  ),
                  0
                )
              })
            )
            if (waitMs === 0) return waitedMs
            if (waitedMs === 0) {
              yield* Effect.logDebug("rate limiter: waiting for answers to drain the leaky bucket").pipe(
                Effect.annotateLogs({ inFlight: counters.inFlight, waitMs })
              )
            }
            waitedMs += waitMs
            yield* Effect.sleep(waitMs)
          }
        })
      )

    /** Everything a request passes before it starts; what it holds is released when `scope` closes. */
    const admit = (methods: ReadonlyArray<string>, scope: Scope.Scope) =>
      Effect.gen(function* () {
        const weights = methodWeights(methods)
        yield* awaitBudgets(weights, scope)
        for (const program of yield* SlowOverride) {
          if (program.concurrency !== undefined) yield* holdIn(scope, program.concurrency)
        }
        // Pacer locks live in a child scope closed at the start; an interrupted request gives them back unchanged.
        const pacerLocks = yield* Scope.fork(scope, ExecutionStrategy.sequential)
        const markPacedStart = yield* claimPacedStart(pacerLocks)
        if (Number.isFinite(settings.maxConcurrent)) yield* holdIn(scope, ceiling)
        const bucket = settings.bucket
        if (bucket !== undefined) {
          // Reserved last, right before the start: a reservation followed by another wait would let starts bunch up.
          const nowMs = yield* Clock.currentTimeMillis
          // a start of a planner's uses one of the starts it claimed (the claim only changed what planners saw)
          const claimant = yield* Claims.BucketClaimant
          const delayMs = yield* viaStore(store.reserveBucketStart({ key: settings.bucketKey, bucket, nowMs, claimant }))
          if (delayMs > 0) {
            yield* Effect.logDebug("rate limiter: waiting for the leaky bucket").pipe(
              Effect.annotateLogs({ methods: [...weights.keys()].join(","), waitMs: delayMs })
            )
            yield* Effect.sleep(delayMs)
          }
          const waitedMs = delayMs + (guards.answers ? yield* takeFlight(bucket, scope) : 0)
          if (waitedMs > 0) {
            counters.bucketWaits++
            counters.bucketWaitMs += waitedMs
            yield* recordWait("bucket", waitedMs)
          }
        }
        const startMs = yield* Clock.currentTimeMillis
        yield* Effect.uninterruptible(
          Effect.all([
            markPacedStart(startMs),
            Effect.sync(() => {
              counters.started++
              counters.inFlight++
            }),
            Scope.addFinalizer(
              scope,
              Effect.sync(() => {
                counters.inFlight--
              })
            )
          ])
        )
      })

    const withPermit: Service["withPermit"] = (methods, request) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Scope.make(), (scope) =>
          restore(admit(methods, scope)).pipe(
            Effect.zipRight(Clock.currentTimeMillis),
            Effect.flatMap((admittedAtMs) => Effect.locally(restore(request), admittedAt, admittedAtMs)),
            Effect.onExit((exit) => Scope.close(scope, exit))
          )
        )
      )

    const record: Service["record"] = (entries) =>
      Effect.gen(function* () {
        if (entries.length === 0) return
        const nowMs = yield* Clock.currentTimeMillis
        const normalised = entries.map((entry) => ({ method: Operating.methodKey(entry.method), time: entry.time }))
        yield* afterAnswer(store.recordOperating({ key: settings.budgetKey, shape: settings.operating, nowMs, entries: normalised }))
        // the totals of a request admitted at `since` include every call that had finished by then
        const since = yield* FiberRef.get(admittedAt)
        if (since !== undefined) {
          for (const entry of normalised) if (entry.time.operating !== undefined) settling.get(entry.method)?.dropThrough(since)
        }
        yield* notify(new Set(normalised.map((entry) => entry.method)))
      })

    const shrink = Effect.gen(function* () {
      const nowMs = yield* Clock.currentTimeMillis
      if (nowMs - lastShrinkAtMs < shrinkIntervalMs || !Number.isFinite(ceilingValue)) return
      lastShrinkAtMs = nowMs
      const next = Math.max(1, Math.floor(ceilingValue / 2))
      if (next === ceilingValue) return
      yield* Effect.logDebug("rate limiter: lowering the concurrency ceiling").pipe(
        Effect.annotateLogs({ from: ceilingValue, to: next })
      )
      yield* setCeiling(next)
    })

    const blockMethod = (method: string, resetAtMs: number | undefined) =>
      Effect.gen(function* () {
        const key = Operating.methodKey(method)
        counters.methodBlocks++
        const nowMs = yield* Clock.currentTimeMillis
        const budgets = yield* viaStore(
          store.methodBudgets({ key: settings.budgetKey, methods: [key], nowMs, windowMs: settings.operating.windowMs })
        ).pipe(Effect.orElseSucceed(() => [Operating.emptyBudget]))
        const untilMs = Operating.blockUntil(budgets[0] ?? Operating.emptyBudget, resetAtMs, nowMs)
        yield* afterAnswer(store.blockMethod({ key: settings.budgetKey, method: key, untilMs, nowMs }))
        yield* Effect.logDebug("rate limiter: method blocked by the portal").pipe(
          Effect.annotateLogs({ method: key, waitMs: untilMs - nowMs })
        )
        yield* notify([key])
      })

    const feedback = (outcome: Outcome): Effect.Effect<void> =>
      Effect.suspend(() => {
        switch (outcome._tag) {
          case "Success":
            return ceilingValue < settings.maxConcurrent ? setCeiling(ceilingValue + 1) : Effect.void
          case "Throttled": {
            counters.throttled++
            const bucket = settings.bucket
            // 503 QUERY_LIMIT_EXCEEDED: the portal's counter is full whatever ours says (other apps share it).
            const fill =
              bucket === undefined
                ? Effect.void
                : Effect.flatMap(Clock.currentTimeMillis, (nowMs) =>
                    afterAnswer(store.fillBucket({ key: settings.bucketKey, bucket, nowMs }))
                  )
            return Effect.zipRight(fill, shrink)
          }
          case "ServerError":
            counters.serverErrors++
            return shrink
          case "MethodBlocked":
            return blockMethod(outcome.method, outcome.resetAtMs)
        }
      })

    const stats: Effect.Effect<LimiterStats> = Effect.sync(() => ({ ...counters, concurrencyCeiling: ceilingValue }))

    /**
     * The room now, as `capacity` and `claim` report it: the pool less the bucket's level (other planners' claims
     * included, the calling claimant's own left out) and less what this limiter's flights hold; with `wanted`, the
     * calling claimant's claim is set to at most that many of the free starts, and `freeStarts` is the grant.
     */
    const room = (wanted: number | undefined): Effect.Effect<Grant> =>
      Effect.gen(function* () {
        const bucket = settings.bucket
        const claimant = yield* Claims.BucketClaimant
        let freeStarts = Infinity
        let requestsPerSecond = Infinity
        let concurrencyCeiling = ceilingValue
        // The `slow` overrides of the calling fiber narrow it: their concurrency caps the requests in flight, and a
        // pacer slower than the bucket lets one request start now and the next ones at its own rate
        let pacedStarts = Infinity
        for (const program of yield* SlowOverride) {
          if (program.concurrency !== undefined) {
            concurrencyCeiling = Math.min(concurrencyCeiling, program.concurrency.unsafeSnapshot().capacity)
          }
          const pacerRate = program.pacer === undefined ? Infinity : 1000 / program.pacer.intervalMs
          if (pacerRate < (bucket?.requestsPerSecond ?? Infinity)) pacedStarts = 1
          if (pacerRate < requestsPerSecond) requestsPerSecond = pacerRate
        }
        if (bucket !== undefined) {
          const nowMs = yield* Clock.currentTimeMillis
          requestsPerSecond = Math.min(requestsPerSecond, bucket.requestsPerSecond)
          // what this process's own flights leave (a stall's guard, `limiterFlights.ts`), whatever the store says
          const flightFree = Math.max(0, Math.floor(bucket.poolSize - Flights.flightLevel(flights, bucket, nowMs) + 1e-6))
          if (wanted !== undefined && claimant !== undefined) {
            const capped = Math.min(wanted, flightFree, pacedStarts)
            // a store that fails grants nothing: the planner then sizes its work for a full bucket
            const grant = yield* store
              .claimBucketStarts({
                key: settings.bucketKey,
                bucket,
                nowMs,
                claimant,
                // a planner this process's flights leave no start still claims one, since a claim of nothing
                // releases it and the others would stop counting it; the store grants that start only where its
                // own count has it free, and the planner's next request uses it
                starts: wanted > 0 ? Math.max(1, capped) : 0,
                ttlMs: Claims.defaultClaimTtlMs
              })
              .pipe(Effect.orElseSucceed(() => ({ granted: 0, otherPlanners: 0 })))
            return { freeStarts: Math.min(grant.granted, capped), requestsPerSecond, concurrencyCeiling, otherPlanners: grant.otherPlanners }
          }
          // a store that fails says nothing is free: the planner then sizes its work for a full bucket
          const stored = yield* store.bucketLevel({ key: settings.bucketKey, bucket, nowMs, claimant }).pipe(
            Effect.orElseSucceed(() => bucket.poolSize)
          )
          freeStarts = Math.min(Math.max(0, Math.floor(bucket.poolSize - stored + 1e-6)), flightFree, wanted ?? Infinity)
        }
        // with the limits off there is no bucket to claim from: every start is free
        freeStarts = Math.min(freeStarts, pacedStarts)
        return { freeStarts, requestsPerSecond, concurrencyCeiling, otherPlanners: 0 }
      })

    const capacity: Effect.Effect<Capacity> = Effect.map(room(undefined), ({ concurrencyCeiling, freeStarts, requestsPerSecond }) => ({
      freeStarts,
      requestsPerSecond,
      concurrencyCeiling
    }))

    const claim = (starts: number): Effect.Effect<Grant> => room(Math.max(0, starts))

    return { withPermit, record, feedback, stats, capacity, claim }
  })
