/**
 * Bitrix list filters and orders: parsing the `filter` parameter (key prefixes `=`, `!`, `!=`, `>`, `>=`,
 * `<`, `<=`, `@`, `!@`, `%`, `=%`, `%=`, `!%`, `!=%`, `!%=`, `><`, nested groups with `logic: "OR"`),
 * compiling it to a predicate over table positions (using typed-array columns where a field has one), and
 * pulling out the ID bounds so keyset pages start with a binary search instead of a scan.
 */
import type { EntityTable } from "./entityTable.js"
import { asPhpArray, isRecord, toBoolean, toNumber, toTime, type FieldDef, type FieldKind } from "./entityModel.js"

/** The comparison of a filter condition. */
export type FilterOp = "eq" | "gt" | "gte" | "lt" | "lte" | "in" | "substr" | "like" | "between"

/** One `prefix + field: value` entry. */
export interface Condition {
  readonly _tag: "Condition"
  readonly field: FieldDef
  readonly op: FilterOp
  readonly negate: boolean
  readonly value: unknown
}

/** Conditions combined with AND or OR. */
export interface FilterGroup {
  readonly _tag: "Group"
  readonly logic: "AND" | "OR"
  readonly children: ReadonlyArray<FilterNode>
}

/** A node of a parsed filter. */
export type FilterNode = Condition | FilterGroup

/** Prefixes, longest first so `!=%` wins over `!=` and `!`. */
const prefixes: ReadonlyArray<readonly [string, FilterOp, boolean]> = [
  ["!=%", "like", true],
  ["!%=", "like", true],
  ["!><", "between", true],
  ["!@", "in", true],
  ["!%", "substr", true],
  ["!=", "eq", true],
  [">=", "gte", false],
  ["<=", "lte", false],
  ["><", "between", false],
  ["=%", "like", false],
  ["%=", "like", false],
  ["!", "eq", true],
  [">", "gt", false],
  ["<", "lt", false],
  ["@", "in", false],
  ["%", "substr", false],
  ["=", "eq", false]
]

/** Splits a filter key into its operation and field name. */
export const splitFilterKey = (key: string): { readonly op: FilterOp; readonly negate: boolean; readonly name: string } => {
  for (const [prefix, op, negate] of prefixes) {
    if (key.startsWith(prefix) && key.length > prefix.length) return { op, negate, name: key.slice(prefix.length) }
  }
  return { op: "eq", negate: false, name: key }
}

/** Why a filter could not be parsed. */
export type FilterProblem = { readonly _tag: "UnknownField"; readonly name: string }

/**
 * Parses a filter record. `resolve` maps a field name in the method's spelling to its definition; unknown
 * names are skipped (classic methods ignore them) or reported (crm.item rejects them).
 */
export const parseFilter = (
  raw: Readonly<Record<string, unknown>>,
  resolve: (name: string) => FieldDef | undefined,
  onUnknown: "ignore" | "error"
): FilterGroup | FilterProblem => {
  const children: Array<FilterNode> = []
  let logic: "AND" | "OR" = "AND"
  for (const [key, value] of Object.entries(raw)) {
    if (key.toUpperCase() === "LOGIC") {
      if (typeof value === "string" && value.toUpperCase() === "OR") logic = "OR"
      continue
    }
    // A numeric key holding a map is a nested group (crm.item: `{"0": {"logic": "OR", …}}`)
    if (/^\d+$/.test(key)) {
      const nested = asPhpArray(value)
      if (nested === undefined) continue
      const group = parseFilter(nested, resolve, onUnknown)
      if (group._tag !== "Group") return group
      children.push(group)
      continue
    }
    const { op, negate, name } = splitFilterKey(key)
    const field = resolve(name)
    if (field === undefined) {
      if (onUnknown === "error") return { _tag: "UnknownField", name }
      continue
    }
    const normalized = Array.isArray(value) || isRecord(value) ? Object.values(asPhpArray(value) ?? {}) : value
    // A list value without `@` still means IN (PHP arrays in `=FIELD` become IN (…))
    const listOp: FilterOp = Array.isArray(normalized) && op === "eq" ? "in" : op
    children.push({ _tag: "Condition", field, op: listOp, negate, value: normalized })
  }
  return { _tag: "Group", logic, children }
}

/** A stable text of a parsed filter, for cache keys. */
export const filterKey = (node: FilterNode): string =>
  node._tag === "Condition"
    ? JSON.stringify([node.field.upper, node.op, node.negate, node.value])
    : `${node.logic}(${node.children.map(filterKey).join(",")})`

// ---------------------------------------------------------------------------------------------------------
// Value matching
// ---------------------------------------------------------------------------------------------------------

const likeRegex = (pattern: string): RegExp => {
  const escaped = pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/%/g, ".*").replace(/_/g, ".")
  return new RegExp(`^${escaped}$`, "is")
}

const isEmptyFilterValue = (value: unknown): boolean => value === "" || value === null || value === undefined || value === false

type Comparable = number | string | boolean

const isNumeric = (kind: FieldKind): boolean => kind === "number" || kind === "decimal"
const isTemporal = (kind: FieldKind): boolean => kind === "date" || kind === "datetime"

/** A filter value (a string from a query, or a JSON value) in the comparable form of a field kind. */
const filterValueOf = (kind: FieldKind, value: unknown): Comparable | undefined => {
  if (isNumeric(kind)) return toNumber(value)
  if (isTemporal(kind)) return toTime(value)
  if (kind === "boolean") return toBoolean(value)
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined
}

/** A stored native value in the comparable form of a field kind. */
const storedValueOf = (kind: FieldKind, value: unknown): Comparable | undefined => {
  if (kind === "boolean") return value === true || value === "Y" || value === 1
  if (typeof value !== "number" && typeof value !== "string") return undefined
  // Dates are stored to the second, as the portal prints them
  if (isTemporal(kind)) return typeof value === "number" ? Math.floor(value / 1000) * 1000 : toTime(value)
  if (isNumeric(kind)) return typeof value === "number" ? value : toNumber(value)
  return String(value)
}

const isEmptyStored = (value: unknown): boolean => value === null || value === undefined || value === ""

/** A test of one native value against one condition (without its negation). */
const valueMatcher = (condition: Condition): ((value: unknown) => boolean) => {
  const { op, value } = condition
  const kind = condition.field.kind
  const compare = (cmp: (stored: Comparable, wanted: Comparable) => boolean): ((value: unknown) => boolean) => {
    if (Array.isArray(value) && isNumeric(kind)) {
      // CSQLWhere ORs the elements of a list given to a comparison, casting each with intval: a nested array
      // (e.g. a whole result substituted for an unresolved `$result[c0][49][ID]`) becomes 1, or 0 when empty
      const matchers = value.map((element) =>
        compareScalar(cmp, Array.isArray(element) || isRecord(element) ? (Object.keys(element).length > 0 ? 1 : 0) : element)
      )
      return (v) => matchers.some((matches) => matches(v))
    }
    return compareScalar(cmp, value)
  }
  const compareScalar = (cmp: (stored: Comparable, wanted: Comparable) => boolean, value: unknown) => {
    const wanted = filterValueOf(kind, value)
    return (v: unknown): boolean => {
      const stored = storedValueOf(kind, v)
      return wanted !== undefined && stored !== undefined && cmp(stored, wanted)
    }
  }
  switch (op) {
    case "eq": {
      // `FIELD: ""` asks for empty values
      if (isEmptyFilterValue(value) && kind !== "boolean") return isEmptyStored
      return compare((a, b) => a === b)
    }
    case "in": {
      const list = Array.isArray(value) ? value : [value]
      const wanted = new Set(list.map((item) => filterValueOf(kind, item)).filter((item) => item !== undefined))
      const wantsEmpty = list.some(isEmptyFilterValue)
      return (v) => {
        const stored = storedValueOf(kind, v)
        return (wantsEmpty && isEmptyStored(v)) || (stored !== undefined && wanted.has(stored))
      }
    }
    case "gt":
      return compare((a, b) => a > b)
    case "gte":
      return compare((a, b) => a >= b)
    case "lt":
      return compare((a, b) => a < b)
    case "lte":
      return compare((a, b) => a <= b)
    case "between": {
      const [low, high] = Array.isArray(value) ? value.map((item) => filterValueOf(kind, item)) : []
      return (v) => {
        const stored = storedValueOf(kind, v)
        return stored !== undefined && low !== undefined && high !== undefined && stored >= low && stored <= high
      }
    }
    case "substr": {
      const needles = (Array.isArray(value) ? value : [value]).map((n) => String(n ?? "").toLowerCase())
      return (v) => typeof v === "string" || typeof v === "number" ? needles.some((n) => String(v).toLowerCase().includes(n)) : false
    }
    case "like": {
      const patterns = (Array.isArray(value) ? value : [value]).map((n) => likeRegex(String(n ?? "")))
      return (v) => typeof v === "string" || typeof v === "number" ? patterns.some((p) => p.test(String(v))) : false
    }
  }
}

/** A test of a row value (lists match when any element does) against a condition, negation included. */
export const conditionMatcher = (condition: Condition): ((value: unknown) => boolean) => {
  const matchOne = valueMatcher(condition)
  const match = (v: unknown): boolean => (Array.isArray(v) ? v.some(matchOne) || (v.length === 0 && matchOne(null)) : matchOne(v))
  return condition.negate ? (v) => !match(v) : match
}

// ---------------------------------------------------------------------------------------------------------
// Compilation against a table
// ---------------------------------------------------------------------------------------------------------

/** A test of the row at a position. */
export type PositionPredicate = (position: number) => boolean

const always: PositionPredicate = () => true

/** Compiles a parsed filter to a position predicate, reading IDs and columns without generating rows. */
export const compileFilter = (table: EntityTable, node: FilterNode): PositionPredicate => {
  if (node._tag === "Group") {
    const parts = node.children.map((child) => compileFilter(table, child))
    if (parts.length === 0) return always
    if (parts.length === 1) return parts[0] as PositionPredicate
    return node.logic === "OR"
      ? (pos) => parts.some((part) => part(pos))
      : (pos) => {
        for (const part of parts) if (!part(pos)) return false
        return true
      }
  }
  const matcher = conditionMatcher(node)
  if (node.field.upper === table.def.idField.upper) return (pos) => matcher(table.ids[pos])
  const column = table.columns.get(node.field.upper)
  if (column !== undefined) {
    // Evaluate the condition once per distinct value, then test each row by its code
    const accepted = new Uint8Array(column.dictionary.length)
    column.dictionary.forEach((value, code) => {
      accepted[code] = matcher(value) ? 1 : 0
    })
    return (pos) => accepted[column.codes[pos] as number] === 1
  }
  const upper = node.field.upper
  return (pos) => matcher(table.rowAt(pos)[upper])
}

/** Positions the ID conditions allow: a contiguous range, or an explicit ascending list (`@ID`). */
export type Candidates =
  | { readonly _tag: "Range"; readonly from: number; readonly to: number }
  | { readonly _tag: "List"; readonly positions: Int32Array }

/**
 * Folds the top-level AND conditions on the ID (`>ID`, `>=ID`, `<ID`, `<=ID`, `=ID`, `@ID`) into candidate
 * positions by binary search, and returns the filter without them.
 */
export const splitIdBounds = (table: EntityTable, filter: FilterGroup): { readonly candidates: Candidates; readonly rest: FilterGroup } => {
  if (filter.logic !== "AND") return { candidates: { _tag: "Range", from: 0, to: table.length }, rest: filter }
  let low = -Infinity
  let high = Infinity
  let list: Array<number> | undefined
  const rest: Array<FilterNode> = []
  const idName = table.def.idField.upper
  for (const child of filter.children) {
    if (child._tag !== "Condition" || child.field.upper !== idName || child.negate) {
      rest.push(child)
      continue
    }
    if (child.op === "in") {
      const values = (Array.isArray(child.value) ? child.value : [child.value]).map(toNumber).filter((n): n is number => n !== undefined)
      list = list === undefined ? values : list.filter((id) => values.includes(id))
      continue
    }
    const n = toNumber(child.value)
    if (n === undefined || child.op === "substr" || child.op === "like" || child.op === "between") {
      rest.push(child)
      continue
    }
    if (child.op === "gt") low = Math.max(low, Math.floor(n) + 1)
    else if (child.op === "gte") low = Math.max(low, Math.ceil(n))
    else if (child.op === "lt") high = Math.min(high, Math.ceil(n) - 1)
    else if (child.op === "lte") high = Math.min(high, Math.floor(n))
    else if (Number.isInteger(n)) {
      low = Math.max(low, n)
      high = Math.min(high, n)
    } else {
      low = 1
      high = 0
    }
  }
  const from = low === -Infinity ? 0 : table.lowerBound(low)
  const to = high === Infinity ? table.length : high < low ? from : table.lowerBound(high + 1)
  const group: FilterGroup = { _tag: "Group", logic: "AND", children: rest }
  if (list === undefined) return { candidates: { _tag: "Range", from, to: Math.max(from, to) }, rest: group }
  const positions: Array<number> = []
  for (const id of new Set(list)) {
    const pos = table.lowerBound(id)
    if (pos >= from && pos < to && table.ids[pos] === id) positions.push(pos)
  }
  return { candidates: { _tag: "List", positions: Int32Array.from(positions.sort((a, b) => a - b)) }, rest: group }
}

// ---------------------------------------------------------------------------------------------------------
// Order
// ---------------------------------------------------------------------------------------------------------

/** One `FIELD: ASC|DESC` entry. */
export interface OrderTerm {
  readonly field: FieldDef
  readonly descending: boolean
}

/** Why an order could not be parsed. */
export type OrderProblem =
  | { readonly _tag: "BadDirection"; readonly name: string; readonly direction: string }
  | { readonly _tag: "UnknownField"; readonly name: string }

/** Parses an order record (`{ ID: "ASC" }`); directions are case-insensitive. */
export const parseOrder = (
  raw: Readonly<Record<string, unknown>>,
  resolve: (name: string) => FieldDef | undefined,
  onUnknown: "ignore" | "error"
): ReadonlyArray<OrderTerm> | OrderProblem => {
  const terms: Array<OrderTerm> = []
  for (const [name, directionValue] of Object.entries(raw)) {
    const direction = typeof directionValue === "string" ? directionValue.trim().toUpperCase() : String(directionValue)
    if (direction !== "ASC" && direction !== "DESC") return { _tag: "BadDirection", name, direction: String(directionValue) }
    const field = resolve(name)
    if (field === undefined) {
      if (onUnknown === "error") return { _tag: "UnknownField", name }
      continue
    }
    if (!terms.some((t) => t.field.upper === field.upper)) terms.push({ field, descending: direction === "DESC" })
  }
  return terms
}

/** Sort key of a native value: nulls first (as MySQL sorts ascending), then numbers, then strings. */
export const compareValues = (a: unknown, b: unknown): number => {
  const an = a === null || a === undefined || a === ""
  const bn = b === null || b === undefined || b === ""
  if (an || bn) return an === bn ? 0 : an ? -1 : 1
  if (typeof a === "number" && typeof b === "number") return a - b
  const as = Array.isArray(a) || typeof a === "object" ? JSON.stringify(a) : String(a)
  const bs = Array.isArray(b) || typeof b === "object" ? JSON.stringify(b) : String(b)
  return as < bs ? -1 : as > bs ? 1 : 0
}
