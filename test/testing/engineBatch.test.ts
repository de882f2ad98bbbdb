import { describe, expect, it } from "@effect/vitest"
import type { FakePortalOptions } from "../../src/testing/Options.js"
import { PortalEngine } from "../../src/testing/internal/engine.js"
import { PhpArray } from "../../src/testing/internal/php.js"
import { substituteValue } from "../../src/testing/internal/engineBatch.js"
import type { PortalOutcome } from "../../src/testing/internal/types.js"
import { makeTestTable } from "./engineTestTable.js"

const hook = "/rest/1/secret/"

const setup = (options: FakePortalOptions = {}) => {
  const table = makeTestTable()
  const engine = new PortalEngine({ costModel: "zero", limits: "off", webhook: { userId: 1, code: "secret" }, ...options }, 0, table)
  /** Sends the raw JSON text, so integer-like keys keep the order they are written in. */
  const batchJson = (json: string): PortalOutcome =>
    engine.handle({ httpMethod: "POST", url: `${hook}batch`, headers: { "content-type": "application/json" }, body: json }, 0)
  const batchForm = (form: string): PortalOutcome =>
    engine.handle({ httpMethod: "POST", url: `${hook}batch`, headers: { "content-type": "application/x-www-form-urlencoded" }, body: form }, 0)
  return { engine, table, batchJson, batchForm }
}

const text = (outcome: PortalOutcome): string => {
  if (outcome._tag !== "Response") throw new Error(`expected a response, got ${outcome._tag}`)
  expect(outcome.status).toBe(200)
  return outcome.body
}

/** The batch's `result` (the five maps) as JSON text, `time` blocks removed by a regex on the known shape. */
const maps = (outcome: PortalOutcome): Record<string, unknown> =>
  (JSON.parse(text(outcome)) as { result: Record<string, unknown> }).result

const cmdJson = (commands: ReadonlyArray<readonly [string, string]>, extra = ""): string =>
  `{${extra}"cmd":{${commands.map(([key, command]) => `${JSON.stringify(key)}:${JSON.stringify(command)}`).join(",")}}}`

describe("batch maps follow PHP's array rules", () => {
  it("gives lists for keys 0..n-1 and [] for empty maps (fixture crm_get_batch_of_two_error)", () => {
    const { batchJson } = setup()
    const body = text(batchJson('{"halt":0,"cmd":["crm.deal.get?ID=0","crm.deal.get?ID=999"]}'))
    expect(body.slice(0, body.indexOf(',"time":'))).toBe(
      '{"result":{"result":[],"result_error":[{"error":"","error_description":"ID is not defined or invalid."},' +
        '{"error":"","error_description":"Not found"}],"result_total":[],"result_next":[],"result_time":[]}'
    )
  })

  it("keeps the insertion order of integer keys (fixture crm_dealcategory_stage_list)", () => {
    const { batchJson, batchForm } = setup()
    const commands = [
      ["2", "crm.deal.get?ID=2&"],
      ["4", "crm.deal.get?ID=4&"],
      ["8", "crm.deal.get?ID=8&"],
      ["0", "crm.deal.get?ID=10&"]
    ] as const
    for (const outcome of [
      batchJson(cmdJson(commands, '"halt":0,')),
      batchForm(commands.map(([key, command]) => `cmd[${key}]=${encodeURIComponent(command)}`).join("&"))
    ]) {
      const body = text(outcome)
      expect(body).toMatch(/^\{"result":\{"result":\{"2":\{"ID":"2","TITLE":"Deal 2"\},"4":\{[^}]*\},"8":\{[^}]*\},"0":\{"ID":"10"/)
      expect(body).toMatch(/"result_time":\{"2":\{"start":[^}]*\},"4":\{[^}]*\},"8":\{[^}]*\},"0":\{/)
    }
  })

  it("turns a batch keyed {0: …} into lists (fixture crm_dealcategory_stage_list_batch_of_one)", () => {
    const { batchJson } = setup()
    const result = maps(batchJson('{"cmd":{"0":"crm.deal.get?ID=3"}}'))
    expect(result["result"]).toEqual([{ ID: "3", TITLE: "Deal 3" }])
    expect(Array.isArray(result["result_time"])).toBe(true)
    expect(result["result_error"]).toEqual([])
  })

  it("lists total only for commands with a total and next only for commands with a next page", () => {
    const { batchJson } = setup()
    const result = maps(
      batchJson(cmdJson([["a", "crm.deal.list?start=0"], ["b", "crm.deal.list?start=100"], ["c", "crm.deal.list?start=-1"], ["d", "crm.deal.add"]]))
    )
    expect(result["result_total"]).toEqual({ a: 120, b: 120 })
    expect(result["result_next"]).toEqual({ a: 50 })
    expect(result["result"]).toMatchObject({ d: 121 })
    expect(Object.keys(result["result_time"] as object)).toEqual(["a", "b", "c", "d"])
  })

  it("always has the five maps, even without cmd", () => {
    const { batchJson } = setup()
    expect(maps(batchJson('{"halt":1}'))).toEqual({ result: [], result_error: [], result_total: [], result_next: [], result_time: [] })
    expect(maps(batchJson('{"cmd":"crm.deal.get?ID=1"}'))["result"]).toEqual([])
  })
})

describe("batch execution", () => {
  it("reads cmd and halt case-insensitively and stops after the first failure with halt", () => {
    const { batchJson, table } = setup()
    const result = maps(batchJson(cmdJson([["a", "crm.deal.get?ID=1"], ["b", "crm.deal.get?ID=999"], ["c", "crm.deal.add"]], '"HALT":1,').replace('"cmd"', '"CMD"')))
    expect(result["result"]).toEqual({ a: { ID: "1", TITLE: "Deal 1" } })
    expect(result["result_error"]).toEqual({ b: { error: "", error_description: "Not found" } })
    expect(Object.keys(result["result_time"] as object)).toEqual(["a"])
    expect(table.writesPerformed()).toEqual({})
  })

  it("casts halt with PHP (bool): the string 'false' halts, '0' does not", () => {
    const commands = "cmd[a]=crm.deal.get%3FID%3D999&cmd[b]=crm.deal.get%3FID%3D1"
    const halted = maps(setup().batchForm(`halt=false&${commands}`))
    expect(halted["result"]).toEqual([])
    const notHalted = maps(setup().batchForm(`halt=0&${commands}`))
    expect(notHalted["result"]).toEqual({ b: { ID: "1", TITLE: "Deal 1" } })
  })

  it("runs at most 50 commands; later ones fail with ERROR_BATCH_LENGTH_EXCEEDED in a 200", () => {
    const { batchJson, engine } = setup()
    const commands = Array.from({ length: 53 }, (_, i) => [`c${i}`, `crm.deal.get?ID=${i + 1}`] as const)
    const result = maps(batchJson(cmdJson(commands)))
    expect(Object.keys(result["result"] as object)).toHaveLength(50)
    expect(result["result_error"]).toEqual({
      c50: { error: "ERROR_BATCH_LENGTH_EXCEEDED", error_description: "Max batch length exceeded" },
      c51: { error: "ERROR_BATCH_LENGTH_EXCEEDED", error_description: "Max batch length exceeded" },
      c52: { error: "ERROR_BATCH_LENGTH_EXCEEDED", error_description: "Max batch length exceeded" }
    })
    expect(engine.stats().batchCommandsByMethod).toEqual({ "crm.deal.get": 50 })
  })

  it("skips non-string commands silently but counts them toward the 50", () => {
    const { batchJson } = setup()
    const values = Array.from({ length: 51 }, (_, i) => (i === 1 ? "5" : `"crm.deal.get?ID=${i + 1}"`))
    const result = maps(batchJson(`{"cmd":[${values.join(",")}]}`))
    expect(Object.keys(result["result"] as object)).toHaveLength(49)
    expect(Object.keys(result["result_error"] as object)).toEqual(["50"])
  })

  it("refuses a nested batch and reports unknown methods per command", () => {
    const { batchJson } = setup()
    const result = maps(batchJson(cmdJson([["a", "batch?cmd[x]=crm.deal.get"], ["b", "crm.nothing"], ["c", "CRM.DEAL.GET?ID=2#frag"], ["d", "echo"]])))
    expect(result["result_error"]).toEqual({
      a: { error: "ERROR_BATCH_METHOD_NOT_ALLOWED", error_description: "Method is not allowed for batch usage" },
      b: { error: "ERROR_METHOD_NOT_FOUND", error_description: "Method not found!" }
    })
    expect(result["result"]).toEqual({ c: { ID: "2", TITLE: "Deal 2" }, d: [] })
  })

  it("parses each command's query with parse_str", () => {
    const { batchJson, table } = setup()
    batchJson(cmdJson([["a", "echo?filter%5B%3EID%5D=5&select[]=ID&a.b=x+y"]]))
    expect(table.calls[0]!.params).toEqual({ filter: { ">ID": "5" }, select: ["ID"], a_b: "x y" })
  })
})

describe("$result substitution", () => {
  it("chains keyset pages and falls back to the deepest value found when a page is short", () => {
    const { batchJson, table } = setup()
    const page = (after: string) => `crm.deal.list?start=-1&order[ID]=ASC&filter[>ID]=${after}`
    const result = maps(
      batchJson(cmdJson([["a", page("0")], ["b", page("$result[a][49][ID]")], ["c", page("$result[b][49][ID]")], ["d", page("$result[c][49][ID]")]]))
    )
    const rows = result["result"] as Record<string, Array<{ ID: string }>>
    expect(rows["b"]![0]!.ID).toBe("51")
    expect(rows["c"]!.map((row) => row.ID)).toEqual(Array.from({ length: 20 }, (_, i) => String(101 + i)))
    // c returned 20 rows: $result[c][49] does not exist, so the value is the whole c result.
    const dParams = table.calls[3]!.params as { filter: Record<string, unknown> }
    expect(dParams.filter[">ID"]).toEqual(rows["c"])
  })

  it("chains offset pages with $next", () => {
    const { batchJson, table } = setup()
    const result = maps(batchJson(cmdJson([["a", "crm.deal.list?start=0"], ["b", "crm.deal.list?start=$next[a]"], ["c", "crm.deal.list?start=$NEXT[b]"]])))
    expect(table.calls.map((call) => (call.params as { start: unknown }).start)).toEqual(["0", 50, null])
    // $NEXT is looked up as typed and resolves to null, which the method reads as start 0.
    expect(result["result_next"]).toEqual({ a: 50, b: 100, c: 50 })
  })

  it("keeps the type of a whole-value reference and splices only strings and numbers into text", () => {
    const { batchJson, table } = setup()
    batchJson(
      cmdJson([
        ["a", "crm.deal.list?start=100"],
        ["b", "crm.deal.get?ID=999"],
        [
          "e",
          "echo?whole=$total[a]&embedded=n$total[a]&title=[$result[a][0][TITLE]]&array=x$result[a]" +
            "&error=$error[b][error_description]&time=$time[a][processing]&missing=$result[zz]&upper=$RESULT[a]&none=$result"
        ]
      ])
    )
    const params = table.calls[2]!.params as Record<string, unknown>
    expect(params["whole"]).toBe(120)
    expect(params["embedded"]).toBe("n120")
    // The reference runs to the next whitespace, so a closing "]" after it is swallowed, as in PHP.
    expect(params["title"]).toBe("[Deal 101")
    // An array (or null) cannot be spliced into text: the newest core leaves the reference as it is.
    expect(params["array"]).toBe("x$result[a]")
    expect(params["error"]).toBe("Not found")
    expect(params["time"]).toBe(0)
    // A missing command stops the walk at `$arResult['result']`: the map of all results so far.
    expect(Object.keys(params["missing"] as object)).toEqual(["a"])
    // The name is matched case-insensitively but looked up as typed.
    expect(params["upper"]).toBeNull()
    expect(params["none"]).toBe("$result")
  })

  it("walks PhpArray, lists, objects and strings like PHP's isset", () => {
    const outputs = {
      result: PhpArray.from([["a", { items: [{ id: 7 }] }], ["s", "abc"]]),
      next: new PhpArray(),
      total: new PhpArray(),
      time: new PhpArray(),
      error: new PhpArray()
    }
    expect(substituteValue("$result[a][items][0][id]", outputs)).toBe(7)
    expect(substituteValue("id>$result[a][items][0][id] and $result[s][1]", outputs)).toBe("id>7 and b")
    expect(substituteValue("$result[a][items][5][id]", outputs)).toEqual([{ id: 7 }])
  })
})
