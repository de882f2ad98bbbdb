/**
 * The request pipeline under every verb: limiter permit -> transport -> feedback of the portal's time blocks
 * -> retry where it is safe. Batches are decoded and unpacked here, so the verbs only assemble results.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as BatchPlanner from "../BatchPlanner.js"
import { BitrixApiError, type RateLimiterStoreError, type RetryableError, UnexpectedResultError, UnknownOutcomeError } from "../BitrixError.js"
import * as Envelope from "../Envelope.js"
import * as Metrics from "../Metrics.js"
import { excerptOf } from "./excerpt.js"
import { RateLimiter } from "../RateLimiter.js"
import { ProgressReporter } from "../ProgressReporter.js"
import { defaultMaxRetries, defaultRetry, Transport } from "../Transport.js"

/**
 * An error a single exchange can end with: the ones a retry schedule sees (`RetryableError`: the transport's, the
 * portal's, an answer that cannot be read as the request needs), and `RateLimiterStoreError`: a shared limiter
 * store stayed down, so the request was never sent (the limiter already retried the store for its `storeRetry`).
 */
export type ExchangeError = RetryableError | RateLimiterStoreError

const readSuffixes = ["list", "get", "getlist", "fields", "current", "search", "count", "info", "version", "getfields"]

/**
 * Whether a method only reads. Anything not known to read is treated as a write, so it is never repeated when
 * its outcome is unknown.
 */
export const isReadMethod = (method: string): boolean => {
  const name = method.toLowerCase()
  const last = name.slice(name.lastIndexOf(".") + 1)
  return readSuffixes.includes(last) || name === "user.current" || name === "profile" || name === "methods" || name === "scope"
}

/**
 * The portal cannot be reached this way at all: its name does not resolve, or its TLS certificate is not trusted
 * (expired, self-signed, for another host). Nothing was sent, and trying again cannot help.
 */
export const unreachable = (error: ExchangeError): boolean =>
  error._tag === "HttpError" &&
  error.reason === "Transport" &&
  /ENOTFOUND|CERT_|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME_INVALID|certificate/i.test(error.detail)

/** The connection was refused: nothing reached the portal. */
const connectionRefused = (detail: string): boolean => /ECONNREFUSED|connection refused/i.test(detail)

/** The portal refused the request before running it, or it never left: safe to repeat even for writes. */
export const certainlyNotRun = (error: ExchangeError): boolean => {
  switch (error._tag) {
    case "RateLimiterStoreError":
      return true
    case "BitrixApiError":
      return error.code === "QUERY_LIMIT_EXCEEDED" || error.code === "OPERATION_TIME_LIMIT"
    case "UnexpectedResultError":
      // the portal answered: whatever it ran, it ran
      return false
    case "HttpError":
      return (error.reason === "Transport" && connectionRefused(error.detail)) || unreachable(error)
  }
}

/** What a failed exchange met, in a few words, for retry reports. */
export const failureWords = (error: ExchangeError): string =>
  error._tag === "RateLimiterStoreError"
    ? `rate limiter's ${error.store} store down`
    : error._tag === "UnexpectedResultError"
    ? "unexpected result"
    : error._tag === "BitrixApiError"
    ? `${error.status} ${error.code === "" ? "" : `${error.code} `}${error.description}`.slice(0, 200)
    : connectionRefused(error.detail)
      ? "connection refused"
      : /ECONNRESET|socket hang up|other side closed/i.test(error.detail)
        ? "connection reset"
        : error.reason === "Timeout" || /timed? ?out/i.test(error.detail)
          ? "timeout"
          : error.status !== undefined
            ? `HTTP ${error.status}${error.reason === "Status" ? "" : ` (${error.reason.toLowerCase()})`}`
            : error.reason.toLowerCase()

/**
 * Whether a failed exchange leaves it open whether the portal ran the request: every answer that does not prove
 * it did not. A lost, timed-out or unreadable answer, and any 5xx (a JSON 500 may come after the method
 * committed, from the portal or a proxy), except the refusals that come before anything runs (503
 * `QUERY_LIMIT_EXCEEDED`, `OPERATION_TIME_LIMIT`, a refused connection). A portal error below 500 is a refusal.
 */
export const outcomeUnknown = (error: ExchangeError): boolean =>
  error._tag !== "RateLimiterStoreError" &&
  !certainlyNotRun(error) &&
  (error._tag !== "BitrixApiError" || error.status >= 500)

/** Failures worth another try for a read: 5xx, timeouts, transport errors, unreadable bodies or results. */
const transient = (error: ExchangeError): boolean => {
  switch (error._tag) {
    case "RateLimiterStoreError":
      return false
    case "UnexpectedResultError":
      return true
    case "HttpError":
      return error.status === undefined || error.status >= 500 || error.reason !== "Status"
    case "BitrixApiError":
      return error.status >= 500
  }
}

/**
 * Whether a failed exchange may be sent again: always when the portal certainly did not run it, else only reads;
 * never when the portal is unreachable this way (a name that does not resolve, an untrusted certificate).
 */
export const shouldRetry = (error: ExchangeError, kind: "read" | "write"): boolean =>
  // the limiter retried its store already; the caller decides what to do after an outage that long
  error._tag !== "RateLimiterStoreError" && !unreachable(error) && (certainlyNotRun(error) || (kind === "read" && transient(error)))

const feedbackFor = (method: string, error: ExchangeError) => {
  if (error._tag === "RateLimiterStoreError") return Option.none()
  // an answer that cannot be read is taken as the server struggling, as an unreadable body is
  if (error._tag === "UnexpectedResultError") return Option.some({ _tag: "ServerError" } as const)
  if (error._tag === "BitrixApiError") {
    if (error.code === "QUERY_LIMIT_EXCEEDED") return Option.some({ _tag: "Throttled" } as const)
    if (error.code === "OPERATION_TIME_LIMIT") return Option.some({ _tag: "MethodBlocked", method } as const)
    return error.status >= 500 ? Option.some({ _tag: "ServerError" } as const) : Option.none()
  }
  // A connection refused or a portal out of reach never reached the portal: nothing to learn about its load
  if (certainlyNotRun(error)) return Option.none()
  return error.status !== undefined && error.status < 500 && error.reason === "Status"
    ? Option.none()
    : Option.some({ _tag: "ServerError" } as const)
}

/** A time block to feed back to the limiter, with the method it belongs to. */
export type TimeRecord = { readonly method: string; readonly time: Envelope.TimeBlock }

interface ExchangeOptions {
  readonly method: string
  readonly params: unknown
  /** Methods whose budgets the request uses (for a batch: "batch" and each command's method). */
  readonly limiterMethods: ReadonlyArray<string>
  readonly kind: "read" | "write"
  readonly itemIndexes: ReadonlyArray<number>
  /**
   * `false` when the request's server time says nothing of what the method's other calls cost: a list's COUNT
   * (`start: 0`) scans the whole table, where the keyset pages after it do not. Its time is then fed to the limiter
   * as the portal's total only, not as a call's cost, which the limiter takes for every call of the method it admits
   * next (the largest of the last ten): a COUNT of a million rows (0.5 s) would have it admit a batch of 50 keyset
   * pages as 25 s of operating time, and hold back half of the first wave. Without the portal's total the time is
   * kept whole (it is then the only account of the call's cost).
   */
  readonly costSample?: boolean
}

/** A time block without the call's own duration (see `ExchangeOptions.costSample`). */
const totalOnly = (time: Envelope.TimeBlock): Envelope.TimeBlock => {
  if (time.operating === undefined) return time
  const { duration: _duration, processing: _processing, ...rest } = time
  return rest
}

/**
 * One exchange with limiter, feedback and safe retries; `interpret` reads the envelope inside the permit and
 * names the extra time blocks it holds (batch commands), so the limiter learns the time a request used before
 * the request stops counting as running. A write whose outcome is unknown (see `outcomeUnknown`) fails with
 * `UnknownOutcomeError` naming `itemIndexes`, never repeated.
 */
export const exchangeWith = <A>(
  options: ExchangeOptions,
  interpret: (
    envelope: Envelope.Success
  ) => Effect.Effect<{ readonly value: A; readonly times: ReadonlyArray<TimeRecord> }, UnexpectedResultError>
) =>
  Effect.gen(function* () {
    const limiter = yield* RateLimiter
    const transport = yield* Transport
    // the transport owns its retry schedule; the default one's bound is known, so reports can say "try n of 9"
    const retrySchedule = transport.retry ?? defaultRetry
    const maxRetries = retrySchedule === defaultRetry ? defaultMaxRetries : undefined
    const sendAndRecord = transport.send(options.method, options.params).pipe(
      Effect.flatMap((envelope) =>
        interpret(envelope).pipe(
          Effect.tap(({ times }) => {
            const own = envelope.time === undefined ? undefined : options.costSample === false ? totalOnly(envelope.time) : envelope.time
            const records = own === undefined ? times : [{ method: options.method, time: own }, ...times]
            return records.length === 0 ? Effect.void : limiter.record(records)
          })
        )
      )
    )
    let attempts = 0
    const attempt = Effect.suspend(() => {
      attempts++
      const number = attempts
      return limiter.withPermit(options.limiterMethods, sendAndRecord).pipe(
        Effect.tap(() =>
          Effect.zipRight(limiter.feedback({ _tag: "Success" }), countRequest(options.method, "ok"))
        ),
        Effect.tapError((error) =>
          Effect.zipRight(
            Option.match(feedbackFor(options.method, error), { onNone: () => Effect.void, onSome: limiter.feedback }),
            countRequest(options.method, outcomeOf(error))
          )
        ),
        Effect.tap((result) =>
          debugLog(`bitrix: ${options.method} answered`, () => ({ "bitrix.attempt": number, "bitrix.result": excerpt(result.value) }))
        ),
        Effect.withSpan("bitrix.attempt", {
          attributes: { "bitrix.method": options.method, "bitrix.attempt": number },
          captureStackTrace: false
        })
      )
    })
    yield* debugLog(`bitrix: ${options.method}`, () => ({
      "bitrix.params": excerpt(options.params),
      "bitrix.items": options.itemIndexes.length
    }))
    const retried = (error: RetryableError) => {
      const again = shouldRetry(error, options.kind)
      return again ? Effect.as(Metric.increment(Metric.tagged(Metrics.retries, "method", options.method)), true) : Effect.succeed(false)
    }
    // each retry the schedule decides is told to the progress reporter: what failed, which try, when the next
    let lastError: ExchangeError | undefined
    const progress = yield* ProgressReporter
    // which errors are retried is decided first (`retried`), then the user's schedule; only then is it a retry
    const schedule = Schedule.delays(retrySchedule).pipe(
      Schedule.whileInputEffect(retried),
      Schedule.onDecision((delay, decision) =>
        decision._tag === "Done" || progress.retrying === undefined || lastError === undefined
          ? Effect.void
          : progress.retrying({
              method: options.method,
              attempt: attempts,
              ...(maxRetries === undefined ? {} : { tries: maxRetries + 1 }),
              reason: failureWords(lastError),
              delayMs: Duration.toMillis(delay)
            })
      )
    )
    const answered = yield* attempt.pipe(
      // kept for the retry report: the schedule's decision does not see its input
      Effect.tapError((error) => Effect.sync(() => void (lastError = error))),
      // a limiter store that stayed down ends the retries: the request was never sent
      Effect.map((result) => ({ _tag: "Answered" as const, value: result.value })),
      Effect.catchTag("RateLimiterStoreError", (error) => Effect.succeed({ _tag: "StoreDown" as const, error })),
      Effect.retry(schedule),
      Effect.catchIf(
        (error): error is RetryableError => options.kind === "write" && outcomeUnknown(error),
        (cause) =>
          Effect.fail(new UnknownOutcomeError({ method: options.method, itemIndexes: [...options.itemIndexes], cause }))
      )
    )
    if (answered._tag === "StoreDown") return yield* Effect.fail(answered.error)
    return answered.value
  }).pipe(
    Effect.withSpan("bitrix.exchange", {
      attributes: { "bitrix.method": options.method, "bitrix.batch.size": options.itemIndexes.length },
      captureStackTrace: false
    })
  )

/** The outcome tag of a request in `Metrics.requests`: `ok`, the portal's error code, or `http_<reason>`. */
const outcomeOf = (error: ExchangeError): string =>
  error._tag === "RateLimiterStoreError"
    ? "limiter_store"
    : error._tag === "UnexpectedResultError"
    ? "unexpected_result"
    : error._tag === "BitrixApiError" ? (error.code === "" ? "empty_code" : String(error.code)) : `http_${error.reason.toLowerCase()}`

// A tagged metric's key is hashed from its formatted tags on every make: the counters are made once per method and
// outcome (a bounded set: the methods a program calls, the outcomes a request can have)
const requestCounters = new Map<string, Effect.Effect<void>>()

const countRequest = (method: string, outcome: string): Effect.Effect<void> => {
  const key = `${method}\u0000${outcome}`
  let counter = requestCounters.get(key)
  if (counter === undefined) {
    counter = Effect.asVoid(Metric.increment(Metric.tagged(Metric.tagged(Metrics.requests, "method", method), "outcome", outcome)))
    if (requestCounters.size < 10_000) requestCounters.set(key, counter)
  }
  return counter
}

/** A debug line whose annotations are computed only when debug logging is on (excerpts cost a JSON encode). */
const debugLog = (message: string, annotations: () => Record<string, unknown>) =>
  Effect.whenLogLevel(
    Effect.suspend(() => Effect.logDebug(message).pipe(Effect.annotateLogs(annotations()))),
    LogLevel.Debug
  )

/** A short text of params or a result for debug logs (secrets never travel in params: auth is the transport's). */
const excerpt = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 300 ? `${text.slice(0, 300)}… (${text.length} chars)` : text
}

/** One exchange whose envelope is returned as it is. */
export const exchange = (options: ExchangeOptions) =>
  exchangeWith(options, (envelope) => Effect.succeed({ value: envelope, times: [] }))

const decodeBatchResult = Schema.decodeUnknown(Envelope.BatchResult)

/** Decodes a batch's `result` (the five maps); anything else is a result the client cannot read. */
export const decodeBatch = (result: unknown) =>
  decodeBatchResult(result).pipe(
    Effect.mapError(
      (error) =>
        new UnexpectedResultError({
          method: "batch",
          excerpt: excerptOf(result),
          detail: `the batch result does not have the five maps: ${error.message.slice(0, 300)}`
        })
    )
  )

/**
 * Sends a batch (`params` = `{ halt, cmd }`) whose commands are `commands`, and returns the decoded five maps.
 * Each command's `result_time` is fed to the limiter under the command's own method.
 */
export const exchangeBatch = (
  params: unknown,
  commands: ReadonlyArray<{ readonly label: string; readonly method: string; readonly index: number }>,
  options: { readonly costSample?: boolean } = {}
) => {
  const methods = [...new Set(commands.map((command) => command.method))]
  const methodOf = new Map(commands.map((command) => [command.label, command.method]))
  return exchangeWith(
    {
      method: "batch",
      params,
      // one entry per command: a batch of 50 `crm.deal.list` weighs 50 calls in that method's budget
      limiterMethods: ["batch", ...commands.map((command) => command.method)],
      kind: methods.every(isReadMethod) ? "read" : "write",
      itemIndexes: commands.map((command) => command.index),
      ...(options.costSample === false ? { costSample: false } : {})
    },
    (envelope) =>
      decodeBatch(envelope.result).pipe(
        Effect.map((decoded) => ({
          value: decoded,
          times: Object.entries(decoded.result_time).map(([label, time]) => ({
            method: methodOf.get(label) ?? "batch",
            time: options.costSample === false ? totalOnly(time) : time
          }))
        }))
      )
  )
}

/**
 * Sends one planned batch and returns one outcome per command, in the batch's order. Commands refused by an
 * operating block inside the batch are reported as failures with the portal's words; the caller decides.
 */
export const sendBatch = (batch: BatchPlanner.PlannedBatch, options: { readonly halt: boolean; readonly costSample?: boolean }) =>
  Effect.gen(function* () {
    const planner = yield* BatchPlanner.BatchPlanner
    const params = yield* planner.toBatchParams(batch, options.halt)
    const decoded = yield* exchangeBatch(params, batch.commands, options)
    return planner.unpack(batch, decoded)
  })

/** The portal's error for one failed command, as a typed error. */
export const commandError = (method: string, label: string, error: Envelope.Failure, raw: unknown) =>
  new BitrixApiError({
    code: error.error,
    description: error.error_description ?? "",
    status: 200,
    method,
    commandLabel: label,
    raw
  }, true)
