/**
 * Two list exports planning at the same moment on one limiter (two `getAll` at once, as `Sync.run` of several entities
 * does) see each other's plans: the first to plan claims the bucket's free starts for its parallel ranges, the other
 * sees none left and chains its rows into the fewest requests, instead of both spreading over the same free starts.
 *
 * The fake portal with the standard limits (pool 50, 2 a second), the default cost model and a 60 ms round trip; the
 * client with the standard limits and its default headroom of 2 (48 free starts); on the TestClock. Each request
 * reaches the limiter 10 ms after it was planned, as across processes sharing a store (in one process a planner's
 * requests often reserve their starts before the other planner looks, which hides the race the claims close).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import type { LimitNumbers } from "../src/BitrixConfig.js"
import { rowsPerRequestTarget } from "../src/internal/list/plan.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import { engineIds } from "./support/engine.js"
import { runOnTestClock } from "./support/testClock.js"

const standard: LimitNumbers = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }
const rowsEach = 20_000

const exportLayer = () => {
  const fake = FakePortal.layer({ limits: standard, costModel: "default", latency: { roundTripMs: 60 }, seed: { "crm.deal": rowsEach } })
  return Layer.mergeAll(Bitrix.layerServices({ limits: standard }), fake)
}

/**
 * The limiter of the layer with each request's admission 10 ms late; `claims: false` also makes `claim` only read
 * `capacity`, as the planners did before claims existed.
 */
const lateAdmission = (options: { readonly claims: boolean }) =>
  Effect.map(RateLimiter.RateLimiter, (limiter): RateLimiter.Service => ({
    ...limiter,
    withPermit: (methods, request) => Effect.zipRight(Effect.sleep("10 millis"), limiter.withPermit(methods, request)),
    ...(options.claims ? {} : { claim: () => limiter.capacity })
  }))

/** Runs `program` to its end on the TestClock, 20 ms at a time; returns its result and the ms it took. */
const onTestClock = <A, E, R>(program: Effect.Effect<A, E, R>) => runOnTestClock(program, "20 millis", 6_000)

const idsOf = (rows: ReadonlyArray<unknown>) => rows.map((row) => Number((row as { readonly ID: unknown }).ID))

/** Two exports of every deal at once on the one limiter of the layer; the rows of each and the requests of both. */
const twoExports = (options: { readonly claims: boolean }) =>
  Effect.gen(function* () {
    const expected = yield* engineIds("crm.deal.list")
    const before = yield* Effect.flatMap(FakePortal.FakePortal, (portal) => portal.stats)
    const exportAll = Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"] })
    const both = Effect.all([exportAll, exportAll], { concurrency: 2 })
    const {
      elapsedMs,
      result: [first, second]
    } = yield* onTestClock(Effect.provideServiceEffect(both, RateLimiter.RateLimiter, lateAdmission(options)))
    const after = yield* Effect.flatMap(FakePortal.FakePortal, (portal) => portal.stats)
    return {
      expected,
      first: idsOf(first),
      second: idsOf(second),
      elapsedMs,
      requests: after.httpRequests - before.httpRequests,
      rejected: after.rejected503 + after.rejected429
    }
  })

describe("two exports planning at once on one limiter", () => {
  it.effect("plan together no more parallel requests than the free starts; both complete with exact rows", () => {
    return Effect.gen(function* () {
      const run = yield* twoExports({ claims: true })
      expect(run.expected.length).toBe(rowsEach)
      expect(run.first).toEqual(run.expected)
      expect(run.second).toEqual(run.expected)
      expect(run.rejected).toBe(0)
      // Each export sends its first wave (the first page, the last page, the COUNT: 3 of the 48 free starts) at once;
      // then the first to plan claims the 42 starts left for its ranges, and the other, finding none, chains the rows
      // between its end pages into the fewest full requests: 19,900 rows at 2,250 a request, 9
      const fewest = Math.ceil((rowsEach - 100) / rowsPerRequestTarget)
      expect(fewest).toBe(9)
      expect(run.requests).toBeLessThanOrEqual(48 + fewest)
      // the bucket then takes (requests − 48) / 2 s at most past the first wave: the exports end within a few seconds
      expect(run.elapsedMs).toBeLessThanOrEqual(((48 + fewest - 48) / 2 + 2) * 1000)
    }).pipe(Effect.provide(exportLayer()))
  })

  it.effect("the contrast: without claims both plan for the same free starts, and the bucket pays for it", () => {
    return Effect.gen(function* () {
      const run = yield* twoExports({ claims: false })
      expect(run.first).toEqual(run.expected)
      expect(run.second).toEqual(run.expected)
      expect(run.rejected).toBe(0)
      // both spread over the 42 starts left after the first waves: more requests than free starts and the fewest
      // chains together, each past the pool costing half a second of bucket
      expect(run.requests).toBeGreaterThan(48 + Math.ceil((rowsEach - 100) / rowsPerRequestTarget))
      expect(run.elapsedMs).toBeGreaterThan(((run.requests - 48) / 2) * 1000)
    }).pipe(Effect.provide(exportLayer()))
  })
})
