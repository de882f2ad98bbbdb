/**
 * Exports every deal to a CSV file, streaming: rows are written as they arrive, memory stays flat.
 *
 *   BITRIX24_WEBHOOK=https://portal.bitrix24.com/rest/1/code/ npx tsx examples/export-csv.ts deals.csv
 */
import * as Fs from "node:fs"
import { Effect, Stream } from "effect"
import { Bitrix } from "effect-bitrix24"

const fields = ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "CURRENCY_ID"] as const
const path = process.argv[2] ?? "deals.csv"

/** RFC 4180: quote a cell when it holds a comma, a quote or a line break. */
const cell = (value: unknown): string => {
  const text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value)
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

const program = Effect.acquireUseRelease(
  Effect.sync(() => Fs.openSync(path, "w")),
  (file) =>
    Effect.gen(function* () {
      Fs.writeSync(file, fields.join(",") + "\n")
      return yield* Bitrix.stream("crm.deal.list", { select: [...fields] }).pipe(
        Stream.runFoldEffect(0, (written, row) =>
          Effect.sync(() => {
            const record = row as Record<string, unknown>
            Fs.writeSync(file, fields.map((field) => cell(record[field])).join(",") + "\n")
            return written + 1
          })
        )
      )
    }),
  (file) => Effect.sync(() => Fs.closeSync(file))
)

const webhook = process.env["BITRIX24_WEBHOOK"]
if (webhook === undefined) throw new Error("Set BITRIX24_WEBHOOK to your inbound webhook URL")
const written = await Effect.runPromise(program.pipe(Effect.provide(Bitrix.layerFetch({ webhook }))))
console.log(`${written} deals written to ${path}`)
