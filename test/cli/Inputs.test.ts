import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type { ValidationError } from "../../src/BitrixError.js"
import { listParams, parseBatchCommands, parseIds, parseItems, parseJsonObject, parseSelect } from "../../src/cli/Inputs.js"

const errorOf = <A>(either: Either.Either<A, ValidationError>): ValidationError => {
  if (Either.isRight(either)) throw new Error(`expected a ValidationError, got ${JSON.stringify(either.right)}`)
  return either.left
}

describe("parseJsonObject", () => {
  it("accepts a JSON object", () => {
    expect(parseJsonObject("--filter", '{">ID": 100, "STAGE_ID": "WON"}')).toEqual(Either.right({ ">ID": 100, STAGE_ID: "WON" }))
  })

  it("names the flag for bad JSON and for a value that is not an object", () => {
    expect(errorOf(parseJsonObject("--filter", "{bad")).path).toBe("--filter")
    expect(errorOf(parseJsonObject("--order", "[1]")).detail).toBe("expected a JSON object, got an array")
    expect(errorOf(parseJsonObject("--params", "null")).detail).toBe("expected a JSON object, got null")
  })
})

describe("parseSelect and listParams", () => {
  it("splits fields and drops blanks", () => {
    expect(parseSelect(" ID, TITLE ,,UF_*")).toEqual(Either.right(["ID", "TITLE", "UF_*"]))
    expect(errorOf(parseSelect(" , ")).path).toBe("--select")
  })

  it("puts only the given parts into the params", () => {
    expect(listParams({ select: undefined, filter: undefined, order: undefined })).toEqual({})
    expect(listParams({ select: ["ID"], filter: { ">ID": 1 }, order: undefined })).toEqual({ select: ["ID"], filter: { ">ID": 1 } })
  })
})

describe("parseIds", () => {
  it("reads one ID a line, skipping blank lines and CRLF endings", () => {
    expect(parseIds("ids.txt", "1\r\n2\n\n  3 \n")).toEqual(Either.right(["1", "2", "3"]))
  })

  it("names the line holding more than one ID, and refuses an empty list", () => {
    expect(errorOf(parseIds("ids.txt", "1\n2,3\n")).path).toBe("ids.txt:2")
    expect(errorOf(parseIds("stdin", "\n\n")).detail).toBe("no IDs")
  })
})

describe("parseItems", () => {
  it("reads one JSON object a line", () => {
    expect(parseItems("items.ndjson", '{"fields":{"TITLE":"A"}}\n\n{"ID":2}\n')).toEqual(
      Either.right([{ fields: { TITLE: "A" } }, { ID: 2 }])
    )
  })

  it("names the line that is not a JSON object", () => {
    const error = errorOf(parseItems("items.ndjson", '{"ID":1}\n[2]\n'))
    expect(error.path).toBe("items.ndjson:2")
    expect(error.detail).toBe("expected a JSON object, got an array")
  })
})

describe("parseBatchCommands", () => {
  it("accepts query strings and method/params objects", () => {
    expect(
      parseBatchCommands('{"a":"crm.deal.get?id=1","b":{"method":"crm.deal.list","params":{"select":["ID"]}},"c":{"method":"user.current"}}')
    ).toEqual(
      Either.right({
        a: "crm.deal.get?id=1",
        b: { method: "crm.deal.list", params: { select: ["ID"] } },
        c: { method: "user.current" }
      })
    )
  })

  it("names the command that has the wrong shape", () => {
    expect(errorOf(parseBatchCommands('{"a":5}')).path).toBe("--cmd.a")
    expect(errorOf(parseBatchCommands('{"a":{"method":"x.y","params":[1]}}')).path).toBe("--cmd.a.params")
    expect(errorOf(parseBatchCommands("{}")).detail).toBe("no commands")
  })
})
