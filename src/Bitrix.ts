/**
 * The client's verbs as Effect programs: `call`, `callEither`, `callRaw`, `callBatch`, `getByID`, `getAll`,
 * `slow`; and the layers that provide the services they run on.
 *
 * ```ts
 * const deals = await Effect.runPromise(
 *   Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"] }).pipe(Effect.provide(Bitrix.layerFetch({ webhook })))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Schedule from "effect/Schedule"
import type * as Auth from "./Auth.js"
import * as BatchPlanner from "./BatchPlanner.js"
import type { Limits } from "./BitrixConfig.js"
import {
  BulkCallError,
  type CallError,
  HttpError,
  type ItemError,
  ItemNotRun,
  type ItemOutcome,
  ItemRefused,
  ItemSucceeded,
  ItemUnknown,
  NotRunError,
  type RateLimiterStoreError,
  type RetryableError,
  UnknownOutcomeError,
  ValidationError
} from "./BitrixError.js"
import type * as Envelope from "./Envelope.js"
import * as Blocked from "./internal/blocked.js"
import { BulkOutcomes } from "./internal/bulkOutcomes.js"
import * as Client from "./internal/client.js"
import * as StoreUrl from "./internal/limiterStoreUrl.js"
import * as Network from "./internal/network.js"
import { decodeOptions, type OptionsEntry, positive, structDecoder } from "./internal/options.js"
import * as Validate from "./internal/validate.js"
import * as ListStrategy from "./ListStrategy.js"
import { outcomeOf } from "./internal/progress.js"
import { ProgressReporter } from "./ProgressReporter.js"
import * as RateLimiter from "./RateLimiter.js"
import * as Transport from "./Transport.js"

/**
 * The services every verb runs on. `Bitrix.layer` provides them all; tests swap `Transport` for the fake portal.
 *
 * @since 0.1.0
 * @category Models
 */
export type Services = Transport.Transport | RateLimiter.RateLimiter | BatchPlanner.BatchPlanner

/**
 * @since 0.1.0
 * @category Models
 */
export type Params = Readonly<Record<string, unknown>>

/**
 * Options of the services other than the transport: the limiter's and the batch planner's.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ServiceOptions {
  /** Limit preset or numbers; match a time-scaled fake portal with explicit numbers. Default `"standard"`. */
  readonly limits?: Limits
  /** Commands per batch, 1..50. Default 50. */
  readonly batchSize?: number
  /** Ceiling on requests in flight. */
  readonly maxConcurrent?: number
  /** Bucket slots left unused: jitter in arrival times, other apps on the same address. Default 2. */
  readonly bucketHeadroom?: number
  /**
   * Where the limiter keeps the portal's limits, so processes that share a portal share them: `"memory"` (default,
   * this process only), `"file:PATH"` (the processes of one machine), `"redis://…"` (every machine using that
   * Redis; needs `ioredis`), or a `RateLimiter.RateLimiterStore` layer. The bucket is keyed by the portal's host
   * and `limiterEgress`, the operating budgets by host, a hash of the credential and method.
   */
  readonly limiterStore?: string | Redacted.Redacted<string> | Layer.Layer<RateLimiter.RateLimiterStore, RateLimiterStoreError>
  /** A label of the address requests leave from (default: one bucket per portal). */
  readonly limiterEgress?: string
}

/**
 * Options of `layer`: a webhook or an OAuth app, the transport's settings (`Transport.TransportOptions`: timeout
 * and retry schedule), and the other services' (`ServiceOptions`).
 *
 * @since 0.1.0
 * @category Models
 */
export type Options = ServiceOptions &
  Transport.TransportOptions &
  ({ readonly webhook: string | Redacted.Redacted<string> } | { readonly oauth: Auth.OAuthOptions })

/** Decodes the options with `internal/options.ts`'s one Schema (the one check of every entry point's options). */
const checkOptions = (options: unknown, entry: OptionsEntry): Effect.Effect<void, ValidationError> =>
  Effect.suspend(() => Either.match(decodeOptions(options, entry), { onLeft: Effect.fail, onRight: () => Effect.void }))

/**
 * Bucket slots the client leaves free by default. The portal counts a request when it arrives, not when it was
 * sent: at exactly the drain rate, two requests whose network delays differ arrive closer than 1/rate and the
 * second is refused. Two spare slots absorb that jitter (the benchmark saw 1 to 4 503s in runs of 200 to 450
 * requests without them).
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultBucketHeadroom = 2

/**
 * The limiter, the batch planner and the settings: every service but the transport. Combine with
 * `FakePortal.layer` in tests, or use `layer` for a real portal.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerServices = (
  options: ServiceOptions = {}
): Layer.Layer<RateLimiter.RateLimiter | BatchPlanner.BatchPlanner, ValidationError> => servicesFor(options, undefined)

/** The limiter over the store `options.limiterStore` names, keyed by the connection's `identity` when known. */
const limiterLayer = (options: ServiceOptions, identity: { readonly key: string; readonly credential: string } | undefined) => {
  const store = options.limiterStore
  const storeLayer: Layer.Layer<RateLimiter.RateLimiterStore, RateLimiterStoreError | ValidationError> =
    store === undefined
      ? RateLimiter.layerStoreMemory
      : typeof store === "string" || Redacted.isRedacted(store)
        ? RateLimiter.layerStoreUrl(store)
        : store
  return RateLimiter.layerWithStore({
    limits: options.limits ?? "standard",
    ...(options.maxConcurrent === undefined ? {} : { maxConcurrent: options.maxConcurrent }),
    bucketHeadroom: options.bucketHeadroom ?? defaultBucketHeadroom,
    ...(identity === undefined ? {} : identity),
    ...(options.limiterEgress === undefined ? {} : { egress: options.limiterEgress })
  }).pipe(
    Layer.provide(
      // a store that cannot be set up (ioredis missing) is a problem of the options, found when the layer is built
      Layer.mapError(storeLayer, (error) =>
        error._tag === "ValidationError"
          ? error
          : new ValidationError({ path: "options.limiterStore", detail: `cannot be set up: ${error.message}` })
      )
    )
  )
}

const serviceOptionKeys = ["limits", "batchSize", "maxConcurrent", "bucketHeadroom", "limiterStore", "limiterEgress"] as const

/** The options of the services other than the transport, out of the whole client's. */
const serviceOptionsOf = (options: ServiceOptions): ServiceOptions =>
  Object.fromEntries(serviceOptionKeys.flatMap((key) => (options[key] === undefined ? [] : [[key, options[key]]])))

const servicesFor = (
  options: ServiceOptions,
  identity: { readonly key: string; readonly credential: string } | undefined
): Layer.Layer<RateLimiter.RateLimiter | BatchPlanner.BatchPlanner, ValidationError> =>
  Layer.unwrapEffect(
    checkOptions(options, "services").pipe(
      // built only once the options are known to be good (a bad value could throw while building)
      Effect.map(() =>
        Layer.merge(
          limiterLayer(options, identity),
          BatchPlanner.layer(options.batchSize === undefined ? {} : { batchSize: options.batchSize })
        )
      )
    )
  )

/**
 * The whole client over an `HttpClient` you provide (`FetchHttpClient.layer`, `NodeHttpClient.layerUndici`).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options): Layer.Layer<Services, ValidationError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(
    checkOptions(options, "layer").pipe(
      Effect.map(() => Layer.merge(servicesFor(serviceOptionsOf(options), StoreUrl.identityOf(options)), Transport.layer(options)))
    )
  )

/**
 * How the bundled HTTP client reaches the portal: a company CA for a self-hosted portal's certificate, an
 * explicit opt-out of certificate checks, a proxy. `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` are honoured
 * unless `proxy: false`.
 *
 * @since 0.1.0
 * @category Models
 */
export type NetworkOptions = Network.NetworkOptions

/**
 * The whole client over the bundled HTTP client (undici's request API, the package's own dependency: less CPU
 * per byte than `fetch`); `network` for a CA, `dangerouslyAcceptAnyCertificate` or a proxy.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerFetch = (options: Options & { readonly network?: NetworkOptions }): Layer.Layer<Services, ValidationError> =>
  fetchLayer(options)

/**
 * The options of `layerConfig`, each of which may come from config: the connection (a webhook or an OAuth app:
 * exactly one), the transport's and the other services' settings, and `network`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ConfigOptions extends ServiceOptions, Transport.TransportOptions {
  readonly webhook?: string | Redacted.Redacted<string>
  readonly oauth?: Auth.OAuthOptions
  readonly network?: NetworkOptions
}

/** `layerFetch` for options known only at run time (`layerConfig`'s): decoded like every entry point's, then built. */
const fetchLayer = (input: unknown): Layer.Layer<Services, ValidationError> =>
  Layer.unwrapEffect(
    checkOptions(input, "fetch").pipe(
      Effect.flatMap(() => {
        // the check above decoded these options: they are `ConfigOptions`, with exactly one connection
        const { network, webhook, oauth, ...rest } = input as ConfigOptions
        const connection: Auth.AuthOptions | undefined =
          webhook !== undefined ? { webhook } : oauth !== undefined ? { oauth } : undefined
        return connection === undefined
          ? Effect.fail(new ValidationError({ path: "webhook", detail: "neither webhook nor oauth is given" }))
          : Effect.succeed(layer({ ...rest, ...connection }).pipe(Layer.provide(Network.layerHttpClient(network))))
      })
    )
  )

const isPlainRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" &&
  value !== null &&
  (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)

/** A `Config.Wrap` as one `Config`: configs as they are, plain objects field by field, any other value as it is. */
const unwrapLoosely = (value: unknown): Config.Config<unknown> =>
  Config.isConfig(value)
    ? value
    : isPlainRecord(value) && Object.keys(value).length > 0
      ? Config.all(Object.fromEntries(Object.entries(value).map(([key, field]) => [key, unwrapLoosely(field)])))
      : Config.succeed(value)

/**
 * The whole client over the bundled HTTP client, its options read from config (`Config.Wrap`: each option a
 * `Config`, the way `@effect/ai-openai`'s `OpenAiClient.layerConfig` reads its key; a plain value is taken as it
 * is). Without `webhook` or `oauth`, the webhook is read from `BITRIX24_WEBHOOK` (kept `Redacted`). A missing value
 * is a `ConfigError`, a malformed one a `ValidationError`, both when the layer is built.
 *
 * ```ts
 * Bitrix.layerConfig({
 *   webhook: Config.redacted("BITRIX24_WEBHOOK"),
 *   limits: Config.literal("standard", "enterprise")("BITRIX24_PLAN").pipe(Config.withDefault("standard"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<ConfigOptions> = {}
): Layer.Layer<Services, ValidationError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(
      unwrapLoosely(
        isPlainRecord(options) && !("webhook" in options) && !("oauth" in options)
          ? { webhook: Config.redacted("BITRIX24_WEBHOOK"), ...options }
          : options
      ),
      fetchLayer
    )
  )

// ----------------------------------------------------------------------------------------------------------------
// call / callEither / callRaw
// ----------------------------------------------------------------------------------------------------------------

const kindOf = (method: string) => (Client.isReadMethod(method) ? ("read" as const) : ("write" as const))

/**
 * (The outcomes and errors this module builds per item pass `true`, Schema's `disableValidation`: their fields are
 * values the client decoded itself, and checking them again is work for nothing on 100,000 items.)
 *
 * What a failed request means for each item it carried: not run when the connection was refused, unknown when
 * no answer proves the portal did not run it (`Client.outcomeUnknown`: lost answers, 5xx), else refused with the
 * portal's words (a status below 500, or a 503 / 429 refusal that outlasted the retries).
 */
const outcomeOfFailedRequest = (error: ItemError, index: number, commandLabel: string, item: unknown): ItemOutcome => {
  switch (error._tag) {
    case "UnknownOutcomeError":
      return new ItemUnknown({ index, commandLabel, item, cause: error.cause }, true)
    case "RateLimiterStoreError":
      return new ItemNotRun({ index, commandLabel, item, reason: `not sent: ${error.message}` }, true)
    case "NotRunError":
      return new ItemNotRun({ index, commandLabel, item, reason: error.reason }, true)
    case "HttpError":
      return Client.certainlyNotRun(error)
        ? new ItemNotRun({ index, commandLabel, item, reason: `the request was not delivered: ${error.detail}` }, true)
        : new ItemUnknown({ index, commandLabel, item, cause: error }, true)
    case "UnexpectedResultError":
      return new ItemUnknown({ index, commandLabel, item, cause: error }, true)
    case "BitrixApiError":
      return Client.outcomeUnknown(error)
        ? new ItemUnknown({ index, commandLabel, item, cause: error }, true)
        : new ItemRefused({
            index,
            commandLabel,
            item,
            code: error.code,
            description: error.description,
            status: error.status,
            ...(error.raw === undefined ? {} : { raw: error.raw })
          }, true)
  }
}

/** A command the portal refused inside a batch, with its words. */
const refusedCommand = (index: number, commandLabel: string, item: unknown, error: Envelope.Failure) =>
  new ItemRefused({ index, commandLabel, item, code: error.error, description: error.error_description ?? "", status: 200, raw: error }, true)

/** Why a command is absent from every map of a batch's answer. */
const notRunReason = (halted: boolean) =>
  halted
    ? "the batch stopped at an earlier failed command (halt)"
    : "absent from every map of the batch's answer: the portal did not run it"

/** The outcome of an item whose request was sent when the call was stopped: it may have run. */
const stoppedInFlight = (method: string, index: number, commandLabel: string, item: unknown) =>
  new ItemUnknown({
    index,
    commandLabel,
    item,
    cause: new HttpError({
      reason: "Transport",
      method,
      detail: "the call was stopped while this item's request was in flight, so no answer says whether the portal ran it"
    })
  }, true)

/** The outcome of an item not sent when the call was stopped. */
const stoppedUnsent = (index: number, commandLabel: string, item: unknown) =>
  new ItemNotRun({ index, commandLabel, item, reason: "the call was stopped before this item was sent" }, true)

/** The transport with `onSend` run as each request goes out (inside its permit, so after any wait). */
const noticingSends = (onSend: () => void) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Transport.Transport, (transport) =>
    Effect.provideService(effect, Transport.Transport, {
      ...transport,
      send: (method, params) => Effect.zipRight(Effect.sync(onSend), transport.send(method, params))
    })
  )

/**
 * Batches of one bulk call in flight at once when the limits are off (no bucket bounds them): the most a standard
 * portal's bucket would start at once.
 */
const unlimitedBatchesInFlight = 50

/**
 * The fewest items a bulk call of writes puts in one batch when it spreads a job over the bucket's free starts:
 * thinner batches would spend starts (a request each, refilled at 2 per second) for little server time.
 */
const minItemsPerBatch = 10

/** An item of a bulk call that did not succeed: what `callEither` and `call` say of it. */
interface ItemFailure {
  readonly either: Either.Either<never, ItemError>
  readonly outcome: ItemOutcome
}

/** Where an item of a bulk call stands. */
const unsent = 0
const inFlight = 1
const answered = 2

/** `count` slots holding `value`, as a packed array (without holes, so reading a slot needs no check for one). */
const packed = <A>(count: number, value: A): Array<A> => {
  const slots: Array<A> = []
  for (let index = 0; index < count; index++) slots.push(value)
  return slots
}

/**
 * What a bulk call did, item by item, held as compactly as 100,000 items call for: a result per item that
 * succeeded and an `ItemFailure` per item that did not (few). The `ItemSucceeded` and `Either` of each success are
 * made only for whoever asks for them (`callEither`, a `BulkCallError`, a caller that stops the call).
 */
class ItemsRun {
  readonly results: Array<unknown>
  readonly failures = new Map<number, ItemFailure>()
  /** `unsent`, `inFlight` or `answered`, per item. */
  readonly state: Uint8Array
  /** The label each item travels under (`""` until planned). */
  readonly labels: Array<string>
  constructor(readonly method: string, readonly items: ReadonlyArray<Params>) {
    this.results = packed<unknown>(items.length, undefined)
    this.state = new Uint8Array(items.length)
    this.labels = packed(items.length, "")
  }
  succeed(index: number, result: unknown): void {
    this.results[index] = result
    this.state[index] = answered
  }
  fail(index: number, either: Either.Either<never, ItemError>, outcome: ItemOutcome): void {
    this.failures.set(index, { either, outcome })
    this.state[index] = answered
  }
  /** The outcome of the item at `index` now: answered, or how a stop would leave it. */
  outcome(index: number): ItemOutcome {
    const label = this.labels[index]!
    switch (this.state[index]) {
      case answered:
        return this.failures.get(index)?.outcome ?? new ItemSucceeded({ index, commandLabel: label, result: this.results[index] }, true)
      case inFlight:
        return stoppedInFlight(this.method, index, label, this.items[index])
      default:
        return stoppedUnsent(index, label, this.items[index])
    }
  }
  outcomes(): ReadonlyArray<ItemOutcome> {
    return this.items.map((_, index) => this.outcome(index))
  }
  eithers(): ReadonlyArray<Either.Either<unknown, ItemError>> {
    return this.results.map((result, index) => this.failures.get(index)?.either ?? Either.right(result))
  }
  /** The results in input order when every item succeeded; else one `BulkCallError` accounting for every item. */
  resultsOrFail(): Effect.Effect<ReadonlyArray<unknown>, BulkCallError> {
    return this.failures.size === 0
      ? Effect.succeed(this.results)
      : Effect.fail(new BulkCallError({ method: this.method, outcomes: this.outcomes() }))
  }
}

/**
 * Sends `items` as batches of one method, in parallel within the limits, and says what became of each item
 * (`ItemsRun`). Commands refused inside a batch by an operating block did not run, so they are sent again under
 * the shared policy (`internal/blocked.ts`: the limiter learns the block once per answer and waits for its reset;
 * at most five more rounds).
 */
const runItems = Effect.fnUntraced(function* (method: string, items: ReadonlyArray<Params>) {
  const planner = yield* BatchPlanner.BatchPlanner
  const progress = yield* ProgressReporter
  const run = new ItemsRun(method, items)
  // a caller that stops the call hears which items' requests were out, and the label each travelled under
  ;(yield* BulkOutcomes).track(() => run.outcomes())
  let pending: ReadonlyArray<number> = items.map((_, index) => index)
  // no more batches under way than the limiter lets run at once: the rest wait as plain data, not as fibers
  // (100,000 items as 2,000 waiting fibers held about 400 MB)
  const limiter = yield* RateLimiter.RateLimiter
  const { concurrencyCeiling } = yield* limiter.capacity
  const concurrency = Number.isFinite(concurrencyCeiling) ? Math.max(1, concurrencyCeiling) : unlimitedBatchesInFlight
  yield* progress.start(method, items.length)
  // the task ends as the program does: finished, failed or interrupted (Ctrl-C), never "finished" by default
  yield* Effect.addFinalizer((exit) => progress.finish(method, outcomeOf(exit)))
  for (let round = 0; pending.length > 0; round++) {
    const indexes = pending
    // writes the bucket can start at once are spread over the starts it has: a batch runs its commands one after
    // another, and a write costs the portal tens of ms, so 2,000 adds take the time of 42 of them, not of 50; never
    // thinner than `minItemsPerBatch`. Reads cost a few ms a command: spreading them would spend starts for nothing
    const { freeStarts } = yield* limiter.capacity
    const perBatch =
      kindOf(method) === "write" && Number.isFinite(freeStarts) && freeStarts >= 1
        ? Math.max(minItemsPerBatch, Math.ceil(indexes.length / Math.floor(freeStarts)))
        : planner.batchSize
    // every item is planned (and encoded) before the first request; each batch leaves the plan as it is sent, so
    // the plan of 100,000 commands (about 10 MB) does not stay alive beside the results that replace it
    const unsentBatches: Array<BatchPlanner.PlannedBatch | undefined> = Array.from(
      yield* planner.plan(method, indexes.map((index) => items[index]), perBatch)
    )
    for (const batch of unsentBatches) for (const command of batch!.commands) run.labels[indexes[command.index]!] = command.label
    const retryLater: Array<number> = []
    yield* Effect.forEach(
      unsentBatches.keys(),
      (position) => {
        const batch = unsentBatches[position]!
        unsentBatches[position] = undefined
        return Client.sendBatch(batch, { halt: false }).pipe(
          noticingSends(() => {
            for (const command of batch.commands) run.state[indexes[command.index]!] = inFlight
          }),
          Effect.matchEffect({
            onFailure: (error) =>
              Effect.gen(function* () {
                if (error._tag === "ValidationError") return yield* Effect.fail(error)
                // the planner numbered this round's items from 0: name the caller's items instead
                const itemError =
                  error._tag === "UnknownOutcomeError"
                    ? new UnknownOutcomeError({
                        method: error.method,
                        itemIndexes: batch.commands.map((command) => indexes[command.index]!),
                        cause: error.cause
                      })
                    : error
                for (const command of batch.commands) {
                  const index = indexes[command.index]!
                  run.fail(index, Either.left(itemError), outcomeOfFailedRequest(itemError, index, command.label, items[index]))
                }
                yield* progress.advance(method, batch.commands.length)
              }),
            onSuccess: (commandOutcomes) =>
              Effect.gen(function* () {
                // commands refused by an operating block did not run: the shared policy sends them again
                const again = commandOutcomes.some(Blocked.isBlocked) && (yield* Blocked.sendAgain(method, round))
                let done = 0
                for (const outcome of commandOutcomes) {
                  const index = indexes[outcome.index]!
                  if (outcome._tag === "Success") {
                    run.succeed(index, outcome.result)
                    done++
                  } else if (outcome._tag === "Failure") {
                    if (again && Blocked.isBlocked(outcome)) {
                      // refused by the block, so not run: not in flight until it is sent again
                      run.state[index] = unsent
                      retryLater.push(index)
                    } else {
                      run.fail(
                        index,
                        Either.left(Client.commandError(method, outcome.label, outcome.error, outcome.error)),
                        refusedCommand(index, outcome.label, items[index], outcome.error)
                      )
                      done++
                    }
                  } else {
                    const reason = notRunReason(false)
                    run.fail(
                      index,
                      Either.left(new NotRunError({ method, commandLabel: outcome.label, reason }, true)),
                      new ItemNotRun({ index, commandLabel: outcome.label, item: items[index], reason }, true)
                    )
                    done++
                  }
                }
                yield* progress.advance(method, done)
              })
          })
        )
      },
      { concurrency, discard: true }
    )
    pending = retryLater.sort((a, b) => a - b)
  }
  return run
}, Effect.scoped)

/** `call`, both forms: one span `Bitrix.call` per call, with its method. */
const callProgram = Effect.fn("Bitrix.call", { captureStackTrace: false })(
  function* (method: string, paramsOrItems: Params | ReadonlyArray<Params> | undefined) {
    yield* Effect.annotateCurrentSpan("bitrix.method", method)
    yield* Validate.method(method)
    if (Array.isArray(paramsOrItems)) {
      const items = yield* Validate.items(paramsOrItems)
      yield* Validate.wireItems(items)
      if (items.length === 0) return []
      return yield* (yield* runItems(method, items)).resultsOrFail()
    }
    const params = yield* Validate.params(paramsOrItems)
    yield* Validate.wire(params, "params", "json")
    const envelope = yield* Client.exchange({ method, params, limiterMethods: [method], kind: kindOf(method), itemIndexes: [0] })
    return envelope.result
  }
)

/**
 * Calls a method once with `params` (sent as JSON, not batched), or once per item of `items` (auto-batched,
 * batches in parallel within the limits; results in input order). If any item does not succeed, fails with one
 * `BulkCallError` whose `outcomes` say for every item whether it succeeded (with its result), was refused (the
 * portal's words), was not run, or has an unknown outcome (a write that may have happened: not retried).
 *
 * @since 0.1.0
 * @category Verbs
 */
export function call(
  method: string,
  items: ReadonlyArray<Params>
): Effect.Effect<ReadonlyArray<unknown>, BulkCallError | ValidationError, Services>
/**
 * Calls a method once with `params`, sent as JSON and not batched, and returns its `result`.
 *
 * @since 0.1.0
 * @category Verbs
 */
export function call(method: string, params?: Params): Effect.Effect<unknown, CallError, Services>
export function call(
  method: string,
  paramsOrItems?: Params | ReadonlyArray<Params>
): Effect.Effect<unknown, CallError | BulkCallError, Services> {
  return callProgram(method, paramsOrItems)
}

/**
 * Like `call(method, items)`, but never fails for an item: one `Either` per item, in input order.
 *
 * @since 0.1.0
 * @category Verbs
 */
export const callEither: (
  method: string,
  items: ReadonlyArray<Params>
) => Effect.Effect<ReadonlyArray<Either.Either<unknown, ItemError>>, ValidationError, Services> = Effect.fn("Bitrix.callEither")(
  function* (method: string, items: ReadonlyArray<Params>) {
    yield* Effect.annotateCurrentSpan("bitrix.method", method)
    yield* Validate.method(method)
    const checked = yield* Validate.items(items)
    yield* Validate.wireItems(checked)
    if (checked.length === 0) return []
    return (yield* runItems(method, checked)).eithers()
  }
)

/**
 * Sends `params` as given (an object, or an array for the old positional methods such as
 * `task.elapseditem.getlist`), not batched, and returns the whole envelope (`result`, `next`, `total`, `time`).
 * Use it for `null` values, which a batch cannot carry.
 *
 * @since 0.1.0
 * @category Verbs
 */
export const callRaw: (method: string, params?: unknown) => Effect.Effect<Envelope.Success, CallError, Services> = Effect.fn(
  "Bitrix.callRaw"
)(function* (method: string, params: unknown = {}) {
  yield* Effect.annotateCurrentSpan("bitrix.method", method)
  yield* Validate.method(method)
  if (typeof params !== "object" || params === null) {
    return yield* Effect.fail(
      new ValidationError({ path: "params", detail: `expected an object or an array, got ${Validate.describe(params)}` })
    )
  }
  yield* Validate.wire(params, "params", "json")
  return yield* Client.exchange({ method, params, limiterMethods: [method], kind: kindOf(method), itemIndexes: [0] })
})

// ----------------------------------------------------------------------------------------------------------------
// callBatch
// ----------------------------------------------------------------------------------------------------------------

/**
 * A command of `callBatch`: `"method?query"` as the portal takes it (with `$result[label][...]` references),
 * or a method and params that are encoded for you.
 *
 * @since 0.1.0
 * @category Models
 */
export type BatchCommand = BatchPlanner.LabelledCommand

/**
 * The portal's `batch` as it is: commands run in order, may reference earlier results with
 * `$result[label][...]`, and with `halt` the batch stops at the first failure. Returns the result per command
 * label; if any command did not succeed, fails with a `BulkCallError` (method `batch`) whose `outcomes` say for
 * every command, by its position in `cmd` and its label, whether it succeeded, was refused (the portal's words),
 * was not run (stopped by `halt`), or has an unknown outcome.
 *
 * @since 0.1.0
 * @category Verbs
 */
export const callBatch: (batch: {
  readonly halt?: boolean
  readonly cmd: Readonly<Record<string, BatchCommand>>
}) => Effect.Effect<Readonly<Record<string, unknown>>, BulkCallError | ValidationError, Services> = Effect.fn("Bitrix.callBatch")(
  function* (batch: { readonly halt?: boolean; readonly cmd: Readonly<Record<string, BatchCommand>> }) {
    yield* Validate.batch(batch)
    const planner = yield* BatchPlanner.BatchPlanner
    if (Object.keys(batch.cmd).length === 0) return {}
    const halt = batch.halt === true
    const { batch: { commands }, params } = yield* planner.planLabelled(batch.cmd, halt)
    const itemOf = (label: string) => batch.cmd[label]
    let sent = false
    ;(yield* BulkOutcomes).track(() =>
      commands.map((command) =>
        sent ? stoppedInFlight("batch", command.index, command.label, itemOf(command.label)) : stoppedUnsent(command.index, command.label, itemOf(command.label))
      )
    )
    const answer = yield* Effect.either(
      Client.exchangeBatch(params, commands).pipe(noticingSends(() => void (sent = true)))
    )
    let failedBefore = false
    const outcomes: Array<ItemOutcome> = Either.isLeft(answer)
      ? commands.map((command) => outcomeOfFailedRequest(answer.left, command.index, command.label, itemOf(command.label)))
      : planner.unpack({ commands }, answer.right).map((outcome): ItemOutcome => {
          const item = itemOf(outcome.label)
          switch (outcome._tag) {
            case "Success":
              return new ItemSucceeded({ index: outcome.index, commandLabel: outcome.label, result: outcome.result }, true)
            case "Failure":
              failedBefore = true
              return refusedCommand(outcome.index, outcome.label, item, outcome.error)
            case "Missing":
              return new ItemNotRun({ index: outcome.index, commandLabel: outcome.label, item, reason: notRunReason(halt && failedBefore) }, true)
          }
        })
    const results: Record<string, unknown> = {}
    for (const outcome of outcomes) {
      if (outcome._tag !== "Succeeded") return yield* Effect.fail(new BulkCallError({ method: "batch", outcomes }))
      results[outcome.commandLabel] = outcome.result
    }
    return results
  }
)

// ----------------------------------------------------------------------------------------------------------------
// getByID
// ----------------------------------------------------------------------------------------------------------------

/** The same outcome at another input position (getByID reports each position of a repeated ID). */
const atPosition = (outcome: ItemOutcome, index: number): ItemOutcome => {
  switch (outcome._tag) {
    case "Succeeded":
      return new ItemSucceeded({ index, commandLabel: outcome.commandLabel, result: outcome.result }, true)
    case "Refused":
      return new ItemRefused({
        index,
        commandLabel: outcome.commandLabel,
        item: outcome.item,
        code: outcome.code,
        description: outcome.description,
        status: outcome.status,
        ...(outcome.raw === undefined ? {} : { raw: outcome.raw })
      }, true)
    case "NotRun":
      return new ItemNotRun({ index, commandLabel: outcome.commandLabel, item: outcome.item, reason: outcome.reason }, true)
    case "Unknown":
      return new ItemUnknown({ index, commandLabel: outcome.commandLabel, item: outcome.item, cause: outcome.cause }, true)
  }
}

/**
 * getByID requests each distinct ID once; its error speaks of positions in the caller's `ids`: every position
 * has the outcome of its ID, so a repeated ID is accounted for at each of its positions.
 */
const toIdPositions = (
  error: BulkCallError | ValidationError,
  ids: ReadonlyArray<string | number>,
  unique: ReadonlyArray<string | number>
): BulkCallError | ValidationError =>
  error._tag !== "BulkCallError" ? error : new BulkCallError({ method: error.method, outcomes: atIdPositions(error.outcomes, ids, unique) })

/** The outcomes of the distinct IDs (in the order of `unique`) at every position of `ids`. */
const atIdPositions = (
  outcomes: ReadonlyArray<ItemOutcome>,
  ids: ReadonlyArray<string | number>,
  unique: ReadonlyArray<string | number>
): ReadonlyArray<ItemOutcome> => {
  const uniqueIndexOf = new Map(unique.map((id, index) => [id, index]))
  return ids.map((id, position) => atPosition(outcomes[uniqueIndexOf.get(id)!]!, position))
}

/**
 * Calls `method` once per ID (batched) and returns the results keyed by ID, in the order of `ids` (a `Map`,
 * because a plain object would reorder numeric keys). Duplicate IDs are requested once.
 *
 * @since 0.1.0
 * @category Verbs
 */
export const getByID: (
  method: string,
  ids: ReadonlyArray<string | number>,
  options?: { readonly idField?: string; readonly params?: Params }
) => Effect.Effect<ReadonlyMap<string | number, unknown>, BulkCallError | ValidationError, Services> = Effect.fn("Bitrix.getByID")(
  function* (
    method: string,
    ids: ReadonlyArray<string | number>,
    options: { readonly idField?: string; readonly params?: Params } = {}
  ) {
    yield* Effect.annotateCurrentSpan("bitrix.method", method)
    yield* Validate.method(method)
    yield* Validate.getByIDOptions(options)
    const idField = options.idField ?? "ID"
    const params = yield* Validate.params(options.params)
    yield* Validate.wire(params, "params", "query")
    const clash = Object.keys(params).find((key) => key.toLowerCase() === idField.toLowerCase())
    if (clash !== undefined) {
      return yield* Effect.fail(
        new ValidationError({
          path: `params.${clash}`,
          detail: `the ID field ${JSON.stringify(idField)} is set by getByID for each ID`,
          suggestion: "Remove it from params, or pass the right idField."
        })
      )
    }
    if (!Array.isArray(ids)) {
      return yield* Effect.fail(new ValidationError({ path: "ids", detail: `expected an array, got ${Validate.describe(ids)}` }))
    }
    for (const [index, id] of ids.entries()) {
      if (!((typeof id === "string" && id !== "") || (typeof id === "number" && Number.isFinite(id)))) {
        return yield* Effect.fail(
          new ValidationError({ path: `ids[${index}]`, detail: `an ID must be a number or a non-empty string, got ${Validate.describe(id)}` })
        )
      }
    }
    const unique = [...new Set(ids)]
    // whoever stops the call hears of the caller's positions too
    const outer = yield* BulkOutcomes
    const results = yield* call(
      method,
      unique.map((id) => ({ ...params, [idField]: id }))
    ).pipe(
      Effect.mapError((error) => toIdPositions(error, ids, unique)),
      Effect.provideService(BulkOutcomes, { track: (soFar) => outer.track(() => atIdPositions(soFar(), ids, unique)) })
    )
    const byId = new Map<string | number, unknown>()
    for (const [index, id] of unique.entries()) byId.set(id, results[index])
    return byId
  }
)

// ----------------------------------------------------------------------------------------------------------------
// getAll / stream
// ----------------------------------------------------------------------------------------------------------------

/**
 * Every row of a list method, as a stream with backpressure (see `ListStrategy` for the strategies; `auto` by
 * default). Rows are unwrapped from `items` / `tasks` / other wrappers.
 *
 * @since 0.1.0
 * @category Verbs
 */
export const stream = (
  method: string,
  params: Params = {},
  options: ListStrategy.Options = {}
): Stream.Stream<unknown, ListStrategy.ListError, Services> =>
  // the method, the options and the params are checked there, once, before any request
  ListStrategy.stream(method, params, options)

/**
 * Every row of a list method, collected: complete and without duplicates, or a typed failure (never a silent
 * truncation). `options.strategy` forces a strategy; `options.limit` caps the rows and the requests.
 *
 * @since 0.1.0
 * @category Verbs
 */
export const getAll: (
  method: string,
  params?: Params,
  options?: ListStrategy.Options
) => Effect.Effect<ReadonlyArray<unknown>, ListStrategy.ListError, Services> = Effect.fn("Bitrix.getAll")(
  function* (method: string, params: Params = {}, options: ListStrategy.Options = {}) {
    yield* Effect.annotateCurrentSpan("bitrix.method", method)
    return Chunk.toReadonlyArray(yield* Stream.runCollect(stream(method, params, options)))
  }
)

// ----------------------------------------------------------------------------------------------------------------
// slow
// ----------------------------------------------------------------------------------------------------------------

const decodeSlowOptions = structDecoder(
  Schema.Struct({
    maxConcurrent: Schema.optionalWith(positive("a positive number", "At most this many requests of the program in flight."), {
      exact: true
    }),
    requestsPerSecond: Schema.optionalWith(
      positive("a positive number", "At most this many requests of the program started per second."),
      { exact: true }
    )
  }),
  "slow",
  "e.g. { maxConcurrent: 2, requestsPerSecond: 1 }"
)

/**
 * Runs `program` with a lower ceiling, scoped to it: at most `maxConcurrent` requests in flight and
 * `requestsPerSecond` started per second for the requests the program makes. Other fibers keep full speed.
 *
 * @since 0.1.0
 * @category Verbs
 */
export const slow = <A, E, R>(
  program: Effect.Effect<A, E, R>,
  options: { readonly maxConcurrent?: number; readonly requestsPerSecond?: number } = {}
): Effect.Effect<A, E | ValidationError, R> =>
  Effect.suspend(() =>
    Either.match(decodeSlowOptions(options), {
      onLeft: (error): Effect.Effect<A, E | ValidationError, R> => Effect.fail(error),
      onRight: (decoded) => RateLimiter.slow(decoded)(program)
    })
  )

/**
 * Runs `program` with another retry schedule for its requests: the transport's schedule, replaced for this
 * program only.
 *
 * @since 0.1.0
 * @category Verbs
 */
export const withRetry =
  (schedule: Schedule.Schedule<unknown, RetryableError>) =>
  <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | Transport.Transport> =>
    Effect.updateService(program, Transport.Transport, (transport) => ({ ...transport, retry: schedule }))
