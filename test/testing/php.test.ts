import { describe, expect, it } from "@effect/vitest"
import {
  arrayMerge,
  arrayReplace,
  changeKeyCaseUpper,
  encodeNumber,
  jsonDecode,
  jsonEncode,
  jsonEncodeByHand,
  parseMultipart,
  parseStr,
  PhpArray,
  phpBool,
  phpIndex,
  phpNumberToString,
  toPlain,
  urlDecode,
  xmlEncode
} from "../../src/testing/internal/php.js"

const plain = (query: string): unknown => toPlain(parseStr(query))

describe("parse_str", () => {
  it("nests brackets, appends with [] and keeps every value a string", () => {
    expect(plain("filter[>ID]=5&filter[STAGE_ID]=WON&select[]=ID&select[]=TITLE&start=-1")).toEqual({
      filter: { ">ID": "5", STAGE_ID: "WON" },
      select: ["ID", "TITLE"],
      start: "-1"
    })
    expect(plain("a[b][c]=&a[b][d]=1")).toEqual({ a: { b: { c: "", d: "1" } } })
  })

  it("decodes percent-encoded brackets, + as space, and leaves a bad % alone", () => {
    expect(plain("filter%5B%3EID%5D=5&q=a+b%26c&bad=100%&x=%zz")).toEqual({
      filter: { ">ID": "5" },
      q: "a b&c",
      bad: "100%",
      x: "%zz"
    })
    expect(urlDecode("%D0%A1%D0%B1%D0%BE%D1%80")).toBe("Сбор")
  })

  it("turns dots and spaces into _ only in the top-level name", () => {
    expect(plain("a.b[c.d]=1&x y=2&  lead=3")).toEqual({ a_b: { "c.d": "1" }, x_y: "2", lead: "3" })
  })

  it("overwrites a repeated key and skips empty names", () => {
    expect(plain("a=1&a=2&=x&[k]=y&&b")).toEqual({ a: "2", b: "" })
  })

  it("copies PHP's odd bracket edges", () => {
    // A top-level '[' without ']' becomes '_'; text after a closing ']' is ignored.
    expect(plain("a[b=1")).toEqual({ a_b: "1" })
    expect(plain("a[b]c=1")).toEqual({ a: { b: "1" } })
    expect(plain("a[b][c=1")).toEqual({ a: { b: "1" } })
    // A scalar is replaced by an array when a later key nests under it.
    expect(plain("a=1&a[x]=2")).toEqual({ a: { x: "2" } })
  })

  it("keeps insertion order of integer keys and makes them integers", () => {
    const parsed = parseStr("cmd[2]=x&cmd[4]=y&cmd[8]=z&cmd[0]=w")
    const cmd = parsed.get("cmd")
    expect(cmd).toBeInstanceOf(PhpArray)
    expect((cmd as PhpArray).keys()).toEqual([2, 4, 8, 0])
    expect(jsonEncode(parsed)).toBe('{"cmd":{"2":"x","4":"y","8":"z","0":"w"}}')
  })

  it("stops at max_input_vars and drops variables nested too deep", () => {
    const query = Array.from({ length: 1005 }, (_, i) => `v${i}=1`).join("&")
    expect(parseStr(query).size).toBe(1000)
    expect(parseStr("a[1][2][3]=x&b=1", { maxNestingLevel: 2 }).keys()).toEqual(["b"])
  })

  it("reads the text fields of a multipart body", () => {
    const body = [
      "--XyZ",
      'Content-Disposition: form-data; name="filter[>ID]"',
      "",
      "10",
      "--XyZ",
      'Content-Disposition: form-data; name="file"; filename="a.txt"',
      "",
      "ignored",
      "--XyZ",
      'Content-Disposition: form-data; name="select[]"',
      "",
      "ID",
      "--XyZ--",
      ""
    ].join("\r\n")
    expect(toPlain(parseMultipart(body, "multipart/form-data; boundary=XyZ"))).toEqual({ filter: { ">ID": "10" }, select: ["ID"] })
  })
})

describe("json_encode", () => {
  it("escapes like JSON_HEX_TAG|AMP|APOS|QUOT with unicode and slashes escaped", () => {
    expect(jsonEncode(`<a href="x">'&'</a>/`)).toBe('"\\u003Ca href=\\u0022x\\u0022\\u003E\\u0027\\u0026\\u0027\\u003C\\/a\\u003E\\/"')
    expect(jsonEncode("Сбор")).toBe('"\\u0421\\u0431\\u043e\\u0440"')
    expect(jsonEncode("😀")).toBe('"\\ud83d\\ude00"')
    expect(jsonEncode("a\\b\n\t\u0001")).toBe('"a\\\\b\\n\\t\\u0001"')
    // The encoded text is still valid JSON for the same string.
    expect(JSON.parse(jsonEncode(`<'&">/Сбор😀`))).toBe(`<'&">/Сбор😀`)
  })

  it("applies PHP's list rule: empty is [], keys 0..n-1 in order are a list, anything else an object", () => {
    expect(jsonEncode(new PhpArray())).toBe("[]")
    expect(jsonEncode({})).toBe("[]")
    expect(jsonEncode(PhpArray.from([[0, "a"], [1, "b"]]))).toBe('["a","b"]')
    expect(jsonEncode(PhpArray.from([[1, "b"], [0, "a"]]))).toBe('{"1":"b","0":"a"}')
    expect(jsonEncode(PhpArray.from([["0", "a"], ["1", "b"]]))).toBe('["a","b"]')
    expect(jsonEncode({ "0": "a", "1": "b" })).toBe('["a","b"]')
    expect(jsonEncode({ "1": "b" })).toBe('{"1":"b"}')
    expect(jsonEncode(PhpArray.from([["07", 1]]))).toBe('{"07":1}')
    expect(jsonEncode({ a: 1, b: undefined, c: [null, true, 2.5] })).toBe('{"a":1,"c":[null,true,2.5]}')
  })

  it("gives the same text on the native fast path as by hand", () => {
    const samples: ReadonlyArray<unknown> = [
      [{ ID: "1", TITLE: `a "quoted" \\ back\\"slash <b>&amp;'/`, NAME: "Сбор документов 😀", X: "\u007f\ud800" }],
      { "0": "a", "1": { "0": [], "2": {} }, nested: { a: undefined, b: [undefined, null, 1.5, -2] } },
      { a: 1e25, b: -0, c: 1e-7, d: 0.000001, e: 123456789012 },
      { a: PhpArray.from([[1, "x"], [0, "y"]]), b: [PhpArray.list(["z"])] },
      [{}, [], { a: undefined }, "", 0, false, true, null]
    ]
    for (const sample of samples) expect(jsonEncode(sample)).toBe(jsonEncodeByHand(sample))
    expect(jsonEncode(samples[3])).toBe('{"a":{"1":"x","0":"y"},"b":[["z"]]}')
    expect(jsonEncode(samples[4])).toBe('[[],[],[],"",0,false,true,null]')
  })

  it("writes numbers as PHP does", () => {
    expect(encodeNumber(1725292115.026221)).toBe("1725292115.026221")
    expect(encodeNumber(1e25)).toBe("1.0e+25")
    expect(encodeNumber(0)).toBe("0")
    expect(() => encodeNumber(Number.NaN)).toThrow()
  })
})

describe("json_decode", () => {
  it("keeps object key order, integer-like keys included", () => {
    const decoded = jsonDecode('{"halt":0,"cmd":{"2":"a","4":"b","8":"c","0":"d"}}')
    expect(decoded).toBeInstanceOf(PhpArray)
    const cmd = (decoded as PhpArray).get("cmd") as PhpArray
    expect(cmd.keys()).toEqual([2, 4, 8, 0])
    expect(jsonEncode(decoded)).toBe('{"halt":0,"cmd":{"2":"a","4":"b","8":"c","0":"d"}}')
  })

  it("decodes scalars, escapes and lists, and rejects invalid JSON", () => {
    expect(toPlain(jsonDecode(' {"a":[1,-2.5e1,true,false,null,"x\\u0041\\n"]} '))).toEqual({ a: [1, -25, true, false, null, "xA\n"] })
    for (const bad of ["", "{", '{"a":1,}', "[1 2]", "{'a':1}", "01", '"\u0001"', "[1]x"]) {
      expect(() => jsonDecode(bad)).toThrow()
    }
  })
})

describe("PHP casts and array functions", () => {
  it("casts to bool like PHP: the string 'false' is TRUE", () => {
    expect(phpBool("false")).toBe(true)
    expect(phpBool("0")).toBe(false)
    expect(phpBool("")).toBe(false)
    expect(phpBool(0)).toBe(false)
    expect(phpBool(null)).toBe(false)
    expect(phpBool("1")).toBe(true)
    expect(phpBool(new PhpArray())).toBe(false)
  })

  it("prints numbers as PHP's (string)", () => {
    expect(phpNumberToString(58943)).toBe("58943")
    expect(phpNumberToString(0.1 + 0.2)).toBe("0.3")
    expect(phpNumberToString(1e20)).toBe("1.0E+20")
    expect(phpNumberToString(1.5e-7)).toBe("1.5E-7")
  })

  it("array_merge renumbers integer keys; array_replace keeps them", () => {
    const a = PhpArray.from([[5, "x"], ["k", "a"]])
    const b = PhpArray.from([[5, "y"], ["k", "b"]])
    expect(jsonEncode(arrayMerge(a, b))).toBe('{"0":"x","k":"b","1":"y"}')
    expect(jsonEncode(arrayReplace(a, b))).toBe('{"5":"y","k":"b"}')
    expect(changeKeyCaseUpper(PhpArray.from([["cmd", 1], ["CMD", 2], ["halt", 3]])).entries()).toEqual([
      ["CMD", 2],
      ["HALT", 3]
    ])
  })

  it("answers isset-style lookups: null is not set, strings index characters", () => {
    expect(phpIndex([{ ID: "7" }], "0")).toEqual({ found: true, value: { ID: "7" } })
    expect(phpIndex([1], "1")).toEqual({ found: false })
    expect(phpIndex({ a: null }, "a")).toEqual({ found: false })
    expect(phpIndex("abc", "1")).toEqual({ found: true, value: "b" })
    expect(phpIndex("abc", "ID")).toEqual({ found: false })
  })

  it("writes Bitrix's XML with numeric keys as <item>", () => {
    expect(xmlEncode(PhpArray.from([["result", [{ ID: "1" }, { ID: "a<b" }]], ["ok", true]]))).toBe(
      "<result><item><ID>1</ID></item><item><ID>a&lt;b</ID></item></result><ok>1</ok>"
    )
  })
})
