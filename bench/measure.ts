/**
 * One benchmark run: a fresh portal in the child process, the client program against it under a cap, the
 * portal's counters, and the figures derived from them.
 */
import { Chunk, Effect, Exit, Stream } from "effect"
import { performance } from "node:perf_hooks"
import * as Bitrix from "../src/Bitrix.js"
import { presets } from "../src/BitrixConfig.js"
import type { Strategy } from "../src/ListStrategy.js"
import { ProgressReporter } from "../src/ProgressReporter.js"
import type { LimiterStats } from "../src/RateLimiter.js"
import type { FakePortalOptions, PortalStats } from "../src/testing/index.js"
import { resolveCost } from "../src/testing/internal/engine.js"
import { defaultCost } from "../src/testing/internal/methods.js"
import { type ClientTime, type HttpChoice, type LimiterCapture, runWithClient } from "./client.js"
import { type Bound, itemWork, listWork, lowerBound, singleCallsBound, strategyFloor } from "./lowerBound.js"
import { minimumWaves, withRoundTrips } from "./network.js"
import { deepestWave, makeWaveLog, recordingWaves } from "./waves.js"
import type { PortalHost } from "./portal.js"
import type { Probes } from "./portalProtocol.js"
import { narrowSelect, type Scenario, type SharedScenario, wideSelect } from "./scenarios.js"

/** Settings shared by every run. */
export interface RunSettings {
  readonly clientTime: ClientTime
  readonly http: HttpChoice
  /** Forces the time scale of every limited run. */
  readonly timeScale: number | undefined
  /**
   * The lowest time scale the planner may pick. 1 normally; below 1 ("slow motion") portal time runs slower than
   * real time, so the CPU of both processes shrinks in portal time and what remains is the strategy and the limits.
   */
  readonly minTimeScale: number
  /** Labels the runs of a pass (e.g. slow motion) in the tables. */
  readonly label: string | undefined
  /** Real seconds a normal run should take, used to pick its time scale. */
  readonly targetRealSeconds: number
  /** Real seconds a run expected to be capped should take. */
  readonly cappedRealSeconds: number
  /** A run stops at the larger of `capFactor` × the bound and `capMinPortalSeconds` portal seconds... */
  readonly capFactor: number
  readonly capMinPortalSeconds: number
  /** ...and at this many real seconds in any case. */
  readonly capRealSeconds: number
  /**
   * Rows per real second the client and the portal process move together with no limits and no cost (measured
   * first). A run's real time is kept at least `cpuHeadroom` times what its rows need at that speed, so the
   * fake portal's CPU (and the client's, multiplied by ts) does not pace it.
   */
  readonly pipelineRowsPerSecond: { readonly narrow: number; readonly wide: number } | undefined
  /** Rows the portal process serves (encodes) per real second while the client decodes them (calibrated). */
  readonly servedRowsPerSecond: { readonly narrow: number; readonly wide: number } | undefined
  readonly cpuHeadroom: number
  /** Bucket slots the client leaves free (`ServiceOptions.bucketHeadroom`); undefined = the library's default. */
  readonly bucketHeadroom: number | undefined
  /** The limiter's `arrivalJitterMs` in real ms (× ts when the client reads portal time); undefined = the library's. */
  readonly arrivalJitterRealMs: number | undefined
  /**
   * The network's round trip in portal ms (the fake portal's `latency`, divided by the time scale since the network
   * is real time there); the bound counts it once per dependent wave the work needs. 0: loopback only.
   */
  readonly latencyMs: number
}

/** RSS of the client process during a run, bytes. */
export interface RssFigures {
  readonly start: number
  readonly peak: number
  readonly end: number
}

/** Everything measured in one run. */
export interface RunResult {
  readonly scenario: string
  readonly title: string
  readonly strategy: string
  readonly status: "ok" | "capped" | "error"
  readonly error?: string
  readonly timeScale: number
  readonly clientTime: ClientTime | "n/a"
  readonly http: HttpChoice
  /** Rows received (lists) or items done (calls). */
  readonly done: number
  readonly expected: number
  readonly wallRealSeconds: number
  readonly wallPortalSeconds: number
  readonly httpRequests: number
  readonly rejected503: number
  readonly rejected429: number
  readonly operatingSeconds: number
  /** Rows or items per portal second. */
  readonly perSecond: number
  readonly bound: Bound | undefined
  readonly ratio: number | undefined
  /**
   * A replayed run (strategy `replay`): the answers recorded by the run before it, and of the measured run's requests
   * those the recording answered and those it did not know (answered by the engine).
   */
  readonly replay?: { readonly recorded: number; readonly answered: number; readonly missed: number }
  /** The strategy's own rough floor (why a strategy cannot reach the bound). */
  readonly strategyFloorSeconds: number | undefined
  /** Rows the portal served (encoded) for the run, junk pages included. */
  readonly rowsServed: number
  /**
   * List runs: the dependent waves of requests the client sent (see `waves.ts`): against a cloud portal each costs
   * a network round trip. Absent from runs of other kinds and from results written before it was measured.
   */
  readonly waves?: number
  /** List runs: the requests the client sent (retries included), as the waves were counted over them. */
  readonly clientRequests?: number
  /** Rows served per real second (the calibration reads this). */
  readonly servedPerRealSecond: number
  /**
   * Portal seconds the client and portal processes need just to move the rows the portal served, at the
   * calibrated speed (real seconds × ts): what this machine's CPU alone would cost the run.
   */
  readonly cpuFloorSeconds: number | undefined
  readonly capPortalSeconds: number | undefined
  readonly limiter: LimiterStats | undefined
  readonly clientRss: RssFigures
  /**
   * Client RSS after each further tenth of the rows (list runs); on runs of a million rows or more also the heap in
   * use right after a full GC there, which is what "flat memory" means (RSS keeps garbage V8 has not collected yet).
   */
  readonly rssTrace: ReadonlyArray<TracePoint>
  /** CPU the client process used during the run (user + system), real seconds. */
  readonly clientCpuSeconds: number
  readonly portalRssBytes: number
  readonly portalSeedMs: number
  readonly requestsByMethod: Readonly<Record<string, number>>
  readonly batchCommandsByMethod: Readonly<Record<string, number>>
  readonly writesPerformed: Readonly<Record<string, number>>
}

const limits = presets.standard

/** Samples the client's RSS every 50 ms until stopped. */
const sampleRss = () => {
  const start = process.memoryUsage.rss()
  let peak = start
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, 50)
  return (): RssFigures => {
    clearInterval(timer)
    const end = process.memoryUsage.rss()
    return { start, peak: Math.max(peak, end), end }
  }
}

/**
 * Rows of a list run, counted as they stream, with a check that IDs strictly increase (no duplicates), and the
 * client's RSS each time another tenth of the expected rows has arrived (flat memory shows as a flat trace).
 */
interface RowTally {
  rows: number
  lastId: number
  outOfOrder: number
  readonly expected: number
  nextTrace: number
  readonly rssTrace: Array<TracePoint>
  /** A full GC before each heap reading, or undefined to read RSS only (a GC pauses the run). */
  readonly gc: (() => void) | undefined
}

/** One point of the memory trace of a list run. */
export interface TracePoint {
  readonly rows: number
  readonly rssMiB: number
  readonly heapAfterGcMiB?: number
}

/** Runs this long get the heap trace: the "flat memory when streaming a million rows". */
const heapTraceRows = 500_000

const tallyRows = (tally: RowTally) => (chunk: Chunk.Chunk<unknown>) =>
  Effect.sync(() => {
    for (const row of chunk) {
      const id = Number((row as { readonly ID?: unknown }).ID)
      if (!(id > tally.lastId)) tally.outOfOrder++
      tally.lastId = id
      tally.rows++
    }
    if (tally.rows >= tally.nextTrace) {
      const rssMiB = Math.round(process.memoryUsage.rss() / 2 ** 20)
      if (tally.gc === undefined) tally.rssTrace.push({ rows: tally.rows, rssMiB })
      else {
        tally.gc()
        tally.rssTrace.push({ rows: tally.rows, rssMiB, heapAfterGcMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20) })
      }
      tally.nextTrace = tally.rows + Math.max(1, Math.ceil(tally.expected / 10))
    }
  })

/** A reporter that only counts the items bulk calls finish. */
const countingReporter = (counter: { done: number }) => ({
  start: () => Effect.void,
  advance: (_label: string, n: number) =>
    Effect.sync(() => {
      counter.done += n
    }),
  setTotal: () => Effect.void,
  finish: () => Effect.void
})

/** What the run needs from the portal, and what it sends. */
const portalSetup = (scenario: Scenario): { readonly options: FakePortalOptions; readonly probes: Probes } => {
  switch (scenario.kind) {
    case "list":
      return {
        options: {
          seed: { "crm.deal": scenario.tableSize },
          ...(scenario.batchBilling === undefined ? {} : { batchBilling: scenario.batchBilling }),
          ...(scenario.costModel === undefined ? {} : { costModel: scenario.costModel })
        },
        probes: scenario.filter === undefined ? {} : { filterTotal: { method: "crm.deal.list", filter: scenario.filter } }
      }
    case "overhead":
      return { options: { seed: { "crm.deal": scenario.tableSize }, limits: "off", costModel: "zero" }, probes: {} }
    case "add":
      return { options: { seed: { "crm.deal": 1_000 } }, probes: {} }
    case "getByID":
      return {
        options: { seed: { "crm.deal": scenario.items, "crm.contact": 2_000 } },
        probes: { ids: { method: "crm.deal.list", count: scenario.items } }
      }
    case "calls":
      return { options: {}, probes: {} }
    case "shared":
      throw new Error("shared scenarios run in bench/shared.ts")
  }
}

/** Rows (or items) the run must deliver, before the portal says exactly. */
const plannedCount = (scenario: Scenario): number => {
  switch (scenario.kind) {
    case "list":
      return scenario.filter === undefined ? scenario.tableSize : Math.round(scenario.tableSize / 10)
    case "overhead":
      return scenario.tableSize
    case "add":
    case "getByID":
    case "calls":
      return scenario.items
    case "shared":
      return scenario.workers * scenario.rowsEach
  }
}

/** The cost numbers the scenario's portal runs with (a list scenario may name a preset, e.g. `docsCount`). */
const costOf = (scenario: Scenario) => (scenario.kind === "list" ? resolveCost(scenario.costModel) : defaultCost)

/**
 * The bound with the network: `latencyMs` once per dependent wave the work needs (`minimumWaves`), on top of the
 * limits' bound.
 */
const boundOf = (scenario: Scenario, count: number, latencyMs: number): Bound | undefined => {
  const bound = limitsBoundOf(scenario, count)
  return bound === undefined ? undefined : withRoundTrips(bound, minimumWaves(scenario.kind, count), latencyMs)
}

const limitsBoundOf = (scenario: Scenario, count: number): Bound | undefined => {
  switch (scenario.kind) {
    case "list":
      return lowerBound(costOf(scenario), limits, listWork(costOf(scenario), count, scenario.wide))
    case "add":
      return lowerBound(defaultCost, limits, itemWork(defaultCost, count, defaultCost.writeMs))
    case "getByID":
      return lowerBound(defaultCost, limits, itemWork(defaultCost, count, defaultCost.getMs))
    case "calls":
      return singleCallsBound(limits, count, defaultCost.baseMs + defaultCost.getMs)
    case "overhead":
      return undefined
  }
}

const floorOf = (scenario: Scenario, strategy: string, count: number, bound: Bound | undefined) =>
  scenario.kind === "list" && bound !== undefined
    ? strategyFloor(costOf(scenario), limits, strategy, { rows: count, wide: scenario.wide, tableSize: scenario.tableSize }, bound)
    : bound?.seconds

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value))

/** Real seconds the client and portal processes need to move the run's rows (an item counts as 10 narrow rows). */
const cpuRealSeconds = (scenario: Scenario, count: number, settings: RunSettings) => {
  const rates = settings.pipelineRowsPerSecond
  if (rates === undefined) return undefined
  switch (scenario.kind) {
    case "list":
    case "overhead":
      return count / (scenario.wide ? rates.wide : rates.narrow)
    case "add":
    case "getByID":
    case "calls":
      return (count * 10) / rates.narrow
  }
}

/**
 * The highest time scale of a run expected to finish. The client keeps `bucketHeadroom` (2) bucket slots free,
 * i.e. 1 portal second of drain, and its limiter allows for `arrivalJitterMs` (1 portal second) of arrival jitter,
 * against requests that reach the portal bunched (latency jitter, a busy event loop in either process). At ts that
 * slack is only 2 / ts real seconds: at ts 3.75 a 270 ms stall of the fake portal's process was enough for one 503
 * in a run (with the headroom alone), and calls-2000 at ts 20 met 8 to 14 × 503 on a machine at load 7 (stalls of
 * about 1 real s bunched 50 starts). At ts <= 2 the slack is at least 1 real s, what it is against a real portal.
 * Runs expected to be capped (strategies crawling on a budget) keep a high ts, or they would take hours.
 *
 * Since the limiter also counts each request as undrained until its answer came (the gate on answers), a stall no
 * longer brings a 503 at any ts; it costs time instead, once answers take longer than the allowance in portal time.
 * Single calls are answered in a few real ms, so `calls` runs take a higher ts (10: calls-2000 in about 100 real s
 * instead of 490), and list runs keep ts <= 2 so their figures compare with earlier runs.
 */
const jitterTimeScale = (scenario: Scenario) => (scenario.kind === "calls" ? 10 : scenario.kind === "list" ? (scenario.maxTimeScale ?? 2) : 2)

/** The time scale and the portal-time cap of a run. */
export const planRun = (scenario: Scenario, strategy: string, settings: RunSettings) => {
  const count = plannedCount(scenario)
  const bound = boundOf(scenario, count, settings.latencyMs)
  if (bound === undefined) return { timeScale: 1, capPortalSeconds: undefined }
  const floor = floorOf(scenario, strategy, count, bound) ?? bound.seconds
  const capPortalSeconds = Math.max(settings.capFactor * bound.seconds, settings.capMinPortalSeconds)
  const expectCapped = floor > capPortalSeconds
  const portalSeconds = Math.min(floor, capPortalSeconds)
  const wanted = portalSeconds / (expectCapped ? settings.cappedRealSeconds : settings.targetRealSeconds)
  // The rows moved before the cap, at the calibrated speed, must fit `cpuHeadroom` times over in the real time
  const cpu = cpuRealSeconds(scenario, count * Math.min(1, portalSeconds / floor), settings)
  const cpuCeiling = cpu === undefined || cpu <= 0 ? Infinity : portalSeconds / (settings.cpuHeadroom * cpu)
  const jitterCeiling = expectCapped ? Infinity : jitterTimeScale(scenario)
  const timeScale = settings.timeScale ?? clamp(Math.min(wanted, cpuCeiling, jitterCeiling), settings.minTimeScale, 50)
  return { timeScale: timeScale >= 1 ? Math.round(timeScale * 100) / 100 : Number(timeScale.toPrecision(2)), capPortalSeconds }
}

const describeCause = (cause: unknown): string => {
  const text = typeof cause === "string" ? cause : JSON.stringify(cause, null, 0)
  return (text ?? String(cause)).slice(0, 600)
}

/** The sum of a record's values (the portal's per-method counters). */
export const sumValues = (record: Readonly<Record<string, number>>) => Object.values(record).reduce((sum, value) => sum + value, 0)

/** Runs one scenario with one strategy. */
export const measure = async (
  host: PortalHost,
  scenario: Exclude<Scenario, SharedScenario>,
  strategy: Strategy | "default" | "replay",
  settings: RunSettings,
  gc: () => void
): Promise<RunResult> => {
  const { timeScale, capPortalSeconds } = planRun(scenario, strategy, settings)
  const setup = portalSetup(scenario)
  const limitsOn = scenario.kind !== "overhead"
  const latency = settings.latencyMs > 0 && limitsOn ? { latency: { roundTripMs: settings.latencyMs / timeScale } } : {}
  // "replay" (the client-overhead scenario): the export runs once to record the portal's answers, then again,
  // measured, answered from the recording (bench/portalFront.ts): the client's CPU alone, not the fake portal's
  const replay = strategy === "replay"
  const portal = await host.start({ ...setup.options, timeScale, ...latency }, setup.probes, replay)
  try {
    const expected = scenario.kind === "list" ? (portal.filterTotal ?? scenario.tableSize) : plannedCount(scenario)
    const bound = boundOf(scenario, expected, settings.latencyMs)
    const realCapSeconds = (scenario.kind === "list" ? scenario.capRealSeconds : undefined) ?? settings.capRealSeconds
  const capRealMs =
      capPortalSeconds === undefined
        ? realCapSeconds * 1000
        : Math.min((capPortalSeconds * 1000) / timeScale, realCapSeconds * 1000)
    const clientSetup = {
      webhookUrl: portal.webhookUrl,
      anchorMs: portal.anchorMs,
      timeScale,
      limitsOn,
      clientTime: settings.clientTime,
      http: settings.http,
      bucketHeadroom: settings.bucketHeadroom,
      // Real slack against jitter, in the client's time: portal ms when it reads portal time
      arrivalJitterMs:
        settings.arrivalJitterRealMs === undefined
          ? undefined
          : settings.arrivalJitterRealMs * (settings.clientTime === "scaled" ? timeScale : 1)
    }
    // a replayed run measures speed: no forced collections for the heap trace in the middle of it
    const newTally = (): RowTally => ({ rows: 0, lastId: 0, outOfOrder: 0, expected, nextTrace: Math.ceil(expected / 10), rssTrace: [], gc: expected >= heapTraceRows && !replay ? gc : undefined })
    let tally = newTally()
    const items = { done: 0 }
    let waves = makeWaveLog()
    const capture: LimiterCapture = { stats: undefined }

    const makeProgram = (): Effect.Effect<void, unknown, Bitrix.Services> => {
      switch (scenario.kind) {
        case "list":
        case "overhead": {
          const params =
            scenario.kind === "list"
              ? {
                  select: scenario.wide ? [...wideSelect] : [...narrowSelect],
                  ...(scenario.filter === undefined ? {} : { filter: scenario.filter })
                }
              : { select: scenario.wide ? [...wideSelect] : [...narrowSelect] }
          return Bitrix.stream("crm.deal.list", params, strategy === "default" || strategy === "replay" ? {} : { strategy }).pipe(
            Stream.runForEachChunk(tallyRows(tally)),
            Effect.provide(recordingWaves(waves))
          )
        }
        case "add": {
          const fields = Array.from({ length: scenario.items }, (_, index) => ({
            fields: { TITLE: `Bench deal ${index + 1}`, STAGE_ID: "NEW", OPPORTUNITY: 1000 + index, CURRENCY_ID: "RUB" }
          }))
          return Effect.asVoid(Bitrix.call("crm.deal.add", fields))
        }
        case "getByID":
          return Effect.flatMap(Bitrix.getByID("crm.deal.contact.items.get", portal.ids), (results) =>
            results.size === portal.ids.length
              ? Effect.void
              : Effect.fail(`getByID returned ${results.size} results for ${portal.ids.length} IDs`)
          )
        case "calls":
          return Effect.forEach(
            Array.from({ length: scenario.items }, (_, index) => index),
            () =>
              Effect.map(Bitrix.call("user.current", {}), () => {
                items.done++
              }),
            { concurrency: "unbounded", discard: true }
          )
      }
    }

    // the engine's counters after the recording run: the measured run's own are what changed since
    let recorded: { readonly stats: PortalStats; readonly answers: number } | undefined
    if (replay) {
      const recordingExit = await Effect.runPromiseExit(
        runWithClient(clientSetup, Effect.provideService(makeProgram(), ProgressReporter, countingReporter(items)), capture)
      )
      if (Exit.isFailure(recordingExit)) throw new Error(`the recording run failed: ${describeCause(recordingExit.cause)}`)
      const { stats: afterRecording } = await portal.stats()
      recorded = { stats: afterRecording, answers: await portal.replay() }
      tally = newTally()
      waves = makeWaveLog()
    }
    const program = makeProgram()

    gc()
    const stopRss = sampleRss()
    const abort = new AbortController()
    const capTimer = setTimeout(() => abort.abort(), capRealMs)
    const started = performance.now()
    const cpuBefore = process.cpuUsage()
    const run = Effect.runPromiseExit(
      runWithClient(clientSetup, Effect.provideService(program, ProgressReporter, countingReporter(items)), capture),
      { signal: abort.signal }
    )
    // Interruption must end the run; if it does not within 30 s more, the run is an error and the portal closes
    const guard = new Promise<"stuck">((resolve) => setTimeout(() => resolve("stuck"), capRealMs + 30_000).unref())
    const exit = await Promise.race([run, guard])
    const wallRealSeconds = (performance.now() - started) / 1000
    clearTimeout(capTimer)
    const cpu = process.cpuUsage(cpuBefore)
    const clientRss = stopRss()
    const { stats, rssBytes } = await portal.stats()

    let status: RunResult["status"] = "ok"
    let error: string | undefined
    if (exit === "stuck") {
      status = "error"
      error = "the client did not stop within 30 s of the cap"
    } else if (Exit.isFailure(exit)) {
      if (abort.signal.aborted) status = "capped"
      else {
        status = "error"
        error = describeCause(exit.cause)
      }
    }
    const done = scenario.kind === "list" || scenario.kind === "overhead" ? tally.rows : items.done
    if (status === "ok" && (scenario.kind === "list" || scenario.kind === "overhead")) {
      if (tally.rows !== expected || tally.outOfOrder > 0) {
        status = "error"
        error = `incomplete or unordered export: ${tally.rows} rows of ${expected}, ${tally.outOfOrder} out of order`
      }
    }
    if (status === "ok" && scenario.kind === "add" && (stats.writesPerformed["crm.deal.add"] ?? 0) !== scenario.items) {
      status = "error"
      error = `the portal performed ${stats.writesPerformed["crm.deal.add"] ?? 0} adds for ${scenario.items} items`
    }
    const wallPortalSeconds = wallRealSeconds * (limitsOn ? timeScale : 1)
    // replayed: the recorded answers carry the recording run's rows again (exactly so when the recording knew every
    // request), and the requests it did not know were served by the engine meanwhile
    const replayCount = recorded === undefined ? undefined : await portal.replayed()
    const rowsServed =
      recorded === undefined
        ? stats.rowsServed - portal.rowsServedBaseline
        : recorded.stats.rowsServed - portal.rowsServedBaseline + (stats.rowsServed - recorded.stats.rowsServed)
    const httpRequests = replayCount === undefined ? stats.httpRequests : replayCount.answered + replayCount.missed
    return {
      scenario: scenario.name,
      title: scenario.title,
      strategy: settings.label === undefined ? strategy : `${strategy} (${settings.label})`,
      status,
      ...(error === undefined ? {} : { error }),
      timeScale,
      clientTime: limitsOn ? settings.clientTime : "n/a",
      http: settings.http,
      done,
      expected,
      wallRealSeconds,
      wallPortalSeconds,
      httpRequests,
      ...(replayCount === undefined || recorded === undefined ? {} : { replay: { recorded: recorded.answers, ...replayCount } }),
      rejected503: stats.rejected503,
      rejected429: stats.rejected429,
      operatingSeconds: sumValues(stats.operatingSecondsByMethod),
      perSecond: wallPortalSeconds > 0 ? done / wallPortalSeconds : 0,
      bound,
      ratio: bound === undefined || status !== "ok" ? undefined : wallPortalSeconds / bound.seconds,
      strategyFloorSeconds: floorOf(scenario, strategy === "default" ? "auto" : strategy, expected, bound),
      rowsServed,
      ...(scenario.kind === "list" || scenario.kind === "overhead" ? { waves: deepestWave(waves), clientRequests: waves.waves.length } : {}),
      servedPerRealSecond: wallRealSeconds > 0 ? rowsServed / wallRealSeconds : 0,
      cpuFloorSeconds: (() => {
        const rates = settings.servedRowsPerSecond
        if (rates === undefined || scenario.kind !== "list") return undefined
        return (rowsServed / (scenario.wide ? rates.wide : rates.narrow)) * (limitsOn ? timeScale : 1)
      })(),
      capPortalSeconds,
      limiter: capture.stats,
      clientRss,
      rssTrace: tally.rssTrace,
      clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
      portalRssBytes: rssBytes,
      portalSeedMs: portal.seedMs,
      requestsByMethod: stats.requestsByMethod,
      batchCommandsByMethod: stats.batchCommandsByMethod,
      writesPerformed: stats.writesPerformed
    } satisfies RunResult
  } finally {
    await portal.close()
  }
}
