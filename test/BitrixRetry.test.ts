/**
 * Retry safety and timing with a scripted transport: each test names the answers the "portal" gives, in order,
 * and counts what was sent. Time moves only through TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, Schedule, TestClock } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import * as Client from "../src/internal/client.js"
import { apiError, httpError, ok, scripted, withClock } from "./support/scripted.js"

const fast = Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(5)))

describe("which methods only read", () => {
  it("reads by suffix; everything else is a write", () => {
    for (const method of ["crm.deal.list", "crm.deal.get", "crm.lead.fields", "task.elapseditem.getlist", "user.current", "crm.item.productrow.list"]) {
      expect(Client.isReadMethod(method), method).toBe(true)
    }
    for (const method of ["crm.deal.add", "crm.deal.update", "crm.deal.delete", "crm.deal.productrows.set", "im.notify", "disk.folder.uploadfile", "batch"]) {
      expect(Client.isReadMethod(method), method).toBe(false)
    }
  })
})

describe("retries: what is repeated", () => {
  it.effect("a write refused by the bucket (503) or by the operating budget (429) is repeated: it did not run", () => {
    const { layer, sent } = scripted([apiError("QUERY_LIMIT_EXCEEDED", 503), apiError("OPERATION_TIME_LIMIT", 429), ok(42)], {
      retry: fast
    })
    return Effect.gen(function* () {
      expect(yield* withClock(Bitrix.call("crm.deal.add", { fields: { TITLE: "x" } }))).toBe(42)
      expect(sent.length).toBe(3)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a write whose connection was refused is repeated", () => {
    const { layer, sent } = scripted([httpError("Transport", "RequestError: fetch failed <- Error: connect ECONNREFUSED 127.0.0.1:1"), ok(7)], {
      retry: fast
    })
    return Effect.gen(function* () {
      expect(yield* withClock(Bitrix.call("crm.deal.add", { fields: { TITLE: "x" } }))).toBe(7)
      expect(sent.length).toBe(2)
    }).pipe(Effect.provide(layer))
  })

  for (const [name, answer] of [
    ["a timeout", httpError("Timeout", "no complete answer within 60 seconds")],
    ["a dropped connection", httpError("Transport", "RequestError: socket hang up (ECONNRESET)")],
    ["an HTML 502 page", httpError("Decode", "the body is not JSON", 502)]
  ] as const) {
    it.effect(`${name} on a write is not repeated: UnknownOutcomeError names the item`, () => {
      const { layer, sent } = scripted([answer, ok(1)], { retry: fast })
      return Effect.gen(function* () {
        const error = yield* Effect.flip(withClock(Bitrix.call("crm.deal.update", { ID: 1, fields: { TITLE: "x" } })))
        expect(error).toMatchObject({ _tag: "UnknownOutcomeError", method: "crm.deal.update", itemIndexes: [0] })
        expect(sent.length).toBe(1)
      }).pipe(Effect.provide(layer))
    })

    it.effect(`${name} on a read is repeated`, () => {
      const { layer, sent } = scripted([answer, ok("fine")], { retry: fast })
      return Effect.gen(function* () {
        expect(yield* withClock(Bitrix.call("crm.deal.get", { ID: 1 }))).toBe("fine")
        expect(sent.length).toBe(2)
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("a 5xx portal error of a write is not repeated and not definite: UnknownOutcomeError keeps the portal's words", () => {
    // the portal (or a proxy) may answer 500 after the write committed
    const { layer, sent } = scripted([apiError("ERROR_CORE", 500, "SQL query error!"), ok(1)], { retry: fast })
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.call("crm.deal.add", { fields: {} })))
      expect(error._tag).toBe("UnknownOutcomeError")
      if (error._tag !== "UnknownOutcomeError") return
      expect(error.itemIndexes).toEqual([0])
      expect(error.cause).toMatchObject({ _tag: "BitrixApiError", code: "ERROR_CORE", description: "SQL query error!", status: 500 })
      expect(sent.length).toBe(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a portal error below 500 of a write is final: the portal refused it", () => {
    const { layer, sent } = scripted([apiError("ACCESS_DENIED", 403, "Access denied"), ok(1)], { retry: fast })
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.call("crm.deal.add", { fields: {} })))
      expect(error).toMatchObject({ _tag: "BitrixApiError", code: "ACCESS_DENIED", description: "Access denied" })
      expect(sent.length).toBe(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a 4xx portal error of a read is final, with the portal's words", () => {
    const { layer, sent } = scripted([apiError("", 400, "Not found"), ok(1)], { retry: fast })
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.call("crm.deal.get", { ID: 5 })))
      expect(error).toMatchObject({ _tag: "BitrixApiError", code: "", description: "Not found", status: 400 })
      expect(sent.length).toBe(1)
    }).pipe(Effect.provide(layer))
  })

  const batchAnswer = (results: Record<string, unknown>, errors: Record<string, unknown> = {}) =>
    ok({ result: results, result_error: errors, result_total: [], result_next: [], result_time: [] })
  const dropped = httpError("Transport", "RequestError: socket hang up (ECONNRESET)")

  it.effect("write batches dropped twice: the error names the items of both, and keeps the results of the rest", () => {
    // batches of 2: [0, 1] answered, [2, 3] and [4] dropped
    const { layer, sent } = scripted(
      [
        (method, params) =>
          // the batch of items 0 and 1 (every batch's labels are c0000, c0001): the one that carries TITLE t1
          Object.values((params as { readonly cmd: Record<string, string> }).cmd).some((query) => query.endsWith("=t1"))
            ? batchAnswer({ c0000: 1000, c0001: 1001 })(method, params)
            : dropped(method, params)
      ],
      { retry: fast, batchSize: 2 }
    )
    return Effect.gen(function* () {
      const items = [0, 1, 2, 3, 4].map((n) => ({ fields: { TITLE: `t${n}` } }))
      const error = yield* Effect.flip(withClock(Bitrix.call("crm.deal.add", items)))
      expect(error._tag).toBe("BulkCallError")
      if (error._tag !== "BulkCallError") return
      expect(error.unknown.map((outcome) => outcome.index)).toEqual([2, 3, 4])
      expect(error.partialResults).toEqual([1000, 1001, undefined, undefined, undefined])
      expect(sent.length).toBe(3)
    }).pipe(Effect.provide(layer))
  })

  it.effect("an item sent again after an operating block and then dropped is named by its own index", () => {
    const { layer, sent } = scripted(
      [
        batchAnswer({ c0000: 1000 }, { c0001: { error: "OPERATION_TIME_LIMIT", error_description: "Method is blocked due to operation time limit." } }),
        dropped
      ],
      { retry: fast }
    )
    return Effect.gen(function* () {
      const eithers = yield* withClock(Bitrix.callEither("crm.deal.add", [{ fields: { TITLE: "a" } }, { fields: { TITLE: "b" } }]))
      expect(Either.getOrUndefined(eithers[0]!)).toBe(1000)
      const second = Either.flip(eithers[1]!).pipe(Either.getOrUndefined)
      expect(second?._tag).toBe("UnknownOutcomeError")
      expect(second?._tag === "UnknownOutcomeError" && second.itemIndexes).toEqual([1])
      expect(sent.length).toBe(2)
    }).pipe(Effect.provide(layer))
  })
})

describe("retries: the schedule", () => {
  it.effect("a layer's retry schedule sets the pace, under TestClock", () => {
    const { layer, sent } = scripted([apiError("QUERY_LIMIT_EXCEEDED", 503), apiError("QUERY_LIMIT_EXCEEDED", 503), ok("done")], {
      retry: Schedule.spaced("1 second")
    })
    return Effect.gen(function* () {
      const fiber = yield* Effect.fork(Bitrix.call("crm.deal.get", { ID: 1 }))
      yield* TestClock.adjust("999 millis")
      expect(sent.length).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(sent.length).toBe(2)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe("done")
      expect(sent.length).toBe(3)
    }).pipe(Effect.provide(layer))
  })

  it.effect("the default schedule gives up after a bounded number of tries", () => {
    const { layer, sent } = scripted([apiError("QUERY_LIMIT_EXCEEDED", 503)])
    return Effect.gen(function* () {
      const exit = yield* Effect.exit(withClock(Bitrix.call("crm.deal.get", { ID: 1 })))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(sent.length).toBe(9)
    }).pipe(Effect.provide(layer))
  })

  it.effect("withRetry overrides the schedule for its program only", () => {
    const { layer, sent } = scripted([apiError("QUERY_LIMIT_EXCEEDED", 503)])
    return Effect.gen(function* () {
      yield* Effect.exit(withClock(Bitrix.call("crm.deal.get", { ID: 1 }).pipe(Bitrix.withRetry(Schedule.recurs(2)))))
      expect(sent.length).toBe(3)
    }).pipe(Effect.provide(layer))
  })
})
