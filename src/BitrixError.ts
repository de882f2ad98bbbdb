/**
 * The typed failures of effect-bitrix24.
 *
 * One meaning per `_tag`: `HttpError` the exchange itself failed (transport, timeout, status, a body that is not
 * the portal's JSON envelope); `UnexpectedResultError` a well-formed answer that is not what the method promises;
 * `KeysetUnsupportedError` a list the portal cannot page by keyset; `BitrixApiError` one error in the portal's
 * words; `NotRunError` a command the portal did not run; `BulkCallError` a bulk call accounting for every item;
 * `UnknownOutcomeError` a write that may or may not have happened; `IncompleteListError` a list that cannot be
 * proven complete; `ValidationError` bad input, before any request; `RateLimiterStoreError` the limiter's shared
 * store is down.
 *
 * Branch on `_tag`, and for portal errors on `code` (the portal's own `error` string): the portal is
 * inconsistent about HTTP statuses, so the status is kept for information only.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The exchange itself failed: a transport failure, a timeout, an unexpected HTTP status, or a body that is not the
 * portal's JSON envelope (an HTML 502 page from a proxy, a 414 from the front web server, malformed JSON). Only
 * HTTP problems: a well-formed answer the client cannot use is an `UnexpectedResultError`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class HttpError extends Schema.TaggedError<HttpError>("effect-bitrix24/HttpError")("HttpError", {
  /**
   * What went wrong, in short: `Transport` (no answer), `Timeout`, `Status` (an unexpected status with no portal
   * error in it), `Decode` (the body is not JSON, or not a Bitrix envelope).
   */
  reason: Schema.Literal("Transport", "Timeout", "Status", "Decode"),
  /** The Bitrix method the request was for. */
  method: Schema.String,
  /** HTTP status when a response arrived. */
  status: Schema.optional(Schema.Number),
  /** The first characters of the body, kept so the server's words are never lost. */
  bodyExcerpt: Schema.optional(Schema.String),
  /** Human-readable detail (never contains secrets). */
  detail: Schema.String
}) {
  override get message(): string {
    const status = this.status === undefined ? "" : ` (HTTP ${this.status})`
    const body = this.bodyExcerpt === undefined ? "" : `: ${this.bodyExcerpt.slice(0, 200)}`
    return `${this.reason} error calling ${this.method}${status}: ${this.detail}${body}`
  }
}

/**
 * Exactly one error reported by the portal, in its words: the `error` / `error_description` pair of a response, or
 * of one command of a batch (then `commandLabel` names it and `status` is 200). A bulk call in which some items
 * failed is a `BulkCallError`, never this.
 *
 * @since 0.1.0
 * @category Errors
 */
export class BitrixApiError extends Schema.TaggedError<BitrixApiError>("effect-bitrix24/BitrixApiError")(
  "BitrixApiError",
  {
    /** The portal's `error`, exactly as it spelled it: may be `""` or a number. */
    code: Schema.Union(Schema.String, Schema.Number),
    /** The portal's `error_description`. */
    description: Schema.String,
    /** HTTP status of the response that carried it (200 for batch commands). */
    status: Schema.Number,
    /** The Bitrix method that failed. */
    method: Schema.String,
    /** For a batch command: its label. */
    commandLabel: Schema.optional(Schema.String),
    /** The raw error body (or the command's error object), so nothing the server said is lost. */
    raw: Schema.optional(Schema.Unknown)
  }
) {
  override get message(): string {
    const label = this.commandLabel === undefined ? "" : ` [${this.commandLabel}]`
    return `${this.method}${label}: ${JSON.stringify(this.code)} ${this.description} (HTTP ${this.status})`
  }
}

/**
 * A well-formed answer that is not what the method promises: the HTTP exchange and the envelope were fine, but the
 * `result` cannot be used as the verb needs it (a list method whose result is not a list of rows, a row without a
 * whole-number ID, a batch whose result lacks its five maps). Nothing to retry blindly: the portal (or a proxy in
 * front of it) answers something this client does not know.
 *
 * @since 0.1.0
 * @category Errors
 */
export class UnexpectedResultError extends Schema.TaggedError<UnexpectedResultError>(
  "effect-bitrix24/UnexpectedResultError"
)("UnexpectedResultError", {
  /** The Bitrix method whose answer it is (`batch` for a batch's own envelope). */
  method: Schema.String,
  /** For a batch command: its label. */
  commandLabel: Schema.optional(Schema.String),
  /** What is unexpected, in words. */
  detail: Schema.String,
  /** A bounded JSON excerpt of the offending value (at most 500 characters). */
  excerpt: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const label = this.commandLabel === undefined ? "" : ` [${this.commandLabel}]`
    const excerpt = this.excerpt === undefined ? "" : `: ${this.excerpt.slice(0, 200)}`
    return `${this.method}${label}: unexpected result: ${this.detail}${excerpt}`
  }
}

/**
 * A list the portal cannot page by keyset (the `keyset`, `keysetBatch` and `ranges` strategies): the method takes no
 * `order` object (found before any request), or its answers show it ignored the keyset filter (`>ID`, `<=ID`) or the
 * ID ordering, so the walk would repeat rows, skip them or loop. Use `strategy: "offset"` for this method.
 *
 * @since 0.1.0
 * @category Errors
 */
export class KeysetUnsupportedError extends Schema.TaggedError<KeysetUnsupportedError>(
  "effect-bitrix24/KeysetUnsupportedError"
)("KeysetUnsupportedError", {
  method: Schema.String,
  /**
   * `NoOrderObject`: the method takes no `order` object (known before any request); `FilterIgnored`: a page held
   * rows outside the keyset filter; `OrderIgnored`: a page's IDs did not rise strictly.
   */
  reason: Schema.Literal("NoOrderObject", "FilterIgnored", "OrderIgnored"),
  /** What showed it, in words (the IDs concerned). */
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.method}: keyset paging cannot walk this list: ${this.detail}; use strategy "offset" for this method`
  }
}

/**
 * A batch command the portal did not run because of something else: absent from every map of the batch's answer
 * (after another command's failure with `halt`, or past what the portal ran). Its input is untouched: it may be sent
 * again.
 *
 * @since 0.1.0
 * @category Errors
 */
export class NotRunError extends Schema.TaggedError<NotRunError>("effect-bitrix24/NotRunError")("NotRunError", {
  method: Schema.String,
  /** The batch label the command travelled under. */
  commandLabel: Schema.String,
  /** Why it did not run, in words. */
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.method} [${this.commandLabel}]: not run: ${this.reason}`
  }
}

/**
 * Bad input, found before any request was sent.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ValidationError extends Schema.TaggedError<ValidationError>("effect-bitrix24/ValidationError")(
  "ValidationError",
  {
    /** Where in the input the problem is, e.g. `params.filter` or `items[3].fields`. */
    path: Schema.String,
    /** What is wrong. */
    detail: Schema.String,
    /** What to do instead. */
    suggestion: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    const hint = this.suggestion === undefined ? "" : ` ${this.suggestion}`
    return `Invalid ${this.path}: ${this.detail}.${hint}`
  }
}

/**
 * A write whose outcome is unknown: it was sent and no answer proves the portal did not run it (a timeout, a
 * dropped connection, an unreadable body, any 5xx but 503 `QUERY_LIMIT_EXCEEDED`). It is never silently
 * repeated. Names the items concerned so the caller can check them. Single calls fail with it; bulk calls
 * report such items as `ItemUnknown` inside a `BulkCallError`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class UnknownOutcomeError extends Schema.TaggedError<UnknownOutcomeError>(
  "effect-bitrix24/UnknownOutcomeError"
)("UnknownOutcomeError", {
  method: Schema.String,
  /** Input indexes of the items whose writes may or may not have happened. */
  itemIndexes: Schema.Array(Schema.Number),
  /**
   * The answer that made the outcome unknown: a transport failure, a timeout, an unreadable body or result, or a
   * 5xx portal error (other than 503 `QUERY_LIMIT_EXCEEDED`), after which the portal may have run the write.
   */
  cause: Schema.Union(HttpError, BitrixApiError, UnexpectedResultError),
  /**
   * For a bulk call: the results of the items that did complete, by input index (`undefined` for the others),
   * so the IDs of records created by the other batches are not lost.
   */
  partialResults: Schema.optional(Schema.Array(Schema.Unknown))
}) {
  override get message(): string {
    return `Outcome unknown for ${this.itemIndexes.length} item(s) of ${this.method} (indexes ${this.itemIndexes
      .slice(0, 20)
      .join(", ")}): ${this.cause.message}. They were not retried, to avoid duplicate writes.`
  }
}

/**
 * A list export that cannot be proven complete: fewer rows than the portal announced in `total`, rows the
 * verification pass found but could not read (`missingIds`), or a walk stopped by the `maxPages` ceiling
 * (`detail` says which).
 *
 * @since 0.1.0
 * @category Errors
 */
export class IncompleteListError extends Schema.TaggedError<IncompleteListError>(
  "effect-bitrix24/IncompleteListError"
)("IncompleteListError", {
  method: Schema.String,
  expected: Schema.Number,
  received: Schema.Number,
  /**
   * IDs of rows the filter matched while the export ran that it could not read, when they are known.
   *
   * @since 0.1.0
   */
  missingIds: Schema.optional(Schema.Array(Schema.Number)),
  /**
   * Why the export is incomplete, when it is not a short count against `total`.
   *
   * @since 0.1.0
   */
  detail: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const head =
      this.detail === undefined
        ? `${this.method}: the portal announced ${this.expected} rows but ${this.received} arrived`
        : `${this.method}: ${this.detail}`
    if (this.missingIds === undefined || this.missingIds.length === 0) return head
    const more = this.missingIds.length > 20 ? ` and ${this.missingIds.length - 20} more` : ""
    return `${head}; missing IDs: ${this.missingIds.slice(0, 20).join(", ")}${more}`
  }
}

/**
 * An item of a bulk call that succeeded, with its result.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ItemSucceeded extends Schema.TaggedClass<ItemSucceeded>("effect-bitrix24/ItemSucceeded")("Succeeded", {
  /** Position of the item in the caller's input (for `callBatch`: of the command in `cmd`). */
  index: Schema.Number,
  /** The batch command label the item travelled under. */
  commandLabel: Schema.String,
  /** The portal's `result` for the item. */
  result: Schema.Unknown
}) {}

/**
 * An item of a bulk call the portal refused, with its words: the portal answered, and the answer proves the
 * item was not done (a batch command's error, or a whole request refused with a status below 500, or a 503
 * `QUERY_LIMIT_EXCEEDED` / `OPERATION_TIME_LIMIT` that outlasted the retries).
 *
 * @since 0.1.0
 * @category Errors
 */
export class ItemRefused extends Schema.TaggedClass<ItemRefused>("effect-bitrix24/ItemRefused")("Refused", {
  /** Position of the item in the caller's input (for `callBatch`: of the command in `cmd`). */
  index: Schema.Number,
  /** The batch command label the item travelled under. */
  commandLabel: Schema.String,
  /** The portal's `error` as spelled (may be `""` or a number). */
  code: Schema.Union(Schema.String, Schema.Number),
  /** The portal's `error_description`. */
  description: Schema.String,
  /** HTTP status of the answer that carried the refusal (200 for a batch command). */
  status: Schema.Number,
  /** The item as the caller gave it. */
  item: Schema.Unknown,
  /** The command's error object or the raw error body, so nothing the server said is lost. */
  raw: Schema.optional(Schema.Unknown)
}) {}

/**
 * An item of a bulk call the portal did not run: a batch stopped by `halt` at an earlier failure, a command
 * absent from every map of the answer, or a request whose connection was refused.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ItemNotRun extends Schema.TaggedClass<ItemNotRun>("effect-bitrix24/ItemNotRun")("NotRun", {
  /** Position of the item in the caller's input (for `callBatch`: of the command in `cmd`). */
  index: Schema.Number,
  /** The batch command label the item travelled under. */
  commandLabel: Schema.String,
  /** Why it did not run, in words. */
  reason: Schema.String,
  /** The item as the caller gave it. */
  item: Schema.Unknown
}) {}

/**
 * An item of a bulk call whose outcome is unknown: its request was sent and no answer proves the portal did not
 * run it (see `UnknownOutcomeError`). A write may have happened: check it before sending it again.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ItemUnknown extends Schema.TaggedClass<ItemUnknown>("effect-bitrix24/ItemUnknown")("Unknown", {
  /** Position of the item in the caller's input (for `callBatch`: of the command in `cmd`). */
  index: Schema.Number,
  /** The batch command label the item travelled under. */
  commandLabel: Schema.String,
  /** The item as the caller gave it. */
  item: Schema.Unknown,
  /** The answer (or its absence) that left the outcome unknown. */
  cause: Schema.Union(HttpError, BitrixApiError, UnexpectedResultError)
}) {}

/**
 * What happened to one item of a bulk call: exactly one of succeeded, refused, not run, outcome unknown.
 *
 * @since 0.1.0
 * @category Errors
 */
export const ItemOutcome = Schema.Union(ItemSucceeded, ItemRefused, ItemNotRun, ItemUnknown)

/**
 * @since 0.1.0
 * @category Errors
 */
export type ItemOutcome = typeof ItemOutcome.Type

const outcomeCode = (outcome: ItemRefused | ItemNotRun | ItemUnknown): string | number =>
  outcome._tag === "Refused" ? outcome.code : outcome._tag === "NotRun" ? "NOT_RUN" : "UNKNOWN_OUTCOME"

const outcomeWords = (outcome: ItemRefused | ItemNotRun | ItemUnknown): string =>
  outcome._tag === "Refused"
    ? outcome.description
    : outcome._tag === "NotRun"
      ? `not run: ${outcome.reason}`
      : `outcome unknown: ${outcome.cause.message.slice(0, 300)}`

/**
 * A bulk call (`call(method, items)`, `getByID`, `callBatch`) in which not every item succeeded. It accounts
 * for every item: `outcomes` holds one entry per input item, in input order, each succeeded (with its result),
 * refused by the portal (its code and words), not run, or of unknown outcome. Bulk calls fail with this and
 * nothing else once requests were sent, so one `catchTag("BulkCallError")` sees every item; `callEither` gives
 * the same per item as `Either`s.
 *
 * @since 0.1.0
 * @category Errors
 */
export class BulkCallError extends Schema.TaggedError<BulkCallError>("effect-bitrix24/BulkCallError")("BulkCallError", {
  /** The method of the items (`batch` for `callBatch`). */
  method: Schema.String,
  /** One outcome per input item, in input order. */
  outcomes: Schema.Array(ItemOutcome)
}) {
  /** The items that succeeded. */
  get succeeded(): ReadonlyArray<ItemSucceeded> {
    return this.outcomes.filter((outcome): outcome is ItemSucceeded => outcome._tag === "Succeeded")
  }
  /** The items the portal refused, with its words. */
  get refused(): ReadonlyArray<ItemRefused> {
    return this.outcomes.filter((outcome): outcome is ItemRefused => outcome._tag === "Refused")
  }
  /** The items the portal did not run. */
  get notRun(): ReadonlyArray<ItemNotRun> {
    return this.outcomes.filter((outcome): outcome is ItemNotRun => outcome._tag === "NotRun")
  }
  /** The items whose outcome is unknown: check them before sending them again. */
  get unknown(): ReadonlyArray<ItemUnknown> {
    return this.outcomes.filter((outcome): outcome is ItemUnknown => outcome._tag === "Unknown")
  }
  /** The result of each item by input index; `undefined` for the items that did not succeed. */
  get partialResults(): ReadonlyArray<unknown> {
    return this.outcomes.map((outcome) => (outcome._tag === "Succeeded" ? outcome.result : undefined))
  }
  override get message(): string {
    const failed = this.outcomes.filter((outcome): outcome is ItemRefused | ItemNotRun | ItemUnknown => outcome._tag !== "Succeeded")
    const noun = this.method === "batch" ? "commands" : "items"
    const first = failed[0]
    if (first === undefined) return `${this.method}: all ${this.outcomes.length} ${noun} succeeded`
    const label = this.method === "batch" ? ` [${first.commandLabel}]` : ""
    const head = `${this.method}${label}: ${JSON.stringify(outcomeCode(first))} ${failed.length} of ${this.outcomes.length} ${noun} failed; first${label}: ${outcomeWords(first)}`
    const counts = `${this.refused.length} refused, ${this.notRun.length} not run, ${this.unknown.length} outcome unknown`
    const listed = failed
      .slice(0, 5)
      .map((outcome) => `#${outcome.index} ${JSON.stringify(outcomeCode(outcome))} ${outcomeWords(outcome).slice(0, 200)}`)
      .join("; ")
    const more = failed.length > 5 ? `; and ${failed.length - 5} more` : ""
    const unknown = this.unknown
    const advice =
      unknown.length === 0
        ? ""
        : `. Outcome unknown for indexes ${unknown
            .slice(0, 20)
            .map((outcome) => outcome.index)
            .join(", ")}${unknown.length > 20 ? ", …" : ""}: not retried, to avoid duplicate writes; check them before sending them again`
    return `${head} (${counts}); failed ${noun}: ${listed}${more}${advice}`
  }
}

/**
 * A limiter store failed: the shared store (Redis, the local file) could not be reached or answered something
 * unreadable, and kept failing for the limiter's `storeRetry`. The request that needed it was not sent.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RateLimiterStoreError extends Schema.TaggedError<RateLimiterStoreError>(
  "effect-bitrix24/RateLimiterStoreError"
)("RateLimiterStoreError", {
  /** Which store: `redis`, `file` or `memory`. */
  store: Schema.String,
  /** The operation that failed, e.g. `reserveBucketStart`. */
  operation: Schema.String,
  /** What went wrong, in words (never a password). */
  detail: Schema.String
}) {
  override get message(): string {
    return `The rate limiter's ${this.store} store failed (${this.operation}): ${this.detail}. No request was sent without it.`
  }
}

/**
 * What a retry schedule (`Bitrix.withRetry`, the `retry` option) sees: the failures of one exchange. Which of them
 * are retried is fixed by safety rules (a write whose outcome is unknown never is), not by the schedule.
 *
 * @since 0.1.0
 * @category Errors
 */
export type RetryableError = HttpError | BitrixApiError | UnexpectedResultError

/**
 * The failures of one call sent alone (`call(method, params)`, `callRaw`).
 *
 * @since 0.1.0
 * @category Errors
 */
export type CallError = HttpError | BitrixApiError | UnknownOutcomeError | RateLimiterStoreError | ValidationError

/**
 * The failure of one item of `callEither`: the portal's error for its command, a command it did not run, or the
 * failure of the whole request that carried it.
 *
 * @since 0.1.0
 * @category Errors
 */
export type ItemError =
  | BitrixApiError
  | NotRunError
  | HttpError
  | UnexpectedResultError
  | UnknownOutcomeError
  | RateLimiterStoreError

/**
 * Every failure the client's programs can produce.
 *
 * @since 0.1.0
 * @category Errors
 */
export type BitrixError =
  | HttpError
  | UnexpectedResultError
  | KeysetUnsupportedError
  | BitrixApiError
  | NotRunError
  | ValidationError
  | UnknownOutcomeError
  | BulkCallError
  | IncompleteListError
  | RateLimiterStoreError

/**
 * Schema of the union, for decoding errors that crossed a boundary.
 *
 * @since 0.1.0
 * @category Errors
 */
export const BitrixError = Schema.Union(
  HttpError,
  UnexpectedResultError,
  KeysetUnsupportedError,
  BitrixApiError,
  NotRunError,
  ValidationError,
  UnknownOutcomeError,
  BulkCallError,
  IncompleteListError,
  RateLimiterStoreError
)
