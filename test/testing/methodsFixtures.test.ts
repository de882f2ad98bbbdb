/**
 * Every method the recorded fixtures use answers, at the method-table level, with the fixture's shape: the
 * wrapper, the row keys (exactly, or a superset where the portal adds fields) and the JSON type of every value
 * the fixture recorded as non-null.
 */
import { describe, expect, it } from "@effect/vitest"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { makeMethodTable, zeroCost } from "../../src/testing/internal/methods.js"
import type { MethodOutcome, MethodTable } from "../../src/testing/internal/types.js"

type Json = Record<string, unknown>

const fixtureDirectory = [
  fileURLToPath(new URL("../fixtures/real-responses", import.meta.url)),
  "/work/shared/fixtures/real-responses"
].find((dir) => existsSync(dir)) ?? "/work/shared/fixtures/real-responses"

const fixture = (name: string): unknown => JSON.parse(readFileSync(join(fixtureDirectory, name), "utf8"))

const isJson = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/** `obj[k1][k2]…`, failing loudly when the path is missing. */
const at = (value: unknown, ...path: ReadonlyArray<string | number>): unknown =>
  path.reduce<unknown>((current, key) => {
    if (Array.isArray(current) && typeof key === "number") return current[key]
    if (isJson(current) && typeof key === "string" && key in current) return current[key]
    throw new Error(`missing ${String(key)} in ${JSON.stringify(current).slice(0, 120)}`)
  }, value)

const jsonType = (value: unknown): string => (value === null ? "null" : Array.isArray(value) ? "array" : typeof value)

/** Keys and non-null value types of `ours` against a recorded row; `exact` also forbids extra keys. */
const shapeProblems = (recorded: unknown, ours: unknown, exact: boolean): Array<string> => {
  if (!isJson(recorded) || !isJson(ours)) return [`not objects: ${jsonType(recorded)} / ${jsonType(ours)}`]
  const problems: Array<string> = []
  for (const [key, value] of Object.entries(recorded)) {
    if (!(key in ours)) problems.push(`missing ${key}`)
    else if (value !== null && jsonType(ours[key]) !== jsonType(value) && ours[key] !== null) {
      problems.push(`${key}: ${jsonType(value)} recorded, ${jsonType(ours[key])} served`)
    }
  }
  if (exact) for (const key of Object.keys(ours)) if (!(key in recorded)) problems.push(`extra ${key}`)
  return problems
}

const ctx = { nowMs: Date.UTC(2025, 0, 15, 9, 0, 0), userId: 1 }

const ok = (t: MethodTable, method: string, params: unknown): Extract<MethodOutcome, { _tag: "Ok" }> => {
  const outcome = t.call(method, params, ctx)
  if (outcome === undefined || outcome._tag !== "Ok") throw new Error(`${method}: ${JSON.stringify(outcome)}`)
  return outcome
}

const list = (value: unknown): Array<unknown> => {
  if (!Array.isArray(value)) throw new Error(`not a list: ${JSON.stringify(value).slice(0, 120)}`)
  return value
}

const portal = makeMethodTable({
  seed: {
    "crm.lead": 7531,
    "crm.deal": 60,
    "crm.contact": 60,
    "crm.company": 30,
    "crm.item:1032": 3,
    "crm.item:133": 2,
    "crm.stagehistory:2": 490,
    "tasks.task": 1570,
    "catalog.document.element": 95,
    "socialnetwork.api.workgroup": 50,
    user: 5
  },
  seedNumber: 1,
  cost: zeroCost
})

describe("classic CRM fixtures", () => {
  it("crm.lead.list pages like crm_lead_list_several_pages_success and _one_page_success", () => {
    const recorded = list(fixture("crm_lead_list_several_pages_success.json"))
    const first = ok(portal, "crm.lead.list", { select: ["ID", "TITLE"], order: { ID: "ASC" } })
    expect([first.next, first.total]).toEqual([at(recorded[0], "next"), at(recorded[0], "total")])
    expect(shapeProblems(at(recorded[0], "result", 0), list(first.result)[0], true)).toEqual([])
    // The last batch's last command: start 7500 has 31 rows and no next
    const last = ok(portal, "crm.lead.list", { select: ["ID", "TITLE"], order: { ID: "ASC" }, start: "7500" })
    expect(list(last.result)).toHaveLength(31)
    expect(last.next).toBeUndefined()
    expect(at(recorded[3], "result", "result_next", "cmd48")).toBe(7500)
    expect(ok(portal, "crm.lead.list", { select: ["ID", "TITLE"], start: 2500 }).next).toBe(at(recorded[1], "result", "result_next", "cmd49"))
    const onePage = at(fixture("crm_lead_list_one_page_success.json"), "result", 0)
    expect(shapeProblems(onePage, list(first.result)[0], true)).toEqual([])
  })

  it("crm.lead.list with no match is an empty list with total 0 (batch_list_empty)", () => {
    const empty = ok(portal, "crm.lead.list", { filter: { ">ID": 10_000_000 }, start: 0 })
    expect(empty.result).toEqual(at(fixture("batch_list_empty.json"), "result", "result", "order0000000000"))
    expect(empty.total).toBe(0)
  })

  it("crm.lead.get returns the 49 recorded keys with their types (call_single_success)", () => {
    const recorded = at(fixture("call_single_success.json"), "result", "result", "order0")
    const bare = list(ok(portal, "crm.lead.list", { filter: { HAS_PHONE: "N", HAS_EMAIL: "N" }, select: ["ID"] }).result)[0]
    const lead = ok(portal, "crm.lead.get", { ID: at(bare, "ID") }).result
    expect(shapeProblems(recorded, lead, true)).toEqual([])
    expect(at(lead, "OPPORTUNITY")).toMatch(/^\d+\.\d{2}$/)
    expect(at(lead, "BIRTHDATE")).toBe("")
    // A lead with a phone also carries PHONE, as real portals send it
    const withPhone = list(ok(portal, "crm.lead.list", { filter: { HAS_PHONE: "Y" }, select: ["ID"] }).result)[0]
    expect(list(at(ok(portal, "crm.lead.get", { id: at(withPhone, "ID") }).result, "PHONE"))).toHaveLength(1)
  })

  it("crm.lead.get errors read like crm_get_batch_of_two_error", () => {
    const recorded = list(at(fixture("crm_get_batch_of_two_error.json"), "result", "result_error"))
    const outcomes = [portal.call("crm.lead.get", { ID: "0" }, ctx), portal.call("crm.lead.get", { ID: "999999999" }, ctx)]
    expect(outcomes.map((o) => (o?._tag === "Error" ? { error: o.error, error_description: o.description } : o))).toEqual(recorded)
    expect(outcomes.map((o) => (o?._tag === "Error" ? o.status : 0))).toEqual([400, 400])
  })

  it("crm.lead.fields describes the recorded fields identically (crm_lead_fields_success)", () => {
    const recorded = at(fixture("crm_lead_fields_success.json"), "result")
    const ours = ok(portal, "crm.lead.fields", {}).result
    if (!isJson(recorded) || !isJson(ours)) throw new Error("not dictionaries")
    const standard = Object.keys(recorded).filter((k) => !k.startsWith("UF_"))
    expect(Object.keys(ours).filter((k) => !k.startsWith("UF_")).sort()).toEqual([...standard].sort())
    for (const key of [...standard, "UF_CRM_1594289616952", "UF_CRM_1594289659496", "UF_CRM_1594290129890"]) {
      expect(ours[key]).toEqual(recorded[key])
    }
  })

  it("crm.contact.add returns the new integer ID (crm_contact_add_batch)", () => {
    const t = makeMethodTable({ seed: { "crm.contact": 5 }, seedNumber: 1, cost: zeroCost })
    const id = ok(t, "crm.contact.add", { fields: { NAME: "Иван" } }).result
    expect(typeof id).toBe(typeof at(fixture("crm_contact_add_batch.json"), "result", "result", "order0000000000"))
  })

  it("crm.company.contact.items.get lists links with integer IDs (crm_company_contact_items_get)", () => {
    const recorded = at(fixture("crm_company_contact_items_get.json"), "result", "result", "205364", 0)
    const withContacts = Array.from({ length: 30 }, (_, i) => i + 1)
      .map((id) => portal.call("crm.company.contact.items.get", { id }, ctx))
      .flatMap((o) => (o?._tag === "Ok" ? list(o.result) : []))
    expect(withContacts.length).toBeGreaterThan(0)
    for (const link of withContacts) expect(shapeProblems(recorded, link, true)).toEqual([])
    const deals = list(ok(portal, "crm.deal.list", { select: ["ID", "CONTACT_ID"], filter: { "!CONTACT_ID": "" } }).result)
    const deal = deals[0]
    const links = list(ok(portal, "crm.deal.contact.items.get", { id: at(deal, "ID") }).result)
    expect(links[0]).toMatchObject({ CONTACT_ID: Number(at(deal, "CONTACT_ID")), IS_PRIMARY: "Y", SORT: 10 })
  })

  it("crm.status.entity.items and crm.dealcategory.stage.list return {NAME,SORT,STATUS_ID} lists", () => {
    const statuses = at(fixture("call_batch.json"), "result", "result", "statuses", 0)
    const ours = ok(portal, "crm.status.entity.items", { entityId: "STATUS" })
    expect(ours.total).toBeUndefined()
    for (const row of list(ours.result)) expect(shapeProblems(statuses, row, true)).toEqual([])
    expect(list(ok(portal, "crm.status.entity.items", { entityId: "SOURCE" }).result).length).toBeGreaterThan(3)
    const stages = at(fixture("crm_dealcategory_stage_list.json"), "response", "result", "result", "2", 0)
    const category2 = list(ok(portal, "crm.dealcategory.stage.list", { ID: "2" }).result)
    for (const row of category2) expect(shapeProblems(stages, row, true)).toEqual([])
    expect(at(category2[0], "STATUS_ID")).toBe("C2:NEW")
    expect(at(list(ok(portal, "crm.dealcategory.stage.list", { ID: 0 }).result)[0], "STATUS_ID")).toBe("NEW")
  })
})

describe("D7 fixtures", () => {
  it("crm.category.list returns every category with a total and no next (crm_category_list)", () => {
    const recorded = list(at(fixture("crm_category_list.json"), "result", "categories"))
    const outcome = ok(portal, "crm.category.list", { entityTypeId: 2 })
    const ours = list(at(outcome.result, "categories"))
    expect(outcome.total).toBe(ours.length)
    expect(outcome.next).toBeUndefined()
    expect(shapeProblems(recorded[0], ours[0], true)).toEqual([])
    expect(shapeProblems(recorded[1], ours[1], true)).toEqual([])
    const sorts = ours.map((c) => Number(at(c, "sort")))
    expect(sorts).toEqual([...sorts].sort((a, b) => a - b))
  })

  it("crm.item.list and crm.item.add answer like crm_item_list and crm_item_add", () => {
    const recordedRow = at(fixture("crm_item_list.json"), "result", "items", 0)
    const outcome = ok(portal, "crm.item.list", { entityTypeId: 1032, select: ["id", "title", "ufCrm1032_1712074666"] })
    const row = list(at(outcome.result, "items"))[0]
    expect(Object.keys(isJson(row) ? row : {})).toEqual(["id", "title", "ufCrm1032_1712074666"])
    expect(typeof at(row, "id")).toBe(typeof at(recordedRow, "id"))
    expect(outcome.total).toBe(3)
    const recordedItem = at(fixture("crm_item_add.json"), "result", "result", "order0000000000", "item")
    const added = at(ok(portal, "crm.item.add", { entityTypeId: "133", fields: { title: "Андрей Макарцев\n" } }).result, "item")
    expect(shapeProblems(recordedItem, added, true)).toEqual([])
    expect(at(added, "entityTypeId")).toBe(133)
  })

  it("crm.item.productrow.list returns the owner's rows under productRows (crm_item_productrow_list)", () => {
    const recorded = at(fixture("crm_item_productrow_list.json"), "result", "result", "cmd0000000000", "productRows", 0)
    const rows = Array.from({ length: 20 }, (_, i) => i + 1).flatMap((ownerId) =>
      list(at(ok(portal, "crm.item.productrow.list", { filter: { "=ownerType": "D", "=ownerId": String(ownerId) } }).result, "productRows"))
    )
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) expect(shapeProblems(recorded, row, true)).toEqual([])
    const missing = portal.call("crm.item.productrow.list", { filter: {} }, ctx)
    expect(missing?._tag).toBe("Error")
  })

  it("crm.stagehistory.list returns UPPER string rows under items (crm_stagehistory_list, stagehistory)", () => {
    const selected = at(fixture("crm_stagehistory_list.json"), "result", "result", "order0000000000", "items", 0)
    const narrow = ok(portal, "crm.stagehistory.list", { entityTypeId: 2, select: ["OWNER_ID", "STAGE_ID", "CREATED_TIME", "ID"] })
    const first = list(at(narrow.result, "items"))[0]
    expect(Object.keys(isJson(first) ? first : {})).toEqual(Object.keys(isJson(selected) ? selected : {}))
    expect(shapeProblems(selected, first, true)).toEqual([])
    const export490 = list(fixture("stagehistory.json"))
    const page = ok(portal, "crm.stagehistory.list", { entityTypeId: 2, order: { ID: "ASC" } })
    expect([page.next, page.total]).toEqual([at(export490[0], "next"), at(export490[0], "total")])
    expect(shapeProblems(at(export490[0], "result", "items", 0), list(at(page.result, "items"))[0], true)).toEqual([])
    expect(ok(portal, "crm.stagehistory.list", { entityTypeId: 2, start: 450 }).next).toBeUndefined()
  })

  it("catalog.document.element.list pages 95 rows as 50 + 45 under documentElements", () => {
    const first = ok(portal, "catalog.document.element.list", { order: { id: "ASC" } })
    expect([first.next, first.total]).toEqual([50, 95])
    const second = ok(portal, "catalog.document.element.list", { order: { id: "ASC" }, start: 50 })
    const rows = list(at(second.result, "documentElements"))
    expect(rows).toHaveLength(45)
    expect(second.next).toBeUndefined()
    expect(typeof at(rows[0], "id")).toBe("number")
    expect(Object.keys(isJson(rows[0]) ? rows[0] : {})).toEqual([
      "id", "docId", "storeFrom", "storeTo", "elementId", "amount", "purchasingPrice", "basePrice", "basePriceExtra", "basePriceExtraRate"
    ])
  })

  it("socialnetwork.api.workgroup.list returns workgroups with string ids", () => {
    const outcome = ok(portal, "socialnetwork.api.workgroup.list", { filter: { ">ID": 0 }, order: { ID: "ASC" } })
    const groups = list(at(outcome.result, "workgroups"))
    expect(groups).toHaveLength(50)
    expect(at(groups[0], "id")).toBe("1")
    expect(outcome.total).toBe(50)
  })
})

describe("task and user fixtures", () => {
  it("tasks.task.add returns the 87 recorded keys with their types (single_add)", () => {
    const recorded = at(fixture("single_add.json"), "result", "task")
    const t = makeMethodTable({ seed: { "tasks.task": 5, "socialnetwork.api.workgroup": 5 }, seedNumber: 1, cost: zeroCost })
    const added = at(ok(t, "tasks.task.add", { fields: { TITLE: "Алм", RESPONSIBLE_ID: 1, DEADLINE: "2022-05-09T01:00:00+04:00" } }).result, "task")
    expect(shapeProblems(recorded, added, true)).toEqual([])
    expect(at(added, "deadline")).toBe("2022-05-09T00:00:00+03:00")
    expect(at(added, "deadlineOrig")).toBe("2022-05-09 00:00:00")
  })

  it("tasks.task.list rows are {id, status, group, subStatus} for select ID, STATUS (get_all_tasks)", () => {
    const page = ok(portal, "tasks.task.list", { select: ["ID", "STATUS"], order: { ID: "ASC" } })
    expect([page.next, page.total]).toEqual([50, 1570])
    const row = list(at(page.result, "tasks"))[0]
    expect(Object.keys(isJson(row) ? row : {})).toEqual(["id", "status", "group", "subStatus"])
    expect(at(row, "id")).toBe("1")
  })

  it("task.elapseditem.getlist takes positional params and returns [] or UPPER string rows", () => {
    const recorded = at(fixture("task_elapseditem_getlist_mixed_types.json"), "result", "result")
    if (!isJson(recorded)) throw new Error("not a map")
    const sample = Object.values(recorded).flatMap((v) => list(v))[0]
    const taskIds = list(at(ok(portal, "tasks.task.list", { select: ["ID"], order: { ID: "ASC" } }).result, "tasks")).map((task) => at(task, "id"))
    const outcomes = taskIds.slice(0, 30).map((id) => ok(portal, "task.elapseditem.getlist", [id, { ID: "ASC" }]))
    const all = outcomes.flatMap((o) => list(o.result))
    expect(outcomes.some((o) => list(o.result).length === 0)).toBe(true)
    expect(all.length).toBeGreaterThan(0)
    for (const row of all) expect(shapeProblems(sample, row, true)).toEqual([])
    expect(outcomes.every((o) => o.total === list(o.result).length && o.next === undefined)).toBe(true)
    // Named and PHP-object forms of the same call
    const withItems = taskIds[outcomes.findIndex((o) => list(o.result).length > 0)]
    expect(ok(portal, "task.elapseditem.getlist", { TASKID: String(withItems) }).result).toEqual(
      ok(portal, "task.elapseditem.getlist", { 0: Number(withItems) }).result
    )
    expect(portal.call("task.elapseditem.getlist", [999_999], ctx)?._tag).toBe("Error")
    const bad = portal.call("task.elapseditem.getlist", [], ctx)
    expect(bad?._tag === "Error" && bad.error).toBe("ERROR_CORE")
  })

  it("lists.element.add returns increasing integer IDs and refuses a duplicate code (lists_element_add_batch)", () => {
    const t = makeMethodTable({ seed: {}, seedNumber: 1, cost: zeroCost })
    const add = (code: string) => t.call("lists.element.add", { IBLOCK_TYPE_ID: "lists", IBLOCK_ID: "1", ELEMENT_CODE: code, FIELDS: { NAME: code } }, ctx)
    const a = add("a")
    const b = add("b")
    const ids = [a, b].map((o) => (o?._tag === "Ok" ? o.result : undefined))
    expect(ids.map((id) => typeof id)).toEqual(["number", "number"])
    expect(Number(ids[1])).toBeGreaterThan(Number(ids[0]))
    expect(add("a")?._tag).toBe("Error")
    expect(t.writesPerformed()).toEqual({ "lists.element.add": 2 })
  })

  it("user.fields is the recorded dictionary (user_fields)", () => {
    expect(ok(portal, "user.fields", {}).result).toEqual(at(fixture("user_fields.json"), "result"))
  })
})
