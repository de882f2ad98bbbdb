/**
 * From the portal's `*.fields` to a table, and from a row as the portal prints it to the values of that table.
 * Pure functions: the sink only executes what they produce.
 *
 * Two families of entities: the classic CRM (`crm.deal.list`, UPPER_CASE keys, `ID`, `DATE_MODIFY`, numbers as
 * strings) and smart processes through `crm.item.list` (`{ entityTypeId }` on every call, camelCase keys, `id`,
 * `updatedTime`, native numbers, rows under `result.items`, fields under `result.fields` with their `upperName`).
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { UnexpectedResultError } from "../../BitrixError.js"
import type { Column, ColumnType, Entity, PreparedRow, TableShape } from "../../Sync.js"
import { entityTypeIdOf } from "./options.js"
import { converterOf, rowHash, type Value, valuesOf, wholeNumber } from "./values.js"

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

/**
 * A money value's parts: the amount as exact decimal text, the currency code; `undefined` when malformed (see
 * `values.ts`).
 */
export { parseMoney } from "./values.js"

/** The whole-number ID of a row under `idKey` (`ID` classic, `id` for crm.item), or `undefined`. */
export const rowIdOf = (row: unknown, idKey: "ID" | "id"): number | undefined => {
  if (typeof row !== "object" || row === null || Array.isArray(row)) return undefined
  const id = (row as Record<string, unknown>)[idKey]
  const number = typeof id === "number" ? id : typeof id === "string" && wholeNumber.test(id.trim()) ? Number(id) : NaN
  return Number.isInteger(number) && number > 0 ? number : undefined
}

/** A row as the portal printed it, ready for the sink; `undefined` for a row without a whole-number ID. */
export const prepareRow = (shape: TableShape, row: unknown, dialect: "sqlite" | "postgres"): PreparedRow | undefined => {
  const [prepared] = prepareRows(shape, [row], dialect)
  return prepared
}

/** Rows as the portal printed them, ready for the sink; rows without a whole-number ID are left out. */
export const prepareRows = (shape: TableShape, rows: Iterable<unknown>, dialect: "sqlite" | "postgres"): Array<PreparedRow> =>
  portalRows(shape, rows, dialect).map((row) => ({ id: row.id, values: row.values, raw: row.raw, hash: row.hash }))

/**
 * A row for the sink whose values and hash are computed when first read: the ID and the raw JSON at once (the
 * cursor needs the one, and the row must be copied as it is now), the rest on demand. The SQLite sink hands the rows
 * nobody has read to its writer thread, which prepares them there, so the client's thread keeps reading the portal;
 * any other sink reads them here, as before. `values` and `hash` are accessors: a spread copy (`{ ...row }`) lacks
 * them, so a sink wrapper that copies rows copies them with `prepareRows`'s shape, `{ id, values, raw, hash }`.
 */
export class PortalRow implements PreparedRow {
  #values: ReadonlyArray<Value> | undefined
  #hash: string | undefined
  constructor(
    readonly id: number,
    readonly raw: string,
    private readonly record: Readonly<Record<string, unknown>>,
    private readonly valuesFrom: (record: Readonly<Record<string, unknown>>) => Array<Value>
  ) {}

  get values(): ReadonlyArray<Value> {
    return (this.#values ??= this.valuesFrom(this.record))
  }

  get hash(): string {
    return (this.#hash ??= rowHash(this.raw))
  }

  /** Whether nothing has read the values or the hash: the writer thread may prepare the row from `raw` alone. */
  get unread(): boolean {
    return this.#values === undefined && this.#hash === undefined
  }
}

/**
 * Rows as the portal printed them, as {@link PortalRow}s (values and hash computed when read); rows without a
 * whole-number ID are left out.
 */
export const portalRows = (shape: TableShape, rows: Iterable<unknown>, dialect: "sqlite" | "postgres"): Array<PortalRow> => {
  const idKey = sourceOf(shape.entity).idKey
  const valuesFrom = valuesOf(shape.columns, dialect)
  const prepared: Array<PortalRow> = []
  for (const row of rows) {
    const id = rowIdOf(row, idKey)
    if (id === undefined) continue
    const record = row as Readonly<Record<string, unknown>>
    prepared.push(new PortalRow(id, JSON.stringify(record), record, valuesFrom))
  }
  return prepared
}
