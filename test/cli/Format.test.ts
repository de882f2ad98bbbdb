import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { BitrixApiError, HttpError, NotRunError } from "../../src/BitrixError.js"
import {
  columnsFromSelect,
  columnsOfRows,
  csvCell,
  itemLine,
  makeRowWriter,
  ndjsonLine,
  resolveFormat,
  type RowWriter
} from "../../src/cli/Format.js"

/** Runs a writer over chunks the way the command does, returning the whole text and the dropped fields. */
const drive = (writer: RowWriter, chunks: ReadonlyArray<ReadonlyArray<unknown>>) => {
  let text = writer.begin()
  const dropped: Array<string> = []
  for (const chunk of chunks) {
    const written = writer.rows(chunk)
    text += written.text
    dropped.push(...written.droppedFields)
  }
  return { text: text + writer.end(), dropped }
}

describe("resolveFormat", () => {
  it("takes the asked format, else the --out extension, else NDJSON", () => {
    expect(resolveFormat("csv", "rows.json")).toBe("csv")
    expect(resolveFormat(undefined, "Deals.CSV")).toBe("csv")
    expect(resolveFormat(undefined, "deals.json")).toBe("json")
    expect(resolveFormat(undefined, "deals.ndjson")).toBe("ndjson")
    expect(resolveFormat(undefined, undefined)).toBe("ndjson")
  })
})

describe("ndjson", () => {
  it("writes one complete JSON line per row, across chunks", () => {
    const writer = makeRowWriter("ndjson")
    const { text } = drive(writer, [[{ ID: "1" }, { ID: "2" }], [], [{ ID: "3", NESTED: { a: [1] } }]])
    const lines = text.split("\n")
    expect(lines.at(-1)).toBe("")
    expect(lines.slice(0, -1).map((line) => JSON.parse(line))).toEqual([{ ID: "1" }, { ID: "2" }, { ID: "3", NESTED: { a: [1] } }])
    expect(writer.count()).toBe(3)
  })

  it("turns a value JSON cannot hold into null, so the line still parses", () => {
    expect(ndjsonLine(undefined)).toBe("null\n")
  })
})

describe("json", () => {
  it("streams one valid array across chunks", () => {
    const { text } = drive(makeRowWriter("json"), [[{ ID: "1" }], [{ ID: "2" }, { ID: "3" }]])
    expect(JSON.parse(text)).toEqual([{ ID: "1" }, { ID: "2" }, { ID: "3" }])
  })

  it("writes [] for no rows, and a closed array when ended early", () => {
    expect(JSON.parse(drive(makeRowWriter("json"), []).text)).toEqual([])
    const writer = makeRowWriter("json")
    const partial = writer.begin() + writer.rows([{ ID: "1" }]).text + writer.end()
    expect(JSON.parse(partial)).toEqual([{ ID: "1" }])
  })
})

describe("csv", () => {
  it("escapes cells per RFC 4180 and writes nested values as JSON", () => {
    expect(csvCell("plain")).toBe("plain")
    expect(csvCell("a,b")).toBe('"a,b"')
    expect(csvCell('say "hi"')).toBe('"say ""hi"""')
    expect(csvCell("two\nlines")).toBe('"two\nlines"')
    expect(csvCell(null)).toBe("")
    expect(csvCell(undefined)).toBe("")
    expect(csvCell(42)).toBe("42")
    expect(csvCell(["1", "2"])).toBe('"[""1"",""2""]"')
    expect(csvCell({ VALUE: "x" })).toBe('"{""VALUE"":""x""}"')
  })

  it("takes the header from --select, in its order, and fills missing fields with empty cells", () => {
    const writer = makeRowWriter("csv", { columns: ["TITLE", "ID", "EMAIL"] })
    const { dropped, text } = drive(writer, [[{ ID: "1", TITLE: "A" }], [{ ID: "2", TITLE: "B, Ltd", EMAIL: [{ VALUE: "b@x" }] }]])
    expect(text).toBe('TITLE,ID,EMAIL\r\nA,1,\r\n"B, Ltd",2,"[{""VALUE"":""b@x""}]"\r\n')
    expect(dropped).toEqual([])
  })

  it("matches select names to row keys that differ only in case (crm.item.* answers ID with id)", () => {
    const { text } = drive(makeRowWriter("csv", { columns: ["ID", "TITLE"] }), [[{ id: 7, title: "T" }]])
    expect(text).toBe("ID,TITLE\r\n7,T\r\n")
  })

  it("takes the header from the first row without a select, and reports fields later rows add once", () => {
    const writer = makeRowWriter("csv")
    const { dropped, text } = drive(writer, [[{ ID: "1", TITLE: "A" }], [{ ID: "2", TITLE: "B", UF_X: "x" }, { ID: "3", UF_X: "y" }]])
    expect(text).toBe("ID,TITLE\r\n1,A\r\n2,B\r\n3,\r\n")
    expect(dropped).toEqual(["UF_X"])
    expect(writer.count()).toBe(3)
  })

  it("writes the header alone when the select is known and no row came, nothing otherwise", () => {
    expect(drive(makeRowWriter("csv", { columns: ["ID", "TITLE"] }), []).text).toBe("ID,TITLE\r\n")
    expect(drive(makeRowWriter("csv"), []).text).toBe("")
  })

  it("uses the select as the header only when it names plain fields", () => {
    expect(columnsFromSelect(["ID", "TITLE"])).toEqual(["ID", "TITLE"])
    expect(columnsFromSelect(["*", "UF_*"])).toBeUndefined()
    expect(columnsFromSelect(["ID", "UF_*"])).toBeUndefined()
    expect(columnsFromSelect(undefined)).toBeUndefined()
  })
})

describe("itemLine", () => {
  it("writes the result, or the portal's code and words, with the item's index", () => {
    expect(JSON.parse(itemLine(0, Either.right({ ID: "5" })))).toEqual({ index: 0, result: { ID: "5" } })
    expect(JSON.parse(itemLine(1, Either.right(undefined)))).toEqual({ index: 1, result: null })
    const apiError = new BitrixApiError({ code: "", description: "Not found", status: 200, method: "crm.deal.get" })
    expect(JSON.parse(itemLine(2, Either.left(apiError)))).toEqual({ index: 2, error: { code: "", description: "Not found" } })
    const httpError = new HttpError({ reason: "Status", method: "crm.deal.add", status: 502, detail: "Bad Gateway", bodyExcerpt: "<html>\n<b>502</b>" })
    const line = itemLine(3, Either.left(httpError))
    expect(line.endsWith("\n")).toBe(true)
    expect(line.slice(0, -1)).not.toContain("\n")
    expect(JSON.parse(line)).toMatchObject({ index: 3, error: { code: "HTTP_STATUS" } })
    const notRun = new NotRunError({ method: "crm.deal.add", commandLabel: "c0004", reason: "the portal did not run it" })
    expect(JSON.parse(itemLine(4, Either.left(notRun)))).toEqual({ index: 4, error: { code: "NOT_RUN", description: "the portal did not run it" } })
  })
})

describe("columnsOfRows", () => {
  it("is every field of every row, in the order first seen; rows that are not objects add none", () => {
    expect(columnsOfRows([{ A: 1, B: 2 }, { B: 3, C: 4 }, "x", null, [5], { D: 6, A: 7 }])).toEqual(["A", "B", "C", "D"])
    expect(columnsOfRows([])).toEqual([])
  })
})

