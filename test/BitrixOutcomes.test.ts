/**
 * Every item of a write accounted for, against the fake portal's ground truth (issue 10, findings 3, 4 and 9):
 * a 500 that came after the write ran is an unknown outcome, never a definite failure; a bulk call with mixed
 * outcomes names every item; `callBatch({ halt })` stops, or does not stop, the later commands.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import { stats, testLayer } from "./support/engine.js"
import { withClock } from "./support/scripted.js"

/** The portal's deals as it holds them now: ID -> TITLE (read after the call under test, faults spent). */
const portalTitles = Effect.map(
  Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"], order: { ID: "ASC" } }),
  (rows) => new Map(rows.map((row) => [Number((row as Record<string, unknown>)["ID"]), String((row as Record<string, unknown>)["TITLE"])]))
)

describe("a write answered 500 after it ran (error500After)", () => {
  it.effect("a single write: the portal performed it once, the client reports an unknown outcome, not a refusal", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.call("crm.deal.add", { fields: { TITLE: "after-500" } })))
      const after = yield* stats
      // ground truth: the write happened, exactly once, and the portal answered 500
      expect(after.faultsInjected).toEqual({ error500After: 1 })
      expect(after.writesPerformed["crm.deal.add"]).toBe(1)
      expect(after.requestsByMethod["crm.deal.add"]).toBe(1)
      expect(error._tag).toBe("UnknownOutcomeError")
      if (error._tag !== "UnknownOutcomeError") return
      expect(error.itemIndexes).toEqual([0])
      expect(error.cause).toMatchObject({ _tag: "BitrixApiError", code: "INTERNAL_SERVER_ERROR", status: 500 })
      const titles = yield* portalTitles
      expect([...titles.values()].filter((title) => title === "after-500")).toHaveLength(1)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 3 }, faults: [{ kind: "error500After", onRequests: [1] }] }))))

  it.effect("a bulk write: the items of the struck batch are named as unknown, and the portal holds each of them once", () =>
    Effect.gen(function* () {
      const items = Array.from({ length: 6 }, (_, n) => ({ fields: { TITLE: `bulk-${n}` } }))
      const error = yield* Effect.flip(withClock(Bitrix.call("crm.deal.add", items)))
      const after = yield* stats
      expect(after.faultsInjected).toEqual({ error500After: 1 })
      // three batches of two, each sent once: every write happened exactly once
      expect(after.requestsByMethod["batch"]).toBe(3)
      expect(after.writesPerformed["crm.deal.add"]).toBe(6)
      expect(error._tag).toBe("BulkCallError")
      if (error._tag !== "BulkCallError") return
      expect(error.outcomes.map((outcome) => outcome.index)).toEqual([0, 1, 2, 3, 4, 5])
      expect(error.unknown).toHaveLength(2)
      expect(error.succeeded).toHaveLength(4)
      expect(error.refused).toHaveLength(0)
      for (const outcome of error.unknown) {
        expect(outcome.cause).toMatchObject({ _tag: "BitrixApiError", code: "INTERNAL_SERVER_ERROR", status: 500 })
      }
      const titles = yield* portalTitles
      for (const outcome of error.unknown) {
        // the item the client could not confirm is on the portal, once
        expect([...titles.values()].filter((title) => title === `bulk-${outcome.index}`)).toHaveLength(1)
      }
      for (const outcome of error.succeeded) {
        expect(titles.get(Number(outcome.result))).toBe(`bulk-${outcome.index}`)
      }
    }).pipe(
      Effect.provide(testLayer({ seed: { "crm.deal": 3 }, faults: [{ kind: "error500After", onRequests: [2] }] }, { batchSize: 2 }))
    ))

  it.effect("a read answered 500 after it ran is still retried", () =>
    Effect.gen(function* () {
      const deal = yield* withClock(Bitrix.call("crm.deal.get", { ID: 1 }))
      expect((deal as Record<string, unknown>)["ID"]).toBe("1")
      const after = yield* stats
      expect(after.faultsInjected).toEqual({ error500After: 1 })
      expect(after.requestsByMethod["crm.deal.get"]).toBe(2)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 3 }, faults: [{ kind: "error500After", onRequests: [1] }] }))))
})

describe("a bulk call with mixed outcomes accounts for every item", () => {
  it.effect("refused, unknown and succeeded items are all named, with the portal's words for the refused", () =>
    Effect.gen(function* () {
      // request 1: the IDs the portal holds; requests 2..4: three write batches of two; request 3 is dropped
      // after the portal ran it
      const first = yield* Bitrix.callRaw("crm.deal.list", { select: ["ID"], order: { ID: "ASC" } })
      const ids = (first.result as ReadonlyArray<{ readonly ID: string }>).map((row) => Number(row.ID))
      const missing = Math.max(...ids) + 1000
      // in each batch: an existing deal, then one that does not exist
      const items = [0, 1, 2].flatMap((n) => [
        { ID: ids[n]!, fields: { TITLE: `updated-${n}` } },
        { ID: missing + n, fields: { TITLE: `nowhere-${n}` } }
      ])
      const error = yield* Effect.flip(withClock(Bitrix.call("crm.deal.update", items)))
      const after = yield* stats
      expect(after.faultsInjected).toEqual({ drop: 1 })
      expect(after.requestsByMethod["batch"]).toBe(3)
      expect(error._tag).toBe("BulkCallError")
      if (error._tag !== "BulkCallError") return
      // every item has exactly one outcome, at its own index
      expect(error.outcomes.map((outcome) => outcome.index)).toEqual([0, 1, 2, 3, 4, 5])
      expect(error.succeeded.length + error.refused.length + error.notRun.length + error.unknown.length).toBe(items.length)
      // one batch's answer was lost: both its items are unknown; the other two batches answered
      expect(error.unknown).toHaveLength(2)
      expect(error.refused).toHaveLength(2)
      expect(error.succeeded).toHaveLength(2)
      const unknownBatch = error.unknown[0]!.index >> 1
      expect(error.unknown.map((outcome) => outcome.index)).toEqual([2 * unknownBatch, 2 * unknownBatch + 1])
      for (const outcome of error.refused) {
        expect(outcome.index % 2).toBe(1)
        expect(outcome).toMatchObject({ code: "", description: "Not found", item: items[outcome.index] })
      }
      for (const outcome of error.succeeded) expect(outcome.index % 2).toBe(0)
      expect(error.message).toContain("2 refused, 0 not run, 2 outcome unknown")
      // ground truth: every existing deal was updated (the dropped batch ran too); the missing ones do not exist
      const titles = yield* portalTitles
      for (const n of [0, 1, 2]) expect(titles.get(ids[n]!)).toBe(`updated-${n}`)
      for (const n of [0, 1, 2]) expect(titles.has(missing + n)).toBe(false)

      // callEither still gives one Either per item
      const eithers = yield* withClock(Bitrix.callEither("crm.deal.update", items))
      expect(eithers.map(Either.isRight)).toEqual([true, false, true, false, true, false])
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 10 }, faults: [{ kind: "drop", onRequests: [3] }] }, { batchSize: 2 }))))
})

describe("callBatch({ halt }) end to end", () => {
  const cmd = {
    first: { method: "crm.deal.add", params: { fields: { TITLE: "halt-first" } } },
    bad: "crm.deal.update?ID=987654321&fields[TITLE]=nowhere",
    last: { method: "crm.deal.add", params: { fields: { TITLE: "halt-last" } } }
  }

  it.effect("halt: true stops the commands after the failed one: reported as not run, and not run on the portal", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Bitrix.callBatch({ halt: true, cmd }))
      expect(error._tag).toBe("BulkCallError")
      if (error._tag !== "BulkCallError") return
      expect(error.outcomes.map((outcome) => [outcome.commandLabel, outcome._tag])).toEqual([
        ["first", "Succeeded"],
        ["bad", "Refused"],
        ["last", "NotRun"]
      ])
      expect(error.notRun[0]?.reason).toContain("halt")
      expect(error.refused[0]).toMatchObject({ code: "", description: "Not found" })
      const after = yield* stats
      expect(after.writesPerformed["crm.deal.add"]).toBe(1)
      const titles = [...(yield* portalTitles).values()]
      expect(titles).toContain("halt-first")
      expect(titles).not.toContain("halt-last")
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 3 } }))))

  it.effect("halt: false runs the commands after the failed one", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Bitrix.callBatch({ halt: false, cmd }))
      expect(error._tag).toBe("BulkCallError")
      if (error._tag !== "BulkCallError") return
      expect(error.outcomes.map((outcome) => [outcome.commandLabel, outcome._tag])).toEqual([
        ["first", "Succeeded"],
        ["bad", "Refused"],
        ["last", "Succeeded"]
      ])
      const after = yield* stats
      expect(after.writesPerformed["crm.deal.add"]).toBe(2)
      const titles = [...(yield* portalTitles).values()]
      expect(titles).toContain("halt-first")
      expect(titles).toContain("halt-last")
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 3 } }))))
})
