/**
 * A row's values for its table's columns, from the row as the portal printed it: the converters of the column types,
 * and the hash rows are compared by. Pure functions with no dependency but `node:crypto`, so the SQLite writer thread
 * (`writerWorker.ts`) prepares rows with the same code as the client's thread without loading Effect.
 */
import { hash } from "node:crypto"
import type { ColumnType } from "../../Sync.js"

/** A whole number as the classic CRM prints it, at most 15 digits (a double holds them exactly). */
export const wholeNumber = /^-?\d{1,15}$/
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
type Converter = (value: unknown) => Value

const isEmpty = (value: unknown) => value === null || value === undefined || value === ""

/**
 * The converter of one column, chosen once per column (a first load converts millions of values): `null` for an
 * empty value or one that does not fit (the raw row keeps it).
 */
export const converterOf = (type: ColumnType, dialect: "sqlite" | "postgres", part?: "amount" | "currency"): Converter => {
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

/** A value bound to a column. */
export type Value = string | number | boolean | null

/** What preparing a row needs of a column: the field it reads, its type, and for a money field which part. */
export interface ColumnSpec {
  readonly field: string
  readonly type: ColumnType
  readonly part?: "amount" | "currency"
}

/** A row's values for `columns`, in their order, from the row as the portal printed it: the converters chosen once. */
export const valuesOf = (columns: ReadonlyArray<ColumnSpec>, dialect: "sqlite" | "postgres"): ((record: Readonly<Record<string, unknown>>) => Array<Value>) => {
  const fields = columns.map((column) => column.field)
  const converters = columns.map((column) => converterOf(column.type, dialect, column.part))
  return (record) => {
    const values = new Array<Value>(fields.length)
    for (let index = 0; index < fields.length; index++) values[index] = converters[index]!(record[fields[index]!])
    return values
  }
}

/**
 * The hash a row is compared by: SHA-1 of its raw JSON, base64url (the one-shot `crypto.hash` gives the same digest
 * as `createHash` at a third of its cost, so tables written before keep matching).
 */
export const rowHash = (raw: string): string => hash("sha1", raw, "base64url")
