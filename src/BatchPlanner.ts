/**
 * Items -> batches of at most 50 labelled commands; a batch response -> one outcome per item, in input
 * order. Pure functions, offered as a service so the batch size can be configured per layer.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { ValidationError } from "./BitrixError.js"
import type * as Envelope from "./Envelope.js"
import * as Query from "./Query.js"

/**
 * One command of a planned batch.
 *
 * @since 0.1.0
 * @category Models
 */
export interface PlannedCommand {
  /** Label in `cmd`; never a bare integer, so PHP cannot turn the maps into lists. */
  readonly label: string
  readonly method: string
  readonly params: unknown
  /** Position of the item in the caller's input. */
  readonly index: number
}

/**
 * The commands sent together in one `batch` call.
 *
 * @since 0.1.0
 * @category Models
 */
export interface PlannedBatch {
  readonly commands: ReadonlyArray<PlannedCommand>
}

/**
 * What one command of a batch produced.
 *
 * @since 0.1.0
 * @category Models
 */
export type CommandOutcome =
  | {
      readonly _tag: "Success"
      readonly index: number
      readonly label: string
      readonly result: unknown
      readonly total?: number
      readonly next?: number
      readonly time?: Envelope.TimeBlock
    }
  | {
      readonly _tag: "Failure"
      readonly index: number
      readonly label: string
      readonly error: Envelope.Failure
    }
  /** Absent from every map: not run (after `halt`, or past the batch length). */
  | { readonly _tag: "Missing"; readonly index: number; readonly label: string }

/**
 * The planner as a service, with its batch size bound.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly batchSize: number
  /** Splits the items (params of `method`, one per item) into batches of at most `batchSize` commands. */
  readonly plan: (
    method: string,
    items: ReadonlyArray<unknown>
  ) => Either.Either<ReadonlyArray<PlannedBatch>, ValidationError>
  /** The `batch` call's params: `{ halt, cmd: { label: "method?query" } }`. */
  readonly toBatchParams: (
    batch: PlannedBatch,
    halt: boolean
  ) => Either.Either<{ readonly halt: 0 | 1; readonly cmd: Readonly<Record<string, string>> }, ValidationError>
  /** One outcome per command of the batch, in the batch's order. */
  readonly unpack: (batch: PlannedBatch, response: Envelope.BatchResult) => ReadonlyArray<CommandOutcome>
}

/**
 * @since 0.1.0
 * @category Context
 */
export class BatchPlanner extends Context.Tag("effect-bitrix24/BatchPlanner")<BatchPlanner, Service>() {}

/**
 * The most commands the portal runs in one batch (`CRestUtil::BATCH_MAX_LENGTH`); later ones only get
 * `ERROR_BATCH_LENGTH_EXCEEDED`.
 *
 * @since 0.1.0
 * @category Constants
 */
export const maxBatchSize = 50

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** Commands per batch, 1..50 (default 50). Smaller batches finish sooner when single commands are slow. */
  readonly batchSize?: number
}

/**
 * Checks a batch size: an integer in 1..50.
 *
 * @since 0.1.0
 * @category Validation
 */
export const checkBatchSize = (batchSize: number): Either.Either<number, ValidationError> =>
  Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= maxBatchSize
    ? Either.right(batchSize)
    : Either.left(
        new ValidationError({
          path: "batchSize",
          detail: `${batchSize} is not an integer from 1 to ${maxBatchSize}`,
          suggestion: `The portal runs at most ${maxBatchSize} commands per batch; leave batchSize out for ${maxBatchSize}.`
        })
      )

/**
 * Checks the method of a batch command: `parse_url` splits the command at `?` and `#`, and the portal refuses
 * a nested `batch` (ERROR_BATCH_METHOD_NOT_ALLOWED).
 */
const checkMethod = (method: string, path: string): Either.Either<string, ValidationError> => {
  if (method.trim() === "" || /[?#&=\s]/.test(method)) {
    return Either.left(
      new ValidationError({
        path,
        detail: `${JSON.stringify(method)} is not a method name`,
        suggestion: 'Pass the bare method, e.g. "crm.deal.list", and the params separately.'
      })
    )
  }
  if (method.toLowerCase() === "batch") {
    return Either.left(
      new ValidationError({
        path,
        detail: "a batch cannot contain another batch",
        suggestion: "Put the inner batch's commands into this one (at most 50)."
      })
    )
  }
  return Either.right(method)
}

/**
 * The planner's label for the item at `index`: `c0000`, `c0001`, …, zero-padded to `width` digits so labels
 * sort in input order. Never pure digits: PHP turns keys 0..n-1 into a list, and JavaScript moves
 * integer-like keys of `cmd` to the front, which would change the execution order.
 *
 * @since 0.1.0
 * @category Labels
 */
export const labelFor = (index: number, width: number = 4): string => `c${String(index).padStart(width, "0")}`

const labelWidth = (count: number): number => Math.max(4, String(Math.max(count - 1, 0)).length)

const chunk = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const chunks: Array<ReadonlyArray<A>> = []
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size))
  return chunks
}

/** Encodes every command's params once, so bad input fails before the first batch is sent. */
const checkEncodable = (
  commands: ReadonlyArray<{ readonly params: unknown; readonly path: string }>
): Either.Either<void, ValidationError> => {
  for (const command of commands) {
    const encoded = Query.encode(command.params, command.path)
    if (Either.isLeft(encoded)) return Either.left(encoded.left)
  }
  return Either.void
}

/**
 * Splits the items (the params of `method`, one per item) into batches of at most `batchSize` commands
 * (default 50), labelled `c0000`… by input position. No items, no batches. Every item is encoded once here,
 * so a `ValidationError` (path `items[3].fields.TITLE`) comes before any request.
 *
 * @since 0.1.0
 * @category Planning
 */
export const plan = (
  method: string,
  items: ReadonlyArray<unknown>,
  options: Options = {}
): Either.Either<ReadonlyArray<PlannedBatch>, ValidationError> =>
  Either.gen(function* () {
    const batchSize = yield* checkBatchSize(options.batchSize ?? maxBatchSize)
    yield* checkMethod(method, "method")
    yield* checkEncodable(items.map((params, index) => ({ params, path: `items[${index}]` })))
    const width = labelWidth(items.length)
    const commands = items.map((params, index): PlannedCommand => ({ label: labelFor(index, width), method, params, index }))
    return chunk(commands, batchSize).map((batchCommands): PlannedBatch => ({ commands: batchCommands }))
  })

/**
 * A command of a caller-built batch (`callBatch`): its own label, or one given by position.
 *
 * @since 0.1.0
 * @category Models
 */
export interface UserCommand {
  readonly label?: string
  readonly method: string
  readonly params?: unknown
}

/**
 * Why a caller's label cannot be used, if it cannot: labels travel as `cmd` keys and inside `$result[label]`
 * references.
 */
const labelProblem = (label: string): string | undefined => {
  if (label === "") return "a label is empty"
  // the portal's reference regex stops at whitespace and walks `[key]` segments; form encoding nests on brackets
  if (/[\s[\]]/.test(label)) return `${JSON.stringify(label)} contains a space or a bracket`
  // PHP turns keys 0..n-1 into a list, and JavaScript puts integer-like keys first in `cmd`, reordering execution
  if (/^\d+$/.test(label)) return `${JSON.stringify(label)} is all digits`
  if (label === "__proto__") return `${JSON.stringify(label)} is reserved`
  return undefined
}

/**
 * Plans one caller-built batch (`callBatch`): labels checked (non-empty, unique, no spaces or brackets, not all
 * digits), missing labels filled in by position (`c0000`…), at most 50 commands, every params encodable. The
 * commands stay in one batch so `$result[label]` references between them keep working. No commands, an empty
 * batch: there is nothing to send.
 *
 * @since 0.1.0
 * @category Planning
 */
export const planCommands = (commands: ReadonlyArray<UserCommand>): Either.Either<PlannedBatch, ValidationError> =>
  Either.gen(function* () {
    if (commands.length > maxBatchSize) {
      return yield* Either.left(
        new ValidationError({
          path: "commands",
          detail: `${commands.length} commands; the portal runs at most ${maxBatchSize} in one batch`,
          suggestion: "Split the batch (references cannot cross batches), or use call(method, items), which batches for you."
        })
      )
    }
    const width = labelWidth(commands.length)
    const seen = new Set<string>()
    const planned: Array<PlannedCommand> = []
    for (const [index, command] of commands.entries()) {
      const label = command.label ?? labelFor(index, width)
      const problem = labelProblem(label)
      if (problem !== undefined || seen.has(label)) {
        return yield* Either.left(
          new ValidationError({
            path: `commands[${index}].label`,
            detail: problem ?? `the label ${JSON.stringify(label)} is used twice`,
            suggestion: "Use unique names made of letters, digits and _ that start with a letter, e.g. deal_1."
          })
        )
      }
      seen.add(label)
      yield* checkMethod(command.method, `commands[${index}].method`)
      yield* checkEncodable([{ params: command.params, path: `commands[${index}].params` }])
      planned.push({ label, method: command.method, params: command.params, index })
    }
    return { commands: planned }
  })

/**
 * The distinct methods of a batch in first-use order, for the limiter's per-method operating budgets.
 *
 * @since 0.1.0
 * @category Planning
 */
export const methodsOf = (batch: PlannedBatch): ReadonlyArray<string> => [
  ...new Set(batch.commands.map((command) => command.method))
]

/**
 * The `batch` call's params: `halt` as `0`/`1` (the portal casts it with PHP `(bool)`, so a string "false"
 * would halt) and `cmd` mapping each label to `method?query` (just `method` when there are no params). An
 * encoding problem names the item: `items[3].fields.TITLE`.
 *
 * @since 0.1.0
 * @category Encoding
 */
export const toBatchParams = (
  batch: PlannedBatch,
  halt: boolean
): Either.Either<{ readonly halt: 0 | 1; readonly cmd: Readonly<Record<string, string>> }, ValidationError> =>
  Either.gen(function* () {
    if (batch.commands.length > maxBatchSize) {
      return yield* Either.left(
        new ValidationError({
          path: "batch",
          detail: `${batch.commands.length} commands; the portal runs at most ${maxBatchSize} in one batch`,
          suggestion: "Plan the commands with plan(), which splits them."
        })
      )
    }
    const entries: Array<readonly [string, string]> = []
    const seen = new Set<string>()
    for (const command of batch.commands) {
      if (seen.has(command.label)) {
        return yield* Either.left(
          new ValidationError({
            path: `items[${command.index}]`,
            detail: `the label ${JSON.stringify(command.label)} is used twice in one batch`,
            suggestion: "Give every command its own label."
          })
        )
      }
      seen.add(command.label)
      const query = yield* Query.encode(command.params, `items[${command.index}]`)
      entries.push([command.label, query === "" ? command.method : `${command.method}?${query}`])
    }
    // fromEntries defines own properties, so no label can reach Object.prototype
    return { halt: halt ? 1 : 0, cmd: Object.fromEntries(entries) }
  })

const has = (record: Readonly<Record<string, unknown>>, label: string): boolean =>
  Object.prototype.hasOwnProperty.call(record, label)

/**
 * One outcome per command of the batch, in the batch's order:
 * - in `result_error`: `Failure` with the portal's error object (a failed command is absent from `result`);
 * - in `result` (or only in `result_time`, a command that ran and returned nothing): `Success` with its
 *   `result_total` / `result_next` / `result_time` entries, which the portal lists only where they exist;
 * - in no map: `Missing`, the command did not run (after `halt`, or past the batch length).
 *
 * The maps must have been decoded with `Envelope.BatchResult`, which gives PHP's lists (keys 0..n-1) and
 * empty `[]` maps back as records keyed by label.
 *
 * @since 0.1.0
 * @category Unpacking
 */
export const unpack = (batch: PlannedBatch, response: Envelope.BatchResult): ReadonlyArray<CommandOutcome> =>
  batch.commands.map(({ index, label }): CommandOutcome => {
    if (has(response.result_error, label)) return { _tag: "Failure", index, label, error: response.result_error[label]! }
    if (!has(response.result, label) && !has(response.result_time, label)) return { _tag: "Missing", index, label }
    return {
      _tag: "Success",
      index,
      label,
      result: response.result[label],
      ...(has(response.result_total, label) ? { total: response.result_total[label]! } : {}),
      ...(has(response.result_next, label) ? { next: response.result_next[label]! } : {}),
      ...(has(response.result_time, label) ? { time: response.result_time[label]! } : {})
    }
  })

/**
 * The planner with a fixed batch size.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, ValidationError> =>
  Effect.map(checkBatchSize(options.batchSize ?? maxBatchSize), (batchSize) => unsafeMake(batchSize))

const unsafeMake = (batchSize: number): Service => ({
  batchSize,
  plan: (method, items) => plan(method, items, { batchSize }),
  toBatchParams,
  unpack
})

/**
 * The planner with the portal's maximum of 50 commands per batch.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const defaultService: Service = unsafeMake(maxBatchSize)

/**
 * Provides the planner; fails with a `ValidationError` for a batch size outside 1..50.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<BatchPlanner, ValidationError> =>
  Layer.effect(BatchPlanner, make(options))
