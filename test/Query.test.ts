import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as PhpText from "../src/internal/phpText.js"
import * as Query from "../src/Query.js"

/** A small PHP `parse_str`: `+` is a space, `%XX` decoded, `a[b][0]=x` nests, top-level `.`/` ` become `_`. */
const parseStr = (query: string): Record<string, unknown> => {
  const decode = (text: string) => decodeURIComponent(text.replace(/\+/g, " "))
  const root: Record<string, unknown> = {}
  if (query === "") return root
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=")
    const key = decode(eq < 0 ? pair : pair.slice(0, eq))
    const value = decode(eq < 0 ? "" : pair.slice(eq + 1))
    const open = key.indexOf("[")
    const base = (open < 0 ? key : key.slice(0, open)).replace(/[. ]/g, "_")
    const segments = open < 0 ? [] : Array.from(key.slice(open).matchAll(/\[([^\]]*)\]/g), (match) => match[1]!)
    let target = root
    let name = base
    for (const segment of segments) {
      const next = target[name]
      const child: Record<string, unknown> = typeof next === "object" && next !== null ? (next as Record<string, unknown>) : {}
      target[name] = child
      target = child
      name = segment
    }
    target[name] = value
  }
  return root
}

/** What PHP holds after parse_str for a value we encoded: strings everywhere, lists as index-keyed maps. */
const phpView = (value: unknown): unknown => {
  if (Query.isReference(value)) return value.expression
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return Object.fromEntries(value.map((element, index) => [String(index), phpView(element)]))
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, element]) => [key, phpView(element)]))
  }
  if (typeof value === "boolean") return value ? "Y" : "N"
  return String(value)
}

const encoded = (params: unknown): string => {
  const result = Query.encode(params)
  if (Either.isLeft(result)) throw new Error(`unexpected: ${result.left.message}`)
  return result.right
}

const failure = (params: unknown) => {
  const result = Query.encode(params)
  if (Either.isRight(result)) throw new Error(`expected a ValidationError, got ${result.right}`)
  return result.left
}

describe("Query.encode", () => {
  it("writes nested params exactly as PHP's http_build_query (brackets percent-encoded)", () => {
    expect(
      encoded({ filter: { ">ID": 5, STAGE_ID: "WON" }, select: ["ID", "TITLE"], order: { ID: "ASC" }, start: -1 })
    ).toBe("filter%5B%3EID%5D=5&filter%5BSTAGE_ID%5D=WON&select%5B0%5D=ID&select%5B1%5D=TITLE&order%5BID%5D=ASC&start=-1")
  })

  it("percent-encodes like PHP's urlencode: space as +, only A-Z a-z 0-9 - _ . kept", () => {
    expect(encoded({ q: "a b&c=d?e#f+g%h~!*'()$-_." })).toBe("q=a+b%26c%3Dd%3Fe%23f%2Bg%25h%7E%21%2A%27%28%29%24-_.")
    expect(PhpText.urlencode("Новый лид")).toBe("%D0%9D%D0%BE%D0%B2%D1%8B%D0%B9+%D0%BB%D0%B8%D0%B4")
  })

  it("round-trips through parse_str: nesting, unicode, reserved characters, spaces", () => {
    const params = {
      filter: { ">=DATE_CREATE": "2024-01-01T00:00:00+03:00", "@STAGE_ID": ["NEW", "WON"], "%TITLE": "50% off & more" },
      fields: {
        TITLE: "Сделка №1 — «тест» 🚀",
        COMMENTS: "a&b=c?d#e+f%g h\nnext line",
        OPENED: true,
        CLOSED: false,
        OPPORTUNITY: 1234.5,
        PHONE: [{ VALUE: "+7 (999) 000-00-00", VALUE_TYPE: "WORK" }],
        DATE: new Date("2024-05-21T12:14:26.000Z")
      },
      select: ["ID", "UF_*", "*"],
      start: -1
    }
    expect(parseStr(encoded(params))).toEqual(phpView(params))
  })

  it("positional params (task.* methods) encode as 0=…&1[…]=…", () => {
    expect(encoded([123, { POST_MESSAGE: "hi there" }])).toBe("0=123&1%5BPOST_MESSAGE%5D=hi+there")
  })

  it("booleans become Y/N, numbers plain decimals, dates ISO strings", () => {
    expect(encoded({ a: true, b: false })).toBe("a=Y&b=N")
    expect(encoded({ big: 1e21, small: 1.5e-7, negative: -2.5e-8, zero: -0, int: 42, big2: 12345678901234567890n })).toBe(
      "big=1000000000000000000000&small=0.00000015&negative=-0.000000025&zero=0&int=42&big2=12345678901234567890"
    )
    expect(encoded({ at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) })).toBe("at=2024-01-02T03%3A04%3A05.000Z")
  })

  it("decimal never uses exponent notation and keeps every digit", () => {
    for (const value of [1e21, 1.2345e25, 1e-7, 9.87654321e-10, -3e30, 123.456, 0.1]) {
      const text = PhpText.decimal(value)
      expect(text).not.toMatch(/e/i)
      expect(Number(text)).toBe(value)
    }
  })

  it("no params, or an empty object, give an empty query", () => {
    expect(encoded(undefined)).toBe("")
    expect(encoded({})).toBe("")
  })

  it("references are encoded like any value and parse back to the expression the portal substitutes", () => {
    const ref = Query.reference("result", "c0", 49, "ID")
    expect(ref.expression).toBe("$result[c0][49][ID]")
    const query = encoded({ filter: { ">ID": ref }, start: Query.reference("next", "c1") })
    expect(query).toBe("filter%5B%3EID%5D=%24result%5Bc0%5D%5B49%5D%5BID%5D&start=%24next%5Bc1%5D")
    expect(parseStr(query)).toEqual({ filter: { ">ID": "$result[c0][49][ID]" }, start: "$next[c1]" })
  })

  it("refuses a reference the portal could not resolve", () => {
    const error = failure({ filter: { ">ID": Query.reference("result", "my label", 49) } })
    expect(error.path).toBe('params.filter[">ID"]')
  })

  it("null cannot travel: ValidationError with the path and the callRaw suggestion", () => {
    const error = failure({ fields: { TITLE: null } })
    expect(error._tag).toBe("ValidationError")
    expect(error.path).toBe("params.fields.TITLE")
    expect(error.suggestion).toBe("null cannot travel in a batch query string; use callRaw")
  })

  it.each([
    ["undefined", { fields: { TITLE: undefined } }, "params.fields.TITLE"],
    ["a function", { fields: { f: () => 1 } }, "params.fields.f"],
    ["a symbol", { s: Symbol("x") }, "params.s"],
    ["NaN", { n: Number.NaN }, "params.n"],
    ["Infinity", { select: ["ID", Number.POSITIVE_INFINITY] }, "params.select[1]"],
    ["an invalid date", { d: new Date("nope") }, "params.d"],
    ["a Map", { m: new Map([["a", 1]]) }, "params.m"],
    ["a lone surrogate", { t: "\ud800" }, "params.t"],
    ["a sparse array hole", { select: ["ID", , "TITLE"] }, "params.select[1]"]
  ])("refuses %s with its path", (_, params, path) => {
    expect(failure(params).path).toBe(path)
  })

  it("refuses empty arrays and objects instead of dropping them (an empty @ID filter would widen the query)", () => {
    expect(failure({ filter: { "@ID": [] } }).path).toBe('params.filter["@ID"]')
    expect(failure({ filter: {} }).path).toBe("params.filter")
  })

  it("refuses keys parse_str would read back differently", () => {
    expect(failure({ "entity.id": 1 }).path).toBe('params["entity.id"]')
    expect(failure({ filter: { "a]b": 1 } }).path).toBe('params.filter["a]b"]')
    expect(failure({ filter: { "": 1 } }).path).toBe('params.filter[""]')
    // nested keys keep dots and spaces in PHP
    expect(parseStr(encoded({ filter: { "a.b c": 1 } }))).toEqual({ filter: { "a.b c": "1" } })
  })

  it("refuses params that are not an object or array", () => {
    expect(failure(null).path).toBe("params")
    expect(failure("ID=5").path).toBe("params")
  })

  it("stops on self-referencing params", () => {
    const looping: Record<string, unknown> = {}
    looping.self = looping
    expect(failure({ looping }).detail).toMatch(/deeper than/)
  })

  it("uses the caller's root path", () => {
    const result = Query.encode({ fields: { TITLE: null } }, "items[3]")
    expect(Either.isLeft(result) && result.left.path).toBe("items[3].fields.TITLE")
  })
})
