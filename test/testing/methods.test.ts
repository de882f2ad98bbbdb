import { describe, expect, it } from "@effect/vitest"
import { defaultCost, makeMethodTable, zeroCost } from "../../src/testing/internal/methods.js"
import type { MethodOutcome, MethodTable } from "../../src/testing/internal/types.js"
import { mulberry32 } from "../../src/testing/internal/seed.js"

type Json = Record<string, unknown>

const ctx = { nowMs: Date.UTC(2025, 0, 15, 9, 0, 0), userId: 1 }

const table = (seed: Readonly<Record<string, number>>, seedNumber = 1, cost = zeroCost): MethodTable =>
  makeMethodTable({ seed, seedNumber, cost })

const isJson = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/** The Ok outcome of a call, or a failed test naming what came back. */
const ok = (t: MethodTable, method: string, params: unknown): Extract<MethodOutcome, { _tag: "Ok" }> => {
  const outcome = t.call(method, params, ctx)
  if (outcome === undefined || outcome._tag !== "Ok") throw new Error(`${method}: ${JSON.stringify(outcome)}`)
  return outcome
}

const fail = (t: MethodTable, method: string, params: unknown): Extract<MethodOutcome, { _tag: "Error" }> => {
  const outcome = t.call(method, params, ctx)
  if (outcome === undefined || outcome._tag !== "Error") throw new Error(`${method}: expected an error, got ${JSON.stringify(outcome)}`)
  return outcome
}

/** The rows of a list result: a plain array or the array under `wrapper`. */
const rows = (result: unknown, wrapper?: string): Array<Json> => {
  const list = wrapper === undefined ? result : isJson(result) ? result[wrapper] : undefined
  if (!Array.isArray(list)) throw new Error(`not a list: ${JSON.stringify(result).slice(0, 200)}`)
  return list.filter(isJson)
}

/** Every row of a list method, following `next`. */
const listAll = (t: MethodTable, method: string, params: Json, wrapper?: string): Array<Json> => {
  const all: Array<Json> = []
  let start: number | undefined = 0
  while (start !== undefined) {
    const outcome = ok(t, method, { ...params, start })
    all.push(...rows(outcome.result, wrapper))
    start = outcome.next
  }
  return all
}

const idsOf = (list: ReadonlyArray<Json>, key = "ID"): Array<number> => list.map((row) => Number(row[key]))

describe("determinism", () => {
  it("generates the same rows from the same seed number, other rows from another", () => {
    const params = { select: ["*", "UF_*"], order: { ID: "ASC" }, start: 0 }
    const a = ok(table({ "crm.deal": 80, user: 5 }), "crm.deal.list", params).result
    const b = ok(table({ "crm.deal": 80, user: 5 }), "crm.deal.list", params).result
    const c = ok(table({ "crm.deal": 80, user: 5 }, 2), "crm.deal.list", params).result
    expect(a).toEqual(b)
    expect(a).not.toEqual(c)
  })

  it("reads a row the same through list, get and crm.item", () => {
    const t = table({ "crm.deal": 20 })
    const listed = rows(ok(t, "crm.deal.list", { start: 5 }).result)[0]!
    const id = Number(listed.ID)
    const got = ok(t, "crm.deal.get", { id }).result
    expect(isJson(got) && got.TITLE).toBe(listed.TITLE)
    const item = rows(ok(t, "crm.item.list", { entityTypeId: 2, filter: { id } }).result, "items")[0]!
    expect(item.title).toBe(listed.TITLE)
    expect(item.id).toBe(id)
    expect(item.stageId).toBe(listed.STAGE_ID)
    expect(item.categoryId).toBe(Number(listed.CATEGORY_ID))
  })
})

describe("paging", () => {
  const t = table({ "crm.deal": 120, "crm.item:1032": 120 })
  const allIds = idsOf(listAll(t, "crm.deal.list", { select: ["ID"], order: { ID: "ASC" } }))

  it("pages classic lists by 50 with total and next, no next on the last page", () => {
    expect(allIds).toHaveLength(120)
    const first = ok(t, "crm.deal.list", { select: ["ID"], start: 0 })
    expect([first.total, first.next, first.rows]).toEqual([120, 50, 50])
    const last = ok(t, "crm.deal.list", { select: ["ID"], start: 100 })
    expect(last.total).toBe(120)
    expect(last.next).toBeUndefined()
    expect(idsOf(rows(last.result))).toEqual(allIds.slice(100))
  })

  it("rounds start down to a page boundary on legacy methods (start=75 gives rows 50–99)", () => {
    const page = ok(t, "crm.deal.list", { select: ["ID"], start: "75" })
    expect(idsOf(rows(page.result))).toEqual(allIds.slice(50, 100))
    expect(page.next).toBe(100)
  })

  it("uses start as the exact offset on D7 methods", () => {
    const items = idsOf(listAll(t, "crm.item.list", { entityTypeId: 1032, select: ["id"] }, "items"), "id")
    const page = ok(t, "crm.item.list", { entityTypeId: "1032", select: ["id"], start: "30" })
    expect(idsOf(rows(page.result, "items"), "id")).toEqual(items.slice(30, 80))
    expect(page.next).toBe(80)
    expect(page.total).toBe(120)
  })

  it("answers start=-1 with total 0, no next and the first 50 rows", () => {
    const page = ok(t, "crm.deal.list", { select: ["ID"], start: -1, filter: { ">ID": allIds[9] } })
    expect(page.total).toBe(0)
    expect(page.next).toBeUndefined()
    expect(idsOf(rows(page.result))).toEqual(allIds.slice(10, 60))
    const d7 = ok(t, "crm.item.list", { entityTypeId: 1032, start: "-1" })
    expect(d7.total).toBe(0)
    expect(d7.next).toBeUndefined()
  })

  it("returns an empty page past the end", () => {
    const page = ok(t, "crm.deal.list", { start: 500 })
    expect(rows(page.result)).toEqual([])
    expect(page.total).toBe(120)
    expect(page.next).toBeUndefined()
  })
})

describe("filters", () => {
  const t = table({ "crm.deal": 150, "crm.company": 10, "crm.contact": 10, user: 5 })
  const fields = ["ID", "TITLE", "OPPORTUNITY", "STAGE_ID", "CATEGORY_ID", "COMPANY_ID", "DATE_CREATE", "PROBABILITY"]
  const all = listAll(t, "crm.deal.list", { select: fields, order: { ID: "ASC" } })
  const num = (row: Json, key: string) => Number(row[key])
  const str = (row: Json, key: string) => String(row[key] ?? "")
  const listed = (filter: unknown) => idsOf(listAll(t, "crm.deal.list", { filter, select: ["ID"], order: { ID: "ASC" } }))
  const expected = (test: (row: Json) => boolean) => idsOf(all.filter(test))
  const someStage = str(all[3]!, "STAGE_ID")
  const midAmount = num(all[40]!, "OPPORTUNITY")
  const midDate = str(all[75]!, "DATE_CREATE")

  const cases: ReadonlyArray<readonly [string, unknown, (row: Json) => boolean]> = [
    ["no prefix", { STAGE_ID: someStage }, (r) => str(r, "STAGE_ID") === someStage],
    ["=", { "=STAGE_ID": someStage }, (r) => str(r, "STAGE_ID") === someStage],
    ["!", { "!STAGE_ID": someStage }, (r) => str(r, "STAGE_ID") !== someStage],
    ["!=", { "!=STAGE_ID": someStage }, (r) => str(r, "STAGE_ID") !== someStage],
    [">", { ">OPPORTUNITY": String(midAmount) }, (r) => num(r, "OPPORTUNITY") > midAmount],
    [">=", { ">=OPPORTUNITY": midAmount }, (r) => num(r, "OPPORTUNITY") >= midAmount],
    ["<", { "<OPPORTUNITY": midAmount }, (r) => num(r, "OPPORTUNITY") < midAmount],
    ["<=", { "<=OPPORTUNITY": String(midAmount) }, (r) => num(r, "OPPORTUNITY") <= midAmount],
    ["@", { "@CATEGORY_ID": ["1", "3"] }, (r) => ["1", "3"].includes(str(r, "CATEGORY_ID"))],
    ["!@", { "!@CATEGORY_ID": [1, 3] }, (r) => !["1", "3"].includes(str(r, "CATEGORY_ID"))],
    ["@ with a non-number never matches empty values", { "@COMPANY_ID": ["x", all[0]!.COMPANY_ID ?? all[1]!.COMPANY_ID] }, (r) => r.COMPANY_ID !== null && r.COMPANY_ID === (all[0]!.COMPANY_ID ?? all[1]!.COMPANY_ID)],
    ["array without @ means IN", { CATEGORY_ID: [0, 2] }, (r) => ["0", "2"].includes(str(r, "CATEGORY_ID"))],
    ["% (substring, any case)", { "%TITLE": "ооо" }, (r) => str(r, "TITLE").toLowerCase().includes("ооо")],
    ["=% (LIKE)", { "=%TITLE": "Внедрение%" }, (r) => str(r, "TITLE").startsWith("Внедрение")],
    ["%= (LIKE, _ wildcard)", { "%=TITLE": "%#1_" }, (r) => /#1.$/.test(str(r, "TITLE"))],
    ["!% (NOT substring)", { "!%TITLE": "crm" }, (r) => !str(r, "TITLE").toLowerCase().includes("crm")],
    ["!=% (NOT LIKE)", { "!=%TITLE": "Внедрение%" }, (r) => !str(r, "TITLE").startsWith("Внедрение")],
    ["><", { "><OPPORTUNITY": [100_000, 900_000] }, (r) => num(r, "OPPORTUNITY") >= 100_000 && num(r, "OPPORTUNITY") <= 900_000],
    [">DATE_CREATE", { ">DATE_CREATE": midDate }, (r) => Date.parse(str(r, "DATE_CREATE")) > Date.parse(midDate)],
    ["empty value", { COMPANY_ID: "" }, (r) => r.COMPANY_ID === null],
    ["not empty", { "!COMPANY_ID": "" }, (r) => r.COMPANY_ID !== null],
    ["ID range", { ">ID": all[20]!.ID, "<=ID": all[70]!.ID }, (r) => num(r, "ID") > num(all[20]!, "ID") && num(r, "ID") <= num(all[70]!, "ID")],
    ["@ID", { "@ID": [all[5]!.ID, all[99]!.ID, 999_999] }, (r) => r.ID === all[5]!.ID || r.ID === all[99]!.ID],
    ["!ID", { "!ID": all[0]!.ID }, (r) => r.ID !== all[0]!.ID],
    ["combined", { CATEGORY_ID: "0", ">OPPORTUNITY": 500_000 }, (r) => str(r, "CATEGORY_ID") === "0" && num(r, "OPPORTUNITY") > 500_000]
  ]

  it.each(cases)("%s", (_name, filter, test) => {
    const want = expected(test)
    expect(want.length).toBeGreaterThan(0)
    expect(listed(filter)).toEqual(want)
  })

  it("compares numeric fields as numbers, not as strings", () => {
    const lexicographic = idsOf(all.filter((r) => str(r, "OPPORTUNITY") > "500000"))
    expect(listed({ ">OPPORTUNITY": "500000" })).not.toEqual(lexicographic)
  })

  it("ignores unknown and wrongly spelled fields on classic methods", () => {
    expect(listed({ ">id": 100, NO_SUCH_FIELD: 1 })).toEqual(idsOf(all))
  })

  it("accepts FILTER, SELECT and ORDER in upper case on classic methods", () => {
    const page = ok(t, "crm.deal.list", { FILTER: { STAGE_ID: someStage }, SELECT: ["ID"], ORDER: { ID: "DESC" } })
    expect(idsOf(rows(page.result))).toEqual(expected((r) => str(r, "STAGE_ID") === someStage).reverse().slice(0, 50))
  })

  it("keeps the fast STAGE_ID column in step with updates", () => {
    const local = table({ "crm.deal": 30 })
    const id = 7
    expect(ok(local, "crm.deal.update", { id, fields: { STAGE_ID: "C9:CUSTOM" } }).result).toBe(true)
    expect(idsOf(rows(ok(local, "crm.deal.list", { filter: { STAGE_ID: "C9:CUSTOM" } }).result))).toEqual([id])
    expect(idsOf(rows(ok(local, "crm.deal.list", { filter: { "%STAGE_ID": "custom" } }).result))).toEqual([id])
  })

  it("refuses a filter that is not an array with each family's own error", () => {
    const classic = fail(t, "crm.deal.list", { filter: "STAGE_ID=WON" })
    expect([classic.status, classic.error, classic.description]).toEqual([400, "", "Parameter 'filter' must be array."])
    const d7 = fail(t, "catalog.document.element.list", { filter: "x" })
    expect([d7.error, d7.description, d7.extra]).toEqual(["ERROR_ARGUMENT", "The filter is not an array.", { argument: "filter" }])
    expect(fail(t, "crm.item.list", { entityTypeId: 2, filter: "" }).error).toBe("ERROR_ARGUMENT")
  })

  it.each([
    ["crm.item.list", { entityTypeId: 1032 }, "items", "id", "stageId", "title"],
    ["tasks.task.list", {}, "tasks", "ID", "STATUS", "TITLE"]
  ] as const)("%s takes every prefix in its own spelling", (method, extra, wrapper, idName, enumName, textName) => {
    const local = table({ "crm.item:1032": 120, "tasks.task": 120 })
    // Rows come back camelCase in both families; tasks filter by UPPER names.
    const camel = (name: string) => (name === name.toUpperCase() ? name.toLowerCase() : name)
    const every = listAll(local, method, { ...extra, select: [idName, enumName, textName], order: { [idName]: "ASC" } }, wrapper)
    const listedIds = (filter: Json) => idsOf(listAll(local, method, { ...extra, select: [idName], order: { [idName]: "ASC" }, filter }, wrapper), "id")
    const want = (test: (row: Json) => boolean) => idsOf(every.filter(test), "id")
    const id = (row: Json) => Number(row.id)
    const mid = id(every[60]!)
    const value = every[3]![camel(enumName)]
    const pair = [every[1]!.id, every[5]!.id]
    const cases: ReadonlyArray<readonly [Json, (row: Json) => boolean]> = [
      [{ [enumName]: value }, (r) => r[camel(enumName)] === value],
      [{ [`=${enumName}`]: value }, (r) => r[camel(enumName)] === value],
      [{ [`!${enumName}`]: value }, (r) => r[camel(enumName)] !== value],
      [{ [`!=${enumName}`]: value }, (r) => r[camel(enumName)] !== value],
      [{ [`>${idName}`]: mid }, (r) => id(r) > mid],
      [{ [`>=${idName}`]: mid }, (r) => id(r) >= mid],
      [{ [`<${idName}`]: mid }, (r) => id(r) < mid],
      [{ [`<=${idName}`]: mid }, (r) => id(r) <= mid],
      [{ [`@${idName}`]: pair }, (r) => pair.includes(r.id)],
      [{ [`!@${idName}`]: pair }, (r) => !pair.includes(r.id)],
      [{ [`%${textName}`]: "а" }, (r) => String(r[camel(textName)]).toLowerCase().includes("а")]
    ]
    for (const [filter, test] of cases) {
      const expected = want(test)
      expect(expected.length).toBeGreaterThan(0)
      expect([filter, listedIds(filter)]).toEqual([filter, expected])
    }
  })

  it("supports OR groups on crm.item", () => {
    const a = Number(all[1]!.ID)
    const b = Number(all[2]!.ID)
    const items = rows(
      ok(t, "crm.item.list", { entityTypeId: 2, select: ["id"], filter: { "0": { logic: "OR", "0": { id: a }, "1": { id: b } } } }).result,
      "items"
    )
    expect(idsOf(items, "id")).toEqual([a, b])
  })
})

describe("order", () => {
  const t = table({ "crm.deal": 60, "tasks.task": 70 })

  it("orders by any field with ID breaking ties, in either direction", () => {
    const byAmount = listAll(t, "crm.deal.list", { select: ["ID", "OPPORTUNITY"], order: { OPPORTUNITY: "asc" } })
    const sorted = [...byAmount].sort((a, b) => Number(a.OPPORTUNITY) - Number(b.OPPORTUNITY) || Number(a.ID) - Number(b.ID))
    expect(byAmount).toEqual(sorted)
    const desc = idsOf(rows(ok(t, "crm.deal.list", { select: ["ID"], order: { ID: "DESC" }, start: -1 }).result))
    expect(desc).toEqual([...desc].sort((a, b) => b - a))
  })

  it("refuses a bad direction", () => {
    const classic = fail(t, "crm.deal.list", { order: { ID: "UP" } })
    expect([classic.error, classic.description]).toEqual(["ERROR_ARGUMENT", "Order direction should be one of {ASC|DESC}"])
    const item = fail(t, "crm.item.list", { entityTypeId: 2, order: { id: "UP" } })
    expect([item.error, item.description]).toEqual([
      "INVALID_ARG_VALUE",
      "Invalid order: allowed sort directions are ASC, DESC. But got 'UP' for field 'id'"
    ])
  })

  it("gives tasks newest first by default", () => {
    const tasks = rows(ok(t, "tasks.task.list", { select: ["ID"] }).result, "tasks")
    const ids = idsOf(tasks, "id")
    expect(ids).toHaveLength(50)
    expect(ids).toEqual([...ids].sort((a, b) => b - a))
    const asc = idsOf(rows(ok(t, "tasks.task.list", { select: ["ID"], order: { ID: "ASC" } }).result, "tasks"), "id")
    expect(asc[0]).toBe(1)
  })
})

describe("select", () => {
  const t = table({ "crm.deal": 10, "crm.contact": 10, "crm.item:1032": 3 })
  const firstRow = (params: Json, method = "crm.deal.list") => rows(ok(t, method, params).result)[0]!

  it("returns standard and user fields without a select, only standard ones with *", () => {
    const plain = Object.keys(firstRow({}))
    expect(plain).toContain("TITLE")
    expect(plain.some((k) => k.startsWith("UF_CRM_"))).toBe(true)
    const star = Object.keys(firstRow({ select: ["*"] }))
    expect(star).toContain("STAGE_ID")
    expect(star.some((k) => k.startsWith("UF_CRM_"))).toBe(false)
    const uf = Object.keys(firstRow({ select: ["UF_*"] }))
    expect(uf.every((k) => k.startsWith("UF_CRM_") || k === "ID")).toBe(true)
    expect(Object.keys(firstRow({ select: ["*", "UF_*"] })).length).toBe(plain.length)
  })

  it("returns the named fields, the ID always, and skips unknown names", () => {
    expect(Object.keys(firstRow({ select: ["TITLE", "NOPE", "STAGE_ID"] }))).toEqual(["TITLE", "STAGE_ID", "ID"])
    expect(Object.keys(firstRow({ select: "TITLE" }))).toEqual(["TITLE", "ID"])
  })

  it("returns multi-fields only when named", () => {
    expect(Object.keys(firstRow({}, "crm.contact.list"))).not.toContain("PHONE")
    const withPhone = firstRow({ select: ["ID", "PHONE"], filter: { HAS_PHONE: "Y" } }, "crm.contact.list")
    expect(Array.isArray(withPhone.PHONE)).toBe(true)
  })

  it("prints crm.item rows camelCase with native numbers, and entityTypeId with *", () => {
    const item = rows(ok(t, "crm.item.list", { entityTypeId: 1032, select: ["*"] }).result, "items")[0]!
    expect(item.id).toBe(1)
    expect(item.entityTypeId).toBe(1032)
    expect(typeof item.createdBy).toBe("number")
    expect(Object.keys(item).some((k) => /^ufCrm1032_\d+$/.test(k))).toBe(true)
    const narrow = rows(ok(t, "crm.item.list", { entityTypeId: 1032, select: ["title"] }).result, "items")[0]!
    expect(Object.keys(narrow)).toEqual(["title", "id"])
  })
})

describe("crm.item spelling", () => {
  const t = table({ "crm.deal": 80 })

  it("refuses UPPER names in filter and order", () => {
    const filter = fail(t, "crm.item.list", { entityTypeId: 2, filter: { ">ID": 5 } })
    expect([filter.status, filter.error, filter.description]).toEqual([
      400,
      "INVALID_ARG_VALUE",
      "Invalid filter: field 'ID' is not allowed in filter"
    ])
    const order = fail(t, "crm.item.list", { entityTypeId: 2, order: { ID: "ASC" } })
    expect(order.description).toBe("Invalid order: field 'ID' is not allowed in order")
  })

  it("pages by `>id` and returns integer ids", () => {
    const page = ok(t, "crm.item.list", { entityTypeId: "2", filter: { ">id": "40" }, order: { id: "ASC" }, select: ["id"], start: -1 })
    const ids = idsOf(rows(page.result, "items"), "id")
    expect(ids.every((id) => id > 40)).toBe(true)
    expect(rows(page.result, "items").every((row) => typeof row.id === "number")).toBe(true)
  })

  it("knows the entity types it serves", () => {
    expect(fail(t, "crm.item.list", { entityTypeId: 12 }).error).toBe("NOT_FOUND")
    expect(fail(t, "crm.item.list", {}).description).toBe("Could not find value for parameter {entityTypeId}")
    expect(rows(ok(t, "crm.item.list", { entityTypeId: 1040 }).result, "items")).toEqual([])
  })
})

describe("single reads and writes", () => {
  it("round-trips a classic deal through add, get, update, list and delete", () => {
    const t = table({ "crm.deal": 5 })
    const id = ok(t, "crm.deal.add", { fields: { TITLE: "Новая сделка", OPPORTUNITY: "1500.5", STAGE_ID: "WON", CATEGORY_ID: 0 } }).result
    expect(typeof id).toBe("number")
    expect(id).toBeGreaterThan(5)
    const got = ok(t, "crm.deal.get", { ID: String(id) }).result
    expect(isJson(got) && [got.ID, got.TITLE, got.OPPORTUNITY, got.STAGE_ID, got.CREATED_BY_ID]).toEqual([
      String(id),
      "Новая сделка",
      "1500.50",
      "WON",
      "1"
    ])
    expect(isJson(got) && got.DATE_CREATE).toBe("2025-01-15T12:00:00+03:00")
    expect(ok(t, "crm.deal.update", { id, fields: { TITLE: "Переименована", UNKNOWN: 1 } }).result).toBe(true)
    expect(rows(ok(t, "crm.deal.list", { filter: { ID: id }, select: ["TITLE"] }).result)[0]?.TITLE).toBe("Переименована")
    expect(ok(t, "crm.deal.delete", { id }).result).toBe(true)
    const gone = fail(t, "crm.deal.get", { id })
    expect([gone.status, gone.error, gone.description]).toEqual([400, "", "Not found"])
    expect(t.writesPerformed()).toEqual({ "crm.deal.add": 1, "crm.deal.update": 1, "crm.deal.delete": 1 })
  })

  it("refuses missing and invalid IDs the classic way", () => {
    const t = table({ "crm.lead": 3 })
    for (const params of [{}, { ID: "0" }, { id: "abc" }, { id: -3 }]) {
      expect(fail(t, "crm.lead.get", params).description).toBe("ID is not defined or invalid.")
    }
    expect(fail(t, "crm.lead.update", { id: 999, fields: {} }).description).toBe("Not found")
    expect(fail(t, "crm.lead.delete", { id: 999 }).description).toBe("Not found")
    expect(t.writesPerformed()).toEqual({})
  })

  it("round-trips a smart-process item", () => {
    const t = table({ "crm.item:1032": 2 })
    const added = ok(t, "crm.item.add", { entityTypeId: 1032, fields: { title: "Выставка", opportunity: 5000 } }).result
    const item = isJson(added) && isJson(added.item) ? added.item : {}
    expect([item.title, item.opportunity, item.entityTypeId]).toEqual(["Выставка", 5000, 1032])
    const id = item.id
    const updated = ok(t, "crm.item.update", { entityTypeId: 1032, id, fields: { title: "Выставка 2" } }).result
    expect(isJson(updated) && isJson(updated.item) && updated.item.title).toBe("Выставка 2")
    const got = ok(t, "crm.item.get", { entityTypeId: 1032, id }).result
    expect(isJson(got) && isJson(got.item) && got.item.title).toBe("Выставка 2")
    expect(ok(t, "crm.item.delete", { entityTypeId: 1032, id }).result).toEqual([])
    const gone = fail(t, "crm.item.get", { entityTypeId: 1032, id })
    expect([gone.error, gone.description]).toEqual(["NOT_FOUND", "Element not found"])
    expect(t.writesPerformed()).toEqual({ "crm.item.add": 1, "crm.item.update": 1, "crm.item.delete": 1 })
  })

  it("round-trips a task", () => {
    const t = table({ "tasks.task": 3 })
    const added = ok(t, "tasks.task.add", { fields: { TITLE: "Позвонить", RESPONSIBLE_ID: "1", STATUS: 3 } }).result
    const task = isJson(added) && isJson(added.task) ? added.task : {}
    expect([task.title, task.responsibleId, task.status]).toEqual(["Позвонить", "1", "3"])
    const id = task.id
    expect(typeof id).toBe("string")
    const got = ok(t, "tasks.task.get", { taskId: id }).result
    expect(isJson(got) && isJson(got.task) && got.task.title).toBe("Позвонить")
    const listed = rows(ok(t, "tasks.task.list", { filter: { ID: id }, select: ["ID", "STATUS"] }).result, "tasks")
    expect(listed).toEqual([{ id, status: "3", group: [], subStatus: "3" }])
    expect(fail(t, "tasks.task.get", { taskId: 999 }).error).toBe("ERROR_CORE")
  })

  it("pages tasks by keyset with the UPPER spelling (`>ID`, order ID) and returns `id`; D7's `>id` is ignored", () => {
    const t = table({ "tasks.task": 120 })
    const first = rows(ok(t, "tasks.task.list", { select: ["ID"], order: { ID: "ASC" }, filter: { ">ID": 0 }, start: -1 }).result, "tasks")
    expect(first).toHaveLength(50)
    const lastId = Number(first[49]!.id)
    const page = ok(t, "tasks.task.list", { select: ["ID"], order: { ID: "ASC" }, filter: { ">ID": lastId }, start: -1 })
    expect([page.next, page.total]).toEqual([undefined, 0])
    const ids = idsOf(rows(page.result, "tasks"), "id")
    expect(ids[0]).toBeGreaterThan(lastId)
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    expect(rows(page.result, "tasks").every((row) => typeof row.id === "string" && !("ID" in row))).toBe(true)
    // The camelCase spelling is not a task filter or order: the default newest-first page comes back.
    const lower = idsOf(rows(ok(t, "tasks.task.list", { select: ["ID"], order: { id: "ASC" }, filter: { ">id": lastId }, start: -1 }).result, "tasks"), "id")
    expect(lower).toEqual(idsOf(rows(ok(t, "tasks.task.list", { select: ["ID"], start: -1 }).result, "tasks"), "id"))
    expect(lower[0]).toBeGreaterThan(lower[1]!)
  })

  it("answers user.get with sort/order strings, top-level or FILTER filters, and user.current", () => {
    const t = table({ user: 8 })
    const all = rows(ok(t, "user.get", { sort: "ID", order: "DESC" }).result)
    expect(all).toHaveLength(8)
    expect(idsOf(all)).toEqual([...idsOf(all)].sort((a, b) => b - a))
    expect(idsOf(rows(ok(t, "user.get", { ID: "1" }).result))).toEqual([1])
    expect(idsOf(rows(ok(t, "user.get", { FILTER: { ">ID": 1 } }).result))).toEqual(idsOf(all).filter((id) => id > 1).sort((a, b) => a - b))
    const selected = rows(ok(t, "user.get", { ID: 1, select: ["NAME", "NO_SUCH"] }).result)[0]!
    expect(Object.keys(selected)).toEqual(["NAME", "ID"])
    const current = ok(t, "user.current", {}).result
    expect(isJson(current) && [current.ID, current.ACTIVE]).toEqual(["1", true])
  })
})

describe("costs", () => {
  const t = table({ "crm.deal": 150 }, 1, defaultCost)
  const costOf = (method: string, params: Json) => {
    const outcome = t.call(method, params, ctx)
    if (outcome === undefined) throw new Error("unknown method")
    return outcome.costMs
  }

  it("charges narrow rows, offset and COUNT terms for start >= 0", () => {
    expect(costOf("crm.deal.list", { select: ["ID", "TITLE"], start: 0 })).toBeCloseTo(5 + 50 * 0.1 + 150 * 0.0005, 9)
    expect(costOf("crm.deal.list", { select: ["ID", "TITLE"], start: 100 })).toBeCloseTo(5 + 50 * 0.1 + 100 * 0.0015 + 150 * 0.0005, 9)
    expect(costOf("crm.deal.list", { select: ["ID", "TITLE"], start: -1 })).toBeCloseTo(5 + 50 * 0.1, 9)
  })

  it("charges wide rows for no select, *, UF_* or more than five fields", () => {
    expect(costOf("crm.deal.list", { start: -1 })).toBeCloseTo(5 + 50 * 2, 9)
    expect(costOf("crm.deal.list", { select: ["*"], start: -1 })).toBeCloseTo(105, 9)
    expect(costOf("crm.deal.list", { select: ["ID", "UF_*"], start: -1 })).toBeCloseTo(105, 9)
    expect(costOf("crm.deal.list", { select: ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "COMMENTS", "CLOSED"], start: -1 })).toBeCloseTo(105, 9)
  })

  it("charges single reads and writes their own costs", () => {
    expect(costOf("crm.deal.get", { id: 1 })).toBe(10)
    expect(costOf("crm.deal.add", { fields: { TITLE: "x" } })).toBe(45)
    expect(costOf("crm.deal.update", { id: 1, fields: { TITLE: "y" } })).toBe(45)
    expect(costOf("crm.deal.delete", { id: 1 })).toBe(25)
    expect(costOf("crm.deal.get", { id: "bad" })).toBe(5)
  })

  it("counts the rows served by list calls", () => {
    const counted = table({ "crm.deal": 70 })
    ok(counted, "crm.deal.list", { start: 0 })
    ok(counted, "crm.deal.list", { start: 50 })
    ok(counted, "crm.deal.get", { id: 1 })
    expect(counted.rowsServed()).toBe(70)
  })
})

describe("mutations", () => {
  it("adds rows with new highest IDs and deletes random existing ones", () => {
    const t = table({ "crm.deal": 100 })
    const before = idsOf(listAll(t, "crm.deal.list", { select: ["ID"] }))
    const maxBefore = Math.max(...before)
    t.mutate({ entity: "crm.deal", everyRequests: 1, add: 5, delete: 3 }, mulberry32(3))
    const after = idsOf(listAll(t, "crm.deal.list", { select: ["ID"] }))
    expect(after).toHaveLength(102)
    const added = after.filter((id) => !before.includes(id))
    expect(added).toEqual([maxBefore + 1, maxBefore + 2, maxBefore + 3, maxBefore + 4, maxBefore + 5])
    expect(before.filter((id) => !after.includes(id))).toHaveLength(3)
    // The crm.item view of deals is the same table
    t.mutate({ entity: "crm.item:2", everyRequests: 1, add: 1 }, mulberry32(4))
    expect(ok(t, "crm.deal.list", { select: ["ID"] }).total).toBe(103)
    expect(t.writesPerformed()).toEqual({})
  })
})

describe("method names and robustness", () => {
  const t = table({ "crm.deal": 3 })

  it("returns undefined for unknown methods and classifies writes", () => {
    expect(t.call("crm.nothing.list", {}, ctx)).toBeUndefined()
    expect(t.call("CRM.DEAL.LIST", {}, ctx)?._tag).toBe("Ok")
    // `has` answers the same without running anything (the engine asks it before auth).
    expect(["crm.nothing.list", "crm.deal.list", "CRM.DEAL.LIST", "crm.deal.contact.items.get", "user.current", "batch"].map(t.has)).toEqual([
      false, true, true, true, true, false
    ])
    expect(["crm.deal.list", "crm.deal.get", "user.current", "crm.status.entity.items", "task.elapseditem.getlist", "crm.deal.fields", "batch"].map(t.isWrite)).toEqual([
      false, false, false, false, false, false, false
    ])
    expect(["crm.deal.add", "crm.deal.update", "crm.deal.delete", "crm.item.productrow.set", "lists.element.add", "im.notify"].map(t.isWrite)).toEqual([
      true, true, true, true, true, true
    ])
  })

  it("never throws on malformed parameters", () => {
    const methods = ["crm.deal.list", "crm.deal.get", "crm.item.list", "tasks.task.list", "user.get", "crm.item.productrow.list", "task.elapseditem.getlist", "lists.element.add", "crm.category.list"]
    const inputs: ReadonlyArray<unknown> = [null, 42, "garbage", [], [1, { x: 1 }], { filter: [[]], order: [1], select: { a: {} }, start: { x: 1 } }, { filter: { "": 1, ">": 2 } }]
    for (const method of methods) {
      for (const input of inputs) {
        const outcome = t.call(method, input, ctx)
        expect(outcome === undefined ? "undefined" : outcome._tag).toMatch(/^(Ok|Error)$/)
      }
    }
  })
})
