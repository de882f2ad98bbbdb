import { describe, expect, it } from "@effect/vitest"
import { Chunk, type Duration, Effect, Fiber, Layer, Stream, TestClock } from "effect"
import fc from "fast-check"
import * as Bitrix from "../src/Bitrix.js"
import type { LimitNumbers } from "../src/BitrixConfig.js"
import * as Plan from "../src/internal/list/plan.js"
import type * as ListStrategy from "../src/ListStrategy.js"
import * as ProgressReporter from "../src/ProgressReporter.js"
import { runOnTestClock as runOnTestClockTimed } from "./support/testClock.js"
import { ok, scripted, withClock } from "./support/scripted.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import type { FakePortalOptions } from "../src/testing/Options.js"

const testLayer = (portal: FakePortalOptions, client: Bitrix.ServiceOptions = {}) =>
  Layer.merge(
    Bitrix.layerServices({ limits: "off", ...client }),
    FakePortal.layer({ limits: "off", costModel: "zero", ...portal })
  )

const stats = Effect.flatMap(FakePortal.FakePortal, (portal) => portal.stats)

const idsOf = (rows: ReadonlyArray<unknown>, key = "ID") => rows.map((row) => Number((row as Record<string, unknown>)[key]))

/** Every ID of the table, read directly from the engine's list with plain keyset pages. */
const truth = (method: string, params: Record<string, unknown> = {}, key = "ID") =>
  Bitrix.getAll(method, params, { strategy: "keyset" }).pipe(Effect.map((rows) => idsOf(rows, key)))

const strategies: ReadonlyArray<ListStrategy.Strategy> = ["auto", "offset", "keyset", "keysetBatch", "ranges"]

/** The standard limits, on both the fake portal (with the default cost model) and the client. */
const standard: LimitNumbers = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }
const limitedLayer = (seed: Record<string, number>) =>
  testLayer({ seed, limits: standard, costModel: "default" }, { limits: standard })

/** Runs `program` to its end on the TestClock, moving time `step` at a time (at most `steps` times). */
const runOnTestClock = <A, E, R>(program: Effect.Effect<A, E, R>, step: Duration.DurationInput, steps: number) =>
  Effect.map(runOnTestClockTimed(program, step, steps), ({ result }) => result)

describe("every strategy returns every row once, in ID order", () => {
  for (const strategy of strategies) {
    it.effect(`${strategy}: crm.deal.list (IDs with gaps)`, () =>
      Effect.gen(function* () {
        const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"] }, { strategy })
        const ids = idsOf(rows)
        expect(ids.length).toBe(7531)
        expect(new Set(ids).size).toBe(7531)
        expect(ids).toEqual([...ids].sort((a, b) => a - b))
      }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 7531 } })))
    )
  }

  for (const strategy of strategies) {
    it.effect(`${strategy}: tasks.task.list filters by ID and reads id; crm.item.list reads items`, () =>
      Effect.gen(function* () {
        const tasks = idsOf(yield* Bitrix.getAll("tasks.task.list", { select: ["ID", "TITLE"] }, { strategy }), "id")
        expect(new Set(tasks).size).toBe(2600)
        const items = idsOf(yield* Bitrix.getAll("crm.item.list", { entityTypeId: 1032, select: ["id"] }, { strategy }), "id")
        expect(new Set(items).size).toBe(2555)
        expect(items.length).toBe(2555)
      }).pipe(Effect.provide(testLayer({ seed: { "tasks.task": 2600, "crm.item:1032": 2555 } })))
    )
  }
})

describe("keysetBatch", () => {
  it.effect("discards what the portal returns after the first short page of a chain", () =>
    Effect.gen(function* () {
      const all = yield* truth("crm.deal.list")
      // The quirk: after a short page `$result[a][49][ID]` does not resolve, the portal substitutes the whole
      // page, and the comparison with an array matches rows from the start of the table again
      const raw = yield* Bitrix.callBatch({
        cmd: {
          a: { method: "crm.deal.list", params: { order: { ID: "ASC" }, select: ["ID"], filter: { ">ID": all[1199]! }, start: -1 } },
          b: "crm.deal.list?order[ID]=ASC&select[0]=ID&start=-1&filter[>ID]=$result[a][49][ID]"
        }
      })
      const [a, b] = [idsOf(raw["a"] as ReadonlyArray<unknown>), idsOf(raw["b"] as ReadonlyArray<unknown>)]
      expect(a.length).toBe(34)
      expect(b.length).toBe(50)
      expect(b[0]!).toBeLessThan(a[0]!)
      const before = yield* stats
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy: "keysetBatch" })
      expect(idsOf(rows)).toEqual(all)
      const after = yield* stats
      expect(after.requestsByMethod["batch"]! - before.requestsByMethod["batch"]!).toBe(1)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 1234 } })))
  )

  it.effect("a chain whose short page falls after the first batch ends there (2,530 rows: 2 requests)", () =>
    Effect.gen(function* () {
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy: "keysetBatch" })
      expect(new Set(idsOf(rows)).size).toBe(2530)
      expect(rows.length).toBe(2530)
      expect((yield* stats).requestsByMethod["batch"]).toBe(2)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 2530 } })))
  )

  it.effect("an exact multiple of 50 rows ends on the empty page after it", () =>
    Effect.gen(function* () {
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy: "keysetBatch" })
      expect(rows.length).toBe(2500)
      expect(new Set(idsOf(rows)).size).toBe(2500)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 2500 } })))
  )
})

describe("filters and bounds", () => {
  for (const strategy of strategies) {
    it.effect(`${strategy}: a user filter and ID bounds are kept`, () =>
      Effect.gen(function* () {
        const params = { select: ["ID", "CATEGORY_ID"], filter: { CATEGORY_ID: 3, ">=ID": 500, "<ID": 9000 } }
        const expected = yield* truth("crm.deal.list", params)
        expect(expected.length).toBeGreaterThan(100)
        const rows = yield* Bitrix.getAll("crm.deal.list", params, { strategy })
        expect(idsOf(rows)).toEqual(expected)
        for (const row of rows) expect(String((row as Record<string, unknown>)["CATEGORY_ID"])).toBe("3")
        expect(Math.min(...idsOf(rows))).toBeGreaterThanOrEqual(500)
        expect(Math.max(...idsOf(rows))).toBeLessThan(9000)
      }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 6000 } })))
    )
  }

  it.effect("an order on another field falls back to offset under auto, and is refused by keyset", () =>
    Effect.gen(function* () {
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"], order: { TITLE: "ASC" } })
      expect(rows.length).toBe(300)
      const titles = rows.map((row) => String((row as Record<string, unknown>)["TITLE"]))
      expect(titles).toEqual([...titles].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
      const error = yield* Effect.flip(Bitrix.getAll("crm.deal.list", { order: { TITLE: "ASC" } }, { strategy: "keyset" }))
      expect(error._tag).toBe("ValidationError")
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 300 } })))
  )

  it.effect("limit caps the rows and the requests", () =>
    Effect.gen(function* () {
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { limit: 120 })
      expect(rows.length).toBe(120)
      const after = yield* stats
      expect(after.batchCommandsByMethod["crm.deal.list"] ?? 0).toBeLessThanOrEqual(3)
      expect(after.httpRequests).toBe(1)
      expect((yield* Effect.flip(Bitrix.getAll("crm.deal.list", {}, { limit: -1 })))._tag).toBe("ValidationError")
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 10000 } })))
  )
})

describe("completeness while rows are added and deleted", () => {
  for (const strategy of ["auto", "keyset", "keysetBatch", "ranges"] as const) {
    it.effect(`${strategy}: every row present throughout is returned exactly once`, () =>
      Effect.gen(function* () {
        const before = new Set(yield* truth("crm.deal.list"))
        const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy })
        const after = new Set(yield* truth("crm.deal.list"))
        const ids = idsOf(rows)
        expect(new Set(ids).size).toBe(ids.length)
        const throughout = [...before].filter((id) => after.has(id))
        const returned = new Set(ids)
        expect(throughout.filter((id) => !returned.has(id))).toEqual([])
        // the mutations really happened during the export
        expect(before.size === after.size && [...before].every((id) => after.has(id))).toBe(false)
      }).pipe(
        Effect.provide(
          testLayer({ seed: { "crm.deal": 6000 }, mutations: [{ entity: "crm.deal", everyRequests: 2, add: 25, delete: 25 }] })
        )
      )
    )
  }
})

describe("planSeconds: what a split of a given shape takes for the rows there are (what a COUNT can save)", () => {
  // a narrow page of the default cost model: a call of 5 ms and 50 rows of 0.1 ms; 48 free starts, 2 per second
  const input = { rows: 40_000, pageSeconds: 0.01, freeStarts: 48, requestsPerSecond: 2, concurrency: 50, spread: 2 }
  it("room past the short page costs calls, not rows: 50 pages against 22 for the same 40,000 rows", () => {
    // 1,000 rows a request; the slowest holds 1,000 + 2 x sqrt(1,000) = 1,063.25 rows at 0.1 ms; a round trip of 60 ms
    expect(Plan.planSeconds({ ranges: 40, requestsPerRange: 1, pagesPerRequest: 50 }, input)).toBeCloseTo(0.06 + 50 * 0.005 + 0.106325, 6)
    expect(Plan.planSeconds({ ranges: 40, requestsPerRange: 1, pagesPerRequest: 22 }, input)).toBeCloseTo(0.06 + 22 * 0.005 + 0.106325, 6)
  })
  it("requests beyond the free starts wait for the bucket: 60 ranges are 12 starts over, 6 s", () => {
    // 666.67 rows a request, the slowest 666.67 + 2 x sqrt(666.67); 12 requests over 48 free starts at 2 per second
    const perRequest = 50 * 0.005 + (40_000 / 60 + 2 * Math.sqrt(40_000 / 60)) * 0.0001
    expect(Plan.planSeconds({ ranges: 60, requestsPerRange: 1, pagesPerRequest: 50 }, input)).toBeCloseTo(12 / 2 + perRequest + 0.06, 6)
  })
  it("a range's requests follow one another, a round trip each: 400 chained requests take 400 round trips", () => {
    const big = { ...input, rows: 1_000_000, freeStarts: 0 }
    const perRequest = 50 * 0.005 + Math.min(2500, 2500 + 2 * 50) * 0.0001
    expect(Plan.planSeconds({ ranges: 1, requestsPerRange: 400, pagesPerRequest: 50 }, big)).toBeCloseTo(400 * (perRequest + 0.06), 6)
  })
})

describe("countWorthWaiting: how much longer a COUNT still out is worth waiting for", () => {
  // ln(1,000) = 6.907755...: its time taken evenly on a log scale over three decades
  const decades = Math.log(1000)
  it("a saving of 2 s (a start beside three planners), 70 ms after the COUNT went: 2 / ln 1,000 - 0.07 s", () => {
    expect(Plan.countWorthWaiting(2, 0.07)).toBeCloseTo(0.289530 - 0.07, 5)
  })
  it("a saving of 15 ms (a probe's start on a full bucket), 70 ms after: nothing", () => {
    expect(Plan.countWorthWaiting(0.015, 0.07)).toBe(0)
  })
  it("just sent: a seventh of the saving", () => {
    expect(Plan.countWorthWaiting(0.7, 0)).toBeCloseTo(0.7 / 6.907755, 6)
  })
  it("a page's time waited for in any case where the pages beside the COUNT have just answered, within the saving", () => {
    expect(Plan.countWorthWaiting(0.0237, 0.07, 0.01)).toBe(0.01)
    expect(Plan.countWorthWaiting(0.004, 0.07, 0.01)).toBe(0.004)
    expect(Plan.countWorthWaiting(2, 0.07, 0.01)).toBeCloseTo(0.289530 - 0.07, 5)
  })
  it("the wait is the one of the most expected gain, and never past the saving", () => {
    // the gain of waiting w more: the chance the COUNT answers within it (evenly on a log scale of its time, having
    // waited `waited`) times the saving, less the wait
    const gain = (saving: number, waited: number, wait: number) => (saving * Math.log1p(wait / waited)) / decades - wait
    fc.assert(
      fc.property(
        fc.double({ min: 0.001, max: 100, noNaN: true }),
        fc.double({ min: 0.001, max: 10, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (saving, waited, share) => {
          const best = Plan.countWorthWaiting(saving, waited)
          expect(best).toBeGreaterThanOrEqual(0)
          expect(best).toBeLessThanOrEqual(saving)
          expect(gain(saving, waited, best)).toBeGreaterThanOrEqual(gain(saving, waited, share * saving) - 1e-9)
        }
      )
    )
  })
})

describe("planRanges: as many requests as the bucket lets start now, each as short as that allows", () => {
  const plan = (rows: number, pageSeconds: number, freeStarts: number, requestsPerSecond = 2, concurrency = 50) =>
    Plan.planRanges({ rows, pageSeconds, freeStarts, requestsPerSecond, concurrency })

  it("spreads a small wide export over the free slots instead of chaining every page in one request", () => {
    // 1,950 wide rows are 39 pages of about 0.1 s of server time: chained in one batch they take 4 s
    const wide = plan(1950, 0.105, 46)
    expect(wide.ranges).toBeGreaterThanOrEqual(20)
    expect(wide.ranges * wide.requestsPerRange).toBeLessThanOrEqual(46)
    expect(wide.pagesPerRequest * 0.105).toBeLessThan(0.5)
    expect(wide.estimatedSeconds).toBeLessThan(0.5)
  })

  it("walks long ranges in full chains: only a range's last request is short, whatever the spread", () => {
    // 99,900 rows fill 40 full chains of 2,500; with 12 free starts and 2 a second the bucket decides, so the
    // fewest requests win. Chains of 90 % for every request took 45
    const drained = plan(99_900, 0.01, 12)
    expect(drained.pagesPerRequest).toBe(50)
    expect(drained.requestsPerRange).toBeGreaterThan(1)
    expect(drained.ranges * drained.requestsPerRange).toBeGreaterThanOrEqual(40)
    expect(drained.ranges * drained.requestsPerRange).toBeLessThanOrEqual(42)
    // room for every row, the spread and the short page in each range
    const perRange = 99_900 / drained.ranges
    expect(drained.requestsPerRange * 2500).toBeGreaterThanOrEqual(perRange + 3 * 2 * Math.sqrt(perRange) + 1)
    // a million rows: 400 full chains and a short one per range, in more than one walk (one walk would pay 404
    // round trips one after another, more than the bucket's 200 s)
    const million = plan(999_900, 0.01, 45)
    expect(million.ranges * million.requestsPerRange).toBeLessThanOrEqual(405)
    expect(million.ranges).toBeGreaterThanOrEqual(2)
    // with a full bucket the rows of a burst still go out in one wave of short chains
    const burst = plan(99_900, 0.01, 45)
    expect(burst.requestsPerRange).toBe(1)
    expect(burst.ranges).toBe(45)
  })

  it("counted rows need room only for how they fall among the ranges: none in a single range", () => {
    const counted = (rows: number, freeStarts: number) =>
      Plan.planRanges({ rows, pageSeconds: 0.01, freeStarts, requestsPerSecond: 2, concurrency: 50, counted: true })
    // 99,900 counted rows on a drained bucket: 39.96 full chains of 2,500, so 40 requests and no more (an estimate
    // of the same rows needs room for its spread: 41 or 42)
    const drained = counted(99_900, 0)
    expect(drained.ranges * drained.requestsPerRange).toBe(40)
    expect(plan(99_900, 0.01, 0).ranges * plan(99_900, 0.01, 0).requestsPerRange).toBeGreaterThan(40)
    // a single counted range: its rows and the row past them, no more (2,449 fit 49 pages, 2,450 take 50)
    expect(Plan.rangeChainLength(2_449, 2, Plan.unknownShareOf(1, true))).toBe(49)
    expect(Plan.rangeChainLength(2_450, 2, Plan.unknownShareOf(1, true))).toBe(50)
    // split among ranges, a counted range keeps room for the share it is not of the whole: sd = 2·√(n·(1 − 1/r))
    expect(Plan.rangeDeviation(10_000, 2, Plan.unknownShareOf(4, true))).toBeCloseTo(2 * Math.sqrt(7_500), 9)
    expect(Plan.rangeDeviation(10_000, 2, Plan.unknownShareOf(4, false))).toBeCloseTo(200, 9)
    // with a full bucket the counted rows still go out in one wave
    const burst = counted(99_900, 45)
    expect(burst.requestsPerRange).toBe(1)
    expect(burst.ranges).toBe(45)
  })

  it("chains full batches when the bucket has no slot to spare: every extra request costs half a second", () => {
    const drained = plan(100_000, 0.01, 0)
    expect(drained.ranges * drained.requestsPerRange).toBeLessThanOrEqual(Math.ceil(100_000 / 2250))
    expect(drained.pagesPerRequest).toBe(50)
  })

  it("never plans more requests than the free slots when waiting for more would cost more than it saves", () => {
    const narrow = plan(9950, 0.01, 46)
    expect(narrow.ranges * narrow.requestsPerRange).toBeLessThanOrEqual(46)
    expect(narrow.pagesPerRequest).toBeLessThanOrEqual(8)
  })

  it("plans ten million rows (200,000 candidate splits) without running out of call arguments", () => {
    const huge = plan(10_000_000, 0.01, 48)
    expect(huge.ranges * huge.requestsPerRange).toBeGreaterThanOrEqual(Math.ceil(10_000_000 / 2500))
    expect(huge.pagesPerRequest).toBe(50)
  })

  it("with the limits off, spreads to the concurrency", () => {
    const off = plan(100_000, 0.01, Infinity, Infinity, 50)
    expect(off.ranges).toBeGreaterThanOrEqual(45)
    expect(off.ranges).toBeLessThanOrEqual(50)
  })

  it("chains room for a quarter more rows than expected and the page that ends the walk, up to 50 pages", () => {
    expect(Plan.chainLength(236)).toBe(6)
    expect(Plan.chainLength(200)).toBe(6)
    expect(Plan.chainLength(40)).toBe(2)
    expect(Plan.chainLength(0)).toBe(2)
    expect(Plan.chainLength(2222)).toBe(50)
    for (let rows = 0; rows <= 1900; rows += 37) expect(Plan.chainLength(rows) * 50).toBeGreaterThan(rows * 1.25)
  })

  it("covers every estimated row: ranges × requests × pages hold them with room to spare", () => {
    for (const [rows, pageSeconds, free] of [[1_000_000, 0.01, 48], [120, 0.105, 48], [50_000, 0.105, 10], [7000, 0.01, 1]] as const) {
      const planned = plan(rows, pageSeconds, free)
      expect(planned.ranges * planned.requestsPerRange * planned.pagesPerRequest * 50).toBeGreaterThanOrEqual(rows)
      expect(planned.pagesPerRequest).toBeLessThanOrEqual(50)
      expect(planned.ranges).toBeGreaterThanOrEqual(1)
    }
  })
})

describe("ranges", () => {
  it("splits a span into disjoint ranges that cover it", () => {
    const ranges = Plan.splitRanges(10, 1009, 7)
    expect(ranges[0]![0]).toBe(10)
    expect(ranges.at(-1)![1]).toBe(1009)
    for (let index = 1; index < ranges.length; index++) expect(ranges[index]![0]).toBe(ranges[index - 1]![1] + 1)
  })

  it.effect("with the limits off, auto splits a large table into as many ranges as it walks at once", () =>
    Effect.gen(function* () {
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] })
      expect(rows.length).toBe(60000)
      const after = yield* stats
      // first page + last page + COUNT + one request per range: no bucket to spare, so up to the concurrency (50)
      expect(after.httpRequests).toBeLessThanOrEqual(3 + 50)
      expect(after.httpRequests).toBeGreaterThanOrEqual(3 + Math.ceil(60000 / 2500))
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 60000 } })))
  )

  it.effect("auto reads the first page, the last page and the COUNT together, and walks only the IDs between them", () =>
    Effect.gen(function* () {
      const progress = yield* ProgressReporter.makeTest
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }).pipe(Effect.provide(progress.layer))
      const ids = idsOf(rows)
      expect(ids.length).toBe(20000)
      expect(ids).toEqual([...ids].sort((a, b) => a - b))
      // the COUNT is the progress total
      const events = yield* progress.events
      expect(events.find((event) => event._tag === "SetTotal")).toEqual({ _tag: "SetTotal", label: "crm.deal.list", total: 20000 })
      const after = yield* stats
      // the rows of the last page are not read again by the ranges: only the junk pages after a range's end are
      // served twice
      expect(after.rowsServed).toBeLessThan(20000 + after.httpRequests * 50 * 4)
      // the first page and the last page (start -1), and the COUNT (start 0)
      expect(after.requestsByMethod["crm.deal.list"]).toBe(3)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 20000 } })))
  )

  /** Runs `program` to its end on the TestClock, moving time a second at a time. */
  const onTestClock = <A, E, R>(program: Effect.Effect<A, E, R>) => runOnTestClock(program, "1 second", 600)

  it.effect("a small wide export with a full bucket is spread over many short requests, not chained in one", () =>
    Effect.gen(function* () {
      // 2,000 wide rows are 40 pages of 0.105 s: one chained batch would run 4 s of pages one after another
      const rows = yield* onTestClock(Bitrix.getAll("crm.deal.list", { select: ["*", "UF_*"] }))
      expect(new Set(idsOf(rows)).size).toBe(2000)
      const after = yield* stats
      expect(after.httpRequests).toBeGreaterThanOrEqual(2 + 10)
      expect(after.httpRequests).toBeLessThanOrEqual(48)
      expect(after.rejected503).toBe(0)
    }).pipe(Effect.provide(limitedLayer({ "crm.deal": 2000 })))
  )

  it.effect("inside slow() the split follows the slow pace: a few full chains, not a start for every range", () =>
    Effect.gen(function* () {
      // One request a second: 40 ranges would take 40 s to start, 8 full chained batches take 8
      const rows = yield* onTestClock(Bitrix.slow(Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"] }), { requestsPerSecond: 1 }))
      expect(new Set(idsOf(rows)).size).toBe(20000)
      const after = yield* stats
      // the first page (counted: no third request at this pace) and the last page, then the chains
      expect(after.requestsByMethod["crm.deal.list"]).toBe(2)
      expect(after.httpRequests).toBeLessThanOrEqual(2 + 10)
    }).pipe(Effect.provide(limitedLayer({ "crm.deal": 20000 })))
  )

  it.effect("with the bucket drained by earlier work, the same export is chained into few requests", () =>
    Effect.gen(function* () {
      // 46 calls take nearly all the free starts (50 less the client's headroom of 2)
      yield* onTestClock(
        Effect.forEach(Array.from({ length: 46 }, (_, index) => index), () => Bitrix.call("crm.deal.fields", {}), {
          concurrency: "unbounded"
        })
      )
      const before = (yield* stats).httpRequests
      const rows = yield* onTestClock(Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"] }))
      expect(new Set(idsOf(rows)).size).toBe(20000)
      const after = yield* stats
      // 20,000 rows need 8 full chained batches; a drained bucket lets a request start every 0.5 s, so more
      // requests would only wait
      expect(after.httpRequests - before).toBeLessThanOrEqual(3 + 10)
      expect(after.rejected503).toBe(0)
    }).pipe(Effect.provide(limitedLayer({ "crm.deal": 20000 })))
  )
})

describe("the size of the export without a COUNT", () => {
  it("evenly spaced IDs give the exact count and no error", () => {
    const low = Array.from({ length: 50 }, (_, index) => 1 + 3 * index)
    const high = Array.from({ length: 50 }, (_, index) => 3001 + 3 * index)
    const estimate = Plan.estimateRows([low, high], { from: 151, to: 3000 })
    expect(estimate.rows).toBe(950)
    expect(estimate.relativeError).toBe(0)
  })

  it("a spread measured from the end pages alone is floored at 2; from enough gaps across the span it is believed", () => {
    // gaps alternating 9 and 11: a spread of 1/10 (sd 1 over a mean of 10; the sample variance over n - 1)
    const ids = (count: number) => Array.from({ length: count }, (_, index) => 10 * index + (index % 2))
    const pair = Plan.estimateRows([ids(50), ids(50).map((id) => id + 100_000)], { from: 500, to: 99_999 })
    expect(pair.spread).toBe(2)
    const many = Plan.estimateRows(
      Array.from({ length: 10 }, (_, page) => ids(50).map((id) => id + page * 10_000)),
      { from: 0, to: 99_999 }
    )
    // 490 gaps, at least `believedGaps`: the measured spread, down to the least believed (0.5)
    expect(many.spread).toBe(Plan.leastGapSpread)
    expect(Plan.believedGaps).toBeLessThanOrEqual(490)
  })

  it("a single request carries up to 2,250 rows, more where its chain of 50 pages has 3 deviations of room for them", () => {
    // at the floor's spread of 2 the room allows n + 3 · 2 · √n + 1 <= 2,500: 2,216, under the target of 2,250
    expect(Plan.rowsPerSingleRequest(2)).toBe(2250)
    // at a measured 1.1: the largest n with n + 3.3 · √n + 1 <= 2,500
    const fits = (n: number) => n + 3 * 1.1 * Math.sqrt(n) + 1 <= 2500
    const most = Plan.rowsPerSingleRequest(1.1)
    expect(fits(most)).toBe(true)
    expect(fits(most + 1)).toBe(false)
    expect(most).toBeGreaterThan(2300)
    // planned from such a spread, 44 single requests carry 101,000 rows (where the target's 2,250 would not)
    const plan = Plan.planRanges({ rows: 101_000, pageSeconds: 0.01, freeStarts: 44, requestsPerSecond: 2, concurrency: 50, spread: 1.1 })
    expect(plan.requestsPerRange).toBe(1)
    expect(plan.ranges).toBe(44)
    expect(plan.pagesPerRequest).toBe(50)
  })

  it("uneven gaps widen the error, which shrinks with more gaps seen", () => {
    const ids = (count: number) => Array.from({ length: count }, (_, index) => index * 2 + (index % 3 === 0 ? 7 : 0))
    const few = Plan.estimateRows([ids(10)], { from: 0, to: 999 })
    const many = Plan.estimateRows([ids(100)], { from: 0, to: 999 })
    expect(few.relativeError).toBeGreaterThan(many.relativeError)
    expect(many.relativeError).toBeGreaterThan(0)
  })

  /** Runs `program` on the TestClock in steps of 5 ms, recording the progress events. */
  const onTestClockWithProgress = <A, E, R>(program: Effect.Effect<A, E, R>) =>
    Effect.gen(function* () {
      const progress = yield* ProgressReporter.makeTest
      const result = yield* runOnTestClock(Effect.provide(program, progress.layer), "5 millis", 20_000)
      return { result, events: yield* progress.events }
    })
  const counted = (events: ReadonlyArray<ProgressReporter.Event>) => events.findIndex((event) => event._tag === "SetTotal")
  const firstRows = (events: ReadonlyArray<ProgressReporter.Event>) => events.findIndex((event) => event._tag === "Advance")

  it.effect("a filter over a large table does not wait for its COUNT: rows flow before the total is known", () =>
    Effect.gen(function* () {
      const params = { select: ["ID", "CATEGORY_ID"], filter: { CATEGORY_ID: 3 } }
      // The size, asked of the engine directly (off the limits and the clock)
      const portal = yield* FakePortal.FakePortal
      const answer = portal.engine.methodTable.call("crm.deal.list", { ...params, start: 0 }, { nowMs: 0, userId: 1 })
      const size = answer?._tag === "Ok" ? answer.total : undefined
      expect(size).toBeGreaterThan(10_000)
      // The COUNT costs 0.0005 ms per table row (60 ms here), six pages of this export
      const { result, events } = yield* onTestClockWithProgress(Bitrix.getAll("crm.deal.list", params))
      const ids = idsOf(result)
      expect(ids.length).toBe(size)
      expect(new Set(ids).size).toBe(size)
      expect(ids).toEqual([...ids].sort((a, b) => a - b))
      for (const row of result) expect(String((row as Record<string, unknown>)["CATEGORY_ID"])).toBe("3")
      expect(firstRows(events)).toBeGreaterThanOrEqual(0)
      expect(counted(events)).toBeGreaterThan(firstRows(events))
      expect(events[counted(events)]).toEqual({ _tag: "SetTotal", label: "crm.deal.list", total: size })
    }).pipe(Effect.provide(limitedLayer({ "crm.deal": 120_000 })))
  )

  it.effect("on a small table the COUNT is as quick as a page: the split waits for it and the total comes first", () =>
    Effect.gen(function* () {
      const { result, events } = yield* onTestClockWithProgress(Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"] }))
      expect(new Set(idsOf(result)).size).toBe(3000)
      expect(counted(events)).toBeGreaterThanOrEqual(0)
      expect(counted(events)).toBeLessThan(firstRows(events))
      expect(events[counted(events)]).toEqual({ _tag: "SetTotal", label: "crm.deal.list", total: 3000 })
    }).pipe(Effect.provide(limitedLayer({ "crm.deal": 3000 })))
  )
})

describe("streaming", () => {
  it.effect("interruption cancels the requests in flight", () => {
    const limits: LimitNumbers = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }
    return Effect.gen(function* () {
      const fiber = yield* Effect.fork(Stream.runDrain(Bitrix.stream("crm.deal.list", { select: ["*"] }, { strategy: "ranges" })))
      yield* TestClock.adjust("1 second")
      const during = yield* stats
      expect(during.httpRequests).toBeGreaterThan(2)
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("10 minutes")
      const after = yield* stats
      expect(after.httpRequests).toBe(during.httpRequests)
      expect(after.rowsServed).toBe(during.rowsServed)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 50000 }, limits, costModel: "default" }, { limits })))
  })

  it.effect("rows arrive before the export ends, and progress counts them with the total", () =>
    Effect.gen(function* () {
      const first = yield* Stream.runHead(Bitrix.stream("crm.deal.list", { select: ["ID"] }))
      expect(first._tag).toBe("Some")
      // The first row came out of the end pages' round: the walk between them never started
      expect((yield* stats).rowsServed).toBeLessThan(3000)
      const chunk = yield* Stream.runCollect(Bitrix.stream("crm.deal.list", { select: ["ID"] }, { strategy: "keyset" }).pipe(Stream.take(51)))
      expect(Chunk.size(chunk)).toBe(51)
      const progress = yield* ProgressReporter.makeTest
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }).pipe(Effect.provide(progress.layer))
      expect(rows.length).toBe(3000)
      const events = yield* progress.events
      const advanced = events.reduce((sum, event) => (event._tag === "Advance" ? sum + event.n : sum), 0)
      expect(advanced).toBe(3000)
      expect(events.flatMap((event) => (event._tag === "SetTotal" ? [event.total] : []))).toContain(3000)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 3000 } })))
  )
})

describe("keyset paging on a method that ignores the ID filter", () => {
  it.effect("fails with the reason instead of walking the same page forever", () => {
    // an unknown method that does not know `>ID`: every page is the first one
    const firstPage = Array.from({ length: 50 }, (_, index) => ({ ID: String(index + 1) }))
    const { layer, sent } = scripted([ok(firstPage)])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.getAll("vendor.thing.list", {}, { strategy: "keyset" })))
      expect(error).toMatchObject({ _tag: "KeysetUnsupportedError", reason: "FilterIgnored" })
      expect(String(error)).toContain('ignored the keyset filter >ID=50')
      expect(String(error)).toContain('strategy "offset"')
      expect(sent.length).toBe(2)
    }).pipe(Effect.provide(layer))
  })
})
