/**
 * From the portal's `*.fields` to a table, and from a row as the portal prints it to the values of that table.
 * Pure functions: the sink only executes what they produce.
 */
import { createHash } from "node:crypto"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { HttpError } from "../../BitrixError.js"
import type { Column, ColumnType, Entity, PreparedRow, TableShape } from "../../Sync.js"

/** One field of `crm.deal.fields` and friends (the keys a sync needs; the others are ignored). */
const FieldMeta = Schema.Struct({
  type: Schema.String,
  isMultiple: Schema.optional(Schema.Boolean),
  isRequired: Schema.optional(Schema.Boolean),
  isReadOnly: Schema.optional(Schema.Boolean),
  title: Schema.optional(Schema.String),
  formLabel: Schema.optional(Schema.String),
  listLabel: Schema.optional(Schema.String)
})

const FieldsResult = Schema.Record({ key: Schema.String, value: FieldMeta })

/** The field metadata of one entity, keyed by field code, in the portal's order. */
export type Fields = typeof FieldsResult.Type

/** Decodes a `*.fields` result; a shape we cannot read is an `HttpError` (Decode) naming the method. */
export const decodeFields = (method: string, result: unknown): Either.Either<Fields, HttpError> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(FieldsResult)(result),
    (error) =>
      new HttpError({
        reason: "Decode",
        method,
        status: 200,
        bodyExcerpt: (JSON.stringify(result) ?? "").slice(0, 500),
        detail: `the field list is not a map of field descriptions: ${error.message.slice(0, 300)}`
      })
  )

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

/** The table an entity lives in: `crm.deal` → `crm_deal`. */
export const tableOf = (entity: Entity): string => entity.replace(/\./g, "_")

/** The table's shape from the entity's fields: one column per field, named by its code in lower case. */
export const shapeOf = (entity: Entity, fields: Fields): TableShape => {
  const columns: Array<Column> = []
  const taken = new Set(reservedColumns)
  for (const [field, meta] of Object.entries(fields)) {
    if (field.toUpperCase() === "ID") continue
    let name = field.toLowerCase().replace(/[^a-z0-9_]/g, "_")
    // a field named like one of the sync's own columns keeps its data under another name
    while (taken.has(name)) name = `f_${name}`
    taken.add(name)
    columns.push({
      name,
      field,
      type: columnTypeOf(meta.type, meta.isMultiple === true),
      portalType: meta.type,
      title: meta.formLabel ?? meta.listLabel ?? meta.title ?? field
    })
  }
  return { entity, table: tableOf(entity), columns }
}

/** The `select` of a sync's list calls: every standard and user field, and the multifields, named. */
export const selectOf = (fields: Fields): ReadonlyArray<string> => [
  "*",
  "UF_*",
  ...Object.entries(fields)
    .filter(([, meta]) => meta.type === "crm_multifield")
    .map(([field]) => field)
]

const wholeNumber = /^-?\d{1,15}$/
const isoDate = /^\d{4}-\d{2}-\d{2}/

/**
 * A portal value as a column's value, or `null` when it is empty or does not fit (the raw row keeps it):
 * classic CRM prints numbers as strings, flags as Y/N, dates as ISO-8601 with the portal's offset.
 */
export const columnValue = (type: ColumnType, value: unknown, dialect: "sqlite" | "postgres"): string | number | boolean | null => {
  if (value === null || value === undefined || value === "") return null
  switch (type) {
    case "integer": {
      const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : ""
      return wholeNumber.test(text) ? Number(text) : null
    }
    case "real": {
      const number = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN
      return Number.isFinite(number) ? number : null
    }
    case "boolean": {
      const yes = value === true || value === 1 || value === "Y" || value === "1" || value === "y"
      const no = value === false || value === 0 || value === "N" || value === "0" || value === "n"
      if (!yes && !no) return null
      // better-sqlite3 binds no booleans: SQLite keeps them as 1/0
      return dialect === "sqlite" ? (yes ? 1 : 0) : yes
    }
    case "date":
      return typeof value === "string" && isoDate.test(value) ? value.slice(0, 10) : null
    case "datetime":
      return typeof value === "string" && isoDate.test(value) ? value : null
    case "json":
      return JSON.stringify(value)
    case "text":
      return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : JSON.stringify(value)
  }
}

/** The whole-number ID of a row, or `undefined`. */
export const rowIdOf = (row: unknown): number | undefined => {
  if (typeof row !== "object" || row === null || Array.isArray(row)) return undefined
  const id = (row as Record<string, unknown>)["ID"]
  const number = typeof id === "number" ? id : typeof id === "string" && wholeNumber.test(id.trim()) ? Number(id) : NaN
  return Number.isInteger(number) && number > 0 ? number : undefined
}

/** A row as the portal printed it, ready for the sink; `undefined` for a row without a whole-number ID. */
export const prepareRow = (shape: TableShape, row: unknown, dialect: "sqlite" | "postgres"): PreparedRow | undefined => {
  const id = rowIdOf(row)
  if (id === undefined) return undefined
  const record = row as Record<string, unknown>
  const raw = JSON.stringify(record)
  return {
    id,
    values: shape.columns.map((column) => columnValue(column.type, record[column.field], dialect)),
    raw,
    hash: createHash("sha1").update(raw).digest("base64url")
  }
}
