/**
 * The fake portal's data model: field definitions (with the metadata `*.fields` reports), entity definitions
 * (fields plus a deterministic row generator) and the conversions between the spellings and value styles the
 * different API families use.
 *
 * Rows are kept in a "native" form: numbers as numbers, dates as epoch milliseconds, everything keyed by the
 * UPPER_CASE field name. Each API family formats them on the way out (classic CRM prints numbers as strings,
 * crm.item prints camelCase keys and raw numbers, …).
 */
import { hash3, random, type Random } from "./seed.js"

/** A row in native form, keyed by UPPER_CASE field name. */
export type Row = Record<string, unknown>

/** How a field's values compare and print. */
export type FieldKind = "number" | "decimal" | "string" | "date" | "datetime" | "boolean" | "list" | "object"

/** One field of an entity. */
export interface FieldDef {
  readonly upper: string
  readonly camel: string
  /** Bitrix type name as `*.fields` reports it (`integer`, `crm_status`, `user`, …). */
  readonly type: string
  readonly kind: FieldKind
  readonly title: string
  readonly isRequired: boolean
  readonly isReadOnly: boolean
  readonly isImmutable: boolean
  readonly isMultiple: boolean
  /** A user field (`UF_…`). */
  readonly isDynamic: boolean
  readonly isDeprecated: boolean
  /** Only returned when selected by name (multi-fields such as PHONE, link lists such as CONTACT_IDS). */
  readonly explicitOnly: boolean
  /** Printed as is even by the families that print numbers as strings (tasks' `newCommentsCount`). */
  readonly native: boolean
  readonly statusType?: string
  readonly label?: string
  readonly settings?: Readonly<Record<string, unknown>>
}

/** Where a generator finds IDs of other entities (users, companies, …) to reference. */
export interface Refs {
  /** A seeded ID of `entity` chosen by `hash`, or `undefined` when that table is empty. */
  readonly pick: (entity: string, hash: number) => number | undefined
}

/** Everything a row generator may depend on: it must be a pure function of this and the row ID. */
export interface GenEnv {
  readonly seedNumber: number
  /** Hash of the table name, so two tables never share a random stream. */
  readonly salt: number
  readonly createdFromMs: number
  readonly createdStepMs: number
  readonly refs: Refs
}

/** A low-cardinality field kept as a typed-array column, so filters on it scan a million rows quickly. */
export interface ColumnDef {
  readonly field: string
  /** The field's generated value; the row generator must produce the same value. */
  readonly valueOf: (env: GenEnv, id: number) => unknown
}

/** An entity: its fields and how its rows are generated. */
export interface EntityDef {
  readonly name: string
  readonly fields: ReadonlyArray<FieldDef>
  readonly idField: FieldDef
  readonly byUpper: ReadonlyMap<string, FieldDef>
  readonly byCamel: ReadonlyMap<string, FieldDef>
  readonly columns: ReadonlyArray<ColumnDef>
  readonly generate: (env: GenEnv, id: number) => Row
  /** Omit keys whose value is `undefined` instead of printing `null` (category rows lack some keys). */
  readonly sparse: boolean
  /**
   * Values a row created through the API starts with where the generated ones would be odd for a new
   * record (a new deal is in stage NEW with no amount, a new task is pending and in no group).
   */
  readonly creationDefaults: Readonly<Row>
}

const kindOfType = (type: string): FieldKind => {
  switch (type) {
    case "integer":
    case "user":
    case "crm_company":
    case "crm_contact":
    case "crm_lead":
    case "crm_deal":
    case "crm_quote":
    case "crm_category":
    case "location":
    case "enumeration":
      return "number"
    case "double":
      return "decimal"
    case "date":
      return "date"
    case "datetime":
      return "datetime"
    case "boolean":
      return "boolean"
    case "crm_multifield":
    case "list":
      return "list"
    case "object":
      return "object"
    default:
      return "string"
  }
}

/**
 * UPPER_SNAKE to camelCase as crm.item prints it: `ASSIGNED_BY_ID` → `assignedById`; user fields keep their
 * numeric tail: `UF_CRM_11_1712074666` → `ufCrm11_1712074666`, `UF_CRM_1594289616952` → `ufCrm_1594289616952`.
 */
export const upperToCamel = (upper: string): string => {
  const typed = /^UF_CRM_(\d+)_(\w+)$/.exec(upper)
  if (typed !== null) return `ufCrm${typed[1]}_${typed[2]}`
  const plain = /^UF_CRM_(\d\w*)$/.exec(upper)
  if (plain !== null) return `ufCrm_${plain[1]}`
  return upper.toLowerCase().replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase())
}

/** camelCase to UPPER_SNAKE: `responsibleId` → `RESPONSIBLE_ID`. */
export const camelToUpper = (camel: string): string => camel.replace(/([A-Z])/g, "_$1").toUpperCase()

/** Optional parts of a field definition. */
export interface FieldExtra {
  readonly camel?: string
  readonly statusType?: string
  readonly label?: string
  readonly settings?: Readonly<Record<string, unknown>>
  readonly kind?: FieldKind
}

/**
 * A field from a compact spec. `flags` letters: R required, O read-only, I immutable, M multiple, U user field,
 * X only when selected by name, D deprecated, N printed natively.
 */
export const field = (upper: string, type: string, title: string, flags = "", extra: FieldExtra = {}): FieldDef => ({
  upper,
  camel: extra.camel ?? upperToCamel(upper),
  type,
  kind: extra.kind ?? kindOfType(type),
  title,
  isRequired: flags.includes("R"),
  isReadOnly: flags.includes("O"),
  isImmutable: flags.includes("I"),
  isMultiple: flags.includes("M"),
  isDynamic: flags.includes("U"),
  isDeprecated: flags.includes("D"),
  explicitOnly: flags.includes("X"),
  native: flags.includes("N"),
  ...(extra.statusType !== undefined ? { statusType: extra.statusType } : {}),
  ...(extra.label !== undefined ? { label: extra.label } : {}),
  ...(extra.settings !== undefined ? { settings: extra.settings } : {})
})

/** Settings blocks of user fields, as the crm_lead_fields_success fixture shows them per type. */
export const ufSettings: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  string: { SIZE: 20, ROWS: 1, REGEXP: "", MIN_LENGTH: 0, MAX_LENGTH: 0, DEFAULT_VALUE: null },
  money: { DEFAULT_VALUE: "" },
  url: { POPUP: "Y", SIZE: 20, MIN_LENGTH: 0, MAX_LENGTH: 0, DEFAULT_VALUE: null },
  date: { DEFAULT_VALUE: { TYPE: "NONE", VALUE: "" } },
  double: { PRECISION: 2, SIZE: 20, MIN_VALUE: 0, MAX_VALUE: 0, DEFAULT_VALUE: null }
}

/** A user field: type, label and the settings block real portals send. */
export const userField = (upper: string, type: string, label: string): FieldDef =>
  field(upper, type, upper, "U", { label, ...(ufSettings[type] !== undefined ? { settings: ufSettings[type] } : {}) })

/** An entity definition; the first field is the ID. */
export const entity = (
  name: string,
  fields: ReadonlyArray<FieldDef>,
  generate: (env: GenEnv, id: number) => Row,
  options: { readonly columns?: ReadonlyArray<ColumnDef>; readonly sparse?: boolean; readonly creationDefaults?: Row } = {}
): EntityDef => ({
  name,
  fields,
  idField: fields[0] as FieldDef,
  byUpper: new Map(fields.map((f) => [f.upper, f])),
  byCamel: new Map(fields.map((f) => [f.camel, f])),
  columns: options.columns ?? [],
  generate,
  sparse: options.sparse ?? false,
  creationDefaults: options.creationDefaults ?? {}
})

/** The per-row random stream of a table. */
export const rowRandom = (env: GenEnv, id: number): Random => random(hash3(env.seedNumber, env.salt, id))

/** An independent hash of a row for one purpose (a column), so columns are computable without the row. */
export const rowHash = (env: GenEnv, id: number, purpose: number): number => hash3(env.seedNumber, env.salt ^ purpose, id)

/** Creation time of row `id`: creation dates grow with the ID, as on a real portal. */
export const createdAt = (env: GenEnv, id: number, r: Random): number =>
  Math.floor((env.createdFromMs + id * env.createdStepMs + r.int(env.createdStepMs)) / 1000) * 1000

/** A user ID for `ASSIGNED_BY_ID` and friends; the webhook owner (1) when there are no other users. */
export const pickUser = (env: GenEnv, r: Random): number => env.refs.pick("user", r.int(0x7fffffff)) ?? 1

// ---------------------------------------------------------------------------------------------------------
// Value coercion (PHP parameters → native values) and comparison helpers
// ---------------------------------------------------------------------------------------------------------

/** PHP's intval for a parameter: numbers truncate, strings parse their leading integer, the rest is 0. */
export const phpInt = (value: unknown): number => {
  if (typeof value === "number") return Number.isFinite(value) ? Math.trunc(value) : 0
  if (typeof value === "boolean") return value ? 1 : 0
  if (typeof value === "string") {
    const parsed = Number.parseInt(value.trim(), 10)
    return Number.isNaN(parsed) ? 0 : parsed
  }
  return 0
}

/** A number from a JSON number or a numeric string; `undefined` otherwise. */
export const toNumber = (value: unknown): number | undefined => {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined
  if (typeof value === "boolean") return value ? 1 : 0
  if (typeof value === "string" && value.trim() !== "") {
    const parsed = Number(value.trim())
    return Number.isFinite(parsed) ? parsed : undefined
  }
  return undefined
}

/** A positive integer ID from a parameter ("35943" or 35943), or `undefined`. */
export const toId = (value: unknown): number | undefined => {
  const n = toNumber(value)
  return n !== undefined && Number.isInteger(n) && n > 0 && n <= 0x7fffffff ? n : undefined
}

const portalOffsetMs = 3 * 3_600_000

/**
 * Epoch milliseconds from a date parameter. Accepts ISO-8601 (`2024-01-31`, `2024-01-31T10:00:00+03:00`) and
 * the site format `31.01.2024 10:00:00`; a time without an offset is portal time (+03:00).
 */
export const toTime = (value: unknown): number | undefined => {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined
  if (typeof value !== "string") return undefined
  const text = value.trim()
  const iso = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(text)
  const site = /^(\d{2})\.(\d{2})\.(\d{4})(?: (\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(text)
  const parts = iso !== null
    ? { y: iso[1], m: iso[2], d: iso[3], hh: iso[4], mm: iso[5], ss: iso[6], zone: iso[7] }
    : site !== null
    ? { y: site[3], m: site[2], d: site[1], hh: site[4], mm: site[5], ss: site[6], zone: undefined }
    : undefined
  if (parts === undefined) return undefined
  const utc = Date.UTC(
    Number(parts.y),
    Number(parts.m) - 1,
    Number(parts.d),
    Number(parts.hh ?? 0),
    Number(parts.mm ?? 0),
    Number(parts.ss ?? 0)
  )
  if (parts.zone === undefined) return utc - portalOffsetMs
  if (parts.zone === "Z") return utc
  const zone = /^([+-])(\d{2}):?(\d{2})$/.exec(parts.zone)
  if (zone === null) return undefined
  const offset = (Number(zone[2]) * 60 + Number(zone[3])) * 60_000
  return zone[1] === "+" ? utc - offset : utc + offset
}

/** Whether a parameter means "yes" in any of the spellings Bitrix accepts. */
export const toBoolean = (value: unknown): boolean =>
  value === true || value === 1 || value === "Y" || value === "y" || value === "1" || value === "true"

/** A parameter value converted to a field's native form (for add/update). */
export const coerceForField = (f: FieldDef, value: unknown): unknown => {
  if (value === null || value === undefined) return null
  switch (f.kind) {
    case "number":
    case "decimal":
      return value === "" ? null : toNumber(value) ?? null
    case "date":
    case "datetime":
      return value === "" ? null : toTime(value) ?? null
    case "boolean":
      return toBoolean(value)
    case "list":
    case "object":
      return value
    case "string":
      return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : value
  }
}

/** Plain object check for values parsed from JSON or PHP parameters. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A PHP array parameter as a record: JSON arrays become `{ "0": …, "1": … }`, as PHP sees them. */
export const asPhpArray = (value: unknown): Record<string, unknown> | undefined => {
  if (isRecord(value)) return value
  if (Array.isArray(value)) {
    const record: Record<string, unknown> = {}
    value.forEach((item, i) => {
      record[String(i)] = item
    })
    return record
  }
  return undefined
}

/** A parameter by name, trying the exact key, then any spelling that differs only in case (`filter`/`FILTER`). */
export const param = (params: Readonly<Record<string, unknown>>, name: string): unknown => {
  if (name in params) return params[name]
  const lower = name.toLowerCase()
  for (const key of Object.keys(params)) if (key.toLowerCase() === lower) return params[key]
  return undefined
}
