/**
 * The client's verbs as Promises, for code that does not use Effect. Promises reject with the same typed errors
 * as the Effect programs (`_tag` intact: `HttpError`, `BitrixApiError`, `ValidationError`, …).
 *
 * ```ts
 * import { createClient } from "effect-bitrix24/promise"
 * const client = createClient({ webhook: process.env.BITRIX24_WEBHOOK! })
 * const deals = await client.getAll("crm.deal.list", { select: ["ID", "TITLE"] })
 * await client.close()
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Bitrix from "./Bitrix.js"
import { layerHttpClient } from "./internal/network.js"
import { decodeOptions } from "./internal/options.js"
import { type ItemError, type ItemNotRun, ItemOutcome, type ItemSucceeded, type ItemUnknown, ValidationError } from "./BitrixError.js"
import type * as Envelope from "./Envelope.js"
import { BulkOutcomes, type BulkOutcomesService } from "./internal/bulkOutcomes.js"
import { makeSlowProgram } from "./internal/limiterSlow.js"
import { figures } from "./internal/progress.js"
import { describe, isRecord, optionsProblem } from "./internal/validate.js"
import type * as ListStrategy from "./ListStrategy.js"
import * as ProgressReporter from "./ProgressReporter.js"
import * as RateLimiter from "./RateLimiter.js"
import * as Sync from "./Sync.js"
import * as SyncOptions from "./internal/sync/options.js"

/** What a stopped call had done: rows for the list verbs, one outcome per item for the bulk verbs. */
const stoppedFields = {
  /** Rows (`getAll`, rows handed out by `stream`) or items (`call` with items, `callEither`, `getByID`) done. */
  done: Schema.optional(Schema.Number),
  /** `getAll`: the rows received before the stop, in the order they arrived. */
  rows: Schema.optional(Schema.Array(Schema.Unknown)),
  /**
   * `call` with items, `callEither`, `getByID` (by position in `ids`) and `callBatch` (by position in `cmd`): one
   * outcome per input item, in input order, as in `BulkCallError`: `Succeeded` with its result, `Refused`, `NotRun`
   * (not sent before the stop), or `Unknown` (its request was in flight: it may have run; check it before sending
   * it again).
   */
  outcomes: Schema.optional(Schema.Array(ItemOutcome))
}

/** Getters over `outcomes`, shared by the two errors of a stopped call. */
const outcomeViews = (outcomes: ReadonlyArray<ItemOutcome> | undefined) => ({
  succeeded: (outcomes ?? []).filter((outcome): outcome is ItemSucceeded => outcome._tag === "Succeeded"),
  notRun: (outcomes ?? []).filter((outcome): outcome is ItemNotRun => outcome._tag === "NotRun"),
  unknown: (outcomes ?? []).filter((outcome): outcome is ItemUnknown => outcome._tag === "Unknown")
})

const stoppedWords = (outcomes: ReadonlyArray<ItemOutcome> | undefined): string => {
  if (outcomes === undefined) return ""
  const { notRun, succeeded, unknown } = outcomeViews(outcomes)
  return ` (of ${outcomes.length} items: ${succeeded.length} succeeded, ${outcomes.length - succeeded.length - notRun.length - unknown.length} refused, ${notRun.length} not run, ${unknown.length} outcome unknown)`
}

/**
 * A call stopped by `client.close()`, or made after it: nothing more is sent for it. A call that was running
 * carries what it had done (`done`, `rows`, `outcomes`).
 *
 * @since 0.1.0
 * @category Errors
 */
export class ClientClosedError extends Schema.TaggedError<ClientClosedError>("effect-bitrix24/ClientClosedError")(
  "ClientClosedError",
  {
    /** The method of the call (`batch` for `callBatch`). */
    method: Schema.String,
    ...stoppedFields
  }
) {
  /** The result of each item by input index; `undefined` for the others (bulk verbs). */
  get partialResults(): ReadonlyArray<unknown> | undefined {
    return this.outcomes?.map((outcome) => (outcome._tag === "Succeeded" ? outcome.result : undefined))
  }
  override get message(): string {
    return `${this.method}: the client is closed (close() was called), so the call was stopped or not started${stoppedWords(this.outcomes)}`
  }
}

/**
 * A call stopped by its `signal` (or started with a signal already aborted): its requests were interrupted and
 * nothing more is sent for it. Carries what was done before the abort.
 *
 * @since 0.1.0
 * @category Errors
 */
export class AbortedError extends Schema.TaggedError<AbortedError>("effect-bitrix24/AbortedError")("AbortedError", {
  /** The method of the call (`batch` for `callBatch`). */
  method: Schema.String,
  ...stoppedFields,
  /** Rows (`getAll`, rows handed out by `stream`) or items (`call` with items, `callEither`, `getByID`) done. */
  done: Schema.Number,
  /** The signal's `reason`. */
  reason: Schema.optional(Schema.Unknown)
}) {
  /** The result of each item by input index; `undefined` for the others (bulk verbs). */
  get partialResults(): ReadonlyArray<unknown> | undefined {
    return this.outcomes?.map((outcome) => (outcome._tag === "Succeeded" ? outcome.result : undefined))
  }
  override get message(): string {
    return `${this.method}: aborted by its signal after ${this.done} done${stoppedWords(this.outcomes)}`
  }
}

/**
 * What `onProgress` receives: rows or items done, the total when known, and the rate (per second since the
 * start of the call).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Progress {
  readonly done: number
  readonly total: number | undefined
  readonly rate: number
}

/**
 * The option every verb takes as its last argument: aborting `signal` interrupts the call's requests and rejects
 * it with an `AbortedError`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface CallOptions {
  readonly signal?: AbortSignal
}

/**
 * Options of the bulk verbs (`call` with items, `callEither`): `signal`, and `onProgress`, called as items
 * complete.
 *
 * @since 0.1.0
 * @category Models
 */
export interface BulkOptions extends CallOptions {
  readonly onProgress?: (progress: Progress) => void
}

/**
 * Options of `getAll` and `stream`: those of `Bitrix.getAll` (`strategy`, `limit`, `concurrency`, `maxPages`),
 * plus `signal` and `onProgress` (called as rows arrive).
 *
 * @since 0.1.0
 * @category Models
 */
export type ListOptions = ListStrategy.Options & BulkOptions

/**
 * Options of `getByID`: those of `Bitrix.getByID` (`idField`, `params`), plus `signal` and `onProgress`.
 *
 * @since 0.1.0
 * @category Models
 */
export type GetByIDOptions = NonNullable<Parameters<typeof Bitrix.getByID>[2]> & BulkOptions

/**
 * Options of `createClient`: those of `Bitrix.layer`, plus `progress` (a terminal bar on stderr when `true`, or
 * your own reporter).
 *
 * @since 0.1.0
 * @category Models
 */
export type ClientOptions = Bitrix.Options & {
  readonly progress?: boolean | ProgressReporter.Service
  /** A CA for a self-hosted portal, `dangerouslyAcceptAnyCertificate`, a proxy (see `Bitrix.NetworkOptions`). */
  readonly network?: Bitrix.NetworkOptions
}

/**
 * The verbs of `Bitrix`, returning Promises. Each takes `{ signal }` as its last argument; the list and bulk
 * verbs also take `onProgress`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Client {
  readonly call: {
    (method: string, items: ReadonlyArray<Bitrix.Params>, options?: BulkOptions): Promise<ReadonlyArray<unknown>>
    (method: string, params?: Bitrix.Params, options?: CallOptions): Promise<unknown>
  }
  readonly callEither: (
    method: string,
    items: ReadonlyArray<Bitrix.Params>,
    options?: BulkOptions
  ) => Promise<ReadonlyArray<{ readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: ItemError }>>
  readonly callRaw: (method: string, params?: unknown, options?: CallOptions) => Promise<Envelope.Success>
  readonly callBatch: (batch: Parameters<typeof Bitrix.callBatch>[0], options?: CallOptions) => Promise<Readonly<Record<string, unknown>>>
  /**
   * Keeps CRM entities in a database, as `Sync.run` does: `to` is `sqlite:PATH` or `postgres://…`; the first run
   * copies everything, later ones only what changed. Resolves with the run's summary (rows inserted, updated and
   * marked deleted, requests, 503/429 met, wall time); see the README's "Keep a database in sync".
   */
  readonly sync: (options: Sync.Options & { readonly to: string }, callOptions?: CallOptions) => Promise<Sync.Summary>
  readonly getByID: (method: string, ids: ReadonlyArray<string | number>, options?: GetByIDOptions) => Promise<ReadonlyMap<string | number, unknown>>
  /** Every row of a list method; `options` as for `Bitrix.getAll` (`strategy`, `limit`, `concurrency`), `signal`, `onProgress`. */
  readonly getAll: (method: string, params?: Bitrix.Params, options?: ListOptions) => Promise<ReadonlyArray<unknown>>
  /**
   * Every row of a list method as an async iterable with backpressure (`for await (const row of …)`): requests
   * are sent as rows are consumed, and `break` (the iterator's `return()`) interrupts the requests in flight.
   */
  readonly stream: (method: string, params?: Bitrix.Params, options?: ListOptions) => AsyncIterableIterator<unknown>
  /**
   * Runs `body` with a lower ceiling for the requests it makes through `client`: every call made inside it shares
   * one set of limits (at most `maxConcurrent` of them in flight, starts spaced `1 / requestsPerSecond` apart).
   */
  readonly slow: <A>(
    options: { readonly maxConcurrent?: number; readonly requestsPerSecond?: number },
    body: (client: Client) => Promise<A>
  ) => Promise<A>
  /**
   * Interrupts every call in flight (they reject with `ClientClosedError`, open streams too), then releases the
   * client's resources; resolves when nothing is left in flight. Calls made afterwards reject with
   * `ClientClosedError`. Calling it again returns the same promise.
   */
  readonly close: () => Promise<void>
}

const progressLayer = (progress: ClientOptions["progress"]) =>
  progress === undefined || progress === false
    ? Layer.empty
    : progress === true
      ? ProgressReporter.layerTerminal()
      : Layer.succeed(ProgressReporter.ProgressReporter, progress)

/** The client's layer; options that do not decode make a layer that fails, so every call rejects with why. */
const clientLayer = (options: ClientOptions): Layer.Layer<Bitrix.Services, ValidationError> => {
  const decoded = decodeOptions(options, "client")
  if (Either.isLeft(decoded)) return Layer.fail(decoded.left)
  const { network, progress, ...layerOptions } = options
  return Layer.merge(Bitrix.layer(layerOptions), progressLayer(progress)).pipe(Layer.provide(layerHttpClient(network)))
}

/** Runs `thunk`, turning a synchronous throw into a rejected promise: the client's methods never throw. */
const attempt = <A>(thunk: () => Promise<A>): Promise<A> => {
  try {
    return thunk()
  } catch (error) {
    return Promise.reject(error)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Per-call control: signal, onProgress
// ---------------------------------------------------------------------------------------------------------------

/** The control options of one call, taken out of its options object; `rest` goes on to the Effect verb. */
interface Controls {
  readonly signal: AbortSignal | undefined
  readonly onProgress: ((progress: Progress) => void) | undefined
  readonly rest: unknown
  readonly problem: ValidationError | undefined
}

const isSignal = (value: unknown): value is AbortSignal =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as { readonly aborted?: unknown }).aborted === "boolean" &&
  typeof (value as { readonly addEventListener?: unknown }).addEventListener === "function"

/**
 * Takes `signal` and `onProgress` out of `options`. `known`: the keys a verb without options of its own takes
 * (others are refused); `undefined` leaves the remaining keys to the Effect verb's own checks.
 */
const controlsOf = (options: unknown, known?: ReadonlyArray<string>): Controls => {
  const none = { signal: undefined, onProgress: undefined, rest: options, problem: undefined }
  if (known !== undefined) {
    const problem = optionsProblem(options, "options", known)
    if (problem !== undefined) return { ...none, problem }
  }
  // not an object: the Effect verb refuses it with its own words
  if (!isRecord(options)) return none
  const { signal, onProgress, ...rest } = options
  if (signal !== undefined && !isSignal(signal)) {
    return {
      ...none,
      problem: new ValidationError({ path: "options.signal", detail: `expected an AbortSignal, got ${describe(signal)}`, suggestion: "e.g. AbortSignal.timeout(10_000) or new AbortController().signal" })
    }
  }
  if (onProgress !== undefined && typeof onProgress !== "function") {
    return {
      ...none,
      problem: new ValidationError({ path: "options.onProgress", detail: `expected a function ({ done, total, rate }) => void, got ${describe(onProgress)}` })
    }
  }
  return {
    signal,
    onProgress: onProgress as ((progress: Progress) => void) | undefined,
    rest,
    problem: undefined
  }
}

/** What one call's progress reporter has counted for its own task (labelled with its method). */
interface Tally {
  done: number
  total: number | undefined
  startedAt: number | undefined
}

/**
 * Provides a reporter that forwards everything to the one in place (the client's `progress`, or silence) and
 * counts the task labelled `method`, calling `onProgress` as it advances.
 */
const withTally =
  (method: string, tally: Tally, onProgress: ((progress: Progress) => void) | undefined) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(ProgressReporter.ProgressReporter, (outer) => {
      const report: Effect.Effect<void> =
        onProgress === undefined
          ? Effect.void
          : Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.sync(() => {
                const startedAt = tally.startedAt ?? now
                const { rate } = figures({ label: method, done: tally.done, total: tally.total, startedAt, reportedAt: now }, now)
                onProgress({ done: tally.done, total: tally.total, rate })
              })
            )
      const mine = (label: string, update: (now: number) => void, notify: boolean): Effect.Effect<void> =>
        label !== method
          ? Effect.void
          : Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => update(now))).pipe(Effect.zipRight(notify ? report : Effect.void))
      const service: ProgressReporter.Service = {
        start: (label, total) =>
          Effect.zipRight(
            outer.start(label, total),
            mine(
              label,
              (now) => {
                tally.startedAt ??= now
                if (total !== undefined) tally.total = total
              },
              false
            )
          ),
        advance: (label, n) => Effect.zipRight(outer.advance(label, n), mine(label, () => (tally.done += n), n > 0)),
        setTotal: (label, total) => Effect.zipRight(outer.setTotal(label, total), mine(label, () => (tally.total = total), false)),
        finish: (label, outcome) => outer.finish(label, outcome),
        ...(outer.retrying === undefined ? {} : { retrying: outer.retrying })
      }
      return Effect.provideService(effect, ProgressReporter.ProgressReporter, service)
    })

/** What a stopped call had done (see `AbortedError`). */
interface DoneSoFar {
  readonly done: number
  readonly rows?: ReadonlyArray<unknown>
  readonly outcomes?: ReadonlyArray<ItemOutcome>
}

const reasonOf = (reason: unknown): { readonly reason?: unknown } => (reason === undefined ? {} : { reason })

/** Why the client stopped a call it had started. */
type StopReason = "closed" | "aborted" | "returned"

/** A call running on the client's runtime. */
interface Task<A> {
  readonly promise: Promise<A>
  /** Interrupts the call; resolves once it has ended (its requests interrupted). */
  readonly stop: (reason: StopReason) => Promise<void>
}

const settled = <A>(promise: Promise<A>): Task<A> => ({ promise, stop: () => Promise.resolve() })

/**
 * Creates a client over the bundled HTTP client (undici's request API). Call `close()` when done.
 *
 * Never throws: options that do not decode (one Schema decodes them: `webhook: undefined`, `timeout:
 * "soon"`, `maxConcurrent: -1`, …) make every method reject with that `ValidationError`, before any request.
 * Every method returns a promise, rejected with a `ValidationError` for bad input, never a synchronous throw.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const createClient = (options: ClientOptions): Client => {
  const runtime = ManagedRuntime.make(clientLayer(options))
  const inFlight = new Set<Task<unknown>>()
  let closed = false
  let closing: Promise<void> | undefined

  type Wrap = <A, E>(effect: Effect.Effect<A, E, Bitrix.Services>) => Effect.Effect<A, E | ValidationError, Bitrix.Services>
  const make = (wrap: Wrap): Client => {
    /**
     * Forks `effect` on the runtime, tracked for `close()` and stopped by `signal`. A call the client stopped
     * rejects with `ClientClosedError` or `abortedError(reason)`; any other failure with the typed error itself
     * (not a FiberFailure), so `_tag` can be inspected.
     */
    const launch = <A, E>(
      method: string,
      effect: Effect.Effect<A, E, Bitrix.Services>,
      signal: AbortSignal | undefined,
      stoppedError: (why: "aborted" | "closed", reason: unknown) => AbortedError | ClientClosedError
    ): Task<A> => {
      if (closed) return settled(Promise.reject(new ClientClosedError({ method })))
      if (signal?.aborted === true) return settled(Promise.reject(new AbortedError({ method, done: 0, ...reasonOf(signal.reason) })))
      const fiber = runtime.runFork(wrap(effect))
      let stoppedBy: StopReason | undefined
      const stop = (reason: StopReason): Promise<void> => {
        stoppedBy ??= reason
        return Effect.runPromise(Fiber.interrupt(fiber)).then(() => undefined)
      }
      const onAbort = () => {
        void stop("aborted")
      }
      signal?.addEventListener("abort", onAbort, { once: true })
      const promise = new Promise<Exit.Exit<A, E | ValidationError>>((resolve) => fiber.addObserver(resolve)).then((exit) => {
        inFlight.delete(task)
        signal?.removeEventListener("abort", onAbort)
        if (Exit.isSuccess(exit)) return exit.value
        if (stoppedBy !== undefined && Cause.isInterrupted(exit.cause)) {
          return Promise.reject(stoppedError(stoppedBy === "aborted" ? "aborted" : "closed", signal?.reason))
        }
        return Promise.reject(Cause.squash(exit.cause))
      })
      const task: Task<A> = { promise, stop }
      inFlight.add(task)
      return task
    }

    /** The error of a call stopped by its signal or by `close()`, with what it had done (`partial`, read then). */
    const stoppedWith =
      (method: string, partial: () => DoneSoFar) =>
      (why: "aborted" | "closed", reason: unknown): AbortedError | ClientClosedError => {
        const { done, rows, outcomes } = partial()
        const fields = { method, done, ...(rows === undefined ? {} : { rows }), ...(outcomes === undefined ? {} : { outcomes }) }
        return why === "aborted" ? new AbortedError({ ...fields, ...reasonOf(reason) }) : new ClientClosedError(fields)
      }

    /** One call: `build` runs with a reporter counting its progress; `known` as for `controlsOf`. */
    const run = <A, E>(
      method: string,
      options: unknown,
      known: ReadonlyArray<string> | undefined,
      build: (rest: unknown, tally: Tally) => Effect.Effect<A, E, Bitrix.Services>,
      partial?: (tally: Tally) => DoneSoFar
    ): Promise<A> =>
      attempt(() => {
        const controls = controlsOf(options, known)
        if (controls.problem !== undefined) return Promise.reject(controls.problem)
        const tally: Tally = { done: 0, total: undefined, startedAt: undefined }
        const effect = withTally(method, tally, controls.onProgress)(Effect.suspend(() => build(controls.rest, tally)))
        return launch(method, effect, controls.signal, stoppedWith(method, () => (partial === undefined ? { done: tally.done } : partial(tally)))).promise
      })

    /**
     * A bulk verb: `build` runs with a `Bitrix.BulkOutcomes` that keeps its view of the items' outcomes, so a stop
     * reports every item (succeeded with its result, refused, not run, or unknown for the requests in flight).
     */
    const runBulk = <A, E>(
      method: string,
      options: unknown,
      known: ReadonlyArray<string> | undefined,
      build: (rest: unknown) => Effect.Effect<A, E, Bitrix.Services>
    ): Promise<A> => {
      let outcomesSoFar: (() => ReadonlyArray<ItemOutcome>) | undefined
      const ledger: BulkOutcomesService = { track: (soFar) => void (outcomesSoFar = soFar) }
      return run(
        method,
        options,
        known,
        (rest) => Effect.provideService(build(rest), BulkOutcomes, ledger),
        (tally) => ({ done: tally.done, ...(outcomesSoFar === undefined ? {} : { outcomes: outcomesSoFar() }) })
      )
    }

    const single = ["signal"]
    const bulk = ["signal", "onProgress"]
    const call = ((method: string, paramsOrItems?: Bitrix.Params | ReadonlyArray<Bitrix.Params>, callOptions?: BulkOptions) =>
      Array.isArray(paramsOrItems)
        ? runBulk(method, callOptions, bulk, () => Bitrix.call(method, paramsOrItems as ReadonlyArray<Bitrix.Params>))
        : run(method, callOptions, single, () => Bitrix.call(method, paramsOrItems as Bitrix.Params | undefined))) as Client["call"]

    /** The rows of a list method, each handed to `onChunk` as it arrives (with backpressure). */
    const listRows = (
      method: string,
      params: Bitrix.Params | undefined,
      listOptions: unknown,
      onChunk: (chunk: Chunk.Chunk<unknown>) => Effect.Effect<void>
    ) => Stream.runForEachChunk(Bitrix.stream(method, params, listOptions as ListStrategy.Options | undefined), onChunk)

    /** `client.stream`: a producer fiber hands the consumer one chunk at a time and waits until it is drained. */
    const iterate = (method: string, params: Bitrix.Params | undefined, listOptions: unknown): AsyncIterableIterator<unknown> => {
      type End = { readonly _tag: "Done" } | { readonly _tag: "Failed"; readonly error: unknown }
      let buffer: ReadonlyArray<unknown> = []
      let position = 0
      let delivered = 0
      let task: Task<void> | undefined
      let ended: End | undefined
      let returned = false
      let resumeProducer: (() => void) | undefined
      let waiting: { readonly resolve: (result: IteratorResult<unknown>) => void; readonly reject: (error: unknown) => void } | undefined
      let queue: Promise<unknown> = Promise.resolve()

      /** Answers the pending `next()` if there is a row or an end to give it. */
      const settleWaiting = () => {
        const consumer = waiting
        if (consumer === undefined) return
        if (position < buffer.length) {
          waiting = undefined
          delivered++
          consumer.resolve({ done: false, value: buffer[position++] })
        } else if (ended !== undefined) {
          waiting = undefined
          const end = ended
          // a failure is reported once; the iterator is done afterwards
          ended = { _tag: "Done" }
          if (end._tag === "Failed") consumer.reject(end.error)
          else consumer.resolve({ done: true, value: undefined })
        }
      }

      const handoff = (chunk: Chunk.Chunk<unknown>): Effect.Effect<void> =>
        Chunk.isEmpty(chunk)
          ? Effect.void
          : Effect.async<void>((resume) => {
              buffer = Chunk.toReadonlyArray(chunk)
              position = 0
              resumeProducer = () => resume(Effect.void)
              settleWaiting()
              return Effect.sync(() => {
                resumeProducer = undefined
              })
            })

      const start = () => {
        const controls = controlsOf(listOptions)
        if (controls.problem !== undefined) {
          task = settled(Promise.reject(controls.problem))
        } else {
          const tally: Tally = { done: 0, total: undefined, startedAt: undefined }
          const effect = withTally(method, tally, controls.onProgress)(Effect.suspend(() => listRows(method, params, controls.rest, handoff)))
          task = launch(method, effect, controls.signal, stoppedWith(method, () => ({ done: delivered })))
        }
        task.promise.then(
          () => {
            ended = { _tag: "Done" }
            settleWaiting()
          },
          (error: unknown) => {
            // stopped by close() or the signal: the rest of the chunk in hand is not handed out
            if (error instanceof ClientClosedError || error instanceof AbortedError) {
              buffer = []
              position = 0
            }
            ended = returned ? { _tag: "Done" } : { _tag: "Failed", error }
            settleWaiting()
          }
        )
      }

      const pullOne = () =>
        new Promise<IteratorResult<unknown>>((resolve, reject) => {
          waiting = { resolve, reject }
          settleWaiting()
          if (waiting === undefined) return
          if (task === undefined) {
            start()
          } else if (resumeProducer !== undefined) {
            const resume = resumeProducer
            resumeProducer = undefined
            resume()
          }
        })

      const iterator: AsyncIterableIterator<unknown> = {
        [Symbol.asyncIterator]: () => iterator,
        // one `next()` at a time, in the order they were asked
        next: () =>
          attempt(() => {
            const result = queue.then(pullOne)
            queue = result.catch(() => undefined)
            return result
          }),
        return: () =>
          attempt(async () => {
            returned = true
            buffer = []
            position = 0
            if (task !== undefined && ended === undefined) await task.stop("returned")
            ended = { _tag: "Done" }
            settleWaiting()
            return { done: true, value: undefined }
          })
      }
      return iterator
    }

    return {
      call,
      callEither: (method, items, bulkOptions) =>
        runBulk(method, bulkOptions, bulk, () => Bitrix.callEither(method, items)).then((outcomes) =>
          outcomes.map((outcome) =>
            outcome._tag === "Right" ? { ok: true as const, value: outcome.right } : { ok: false as const, error: outcome.left }
          )
        ),
      callRaw: (method, params, callOptions) => run(method, callOptions, single, () => Bitrix.callRaw(method, params)),
      callBatch: (batch, callOptions) => runBulk("batch", callOptions, single, () => Bitrix.callBatch(batch)),
      sync: (syncOptions, callOptions) =>
        run("sync", callOptions, single, () => {
          if (!isRecord(syncOptions) || typeof syncOptions.to !== "string") {
            return Effect.fail(
              new ValidationError({
                path: "sync.options.to",
                detail: `expected options with a string \`to\`, got ${describe(syncOptions)}`,
                suggestion: 'e.g. client.sync({ entities: ["crm.deal"], to: "sqlite:crm.db" })'
              })
            )
          }
          const { to, ...rest } = syncOptions
          // the options are checked before the database is opened: bad input leaves nothing behind
          return Either.match(SyncOptions.decodeOptions(rest), {
            onLeft: Effect.fail,
            onRight: () => Sync.run(rest).pipe(Effect.provide(Sync.layer(to)))
          })
        }),
      getByID: (method, ids, getOptions) =>
        runBulk(method, getOptions, undefined, (rest) => Bitrix.getByID(method, ids, rest as Parameters<typeof Bitrix.getByID>[2])),
      getAll: (method, params, getAllOptions) => {
        // collected here rather than by Bitrix.getAll, so an abort can hand over the rows received so far
        const rows: Array<unknown> = []
        return run(
          method,
          getAllOptions,
          undefined,
          (rest) =>
            listRows(method, params, rest, (chunk) =>
              Effect.sync(() => {
                for (const row of chunk) rows.push(row)
              })
            ).pipe(
              Effect.as(rows as ReadonlyArray<unknown>),
              Effect.withSpan("Bitrix.getAll", { attributes: { "bitrix.method": method } })
            ),
          () => ({ done: rows.length, rows: rows.slice() })
        )
      },
      stream: (method, params, streamOptions) => iterate(method, params, streamOptions),
      slow: (slowOptions, body) =>
        attempt(() => {
          if (closed) return Promise.reject(new ClientClosedError({ method: "slow" }))
          // the options are checked as Bitrix.slow checks them, before the body runs
          const checked = Effect.runSyncExit(Bitrix.slow(Effect.void, slowOptions))
          if (Exit.isFailure(checked)) return Promise.reject(Cause.squash(checked.cause))
          if (typeof body !== "function") {
            return Promise.reject(
              new ValidationError({
                path: "slow.body",
                detail: `expected a function (client) => Promise, got ${describe(body)}`,
                suggestion: "e.g. client.slow({ requestsPerSecond: 1 }, (slowClient) => slowClient.call(…))"
              })
            )
          }
          // one set of limits for every request made inside the body, however many calls make them
          const program = makeSlowProgram(slowOptions ?? {})
          const scoped: Wrap = (effect) =>
            wrap(
              Effect.flatMap(RateLimiter.SlowOverride, (outer) =>
                Effect.provideService(effect, RateLimiter.SlowOverride, [...outer, program])
              )
            )
          return Promise.resolve(body(make(scoped)))
        }),
      close: () =>
        attempt(() => {
          closing ??= (async () => {
            closed = true
            // every call in flight, open streams included, ends before the resources go
            await Promise.all([...inFlight].map((task) => task.stop("closed")))
            await runtime.dispose()
          })()
          return closing
        })
    }
  }
  return make((effect) => effect)
}
