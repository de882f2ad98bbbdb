import { describe, expect, it } from "@effect/vitest"
import { Chunk, type Duration, Effect, Either, Exit, Fiber, Option, Schedule, Stream, TestClock } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import type { LimitNumbers } from "../src/BitrixConfig.js"
import { engineIds, stats, testLayer } from "./support/engine.js"

/** Runs `program` while moving the TestClock forward in `step`s until it ends. */
const withClock = <A, E, R>(program: Effect.Effect<A, E, R>, step: Duration.DurationInput = "100 millis") =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(program)
    for (;;) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* done.value
      yield* TestClock.adjust(step)
    }
  })

const rowIds = (rows: ReadonlyArray<unknown>, key = "ID") =>
  rows.map((row) => Number((row as Record<string, unknown>)[key]))

/** The IDs the seeded portal has (seeded IDs have gaps, as real ones do). */
const dealIds = Effect.map(Bitrix.getAll("crm.deal.list", { select: ["ID"] }), (rows) => rowIds(rows))

describe("call", () => {
  it.effect("one call returns the portal's result", () =>
    Effect.gen(function* () {
      const deal = yield* Bitrix.call("crm.deal.get", { ID: 1 })
      expect((deal as Record<string, unknown>)["ID"]).toBe("1")
      const after = yield* stats
      expect(after.requestsByMethod["crm.deal.get"]).toBe(1)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 10 } })))
  )

  it.effect("a bulk call is batched and keeps the input order", () =>
    Effect.gen(function* () {
      const ids = (yield* dealIds).slice(0, 120).reverse()
      const deals = yield* Bitrix.call(
        "crm.deal.get",
        ids.map((ID) => ({ ID }))
      )
      expect(rowIds(deals)).toEqual(ids)
      const after = yield* stats
      expect(after.batchCommandsByMethod["crm.deal.get"]).toBe(120)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 200 } })))
  )

  it.effect("failed items are listed with their index and the portal's words; the rest are kept", () =>
    Effect.gen(function* () {
      const items = [{ ID: 1 }, { ID: 999999 }, { ID: 2 }, { ID: 888888 }]
      const error = yield* Effect.flip(Bitrix.call("crm.deal.get", items))
      expect(error._tag).toBe("BulkCallError")
      if (error._tag !== "BulkCallError") return
      expect(error.refused.map((failure) => failure.index)).toEqual([1, 3])
      expect(error.refused[0]?.description).toBe("Not found")
      expect(error.refused[0]?.item).toEqual({ ID: 999999 })
      expect(rowIds([error.partialResults?.[0], error.partialResults?.[2]])).toEqual([1, 2])
      expect(error.partialResults?.[1]).toBeUndefined()

      const eithers = yield* Bitrix.callEither("crm.deal.get", items)
      expect(eithers.map(Either.isRight)).toEqual([true, false, true, false])
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 10 } })))
  )

  it.effect("an empty item list sends nothing", () =>
    Effect.gen(function* () {
      expect(yield* Bitrix.call("crm.deal.add", [])).toEqual([])
      expect((yield* stats).httpRequests).toBe(0)
    }).pipe(Effect.provide(testLayer({})))
  )

  it.effect("writes land once each", () =>
    Effect.gen(function* () {
      const ids = yield* Bitrix.call(
        "crm.deal.add",
        Array.from({ length: 75 }, (_, index) => ({ fields: { TITLE: `Deal ${index}` } }))
      )
      expect(new Set(ids).size).toBe(75)
      expect((yield* stats).writesPerformed["crm.deal.add"]).toBe(75)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 5 } })))
  )
})

describe("callRaw", () => {
  it.effect("returns the whole envelope, not reshaped", () =>
    Effect.gen(function* () {
      const envelope = yield* Bitrix.callRaw("crm.deal.list", { start: 0, select: ["ID"] })
      expect(envelope.total).toBe(120)
      expect(envelope.next).toBe(50)
      expect(Array.isArray(envelope.result)).toBe(true)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 120 } })))
  )

  it.effect("carries null values, which a batched call refuses before any request", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Bitrix.call("crm.deal.update", [{ ID: 1, fields: { COMMENTS: null } }]))
      expect(error._tag).toBe("ValidationError")
      expect(error.message).toContain("callRaw")
      expect((yield* stats).httpRequests).toBe(0)
      const envelope = yield* Bitrix.callRaw("crm.deal.update", { ID: 1, fields: { COMMENTS: null } })
      expect(envelope.result).toBe(true)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 5 } })))
  )
})

describe("callBatch", () => {
  it.effect("runs the portal's batch with $result references and returns results by label", () =>
    Effect.gen(function* () {
      const results = yield* Bitrix.callBatch({
        cmd: {
          first: { method: "crm.deal.list", params: { order: { ID: "ASC" }, select: ["ID"], start: -1 } },
          deal: "crm.deal.get?ID=$result[first][0][ID]"
        }
      })
      const first = results["first"] as ReadonlyArray<Record<string, unknown>>
      expect((results["deal"] as Record<string, unknown>)["ID"]).toBe(first[0]!["ID"])
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 60 } })))
  )

  it.effect("a failed command is a typed error naming its label, with the other results kept", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Bitrix.callBatch({ cmd: { good: "crm.deal.get?ID=1", bad: "crm.deal.get?ID=424242" } })
      )
      expect(error._tag).toBe("BulkCallError")
      if (error._tag !== "BulkCallError") return
      expect(error.refused.map((failure) => failure.commandLabel)).toEqual(["bad"])
      expect((error.partialResults?.[0] as Record<string, unknown>)["ID"]).toBe("1")
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 5 } })))
  )

  it.effect("more than 50 commands, numeric labels and a nested batch are refused before any request", () =>
    Effect.gen(function* () {
      const many = Object.fromEntries(Array.from({ length: 51 }, (_, index) => [`c${index}`, "crm.deal.get?ID=1"]))
      expect((yield* Effect.flip(Bitrix.callBatch({ cmd: many })))._tag).toBe("ValidationError")
      expect((yield* Effect.flip(Bitrix.callBatch({ cmd: { "0": "crm.deal.get?ID=1" } })))._tag).toBe("ValidationError")
      expect((yield* Effect.flip(Bitrix.callBatch({ cmd: { inner: "batch?cmd[a]=x" } })))._tag).toBe("ValidationError")
      expect((yield* stats).httpRequests).toBe(0)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 5 } })))
  )
})

describe("getByID", () => {
  it.effect("returns results keyed by ID in the order of the IDs, duplicates requested once", () =>
    Effect.gen(function* () {
      const byId = yield* Bitrix.getByID("crm.deal.contact.items.get", [7, 3, 7, 12], { idField: "id" })
      expect([...byId.keys()]).toEqual([7, 3, 12])
      expect(Array.isArray(byId.get(3))).toBe(true)
      expect((yield* stats).batchCommandsByMethod["crm.deal.contact.items.get"]).toBe(3)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 20, "crm.contact": 20 } })))
  )

  it.effect("the ID field inside params is a ValidationError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Bitrix.getByID("crm.deal.get", [1], { params: { id: 5 } }))
      expect(error._tag).toBe("ValidationError")
      expect(error.message).toContain("params.id")
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 5 } })))
  )
})

describe("getAll (offset)", () => {
  it.effect("returns every row once, with ID order added", () =>
    Effect.gen(function* () {
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"] }, { strategy: "offset" })
      const ids = rowIds(rows)
      expect(ids.length).toBe(1234)
      expect(new Set(ids).size).toBe(1234)
      expect(ids).toEqual([...ids].sort((a, b) => a - b))
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 1234 } })))
  )

  it.effect("unwraps tasks and items", () =>
    Effect.gen(function* () {
      const tasks = yield* Bitrix.getAll("tasks.task.list", {}, { strategy: "offset" })
      expect(tasks.length).toBe(130)
      expect(typeof (tasks[0] as Record<string, unknown>)["id"]).toBe("string")
      const items = yield* Bitrix.getAll("crm.item.list", { entityTypeId: 1032 }, { strategy: "offset" })
      expect(items.length).toBe(77)
      expect(typeof (items[0] as Record<string, unknown>)["id"]).toBe("number")
    }).pipe(Effect.provide(testLayer({ seed: { "tasks.task": 130, "crm.item:1032": 77 } })))
  )

  it.effect("rows deleted while paging: every row still there at the end comes back, once (the ID pass finds the ones pushed out)", () =>
    Effect.gen(function* () {
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy: "offset" })
      const ids = rows.map((row) => Number((row as { readonly ID: string }).ID))
      expect(ids.length - new Set(ids).size).toBe(0)
      const remaining = yield* engineIds("crm.deal.list")
      expect(remaining.length).toBeLessThan(600)
      expect(remaining.filter((id) => !ids.includes(id))).toEqual([])
    }).pipe(
      Effect.provide(
        testLayer({ seed: { "crm.deal": 600 }, mutations: [{ entity: "crm.deal", everyRequests: 1, delete: 30 }] })
      )
    )
  )

  it.effect("start and a malformed filter are refused before any request", () =>
    Effect.gen(function* () {
      expect((yield* Effect.flip(Bitrix.getAll("crm.deal.list", { start: 50 })))._tag).toBe("ValidationError")
      expect((yield* Effect.flip(Bitrix.getAll("crm.deal.list", { filter: "ID>5" })))._tag).toBe("ValidationError")
      expect((yield* Effect.flip(Bitrix.getAll("crm.deal.list", { select: "ID" })))._tag).toBe("ValidationError")
      expect(
        (yield* Effect.flip(Bitrix.getAll("crm.deal.list", { filter: { ID: 1 }, FILTER: { ID: 2 } })))._tag
      ).toBe("ValidationError")
      expect((yield* Effect.flip(Bitrix.call("batch", { cmd: {} })))._tag).toBe("ValidationError")
      expect((yield* Effect.flip(Bitrix.call("", {})))._tag).toBe("ValidationError")
      expect((yield* stats).httpRequests).toBe(0)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 5 } })))
  )
})

describe("limits", () => {
  const standard: LimitNumbers = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }

  it.effect("2,000 calls against the standard limits: not one 503", () =>
    Effect.gen(function* () {
      const ids = yield* Bitrix.callRaw("crm.deal.list", { select: ["ID"], start: -1 }).pipe(Effect.map((envelope) => rowIds(envelope.result as ReadonlyArray<unknown>)))
      const results = yield* withClock(
        Effect.forEach(Array.from({ length: 1999 }, (_, index) => index), (index) => Bitrix.call("crm.deal.get", { ID: ids[index % ids.length]! }), {
          concurrency: "unbounded"
        }),
        "10 seconds"
      )
      expect(results.length).toBe(1999)
      const after = yield* stats
      expect(after.rejected503).toBe(0)
      expect(after.httpRequests).toBe(2000)
      // 50 at once, then 2 a second: the last request cannot start before (2000 - 50) / 2 s
      expect(after.portalSecondsElapsed).toBeGreaterThanOrEqual(975)
      expect(after.portalSecondsElapsed).toBeLessThan(1000)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 50 }, limits: standard }, { limits: standard })))
  )

  it.effect("the operating budget paces a costly method before the portal blocks it: no 429", () => {
    const tight: LimitNumbers = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 10, operatingWindowSeconds: 60 }
    return Effect.gen(function* () {
      const results = yield* withClock(
        Effect.forEach(Array.from({ length: 150 }, (_, index) => index), () => Bitrix.call("crm.deal.list", { select: ["*"] }), {
          concurrency: 8
        }),
        "1 second"
      )
      expect(results.length).toBe(150)
      const after = yield* stats
      expect(after.rejected429).toBe(0)
      // 150 calls of ~0.105 s of server time each exceed the 10 s budget, so the window had to be waited for
      expect(after.operatingSecondsByMethod["crm.deal.list"]).toBeGreaterThan(10)
    }).pipe(
      Effect.provide(testLayer({ seed: { "crm.deal": 500 }, limits: tight, costModel: "default" }, { limits: tight }))
    )
  })
  describe.each(["commands", "batch"] as const)("a bulk call of costly commands under a tight budget, billed to %s", (batchBilling) => {
    it.effect("meets no 429: the first batch prices the method, and each batch starts when its estimated time fits", () => {
      const tight: LimitNumbers = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 10, operatingWindowSeconds: 60 }
      return Effect.gen(function* () {
        const items = Array.from({ length: 600 }, () => ({ select: ["*"] }))
        const results = yield* withClock(Bitrix.call("crm.deal.list", items), "1 second")
        expect(results.length).toBe(600)
        const after = yield* stats
        expect(after.rejected429).toBe(0)
        // 600 commands of about 0.105 s each are 6 windows' worth of the 10 s budget: the budget was waited for
        expect(after.portalSecondsElapsed).toBeGreaterThan(5 * 60)
      }).pipe(
        Effect.provide(testLayer({ seed: { "crm.deal": 500 }, limits: tight, costModel: "default", batchBilling }, { limits: tight }))
      )
    })
  })
})

describe("retries", () => {
  it.effect("a 503 is retried on the schedule, and a write lands exactly once", () =>
    Effect.gen(function* () {
      const ids = yield* withClock(
        Bitrix.call("crm.deal.add", [{ fields: { TITLE: "a" } }, { fields: { TITLE: "b" } }]).pipe(
          Bitrix.withRetry(Schedule.spaced("1 second"))
        )
      )
      expect(ids.length).toBe(2)
      const after = yield* stats
      expect(after.faultsInjected["error503"]).toBe(2)
      expect(after.writesPerformed["crm.deal.add"]).toBe(2)
    }).pipe(Effect.provide(testLayer({ faults: [{ kind: "error503", onRequests: [1, 2] }] })))
  )

  it.effect("a dropped write is not repeated: UnknownOutcomeError names the items", () =>
    Effect.gen(function* () {
      const items = Array.from({ length: 60 }, (_, index) => ({ fields: { TITLE: `t${index}` } }))
      const outcome = yield* withClock(Effect.exit(Bitrix.call("crm.deal.add", items)))
      expect(Exit.isFailure(outcome)).toBe(true)
      const eithers = yield* withClock(Bitrix.callEither("crm.deal.add", items))
      const unknown = eithers.flatMap((either, index) =>
        Either.isLeft(either) && either.left._tag === "UnknownOutcomeError" ? [index] : []
      )
      expect(unknown.length).toBeGreaterThan(0)
      const after = yield* stats
      // each batch was sent once: the portal performed every write it received exactly once
      expect(after.requestsByMethod["batch"]).toBe(4)
      expect(after.writesPerformed["crm.deal.add"]).toBe(120)
    }).pipe(Effect.provide(testLayer({ faults: [{ kind: "drop", onRequests: [1, 3] }] })))
  )

  it.effect("a read survives HTML 502 pages and malformed JSON", () =>
    Effect.gen(function* () {
      const deal = yield* withClock(Bitrix.call("crm.deal.get", { ID: 1 }).pipe(Bitrix.withRetry(Schedule.spaced("1 second"))))
      expect((deal as Record<string, unknown>)["ID"]).toBe("1")
      expect((yield* stats).httpRequests).toBe(3)
    }).pipe(
      Effect.provide(
        testLayer({
          seed: { "crm.deal": 3 },
          faults: [
            { kind: "html502", onRequests: [1] },
            { kind: "malformedJson", onRequests: [2] }
          ]
        })
      )
    )
  )

  it.effect("other 4xx errors go straight to the caller with the portal's words", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Bitrix.call("crm.nothing.list", {}))
      expect(error._tag).toBe("BitrixApiError")
      if (error._tag !== "BitrixApiError") return
      expect(error.code).toBe("ERROR_METHOD_NOT_FOUND")
      expect(error.status).toBe(404)
      expect((yield* stats).httpRequests).toBe(1)
    }).pipe(Effect.provide(testLayer({})))
  )
})

describe("slow", () => {
  it.effect("paces only the program inside it", () =>
    Effect.gen(function* () {
      const ids = yield* dealIds
      const inside = Effect.forEach(ids, (ID) => Bitrix.call("crm.deal.get", { ID }), { concurrency: "unbounded" })
      const program = Effect.all(
        [
          Bitrix.slow(inside, { requestsPerSecond: 1 }).pipe(Effect.zipRight(Effect.clockWith((clock) => clock.currentTimeMillis))),
          Effect.forEach(ids, (ID) => Bitrix.call("crm.deal.get", { ID }), { concurrency: "unbounded" }).pipe(
            Effect.zipRight(Effect.clockWith((clock) => clock.currentTimeMillis))
          )
        ],
        { concurrency: "unbounded" }
      )
      const [slowEnd, fastEnd] = yield* withClock(program, "250 millis")
      expect(fastEnd).toBe(0)
      expect(slowEnd).toBeGreaterThanOrEqual(4000)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 5 } })))
  )
})

describe("stream", () => {
  it.effect("take(n) stops requests early", () =>
    Effect.gen(function* () {
      const rows = yield* Stream.runCollect(Bitrix.stream("crm.deal.list", { select: ["ID"] }, { strategy: "keyset" }).pipe(Stream.take(120)))
      expect(Chunk.size(rows)).toBe(120)
      expect((yield* stats).httpRequests).toBe(3)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 5000 } })))
  )
})
