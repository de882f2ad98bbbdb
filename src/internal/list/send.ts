/**
 * Sending list requests: one plain page, or a batch of list commands under the shared policy for commands blocked by
 * `OPERATION_TIME_LIMIT`, and reading the rows out of the answers.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as BatchPlanner from "../../BatchPlanner.js"
import type * as Envelope from "../../Envelope.js"
import { NotRunError } from "../../BitrixError.js"
import type { ListError } from "../../ListStrategy.js"
import * as Blocked from "../blocked.js"
import * as Client from "../client.js"
import { rowsOf } from "../methodRegistry.js"
import { notAList, pageSize, type Params, type Row } from "./shared.js"

/** A page of a list: its rows, and the envelope's `total`, `next` and `time`. */
export interface Page {
  readonly rows: ReadonlyArray<Row>
  readonly total: number | undefined
  readonly next: number | undefined
  readonly time: Envelope.TimeBlock | undefined
}

/**
 * One plain page (no batch). `costSample: false`: the page's time is no sample of what the export's other pages cost
 * (`ExchangeOptions.costSample`): a page that pays a COUNT of the whole table (`start: 0`), or a page of IDs alone
 * where the export reads every field.
 */
export const page = (method: string, params: Params, options: { readonly costSample?: boolean } = {}) =>
  Client.exchange({
    method,
    params,
    limiterMethods: [method],
    kind: "read",
    itemIndexes: [0],
    ...(options.costSample === false ? { costSample: false } : {})
  }).pipe(
    Effect.flatMap((envelope) => {
      const rows = rowsOf(method, envelope.result)
      return rows === undefined
        ? Effect.fail(notAList(method, envelope.result))
        : Effect.succeed<Page>({ rows, total: envelope.total, next: envelope.next, time: envelope.time })
    })
  )

/**
 * Sends one batch of list commands; returns one outcome per command. The commands of a chained walk refer to each
 * other, so a batch with a command refused by an operating block is sent again whole (`Blocked.sendWhole`).
 * `costSample: false` as for `page`: a batch of pages of IDs alone where the export reads every field.
 */
export const listBatch = (
  method: string,
  commands: ReadonlyArray<BatchPlanner.PlannedCommand>,
  options: { readonly costSample?: boolean } = {}
) => Blocked.sendWhole(method, commands, options)

/** The failure of a list command that did not succeed: the portal's error, or a command it did not run. */
export const commandFailure = (method: string, outcome: BatchPlanner.CommandOutcome) =>
  outcome._tag === "Failure"
    ? Client.commandError(method, outcome.label, outcome.error, outcome.error)
    : new NotRunError({
        method,
        commandLabel: outcome.label,
        reason: "absent from every map of the batch's answer: the portal did not run it"
      })

/** A list command's answer as a page (as `page` gives one); a failed command, or one not run, is its failure. */
export const commandPage = (method: string, outcome: BatchPlanner.CommandOutcome): Either.Either<Page, ListError> => {
  if (outcome._tag !== "Success") return Either.left(commandFailure(method, outcome))
  const rows = rowsOf(method, outcome.result)
  return rows === undefined
    ? Either.left(notAList(method, outcome.result, outcome.label))
    : Either.right({ rows, total: outcome.total, next: outcome.next, time: outcome.time })
}

/**
 * The rows of a batch of list commands, in command order; a failed command fails the whole. With
 * `stopAtShortPage`, the rows end at the first page of fewer than 50 rows and `done` says whether one came;
 * `pages` counts the pages of rows kept (not an empty one).
 */
export const pagesOf = (method: string, outcomes: ReadonlyArray<BatchPlanner.CommandOutcome>, options: { readonly stopAtShortPage: boolean }) =>
  Effect.suspend((): Effect.Effect<{ readonly rows: Array<Row>; readonly done: boolean; readonly pages: number }, ListError> => {
    const rows: Array<Row> = []
    let pages = 0
    for (const outcome of outcomes) {
      const read = commandPage(method, outcome)
      if (Either.isLeft(read)) return Effect.fail(read.left)
      const pageRows = read.right.rows
      rows.push(...pageRows)
      if (pageRows.length > 0) pages++
      if (options.stopAtShortPage && pageRows.length < pageSize) return Effect.succeed({ rows, done: true, pages })
    }
    return Effect.succeed({ rows, done: false, pages })
  })
