/**
 * From the portal's `*.fields` to a table, and from a row as the portal prints it to the values of that table.
 * Pure functions: the sink only executes what they produce.
 *
 * Two families of entities: the classic CRM (`crm.deal.list`, UPPER_CASE keys, `ID`, `DATE_MODIFY`, numbers as
 * strings) and smart processes through `crm.item.list` (`{ entityTypeId }` on every call, camelCase keys, `id`,
 * `updatedTime`, native numbers, rows under `result.items`, fields under `result.fields` with their `upperName`).
 */
import { createHash } from "node:crypto"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { UnexpectedResultError } from "../../BitrixError.js"
import type { Column, ColumnType, Entity, PreparedRow, TableShape } from "../../Sync.js"
import { entityTypeIdOf } from "./options.js"

/** How an entity is read: its methods, the parameters every call carries, the spelling of its keys. */
export interface EntitySource {
  readonly entity: Entity
  readonly table: string
  readonly listMethod: string
  readonly fieldsMethod: string
  /** Parameters every call carries: `{ entityTypeId }` for `crm.item`, none for the classic CRM. */
  readonly params: Readonly<Record<string, unknown>>
  /** The ID's key in filters, orders and rows (`ID` classic, `id` for D7 methods such as crm.item.list). */
  readonly idKey: "ID" | "id"
  /** The modification time the incremental window filters on. */
  readonly modifiedKey: "DATE_MODIFY" | "updatedTime"
}

/** The table an entity lives in: `crm.deal` → `crm_deal`, `crm.item:1032` → `crm_item_1032`. */
export const tableOf = (entity: Entity): string => entity.replace(/[^a-z0-9]+/gi, "_").toLowerCase()

/** The methods and keys of an entity. */
export const sourceOf = (entity: Entity): EntitySource => {
  const entityTypeId = entityTypeIdOf(entity)
  return entityTypeId === undefined
    ? {
        entity,
        table: tableOf(entity),
        listMethod: `${entity}.list`,
        fieldsMethod: `${entity}.fields`,
        params: {},
        idKey: "ID",
        modifiedKey: "DATE_MODIFY"
      }
    : {
        entity,
        table: tableOf(entity),
        listMethod: "crm.item.list",
        fieldsMethod: "crm.item.fields",
        params: { entityTypeId },
        idKey: "id",
        modifiedKey: "updatedTime"
      }
}

/** One field of `crm.deal.fields`, `crm.item.fields` and friends (the keys a sync needs; the others are ignored). */
const FieldMeta = Schema.Struct({
  type: Schema.String,
  isMultiple: Schema.optional(Schema.Boolean),
  isRequired: Schema.optional(Schema.Boolean),
  isReadOnly: Schema.optional(Schema.Boolean),
  title: Schema.optional(Schema.String),
  formLabel: Schema.optional(Schema.String),
  listLabel: Schema.optional(Schema.String),
  /** crm.item.fields: the classic spelling of a camelCase field (`updatedTime` → `UPDATED_TIME`). */
  upperName: Schema.optional(Schema.String)
})

const FieldsResult = Schema.Record({ key: Schema.String, value: FieldMeta })

/** crm.item.fields nests the map under `fields`. */
const ItemFieldsResult = Schema.Struct({ fields: FieldsResult })

/** The field metadata of one entity, keyed by the field's key in a row, in the portal's order. */
export type Fields = typeof FieldsResult.Type

/** Decodes a `*.fields` result; a shape we cannot read is an `UnexpectedResultError` naming the method. */
export const decodeFields = (source: EntitySource, result: unknown): Either.Either<Fields, UnexpectedResultError> => {
  const decoded =
    source.listMethod === "crm.item.list"
      ? Either.map(Schema.decodeUnknownEither(ItemFieldsResult)(result), (value) => value.fields)
      : Schema.decodeUnknownEither(FieldsResult)(result)
  return Either.mapLeft(
    decoded,
    (error) =>
      new UnexpectedResultError({
        method: source.fieldsMethod,
        excerpt: (JSON.stringify(result) ?? "").slice(0, 500),
        detail: `the field list is not a map of field descriptions: ${error.message.slice(0, 300)}`
      })
  )
}

/** Columns every table has besides the portal's fields. */
export const reservedColumns: ReadonlyArray<string> = ["id", "raw", "raw_hash", "deleted_at", "synced_at"]

const integerTypes = new Set([
  "integer",
  "user",
  "employee",
  "crm_company",
  "crm_contact",
  "crm_lead",
  "crm_deal",
  "crm_quote",
  "crm_category",
  "location",
  "enumeration",
  "iblock_element",
  "iblock_section"
])

/** The SQL type that fits a Bitrix field type; a multiple field (or a multifield) is a JSON list. */
export const columnTypeOf = (type: string, isMultiple: boolean): ColumnType => {
  if (isMultiple || type === "crm_multifield" || type === "file" || type === "object") return "json"
  if (integerTypes.has(type)) return "integer"
  if (type === "double") return "real"
  // Y/N flags: classic CRM prints `char` for them, user fields are `boolean` (1/0)
  if (type === "char" || type === "boolean") return "boolean"
  if (type === "date") return "date"
  if (type === "datetime") return "datetime"
  return "text"
}

/** A column name from a field's key: `UF_CRM_X` → `uf_crm_x`; a camelCase key without upperName → snake case. */
const columnNameOf = (field: string, upperName: string | undefined): string => {
  const upper = upperName ?? (/[a-z]/.test(field) ? field.replace(/([a-z0-9])([A-Z])/g, "$1_$2") : field)
  return upper.toLowerCase().replace(/[^a-z0-9_]/g, "_")
}

/**
 * The table's shape from the entity's fields: one column per field, named by its code in lower case; a money
 * field (single-valued) gets two, its amount under its name and its currency under `<name>_currency`.
 */
export const shapeOf = (entity: Entity, fields: Fields): TableShape => {
  const columns: Array<Column> = []
  const taken = new Set(reservedColumns)
  const claim = (wanted: string) => {
    let name = wanted
    // a field named like one of the sync's own columns (or another field's) keeps its data under another name
    while (taken.has(name)) name = `f_${name}`
    taken.add(name)
    return name
  }
  for (const [field, meta] of Object.entries(fields)) {
    if (field.toUpperCase() === "ID") continue
    const name = claim(columnNameOf(field, meta.upperName))
    const title = meta.formLabel ?? meta.listLabel ?? meta.title ?? field
    const isMultiple = meta.isMultiple === true
    if (meta.type === "money" && !isMultiple) {
      columns.push({ name, field, type: "decimal", portalType: meta.type, title, part: "amount" })
      columns.push({ name: claim(`${name}_currency`), field, type: "text", portalType: meta.type, title: `${title} (currency)`, part: "currency" })
      continue
    }
    columns.push({ name, field, type: columnTypeOf(meta.type, isMultiple), portalType: meta.type, title })
  }
  return { entity, table: tableOf(entity), columns }
}

/**
 * The `select` of a sync's list calls. Classic CRM: every standard and user field, and the multifields, named.
 * crm.item.list takes only field names or `*`, and its `*` includes the user fields.
 */
export const selectOf = (source: EntitySource, fields: Fields): ReadonlyArray<string> =>
  source.listMethod === "crm.item.list"
    ? ["*"]
    : [
        "*",
        "UF_*",
        ...Object.entries(fields)
          .filter(([, meta]) => meta.type === "crm_multifield")
          .map(([field]) => field)
      ]

const wholeNumber = /^-?\d{1,15}$/
const isoDate = /^\d{4}-\d{2}-\d{2}/

/**
 * A money value as Bitrix prints it: an amount with a point for decimals, then `|` and a three-letter currency
 * code (`"123.45|RUB"`); a bare amount (`"123.45"`) has no currency. Anything else (`"12,5|RUB"`, `"|RUB"`,
 * `"1e3|RUB"`, `"abc"`) is not read at all: both columns stay null, the raw row keeps the text.
 */
const moneyPattern = /^(-?)(\d+)(?:\.(\d+))?(?:\|([A-Z]{3}))?$/

/** Significant digits a double holds exactly: at most this many survive the trip through SQLite's REAL. */
const exactDigits = 15

/** A money value's parts: the amount as exact decimal text, the currency code; `undefined` when malformed. */
export const parseMoney = (value: unknown): { readonly amount: string; readonly currency: string | null } | undefined => {
  // a number (a portal printing the amount natively) reads as its shortest decimal text; 1e21 and NaN do not match
  const text = typeof value === "number" ? String(value) : value
  if (typeof text !== "string") return undefined
  const match = moneyPattern.exec(text)
  if (match === null) return undefined
  const [, sign = "", whole = "", fraction = "", currency] = match
  const integer = whole.replace(/^0+(?=\d)/, "")
  const decimals = fraction.replace(/0+$/, "")
  const amount = `${sign === "-" && /[1-9]/.test(integer + decimals) ? "-" : ""}${integer}${decimals === "" ? "" : `.${decimals}`}`
  return { amount, currency: currency ?? null }
}

/** The amount of a money value as a column's value: exact text for Postgres' numeric, a number SQLite keeps exactly. */
const moneyAmount = (amount: string, dialect: "sqlite" | "postgres"): string | number | null => {
  if (dialect === "postgres") return amount
  const digits = amount.replace(/^-/, "").replace(".", "").replace(/^0+/, "")
  // more digits than a double holds would be stored rounded: a wrong number, so none (the raw row keeps it)
  return digits.length <= exactDigits ? Number(amount) : null
}

/** A column's value from the field's value as the portal printed it. */
type Converter = (value: unknown) => string | number | boolean | null

const isEmpty = (value: unknown) => value === null || value === undefined || value === ""

/**
 * The converter of one column, chosen once per column (a first load converts millions of values): `null` for an
 * empty value or one that does not fit (the raw row keeps it).
 */
const converterOf = (type: ColumnType, dialect: "sqlite" | "postgres", part?: "amount" | "currency"): Converter => {
  if (part !== undefined) {
    return (value) => {
      if (isEmpty(value)) return null
      const money = parseMoney(value)
      if (money === undefined) return null
      return part === "currency" ? money.currency : moneyAmount(money.amount, dialect)
    }
  }
  switch (type) {
    case "integer":
      return (value) => {
        // classic CRM prints numbers as strings, crm.item natively; 15 digits at most, as a double holds them
        if (typeof value === "number") return Number.isInteger(value) && Math.abs(value) < 1e15 ? value + 0 : null
        if (typeof value !== "string") return null
        const text = value.trim()
        return wholeNumber.test(text) ? Number(text) : null
      }
    case "real":
    case "decimal":
      return (value) => {
        if (typeof value === "number") return Number.isFinite(value) ? value : null
        if (typeof value !== "string" || value.trim() === "") return null
        const number = Number(value)
        return Number.isFinite(number) ? number : null
      }
    case "boolean":
      return (value) => {
        const yes = value === true || value === 1 || value === "Y" || value === "1" || value === "y"
        const no = value === false || value === 0 || value === "N" || value === "0" || value === "n"
        if (!yes && !no) return null
        // better-sqlite3 binds no booleans: SQLite keeps them as 1/0
        return dialect === "sqlite" ? (yes ? 1 : 0) : yes
      }
    case "date":
      // ISO-8601 with the portal's offset: the day is the first ten characters
      return (value) => (typeof value === "string" && isoDate.test(value) ? value.slice(0, 10) : null)
    case "datetime":
      return (value) => (typeof value === "string" && isoDate.test(value) ? value : null)
    case "json":
      return (value) => (value === null || value === undefined || value === "" ? null : JSON.stringify(value))
    case "text":
      return (value) =>
        isEmpty(value)
          ? null
          : typeof value === "string"
            ? value
            : typeof value === "number" || typeof value === "boolean"
              ? String(value)
              : JSON.stringify(value)
  }
}

/**
 * A portal value as a column's value, or `null` when it is empty or does not fit (the raw row keeps it):
 * classic CRM prints numbers as strings, flags as Y/N, dates as ISO-8601 with the portal's offset; money as
 * `"123.45|RUB"` (see {@link parseMoney}).
 */
export const columnValue = (
  type: ColumnType,
  value: unknown,
  dialect: "sqlite" | "postgres",
  part?: "amount" | "currency"
): string | number | boolean | null => converterOf(type, dialect, part)(value)

/** The whole-number ID of a row under `idKey` (`ID` classic, `id` for crm.item), or `undefined`. */
export const rowIdOf = (row: unknown, idKey: "ID" | "id"): number | undefined => {
  if (typeof row !== "object" || row === null || Array.isArray(row)) return undefined
  const id = (row as Record<string, unknown>)[idKey]
  const number = typeof id === "number" ? id : typeof id === "string" && wholeNumber.test(id.trim()) ? Number(id) : NaN
  return Number.isInteger(number) && number > 0 ? number : undefined
}

/** A row as the portal printed it, ready for the sink; `undefined` for a row without a whole-number ID. */
export const prepareRow = (shape: TableShape, row: unknown, dialect: "sqlite" | "postgres"): PreparedRow | undefined =>
  preparerOf(shape, dialect)(row)

/** Rows as the portal printed them, ready for the sink; rows without a whole-number ID are left out. */
export const prepareRows = (shape: TableShape, rows: Iterable<unknown>, dialect: "sqlite" | "postgres"): Array<PreparedRow> => {
  const prepare = preparerOf(shape, dialect)
  const prepared: Array<PreparedRow> = []
  for (const row of rows) {
    const ready = prepare(row)
    if (ready !== undefined) prepared.push(ready)
  }
  return prepared
}

/** The preparer of a shape's rows: the columns' converters chosen once. */
const preparerOf = (shape: TableShape, dialect: "sqlite" | "postgres"): ((row: unknown) => PreparedRow | undefined) => {
  const idKey = sourceOf(shape.entity).idKey
  const fields = shape.columns.map((column) => column.field)
  const converters = shape.columns.map((column) => converterOf(column.type, dialect, column.part))
  return (row) => {
    const id = rowIdOf(row, idKey)
    if (id === undefined) return undefined
    const record = row as Record<string, unknown>
    const raw = JSON.stringify(record)
    const values = new Array<string | number | boolean | null>(fields.length)
    for (let index = 0; index < fields.length; index++) values[index] = converters[index]!(record[fields[index]!])
    return { id, values, raw, hash: createHash("sha1").update(raw).digest("base64url") }
  }
}
