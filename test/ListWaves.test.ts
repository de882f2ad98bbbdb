/**
 * How many dependent waves of requests a list export takes, and how many rows the portal serves for the rows it
 * returns. A wave is a set of requests each of which waits for an answer of the wave before it: against a cloud
 * portal every wave costs a network round trip, so an export that needs fewer of them finishes sooner.
 *
 * Waves are counted from the requests themselves: a recording `Transport` notes, for every request it sends, the
 * waves of the answers that came back before it was sent; the request belongs to the wave after the latest of them
 * (the first wave when none came back). That is the depth of the longest chain "answer, then the next request", an
 * upper bound of what the strategy made depend on what, whatever the limiter or the clock did. The fake portal
 * puts a 60 ms round trip in front of every request and the export runs on the TestClock, so the requests of one
 * wave really are in flight together, and the clock shows each wave as a round trip.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Layer } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import type { LimitNumbers } from "../src/BitrixConfig.js"
import type * as Envelope from "../src/Envelope.js"
import { chainedPages, guardPrefix, junkGuardSafe, keysetPlan, probePages } from "../src/internal/list/keyset.js"
import * as Plan from "../src/internal/list/plan.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import type { FakePortalOptions } from "../src/testing/Options.js"
import * as RateLimiter from "../src/RateLimiter.js"
import { aroundSend, makeWaveLog, recordingWaves } from "../bench/waves.js"
import { engineRows } from "./support/engine.js"
import { runOnTestClock } from "./support/testClock.js"

const standard: LimitNumbers = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }
const roundTripMs = 60

/**
 * A fresh portal with the standard limits, the default cost model and a 60 ms round trip, the client over it with the
 * standard limits, and every request's wave recorded (see the module's description).
 */
const waveLayer = (portal: FakePortalOptions, limits: LimitNumbers = standard) => {
  const log = makeWaveLog()
  const fake = FakePortal.layer({ limits, costModel: "default", latency: { roundTripMs }, ...portal })
  const recording = recordingWaves(log).pipe(Layer.provide(fake))
  // the recording Transport last, so it is the one the client gets (the portal layer is built once, shared)
  return { log, layer: Layer.mergeAll(Bitrix.layerServices({ limits }), fake, recording) }
}

const stats = Effect.flatMap(FakePortal.FakePortal, (portal) => portal.stats)

const idsOf = (rows: ReadonlyArray<unknown>) => rows.map((row) => Number((row as { readonly ID: unknown }).ID))

/** The `Transport` beneath, wrapped to tell `sent` of every request as it goes and `answered` of its answer, at the clock's time. */
const timedTransport = (hooks: {
  readonly sent?: (method: string, params: unknown, atMs: number) => void
  readonly answered?: (method: string, params: unknown, atMs: number) => void
}) =>
  aroundSend((method, params, send) =>
    Effect.gen(function* () {
      hooks.sent?.(method, params, yield* Clock.currentTimeMillis)
      const answer = yield* send
      hooks.answered?.(method, params, yield* Clock.currentTimeMillis)
      return answer
    })
  )

/** Runs `program` to its end on the TestClock, a millisecond at a time; returns its result and the ms it took. */
const onTestClock = <A, E, R>(program: Effect.Effect<A, E, R>) => runOnTestClock(program, "1 millis", 120_000)

/**
 * One export of `crm.deal.list` with `select`, measured: the rows against the engine's own (read before the export,
 * off the client), the waves, the requests, the rows the portal served for it.
 */
const measure = (select: ReadonlyArray<string>, filter?: { readonly CATEGORY_ID: number }) =>
  Effect.gen(function* () {
    const all = yield* engineRows("crm.deal.list", ["ID", "CATEGORY_ID"])
    // The filter applied here, in the test
    const expected = all
      .filter((row) => filter === undefined || Number((row as { readonly CATEGORY_ID: unknown }).CATEGORY_ID) === filter.CATEGORY_ID)
      .map((row) => Number((row as { readonly ID: unknown }).ID))
    const before = yield* stats
    const params = filter === undefined ? { select: [...select] } : { select: [...select], filter }
    const { result, elapsedMs } = yield* onTestClock(Bitrix.getAll("crm.deal.list", params))
    const after = yield* stats
    return {
      ids: idsOf(result),
      expected,
      elapsedMs,
      requests: after.httpRequests - before.httpRequests,
      rowsServed: after.rowsServed - before.rowsServed,
      rejected: after.rejected503 + after.rejected429
    }
  })

const narrow = ["ID", "TITLE", "STAGE_ID"] as const
const wide = ["*", "UF_*"] as const

describe("waves of an auto export with a full bucket and a 60 ms round trip", () => {
  // The first page, the last page (ID descending) and the COUNT go out together: a list of up to 100 rows lies in
  // the two end pages, so it takes that one wave; a longer one takes a second wave for the rows between them. With
  // every field the last page is of IDs alone, so only a list of up to 50 rows takes one wave
  const cases: ReadonlyArray<readonly [rows: number, select: ReadonlyArray<string>, waves: number]> = [
    [49, narrow, 1],
    [50, narrow, 1],
    [51, narrow, 1],
    [2500, narrow, 2],
    [2501, narrow, 2],
    [10_000, narrow, 2],
    // every field: the span from pages of IDs; a list past the first page takes a second wave for the rest
    [49, wide, 1],
    [50, wide, 1],
    [51, wide, 2],
    [2000, wide, 2],
    [10_000, wide, 2]
  ]
  for (const [rows, select, waves] of cases) {
    it.effect(`${rows.toLocaleString("en-US")} ${select === wide ? "wide" : "narrow"} rows: ${waves} wave${waves === 1 ? "" : "s"}`, () => {
      const { log, layer } = waveLayer({ seed: { "crm.deal": rows } })
      return Effect.gen(function* () {
        const run = yield* measure(select)
        expect(run.ids).toEqual(run.expected)
        expect(run.expected.length).toBe(rows)
        expect(Math.max(...log.waves)).toBe(waves)
        // each wave is a round trip of clock time at least
        expect(run.elapsedMs).toBeGreaterThanOrEqual(waves * roundTripMs)
        // every request started without waiting for the bucket: at most its 50 starts less the client's headroom of 2
        expect(run.requests).toBe(log.waves.length)
        // the first wave: the COUNT and both end pages, three requests (with every field the last page is of IDs)
        expect(log.waves.filter((wave) => wave === 1).length).toBe(3)
        expect(run.requests).toBeLessThanOrEqual(48)
        expect(run.rejected).toBe(0)
        if (rows <= 100) {
          // the two end pages and the COUNT's page of IDs: at most two pages more than the rows
          expect(run.rowsServed).toBeLessThanOrEqual(rows + 2 * 50)
        } else {
          expect(run.rowsServed / rows).toBeLessThanOrEqual(1.05)
          // exactly one page more than the rows: the COUNT's page of IDs (and for dear rows the last page of IDs,
          // whose rows the ranges read); no junk page after a chain's short page
          expect(run.rowsServed).toBe(rows + (select === wide ? 2 * 50 : 50))
        }
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("10,000 wide rows: the ranges go out on the pages of IDs, before the first page's rows come back", () => {
    // Wide rows cost 2 ms each (0.105 s a page of 50) where a page of IDs costs 10 ms and the COUNT of 10,000 rows
    // 15 ms: the span is known from the IDs after a round trip and 15 ms, so the ranges start about 90 ms before
    // the first page's rows come back, and the export ends that much sooner
    const sent: Array<{ readonly method: string; readonly atMs: number }> = []
    const answered: Array<{ readonly wide: boolean; readonly atMs: number }> = []
    const timing = timedTransport({
      sent: (method, _params, atMs) => sent.push({ method, atMs }),
      answered: (method, params, atMs) => {
        const select = (params as { readonly select?: ReadonlyArray<string> }).select ?? []
        if (method === "crm.deal.list") answered.push({ wide: select.includes("*"), atMs })
      }
    })
    const fake = FakePortal.layer({ limits: standard, costModel: "default", latency: { roundTripMs }, seed: { "crm.deal": 10_000 } })
    const layer = Layer.mergeAll(Bitrix.layerServices({ limits: standard }), fake, timing.pipe(Layer.provide(fake)))
    return Effect.gen(function* () {
      const run = yield* measure(wide)
      expect(run.ids).toEqual(run.expected)
      const firstBatch = Math.min(...sent.filter((request) => request.method === "batch").map((request) => request.atMs))
      const wideAnswers = answered.filter((answer) => answer.wide).map((answer) => answer.atMs)
      // the first page of rows, answered after a round trip and a wide page's 105 ms (the last page's rows are
      // the last range's)
      expect(wideAnswers).toHaveLength(1)
      expect(Math.min(...wideAnswers)).toBeGreaterThanOrEqual(roundTripMs + 105)
      // the ranges were sent once the pages of IDs were in: a round trip and the COUNT's 15 ms, well before
      expect(firstBatch).toBeLessThan(Math.min(...wideAnswers))
      expect(firstBatch).toBeLessThanOrEqual(roundTripMs + 15 + 5)
      expect(run.rejected).toBe(0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("50,000 narrow rows: 2 waves, no junk rows", () => {
    const { log, layer } = waveLayer({ seed: { "crm.deal": 50_000 } })
    return Effect.gen(function* () {
      const run = yield* measure(narrow)
      expect(run.ids).toEqual(run.expected)
      expect(Math.max(...log.waves)).toBe(2)
      expect(run.rowsServed).toBe(50_000 + 50)
      expect(run.rejected).toBe(0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a filter matching 10 % of the rows (sparse IDs from the start): complete, 2 waves, no junk rows", () => {
    const { log, layer } = waveLayer({ seed: { "crm.deal": 20_000 } })
    return Effect.gen(function* () {
      const run = yield* measure(narrow, { CATEGORY_ID: 3 })
      expect(run.expected.length).toBeGreaterThan(1000)
      expect(run.ids).toEqual(run.expected)
      expect(Math.max(...log.waves)).toBe(2)
      expect(run.rowsServed / run.expected.length).toBeLessThanOrEqual(1.05)
      expect(run.rejected).toBe(0)
    }).pipe(Effect.provide(layer))
  })
})

describe("a COUNT dearer than the pages", () => {
  // A filter matching 10 % of 200,000 rows, a bucket of 10 and an operating limit of 100 s: the rows need more full
  // chains than the free starts carry, so the split waits for the COUNT, which scans the whole table at 0.003 ms a row
  // (0.6 s) where a keyset page takes 10 ms. Were the COUNT's 0.6 s taken for what every call of the method costs, a
  // batch of 50 pages would be admitted as 30 s of operating time and only 3 of them at once under the 100 s: the
  // others would wait for the first answers (the whole export bills about 4 s).
  const limits: LimitNumbers = { poolSize: 10, requestsPerSecond: 2, operatingLimitSeconds: 100, operatingWindowSeconds: 600 }
  it.effect("a filtered export: no request waits for the operating budget", () => {
    const { layer } = waveLayer({ seed: { "crm.deal": 200_000 }, costModel: { countRowMs: 0.003 } }, limits)
    return Effect.gen(function* () {
      const run = yield* measure(narrow, { CATEGORY_ID: 3 })
      const limiter = yield* Effect.flatMap(RateLimiter.RateLimiter, (service) => service.stats)
      expect(run.expected.length).toBeGreaterThan(15_000)
      expect(run.ids).toEqual(run.expected)
      // the COUNT ran: the split waited for it (else it would not have taught the limiter anything)
      const portal = yield* stats
      expect(portal.operatingSecondsByMethod["crm.deal.list"] ?? 0).toBeGreaterThan(0.6)
      expect(limiter.operatingWaits).toBe(0)
      expect(run.rejected).toBe(0)
    }).pipe(Effect.provide(layer))
  })
})

describe("a filtered export near what the free starts carry, its COUNT dear", () => {
  // A filter matching about 10 % of 240,000 rows on a bucket of 18: 13 starts are free after the first wave, which
  // carry 29,250 rows in single requests of 2,250. The end pages' 98 gaps make about 30,300 of the rows between
  // them (±11 %), more than that, and the COUNT scans the whole table at 0.005 ms a row: 1.2 s. A probe (one batch
  // of pages spread across the span: a round trip and 8 pages of 10 ms) sees about five times as many gaps, about
  // 26,100 rows (±5 %, their spread measured at 1.14), which 12 single requests carry: the split goes without the
  // COUNT. (The engine holds 24,324 such rows; the test counts them itself.)
  const limits: LimitNumbers = { poolSize: 18, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }
  const tableRows = 240_000
  const countMs = tableRows * 0.005
  // Every field read: the probe's pages are of IDs alone, and wide rows priced as narrow ones (0.1 ms) so that the
  // same split is right for them (at 2 ms a row a start is worth 0.3 s to the split, which then waits the COUNT's
  // 0.27 s of worth rather than spend one on a probe)
  const cases = [
    { select: narrow, costModel: { countRowMs: 0.005 }, probeSelect: narrow },
    { select: wide, costModel: { countRowMs: 0.005, wideRowMs: 0.1 }, probeSelect: ["ID"] }
  ] as const
  for (const { select, costModel, probeSelect } of cases) {
    it.effect(`${select === wide ? "every field" : "a few fields"}: one probe of 8 pages, then the walk, long before the COUNT answers: 3 waves, complete`, () => {
      const log = makeWaveLog()
      const sent: Array<{ readonly commands: number; readonly wave: number; readonly atMs: number; readonly query: string }> = []
      const fake = FakePortal.layer({ limits, costModel, latency: { roundTripMs }, seed: { "crm.deal": tableRows } })
      const timing = timedTransport({
        sent: (method, params, atMs) => {
          const cmd = (params as { readonly cmd?: Readonly<Record<string, string>> }).cmd
          // the wave log wraps this Transport: the request's wave is noted before it comes here
          const commands = method === "batch" && cmd !== undefined ? Object.values(cmd) : []
          sent.push({ commands: commands.length, wave: log.waves.at(-1)!, atMs, query: decodeURIComponent(commands[0] ?? "") })
        }
      })
      const layer = Layer.mergeAll(Bitrix.layerServices({ limits }), fake, recordingWaves(log).pipe(Layer.provide(timing), Layer.provide(fake)))
      return Effect.gen(function* () {
        const run = yield* measure(select, { CATEGORY_ID: 3 })
        expect(run.expected.length).toBeGreaterThan(20_000)
        expect(run.ids).toEqual(run.expected)
        // the first wave: the end pages and the COUNT; the second: the probe alone, a batch of 8 pages; then the walk
        expect(sent.filter((request) => request.wave === 1)).toHaveLength(3)
        const probe = sent.filter((request) => request.wave === 2)
        expect(probe.map((request) => request.commands)).toEqual([8])
        // the probe's pages select what the walk's do, or the ID alone where the walk reads every field
        const selected = [...probe[0]!.query.matchAll(/select\[\d+\]=([^&]+)/g)].map((match) => match[1])
        expect(selected).toEqual([...probeSelect])
        expect(Math.max(...log.waves)).toBe(3)
        // the walk went out as soon as the probe answered, after two round trips, an end page (10 ms) and the probe's
        // pages (8 of 5 ms + 50 rows of 0.1 ms, and the batch's 5 ms): neither the probe nor the walk waited for the
        // COUNT, which was slower by then than a seventh of what it could save (`countWorthWaiting`; waiting all of
        // that sent the walk 65 ms later)
        const walkSent = Math.min(...sent.filter((request) => request.wave === 3).map((request) => request.atMs))
        expect(walkSent).toBe(2 * roundTripMs + 10 + (8 * (5 + 50 * 0.1) + 5))
        expect(run.elapsedMs).toBeLessThan(countMs)
        // the probe's 8 pages are served for nothing, as are the COUNT's page of IDs and the junk pages of the
        // chains the guard cannot empty (their IDs cross from 5 to 6 digits): within 5 % all together
        expect(run.rowsServed / run.expected.length).toBeLessThanOrEqual(1.05)
        expect(run.requests).toBeLessThanOrEqual(limits.poolSize - 2)
        expect(run.rejected).toBe(0)
      }).pipe(Effect.provide(layer))
    })
  }
})

describe("a probe's pages as cost samples", () => {
  // The limiter takes the largest of a method's last call times for what its next calls cost: pages of IDs (10 ms)
  // read for an export of every field (105 ms a page) must not be among them, while their time still counts in the
  // method's budget (`operating`)
  const recordsOf = (options: { readonly costSample?: boolean }) => {
    const records: Array<{ readonly method: string; readonly time: Envelope.TimeBlock }> = []
    const fake = FakePortal.layer({ limits: standard, costModel: "default", seed: { "crm.deal": 5_000 } })
    const recording = Layer.effect(
      RateLimiter.RateLimiter,
      Effect.map(RateLimiter.RateLimiter, (inner) =>
        RateLimiter.RateLimiter.of({ ...inner, record: (entries) => Effect.zipRight(Effect.sync(() => records.push(...entries)), inner.record(entries)) })
      )
    ).pipe(Layer.provide(Bitrix.layerServices({ limits: standard })))
    // the recording limiter last, so it is the one the client gets
    const layer = Layer.mergeAll(Bitrix.layerServices({ limits: standard }), fake, recording)
    const plan = Either.getOrThrow(keysetPlan("crm.deal.list", { select: ["ID"] }))
    return probePages("crm.deal.list", plan, [0, 1000, 2000], 4000, options).pipe(
      Effect.map((pages) => ({ pages, records: records.filter((record) => record.method === "crm.deal.list") })),
      Effect.provide(layer)
    )
  }

  it.effect("pages of IDs for an export of every field: their time in the budget, but no call's cost", () =>
    Effect.gen(function* () {
      const quiet = yield* onTestClock(recordsOf({ costSample: false }))
      expect(quiet.result.pages.map((ids) => ids.length)).toEqual([50, 50, 50])
      expect(quiet.result.records).toHaveLength(3)
      for (const { time } of quiet.result.records) {
        expect(time.processing).toBeUndefined()
        expect(time.duration).toBeUndefined()
        expect(time.operating).toBeDefined()
      }
      // the contrast: pages of the export's own select are samples, as every batch's were
      const sampled = yield* onTestClock(recordsOf({}))
      expect(sampled.result.records).toHaveLength(3)
      for (const { time } of sampled.result.records) expect(time.processing).toBeGreaterThan(0)
    }))
})

describe("the chains of the ranges", () => {
  it("room for three standard deviations of the rows a range holds, at a gap spread of at least 2, and one row", () => {
    // 225 rows at spread 2: 225 + 3 · 2 · 15 + 1 = 316 rows, 7 pages
    expect(Plan.rangeChainLength(225)).toBe(7)
    expect(Plan.rangeChainLength(225, 2)).toBe(7)
    // a spread as small as 0.5 is taken as given (`estimateRows` floors one measured from few gaps at 2):
    // 100 + 3 · 0.5 · 10 + 1 = 116 rows, 3 pages; below 0.5, as at 0.5
    expect(Plan.rangeChainLength(100, 0.5)).toBe(3)
    expect(Plan.rangeChainLength(100, 0.1)).toBe(3)
    // 100 rows at spread 4: 100 + 3 · 4 · 10 + 1 = 221 rows, 5 pages
    expect(Plan.rangeChainLength(100, 4)).toBe(5)
    // at least 2 pages, at most a batch
    expect(Plan.rangeChainLength(0)).toBe(2)
    expect(Plan.rangeChainLength(2300)).toBe(50)
  })

  it("the junk guard goes only where '1' written before the ID it reads is sure to lie above the walk's bound", () => {
    // after one page from cursor 0 the reference reads an ID of at least 50: the guard is at least 150
    expect(junkGuardSafe(0, 1, 149)).toBe(true)
    expect(junkGuardSafe(0, 1, 150)).toBe(false)
    // three pages after cursor 999: an ID of at least 1,149, a guard of at least 11,149
    expect(junkGuardSafe(999, 3, 11_148)).toBe(true)
    expect(junkGuardSafe(999, 3, 11_149)).toBe(false)
    // no bound, no cursor, or the first command (its cursor is a number, not a reference): never
    expect(junkGuardSafe(999, 3, undefined)).toBe(false)
    expect(junkGuardSafe(undefined, 3, 2000)).toBe(false)
    expect(junkGuardSafe(999, 0, 1000)).toBe(false)
  })

  it("behind the export's lowest ID the guard's prefix is the largest power of ten not above it", () => {
    expect(guardPrefix(undefined)).toBe(1)
    expect(guardPrefix(1)).toBe(1)
    expect(guardPrefix(9)).toBe(1)
    expect(guardPrefix(10)).toBe(10)
    expect(guardPrefix(13)).toBe(10)
    expect(guardPrefix(999)).toBe(100)
    expect(guardPrefix(1000)).toBe(1000)
    // 47 pages after cursor 844 the reference reads at least 844 + 50 · 47 = 3,194: "1" before it is 13,194, under the
    // range's bound of 44,715; "10" before it, 103,194
    expect(junkGuardSafe(844, 47, 44_715)).toBe(false)
    expect(junkGuardSafe(844, 47, 44_715, 10)).toBe(true)
    // past what a number holds exactly: never
    expect(junkGuardSafe(10 ** 14, 1, 10 ** 15, 1000)).toBe(false)
  })

  it.effect("a chain over IDs that gain a digit: no junk rows behind the lowest ID's power of ten, junk rows behind 1", () => {
    const { layer } = waveLayer({ seed: { "crm.deal": 20_000 }, limits: "off", costModel: "zero", latency: { roundTripMs: 0 } })
    return Effect.gen(function* () {
      // the filter's rows, found in the test from the engine's own
      const ids = (yield* engineRows("crm.deal.list", ["ID", "CATEGORY_ID"]))
        .filter((row) => Number((row as { readonly CATEGORY_ID: unknown }).CATEGORY_ID) === 3)
        .map((row) => Number((row as { readonly ID: unknown }).ID))
      expect(ids[0]).toBeGreaterThanOrEqual(10)
      expect(ids[0]).toBeLessThan(100)
      // 1,520 rows after the first page's: 30 full pages, a 31st of 20 rows, and 2 commands after it whose reference
      // does not resolve (the portal then reads rows from the start of the table); the IDs they could read (from
      // 844 + 50 · 31 on) have 4 digits and the bound 5: "1" before them is not sure to lie above it, "10" is
      const cursor = ids[49]!
      const upper = ids[1569]!
      for (const index of [31, 32]) {
        expect(junkGuardSafe(cursor, index, upper)).toBe(false)
        expect(junkGuardSafe(cursor, index, upper, 10)).toBe(true)
      }
      const plan = Either.getOrThrow(keysetPlan("crm.deal.list", { select: ["ID"], filter: { CATEGORY_ID: 3 } }))
      const chain = (lowestId: number | undefined) =>
        Effect.gen(function* () {
          const before = yield* stats
          const { result } = yield* onTestClock(chainedPages("crm.deal.list", lowestId === undefined ? plan : { ...plan, lowestId }, cursor, upper, 33))
          const after = yield* stats
          return { ids: idsOf(result.rows), served: after.rowsServed - before.rowsServed }
        })
      const behindLowest = yield* chain(ids[0])
      // behind "10" the two commands find no rows: the rows served are the range's
      expect(behindLowest.ids).toEqual(ids.slice(50, 1570))
      expect(behindLowest.served).toBe(1520)
      // behind "1" they carry no guard and serve a page of junk each, discarded
      const behindOne = yield* chain(undefined)
      expect(behindOne.ids).toEqual(ids.slice(50, 1570))
      expect(behindOne.served).toBe(1520 + 2 * 50)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a guarded command after a short page finds no rows; after a full page it reads the next one", () => {
    const { layer } = waveLayer({ seed: { "crm.deal": 1234 }, limits: "off", costModel: "zero", latency: { roundTripMs: 0 } })
    return Effect.gen(function* () {
      const ids = (yield* engineRows("crm.deal.list", ["ID"])).map((row) => Number((row as { readonly ID: unknown }).ID))
      const list = (filter: Readonly<Record<string, unknown>>) => ({
        method: "crm.deal.list",
        params: { order: { ID: "ASC" }, select: ["ID"], filter, start: -1 }
      })
      const guarded = (previous: string) => list({ ">ID": `$result[${previous}][49][ID]`, "<ID": `1$result[${previous}][49][ID]`, "<=ID": ids.at(-1)! })
      const raw = yield* onTestClock(
        Bitrix.callBatch({
          cmd: { short: list({ ">ID": ids[1199]! }), afterShort: guarded("short"), full: list({ ">ID": ids[99]! }), afterFull: guarded("full") }
        })
      )
      const page = (label: string) => idsOf(raw.result[label] as ReadonlyArray<unknown>)
      expect(page("short")).toEqual(ids.slice(1200))
      expect(page("afterShort")).toEqual([])
      expect(page("full")).toEqual(ids.slice(100, 150))
      expect(page("afterFull")).toEqual(ids.slice(150, 200))
    }).pipe(Effect.provide(layer))
  })
})
