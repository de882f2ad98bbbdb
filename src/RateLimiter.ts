/**
 * All requests to one portal go through one limiter: leaky bucket, per-method operating budget, adaptive
 * concurrency, and scoped `slow` overrides.
 *
 * A request is admitted in this order, so no wait holds a resource another request needs:
 *
 * 1. the operating budget of every method it uses (nothing held, so other methods keep going);
 * 2. the `slow` limits of the program it runs in (per-program semaphore and pacing);
 * 3. a slot under the concurrency ceiling;
 * 4. a start reserved in the leaky bucket, taken last so reserved starts cannot bunch up behind another wait.
 *
 * The bucket allows for arrival jitter in its arithmetic, not only in headroom: the portal counts a request when it
 * arrives, so the drain the limiter credits itself after a start begins only `arrivalJitterMs` later. Of any `k`
 * consecutive starts beyond the pool `P`, the last comes at least `arrivalJitterMs + (k − P) / rate` after the first;
 * then whatever the delays between start and arrival, if their spread is within `arrivalJitterMs`, no stretch of
 * arrivals overflows the portal's bucket (the proof is in `internal/limiterBucket.ts`). A stall longer than that (an
 * event loop busy for seconds, a connection pool holding requests back) is met by a second guard that assumes
 * nothing: the portal counted each request at the latest when its answer came, so the limiter counts its own
 * requests as undrained until then, and a start waits until they leave a slot (`internal/limiterFlights.ts`).
 *
 * The logic runs over a `RateLimiterStore` (bucket counter, method budgets), as in `@effect/experimental`'s
 * RateLimiter, so a store shared between processes can replace the in-memory one without touching the logic.
 *
 * Planners that size a parallel wave by the bucket's free starts (a list export's ranges) `claim` the starts they
 * plan to use, in the store, for a few seconds: the other planners sharing the bucket, in this process or another,
 * then see that many fewer free starts instead of all planning for the same ones. A claim changes only what planners
 * see; every request still passes the bucket in `withPermit`, so it cannot cause a 503.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import { RateLimiterStoreError } from "./BitrixError.js"
import type { Limits } from "./BitrixConfig.js"
import type { ValidationError } from "./BitrixError.js"
import type * as Envelope from "./Envelope.js"
import * as internal from "./internal/limiter.js"
import type { BucketShape } from "./internal/limiterBucket.js"
import type { MethodBudget, OperatingShape } from "./internal/limiterOperating.js"
import * as internalFile from "./internal/limiterFile.js"
import * as internalRedis from "./internal/limiterRedis.js"
import * as internalSlow from "./internal/limiterSlow.js"
import * as internalStoreUrl from "./internal/limiterStoreUrl.js"
import { makeMemoryStore } from "./internal/limiterStore.js"

/**
 * How a request ended, for adaptive concurrency and blocking.
 *
 * @since 0.1.0
 * @category Models
 */
export type Outcome =
  | { readonly _tag: "Success" }
  /** 503 QUERY_LIMIT_EXCEEDED: the portal's bucket is fuller than ours thinks. */
  | { readonly _tag: "Throttled" }
  /** 429 OPERATION_TIME_LIMIT for `method`; `resetAtMs` when known (epoch ms, from operating_reset_at). */
  | { readonly _tag: "MethodBlocked"; readonly method: string; readonly resetAtMs?: number }
  /** Other 5xx, timeouts, dropped connections. */
  | { readonly _tag: "ServerError" }

/**
 * Counters of what the limiter did, so tests and benchmarks can tell which limit paced a run.
 *
 * @since 0.1.0
 * @category Models
 */
export interface LimiterStats {
  /** Requests that passed every limit and started. */
  readonly started: number
  /** Requests started and not finished. */
  readonly inFlight: number
  /** Current concurrency ceiling (`Infinity` when limits are off and no `maxConcurrent` was given). */
  readonly concurrencyCeiling: number
  /** Requests that waited for the leaky bucket, and the sum of their waits. */
  readonly bucketWaits: number
  readonly bucketWaitMs: number
  /** Requests that waited for a method's operating budget (or a block), and the sum of their waits. */
  readonly operatingWaits: number
  readonly operatingWaitMs: number
  /** Feedback received: 503 QUERY_LIMIT_EXCEEDED, other server errors, 429 OPERATION_TIME_LIMIT. */
  readonly throttled: number
  readonly serverErrors: number
  readonly methodBlocks: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /**
   * Runs `request` once the leaky bucket, the operating budget of every method in `methods`
   * (for a batch: `"batch"` and each command's method) and a concurrency slot allow it.
   * A method listed n times counts n times in the estimate of its running calls.
   *
   * Fails with `RateLimiterStoreError` when a shared store stayed unreachable for longer than `storeRetry` allows:
   * then `request` was not started (nothing was sent), so it is safe to send again later.
   */
  readonly withPermit: <A, E, R>(
    methods: ReadonlyArray<string>,
    request: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RateLimiterStoreError, R>
  /**
   * Feeds back the `time` blocks of a response: one entry for the call, one per batch command. Never fails: the
   * request it reports on was answered, so a store that is down is retried for `storeRetry`, then the record is
   * dropped with a warning (the answer is never lost for it).
   */
  readonly record: (
    entries: ReadonlyArray<{ readonly method: string; readonly time: Envelope.TimeBlock }>
  ) => Effect.Effect<void>
  /** Reports how a request ended; like `record`, never fails (a store that is down costs a warning). */
  readonly feedback: (outcome: Outcome) => Effect.Effect<void>
  /** What the limiter did so far. */
  readonly stats: Effect.Effect<LimiterStats>
  /**
   * What could start right now without waiting on the bucket, so a planner can size its work to it; narrowed by the
   * `slow` overrides in force for the calling fiber. With a store that is down it says no start is free (the
   * starts themselves then wait or fail in `withPermit`).
   */
  readonly capacity: Effect.Effect<Capacity>
  /**
   * What `capacity` says, with the free starts CLAIMED for the calling planner (the planner id in
   * context: a list export's ranges are one planner): grants `min(starts, free)` and records it in the store for a few seconds, so the other planners sharing
   * the bucket (in this process or another one on the same store) see that many fewer free starts while this one's
   * wave starts. `freeStarts` is the grant. A claim replaces the claimant's earlier one, each start its requests
   * reserve uses one claimed start, and `claim(0)` releases the rest. Only what planners see changes: every request
   * still waits for the bucket in `withPermit`, claimed or not. A claim holding no start (none free, or all used)
   * still tells the other planners this one is there until it lapses; `otherPlanners` counts those beside the caller.
   * Without a claimant in context nothing is recorded (`freeStarts` is `capacity`'s, at most `starts`); with a store
   * that is down it grants nothing.
   */
  readonly claim: (starts: number) => Effect.Effect<Grant>
}

/**
 * The room the limiter has at a moment: a list strategy spreads an export over the starts the bucket allows
 * now, and chains pages into fewer requests when it has none to spare.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Capacity {
  /** Starts the leaky bucket allows at once from now (`Infinity` when limits are off). */
  readonly freeStarts: number
  /** The bucket's drain rate, requests per second (`Infinity` when limits are off). */
  readonly requestsPerSecond: number
  /** Requests that may be in flight at once (the adaptive ceiling, or `Infinity`). */
  readonly concurrencyCeiling: number
}

/**
 * What `claim` gives a planner: the room, `freeStarts` being its grant, and the planners beside it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Grant extends Capacity {
  /**
   * Other planners with a claim in force on the bucket (list exports sizing or starting their waves, in this process
   * or another one on the store): the bucket's free starts and its drain are shared with them, so a planner plans
   * for its share. 0 without a planner in context, or with the limits off.
   */
  readonly otherPlanners: number
}

/**
 * The spread of arrival delays the limiter allows for unless `Options.arrivalJitterMs` says otherwise: one second
 * (connection set-up, network jitter, a busy event loop on either side).
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultArrivalJitterMs: number = internal.defaultArrivalJitterMs

/**
 * @since 0.1.0
 * @category Context
 */
export class RateLimiter extends Context.Tag("effect-bitrix24/RateLimiter")<RateLimiter, Service>() {}

/**
 * Options of one portal's limiter.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** Preset or numbers; `"off"` removes the bucket, the operating pacing and the default ceiling. */
  readonly limits: Limits
  /** Upper bound of the adaptive concurrency ceiling; defaults to the bucket size (unbounded when off). */
  readonly maxConcurrent?: number
  /** Requests kept free in the bucket for other apps sharing the portal and IP (default 0). */
  readonly bucketHeadroom?: number
  /**
   * How much later than another a request may be counted by the portal, relative to when each started, in ms (default
   * {@link defaultArrivalJitterMs}, 1000). The portal counts a request when it arrives: network delays, connection
   * set-up and busy event loops delay requests unevenly, so requests started at the drain rate can arrive bunched.
   * The limiter credits itself the drain after a start only this long after it, which is provably free of 503s for
   * any delays whose spread is within it; it costs each busy stretch this long once, not the steady rate.
   */
  readonly arrivalJitterMs?: number
  /** The portal's identity in a shared store, so several portals can share one (default `"default"`). */
  readonly key?: string
  /**
   * The address the requests leave from, as a label (default `"default"`: one bucket per portal). The portal keeps
   * its bucket per source address, so processes behind different addresses each get their own: give each egress
   * its own label.
   */
  readonly egress?: string
  /**
   * A fingerprint of the credential (webhook or OAuth app), never the secret itself: the portal keeps the operating
   * budget per portal, credential and method (default `"default"`). `Bitrix.layer` sets it to a hash.
   */
  readonly credential?: string
  /**
   * How long the limiter keeps trying a store that fails (a shared store that is down) before it gives up: the
   * store is retried on this schedule (default: from 100 ms doubling to 2 s apart, for about 30 s). Meanwhile no
   * request starts, so an outage never lets an unthrottled burst through.
   */
  readonly storeRetry?: Duration.DurationInput
}

export type {
  /**
   * The leaky bucket's size and drain rate, after headroom, and the arrival jitter it allows for.
   *
   * @since 0.1.0
   * @category Store
   */
  BucketShape,
  /**
   * What the store knows about one method: the portal's last report, local call times and any block.
   *
   * @since 0.1.0
   * @category Store
   */
  MethodBudget,
  /**
   * The operating limit (seconds) and its window (ms).
   *
   * @since 0.1.0
   * @category Store
   */
  OperatingShape
}

/**
 * The state the limiter keeps, behind a service so a store shared between processes can be plugged in. Every
 * operation must be atomic per key; the in-memory store applies the pure functions of the limiter's internals,
 * the file store applies them under a file lock, and the Redis store runs the same arithmetic as Lua scripts.
 *
 * Keys: the limiter passes `bucket:<portal>:<egress>` for the bucket and `operating:<portal>:<credential>` for the
 * budgets (the store adds `:<method>`). Times are the caller's `Clock` (`nowMs`); a store with a clock of its own
 * (Redis `TIME`) may use that instead, provided it returns delays relative to its now and budgets shifted into the
 * caller's frame (see `layerStoreRedis`).
 *
 * @since 0.1.0
 * @category Store
 */
export interface StoreService {
  /**
   * Reserves the next start in the leaky bucket: adds 1 to the counter and returns the ms to wait before starting.
   * A start of `claimant`'s uses one of its claimed starts (see `claimBucketStarts`), in the same atomic step.
   */
  readonly reserveBucketStart: (options: {
    readonly key: string
    readonly bucket: BucketShape
    readonly nowMs: number
    readonly claimant?: string | undefined
  }) => Effect.Effect<number, RateLimiterStoreError>
  /**
   * The counter at `nowMs` as the client must assume it (the worst case under the shape's arrival jitter), reserved
   * starts included (0 for a bucket never used), plus the starts that planners other than `claimant` claimed and
   * have not used yet.
   */
  readonly bucketLevel: (options: {
    readonly key: string
    readonly bucket: BucketShape
    readonly nowMs: number
    readonly claimant?: string | undefined
  }) => Effect.Effect<number, RateLimiterStoreError>
  /**
   * Sets `claimant`'s claim on the bucket to `min(starts, free)` for `ttlMs` (free: the pool less the level and the
   * other claimants' live claims) and returns the grant, with the other claimants whose claims are in force (those
   * holding no start too); `starts` 0 releases the claim. Atomic with the level it reads.
   */
  readonly claimBucketStarts: (options: {
    readonly key: string
    readonly bucket: BucketShape
    readonly nowMs: number
    readonly claimant: string
    readonly starts: number
    readonly ttlMs: number
  }) => Effect.Effect<{ readonly granted: number; readonly otherPlanners: number }, RateLimiterStoreError>
  /** Marks the bucket full (the portal said QUERY_LIMIT_EXCEEDED). */
  readonly fillBucket: (options: {
    readonly key: string
    readonly bucket: BucketShape
    readonly nowMs: number
  }) => Effect.Effect<void, RateLimiterStoreError>
  /** Applies `time` blocks to the methods' budgets; method names arrive lower-cased. */
  readonly recordOperating: (options: {
    readonly key: string
    readonly shape: OperatingShape
    readonly nowMs: number
    readonly entries: ReadonlyArray<{ readonly method: string; readonly time: Envelope.TimeBlock }>
  }) => Effect.Effect<void, RateLimiterStoreError>
  /**
   * Holds a method until `untilMs` (a later block already in place wins); `nowMs` is the caller's clock when it
   * computed `untilMs`, so a store with a clock of its own can carry the block over as a duration.
   */
  readonly blockMethod: (options: {
    readonly key: string
    readonly method: string
    readonly untilMs: number
    readonly nowMs: number
  }) => Effect.Effect<void, RateLimiterStoreError>
  /** The budgets of `methods`, pruned to the window, in the same order. */
  readonly methodBudgets: (options: {
    readonly key: string
    readonly methods: ReadonlyArray<string>
    readonly nowMs: number
    readonly windowMs: number
  }) => Effect.Effect<ReadonlyArray<MethodBudget>, RateLimiterStoreError>
}

/**
 * @since 0.1.0
 * @category Store
 */
export class RateLimiterStore extends Context.Tag("effect-bitrix24/RateLimiterStore")<
  RateLimiterStore,
  StoreService
>() {
  /** {@link layerStoreMemory}. */
  static get layerMemory(): Layer.Layer<RateLimiterStore> {
    return layerStoreMemory
  }
  /** {@link layerStoreRedis}. */
  static layerRedis(options: RedisStoreOptions = {}): Layer.Layer<RateLimiterStore, RateLimiterStoreError> {
    return layerStoreRedis(options)
  }
  /** {@link layerStoreRedisConfig}. */
  static layerRedisConfig(
    config: Config.Config<RedisStoreOptions>
  ): Layer.Layer<RateLimiterStore, RateLimiterStoreError | ConfigError.ConfigError> {
    return layerStoreRedisConfig(config)
  }
  /** {@link layerStoreFile}. */
  static layerFile(options: FileStoreOptions = {}): Layer.Layer<RateLimiterStore> {
    return layerStoreFile(options)
  }
  /** {@link layerStoreUrl}. */
  static layerUrl(
    url: string | Redacted.Redacted<string>,
    options: { readonly prefix?: string } = {}
  ): Layer.Layer<RateLimiterStore, RateLimiterStoreError | ValidationError> {
    return layerStoreUrl(url, options)
  }
}

/**
 * A store in this process's memory: right for one process talking to a portal.
 *
 * @since 0.1.0
 * @category Store
 */
export const layerStoreMemory: Layer.Layer<RateLimiterStore> = Layer.sync(RateLimiterStore, makeMemoryStore)

/**
 * Options of the Redis store.
 *
 * @since 0.1.0
 * @category Store
 */
export interface RedisStoreOptions {
  /** `redis://[:password@]host[:port][/db]` or `rediss://…` (TLS). Default `redis://127.0.0.1:6379`. */
  readonly url?: string | Redacted.Redacted<string>
  /** Prefix of every key (default `"effect-bitrix24:limiter:"`), so several applications can share one Redis. */
  readonly prefix?: string
  /**
   * Whose clock the scripts use: `"redis"` (default) reads Redis `TIME` inside each script, so hosts whose clocks
   * disagree still share one timeline; `"caller"` trusts the `nowMs` each caller passes (tests under `TestClock`).
   */
  readonly clock?: "redis" | "caller"
  /** How long one command may take before it counts as failed (default 2 s): a hung Redis must not hang starts. */
  readonly commandTimeoutMs?: number
}

/**
 * A store in Redis, shared by every process and machine that uses the same Redis: each operation is one Lua script
 * (atomic) applying the arithmetic of the in-memory store, with Redis `TIME` as the clock, keys that expire on their
 * own (`PEXPIRE`) once they no longer matter, and penalties that reach every process (a 503 seen by one fills the
 * bucket for all; a 429 blocks the method for all).
 *
 * Time: the limiter reads `nowMs` from its own `Clock`; the Redis store ignores it for its arithmetic and uses
 * `TIME`, then answers in the caller's terms: a wait is a duration from now, and the times in a method's budget are
 * shifted by the difference between the caller's clock and Redis's, so a host whose clock is minutes off paces
 * exactly like the others. The portal's `operating_reset_at` is taken to be on Redis's timeline (both are servers'
 * clocks).
 *
 * Needs the optional peer dependency `ioredis` (^5), loaded only when this layer is built. The connection is
 * closed when the layer's scope closes. A Redis that is down is retried by the limiter for its `storeRetry`, then
 * the requests waiting for it fail with `RateLimiterStoreError` (none is sent unthrottled).
 *
 * @since 0.1.0
 * @category Store
 */
export const layerStoreRedis = (options: RedisStoreOptions = {}): Layer.Layer<RateLimiterStore, RateLimiterStoreError> =>
  Layer.scoped(RateLimiterStore, internalRedis.make(options))

/**
 * The Redis store with its options read from config: `url` (a `Config.redacted`, e.g. `BITRIX24_LIMITER_URL`),
 * `prefix`.
 *
 * @since 0.1.0
 * @category Store
 */
export const layerStoreRedisConfig = (
  config: Config.Config<RedisStoreOptions>
): Layer.Layer<RateLimiterStore, RateLimiterStoreError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(config, layerStoreRedis))

/**
 * Options of the file store.
 *
 * @since 0.1.0
 * @category Store
 */
export interface FileStoreOptions {
  /** The state file; a lock file `<path>.lock` is kept beside it. Default {@link defaultFileStorePath}. */
  readonly path?: string
}

/**
 * Where the file store keeps its state unless told otherwise: `$XDG_STATE_HOME/effect-bitrix24/limiter.json`, else
 * `~/.local/state/effect-bitrix24/limiter.json`.
 *
 * @since 0.1.0
 * @category Store
 */
export const defaultFileStorePath: () => string = internalFile.defaultPath

/**
 * A store for the processes of one machine, without a server: the state lives in a small JSON file and every
 * operation runs under a lock file (created exclusively; a lock left by a process that died is taken over), so
 * consecutive and parallel runs on one host (cron jobs, `b24` runs) share the bucket. The default of `b24`.
 * Entries that no longer matter are dropped on each write, so the file stays small.
 *
 * @since 0.1.0
 * @category Store
 */
export const layerStoreFile = (options: FileStoreOptions = {}): Layer.Layer<RateLimiterStore> =>
  Layer.sync(RateLimiterStore, () => internalFile.make(options))

/**
 * The store a URL names: `memory`, `file:PATH` (or `file:` for the default path), `redis://…` / `rediss://…`.
 * An unknown form fails with a `ValidationError` naming the forms (never repeating the URL, which may hold a
 * password).
 *
 * @since 0.1.0
 * @category Store
 */
export const layerStoreUrl = (
  url: string | Redacted.Redacted<string>,
  options: { readonly prefix?: string } = {}
): Layer.Layer<RateLimiterStore, RateLimiterStoreError | ValidationError> =>
  Layer.unwrapEffect(
    Effect.map(internalStoreUrl.parse(url), (target) => {
      switch (target._tag) {
        case "Memory":
          return layerStoreMemory
        case "File":
          return layerStoreFile(target.path === undefined ? {} : { path: target.path })
        case "Redis":
          return layerStoreRedis({ url: target.url, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) })
      }
    })
  )

/**
 * Builds a limiter over the store in context; build one per portal and share it between all its requests.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, RateLimiterStore> =>
  Effect.flatMap(RateLimiterStore, (store) => internal.makeService(options, store))

/**
 * The limiter over a store provided from outside (a shared one, or several limiters over one memory store).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerWithStore = (options: Options): Layer.Layer<RateLimiter, never, RateLimiterStore> =>
  Layer.effect(RateLimiter, make(options))

/**
 * The limiter with its own in-memory store.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options): Layer.Layer<RateLimiter> =>
  Layer.provide(layerWithStore(options), layerStoreMemory)

/**
 * The `slow` overrides in force for the current fiber (none by default); read by `withPermit` at call time.
 *
 * @since 0.1.0
 * @category Context
 */
export const SlowOverride = internalSlow.SlowOverride

/**
 * The reference's type, for code that provides or reads it.
 *
 * @since 0.1.0
 * @category Context
 */
export type SlowOverride = internalSlow.SlowOverride

/**
 * Runs `program` under extra limits of its own: at most `maxConcurrent` of its requests at once and at most
 * `requestsPerSecond` starts per second, on top of the portal's limits. Fibers outside keep full speed, and
 * two programs under different `slow` settings do not affect each other.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const slow: (options: {
  readonly maxConcurrent?: number
  readonly requestsPerSecond?: number
}) => <A, E, R>(program: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = internalSlow.slow
