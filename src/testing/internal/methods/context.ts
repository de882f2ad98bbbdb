/** What every method family's handlers share: the tables, the costs, the answers and the parameter helpers. */
import { asPhpArray, param, type Row } from "../entityModel.js"
import type { EntityTable } from "../entityTable.js"
import { printNative, type ListFamily, type ListRequest } from "../listQuery.js"
import type { CallContext, MethodOutcome } from "../types.js"
import type { FieldWriter } from "./rows.js"
import type { Tables } from "./tables.js"

/** A method's parameters, as a PHP array (keys as sent). */
export type Params = Readonly<Record<string, unknown>>

/** One method of the table: its params and the call's context to an outcome. */
export type Handler = (params: Params, ctx: CallContext) => MethodOutcome

/** The handlers of one method family, by lower-case method name. */
export type Handlers = Readonly<Record<string, Handler>>

/** The state and costs a method family's handlers work with (one per method table). */
export interface MethodContext {
  readonly seedNumber: number
  readonly tables: Tables
  /** Cost of a single read, of a write and of a delete (the base cost included). */
  readonly getCost: number
  readonly writeCost: number
  readonly deleteCost: number
  /** An error answer; a refusal costs the base cost. */
  readonly fail: (status: number, error: string | number, description: string, extra?: Readonly<Record<string, unknown>>) => MethodOutcome
  /** A list method's answer: a page of `table` as `family` prints it. */
  readonly list: (table: EntityTable, family: ListFamily, request: ListRequest) => MethodOutcome
  /** Counts a write actually performed by `method`. */
  readonly recordWrite: (method: string) => void
  /** Writes given fields into a row (rows.ts). */
  readonly applyFields: FieldWriter
}

/** A successful outcome with `result` and its server time. */
export const ok = (result: unknown, costMs: number): MethodOutcome => ({ _tag: "Ok", result, costMs })

/** The list parameters as sent (any case). */
export const listRequest = (p: Params): ListRequest => ({
  filter: param(p, "filter"),
  order: param(p, "order"),
  select: param(p, "select"),
  start: param(p, "start")
})

/** The `fields` parameter of add/update methods ({} when missing or not an array). */
export const fieldsParam = (p: Params): Readonly<Record<string, unknown>> => asPhpArray(param(p, "fields")) ?? {}

/** A row printed whole by a D7-style get/add/update (every field but those only returned when selected). */
export const printWhole = (table: EntityTable, family: ListFamily, row: Row): Record<string, unknown> =>
  printNative(table, family, row, table.def.fields.filter((f) => !f.explicitOnly), true)

/** The position of row `id` in `table`, -1 for none (or no ID). */
export const positionOfId = (table: EntityTable, id: number | undefined): number => id === undefined ? -1 : table.positionOf(id)
