/**
 * The typed failures of effect-bitrix24.
 *
 * Branch on `_tag`, and for portal errors on `code` (the portal's own `error` string): the portal is
 * inconsistent about HTTP statuses, so the status is kept for information only.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A transport failure, a timeout, an unexpected status or a body that is not the portal's JSON
 * (an HTML 502 page from a proxy, a 414 from the front web server).
 *
 * @since 0.1.0
 * @category Errors
 */
export class HttpError extends Schema.TaggedError<HttpError>("effect-bitrix24/HttpError")("HttpError", {
  /** What went wrong, in short: `Transport`, `Timeout`, `Status`, `Decode`. */
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
 * One failed item of a bulk call or batch: which command, which input item, and the portal's words.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ItemFailure extends Schema.Class<ItemFailure>("effect-bitrix24/ItemFailure")({
  /** Position of the item in the caller's input. */
  index: Schema.Number,
  /** The batch command label the item travelled under. */
  commandLabel: Schema.String,
  /** The portal's `error` as spelled (may be `""` or a number). */
  code: Schema.Union(Schema.String, Schema.Number),
  /** The portal's `error_description`. */
  description: Schema.String,
  /** The item as the caller gave it. */
  item: Schema.Unknown
}) {}

/**
 * An error reported by the portal: the `error` / `error_description` pair, at the top level of a response
 * or for one command of a batch.
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
    /** For a bulk call: the failed items (index, label, words, input). */
    failures: Schema.optional(Schema.Array(ItemFailure)),
    /** For a bulk call that partly failed: the results of the items that succeeded, by input index. */
    partialResults: Schema.optional(Schema.Array(Schema.Unknown)),
    /** The raw error body (or the command's error object), so nothing the server said is lost. */
    raw: Schema.optional(Schema.Unknown)
  }
) {
  override get message(): string {
    const label = this.commandLabel === undefined ? "" : ` [${this.commandLabel}]`
    const head = `${this.method}${label}: ${JSON.stringify(this.code)} ${this.description} (HTTP ${this.status})`
    if (this.failures === undefined || this.failures.length === 0) return head
    const listed = this.failures
      .slice(0, 5)
      .map((f) => `#${f.index} ${JSON.stringify(f.code)} ${f.description}`)
      .join("; ")
    const more = this.failures.length > 5 ? `; and ${this.failures.length - 5} more` : ""
    return `${head}; failed items: ${listed}${more}`
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
 * A write whose outcome is unknown (timeout or dropped connection after it was sent): it is never silently
 * repeated. Names the items concerned so the caller can check them.
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
  /** The transport failure that made the outcome unknown. */
  cause: HttpError,
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
 * A list export returned fewer rows than the portal announced in `total`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class IncompleteListError extends Schema.TaggedError<IncompleteListError>(
  "effect-bitrix24/IncompleteListError"
)("IncompleteListError", {
  method: Schema.String,
  expected: Schema.Number,
  received: Schema.Number
}) {
  override get message(): string {
    return `${this.method}: the portal announced ${this.expected} rows but ${this.received} arrived`
  }
}

/**
 * Every failure the client's programs can produce.
 *
 * @since 0.1.0
 * @category Errors
 */
export type BitrixError = HttpError | BitrixApiError | ValidationError | UnknownOutcomeError | IncompleteListError

/**
 * Schema of the union, for decoding errors that crossed a boundary.
 *
 * @since 0.1.0
 * @category Errors
 */
export const BitrixError = Schema.Union(HttpError, BitrixApiError, ValidationError, UnknownOutcomeError, IncompleteListError)
