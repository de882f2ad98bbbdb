/**
 * `npm run bench [-- options]`: runs the benchmark scenarios against fresh fake portals and writes
 * bench/RESULTS.md and bench/results.json.
 *
 *   --quick               a small version of every scenario (well under a minute; writes nothing unless --write)
 *   --only a,b            only these scenarios (by name, e.g. narrow-1M; `narrow-1M:offset` for one strategy; `sync`
 *                         for the sync benchmark of bench/sync.ts, which a run without --only ends with)
 *   --time-scale N        the same time scale for every limited run
 *   --client-time MODE    scaled (default: the client reads portal time) | limits (wall clock, rewritten limits)
 *   --http CLIENT         bundled (default: the library's own, undici's request) | undici (@effect/platform-node) | fetch
 *   --bucket-headroom N   the client's ServiceOptions.bucketHeadroom (default: the library's)
 *   --arrival-jitter MS   the client limiter's arrivalJitterMs in REAL ms (× ts when the client reads portal time;
 *                         default: the library's 1,000 portal ms, i.e. 500 real ms at ts 2)
 *   --write / --no-write  write the results files (default: only for a full run of every scenario); with --only,
 *                         the runs replace their scenario's earlier runs in results.json and the rest stay
 *   --render              only rewrite RESULTS.md and the README's summary from results.json and NOTES.md
 *
 * Exits non-zero when a run errs (an incomplete export, a failed call); capped runs are results, not errors.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as os from "node:os"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"
import { runInNewContext } from "node:vm"
import type { Strategy } from "../src/ListStrategy.js"
import type { ClientTime, HttpChoice } from "./client.js"
import { measure, planRun, type RunResult, type RunSettings } from "./measure.js"
import { startPortalHost } from "./portal.js"
import { consoleLine, machine, markdown, readmeSummary, type Report, withReadmeSummary } from "./report.js"
import type { RunningRedis } from "../test/support/redis.js"
import { defaultLatencyMs } from "./network.js"
import { readTrace, renderTimeline } from "./timeline.js"
import { fullScenarios, overhead, quickScenarios, type Scenario, type SharedScenario, type SharedStore } from "./scenarios.js"
import { benchRedis, measureShared } from "./shared.js"
import { runSync, type SyncBenchResult } from "./sync.js"

interface Args {
  readonly quick: boolean
  readonly only: ReadonlyArray<string> | undefined
  readonly timeScale: number | undefined
  readonly clientTime: ClientTime
  readonly http: HttpChoice
  readonly write: boolean | undefined
  readonly bucketHeadroom: number | undefined
  readonly arrivalJitterRealMs: number | undefined
  readonly latencyMs: number
  readonly timelines: boolean
}

const usage = `usage: npm run bench -- [--quick] [--only name[,name...]] [--time-scale N] [--client-time scaled|limits] [--http bundled|undici|fetch] [--bucket-headroom N] [--arrival-jitter MS] [--latency MS] [--timelines] [--write|--no-write]`

const parseArgs = (argv: ReadonlyArray<string>): Args => {
  let quick = false
  let only: Array<string> | undefined
  let timeScale: number | undefined
  let clientTime: ClientTime = "scaled"
  let http: HttpChoice = "bundled"
  let write: boolean | undefined
  let bucketHeadroom: number | undefined
  let arrivalJitterRealMs: number | undefined
  let latencyMs = defaultLatencyMs
  let timelines = false
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!
    const value = () => {
      const next = argv[++index]
      if (next === undefined) throw new Error(`${arg} needs a value\n${usage}`)
      return next
    }
    switch (arg) {
      case "--quick":
        quick = true
        break
      case "--only":
        only = [...(only ?? []), ...value().split(",").filter((name) => name !== "")]
        break
      case "--time-scale": {
        const number = Number(value())
        if (!Number.isFinite(number) || number <= 0) throw new Error(`--time-scale must be a number > 0\n${usage}`)
        timeScale = number
        break
      }
      case "--client-time": {
        const mode = value()
        if (mode !== "scaled" && mode !== "limits") throw new Error(`--client-time must be scaled or limits\n${usage}`)
        clientTime = mode
        break
      }
      case "--http": {
        const choice = value()
        if (choice !== "bundled" && choice !== "undici" && choice !== "fetch") throw new Error(`--http must be bundled, undici or fetch\n${usage}`)
        http = choice
        break
      }
      case "--bucket-headroom": {
        const number = Number(value())
        if (!Number.isInteger(number) || number < 0) throw new Error(`--bucket-headroom must be a whole number >= 0\n${usage}`)
        bucketHeadroom = number
        break
      }
      case "--arrival-jitter": {
        const number = Number(value())
        if (!Number.isFinite(number) || number < 0) throw new Error(`--arrival-jitter must be a number of ms >= 0\n${usage}`)
        arrivalJitterRealMs = number
        break
      }
      case "--latency": {
        const number = Number(value())
        if (!Number.isFinite(number) || number < 0) throw new Error(`--latency must be a round trip in portal ms >= 0\n${usage}`)
        latencyMs = number
        break
      }
      case "--timelines":
        timelines = true
        break
      case "--write":
        write = true
        break
      case "--no-write":
        write = false
        break
      case "--help":
        console.log(usage)
        process.exit(0)
        break
      default:
        throw new Error(`unknown option ${arg}\n${usage}`)
    }
  }
  return { quick, only, timeScale, clientTime, http, write, bucketHeadroom, arrivalJitterRealMs, latencyMs, timelines }
}

/** The runs asked for: every strategy of every scenario, narrowed by `--only`. */
type Run =
  | { readonly kind: "single"; readonly scenario: Exclude<Scenario, SharedScenario>; readonly strategy: Strategy | "default" | "replay" }
  | { readonly kind: "shared"; readonly scenario: SharedScenario; readonly strategy: SharedStore }

const runsOf = (scenario: Scenario): ReadonlyArray<Run> =>
  scenario.kind === "shared"
    ? scenario.stores.map((strategy) => ({ kind: "shared", scenario, strategy }))
    : (scenario.kind === "list"
        ? scenario.strategies
        : scenario.kind === "overhead" && scenario.replay
          ? (["default", "replay"] as const)
          : ["default" as const]
      ).map((strategy) => ({ kind: "single", scenario, strategy }))

const selectRuns = (scenarios: ReadonlyArray<Scenario>, only: ReadonlyArray<string> | undefined) => {
  const runs: Array<Run> = []
  for (const scenario of scenarios) {
    for (const run of runsOf(scenario)) {
      const { strategy } = run
      const wanted =
        only === undefined ||
        only.some((name) => {
          const [scenarioName, strategyName] = name.split(":")
          return scenarioName === scenario.name && (strategyName === undefined || strategyName === strategy)
        })
      if (wanted) runs.push(run)
    }
  }
  return runs
}

/** A `gc()` for the runner itself, so each run's RSS starts from a collected heap. */
const makeGc = (): (() => void) => {
  v8.setFlagsFromString("--expose-gc")
  const gc: unknown = runInNewContext("gc")
  return typeof gc === "function" ? () => (gc as () => void)() : () => undefined
}

const here = fileURLToPath(new URL(".", import.meta.url))
const resultsJsonPath = `${here}results.json`
const resultsMdPath = `${here}RESULTS.md`
const notesPath = `${here}NOTES.md`
const readmePath = fileURLToPath(new URL("../README.md", import.meta.url))

/** Writes RESULTS.md from a report and bench/NOTES.md (the hand-written analysis of that run), if present. */
const render = (report: Report) => {
  writeFileSync(resultsMdPath, markdown(report, existsSync(notesPath) ? readFileSync(notesPath, "utf8") : undefined))
  console.log(`bench: wrote ${resultsMdPath}`)
  writeFileSync(readmePath, withReadmeSummary(readFileSync(readmePath, "utf8"), readmeSummary(report)))
  console.log(`bench: wrote the summary into ${readmePath}`)
}

/** results.json as the last run wrote it. */
const readReport = (): Report => {
  const parsed: unknown = JSON.parse(readFileSync(resultsJsonPath, "utf8"))
  if (typeof parsed !== "object" || parsed === null || !Array.isArray((parsed as { readonly results?: unknown }).results)) {
    throw new Error(`${resultsJsonPath} is not a benchmark report`)
  }
  // Our own file, written by this runner
  return parsed as Report
}

/**
 * `--only … --write`: the new runs replace the same scenario and strategy in the earlier report, each in its place
 * (the tables keep the scenarios' order), runs new to it go last, the others stay, and the command line says both
 * runs (the machine and calibration are the new run's).
 */
const mergeInto = (earlier: Report, update: Report): Report => {
  const key = (result: RunResult) => `${result.scenario}\u0000${result.strategy}`
  const fresh = new Map(update.results.map((result) => [key(result), result]))
  const kept = earlier.results.map((result) => {
    const replacement = fresh.get(key(result))
    fresh.delete(key(result))
    return replacement ?? result
  })
  return {
    ...update,
    command: `${earlier.command}; then ${update.command}`,
    totalRealSeconds: earlier.totalRealSeconds + update.totalRealSeconds,
    results: [...kept, ...fresh.values()],
    ...(update.sync ?? earlier.sync ? { sync: update.sync ?? earlier.sync } : {})
  }
}

/** One console line per sync figure. */
const syncConsoleLine = (result: SyncBenchResult) =>
  `Scenario=${result.scenario}${result.database === undefined ? "" : `/${result.database}`}  limits=${result.limits}  ts=${result.timeScale}  Wall s=${result.wallSeconds.toFixed(2)}  Requests=${result.requests}  503=${result.rejected503}  429=${result.rejected429}  Rows/s=${Math.round(result.rowsPerSecond)}${result.ratio === undefined ? "" : `  ratio=${result.ratio.toFixed(2)} (${result.target ?? ""}${result.targetMet === false ? ", not met" : ""})`}  ${result.status}${result.error === undefined ? "" : `: ${result.error}`}`

/** `--render`: RESULTS.md again from results.json (after NOTES.md changed), without running anything. */
const renderOnly = () => render(readReport())

const main = async () => {
  if (process.argv.includes("--render")) return renderOnly()
  const args = parseArgs(process.argv.slice(2))
  const scenarios = args.quick ? quickScenarios : fullScenarios
  const runs = selectRuns(scenarios, args.only)
  // the sync benchmark (bench/sync.ts) runs after the others, or alone with `--only sync`
  const withSync = args.only === undefined || args.only.includes("sync")
  if (runs.length === 0 && !withSync) {
    throw new Error(`no scenario matches --only ${args.only?.join(",")}; names: ${scenarios.map((s) => s.name).join(", ")}, sync`)
  }
  const baseSettings: RunSettings = {
    clientTime: args.clientTime,
    http: args.http,
    timeScale: args.timeScale,
    minTimeScale: 1,
    label: undefined,
    targetRealSeconds: args.quick ? 2 : 20,
    cappedRealSeconds: args.quick ? 1 : 12,
    capFactor: 4,
    capMinPortalSeconds: args.quick ? 30 : 60,
    capRealSeconds: args.quick ? 10 : 240,
    pipelineRowsPerSecond: undefined,
    servedRowsPerSecond: undefined,
    cpuHeadroom: 2.5,
    bucketHeadroom: args.bucketHeadroom,
    arrivalJitterRealMs: args.arrivalJitterRealMs,
    latencyMs: args.latencyMs
  }
  const write = args.write ?? (!args.quick && args.only === undefined)
  const startedAt = new Date()
  const started = performance.now()
  const info = machine()
  console.log(
    `bench: ${runs.length} runs${args.quick ? " (quick)" : ""}; ${info.cpus} CPUs ${info.cpuModel}, Node ${info.node}, load ${info.loadAverageAtStart.join(" ")}`
  )
  const gc = makeGc()
  // every request's trace, drawn as a timeline per scenario (the portal process inherits the variable)
  const tracePath = write || args.timelines ? join(tmpdir(), `bench-trace-${process.pid}.json`) : undefined
  if (tracePath !== undefined) process.env["BENCH_PORTAL_TRACE"] = tracePath
  const host = await startPortalHost()
  const results: Array<RunResult> = []
  let settings = baseSettings
  const calibration: Array<RunResult> = []
  let redis: RunningRedis | undefined
  let sync: ReadonlyArray<SyncBenchResult> | undefined
  const contrasts = new Set<RunResult>()
  try {
    // How fast the client and the portal process move rows with no limits and no cost, right now on this machine
    for (const scenario of [overhead(args.quick ? 20_000 : 100_000), overhead(args.quick ? 2_000 : 10_000, true)]) {
      const result = await measure(host, scenario, "default", baseSettings, gc)
      if (result.status !== "ok") throw new Error(`calibration ${scenario.name} failed: ${result.error ?? result.status}`)
      calibration.push(result)
    }
    settings = {
      ...baseSettings,
      pipelineRowsPerSecond: { narrow: calibration[0]!.perSecond, wide: calibration[1]!.perSecond },
      servedRowsPerSecond: { narrow: calibration[0]!.servedPerRealSecond, wide: calibration[1]!.servedPerRealSecond }
    }
    console.log(
      `bench: pipeline speed (client + portal, no limits, zero cost, auto): ${Math.round(calibration[0]!.perSecond)} narrow rows/s delivered (${Math.round(calibration[0]!.servedPerRealSecond)} served), ${Math.round(calibration[1]!.perSecond)} wide rows/s delivered (${Math.round(calibration[1]!.servedPerRealSecond)} served)`
    )
    const drawn = new Set<string>()
    for (const run of runs) {
      let result: RunResult
      if (tracePath !== undefined) rmSync(tracePath, { force: true })
      try {
        if (run.kind === "shared") {
          if (run.strategy === "redis" && redis === undefined) redis = await benchRedis()
          result = await measureShared(host, run.scenario, run.strategy, redis?.url, settings)
        } else {
          result = await measure(host, run.scenario, run.strategy, settings, gc)
        }
      } catch (error) {
        console.error(`${run.scenario.name}/${run.strategy}: the run could not be set up: ${error instanceof Error ? error.message : String(error)}`)
        throw error
      }
      results.push(result)
      // the memory-store contrast of a shared scenario shows what happens without the shared store: a failure there
      // (a worker giving up on 503s) is its figure, not a broken bench
      if (run.kind === "shared" && run.strategy === "memory") contrasts.add(result)
      console.log(consoleLine(result))
      // a picture of the scenario's first auto (or default) run: where its time went (timeline.ts)
      if (tracePath !== undefined && run.kind === "single" && (run.strategy === "auto" || run.strategy === "default") && !drawn.has(result.scenario) && existsSync(tracePath)) {
        drawn.add(result.scenario)
        const svgPath = `${here}timeline-${result.scenario}.svg`
        writeFileSync(
          svgPath,
          renderTimeline(readTrace(tracePath), {
            title: `${result.scenario}/${result.strategy}`,
            ...(result.bound === undefined ? {} : { rows: result.expected, boundSeconds: result.bound.seconds })
          })
        )
      }
    }
    if (withSync) {
      sync = await runSync({
        rows: args.quick ? 2_000 : 100_000,
        quick: args.quick,
        host,
        latencyMs: args.latencyMs,
        log: (line) => console.log(line)
      })
      for (const result of sync) console.log(syncConsoleLine(result))
    }
    // Slow motion: the default strategy again where this machine's CPU was a large part of the bound, with
    // ts < 1 so both processes' CPU shrinks in portal time and the strategy and the limits remain
    if (!args.quick && args.timeScale === undefined) {
      const slowSettings: RunSettings = { ...settings, minTimeScale: 0.02, label: "slow motion" }
      for (const result of [...results]) {
        const scenario = scenarios.find((candidate) => candidate.name === result.scenario)
        // a capped run would be capped again in slow motion, only later
        if (scenario === undefined || scenario.kind === "shared" || result.bound === undefined || result.status === "capped") continue
        // the list exports' default strategy, and the bulk writes (a job of seconds at ts 1, where the client's CPU
        // of a cold start, tens of ms besides every answer's, is a few per cent of the bound)
        const strategy = scenario.kind === "list" ? "auto" : scenario.kind === "add" ? "default" : undefined
        if (strategy === undefined || result.strategy !== strategy) continue
        // this machine's CPU: the portal's (the CPU floor) or the client's own (real seconds, portal seconds × ts)
        const clientCpuPortalSeconds = result.clientCpuSeconds * result.timeScale
        if (scenario.kind === "list" && Math.max(result.cpuFloorSeconds ?? 0, clientCpuPortalSeconds) < 0.25 * result.bound.seconds) continue
        // a run whose time scale cannot go lower (wide-300k keeps ts 10 to finish in minutes) is not slow motion
        if (planRun(scenario, strategy, slowSettings).timeScale >= result.timeScale) continue
        const slow = await measure(host, scenario, strategy, slowSettings, gc)
        results.push(slow)
        console.log(consoleLine(slow))
      }
    }
  } finally {
    await host.shutdown()
    await redis?.stop()
  }
  const totalRealSeconds = (performance.now() - started) / 1000
  console.log(`bench: done in ${totalRealSeconds.toFixed(1)} s real`)
  if (write) {
    const report: Report = {
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
      startedAt: startedAt.toISOString(),
      totalRealSeconds,
      machine: info,
      loadAverageAtEnd: os.loadavg().map((value) => Math.round(value * 100) / 100),
      http:
        args.http === "bundled"
          ? "the library's own (undici's request API, as in Bitrix.layerFetch, createClient and b24)"
          : args.http === "undici"
            ? "NodeHttpClient.layerUndici (@effect/platform-node)"
            : "FetchHttpClient.layer (@effect/platform)",
      clientTime:
        args.clientTime === "scaled"
          ? "a Clock reading portal time (same anchor as the portal), standard limits"
          : "the wall clock, limits rewritten for ts",
      settings: {
        targetRealSeconds: settings.targetRealSeconds,
        cpuHeadroom: settings.cpuHeadroom,
        capFactor: settings.capFactor,
        capMinPortalSeconds: settings.capMinPortalSeconds,
        capRealSeconds: settings.capRealSeconds
      },
      calibration,
      results,
      ...(sync === undefined ? {} : { sync })
    }
    const merged = args.only === undefined ? report : mergeInto(readReport(), report)
    writeFileSync(resultsJsonPath, JSON.stringify(merged, null, 2) + "\n")
    render(merged)
  }
  const failed = [
    ...results.filter((result) => result.status === "error" && !contrasts.has(result)).map((result) => `${result.scenario}/${result.strategy}`),
    ...(sync ?? []).filter((result) => result.status === "error").map((result) => `${result.scenario} (${result.limits})`)
  ]
  if (failed.length > 0) {
    console.error(`bench: ${failed.length} run(s) failed: ${failed.join(", ")}`)
    process.exitCode = 1
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error))
  process.exitCode = 1
})
