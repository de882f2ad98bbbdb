/**
 * Schemas of the portal's response envelopes, and normalisation of the shapes PHP gives them.
 *
 * Every body that crosses the wire is decoded here; unknown shapes stay `unknown` until a caller decodes them.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The `time` block of a response or of one batch command (`result_time`).
 *
 * `operating` and `operating_reset_at` appear only where the portal's limiter is active (cloud), and older
 * portals omit `operating_reset_at`; error envelopes carry no `time` at all.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const TimeBlock = Schema.Struct({
  start: Schema.optional(Schema.Number),
  finish: Schema.optional(Schema.Number),
  duration: Schema.optional(Schema.Number),
  processing: Schema.optional(Schema.Number),
  date_start: Schema.optional(Schema.String),
  date_finish: Schema.optional(Schema.String),
  operating: Schema.optional(Schema.Number),
  operating_reset_at: Schema.optional(Schema.Number)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type TimeBlock = typeof TimeBlock.Type

/**
 * A successful single-call envelope: `result`, with `next` / `total` lifted to the top level by the server.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Success = Schema.Struct({
  result: Schema.Unknown,
  next: Schema.optional(Schema.Number),
  total: Schema.optional(Schema.Number),
  time: Schema.optional(TimeBlock)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type Success = typeof Success.Type

/**
 * An error envelope. `error` may be an empty string or a number (classic CRM sends `""`, `crm.type.list`
 * sent `100`); extra keys such as `argument` are kept by the caller in the raw body.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Failure = Schema.Struct({
  error: Schema.Union(Schema.String, Schema.Number),
  error_description: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type Failure = typeof Failure.Type

/**
 * A map that PHP may have turned into a JSON list: an empty map arrives as `[]`, and a map whose keys are
 * exactly 0..n-1 arrives as a list. Decodes to a record keyed by the command label in every case.
 */
const PhpMap = <A, I, R>(value: Schema.Schema<A, I, R>) =>
  Schema.Union(
    Schema.Record({ key: Schema.String, value }),
    Schema.transform(Schema.Array(value), Schema.Record({ key: Schema.String, value: Schema.typeSchema(value) }), {
      strict: true,
      // PHP turns keys 0..n-1 into a list: give the indexes back as labels
      decode: (list) => Object.fromEntries(list.map((entry, index) => [String(index), entry])),
      encode: (record) => Object.values(record)
    })
  )

/**
 * The `result` of a `batch` call: five maps keyed by command label.
 *
 * - A failed command is absent from `result` and `result_time` and present in `result_error`.
 * - `result_total` / `result_next` list only the commands that produced them.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const BatchResult = Schema.Struct({
  result: PhpMap(Schema.Unknown),
  result_error: PhpMap(Failure),
  result_total: PhpMap(Schema.Number),
  result_next: PhpMap(Schema.Number),
  result_time: PhpMap(TimeBlock)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type BatchResult = typeof BatchResult.Type
