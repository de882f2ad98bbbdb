/**
 * The batch planner's pure functions: items -> batches of at most 50 labelled commands, a caller-built batch checked
 * and encoded, a batch -> the `batch` call's params, a batch answer -> one outcome per command. `BatchPlanner` binds
 * them to a batch size as a service.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type {
  CommandOutcome,
  LabelledBatch,
  LabelledCommand,
  Options,
  PlannedBatch,
  PlannedCommand,
  Service
} from "../BatchPlanner.js"
import { ValidationError } from "../BitrixError.js"
import type * as Envelope from "../Envelope.js"
import * as Query from "../Query.js"
import { decodePlannerOptions } from "./options.js"
import * as Validate from "./validate.js"

/** The most commands the portal runs in one batch (`CRestUtil::BATCH_MAX_LENGTH`). */
export const maxBatchSize = 50

/** Checks a batch size: an integer in 1..50 (the planner's options decoder, so the words are the client's). */
export const checkBatchSize = (batchSize: number): Either.Either<number, ValidationError> =>
  Either.map(decodePlannerOptions({ batchSize }), () => batchSize)

/**
 * The planner's labels, one per position in a batch, made once: `c0000`, `c0001`, … `c0049`, zero-padded so they
 * sort in the batch's order. Never pure digits: PHP turns keys 0..n-1 into a list, and JavaScript moves
 * integer-like keys of `cmd` to the front, which would change the execution order. Every batch uses the same ones
 * (the item's place in the input is the command's `index`): a batch's `cmd`, and the maps of its answer, then
 * share one shape in V8, where labels numbering 100,000 items made 2,000 shapes of 50 keys each and held about
 * 50 MiB more at the peak of a `getByID` (bench/NOTES.md).
 */
const batchLabels: ReadonlyArray<string> = Array.from({ length: maxBatchSize }, (_, position) => `c${String(position).padStart(4, "0")}`)

const chunk = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const chunks: Array<ReadonlyArray<A>> = []
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size))
  return chunks
}

/**
 * The query text of each command `plan` made, encoded when it was planned: `toBatchParams` sends that text rather
 * than encode the params a second time (a command made elsewhere, by a planner of the caller's, is encoded there).
 */
const plannedQueries = new WeakMap<PlannedCommand, string>()

/**
 * Splits the items (the params of `method`, one per item) into batches of at most `batchSize` commands
 * (default 50), labelled `c0000`… by their position in their batch (`index` keeps the input position). No items,
 * no batches. Every item is encoded here, once (the batch's params reuse the text), so a `ValidationError` (path
 * `items[3].fields.TITLE`) comes before any request.
 */
export const plan = (
  method: string,
  items: ReadonlyArray<unknown>,
  options: Options = {}
): Either.Either<ReadonlyArray<PlannedBatch>, ValidationError> =>
  Either.gen(function* () {
    const batchSize = yield* checkBatchSize(options.batchSize ?? maxBatchSize)
    yield* Validate.methodName(method, "method", "batchCommand")
    const commands: Array<PlannedCommand> = []
    for (let index = 0; index < items.length; index++) {
      const params = items[index]
      const query = Query.encode(params, `items[${index}]`)
      if (Either.isLeft(query)) return yield* Either.left(query.left)
      const command: PlannedCommand = { label: batchLabels[index % batchSize]!, method, params, index }
      plannedQueries.set(command, query.right)
      commands.push(command)
    }
    return chunk(commands, batchSize).map((batchCommands): PlannedBatch => ({ commands: batchCommands }))
  })

/**
 * Plans a caller-built batch (`callBatch`): at most `batchSize` commands, each label checked
 * (`Validate.commandLabel`), each method checked as a batch command; a `"method?query"` string goes to the portal as
 * it is (so `$result[label][...]` references keep working), a method with params is encoded here. The commands stay
 * in one batch, in the caller's order; paths name the caller's terms: `cmd`, `cmd.<label>`, `cmd.<label>.params`.
 */
export const planLabelled = (
  cmd: Readonly<Record<string, LabelledCommand>>,
  halt: boolean,
  batchSize: number = maxBatchSize
): Effect.Effect<LabelledBatch, ValidationError> =>
  Effect.gen(function* () {
    const entries = Object.entries(cmd)
    yield* Validate.batchLength(entries.length, batchSize, "cmd")
    const encoded: Array<readonly [string, string]> = []
    const commands: Array<PlannedCommand> = []
    for (const [index, [label, command]] of entries.entries()) {
      yield* Validate.commandLabel(label, `cmd.${label}`)
      const method = yield* Validate.methodName(
        typeof command === "string" ? command.split("?", 1)[0]! : command.method,
        `cmd.${label}`,
        "batchCommand"
      )
      if (typeof command === "string") {
        encoded.push([label, command])
      } else {
        const params = yield* Validate.params(command.params, `cmd.${label}.params`)
        const query = yield* Query.encode(params, `cmd.${label}.params`)
        encoded.push([label, query === "" ? method : `${method}?${query}`])
      }
      commands.push({ label, method, params: command, index })
    }
    // fromEntries defines own properties, so no label can reach Object.prototype
    return { batch: { commands }, params: { halt: halt ? 1 : 0, cmd: Object.fromEntries(encoded) } }
  })

/**
 * The `batch` call's params: `halt` as `0`/`1` (the portal casts it with PHP `(bool)`, so a string "false"
 * would halt) and `cmd` mapping each label to `method?query` (just `method` when there are no params). An
 * encoding problem names the item: `items[3].fields.TITLE`.
 */
export const toBatchParams = (
  batch: PlannedBatch,
  halt: boolean
): Either.Either<{ readonly halt: 0 | 1; readonly cmd: Readonly<Record<string, string>> }, ValidationError> =>
  Either.gen(function* () {
    yield* Validate.batchLength(batch.commands.length, maxBatchSize, "batch")
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
      const query = plannedQueries.get(command) ?? (yield* Query.encode(command.params, `items[${command.index}]`))
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

/** The planner's functions bound to a batch size that is known to be good. */
export const serviceOf = (batchSize: number): Service => ({
  batchSize,
  plan: (method, items, perBatch) =>
    plan(method, items, {
      batchSize: perBatch === undefined ? batchSize : Math.max(1, Math.min(batchSize, Math.floor(perBatch)))
    }),
  planLabelled: (cmd, halt) => planLabelled(cmd, halt, batchSize),
  toBatchParams,
  unpack
})
