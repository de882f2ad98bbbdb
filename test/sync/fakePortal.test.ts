/**
 * What a sync relies on in the fake portal: writes and mutations stamp DATE_CREATE / DATE_MODIFY with the portal's
 * time, mutation rules update rows, `*.fields` describe every field (user fields included) and
 * `crm.deal.userfield.add` adds one.
 */
import { describe, expect, it } from "@effect/vitest"
import { PortalEngine } from "../../src/testing/internal/engine.js"

const ctx = (nowMs: number) => ({ nowMs, userId: 1 })

const call = (engine: PortalEngine, method: string, params: Record<string, unknown>, nowMs = Date.UTC(2026, 5, 1)) => {
  const answer = engine.methodTable.call(method, params, ctx(nowMs))
  if (answer?._tag !== "Ok") throw new Error(`${method}: ${JSON.stringify(answer)}`)
  return answer.result
}

const rows = (engine: PortalEngine, select: ReadonlyArray<string> = ["ID", "TITLE", "DATE_CREATE", "DATE_MODIFY"]) => {
  const all: Array<Record<string, unknown>> = []
  for (let start = 0; ; start += 50) {
    const answer = engine.methodTable.call("crm.deal.list", { select, order: { ID: "ASC" }, start }, ctx(0))
    if (answer?._tag !== "Ok") throw new Error(JSON.stringify(answer))
    all.push(...(answer.result as ReadonlyArray<Record<string, unknown>>))
    if (answer.next === undefined) return all
  }
}

describe("the fake portal, as a sync sees it", () => {
  it("add and update stamp DATE_CREATE and DATE_MODIFY with the portal's time", () => {
    const engine = new PortalEngine({ seed: { "crm.deal": 5 }, limits: "off" }, 0)
    const added = Number(call(engine, "crm.deal.add", { fields: { TITLE: "new" } }, Date.UTC(2026, 5, 1, 10)))
    call(engine, "crm.deal.update", { id: 2, fields: { TITLE: "changed" } }, Date.UTC(2026, 5, 1, 11))
    const byId = new Map(rows(engine).map((row) => [Number(row["ID"]), row]))
    expect(Date.parse(String(byId.get(added)?.["DATE_CREATE"]))).toBe(Date.UTC(2026, 5, 1, 10))
    expect(Date.parse(String(byId.get(added)?.["DATE_MODIFY"]))).toBe(Date.UTC(2026, 5, 1, 10))
    expect(Date.parse(String(byId.get(2)?.["DATE_MODIFY"]))).toBe(Date.UTC(2026, 5, 1, 11))
    expect(Date.parse(String(byId.get(2)?.["DATE_CREATE"]))).toBeLessThan(Date.UTC(2026, 0, 1))
  })

  it("a mutation rule adds, updates and deletes rows, stamped with the time it fires at", () => {
    const engine = new PortalEngine({ seed: { "crm.deal": 200 }, limits: "off" }, 0)
    const before = new Map(rows(engine).map((row) => [Number(row["ID"]), row]))
    let state = 5
    const random = () => (state = (state * 48271) % 2147483647) / 2147483647
    const at = Date.UTC(2026, 6, 1, 12)
    engine.methodTable.mutate({ entity: "crm.deal", everyRequests: 1, add: 3, update: 4, delete: 2 }, random, at)
    const after = new Map(rows(engine).map((row) => [Number(row["ID"]), row]))
    const added = [...after.keys()].filter((id) => !before.has(id))
    const deleted = [...before.keys()].filter((id) => !after.has(id))
    const updated = [...after.keys()].filter((id) => before.has(id) && before.get(id)?.["TITLE"] !== after.get(id)?.["TITLE"])
    expect([added.length, deleted.length, updated.length]).toEqual([3, 2, 4])
    for (const id of [...added, ...updated]) expect(Date.parse(String(after.get(id)?.["DATE_MODIFY"]))).toBe(at)
    for (const id of added) expect(Date.parse(String(after.get(id)?.["DATE_CREATE"]))).toBe(at)
    // the rows no rule touched keep their dates
    const untouched = [...after.keys()].filter((id) => before.has(id) && !updated.includes(id))
    for (const id of untouched) expect(after.get(id)).toEqual(before.get(id))
  })

  it("the mutations option updates rows while a client lists them", () => {
    const engine = new PortalEngine({ seed: { "crm.deal": 100 }, limits: "off", mutations: [{ entity: "crm.deal", everyRequests: 2, update: 5 }] }, 0)
    const first = rows(engine, ["ID", "TITLE"])
    const request = { method: "POST", headers: { "content-type": "application/json" } }
    for (let index = 0; index < 2; index++) {
      engine.handle({ httpMethod: request.method, url: `${engine.webhookPath}crm.deal.list.json`, headers: request.headers, body: JSON.stringify({ select: ["ID"] }) }, 1000)
    }
    const changed = rows(engine, ["ID", "TITLE"]).filter((row, index) => row["TITLE"] !== first[index]?.["TITLE"])
    expect(changed.length).toBe(5)
  })

  it("crm.deal.fields describes every field the list returns, user fields included; userfield.add adds one", () => {
    const engine = new PortalEngine({ seed: { "crm.deal": 3 }, limits: "off" }, 0)
    const fields = call(engine, "crm.deal.fields", {}) as Record<string, Record<string, unknown>>
    const row = rows(engine, ["*", "UF_*"])[0]!
    for (const key of Object.keys(row)) expect(fields[key], key).toBeDefined()
    expect(fields["UF_CRM_1603211497115"]).toMatchObject({ type: "money", isDynamic: true, isMultiple: false, isReadOnly: false })
    expect(fields["DATE_MODIFY"]).toMatchObject({ type: "datetime", isReadOnly: true })
    for (const entity of ["crm.contact", "crm.company", "crm.lead"]) {
      const meta = call(engine, `${entity}.fields`, {}) as Record<string, Record<string, unknown>>
      expect(meta["PHONE"], entity).toMatchObject({ type: "crm_multifield", isMultiple: true })
    }
    const id = call(engine, "crm.deal.userfield.add", { fields: { FIELD_NAME: "REGION", USER_TYPE_ID: "string", EDIT_FORM_LABEL: { ru: "Регион" } } })
    expect(typeof id).toBe("number")
    const again = call(engine, "crm.deal.fields", {}) as Record<string, Record<string, unknown>>
    expect(again["UF_CRM_REGION"]).toMatchObject({ type: "string", isDynamic: true, formLabel: "Регион" })
    expect(rows(engine, ["*", "UF_*"])[0]).toHaveProperty("UF_CRM_REGION", null)
  })
})
