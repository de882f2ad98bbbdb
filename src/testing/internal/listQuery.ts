/**
 * One list machinery for every list method of the fake portal. A `ListFamily` says how a method family
 * differs (wrapper key, spelling of names in filters and in rows, value style, paging, default order, error
 * texts); `runList` does filter → order → page → select → print and prices the call with the cost model.
 *
 * Paging follows the core ([CORE] `IRestService::getNavData`): 50 rows a page; `start >= 0` counts the
 * matches for `total` and gives `next` until the last page; legacy CDBResult families round `start` down to a
 * page boundary, D7 families use it as the offset; `start = -1` skips the count (`total: 0`, no `next`).
 */
import { formatDate, formatDateTime } from "./seed.js"
import type { CostNumbers } from "../Options.js"
import type { MethodOutcome } from "./types.js"
import type { EntityTable } from "./entityTable.js"
import { asPhpArray, phpInt, type FieldDef, type Row } from "./entityModel.js"
import {
  compareValues,
  compileFilter,
  filterKey,
  parseFilter,
  parseOrder,
  splitIdBounds,
  type Candidates,
  type FilterGroup,
  type OrderTerm
} from "./filter.js"

/** Rows per page of every list method (`IRestService::LIST_LIMIT`). */
export const pageSize = 50

/** How a family of list methods differs from the others. */
export interface ListFamily {
  /** Key the rows sit under (`items`, `tasks`, …), or `undefined` for a plain array. */
  readonly wrapper: string | undefined
  /** Spelling of field names in filter, order and select. */
  readonly input: "upper" | "camel"
  /** Select also accepts the other spelling. */
  readonly selectEitherCase: boolean
  /** Spelling of the keys of printed rows. */
  readonly output: "upper" | "camel"
  /** `strings`: numbers printed as strings (classic API); `native`: as JSON numbers (D7). */
  readonly values: "strings" | "native"
  /** How an empty date prints: classic CRM prints `""`. */
  readonly emptyDate: "" | null
  /** `legacy` rounds start down to a page; `d7` uses it as the offset; `all` returns every row with a total. */
  readonly paging: "legacy" | "d7" | "all"
  /** The order when the request gives none: ID ascending, or descending (tasks.task.list). */
  readonly defaultDescending: boolean
  /** Whose error texts the family uses. */
  readonly errors: "classic" | "d7" | "crmItem"
  /** Whether `*` also selects user fields (crm.item) or only standard ones (classic `*` vs `UF_*`). */
  readonly starIncludesUserFields: boolean
  /** Adds family-specific keys to a printed row (tasks' `subStatus` and `group`, crm.item's `entityTypeId`). */
  readonly decorate?: (row: Row, printed: Record<string, unknown>, selectedAll: boolean) => void
}

/** The list parameters, as found in the request under whatever spelling the method uses. */
export interface ListRequest {
  readonly filter: unknown
  readonly order: unknown
  readonly select: unknown
  readonly start: unknown
}

/** An error outcome. */
export const errorOutcome = (
  status: number,
  error: string | number,
  description: string,
  costMs: number,
  extra?: Readonly<Record<string, unknown>>
): MethodOutcome => ({ _tag: "Error", status, error, description, costMs, ...(extra !== undefined ? { extra } : {}) })

/** A field resolver for a family's spelling. */
export const resolverFor = (table: EntityTable, spelling: "upper" | "camel") => (name: string): FieldDef | undefined =>
  spelling === "upper" ? table.def.byUpper.get(name) : table.def.byCamel.get(name)

// ---------------------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------------------

/** A native value as the family prints it. */
export const printValue = (field: FieldDef, value: unknown, family: ListFamily): unknown => {
  if (field.kind === "date" || field.kind === "datetime") {
    if (typeof value === "number") return field.kind === "date" ? formatDate(value) : formatDateTime(value)
    return value === null || value === undefined ? family.emptyDate : value
  }
  if (value === undefined) return null
  // Classic methods print numbers as strings ("ID":"35943", "OPPORTUNITY":"3607999.00")
  if (family.values === "strings" && !field.native && typeof value === "number") {
    return field.kind === "decimal" ? value.toFixed(2) : String(value)
  }
  return value
}

/** One printed row: the selected fields in order, under the family's key spelling. */
export const printRow = (
  table: EntityTable,
  family: ListFamily,
  position: number,
  fields: ReadonlyArray<FieldDef>,
  selectedAll: boolean
): Record<string, unknown> => {
  // Narrow selects of ID and column fields print without generating the row (decorators need the whole row)
  const row = family.decorate === undefined && !selectedAll ? table.partialRow(position, fields) : undefined
  return printNative(table, family, row ?? table.rowAt(position), fields, selectedAll)
}

/** Prints a native row (also for rows that are not in a table, such as derived product rows). */
export const printNative = (
  table: EntityTable,
  family: ListFamily,
  row: Row,
  fields: ReadonlyArray<FieldDef>,
  selectedAll: boolean
): Record<string, unknown> => {
  const printed: Record<string, unknown> = {}
  for (const field of fields) {
    const value = row[field.upper]
    if (value === undefined && table.def.sparse) continue
    printed[family.output === "upper" ? field.upper : field.camel] = printValue(field, value, family)
  }
  family.decorate?.(row, printed, selectedAll)
  return printed
}

const isEmptyValue = (value: unknown): boolean =>
  value === null || value === undefined || value === "" || (Array.isArray(value) && value.length === 0)

/**
 * The fields a classic `*.get` returns: every standard field; multi-fields (PHONE, EMAIL) and user fields
 * only when they hold a value. The recorded crm.lead.get (call_single_success) has the 49 standard keys and
 * neither, on a portal whose leads have user fields (crm_lead_fields_success).
 */
export const fullFields = (table: EntityTable, row: Row): ReadonlyArray<FieldDef> =>
  table.def.fields.filter((f) =>
    f.isDynamic ? !isEmptyValue(row[f.upper]) : !f.explicitOnly || (f.type === "crm_multifield" && !isEmptyValue(row[f.upper]))
  )

// ---------------------------------------------------------------------------------------------------------
// Select
// ---------------------------------------------------------------------------------------------------------

/** The fields a `select` asks for, and whether the row cost is the narrow or the wide one. */
export interface Selection {
  readonly fields: ReadonlyArray<FieldDef>
  /** At most 5 named fields and no `*` / `UF_*`. */
  readonly narrow: boolean
  /** No select, or `*`: the row is printed whole. */
  readonly all: boolean
}

const selectNames = (raw: unknown): ReadonlyArray<string> => {
  if (raw === undefined || raw === null || raw === "") return []
  if (typeof raw === "string") return [raw]
  const record = asPhpArray(raw)
  return record === undefined ? [] : Object.values(record).filter((v): v is string => typeof v === "string" && v !== "")
}

/** Resolves a select list; unknown names are skipped (user.get documents it; the others behave the same). */
export const selectFields = (table: EntityTable, family: ListFamily, raw: unknown): Selection => {
  const names = selectNames(raw)
  const def = table.def
  const standard = def.fields.filter((f) => !f.explicitOnly && (family.starIncludesUserFields || !f.isDynamic))
  if (names.length === 0) return { fields: def.fields.filter((f) => !f.explicitOnly), narrow: false, all: true }
  const chosen: Array<FieldDef> = []
  const add = (f: FieldDef): void => {
    if (!chosen.includes(f)) chosen.push(f)
  }
  let wide = false
  let all = false
  const primary = resolverFor(table, family.input)
  const secondary = resolverFor(table, family.input === "upper" ? "camel" : "upper")
  for (const name of names) {
    if (name === "*") {
      wide = true
      all = true
      standard.forEach(add)
    } else if (name.toUpperCase() === "UF_*") {
      wide = true
      def.fields.filter((f) => f.isDynamic).forEach(add)
    } else {
      const f = primary(name) ?? (family.selectEitherCase ? secondary(name) : undefined)
      if (f !== undefined) add(f)
    }
  }
  // The ID always comes back, after the named fields (crm_stagehistory_list: OWNER_ID, STAGE_ID, CREATED_TIME, ID)
  add(def.idField)
  return { fields: chosen, narrow: !wide && names.length <= 5, all }
}

// ---------------------------------------------------------------------------------------------------------
// Running a list
// ---------------------------------------------------------------------------------------------------------

/** A parsed, validated list request. */
export interface ListPlan {
  readonly filter: FilterGroup
  readonly order: ReadonlyArray<OrderTerm>
  readonly selection: Selection
  readonly start: number
}

/** Validates and parses the list parameters; an `Error` outcome when the portal would refuse them. */
export const planList = (
  table: EntityTable,
  family: ListFamily,
  request: ListRequest,
  cost: CostNumbers
): ListPlan | MethodOutcome => {
  const base = cost.baseMs
  const filterRecord = request.filter === undefined || request.filter === null ? {} : asPhpArray(request.filter)
  if (filterRecord === undefined) {
    return family.errors === "classic"
      ? errorOutcome(400, "", "Parameter 'filter' must be array.", base)
      : errorOutcome(400, "ERROR_ARGUMENT", "The filter is not an array.", base, { argument: "filter" })
  }
  const resolve = resolverFor(table, family.input)
  const filter = parseFilter(filterRecord, resolve, family.errors === "crmItem" ? "error" : "ignore")
  if (filter._tag === "UnknownField") {
    return errorOutcome(400, "INVALID_ARG_VALUE", `Invalid filter: field '${filter.name}' is not allowed in filter`, base)
  }
  const orderRecord = request.order === undefined || request.order === null || request.order === "" ? {} : asPhpArray(request.order)
  if (orderRecord === undefined) {
    return family.errors === "classic"
      ? errorOutcome(400, "", "Parameter 'order' must be array.", base)
      : errorOutcome(400, "ERROR_ARGUMENT", "The order is not an array.", base, { argument: "order" })
  }
  const order = parseOrder(orderRecord, resolve, family.errors === "crmItem" ? "error" : "ignore")
  if (!Array.isArray(order)) {
    const problem = order as Exclude<typeof order, ReadonlyArray<OrderTerm>>
    if (family.errors === "crmItem") {
      return problem._tag === "UnknownField"
        ? errorOutcome(400, "INVALID_ARG_VALUE", `Invalid order: field '${problem.name}' is not allowed in order`, base)
        : errorOutcome(
          400,
          "INVALID_ARG_VALUE",
          `Invalid order: allowed sort directions are ASC, DESC. But got '${problem.direction}' for field '${problem.name}'`,
          base
        )
    }
    return errorOutcome(400, "ERROR_ARGUMENT", "Order direction should be one of {ASC|DESC}", base, { argument: "order" })
  }
  return { filter, order, selection: selectFields(table, family, request.select), start: phpInt(request.start ?? 0) }
}

/** Ascending positions of the candidates that pass `accept`. */
const collect = (candidates: Candidates, accept: (pos: number) => boolean): Int32Array => {
  if (candidates._tag === "List") return candidates.positions.filter(accept)
  const out = new Int32Array(candidates.to - candidates.from)
  let n = 0
  for (let pos = candidates.from; pos < candidates.to; pos++) if (accept(pos)) out[n++] = pos
  return out.slice(0, n)
}

/** Up to `limit` positions from the candidates in ID order (keyset pages: no count, no full scan). */
const firstMatches = (candidates: Candidates, accept: (pos: number) => boolean, descending: boolean, limit: number): Array<number> => {
  const out: Array<number> = []
  if (candidates._tag === "List") {
    const list = candidates.positions
    for (let i = 0; i < list.length && out.length < limit; i++) {
      const pos = list[descending ? list.length - 1 - i : i] as number
      if (accept(pos)) out.push(pos)
    }
    return out
  }
  if (descending) {
    for (let pos = candidates.to - 1; pos >= candidates.from && out.length < limit; pos--) if (accept(pos)) out.push(pos)
  } else {
    for (let pos = candidates.from; pos < candidates.to && out.length < limit; pos++) if (accept(pos)) out.push(pos)
  }
  return out
}

/** Sorts matches by the order terms, ID ascending breaking ties. */
const sortPositions = (table: EntityTable, positions: Int32Array, order: ReadonlyArray<OrderTerm>): Int32Array => {
  const keys = order.map((term) => {
    const column = table.columns.get(term.field.upper)
    const values: Array<unknown> = new Array(positions.length)
    for (let i = 0; i < positions.length; i++) {
      const pos = positions[i] as number
      values[i] = term.field.upper === table.def.idField.upper
        ? table.ids[pos]
        : column !== undefined
        ? column.dictionary[column.codes[pos] as number]
        : table.rowAt(pos)[term.field.upper]
    }
    return values
  })
  const indexes = Array.from(positions.keys())
  indexes.sort((a, b) => {
    for (let t = 0; t < order.length; t++) {
      const values = keys[t] as Array<unknown>
      const c = compareValues(values[a], values[b])
      if (c !== 0) return (order[t] as OrderTerm).descending ? -c : c
    }
    return (positions[a] as number) - (positions[b] as number)
  })
  return Int32Array.from(indexes, (i) => positions[i] as number)
}

/** Which rows a list call returns and what it reports. */
interface PageResult {
  readonly positions: ReadonlyArray<number>
  readonly total: number | undefined
  readonly next: number | undefined
  /** Rows skipped by the offset and whether the call ran the COUNT (for the cost). */
  readonly skipped: number
  readonly counted: boolean
}

/** Runs a planned list over a table and picks the page. */
export const pageOf = (table: EntityTable, family: ListFamily, plan: ListPlan): PageResult => {
  const idName = table.def.idField.upper
  const { candidates, rest } = splitIdBounds(table, plan.filter)
  const residual = rest.children.length > 0 ? compileFilter(table, rest) : undefined
  const deleted = table.deleted
  const accept = (pos: number): boolean => (deleted === undefined || deleted[pos] === 0) && (residual === undefined || residual(pos))
  const byIdOnly = plan.order.length === 0 || (plan.order.length === 1 && plan.order[0]?.field.upper === idName)
  const descending = plan.order.length === 0 ? family.defaultDescending : plan.order[0]?.descending === true
  const everything = family.paging === "all"
  const keyset = !everything && plan.start < 0
  const key = filterKey(plan.filter)
  const matchesAsc = (): Int32Array => table.cached(key, () => collect(candidates, accept))
  const ordered = (): Int32Array => {
    if (byIdOnly) return matchesAsc()
    const orderKey = plan.order.map((t) => `${t.field.upper}:${t.descending ? "D" : "A"}`).join(",")
    return table.cached(`${key}|${orderKey}`, () => sortPositions(table, matchesAsc(), plan.order))
  }
  if (keyset) {
    // start=-1: no COUNT, no offset; the first 50 rows in order ([D] huge-data.md)
    const positions = byIdOnly ? firstMatches(candidates, accept, descending, pageSize) : Array.from(ordered().subarray(0, pageSize))
    return { positions, total: 0, next: undefined, skipped: 0, counted: false }
  }
  const offset = everything ? 0 : family.paging === "legacy" ? Math.floor(plan.start / pageSize) * pageSize : plan.start
  const limit = everything ? Number.MAX_SAFE_INTEGER : pageSize
  let total: number
  let positions: Array<number>
  if (byIdOnly && candidates._tag === "Range" && residual === undefined && deleted === undefined) {
    // Unfiltered and nothing deleted: the matches are the candidate range itself, no scan needed
    total = candidates.to - candidates.from
    positions = []
    for (let i = offset; i < Math.min(total, offset + limit); i++) {
      positions.push(descending ? candidates.to - 1 - i : candidates.from + i)
    }
  } else {
    const matches = ordered()
    total = matches.length
    positions = []
    for (let i = offset; i < Math.min(total, offset + limit); i++) {
      positions.push(matches[byIdOnly && descending ? total - 1 - i : i] as number)
    }
  }
  const next = everything || offset + pageSize >= total ? undefined : offset + pageSize
  return { positions, total, next, skipped: offset, counted: true }
}

/** Simulated portal time of a list call (see `defaultCost`). */
export const listCost = (cost: CostNumbers, rows: number, narrow: boolean, skipped: number, counted: boolean, tableSize: number): number =>
  cost.baseMs + rows * (narrow ? cost.narrowRowMs : cost.wideRowMs) + (counted ? cost.offsetRowMs * skipped + cost.countRowMs * tableSize : 0)

/** A list call from parameters to outcome. */
export const runList = (table: EntityTable, family: ListFamily, request: ListRequest, cost: CostNumbers): MethodOutcome => {
  const plan = planList(table, family, request, cost)
  if ("_tag" in plan) return plan
  const page = pageOf(table, family, plan)
  const rows = page.positions.map((pos) => printRow(table, family, pos, plan.selection.fields, plan.selection.all))
  const costMs = listCost(cost, rows.length, plan.selection.narrow, page.skipped, page.counted, table.size)
  return {
    _tag: "Ok",
    result: family.wrapper === undefined ? rows : { [family.wrapper]: rows },
    ...(page.total !== undefined ? { total: page.total } : {}),
    ...(page.next !== undefined ? { next: page.next } : {}),
    costMs,
    rows: rows.length
  }
}
