/**
 * How the `b24` command writes rows: NDJSON, CSV or a JSON array, produced chunk by chunk as rows arrive so an
 * export never waits for its last row and an interrupted export leaves whole lines behind.
 *
 * Pure: a writer is a small state machine (`begin` → `rows`… → `end`) that returns text; the caller decides
 * where the text goes.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { type CliError, errorParts } from "./Report.js"
import type { RowFormat } from "./Spec.js"

/**
 * The format to write: the one asked for, else the output file's extension (`.csv`, `.json`), else NDJSON,
 * which streams and survives interruption best.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const resolveFormat = (asked: RowFormat | undefined, outPath: string | undefined): RowFormat => {
  if (asked !== undefined) return asked
  const lower = outPath?.toLowerCase() ?? ""
  if (lower.endsWith(".csv")) return "csv"
  if (lower.endsWith(".json")) return "json"
  return "ndjson"
}

/**
 * The text a writer produced for one step, and the fields it had to leave out (CSV only: fields absent from the
 * header, which is fixed once written).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Written {
  readonly text: string
  readonly droppedFields: ReadonlyArray<string>
}

/**
 * A streaming row writer. Call `begin` once, `rows` per chunk, `end` once (also after an interruption, so a
 * JSON array is closed and stays valid).
 *
 * @since 0.1.0
 * @category Models
 */
export interface RowWriter {
  readonly begin: () => string
  readonly rows: (rows: ReadonlyArray<unknown>) => Written
  readonly end: () => string
  /** Rows written so far. */
  readonly count: () => number
}

/**
 * One NDJSON line: the row as compact JSON. A value JSON cannot hold (`undefined`) becomes `null`, so every
 * line parses.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const ndjsonLine = (row: unknown): string => `${JSON.stringify(row) ?? "null"}\n`

/**
 * One CSV cell (RFC 4180): empty for null and undefined, JSON for nested values, quoted when it holds a comma,
 * a quote or a line break.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const csvCell = (value: unknown): string => {
  const text =
    value === null || value === undefined
      ? ""
      : typeof value === "string"
        ? value
        : typeof value === "object"
          ? (JSON.stringify(value) ?? "")
          : String(value)
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

/**
 * One CSV record, ended with CRLF as RFC 4180 asks.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const csvRecord = (cells: ReadonlyArray<unknown>): string => `${cells.map(csvCell).join(",")}\r\n`

/**
 * The CSV columns fixed by `--select`, or `undefined` when the header must come from the first row: no select,
 * or a wildcard (`*`, `UF_*`) whose expansion only the portal knows.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const columnsFromSelect = (select: ReadonlyArray<string> | undefined): ReadonlyArray<string> | undefined =>
  select === undefined || select.length === 0 || select.some((field) => field.includes("*")) ? undefined : select

/** The fields of a row, in its own order; a row that is not an object has none. */
const fieldsOf = (row: unknown): ReadonlyArray<string> =>
  typeof row === "object" && row !== null && !Array.isArray(row) ? Object.keys(row) : []

/**
 * The CSV columns of rows collected before they are written (`get-by-id`): every field of every row, in the order
 * first seen, so no field a later row adds is left out of the header.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const columnsOfRows = (rows: Iterable<unknown>): ReadonlyArray<string> => {
  const columns = new Set<string>()
  for (const row of rows) for (const field of fieldsOf(row)) columns.add(field)
  return [...columns]
}

/**
 * The value of `column` in `row`; when the exact key is missing, a key differing only in case (the portal
 * answers `select: ["ID"]` with `id` on the newer `crm.item.*` methods).
 */
const cellOf = (row: unknown, column: string): unknown => {
  if (typeof row !== "object" || row === null || Array.isArray(row)) return undefined
  const record = row as Readonly<Record<string, unknown>>
  if (Object.prototype.hasOwnProperty.call(record, column)) return record[column]
  const folded = column.toLowerCase()
  const key = Object.keys(record).find((candidate) => candidate.toLowerCase() === folded)
  return key === undefined ? undefined : record[key]
}

const hasColumn = (columns: ReadonlyArray<string>, field: string): boolean => {
  const folded = field.toLowerCase()
  return columns.some((column) => column === field || column.toLowerCase() === folded)
}

/**
 * A streaming writer for `format`. CSV header rules: the `--select` list when it names plain fields, else the
 * first row's fields; the header is written with the first row (or at `end` when `columns` are known and no
 * row came), and fields a later row adds are reported in `droppedFields` once each.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeRowWriter = (format: RowFormat, options: { readonly columns?: ReadonlyArray<string> } = {}): RowWriter => {
  let count = 0
  switch (format) {
    case "ndjson":
      return {
        begin: () => "",
        rows: (rows) => {
          count += rows.length
          return { text: rows.map(ndjsonLine).join(""), droppedFields: [] }
        },
        end: () => "",
        count: () => count
      }
    case "json":
      return {
        begin: () => "[",
        rows: (rows) => {
          const text = rows.map((row, index) => `${count + index === 0 ? "\n" : ",\n"}${JSON.stringify(row) ?? "null"}`).join("")
          count += rows.length
          return { text, droppedFields: [] }
        },
        end: () => (count === 0 ? "]\n" : "\n]\n"),
        count: () => count
      }
    case "csv": {
      let columns: ReadonlyArray<string> | undefined = options.columns
      let headerWritten = false
      const reported = new Set<string>()
      return {
        begin: () => "",
        rows: (rows) => {
          let text = ""
          const dropped: Array<string> = []
          for (const row of rows) {
            if (columns === undefined) columns = fieldsOf(row)
            if (!headerWritten) {
              text += csvRecord(columns)
              headerWritten = true
            }
            for (const field of fieldsOf(row)) {
              if (!hasColumn(columns, field) && !reported.has(field)) {
                reported.add(field)
                dropped.push(field)
              }
            }
            const current = columns
            text += csvRecord(current.map((column) => cellOf(row, column)))
          }
          count += rows.length
          return { text, droppedFields: dropped }
        },
        end: () => (!headerWritten && columns !== undefined && columns.length > 0 ? csvRecord(columns) : ""),
        count: () => count
      }
    }
  }
}

/**
 * One output line of `call --items`, in input order: `{"index":0,"result":…}` for an item that ran, or
 * `{"index":1,"error":{"code":…,"description":…}}` with the portal's words for one that failed.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const itemLine = (index: number, outcome: Either.Either<unknown, CliError>): string =>
  Either.match(outcome, {
    onRight: (result) => ndjsonLine({ index, result: result === undefined ? null : result }),
    onLeft: (error) => ndjsonLine({ index, error: errorParts(error) })
  })
