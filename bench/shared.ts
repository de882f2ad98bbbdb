/**
 * The `shared` scenarios: several client processes export from one standard-limit portal at the same moment, in
 * real time (ts 1: the Redis store reads Redis's clock, which a time-scaled portal would run ahead of). Through one
 * Redis store they share the portal's leaky bucket; with a memory store each they each believe they own it. The bound
 * is the lower bound of the combined work (every worker's rows, as if one client exported them all).
 */
import { type ChildProcess, fork } from "node:child_process"
import { performance } from "node:perf_hooks"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { presets } from "../src/BitrixConfig.js"
import { defaultCost } from "../src/testing/internal/methods.js"
import { startRedis } from "../test/support/redis.js"
import { listWork, lowerBound } from "./lowerBound.js"
import { minimumWaves, withRoundTrips } from "./network.js"
import { type RunResult, type RunSettings, sumValues } from "./measure.js"
import type { PortalHost } from "./portal.js"
import { narrowSelect, type SharedScenario, type SharedStore } from "./scenarios.js"

const workerPath = fileURLToPath(new URL("./sharedWorker.ts", import.meta.url))

interface WorkerReport {
  readonly rows: number
  readonly outOfOrder: number
  readonly error?: string
  readonly cpuSeconds: number
  readonly peakRssBytes: number
}

/** A worker started and waiting for "go", with its start RSS and a promise of its report. */
const startWorker = (webhook: string, store: string) => {
  const child: ChildProcess = fork(workerPath, [webhook, store, narrowSelect.join(",")], {
    execArgv: ["--import", "tsx"],
    stdio: ["pipe", "pipe", "inherit", "ipc"]
  })
  const lines = createInterface({ input: child.stdout! })
  const ready = new Promise<void>((resolve) => lines.once("line", () => resolve()))
  const report = new Promise<WorkerReport>((resolve, reject) => {
    lines.on("line", (line) => {
      if (line !== "ready") resolve(JSON.parse(line) as WorkerReport)
    })
    child.once("exit", (code) => reject(new Error(`a worker exited with ${code} before reporting`)))
  })
  return { child, ready, report }
}

/** The Redis the `redis` runs share: `REDIS_URL`, else one started for the bench (redis-server on PATH). */
export const benchRedis = () => startRedis()

/** Real seconds a shared run may take: 4 × the bound and a minute for the processes, at least the bench's cap. */
const capRealSeconds = (settings: RunSettings, boundSeconds: number) => Math.max(settings.capRealSeconds, 4 * boundSeconds + 60)

/** Runs one shared scenario with one kind of store. */
export const measureShared = async (
  host: PortalHost,
  scenario: SharedScenario,
  store: SharedStore,
  redisUrl: string | undefined,
  settings: RunSettings
): Promise<RunResult> => {
  // real time (ts 1): the network's round trip is in real ms too
  const latency = settings.latencyMs > 0 ? { latency: { roundTripMs: settings.latencyMs } } : {}
  const portal = await host.start({ seed: { "crm.deal": scenario.rowsEach }, ...latency })
  const expected = scenario.workers * scenario.rowsEach
  const bound = withRoundTrips(
    lowerBound(defaultCost, presets.standard, listWork(defaultCost, expected, false)),
    minimumWaves("list", scenario.rowsEach),
    settings.latencyMs
  )
  const base = {
    scenario: scenario.name,
    title: scenario.title,
    strategy: store === "redis" ? "auto, one Redis store" : "auto, a memory store each",
    timeScale: 1,
    clientTime: "n/a",
    http: "undici",
    expected,
    bound,
    strategyFloorSeconds: undefined,
    cpuFloorSeconds: undefined,
    capPortalSeconds: capRealSeconds(settings, bound.seconds),
    limiter: undefined,
    rssTrace: [],
    portalSeedMs: portal.seedMs
  } as const
  try {
    if (store === "redis" && redisUrl === undefined) {
      const { stats, rssBytes } = await portal.stats()
      return {
        ...base,
        status: "error",
        error: "no Redis: set REDIS_URL or put redis-server on PATH",
        done: 0,
        wallRealSeconds: 0,
        wallPortalSeconds: 0,
        httpRequests: stats.httpRequests,
        rejected503: 0,
        rejected429: 0,
        operatingSeconds: 0,
        perSecond: 0,
        ratio: undefined,
        rowsServed: 0,
        servedPerRealSecond: 0,
        clientRss: { start: 0, peak: 0, end: 0 },
        clientCpuSeconds: 0,
        portalRssBytes: rssBytes,
        requestsByMethod: stats.requestsByMethod,
        batchCommandsByMethod: stats.batchCommandsByMethod,
        writesPerformed: stats.writesPerformed
      }
    }
    const workers = Array.from({ length: scenario.workers }, () =>
      startWorker(portal.webhookUrl, store === "redis" ? redisUrl! : "memory")
    )
    await Promise.all(workers.map((worker) => worker.ready))
    const started = performance.now()
    for (const worker of workers) worker.child.stdin!.end("go\n")
    let capped = false
    const cap = setTimeout(() => {
      capped = true
      for (const worker of workers) worker.child.kill("SIGKILL")
    }, capRealSeconds(settings, bound.seconds) * 1000)
    const reports = await Promise.allSettled(workers.map((worker) => worker.report))
    const wallRealSeconds = (performance.now() - started) / 1000
    clearTimeout(cap)
    const { stats, rssBytes } = await portal.stats()
    const done = reports.reduce((sum, report) => sum + (report.status === "fulfilled" ? report.value.rows : 0), 0)
    const problems = reports.flatMap((report, index) =>
      report.status === "rejected"
        ? [`worker ${index + 1}: ${String(report.reason)}`]
        : report.value.error !== undefined
          ? [`worker ${index + 1}: ${report.value.error}`]
          : report.value.rows !== scenario.rowsEach || report.value.outOfOrder > 0
            ? [`worker ${index + 1}: ${report.value.rows} rows of ${scenario.rowsEach}, ${report.value.outOfOrder} out of order`]
            : []
    )
    const status = capped ? "capped" : problems.length > 0 ? "error" : "ok"
    const fulfilled = reports.flatMap((report) => (report.status === "fulfilled" ? [report.value] : []))
    const peak = Math.max(0, ...fulfilled.map((report) => report.peakRssBytes))
    const rowsServed = stats.rowsServed - portal.rowsServedBaseline
    return {
      ...base,
      status,
      ...(status === "error" ? { error: problems.join("; ") } : {}),
      done,
      wallRealSeconds,
      wallPortalSeconds: wallRealSeconds,
      httpRequests: stats.httpRequests,
      rejected503: stats.rejected503,
      rejected429: stats.rejected429,
      operatingSeconds: sumValues(stats.operatingSecondsByMethod),
      perSecond: wallRealSeconds > 0 ? done / wallRealSeconds : 0,
      ratio: status === "ok" ? wallRealSeconds / bound.seconds : undefined,
      rowsServed,
      servedPerRealSecond: wallRealSeconds > 0 ? rowsServed / wallRealSeconds : 0,
      // the largest worker's peak; the table's "start" is not sampled per worker
      clientRss: { start: 0, peak, end: 0 },
      clientCpuSeconds: fulfilled.reduce((sum, report) => sum + report.cpuSeconds, 0),
      portalRssBytes: rssBytes,
      requestsByMethod: stats.requestsByMethod,
      batchCommandsByMethod: stats.batchCommandsByMethod,
      writesPerformed: stats.writesPerformed
    }
  } finally {
    await portal.close()
  }
}
