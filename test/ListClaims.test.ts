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
import { BucketClaimant } from "../src/internal/limiterClaims.js"
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
    ...(options.claims ? {} : { claim: () => Effect.map(limiter.capacity, (capacity) => ({ ...capacity, otherPlanners: 0 })) })
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

describe("an export beside other planners plans for its share of the bucket", () => {
  const rows = 50_000
  const portalLayer = () => {
    const fake = FakePortal.layer({ limits: standard, costModel: "default", latency: { roundTripMs: 60 }, seed: { "crm.deal": rows } })
    return Layer.mergeAll(Bitrix.layerServices({ limits: standard }), fake)
  }
  /** The export's requests, with `others` planners holding a claim of one start each as it begins. */
  const exportBeside = (others: number) =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.RateLimiter
      for (let index = 0; index < others; index++) yield* Effect.provideService(limiter.claim(1), BucketClaimant, `other-${index}`)
      const before = yield* Effect.flatMap(FakePortal.FakePortal, (portal) => portal.stats)
      const { result } = yield* runOnTestClock(Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"] }), "20 millis", 30_000)
      const after = yield* Effect.flatMap(FakePortal.FakePortal, (portal) => portal.stats)
      return { ids: idsOf(result), expected: yield* engineIds("crm.deal.list"), requests: after.httpRequests - before.httpRequests }
    })

  it.effect("beside three planners: the rows between the end pages in the fewest full chains, 20 for 49,900", () =>
    Effect.gen(function* () {
      const run = yield* exportBeside(3)
      expect(run.ids).toEqual(run.expected)
      expect(run.expected.length).toBe(rows)
      // its share is a quarter of the free starts and of the drain (0.5 a second): every plan waits for the bucket,
      // and the fewest requests win, 49,900 counted rows in ⌈49,901 / 2,500⌉ = 20 full chains, after the first wave's
      // 2 (beside other planners the end pages share one batch)
      expect(run.requests).toBe(2 + Math.ceil((rows - 100 + 1) / 2500))
    }).pipe(Effect.provide(portalLayer())))

  it.effect("the contrast: alone, the same export spreads its rows over the free starts", () =>
    Effect.gen(function* () {
      const run = yield* exportBeside(0)
      expect(run.ids).toEqual(run.expected)
      // 49,900 rows over the 46 starts left after the first wave, shorter chains for a sooner end: more requests than
      // the 20 full chains, none past the 48 starts of the pool less the headroom
      expect(run.requests).toBeGreaterThan(2 + Math.ceil((rows - 100 + 1) / 2500))
      expect(run.requests).toBeLessThanOrEqual(48)
    }).pipe(Effect.provide(portalLayer())))
})

describe("two exports planning at once on one limiter", () => {
  it.effect("plan together no more parallel requests than the free starts; both complete with exact rows", () => {
    return Effect.gen(function* () {
      const run = yield* twoExports({ claims: true })
      expect(run.expected.length).toBe(rowsEach)
      expect(run.first).toEqual(run.expected)
      expect(run.second).toEqual(run.expected)
      expect(run.rejected).toBe(0)
      // Each export sends its first wave (both end pages and the COUNT: 3 of the 48 free starts, 2 for the second,
      // which sees the first beside it and batches its end pages) at once; then the first to plan, seeing the other,
      // plans for its share of the starts left and claims what its ranges take, and the other chains the rows between
      // its end pages into what is left: together no more than the free starts and the fewest full requests, 19,900
      // rows at 2,250 a request, 9
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
