/**
 * Items -> batches of at most 50 labelled commands; a batch response -> one outcome per item, in input
 * order. Pure functions, offered as a service so the batch size can be configured per layer.
 * (Contract; the implementation lands in this file.)
 *
 * @since 0.1.0
 */
import { Context, type Either } from "effect"
import type { ValidationError } from "./BitrixError.js"
import type * as Envelope from "./Envelope.js"

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
