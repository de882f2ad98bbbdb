/**
 * What the `b24` command tells the user on stderr: one line per error, the summary at the end, log lines, and
 * the exit codes. Pure functions, so the wording is tested without running a command.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { BitrixError, ItemOutcome } from "../BitrixError.js"
import { formatDuration } from "../internal/progress.js"
import type { RateLimiterStoreError } from "../BitrixError.js"
import type { LimiterStats } from "../RateLimiter.js"

/**
 * Exit codes: 0 done; 1 the work failed (portal, network, file); 2 bad input, found before any request;
 * 3 `call --items` ran but some items failed (their lines in the output carry the portal's words);
 * 130 interrupted by Ctrl-C (the shell's convention, 128 + SIGINT).
 *
 * @since 0.1.0
 * @category Constants
 */
export const ExitCode = { ok: 0, failure: 1, usage: 2, itemsFailed: 3, interrupted: 130 } as const

/**
 * Some items of `call --items` failed; the output holds one line per item with the portal's words.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ItemsFailedError extends Schema.TaggedError<ItemsFailedError>("effect-bitrix24/cli/ItemsFailedError")(
  "ItemsFailedError",
  {
    method: Schema.String,
    /** What failed: `items` of `call --items`, `IDs` of `get-by-id`, `commands` of `batch`. */
    noun: Schema.Literal("items", "IDs", "commands"),
    failed: Schema.Number,
    total: Schema.Number,
    /** The first few failures, each named (`#1`, `ID 7`, `[label]`) with the portal's code and words. */
    failures: Schema.String
  }
) {
  override get message(): string {
    const where =
      this.noun === "items"
        ? "; each item's line in the output shows its result or error"
        : this.noun === "commands"
          ? "; the output holds every command's result or error"
          : "; the output holds the rows of the others"
    return `${this.method}: ${this.failed} of ${this.total} ${this.noun} failed: ${this.failures}${where}`
  }
}

/**
 * One item's failure as the CLI prints it: the portal's code and words, `NOT_RUN` with the reason, or
 * `UNKNOWN_OUTCOME` with what happened to the request.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const outcomeParts = (
  outcome: Exclude<ItemOutcome, { readonly _tag: "Succeeded" }>
): { readonly code: string | number; readonly description: string } =>
  outcome._tag === "Refused"
    ? { code: outcome.code, description: oneLine(outcome.description) }
    : outcome._tag === "NotRun"
      ? { code: "NOT_RUN", description: oneLine(outcome.reason) }
      : { code: "UNKNOWN_OUTCOME", description: oneLine(outcome.cause.message) }

/**
 * The first five of `failures`, each as `name CODE words`, and how many more there are.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const listFailures = (
  failures: ReadonlyArray<{ readonly name: string; readonly code: string | number; readonly description: string }>
): string =>
  failures
    .slice(0, 5)
    .map((failure) => `${failure.name} ${JSON.stringify(failure.code)} ${failure.description.slice(0, 200)}`)
    .join("; ") + (failures.length > 5 ? `; and ${failures.length - 5} more` : "")

/**
 * The output could not be written or an input file could not be read.
 *
 * @since 0.1.0
 * @category Errors
 */
export class FileError extends Schema.TaggedError<FileError>("effect-bitrix24/cli/FileError")("FileError", {
  path: Schema.String,
  action: Schema.Literal("read", "write"),
  detail: Schema.String
}) {
  override get message(): string {
    return `cannot ${this.action} ${this.path}: ${this.detail}`
  }
}

/**
 * Every failure a `b24` command ends with.
 *
 * @since 0.1.0
 * @category Errors
 */
export type CliError = BitrixError | ItemsFailedError | FileError | RateLimiterStoreError

/**
 * The exit code for a failure: 2 for bad input (nothing was sent), 3 for items that failed, 1 otherwise.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const exitCodeOf = (error: CliError): number =>
  error._tag === "ValidationError" ? ExitCode.usage : error._tag === "ItemsFailedError" ? ExitCode.itemsFailed : ExitCode.failure

const maxLineLength = 600

/** Whitespace runs (an HTML body's newlines) to one space, and a cap, so an error is always one line. */
export const oneLine = (text: string, max: number = maxLineLength): string => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`
}

/**
 * An error's code and words, for a failed item's output line: the portal's `error` and `error_description`
 * for portal errors, the failure kind and its message otherwise.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const errorParts = (error: CliError): { readonly code: string | number; readonly description: string } => {
  switch (error._tag) {
    case "BitrixApiError":
      return { code: error.code, description: error.description }
    case "HttpError":
      return { code: `HTTP_${error.reason.toUpperCase()}`, description: oneLine(error.message) }
    case "UnexpectedResultError":
      return { code: "UNEXPECTED_RESULT", description: oneLine(error.message) }
    case "KeysetUnsupportedError":
      return { code: "KEYSET_UNSUPPORTED", description: oneLine(error.message) }
    case "NotRunError":
      return { code: "NOT_RUN", description: oneLine(error.reason) }
    case "UnknownOutcomeError":
      return { code: "UNKNOWN_OUTCOME", description: oneLine(error.message) }
    case "BulkCallError":
      return { code: "BULK_CALL_FAILED", description: oneLine(error.message) }
    case "ValidationError":
      return { code: "VALIDATION", description: oneLine(error.message) }
    case "IncompleteListError":
      return { code: "INCOMPLETE_LIST", description: oneLine(error.message) }
    case "ItemsFailedError":
      return { code: "ITEMS_FAILED", description: oneLine(error.message) }
    case "FileError":
      return { code: "FILE", description: oneLine(error.message) }
    case "RateLimiterStoreError":
      return { code: "LIMITER_STORE", description: oneLine(error.message) }
  }
}

/**
 * The one line an error prints: `b24: error: crm.deal.list: "INVALID_CREDENTIALS" Invalid request credentials (HTTP 401)`.
 * The portal's code and words come from the error's own message; `redact` scrubs any secret left in it.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const errorLine = (error: CliError, redact: (text: string) => string = (text) => text): string =>
  `b24: error: ${oneLine(redact(error.message))}`

/**
 * The line for a failure that is not a typed error (a defect): it should not happen, so it says so.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const defectLine = (description: string, redact: (text: string) => string = (text) => text): string =>
  `b24: internal error: ${oneLine(redact(description))}`

/** Keys whose values are secrets wherever they appear in params. */
const secretKey = /^(auth|access_token|refresh_token|client_secret|password|token|secret)$/i

/**
 * A JSON value with secret keys' values and any secret text replaced by `***`, for `--verbose` output.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const redactValue = (value: unknown, redact: (text: string) => string): unknown => {
  if (typeof value === "string") return redact(value)
  if (Array.isArray(value)) return value.map((entry) => redactValue(entry, redact))
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, entry]) => [redact(key), secretKey.test(key) ? "***" : redactValue(entry, redact)])
    )
  }
  return value
}

/**
 * The request a command was making, for `--verbose` after an error: the masked endpoint, the method and the
 * params with secrets redacted.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const requestLine = (
  request: { readonly endpoint: string; readonly method: string; readonly params?: unknown },
  redact: (text: string) => string
): string => {
  const params = request.params === undefined ? "" : ` ${oneLine(JSON.stringify(redactValue(request.params, redact)) ?? "", 2000)}`
  return `b24: request: POST ${redact(request.endpoint)}${request.method}${params}`
}

/**
 * Extra lines `--verbose` prints after an error line: each failed item's input (redacted) and the portal's
 * raw error body.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const detailLines = (error: CliError, redact: (text: string) => string): ReadonlyArray<string> => {
  const lines: Array<string> = []
  if (error._tag === "BitrixApiError" && error.raw !== undefined) {
    lines.push(`b24: portal answer: ${oneLine(JSON.stringify(redactValue(error.raw, redact)) ?? "", 2000)}`)
  }
  if (error._tag === "UnexpectedResultError" && error.excerpt !== undefined) {
    lines.push(`b24: result: ${oneLine(redact(error.excerpt), 1000)}`)
  }
  if (error._tag === "HttpError" && error.bodyExcerpt !== undefined) {
    lines.push(`b24: body: ${oneLine(redact(error.bodyExcerpt), 1000)}`)
  }
  if (error._tag === "UnknownOutcomeError" && error.cause._tag === "HttpError" && error.cause.bodyExcerpt !== undefined) {
    lines.push(`b24: body: ${oneLine(redact(error.cause.bodyExcerpt), 1000)}`)
  }
  if (error._tag === "UnknownOutcomeError" && error.cause._tag === "UnexpectedResultError" && error.cause.excerpt !== undefined) {
    lines.push(`b24: result: ${oneLine(redact(error.cause.excerpt), 1000)}`)
  }
  if (error._tag === "UnknownOutcomeError" && error.cause._tag === "BitrixApiError" && error.cause.raw !== undefined) {
    lines.push(`b24: portal answer: ${oneLine(JSON.stringify(redactValue(error.cause.raw, redact)) ?? "", 2000)}`)
  }
  if (error._tag === "BulkCallError") {
    for (const outcome of error.outcomes) {
      if (outcome._tag === "Succeeded") continue
      const words =
        outcome._tag === "Refused"
          ? `${JSON.stringify(outcome.code)} ${oneLine(redact(outcome.description), 300)}`
          : outcome._tag === "NotRun"
            ? `not run: ${oneLine(redact(outcome.reason), 300)}`
            : `outcome unknown: ${oneLine(redact(outcome.cause.message), 300)}`
      lines.push(
        `b24: failed item #${outcome.index}${outcome.commandLabel === "" ? "" : ` [${outcome.commandLabel}]`}: ${words}; input ` +
          oneLine(JSON.stringify(redactValue(outcome.item, redact)) ?? "", 1000)
      )
    }
  }
  return lines
}

/**
 * `1.23s` under ten seconds, then `42s`, `3m05s`: wall time for the summary.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const formatWallTime = (ms: number): string => (ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : formatDuration(ms))

/**
 * What a summary reports.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Summary {
  readonly status: "done" | "failed" | "interrupted"
  /** Rows written (exports) or items / commands run. */
  readonly count: number
  /** What `count` counts, plural: `rows`, `items`, `commands`. */
  readonly noun: string
  readonly wallMs: number
  readonly stats: LimiterStats
  /** Retries by what the failed try met (`connection refused`: 8). */
  readonly retries?: ReadonlyMap<string, number>
}

/**
 * The summary line printed at the end (also after an error or Ctrl-C):
 * `b24: done: 5000 rows in 1.52s (3289/s); 4 requests; throttled waits: none`.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const summaryLine = (summary: Summary): string => {
  const { stats } = summary
  const rate = summary.wallMs > 0 ? ` (${Math.round((summary.count * 1000) / summary.wallMs)}/s)` : ""
  const waits = stats.bucketWaits + stats.operatingWaits
  const throttled =
    waits === 0
      ? "none"
      : `${waits} (${formatWallTime(stats.bucketWaitMs + stats.operatingWaitMs)}: bucket ${stats.bucketWaits}, ` +
        `operating budget ${stats.operatingWaits})`
  const refusals = [
    stats.throttled > 0 ? `${stats.throttled} refused with 503` : "",
    stats.methodBlocks > 0 ? `${stats.methodBlocks} method blocks (429)` : "",
    stats.serverErrors > 0 ? `${stats.serverErrors} server errors` : "",
    summary.retries === undefined || summary.retries.size === 0
      ? ""
      : `retried after ${[...summary.retries].map(([reason, times]) => `${reason} ×${times}`).join(", ")}`
  ].filter((part) => part !== "")
  return (
    `b24: ${summary.status}: ${summary.count} ${summary.noun} in ${formatWallTime(summary.wallMs)}${rate}; ` +
    `${stats.started} request${stats.started === 1 ? "" : "s"}; throttled waits: ${throttled}` +
    (refusals.length === 0 ? "" : `; ${refusals.join(", ")}`)
  )
}

/**
 * A log line for stderr: progress lines as they are, warnings and errors prefixed, debug lines with their
 * annotations (the limiter's wait times, the transport's status and duration).
 *
 * @since 0.1.0
 * @category Formatting
 */
export const logLine = (
  level: string,
  message: string,
  annotations: ReadonlyArray<readonly [string, unknown]> = []
): string => {
  switch (level) {
    case "INFO":
      return `b24: ${message}`
    case "WARN":
      return `b24: warning: ${message}`
    case "ERROR":
    case "FATAL":
      return `b24: error: ${message}`
    default: {
      const shown = annotations
        .filter(([key]) => key !== "progress")
        .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
      return `b24: ${level.toLowerCase()}: ${message}${shown.length === 0 ? "" : ` (${shown.join(" ")})`}`
    }
  }
}
