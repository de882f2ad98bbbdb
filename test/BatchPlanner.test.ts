import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Schema } from "effect"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as BatchPlanner from "../src/BatchPlanner.js"
import * as Batch from "../src/internal/batch.js"
import * as Envelope from "../src/Envelope.js"
import * as Query from "../src/Query.js"

// The recorded responses live in the shared folder; a copy under test/fixtures wins when present.
const fixturesDir = [
  fileURLToPath(new URL("./fixtures/real-responses", import.meta.url)),
  "/work/shared/fixtures/real-responses"
].find((dir) => existsSync(dir))

const right = <A, E>(either: Either.Either<A, E>): A => {
  if (Either.isLeft(either)) throw new Error(`unexpected Left: ${String(either.left)}`)
  return either.right
}

const left = <A, E>(either: Either.Either<A, E>): E => {
  if (Either.isRight(either)) throw new Error(`expected a Left, got ${JSON.stringify(either.right)}`)
  return either.left
}

const decodeBatch = Schema.decodeUnknownSync(Envelope.BatchResult)

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A raw PHP map as JSON gave it: an object keyed by label, or a list whose indexes are the labels. */
const rawLookup = (map: unknown, label: string): { readonly found: boolean; readonly value?: unknown } => {
  if (Array.isArray(map)) {
    const index = /^\d+$/.test(label) ? Number(label) : -1
    return index >= 0 && index < map.length ? { found: true, value: map[index] } : { found: false }
  }
  return isRecord(map) && Object.prototype.hasOwnProperty.call(map, label) ? { found: true, value: map[label] } : { found: false }
}

const rawKeys = (map: unknown): ReadonlyArray<string> =>
  Array.isArray(map) ? map.map((_, index) => String(index)) : isRecord(map) ? Object.keys(map) : []

const mapNames = ["result", "result_error", "result_total", "result_next", "result_time"] as const

interface RecordedBatch {
  readonly name: string
  readonly labels: ReadonlyArray<string>
  readonly raw: Record<string, unknown>
}

/** Every batch response among the fixtures, with the labels it was sent with (from its request when recorded). */
const recordedBatches = (): ReadonlyArray<RecordedBatch> => {
  if (fixturesDir === undefined) throw new Error("fixtures/real-responses not found")
  const batches: Array<RecordedBatch> = []
  for (const file of readdirSync(fixturesDir).filter((name) => name.endsWith(".json")).sort()) {
    const json: unknown = JSON.parse(readFileSync(`${fixturesDir}/${file}`, "utf8"))
    const requestCmd = isRecord(json) && isRecord(json.request) && isRecord(json.request.params) ? json.request.params.cmd : undefined
    const responses = Array.isArray(json) ? json : [isRecord(json) && "response" in json ? json.response : json]
    responses.forEach((response, position) => {
      const raw = isRecord(response) ? response.result : undefined
      if (!isRecord(raw) || !mapNames.every((name) => name in raw)) return
      const labels = requestCmd !== undefined ? rawKeys(requestCmd) : [...new Set(mapNames.flatMap((name) => rawKeys(raw[name])))]
      batches.push({ name: `${file.replace(/\.json$/, "")}[${position}]`, labels, raw })
    })
  }
  return batches
}

const batchOf = (labels: ReadonlyArray<string>, method = "crm.lead.get"): BatchPlanner.PlannedBatch => ({
  commands: labels.map((label, index) => ({ label, method, params: {}, index }))
})

const tally = (outcomes: ReadonlyArray<BatchPlanner.CommandOutcome>) => ({
  Success: outcomes.filter((outcome) => outcome._tag === "Success").length,
  Failure: outcomes.filter((outcome) => outcome._tag === "Failure").length,
  Missing: outcomes.filter((outcome) => outcome._tag === "Missing").length
})

const byLabel = (outcomes: ReadonlyArray<BatchPlanner.CommandOutcome>, label: string) => {
  const outcome = outcomes.find((candidate) => candidate.label === label)
  if (outcome === undefined) throw new Error(`no outcome for ${label}`)
  return outcome
}

const success = (outcome: BatchPlanner.CommandOutcome) => {
  if (outcome._tag !== "Success") throw new Error(`expected Success for ${outcome.label}, got ${outcome._tag}`)
  return outcome
}

const failure = (outcome: BatchPlanner.CommandOutcome) => {
  if (outcome._tag !== "Failure") throw new Error(`expected Failure for ${outcome.label}, got ${outcome._tag}`)
  return outcome
}

/** What each recorded batch must unpack to, beyond the generic agreement with the raw JSON. */
const expectations: Record<
  string,
  {
    readonly tally: ReturnType<typeof tally>
    readonly check?: (outcomes: ReadonlyArray<BatchPlanner.CommandOutcome>) => void
  }
> = {
  "batch_list_empty[0]": {
    tally: { Success: 1, Failure: 0, Missing: 0 },
    check: (outcomes) => {
      const only = success(outcomes[0]!)
      expect(only.result).toEqual([])
      expect(only.total).toBe(0)
      expect(only.next).toBeUndefined()
      expect(only.time?.operating).toBe(0)
    }
  },
  "call_batch[0]": {
    tally: { Success: 2, Failure: 0, Missing: 0 },
    check: (outcomes) => {
      const statuses = success(byLabel(outcomes, "statuses")).result
      expect(Array.isArray(statuses) && statuses[0]).toMatchObject({ STATUS_ID: "NEW", SORT: 10 })
      expect(success(byLabel(outcomes, "sources")).total).toBeUndefined()
    }
  },
  "call_several_success[0]": {
    tally: { Success: 3, Failure: 0, Missing: 0 },
    check: (outcomes) => expect(success(byLabel(outcomes, "order1")).result).toMatchObject({ ID: "161" })
  },
  "call_single_success[0]": {
    tally: { Success: 1, Failure: 0, Missing: 0 },
    check: (outcomes) => expect(success(outcomes[0]!).result).toMatchObject({ ID: "35943", HONORIFIC: null })
  },
  "crm_company_contact_items_get[0]": {
    tally: { Success: 1, Failure: 0, Missing: 0 },
    check: (outcomes) => {
      const raw = success(byLabel(outcomes, "205364"))
      expect(raw.result).toEqual([
        { CONTACT_ID: 350354, SORT: 10, ROLE_ID: 0, IS_PRIMARY: "Y" },
        { CONTACT_ID: 369658, SORT: 10, ROLE_ID: 0, IS_PRIMARY: "Y" }
      ])
      expect(raw.time?.operating).toBeGreaterThan(0)
    }
  },
  "crm_contact_add_batch[0]": {
    tally: { Success: 1, Failure: 0, Missing: 0 },
    check: (outcomes) => expect(success(outcomes[0]!).result).toBe(58943)
  },
  "crm_dealcategory_stage_list[0]": {
    tally: { Success: 4, Failure: 0, Missing: 0 },
    check: (outcomes) => {
      const stages = success(byLabel(outcomes, "2")).result
      expect(Array.isArray(stages) && stages[0]).toMatchObject({ STATUS_ID: "C2:NEW" })
      expect(Array.isArray(success(byLabel(outcomes, "0")).result)).toBe(true)
    }
  },
  "crm_get_batch_of_two_error[0]": {
    tally: { Success: 0, Failure: 2, Missing: 0 },
    check: (outcomes) => {
      expect(failure(byLabel(outcomes, "0")).error).toEqual({ error: "", error_description: "ID is not defined or invalid." })
      expect(failure(byLabel(outcomes, "1")).error).toEqual({ error: "", error_description: "Not found" })
    }
  },
  "crm_item_add[0]": {
    tally: { Success: 1, Failure: 0, Missing: 0 },
    check: (outcomes) => expect(success(outcomes[0]!).result).toMatchObject({ item: { id: 247, entityTypeId: 133 } })
  },
  "crm_item_productrow_list[0]": {
    tally: { Success: 1, Failure: 0, Missing: 0 },
    check: (outcomes) => expect(success(outcomes[0]!).total).toBe(2)
  },
  "crm_lead_get_batch_error[0]": {
    tally: { Success: 0, Failure: 1, Missing: 0 },
    check: (outcomes) => expect(failure(outcomes[0]!).error.error_description).toBe("ID is not defined or invalid.")
  },
  "crm_lead_list_several_pages_success[1]": {
    tally: { Success: 50, Failure: 0, Missing: 0 },
    check: (outcomes) => {
      expect(success(outcomes[0]!).next).toBe(100)
      expect(success(outcomes[0]!).total).toBe(7531)
    }
  },
  "crm_lead_list_several_pages_success[2]": { tally: { Success: 50, Failure: 0, Missing: 0 } },
  "crm_lead_list_several_pages_success[3]": {
    tally: { Success: 50, Failure: 0, Missing: 0 },
    check: (outcomes) => {
      const last = success(byLabel(outcomes, "cmd49"))
      // the start=7500 command has no next page: absent from result_next
      expect(last.next).toBeUndefined()
      expect(Array.isArray(last.result) && last.result.length).toBe(31)
    }
  },
  "crm_stagehistory_list[0]": {
    tally: { Success: 1, Failure: 0, Missing: 0 },
    check: (outcomes) => expect(success(outcomes[0]!).total).toBe(9)
  },
  "lists_element_add_batch[0]": {
    tally: { Success: 2, Failure: 0, Missing: 0 },
    check: (outcomes) => expect(outcomes.map((outcome) => success(outcome).result)).toEqual([53, 55])
  },
  "stagehistory[1]": { tally: { Success: 9, Failure: 0, Missing: 0 } },
  "task_elapseditem_getlist_mixed_types[0]": {
    tally: { Success: 50, Failure: 0, Missing: 0 },
    check: (outcomes) => {
      expect(success(byLabel(outcomes, "145572")).result).toEqual([])
      const rows = success(byLabel(outcomes, "144518")).result
      expect(Array.isArray(rows) && rows[0]).toMatchObject({ TASK_ID: "144518" })
    }
  }
}

describe("BatchPlanner.unpack over recorded batch responses", () => {
  const batches = recordedBatches()

  it("finds every recorded batch response", () => {
    expect(batches.map((batch) => batch.name).sort()).toEqual(Object.keys(expectations).sort())
  })

  it.each(batches.map((batch) => [batch.name, batch] as const))("%s", (name, { labels, raw }) => {
    const decoded = decodeBatch(raw)
    // outcomes follow the batch's order, whatever order the maps list the labels in
    const order = [...labels].reverse()
    const outcomes = Batch.unpack(batchOf(order), decoded)
    expect(outcomes.map((outcome) => outcome.label)).toEqual(order)
    expect(outcomes.map((outcome) => outcome.index)).toEqual(order.map((_, index) => index))
    for (const outcome of outcomes) {
      const error = rawLookup(raw.result_error, outcome.label)
      const result = rawLookup(raw.result, outcome.label)
      if (error.found) {
        expect(failure(outcome).error).toEqual(error.value)
      } else {
        expect(result.found).toBe(true)
        const ok = success(outcome)
        expect(ok.result).toEqual(result.value)
        expect(ok.total).toEqual(rawLookup(raw.result_total, outcome.label).value)
        expect(ok.next).toEqual(rawLookup(raw.result_next, outcome.label).value)
        expect(ok.time).toEqual(rawLookup(raw.result_time, outcome.label).value)
      }
    }
    const expected = expectations[name]
    expect(expected).toBeDefined()
    expect(tally(outcomes)).toEqual(expected!.tally)
    expected!.check?.(Batch.unpack(batchOf(labels), decoded))
  })

  it("a label absent from every map is Missing", () => {
    const lists = batches.find((batch) => batch.name === "lists_element_add_batch[0]")!
    const outcomes = Batch.unpack(batchOf(["order0000000000", "order0000000001", "order0000000002"]), decodeBatch(lists.raw))
    expect(outcomes.map((outcome) => outcome._tag)).toEqual(["Success", "Success", "Missing"])
  })

  it("mixed success and errors (crm_get_batch_mix_success_and_errors): errors as a list, the success keyed by ID", () => {
    // IDs 0 and 1 failed, so PHP's error map has keys 0..1 and travels as a list
    const raw = {
      result: { "35943": { ID: "35943", TITLE: "lead" } },
      result_error: [
        { error: "", error_description: "ID is not defined or invalid." },
        { error: "", error_description: "Not found" }
      ],
      result_total: [],
      result_next: [],
      result_time: { "35943": { start: 1, finish: 2, duration: 1, processing: 1 } }
    }
    const outcomes = Batch.unpack(batchOf(["0", "1", "35943"]), decodeBatch(raw))
    expect(outcomes.map((outcome) => outcome._tag)).toEqual(["Failure", "Failure", "Success"])
    expect(failure(outcomes[1]!).error.error_description).toBe("Not found")
    expect(success(outcomes[2]!).result).toEqual({ ID: "35943", TITLE: "lead" })
    expect(success(outcomes[2]!).time?.duration).toBe(1)
  })

  it("after halt, the failed command is a Failure and the rest are Missing", () => {
    const raw = {
      result: { c0000: 11 },
      result_error: { c0001: { error: "ERROR_CORE", error_description: "boom" } },
      result_total: [],
      result_next: [],
      result_time: { c0000: { duration: 0.01 } }
    }
    const outcomes = Batch.unpack(batchOf(["c0000", "c0001", "c0002", "c0003"]), decodeBatch(raw))
    expect(outcomes.map((outcome) => outcome._tag)).toEqual(["Success", "Failure", "Missing", "Missing"])
    expect(failure(outcomes[1]!).error.error).toBe("ERROR_CORE")
  })

  it("a null result is still a Success (the command ran)", () => {
    const raw = { result: { c0000: null }, result_error: [], result_total: [], result_next: [], result_time: [] }
    const outcomes = Batch.unpack(batchOf(["c0000"]), decodeBatch(raw))
    expect(success(outcomes[0]!).result).toBeNull()
  })
})

describe("BatchPlanner.plan", () => {
  const items = (count: number) => Array.from({ length: count }, (_, index) => ({ id: index + 1 }))

  it.each([
    [0, 50, []],
    [1, 50, [1]],
    [50, 50, [50]],
    [51, 50, [50, 1]],
    [120, 50, [50, 50, 20]],
    [120, 10, Array.from({ length: 12 }, () => 10)],
    [25, 10, [10, 10, 5]]
  ])("%i items with batchSize %i -> batches of %j", (count, batchSize, sizes) => {
    const batches = right(Batch.plan("crm.lead.get", items(count), { batchSize }))
    expect(batches.map((batch) => batch.commands.length)).toEqual(sizes)
    const commands = batches.flatMap((batch) => batch.commands)
    expect(commands.map((command) => command.index)).toEqual(items(count).map((_, index) => index))
    expect(commands.map((command) => command.params)).toEqual(items(count))
    expect(commands.every((command) => command.method === "crm.lead.get")).toBe(true)
  })

  it("labels are c0000… by position in the batch: unique within it, never pure digits, in the batch's order", () => {
    const small = right(Batch.plan("crm.lead.get", items(120))).flatMap((batch) => batch.commands)
    expect(small.slice(0, 2).map((command) => command.label)).toEqual(["c0000", "c0001"])
    // item 119 is the 20th command of the third batch of 50
    expect(small[119]!.label).toBe("c0019")
    expect(small[119]!.index).toBe(119)
    const large = right(Batch.plan("crm.lead.get", items(12_345)))
    // 246 full batches and one of 12,345 - 246 * 50 = 45 commands
    expect(large.length).toBe(247)
    expect(large.at(-1)!.commands.length).toBe(45)
    for (const batch of large) {
      const labels = batch.commands.map((command) => command.label)
      expect(labels).toEqual(Array.from({ length: labels.length }, (_, position) => `c${String(position).padStart(4, "0")}`))
      expect(new Set(labels).size).toBe(labels.length)
      expect(labels.some((label) => /^\d+$/.test(label))).toBe(false)
      expect([...labels].sort()).toEqual(labels)
    }
    // a smaller batch size numbers its own positions: item 20 is the 7th command of the third batch of 7
    const sevens = right(Batch.plan("crm.lead.get", items(30), { batchSize: 7 })).flatMap((batch) => batch.commands)
    expect(sevens[20]!.label).toBe("c0006")
  })

  it("refuses a bad batch size, a bad method and a nested batch", () => {
    expect(left(Batch.plan("crm.lead.get", items(3), { batchSize: 0 })).path).toBe("batchSize")
    expect(left(Batch.plan("crm.lead.get", items(3), { batchSize: 51 })).path).toBe("batchSize")
    expect(left(Batch.plan("crm.lead.get", items(3), { batchSize: 2.5 })).path).toBe("batchSize")
    expect(left(Batch.plan("crm.lead.get?id=1", items(3))).path).toBe("method")
    expect(left(Batch.plan("batch", items(3))).detail).toMatch(/another batch/)
  })

  it("validates every item before any batch is sent, naming the item", () => {
    const input = [{ id: 1 }, { id: 2 }, { id: 3 }, { fields: { TITLE: null } }]
    const error = left(Batch.plan("crm.lead.update", input))
    expect(error.path).toBe("items[3].fields.TITLE")
    expect(error.suggestion).toBe("null cannot travel in a batch query string; use callRaw")
  })
})

describe("BatchPlanner.toBatchParams", () => {
  it("writes halt as 0/1 and each command as method?query in PHP encoding", () => {
    const [batch] = right(
      Batch.plan("crm.deal.list", [
        { filter: { ">ID": 0 }, order: { ID: "ASC" }, select: ["ID"], start: -1 },
        { filter: { ">ID": Query.reference("result", "c0000", 49, "ID") }, order: { ID: "ASC" }, select: ["ID"], start: -1 },
        { fields: { OPENED: true, TITLE: "A & B" } }
      ])
    )
    const params = right(Batch.toBatchParams(batch!, false))
    expect(params.halt).toBe(0)
    expect(params.cmd).toEqual({
      c0000: "crm.deal.list?filter%5B%3EID%5D=0&order%5BID%5D=ASC&select%5B0%5D=ID&start=-1",
      c0001:
        "crm.deal.list?filter%5B%3EID%5D=%24result%5Bc0000%5D%5B49%5D%5BID%5D&order%5BID%5D=ASC&select%5B0%5D=ID&start=-1",
      c0002: "crm.deal.list?fields%5BOPENED%5D=Y&fields%5BTITLE%5D=A+%26+B"
    })
    // execution follows the key order of cmd: the planner's labels keep insertion order in JSON
    expect(Object.keys(JSON.parse(JSON.stringify(params.cmd)))).toEqual(["c0000", "c0001", "c0002"])
    expect(right(Batch.toBatchParams(batch!, true)).halt).toBe(1)
  })

  it("a method without params is sent bare", () => {
    const [batch] = right(Batch.plan("user.current", [undefined, {}]))
    expect(right(Batch.toBatchParams(batch!, false)).cmd).toEqual({ c0000: "user.current", c0001: "user.current" })
  })

  it("an encoding problem names the item's input index", () => {
    const batch: BatchPlanner.PlannedBatch = {
      commands: [
        { label: "c0003", method: "crm.lead.add", params: { fields: { TITLE: "ok" } }, index: 3 },
        { label: "c0004", method: "crm.lead.add", params: { fields: { TITLE: undefined } }, index: 4 }
      ]
    }
    expect(left(Batch.toBatchParams(batch, false)).path).toBe("items[4].fields.TITLE")
  })

  it("refuses duplicate labels and more than 50 commands", () => {
    const twice: BatchPlanner.PlannedBatch = { commands: batchOf(["a", "a"]).commands }
    expect(left(Batch.toBatchParams(twice, false)).detail).toMatch(/used twice/)
    const tooMany = batchOf(Array.from({ length: 51 }, (_, index) => `x${index}`))
    expect(left(Batch.toBatchParams(tooMany, false)).path).toBe("batch")
  })

  it("a label like __proto__ stays an own key of cmd", () => {
    const params = right(Batch.toBatchParams(batchOf(["__proto__"], "user.current"), false))
    expect(Object.keys(params.cmd)).toEqual(["__proto__"])
  })
})

describe("BatchPlanner.planLabelled (callBatch)", () => {
  const planned = (cmd: Readonly<Record<string, BatchPlanner.LabelledCommand>>, halt = false, batchSize = 50) =>
    Effect.runSync(Effect.either(Batch.planLabelled(cmd, halt, batchSize)))

  it("keeps the caller's labels and order, passes strings as they are and encodes methods with params", () => {
    const { batch, params } = right(
      planned(
        {
          deal: { method: "crm.deal.add", params: { fields: { TITLE: "x" } } },
          get: "crm.deal.get?id=$result[deal]",
          me: { method: "user.current" }
        },
        true
      )
    )
    expect(batch.commands.map((command) => [command.label, command.method, command.index])).toEqual([
      ["deal", "crm.deal.add", 0],
      ["get", "crm.deal.get", 1],
      ["me", "user.current", 2]
    ])
    expect(params).toEqual({
      halt: 1,
      cmd: { deal: "crm.deal.add?fields%5BTITLE%5D=x", get: "crm.deal.get?id=$result[deal]", me: "user.current" }
    })
    expect(Object.keys(params.cmd)).toEqual(["deal", "get", "me"])
  })

  it.each([
    ["a space", "my deal"],
    ["a bracket", "deal[1]"],
    ["all digits", "205364"]
  ])("refuses a label with %s", (_, label) => {
    expect(left(planned({ [label]: { method: "crm.deal.get", params: { id: 1 } } })).path).toBe(`cmd.${label}`)
  })

  it("refuses more commands than the batch size (49, 50 pass at 50; 51 does not), bad methods and unencodable params", () => {
    const many = (count: number) =>
      Object.fromEntries(Array.from({ length: count }, (_, index) => [`d${index}`, { method: "crm.deal.get", params: { id: index } }]))
    expect(right(planned(many(49))).batch.commands.length).toBe(49)
    expect(right(planned(many(50))).batch.commands.length).toBe(50)
    expect(left(planned(many(51))).path).toBe("cmd")
    expect(left(planned(many(11), false, 10)).path).toBe("cmd")
    expect(left(planned({ one: { method: "batch" } })).path).toBe("cmd.one")
    expect(left(planned({ one: "batch?cmd[a]=user.current" })).path).toBe("cmd.one")
    expect(left(planned({ one: { method: "crm.deal.get", params: { id: null } } })).path).toBe("cmd.one.params.id")
    expect(right(planned({})).batch.commands).toEqual([])
  })
})

describe("BatchPlanner service", () => {
  it.effect("make binds the batch size", () =>
    Effect.gen(function* () {
      const planner = yield* BatchPlanner.make({ batchSize: 10 })
      expect(planner.batchSize).toBe(10)
      const batches = yield* planner.plan("crm.lead.get", Array.from({ length: 25 }, (_, id) => ({ id })))
      expect(batches.map((batch) => batch.commands.length)).toEqual([10, 10, 5])
    })
  )

  it.effect("the layer fails for a batch size outside 1..50", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.provide(BatchPlanner.BatchPlanner, BatchPlanner.layer({ batchSize: 60 })))
      expect(Exit.isFailure(exit)).toBe(true)
      const planner = yield* Effect.provide(BatchPlanner.BatchPlanner, BatchPlanner.layer())
      expect(planner.batchSize).toBe(50)
    })
  )

  it.effect("the default layer plans 50 per batch", () =>
    Effect.gen(function* () {
      const planner = yield* Effect.provide(BatchPlanner.BatchPlanner, BatchPlanner.layer())
      const batches = yield* planner.plan("crm.lead.get", Array.from({ length: 51 }, (_, id) => ({ id })))
      expect(batches.map((batch) => batch.commands.length)).toEqual([50, 1])
    })
  )
})
