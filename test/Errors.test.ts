/**
 * One meaning per error tag: a well-formed answer the client cannot use is an `UnexpectedResultError`, a list the
 * portal cannot page by keyset a `KeysetUnsupportedError`, a command the portal did not run a `NotRunError`; and the
 * one policy for commands blocked by `OPERATION_TIME_LIMIT`, shared by bulk calls and list exports.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import * as BitrixError from "../src/BitrixError.js"
import { RateLimiter } from "../src/RateLimiter.js"
import { type Answer, ok, scripted, withClock } from "./support/scripted.js"

const batchAnswer = (results: Record<string, unknown>, errors: Record<string, unknown> = {}) =>
  ok({ result: results, result_error: errors, result_total: [], result_next: [], result_time: [] })
const labelsOf = (params: unknown) => Object.keys((params as { readonly cmd: Record<string, string> }).cmd)
const blocked = { error: "OPERATION_TIME_LIMIT", error_description: "Method is blocked due to operation time limit." }
const methodBlocks = Effect.flatMap(RateLimiter, (limiter) => Effect.map(limiter.stats, (stats) => stats.methodBlocks))

describe("UnexpectedResultError: a well-formed answer that is not what the method promises", () => {
  it.effect("a list method whose result is not a list of rows", () => {
    const { layer } = scripted([ok({ first: 1, second: 2 })])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.getAll("vendor.thing.list", {}, { strategy: "offset" })))
      expect(error).toMatchObject({ _tag: "UnexpectedResultError", method: "vendor.thing.list", excerpt: '{"first":1,"second":2}' })
      expect(error.message).toContain("not a list of rows")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a row without a whole-number ID in a keyset walk", () => {
    const { layer } = scripted([ok([{ ID: "1" }, { TITLE: "no id" }])])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.getAll("vendor.thing.list", {}, { strategy: "keyset" })))
      expect(error).toMatchObject({ _tag: "UnexpectedResultError", excerpt: '{"TITLE":"no id"}' })
      expect(error.message).toContain("no whole-number ID")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a batch whose result lacks the five maps: a write's outcome is unknown, never HttpError", () => {
    const { layer, sent } = scripted([ok("not the five maps")])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.call("crm.deal.add", [{ fields: { TITLE: "a" } }])))
      expect(error._tag).toBe("BulkCallError")
      if (error._tag !== "BulkCallError") return
      expect(error.unknown.map((outcome) => outcome.cause._tag)).toEqual(["UnexpectedResultError"])
      expect(sent.length).toBe(1)
    }).pipe(Effect.provide(layer))
  })
})

describe("KeysetUnsupportedError: a list the portal cannot page by keyset", () => {
  it.effect("a method known to take no order object, with a keyset strategy: before any request", () => {
    const { layer, sent } = scripted([ok([])])
    return Effect.gen(function* () {
      for (const strategy of ["keyset", "keysetBatch", "ranges"] as const) {
        const error = yield* Effect.flip(Bitrix.getAll("crm.address.list", {}, { strategy }))
        expect(error, strategy).toMatchObject({ _tag: "KeysetUnsupportedError", reason: "NoOrderObject", method: "crm.address.list" })
        expect(error.message).toContain('strategy "offset"')
      }
      expect(sent.length).toBe(0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("an order the keyset strategies cannot follow stays bad input (ValidationError)", () => {
    const { layer, sent } = scripted([ok([])])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(Bitrix.getAll("crm.deal.list", { order: { TITLE: "ASC" } }, { strategy: "keyset" }))
      expect(error).toMatchObject({ _tag: "ValidationError", path: "options.strategy" })
      expect(sent.length).toBe(0)
    }).pipe(Effect.provide(layer))
  })
})

describe("NotRunError: a command the portal did not run", () => {
  it.effect("callEither: a command absent from every map of the answer", () => {
    const { layer } = scripted([batchAnswer({ c0000: 1000 })])
    return Effect.gen(function* () {
      const eithers = yield* withClock(Bitrix.callEither("crm.deal.add", [{ fields: { TITLE: "a" } }, { fields: { TITLE: "b" } }]))
      expect(Either.getOrUndefined(eithers[0]!)).toBe(1000)
      const second = Either.flip(eithers[1]!).pipe(Either.getOrUndefined)
      expect(second).toMatchObject({ _tag: "NotRunError", method: "crm.deal.add", commandLabel: "c0001" })
    }).pipe(Effect.provide(layer))
  })

  it("the errors decode through the BitrixError schema with their tags", () => {
    const decode = Schema.decodeUnknownSync(BitrixError.BitrixError)
    const encode = Schema.encodeSync(BitrixError.BitrixError)
    const errors = [
      new BitrixError.NotRunError({ method: "crm.deal.add", commandLabel: "c0001", reason: "halt" }),
      new BitrixError.UnexpectedResultError({ method: "crm.deal.list", detail: "the result is not a list of rows", excerpt: "{}" }),
      new BitrixError.KeysetUnsupportedError({ method: "vendor.thing.list", reason: "FilterIgnored", detail: "x" })
    ]
    expect(errors.map((error) => decode(encode(error))._tag)).toEqual(["NotRunError", "UnexpectedResultError", "KeysetUnsupportedError"])
  })
})

describe("one policy for commands blocked by OPERATION_TIME_LIMIT", () => {
  it.effect("a bulk call sends only the blocked commands again, and the limiter learns the block once per answer", () => {
    const { layer, sent } = scripted([batchAnswer({ c0000: 1000 }, { c0001: blocked, c0002: blocked }), batchAnswer({ c0000: 1001, c0001: 1002 })])
    return Effect.gen(function* () {
      const items = ["a", "b", "c"].map((TITLE) => ({ fields: { TITLE } }))
      expect(yield* withClock(Bitrix.call("crm.deal.add", items))).toEqual([1000, 1001, 1002])
      expect(sent.map((request) => labelsOf(request.params).length)).toEqual([3, 2])
      expect(yield* methodBlocks).toBe(1)
    }).pipe(Effect.provide(layer))
  })

  const alwaysBlocked: Answer = (method, params) => batchAnswer({}, Object.fromEntries(labelsOf(params).map((label) => [label, blocked])))(method, params)

  it.effect("a bulk call: five more rounds, then the block is the item's refusal", () => {
    const { layer, sent } = scripted([alwaysBlocked])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.call("crm.deal.add", [{ fields: { TITLE: "a" } }])))
      expect(error._tag).toBe("BulkCallError")
      if (error._tag !== "BulkCallError") return
      expect(error.refused.map((outcome) => outcome.code)).toEqual(["OPERATION_TIME_LIMIT"])
      expect(sent.length).toBe(6)
      expect(yield* methodBlocks).toBe(5)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a list export: the same five rounds and the same feedback, the batch sent again whole", () => {
    const { layer, sent } = scripted([alwaysBlocked])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.getAll("crm.deal.list", {}, { strategy: "keysetBatch" })))
      expect(error).toMatchObject({ _tag: "BitrixApiError", code: "OPERATION_TIME_LIMIT", commandLabel: "k00" })
      expect(sent.length).toBe(6)
      expect(new Set(sent.map((request) => labelsOf(request.params).length)).size).toBe(1)
      expect(yield* methodBlocks).toBe(5)
    }).pipe(Effect.provide(layer))
  })
})
