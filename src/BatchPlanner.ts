/**
 * Items -> batches of at most 50 labelled commands; a caller's labelled batch -> checked and encoded; a batch
 * -> the `batch` call's params; a batch response -> one outcome per item, in input order. Pure functions, offered
 * as a service so the batch size can be configured per layer (and the planning swapped in a test).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type { ValidationError } from "./BitrixError.js"
import type * as Envelope from "./Envelope.js"
import * as Internal from "./internal/batch.js"
import { decodePlannerOptions } from "./internal/options.js"

/**
 * One command of a planned batch.
 *
 * @since 0.1.0
 * @category Models
 */
export interface PlannedCommand {
  /**
   * Label in `cmd`, unique within the batch (the default planner's: `c0000`… by position in the batch); never a
   * bare integer, so PHP cannot turn the maps into lists.
   */
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
 * A command of a caller-built batch (`callBatch`): `"method?query"` as the portal takes it (with
 * `$result[label][...]` references), or a method and params that the planner encodes.
 *
 * @since 0.1.0
 * @category Models
 */
export type LabelledCommand = string | { readonly method: string; readonly params?: unknown }

/**
 * A caller-built batch, planned: its commands (by the caller's labels, in the caller's order) and the `batch`
 * call's params.
 *
 * @since 0.1.0
 * @category Models
 */
export interface LabelledBatch {
  readonly batch: PlannedBatch
  readonly params: { readonly halt: 0 | 1; readonly cmd: Readonly<Record<string, string>> }
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
  /**
   * Splits the items (params of `method`, one per item) into batches of at most `batchSize` commands, or of at most
   * `perBatch` when that is smaller (a bulk call spreads a small job over the requests the bucket can start now).
   */
  readonly plan: (
    method: string,
    items: ReadonlyArray<unknown>,
    perBatch?: number
  ) => Either.Either<ReadonlyArray<PlannedBatch>, ValidationError>
  /**
   * Checks and encodes a caller-built batch (`callBatch`): labels and methods checked, at most `batchSize`
   * commands, params encoded; strings pass as they are.
   */
  readonly planLabelled: (
    cmd: Readonly<Record<string, LabelledCommand>>,
    halt: boolean
  ) => Effect.Effect<LabelledBatch, ValidationError>
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
export const maxBatchSize: number = Internal.maxBatchSize

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** Commands per batch, 1..50 (default 50). Smaller batches finish sooner when single commands are slow. */
  readonly batchSize?: number
}

/**
 * The planner with a fixed batch size (1..50; a `ValidationError` names `batchSize` otherwise).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, ValidationError> =>
  Effect.map(decodePlannerOptions(options), (decoded) => Internal.serviceOf(decoded.batchSize ?? Internal.maxBatchSize))

/**
 * Provides the planner; fails with a `ValidationError` for a batch size outside 1..50.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<BatchPlanner, ValidationError> =>
  Layer.effect(BatchPlanner, make(options))
