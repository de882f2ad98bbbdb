/**
 * What every list strategy shares: the params helpers (keys in any case, ID numbers), the errors a walk ends with,
 * and the page budget (`maxPages`).
 */
import * as Effect from "effect/Effect"
import type * as Bitrix from "../../Bitrix.js"
import { IncompleteListError, KeysetUnsupportedError, UnexpectedResultError } from "../../BitrixError.js"
import { excerptOf } from "../excerpt.js"
import { type ListMethodInfo, rowId } from "../methodRegistry.js"

/** The services a list export runs on. */
export type Services = Bitrix.Services

/** A row as the portal sent it: decoded only as far as its ID. */
export type Row = unknown

/** The params of a list method. */
export type Params = Readonly<Record<string, unknown>>

/** Rows in a page of every list method. */
export const pageSize = 50

/** Commands in a batch (`CRestUtil::BATCH_MAX_LENGTH`). */
export const commandsPerBatch = 50

/** The key of `record` spelled `name` in any case (the portal upper-cases most keys). */
export const findKey = (record: Params, name: string) => Object.keys(record).find((key) => key.toLowerCase() === name.toLowerCase())

/** The list params with a key removed whatever its case. */
export const without = (record: Params, name: string): Params => {
  const key = findKey(record, name)
  if (key === undefined) return record
  const { [key]: _removed, ...rest } = record
  return rest
}

/** An ID as a whole number, whether the portal sent it as a number or as digits. */
export const asIdNumber = (value: unknown): number | undefined => {
  const number = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN
  return Number.isInteger(number) ? number : undefined
}

/** A plain object of params. */
export const isParams = (value: unknown): value is Params => typeof value === "object" && value !== null && !Array.isArray(value)

/** The user's filter (any case of the key), or an empty one. */
export const userFilterOf = (params: Params): Params => {
  const filterKey = findKey(params, "filter")
  const filter = filterKey === undefined ? undefined : params[filterKey]
  return isParams(filter) ? filter : {}
}

/** The key rows are deduplicated by: the whole-number ID as digits, another ID as given, none without an ID. */
export const dedupeKey = (info: ListMethodInfo, row: Row): string | undefined => {
  const id = rowId(info, row)
  if (id === undefined) return undefined
  const number = asIdNumber(id)
  return number === undefined ? id : String(number)
}

/** The label of a list command in its batch: `k00`, `k01`, … (never digits only). */
export const label = (index: number) => `k${String(index).padStart(2, "0")}`

// ---------------------------------------------------------------------------------------------------------------
// The errors a walk ends with
// ---------------------------------------------------------------------------------------------------------------

/** A list method whose result is not a list of rows. */
export const notAList = (method: string, result: unknown, commandLabel?: string) =>
  new UnexpectedResultError({
    method,
    ...(commandLabel === undefined ? {} : { commandLabel }),
    excerpt: excerptOf(result),
    detail: "the result is not a list of rows"
  })

/** A keyset page that began at or before the cursor: the method does not know the filter's ID spelling. */
export const ignoredKeysetFilter = (method: string, info: ListMethodInfo, cursor: number, firstId: number) =>
  new KeysetUnsupportedError({
    method,
    reason: "FilterIgnored",
    detail: `the portal ignored the keyset filter >${info.filterIdKey}=${cursor}: the next page began at ${info.rowIdKey} ${firstId}`
  })

/** A page whose IDs do not rise strictly: the portal ignored the ID ordering. */
export const cursorNotAdvancing = (method: string, info: ListMethodInfo, previous: number, id: number) =>
  new KeysetUnsupportedError({
    method,
    reason: "OrderIgnored",
    detail: `the keyset cursor ${id === previous ? "repeated" : "ran backwards"}: ${info.rowIdKey} ${id} came after ${info.rowIdKey} ${previous} in ID order, so the walk would repeat or skip rows`
  })

/** A row above the walk's upper bound: the portal ignored `<=ID`. */
export const ignoredUpperBound = (method: string, info: ListMethodInfo, upper: number, id: number) =>
  new KeysetUnsupportedError({
    method,
    reason: "FilterIgnored",
    detail: `the portal ignored the filter <=${info.filterIdKey}=${upper}: a row with ${info.rowIdKey} ${id} came`
  })

/** A row without a whole-number ID, after which a keyset walk cannot go on. */
export const rowWithoutId = (method: string, info: ListMethodInfo, row: Row) =>
  new UnexpectedResultError({
    method,
    excerpt: excerptOf(row),
    detail: `a row has no whole-number ${info.rowIdKey}, so keyset paging cannot continue after it`
  })

/** The whole-number ID of a row, or the failure that it has none. */
export const rowIdNumber = (method: string, info: ListMethodInfo, row: Row) =>
  Effect.suspend(() => {
    const id = asIdNumber(rowId(info, row))
    return id === undefined ? Effect.fail(rowWithoutId(method, info, row)) : Effect.succeed(id)
  })

// ---------------------------------------------------------------------------------------------------------------
// The page budget (maxPages)
// ---------------------------------------------------------------------------------------------------------------

/**
 * The pages an export may still read (`maxPages`): one budget for the walks of an export, which run in parallel
 * under `ranges`; `rows` counts the rows read, for the error.
 */
export interface PageBudget {
  readonly maxPages: number | undefined
  /** What the budget is for, in the error: the export, or the ID pass that verifies it. */
  readonly what: string
  /** Pages of rows read so far (an empty page that ends a walk is not one). */
  pages: number
  rows: number
}

/** A fresh budget of `maxPages` pages (`undefined`: no ceiling). */
export const pageBudget = (maxPages: number | undefined, what = "the export"): PageBudget => ({ maxPages, what, pages: 0, rows: 0 })

/** The failure of an export that needs more pages than its budget. */
export const pageCeilingReached = (method: string, budget: PageBudget) =>
  new IncompleteListError({
    method,
    expected: budget.rows,
    received: budget.rows,
    detail: `${budget.what} needs more than maxPages (${budget.maxPages}) pages of ${pageSize} rows; it stopped after ${budget.rows} rows rather than end short`
  })
