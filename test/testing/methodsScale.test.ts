/**
 * A million-deal portal, as the benchmarks seed it: keyset pages, offset pages with totals, filtered counts
 * and their invalidation by writes. Assertions are on results only; the speed shows in the suite's duration.
 */
import { describe, expect, it } from "@effect/vitest"
import { makeMethodTable, zeroCost } from "../../src/testing/internal/methods.js"
import type { MethodOutcome } from "../../src/testing/internal/types.js"
import { hashString, idsWithGaps, mulberry32 } from "../../src/testing/internal/seed.js"

type Json = Record<string, unknown>

const size = 1_000_000
const ctx = { nowMs: Date.UTC(2025, 0, 15), userId: 1 }
const portal = makeMethodTable({ seed: { "crm.deal": size }, seedNumber: 1, cost: zeroCost })
/** The table's IDs are exactly the seeded gap sequence. */
const ids = idsWithGaps(1, hashString("crm.deal"), size)

const ok = (method: string, params: Json): Extract<MethodOutcome, { _tag: "Ok" }> => {
  const outcome = portal.call(method, params, ctx)
  if (outcome === undefined || outcome._tag !== "Ok") throw new Error(`${method}: ${JSON.stringify(outcome)}`)
  return outcome
}

const rows = (result: unknown): Array<Json> =>
  Array.isArray(result) ? result.filter((r): r is Json => typeof r === "object" && r !== null) : []

const idsOf = (list: ReadonlyArray<Json>): Array<number> => list.map((row) => Number(row.ID))

describe("a portal with 1,000,000 deals", () => {
  it("serves a keyset page (>ID, start=-1) by binary search", () => {
    const after = ids[654_321]!
    const page = ok("crm.deal.list", { filter: { ">ID": after }, order: { ID: "ASC" }, select: ["ID", "STAGE_ID"], start: -1 })
    expect(idsOf(rows(page.result))).toEqual(Array.from(ids.subarray(654_322, 654_372)))
    expect(page.total).toBe(0)
    expect(page.next).toBeUndefined()
    const descending = ok("crm.deal.list", { filter: { "<ID": after }, order: { ID: "DESC" }, select: ["ID"], start: -1 })
    expect(idsOf(rows(descending.result))).toEqual(Array.from(ids.subarray(654_271, 654_321)).reverse())
  })

  it("serves offset pages with total and next", () => {
    const page = ok("crm.deal.list", { order: { ID: "ASC" }, select: ["ID"], start: 500_000 })
    expect(idsOf(rows(page.result))).toEqual(Array.from(ids.subarray(500_000, 500_050)))
    expect([page.total, page.next]).toEqual([size, 500_050])
  })

  it("counts a filter keeping about 10 % once and pages through it", () => {
    const params = { filter: { CATEGORY_ID: 3 }, order: { ID: "ASC" }, select: ["ID", "CATEGORY_ID"] }
    const first = ok("crm.deal.list", { ...params, start: 5_000 })
    const second = ok("crm.deal.list", { ...params, start: 5_050 })
    const total = first.total ?? 0
    expect(total).toBeGreaterThan(size * 0.095)
    expect(total).toBeLessThan(size * 0.105)
    expect(second.total).toBe(total)
    const both = [...rows(first.result), ...rows(second.result)]
    expect(both).toHaveLength(100)
    expect(both.every((row) => row.CATEGORY_ID === "3")).toBe(true)
    const seen = idsOf(both)
    expect(seen).toEqual([...seen].sort((a, b) => a - b))
    expect(new Set(seen).size).toBe(100)
  })

  it("keeps keyset pages with a selective filter correct", () => {
    const page = ok("crm.deal.list", { filter: { ">ID": ids[400_000], STAGE_ID: "C3:WON" }, order: { ID: "ASC" }, select: ["ID", "STAGE_ID"], start: -1 })
    const list = rows(page.result)
    expect(list).toHaveLength(50)
    expect(list.every((row) => row.STAGE_ID === "C3:WON" && Number(row.ID) > ids[400_000]!)).toBe(true)
  })

  it("recounts after a write or a mutation", () => {
    const params = { filter: { CATEGORY_ID: 4 }, select: ["ID"], start: 0 }
    const before = ok("crm.deal.list", params).total ?? 0
    const outsider = rows(ok("crm.deal.list", { filter: { CATEGORY_ID: 0 }, select: ["ID"], start: -1 }).result)[0]!
    ok("crm.deal.update", { id: outsider.ID, fields: { CATEGORY_ID: 4 } })
    expect(ok("crm.deal.list", params).total).toBe(before + 1)
    portal.mutate({ entity: "crm.deal", everyRequests: 1, add: 10, delete: 10 }, mulberry32(1))
    const all = ok("crm.deal.list", { select: ["ID"], start: 0 })
    expect(all.total).toBe(size)
    const newest = ok("crm.deal.list", { select: ["ID"], order: { ID: "DESC" }, start: -1 })
    expect(Number(rows(newest.result)[0]!.ID)).toBe(ids[size - 1]! + 10)
  })
})
