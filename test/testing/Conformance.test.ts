/**
 * Conformance of the fake portal with responses recorded from real Bitrix24 portals: for every fixture in the
 * real-responses folder, the equivalent request goes to the engine and the SHAPE of its answer is compared
 * with the recorded one (keys, nesting, JSON types, list-vs-map, error spellings, status). Values differ.
 */
import { describe, expect, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { PortalEngine } from "../../src/testing/internal/engine.js"
import type { FakePortalOptions } from "../../src/testing/Options.js"

// ---------------------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------------------

type JsonType = "null" | "boolean" | "number" | "string" | "array" | "object"

/** The shape of a JSON value: the types seen, the fields of objects and the element shape of lists. */
interface Shape {
  readonly types: Set<JsonType>
  /** Union of the keys of every object seen at this place. */
  readonly fields: Map<string, Shape>
  /** Union of the element shapes of every non-empty list seen at this place; `undefined` if all were empty. */
  element: Shape | undefined
}

/** Rows of a list compared: enough to see optional keys, few enough to stay fast on a 50 × 50 batch. */
const rowsSampled = 50

const emptyShape = (): Shape => ({ types: new Set(), fields: new Map(), element: undefined })

const typeOf = (value: unknown): JsonType =>
  value === null
    ? "null"
    : Array.isArray(value)
      ? "array"
      : typeof value === "object"
        ? "object"
        : typeof value === "boolean"
          ? "boolean"
          : typeof value === "number"
            ? "number"
            : "string"

/** Adds one value to a shape (the union of the values seen at one place). */
const addValue = (shape: Shape, value: unknown): Shape => {
  const type = typeOf(value)
  shape.types.add(type)
  if (type === "array") {
    for (const item of (value as ReadonlyArray<unknown>).slice(0, rowsSampled)) {
      shape.element = addValue(shape.element ?? emptyShape(), item)
    }
  } else if (type === "object") {
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      shape.fields.set(key, addValue(shape.fields.get(key) ?? emptyShape(), item))
    }
  }
  return shape
}

/**
 * The shape of a JSON document. Lists of rows are summarised by the union of the first rows' keys and types,
 * so the number of rows and their values do not matter, but a key or a type that never appears does.
 */
const shapeOf = (json: unknown): Shape => addValue(emptyShape(), json)

/**
 * Custom user fields are the recorded portal's own configuration: their codes carry a creation timestamp (and
 * for smart processes the type's ID), e.g. `UF_CRM_1594289616952`, `ufCrm11_1712074666`. They are compared as
 * one pseudo-key per spelling (present or not, and the union of their shapes), not one by one.
 */
const normaliseKey = (key: string): string =>
  /^UF_CRM_(\d+_)?\d{6,}$/.test(key) ? "UF_CRM_<custom>" : /^ufCrm\d*_\d{6,}$/.test(key) ? "ufCrm<custom>" : key

/** The fields of a shape keyed by normalised key, merging the shapes of keys that normalise alike. */
const normalisedFields = (shape: Shape): Map<string, Shape> => {
  const fields = new Map<string, Shape>()
  for (const [key, field] of shape.fields) {
    const name = normaliseKey(key)
    const seen = fields.get(name)
    fields.set(name, seen === undefined ? field : mergeShapes(seen, field))
  }
  return fields
}

const mergeShapes = (a: Shape, b: Shape): Shape => {
  const merged: Shape = { types: new Set([...a.types, ...b.types]), fields: new Map(a.fields), element: a.element }
  for (const [key, field] of b.fields) {
    const seen = merged.fields.get(key)
    merged.fields.set(key, seen === undefined ? field : mergeShapes(seen, field))
  }
  if (b.element !== undefined) merged.element = merged.element === undefined ? b.element : mergeShapes(merged.element, b.element)
  return merged
}

const isTimeBlock = (shape: Shape): boolean => ["start", "finish", "duration"].every((key) => shape.fields.has(key))

/**
 * Keys a newer portal adds to a `time` block: fixtures recorded before the operating limiter (2022) lack
 * `operating` and `operating_reset_at`; the fake always runs with the limiter's fields when limits are on.
 */
const versionDriftTimeKeys = new Set(["operating", "operating_reset_at"])

interface CompareOptions {
  /** Places (paths) where the fixture was trimmed by hand, so the fake may have more keys. */
  readonly trimmed?: (path: string) => boolean
}

/**
 * Differences between the recorded shape and the fake's, as readable lines. A `null` in the fixture accepts any
 * type (the real row simply had no value); a `null` from the fake is accepted next to the recorded type, but a
 * place where the fake only ever sends `null` is reported.
 */
const compareShapes = (expected: Shape, actual: Shape, path = "$", options: CompareOptions = {}): Array<string> => {
  if (expected.types.has("null")) return []
  const problems: Array<string> = []
  const actualTypes = [...actual.types].filter((type) => type !== "null")
  if (actualTypes.length === 0 && actual.types.has("null")) {
    return [`${path}: fixture has ${[...expected.types].join("|")}, fake sends only null`]
  }
  for (const type of actualTypes) {
    if (!expected.types.has(type)) {
      problems.push(`${path}: fixture has ${[...expected.types].join("|")}, fake sends ${type}`)
    }
  }
  if (expected.types.has("object") && actual.types.has("object")) {
    const expectedKeys = normalisedFields(expected)
    const actualKeys = normalisedFields(actual)
    const missing = [...expectedKeys.keys()].filter((key) => !actualKeys.has(key))
    const extra = [...actualKeys.keys()].filter(
      (key) =>
        !expectedKeys.has(key) &&
        !(isTimeBlock(expected) && versionDriftTimeKeys.has(key)) &&
        options.trimmed?.(path) !== true
    )
    if (missing.length > 0) problems.push(`${path}: fake lacks keys ${missing.join(", ")}`)
    if (extra.length > 0) problems.push(`${path}: fake has extra keys ${extra.join(", ")}`)
    for (const [key, shape] of expectedKeys) {
      const other = actualKeys.get(key)
      if (other !== undefined) problems.push(...compareShapes(shape, other, `${path}.${key}`, options))
    }
  }
  if (expected.types.has("array") && actual.types.has("array") && expected.element !== undefined && actual.element !== undefined) {
    problems.push(...compareShapes(expected.element, actual.element, `${path}[]`, options))
  }
  return problems
}

/** Every `{error, error_description}` pair with its place: error spellings must match exactly. */
const errorsOf = (json: unknown, path = "$"): Array<string> => {
  if (Array.isArray(json)) return json.flatMap((item, i) => errorsOf(item, `${path}[${i}]`))
  if (typeof json !== "object" || json === null) return []
  const record = json as Record<string, unknown>
  const own = "error" in record ? [`${path}: ${JSON.stringify({ error: record["error"], error_description: record["error_description"] })}`] : []
  return [...own, ...Object.entries(record).flatMap(([key, value]) => (key === "error" ? [] : errorsOf(value, `${path}.${key}`)))]
}

describe("shapeOf / compareShapes", () => {
  const problems = (fixture: unknown, fake: unknown) => compareShapes(shapeOf(fixture), shapeOf(fake))

  it("ignores values but not types", () => {
    expect(problems({ ID: "1", N: 2 }, { ID: "99", N: 3.5 })).toEqual([])
    expect(problems({ ID: "1" }, { ID: 1 })).toEqual(["$.ID: fixture has string, fake sends number"])
  })

  it("tells a list from a map, including PHP's empty `[]`", () => {
    expect(problems({ result_error: [] }, { result_error: {} })).toEqual(["$.result_error: fixture has array, fake sends object"])
    expect(problems({ result: [{ a: 1 }] }, { result: { 0: { a: 1 } } })).toEqual(["$.result: fixture has array, fake sends object"])
  })

  it("compares the union of row keys", () => {
    const fixture = [{ id: 0, name: "a" }, { id: 1, name: "b", originId: "" }]
    expect(problems(fixture, [{ id: 5, name: "x", originId: "" }])).toEqual([])
    expect(problems(fixture, [{ id: 5, name: "x" }])).toEqual(["$[]: fake lacks keys originId"])
    expect(problems(fixture, [{ id: 5, name: "x", originId: "", extra: 1 }])).toEqual(["$[]: fake has extra keys extra"])
  })

  it("lets a fixture null match anything, and the fake's null only next to the real type", () => {
    expect(problems({ A: null }, { A: { deep: [1] } })).toEqual([])
    expect(problems([{ A: "x" }, { A: "y" }], [{ A: null }, { A: "z" }])).toEqual([])
    expect(problems({ A: "" }, { A: null })).toEqual(["$.A: fixture has string, fake sends only null"])
  })

  it("compares custom user fields as one group, whatever their portal-specific codes", () => {
    const definition = { type: "string", isRequired: false }
    expect(problems({ ID: definition, UF_CRM_1594289616952: definition, UF_CRM_1594289659496: definition }, { ID: definition, UF_CRM_1700000000001: definition })).toEqual([])
    expect(problems({ id: 1, ufCrm11_1712074666: "2024-04-19" }, { id: 1, ufCrm1032_1712074666: "2024-05-01" })).toEqual([])
    expect(problems({ ID: "1" }, { ID: "1", UF_CRM_1594289616952: "x" })).toEqual(["$: fake has extra keys UF_CRM_<custom>"])
    expect(problems({ UF_CRM_1594289616952: definition }, { UF_CRM_1594289616952: "x" })).toEqual([
      "$.UF_CRM_<custom>: fixture has object, fake sends string"
    ])
  })

  it("accepts the operating fields newer portals add to a time block, and nothing else", () => {
    const time = { start: 1.5, finish: 2.5, duration: 1, processing: 1, date_start: "", date_finish: "" }
    expect(problems({ time }, { time: { ...time, operating: 0, operating_reset_at: 1 } })).toEqual([])
    expect(problems({ time }, { time: { ...time, other: 1 } })).toEqual(["$.time: fake has extra keys other"])
  })

  it("lists error spellings with their places", () => {
    expect(errorsOf({ result: { result_error: [{ error: "", error_description: "Not found" }] } })).toEqual([
      `$.result.result_error[0]: {"error":"","error_description":"Not found"}`
    ])
  })
})

// ---------------------------------------------------------------------------------------------------------
// The fixtures and the equivalent requests
// ---------------------------------------------------------------------------------------------------------

const fixtureDirectory = (() => {
  const candidates = [
    process.env["REAL_RESPONSES_DIR"],
    fileURLToPath(new URL("../fixtures/real-responses", import.meta.url)),
    "/work/shared/fixtures/real-responses"
  ]
  return candidates.find((dir): dir is string => dir !== undefined && existsSync(dir)) ?? "/work/shared/fixtures/real-responses"
})()

const fixtureFiles = readdirSync(fixtureDirectory)
  .filter((name) => name.endsWith(".json"))
  .sort()

/** One answer of the engine, decoded. */
interface Reply {
  readonly status: number
  readonly json: unknown
}

/** The engine behind a webhook, called in-process with portal time moving 2 s per request (no bucket pressure). */
class Portal {
  readonly engine: PortalEngine
  private nowMs = Date.UTC(2025, 0, 15, 9, 0, 0)

  constructor(options: FakePortalOptions) {
    this.engine = new PortalEngine(options, this.nowMs)
  }

  call(method: string, params: unknown): Reply {
    this.nowMs += 2_000
    const outcome = this.engine.handle(
      {
        httpMethod: "POST",
        url: `${this.engine.webhookPath}${method}.json`,
        headers: { "content-type": "application/json", host: "fake-portal.bitrix24.test" },
        body: JSON.stringify(params),
        clientIp: "127.0.0.1"
      },
      this.nowMs
    )
    if (outcome._tag !== "Response") throw new Error(`${method}: the engine answered ${outcome._tag}`)
    let json: unknown
    try {
      json = JSON.parse(outcome.body)
    } catch {
      throw new Error(`${method}: HTTP ${outcome.status} with a body that is not JSON: ${outcome.body.slice(0, 300)}`)
    }
    return { status: outcome.status, json }
  }

  batch(cmd: Readonly<Record<string, string>>): Reply {
    return this.call("batch", { halt: 0, cmd })
  }

  /** The `result` of a successful single call, or an error naming what went wrong. */
  result(method: string, params: unknown): unknown {
    const reply = this.call(method, params)
    const result = field(reply.json, "result")
    if (reply.status !== 200 || result === undefined) {
      throw new Error(`preparing the request: ${method} answered ${reply.status} ${JSON.stringify(reply.json).slice(0, 300)}`)
    }
    return result
  }
}

const field = (json: unknown, key: string): unknown =>
  typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>)[key] : undefined

const listOf = (value: unknown): ReadonlyArray<unknown> => (Array.isArray(value) ? value : [])

/** A `$_GET`-style query string, as fast_bitrix24 builds batch commands. */
const query = (params: Readonly<Record<string, string | number>>): string =>
  Object.entries(params)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join("&")

const leadPageParams = { "select[0]": "ID", "select[1]": "TITLE", "order[ID]": "ASC" } as const

/** A batch of offset pages, labelled `cmd0 … cmdN` the way fast_bitrix24's get_all labels them. */
const offsetBatch = (method: string, params: Readonly<Record<string, string | number>>, starts: ReadonlyArray<number>, label: (i: number) => string) =>
  Object.fromEntries(starts.map((start, i) => [label(i), `${method}?${query({ ...params, start })}`]))

const range = (from: number, count: number, step: number): Array<number> => Array.from({ length: count }, (_, i) => from + i * step)

/** The first ID for which `probe` gives a non-empty list, scanning `ids`. */
const firstWith = (ids: ReadonlyArray<number>, probe: (id: number) => unknown): number => {
  for (const id of ids) if (listOf(probe(id)).length > 0) return id
  throw new Error(`preparing the request: none of the IDs ${ids[0]}…${ids[ids.length - 1]} has data`)
}

interface FixtureCase {
  readonly seed: Readonly<Record<string, number>>
  /** Sends the equivalent requests, one reply per recorded response. */
  readonly run: (portal: Portal) => ReadonlyArray<Reply>
  /** Where the fixture was trimmed by hand (so only its keys are required). */
  readonly trimmed?: (path: string) => boolean
}

const cases: Readonly<Record<string, FixtureCase>> = {
  "batch_list_empty.json": {
    seed: { "crm.lead": 10 },
    run: (portal) => [
      portal.batch({ order0000000000: `crm.lead.list?${query({ "filter[>ID]": 1_000_000, ...leadPageParams, start: 0 })}` })
    ]
  },
  "call_batch.json": {
    seed: {},
    run: (portal) => [
      portal.batch({
        statuses: "crm.status.entity.items?entityId=STATUS",
        sources: "crm.status.entity.items?entityId=SOURCE"
      })
    ]
  },
  "call_several_success.json": {
    seed: { "crm.lead": 10 },
    run: (portal) => [portal.batch({ order0: "crm.lead.get?ID=1", order1: "crm.lead.get?ID=2", order2: "crm.lead.get?ID=3" })],
    // crm.lead.get has no select; the recorded leads were cut down to ID and TITLE by hand (the same lead has
    // 49 keys in call_single_success).
    trimmed: (path) => /^\$\.result\.result\.order\d$/.test(path)
  },
  "call_single_success.json": {
    seed: { "crm.lead": 10 },
    run: (portal) => {
      // The recorded lead has no phone or e-mail (so no PHONE/EMAIL keys); pick such a lead.
      const candidates = listOf(portal.result("crm.lead.list", { filter: { HAS_PHONE: "N", HAS_EMAIL: "N" }, select: ["ID"] }))
      const id = field(candidates[0], "ID") ?? 1
      return [portal.batch({ order0: `crm.lead.get?ID=${String(id)}` })]
    }
  },
  "crm_category_list.json": {
    seed: { "crm.deal": 10 },
    run: (portal) => [portal.call("crm.category.list", { entityTypeId: 2 })]
  },
  "crm_company_contact_items_get.json": {
    seed: { "crm.company": 30, "crm.contact": 60 },
    run: (portal) => {
      const id = firstWith(range(1, 30, 1), (companyId) => portal.result("crm.company.contact.items.get", { id: companyId }))
      // The label stays the recorded company ID: a numeric, non-sequential key (so the maps stay objects).
      return [portal.batch({ "205364": `crm.company.contact.items.get?id=${id}` })]
    }
  },
  "crm_contact_add_batch.json": {
    seed: { "crm.contact": 5 },
    run: (portal) => [
      portal.batch({ order0000000000: `crm.contact.add?${query({ "fields[NAME]": "Иван", "fields[LAST_NAME]": "Конформный" })}` })
    ]
  },
  "crm_dealcategory_stage_list.json": {
    seed: { "crm.deal": 10 },
    run: (portal) => [
      // The recorded request with its labels; the seeded portal has categories 0–4, so label "8" asks for 3.
      portal.batch({
        "2": "crm.dealcategory.stage.list?ID=2&",
        "4": "crm.dealcategory.stage.list?ID=4&",
        "8": "crm.dealcategory.stage.list?ID=3&",
        "0": "crm.dealcategory.stage.list?ID=0&"
      })
    ]
  },
  "crm_get_batch_of_two_error.json": {
    seed: { "crm.lead": 10 },
    // Keys 0 and 1 in PHP: the failed commands' map comes back as a JSON list.
    run: (portal) => [portal.batch({ "0": "crm.lead.get?ID=0", "1": "crm.lead.get?ID=999999999" })]
  },
  "crm_item_add.json": {
    seed: { "crm.item:133": 5 },
    run: (portal) => [
      portal.batch({ order0000000000: `crm.item.add?${query({ entityTypeId: 133, "fields[title]": "Андрей Макарцев\n" })}` })
    ]
  },
  "crm_item_list.json": {
    seed: { "crm.item:1032": 3 },
    run: (portal) => [
      portal.call("crm.item.list", { entityTypeId: 1032, select: ["id", "title", "ufCrm1032_1712074666"], order: { id: "ASC" } })
    ]
  },
  "crm_item_productrow_list.json": {
    seed: { "crm.deal": 40 },
    run: (portal) => {
      const ownerId = firstWith(range(1, 40, 1), (id) =>
        field(portal.result("crm.item.productrow.list", { filter: { "=ownerType": "D", "=ownerId": id } }), "productRows")
      )
      return [
        portal.batch({
          cmd0000000000: `crm.item.productrow.list?${query({ "filter[=ownerType]": "D", "filter[=ownerId]": ownerId })}`
        })
      ]
    }
  },
  "crm_lead_fields_success.json": {
    seed: {},
    run: (portal) => [portal.call("crm.lead.fields", {})]
  },
  "crm_lead_get_batch_error.json": {
    seed: { "crm.lead": 10 },
    run: (portal) => [portal.batch({ "0": "crm.lead.get?ID=0" })]
  },
  "crm_lead_list_one_page_success.json": {
    seed: { "crm.lead": 39 },
    run: (portal) => [portal.call("crm.lead.list", { select: ["ID", "TITLE"], order: { ID: "ASC" } })]
  },
  "crm_lead_list_several_pages_success.json": {
    // The recorded export: 7,531 leads, a page, then three batches of 50, 50 and 50 offset pages.
    seed: { "crm.lead": 7531 },
    run: (portal) => {
      const label = (i: number) => `cmd${i}`
      return [
        portal.call("crm.lead.list", { select: ["ID", "TITLE"], order: { ID: "ASC" } }),
        portal.batch(offsetBatch("crm.lead.list", leadPageParams, range(50, 50, 50), label)),
        portal.batch(offsetBatch("crm.lead.list", leadPageParams, range(2550, 50, 50), label)),
        portal.batch(offsetBatch("crm.lead.list", leadPageParams, range(5050, 50, 50), label))
      ]
    }
  },
  "crm_stagehistory_list.json": {
    seed: { "crm.deal": 100, "crm.stagehistory:2": 600 },
    run: (portal) => {
      const items = listOf(field(portal.result("crm.stagehistory.list", { entityTypeId: 2, select: ["OWNER_ID"] }), "items"))
      const ownerId = String(field(items[0], "OWNER_ID") ?? 1)
      const params = {
        entityTypeId: 2,
        "select[0]": "OWNER_ID",
        "select[1]": "STAGE_ID",
        "select[2]": "CREATED_TIME",
        "select[3]": "ID",
        "filter[OWNER_ID]": ownerId
      }
      return [portal.batch({ order0000000000: `crm.stagehistory.list?${query(params)}` })]
    }
  },
  "lists_element_add_batch.json": {
    seed: {},
    run: (portal) => {
      const command = (code: string, name: string) =>
        `lists.element.add?${query({ IBLOCK_TYPE_ID: "lists", IBLOCK_ID: 1, ELEMENT_CODE: code, "FIELDS[NAME]": name })}`
      return [portal.batch({ order0000000000: command("conformance_1", "Первый"), order0000000001: command("conformance_2", "Второй") })]
    }
  },
  "single_add.json": {
    seed: { "tasks.task": 5 },
    run: (portal) => [portal.call("tasks.task.add", { fields: { TITLE: "Алм", RESPONSIBLE_ID: 1, DEADLINE: "2022-05-09T01:00:00+04:00" } })]
  },
  "stagehistory.json": {
    // The recorded export read 490 records: a page, then one batch of 9 offset pages.
    seed: { "crm.deal": 200, "crm.stagehistory:2": 490 },
    run: (portal) => {
      const params = { entityTypeId: 2, "order[ID]": "ASC" }
      return [
        portal.call("crm.stagehistory.list", { entityTypeId: 2, order: { ID: "ASC" } }),
        portal.batch(offsetBatch("crm.stagehistory.list", params, range(50, 9, 50), (i) => `cmd${String(i).padStart(10, "0")}`))
      ]
    }
  },
  "task_elapseditem_getlist_mixed_types.json": {
    seed: { "tasks.task": 60 },
    run: (portal) => {
      // The recorded labels are task IDs; each command reads one seeded task's time records.
      const fixture = readFixture("task_elapseditem_getlist_mixed_types.json")
      const labels = Object.keys(field(field(fixture, "result"), "result") as Record<string, unknown>)
      const tasks = listOf(field(portal.result("tasks.task.list", { select: ["ID"], order: { ID: "ASC" } }), "tasks"))
      const taskIds = tasks.map((task) => String(field(task, "id")))
      return [portal.batch(Object.fromEntries(labels.map((label, i) => [label, `task.elapseditem.getlist?TASKID=${taskIds[i]}`])))]
    }
  },
  "user_fields.json": {
    seed: {},
    run: (portal) => [portal.call("user.fields", {})]
  }
}

const readFixture = (name: string): unknown => JSON.parse(readFileSync(join(fixtureDirectory, name), "utf8"))

/** A fixture is one response, a `{request, response}` pair, or (a list export) a sequence of responses. */
const recordedResponses = (fixture: unknown): ReadonlyArray<unknown> =>
  Array.isArray(fixture) ? fixture : field(fixture, "response") !== undefined ? [field(fixture, "response")] : [fixture]

describe(`the fake portal answers like the recorded real portals (${fixtureDirectory})`, () => {
  it("finds the fixtures", () => {
    expect(fixtureFiles.length).toBeGreaterThanOrEqual(20)
  })

  it.each(fixtureFiles)("%s", (name) => {
    const spec = cases[name]
    if (spec === undefined) throw new Error(`no equivalent request is defined for the fixture ${name}`)
    const recorded = recordedResponses(readFixture(name))
    const portal = new Portal({ seed: spec.seed })
    const replies = spec.run(portal)
    expect(replies).toHaveLength(recorded.length)
    const problems = recorded.flatMap((response, i) => {
      const reply = replies[i]!
      const at = recorded.length > 1 ? `response ${i + 1}: ` : ""
      const statusProblem = reply.status === 200 ? [] : [`HTTP ${reply.status} (the recorded response is a 200): ${JSON.stringify(reply.json).slice(0, 300)}`]
      const shapeProblems = compareShapes(shapeOf(response), shapeOf(reply.json), "$", spec.trimmed === undefined ? {} : { trimmed: spec.trimmed })
      const expectedErrors = errorsOf(response)
      const actualErrors = errorsOf(reply.json)
      const errorProblems =
        JSON.stringify(expectedErrors) === JSON.stringify(actualErrors)
          ? []
          : [`errors differ: recorded ${JSON.stringify(expectedErrors)}, fake ${JSON.stringify(actualErrors)}`]
      return [...statusProblem, ...shapeProblems, ...errorProblems].map((problem) => at + problem)
    })
    expect(problems).toEqual([])
  })
})
