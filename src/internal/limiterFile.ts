/**
 * The limiter store for the processes of one machine (see `RateLimiter.layerStoreFile`): the state in a JSON file,
 * each operation reading it, applying the pure functions of the in-memory store and writing it back under a lock
 * file, so consecutive and parallel runs on the host share the bucket and the budgets.
 *
 * The lock is a file created exclusively (`O_EXCL`) holding the owner's pid; it is held for the few hundred
 * microseconds of one read-modify-write (synchronous file calls, so no other fiber of the process runs meanwhile).
 * A lock whose owner died (no such pid) or that is older than {@link staleLockMs} is taken over. The state is written
 * to a temporary file and renamed over the old one, so a reader never sees half a file. Times are the callers'
 * `Clock`: every process of one machine reads the same clock.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import type { FileStoreOptions, StoreService } from "../RateLimiter.js"
import { RateLimiterStoreError } from "../BitrixError.js"
import * as Bucket from "./limiterBucket.js"
import * as Claims from "./limiterClaims.js"
import * as Operating from "./limiterOperating.js"

/** A lock older than this is a leftover (an operation holds it for well under a millisecond). */
export const staleLockMs = 10_000
/** How long one operation waits for the lock before it fails (the limiter then retries it). */
const lockWaitMs = 5_000

/** `$XDG_STATE_HOME/effect-bitrix24/limiter.json`, else `~/.local/state/effect-bitrix24/limiter.json`. */
export const defaultPath = (): string => {
  const stateHome = process.env["XDG_STATE_HOME"]
  const base = stateHome !== undefined && stateHome !== "" ? stateHome : path.join(os.homedir(), ".local", "state")
  return path.join(base, "effect-bitrix24", "limiter.json")
}

/** What the file holds: each entry with the time after which nothing in it matters. */
interface FileState {
  readonly buckets: Record<string, { readonly state: Bucket.BucketState; readonly expiresAtMs: number }>
  readonly budgets: Record<string, { readonly budget: Operating.MethodBudget; readonly expiresAtMs: number }>
  /** Planners' claims on each bucket (absent in a file written before claims existed). */
  readonly claims: Record<string, Claims.Claims>
}

const emptyState = (): FileState => ({ buckets: {}, budgets: {}, claims: {} })

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

/** Reads the state; a missing or unreadable file is an empty state (the file is a cache of the portal's limits). */
const readState = (file: string): FileState => {
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch {
    return emptyState()
  }
  try {
    const parsed: unknown = JSON.parse(text)
    if (!isRecord(parsed) || !isRecord(parsed["buckets"]) || !isRecord(parsed["budgets"])) return emptyState()
    const claims = isRecord(parsed["claims"]) ? parsed["claims"] : {}
    return { ...(parsed as unknown as FileState), claims: claims as FileState["claims"] }
  } catch {
    return emptyState()
  }
}

const writeState = (file: string, state: FileState, nowMs: number) => {
  const buckets = Object.fromEntries(Object.entries(state.buckets).filter(([, entry]) => entry.expiresAtMs > nowMs))
  const budgets = Object.fromEntries(Object.entries(state.budgets).filter(([, entry]) => entry.expiresAtMs > nowMs))
  const claims = Object.fromEntries(
    Object.entries(state.claims)
      .map(([key, held]) => [key, Claims.liveClaims(held, nowMs)] as const)
      .filter(([, held]) => Object.keys(held).length > 0)
  )
  const temporary = `${file}.${process.pid}.tmp`
  fs.writeFileSync(temporary, JSON.stringify({ buckets, budgets, claims }), { mode: 0o600 })
  fs.renameSync(temporary, file)
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, owned by another user
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Takes the lock if free (or left by a dead owner); `false` when another process holds it. */
const tryLock = (lock: string): boolean => {
  try {
    const fd = fs.openSync(lock, "wx", 0o600)
    fs.writeSync(fd, String(process.pid))
    fs.closeSync(fd)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
  }
  try {
    const owner = Number(fs.readFileSync(lock, "utf8"))
    const age = Date.now() - fs.statSync(lock).mtimeMs
    // an owner that died mid-operation left it; an empty file is an owner between create and write, unless old
    if ((Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) || age > staleLockMs) fs.rmSync(lock, { force: true })
  } catch {
    // gone meanwhile: try again
  }
  return false
}

/** The bucket's expiry: once its newest empty time is the jitter in the past, the bucket is idle. */
const bucketExpiry = (state: Bucket.BucketState, shape: Bucket.BucketShape): number =>
  (state.emptyAtMs[state.emptyAtMs.length - 1] ?? Number.NEGATIVE_INFINITY) + shape.arrivalJitterMs

const budgetExpiry = (budget: Operating.MethodBudget, nowMs: number, windowMs: number): number =>
  Math.max(nowMs + windowMs, budget.blockedUntilMs ?? 0, (budget.portal?.resetAtMs ?? 0) + 1000)

const defaultWindowMs = 600_000

/** Makes the store over `options.path` (the default file when absent). */
export const make = (options: FileStoreOptions = {}): StoreService => {
  const file = path.resolve(options.path ?? defaultPath())
  const lock = `${file}.lock`

  const failure = (operation: string, cause: unknown) =>
    new RateLimiterStoreError({
      store: "file",
      operation,
      detail: `${file}: ${cause instanceof Error ? cause.message : String(cause)}`.slice(0, 400)
    })

  /** Runs `update` on the state under the lock; it returns the answer and whether the state changed. */
  const locked = <A>(operation: string, nowMs: number, update: (state: FileState) => { readonly answer: A; readonly changed: boolean }) =>
    Effect.gen(function* () {
      yield* Effect.try({
        try: () => fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 }),
        catch: (cause) => failure(operation, cause)
      })
      let waitedMs = 0
      while (!(yield* Effect.try({ try: () => tryLock(lock), catch: (cause) => failure(operation, cause) }))) {
        if (waitedMs >= lockWaitMs) return yield* Effect.fail(failure(operation, `the lock ${lock} stayed taken for ${lockWaitMs} ms`))
        const pauseMs = 1 + Math.floor(Math.random() * 3)
        waitedMs += pauseMs
        // real time, not the Clock: the other holder is a process that runs on the wall clock
        yield* Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, pauseMs)))
      }
      return yield* Effect.try({
        try: () => {
          try {
            const state = readState(file)
            const { answer, changed } = update(state)
            if (changed) writeState(file, state, nowMs)
            return answer
          } finally {
            fs.rmSync(lock, { force: true })
          }
        },
        catch: (cause) => failure(operation, cause)
      })
    })

  const budgetKey = (key: string, method: string) => `${key}:${method}`

  const putBudget = (state: FileState, key: string, budget: Operating.MethodBudget, nowMs: number, windowMs: number) => {
    state.budgets[key] = { budget, expiresAtMs: budgetExpiry(budget, nowMs, windowMs) }
  }

  return {
    reserveBucketStart: ({ bucket, claimant, key, nowMs }) =>
      locked("reserveBucketStart", nowMs, (state) => {
        const reservation = Bucket.reserveStart(state.buckets[key]?.state, bucket, nowMs)
        state.buckets[key] = { state: reservation.state, expiresAtMs: bucketExpiry(reservation.state, bucket) }
        state.claims[key] = Claims.consumeClaim(state.claims[key], claimant, nowMs)
        return { answer: reservation.delayMs, changed: true }
      }),
    bucketLevel: ({ bucket, claimant, key, nowMs }) =>
      locked("bucketLevel", nowMs, (state) => ({
        answer: Bucket.drainedLevel(state.buckets[key]?.state, bucket, nowMs) + Claims.othersClaimed(state.claims[key], claimant, nowMs),
        changed: false
      })),
    claimBucketStarts: ({ bucket, claimant, key, nowMs, starts, ttlMs }) =>
      locked("claimBucketStarts", nowMs, (state) => {
        const level = Bucket.drainedLevel(state.buckets[key]?.state, bucket, nowMs)
        const claim = Claims.claimStarts(state.claims[key], { shape: bucket, level, claimant, wanted: starts, ttlMs, nowMs })
        state.claims[key] = claim.claims
        return { answer: { granted: claim.granted, otherPlanners: claim.otherPlanners }, changed: true }
      }),
    fillBucket: ({ bucket, key, nowMs }) =>
      locked("fillBucket", nowMs, (state) => {
        const full = Bucket.fillBucket(state.buckets[key]?.state, bucket, nowMs)
        state.buckets[key] = { state: full, expiresAtMs: bucketExpiry(full, bucket) }
        return { answer: undefined, changed: true }
      }),
    recordOperating: ({ entries, key, nowMs, shape }) =>
      locked("recordOperating", nowMs, (state) => {
        for (const [method, times] of Operating.timesByMethod(entries)) {
          const id = budgetKey(key, method)
          const budget = state.budgets[id]?.budget ?? Operating.emptyBudget
          putBudget(state, id, Operating.recordTimes(budget, times, nowMs, shape, Operating.countsLocally(method)), nowMs, shape.windowMs)
        }
        return { answer: undefined, changed: entries.length > 0 }
      }),
    blockMethod: ({ key, method, nowMs, untilMs }) =>
      locked("blockMethod", nowMs, (state) => {
        const id = budgetKey(key, method)
        const budget = state.budgets[id]?.budget ?? Operating.emptyBudget
        putBudget(state, id, { ...budget, blockedUntilMs: Math.max(untilMs, budget.blockedUntilMs ?? 0) }, nowMs, defaultWindowMs)
        return { answer: undefined, changed: true }
      }),
    methodBudgets: ({ key, methods, nowMs, windowMs }) =>
      locked("methodBudgets", nowMs, (state) => {
        let changed = false
        const budgets = methods.map((method) => {
          const id = budgetKey(key, method)
          const stored = state.budgets[id]?.budget
          if (stored === undefined) return Operating.emptyBudget
          const pruned = Operating.prune(stored, nowMs, windowMs)
          if (pruned.spends.length !== stored.spends.length || pruned.blockedUntilMs !== stored.blockedUntilMs) {
            putBudget(state, id, pruned, nowMs, windowMs)
            changed = true
          }
          return pruned
        })
        return { answer: budgets, changed }
      })
  }
}
