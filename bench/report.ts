/**
 * The benchmark's outputs: a console table while it runs, and `RESULTS.md` / `results.json` at the end.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import * as os from "node:os"
import { presets } from "../src/BitrixConfig.js"
import { defaultCost } from "../src/testing/internal/methods.js"
import type { RunResult } from "./measure.js"
import { type SyncBenchResult, syncMarkdown } from "./sync.js"

/** Where and how the benchmark ran. */
export interface Machine {
  /** `git rev-parse HEAD` and how many files under src/ differ from it (the code measured). */
  readonly source: string
  readonly cpus: number
  readonly cpuModel: string
  readonly memoryGiB: number
  readonly node: string
  readonly platform: string
  readonly loadAverageAtStart: ReadonlyArray<number>
}

/** Reads the machine's figures (CPU model from /proc/cpuinfo where there is one). */
export const machine = (): Machine => {
  let cpuModel = os.cpus()[0]?.model ?? "unknown"
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((text) => text.startsWith("model name"))
    if (line !== undefined) cpuModel = line.slice(line.indexOf(":") + 1).trim()
  } catch {
    // not Linux: os.cpus() is good enough
  }
  let source = "unknown"
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim()
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.trim() !== "").length
    source = `commit ${head}${dirty === 0 ? "" : `, with ${dirty} file(s) under src/ changed or new since`}`
  } catch {
    // not a git checkout
  }
  return {
    source,
    cpus: os.availableParallelism(),
    cpuModel,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100)
  }
}

const fixed = (value: number, digits: number) => value.toFixed(digits)
/** Bytes as whole MiB. */
export const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)}`
const seconds = (value: number) => (value >= 100 ? fixed(value, 0) : value >= 10 ? fixed(value, 1) : value >= 1 ? fixed(value, 2) : fixed(value, 3))
const rate = (value: number) => (value >= 100 ? Math.round(value).toLocaleString("en-US") : fixed(value, 1))

/** The outcome column: ok, or what stopped the run. */
const outcome = (result: RunResult) => {
  switch (result.status) {
    case "ok":
      return "ok"
    case "capped":
      return `capped after ${seconds(result.wallPortalSeconds)} s: ${result.done.toLocaleString("en-US")} of ${result.expected.toLocaleString("en-US")}, ${result.rejected429} 429s`
    case "error":
      return `ERROR: ${(result.error ?? "").replace(/\|/g, "/").replace(/\s+/g, " ").slice(0, 160)}`
  }
}

/** One table row per run. */
export const tableHeader = [
  "Scenario",
  "Strategy",
  "ts",
  "Wall (portal s)",
  "Requests",
  "503",
  "429",
  "Operating s",
  "Rows/s",
  "Rows served",
  "Served/returned",
  "Waves",
  "Bound s",
  "× bound",
  "CPU floor s",
  "Client CPU s",
  "Client RSS MiB start/peak",
  "Outcome"
]

export const tableRow = (result: RunResult): ReadonlyArray<string> => [
  result.scenario,
  result.strategy,
  String(result.timeScale),
  seconds(result.wallPortalSeconds),
  String(result.httpRequests),
  String(result.rejected503),
  String(result.rejected429),
  seconds(result.operatingSeconds),
  rate(result.perSecond),
  result.rowsServed.toLocaleString("en-US"),
  result.waves === undefined || result.done === 0 ? "–" : fixed(result.rowsServed / result.done, 3),
  result.waves === undefined ? "–" : `${result.waves} (${result.clientRequests ?? "–"} req.)`,
  result.bound === undefined ? "–" : seconds(result.bound.seconds),
  result.ratio === undefined ? "–" : fixed(result.ratio, 2),
  result.cpuFloorSeconds === undefined ? "–" : seconds(result.cpuFloorSeconds),
  seconds(result.clientCpuSeconds),
  `${mib(result.clientRss.start)}/${mib(result.clientRss.peak)}`,
  outcome(result)
]

/** A Markdown table; `textColumns` are left-aligned, the others (figures) right-aligned. */
const markdownTable = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  textColumns: ReadonlyArray<number>
) =>
  [
    `| ${header.join(" | ")} |`,
    `|${header.map((_, index) => (textColumns.includes(index) ? "---" : "---:")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ].join("\n")

/** A line for the console as each run ends. */
export const consoleLine = (result: RunResult) => {
  const row = tableRow(result)
  return tableHeader.map((name, index) => `${name}=${row[index]}`).join("  ")
}

/** What the report says about the targets, computed from the results (never hand-written). */
/** A run's time against the issue's formula taken at the fewest requests (undefined for results without it). */
const ratioAtFewest = (result: RunResult): number | undefined =>
  result.bound?.atFewestSeconds === undefined ? undefined : result.wallPortalSeconds / result.bound.atFewestSeconds

export const targetNotes = (results: ReadonlyArray<RunResult>): ReadonlyArray<string> => {
  const notes: Array<string> = []
  const throttled = results.filter((result) => result.rejected503 > 0 || result.rejected429 > 0)
  const defaultLimited = throttled.filter((result) => result.strategy === "auto" || result.strategy === "default")
  notes.push(
    throttled.length === 0
      ? "Zero 503s and zero 429s in every run: met."
      : `503s/429s in ${throttled.length} run(s), of which ${defaultLimited.length} with the default strategy: ${throttled
          .map((result) => `${result.scenario}/${result.strategy} (${result.rejected503} × 503, ${result.rejected429} × 429)`)
          .join("; ")}.`
  )
  const defaults = results.filter((result) => result.strategy === "auto" && result.bound !== undefined)
  const slow = defaults.filter((result) => result.ratio === undefined || result.ratio > 1.15)
  notes.push(
    slow.length === 0
      ? "Default strategy within 1.15× of the lower bound on every list scenario: met."
      : `Default strategy over 1.15× of the lower bound: ${slow
          .map((result) => `${result.scenario} (${result.ratio === undefined ? result.status : `${fixed(result.ratio, 2)}×`})`)
          .join(", ")}.`
  )
  const slowMotion = results.filter((result) => result.strategy.endsWith("(slow motion)") && result.bound !== undefined)
  if (slowMotion.length > 0) {
    notes.push(
      `Default strategy in slow motion (ts < 1, this machine's CPU taken out): ${slowMotion
        .map((result) => `${result.scenario} ${result.ratio === undefined ? result.status : `${fixed(result.ratio, 2)}×`} (ts ${result.timeScale})`)
        .join(", ")}.`
    )
  }
  // The issue's formula at R: the default's best figure per list scenario (slow motion where there is one)
  const atR = defaults.map((result) => {
    const slowRun = slowMotion.find((run) => run.scenario === result.scenario)
    const best = slowRun !== undefined && slowRun.status === "ok" ? slowRun : result
    return { result: best, ratio: best.status === "ok" ? ratioAtFewest(best) : undefined }
  })
  const overAtR = atR.filter(({ ratio }) => ratio === undefined || ratio > 1.15)
  notes.push(
    `Against the issue's formula at R (full chained batches; slow motion where it ran): ${atR
      .map(({ result, ratio }) => `${result.scenario} ${ratio === undefined ? result.status : `${fixed(ratio, 2)}×`}`)
      .join(", ")}: ${overAtR.length === 0 ? "within 1.15× on every list scenario." : `over 1.15× on ${overAtR.map(({ result }) => result.scenario).join(", ")}.`}`
  )
  const offsets = results.filter((result) => result.strategy === "offset" && result.scenario.endsWith("1M"))
  if (offsets.length > 0) {
    notes.push(
      `offset on 1M rows: ${offsets
        .map((result) =>
          result.status === "capped"
            ? `${result.scenario} capped after ${seconds(result.wallPortalSeconds)} portal s with ${result.done.toLocaleString("en-US")} of ${result.expected.toLocaleString("en-US")} rows, ${result.rejected429} × 429, ${seconds(result.operatingSeconds)} s of operating time billed (own floor ≈ ${seconds(result.strategyFloorSeconds ?? 0)} s)`
            : `${result.scenario} ${result.status} in ${seconds(result.wallPortalSeconds)} portal s (${result.ratio === undefined ? "" : `${fixed(result.ratio, 2)}× bound`})`
        )
        .join("; ")}.`
    )
  }
  const memory = results.filter((result) => result.scenario.endsWith("1M") && (result.strategy === "auto" || result.scenario.startsWith("overhead")))
  if (memory.length > 0) {
    notes.push(
      `Client RSS while streaming 1M rows: ${memory
        .map(
          (result) =>
            `${result.scenario}/${result.strategy} ${mib(result.clientRss.start)} → peak ${mib(result.clientRss.peak)} MiB (end ${mib(result.clientRss.end)}; after each tenth of the rows: ${result.rssTrace.map((point) => point.rssMiB).join(", ")} MiB${heapTrace(result)})`
        )
        .join("; ")}.`
    )
  }
  const errors = results.filter((result) => result.status === "error")
  if (errors.length > 0) notes.push(`Errors: ${errors.map((result) => `${result.scenario}/${result.strategy}: ${result.error}`).join("; ")}.`)
  return notes
}

/** Everything a report is made of; `results.json` holds exactly this, so `--render` can rewrite RESULTS.md. */
export interface Report {
  readonly command: string
  readonly startedAt: string
  readonly totalRealSeconds: number
  readonly machine: Machine
  readonly loadAverageAtEnd: ReadonlyArray<number>
  readonly http: string
  readonly clientTime: string
  readonly settings: {
    readonly targetRealSeconds: number
    readonly cpuHeadroom: number
    readonly capFactor: number
    readonly capMinPortalSeconds: number
    readonly capRealSeconds: number
  }
  readonly calibration: ReadonlyArray<RunResult>
  readonly results: ReadonlyArray<RunResult>
  /** The sync benchmark (bench/sync.ts), when it ran. */
  readonly sync?: ReadonlyArray<SyncBenchResult>
}

/** The heap in use right after a full GC at each tenth of the rows, where the run traced it. */
const heapTrace = (result: RunResult) => {
  const heap = result.rssTrace.flatMap((point) => (point.heapAfterGcMiB === undefined ? [] : [point.heapAfterGcMiB]))
  return heap.length === 0 ? "" : `; heap in use after a full GC at each tenth: ${heap.join(", ")} MiB`
}

/** The whole RESULTS.md; `notes` is the hand-written analysis (bench/NOTES.md), if any. */
export const markdown = (options: Report, notes: string | undefined) => {
  const { machine: m, results } = options
  const scenarios = [...new Set(results.map((result) => result.scenario))]
  const lists = results.filter((result) => result.bound !== undefined && result.strategy === "auto")
  const c = defaultCost
  const l = presets.standard
  return `# Benchmark results

Written by \`npm run bench\` (bench/run.ts); do not edit by hand.

- Command: \`${options.command}\`
- Date: ${options.startedAt}; total real time ${seconds(options.totalRealSeconds)} s
- Code measured: ${m.source}
- Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB memory, ${m.platform}, Node ${m.node}
- Load average at start ${m.loadAverageAtStart.join(" / ")}, at end ${options.loadAverageAtEnd.join(" / ")} (other processes on the machine share the CPUs)
- HTTP client: ${options.http}
- Client time: ${options.clientTime}

## How it runs

Every run gets a fresh fake portal (\`src/testing\`) served over HTTP on 127.0.0.1 in a child process of its own
(bench/portalProcess.ts), so the portal's row generation and JSON encoding never run on the client's event loop.
In that process the engine has the main thread and HTTP a worker thread of its own (bench/portalFront.ts), which
stamps every request's arrival while the engine works on others; an answer goes out at arrival + its simulated
server time, or when the engine has built it if that is later. A cloud portal serves concurrent requests on many
workers: with the engine and the sockets on one thread, 45 wide batches sent together were read one after another
as the engine finished each, and the last answer came 5 s after the first (against 26 s modelled for each).
The portal has the standard limits (bucket ${l.poolSize}, drain ${l.requestsPerSecond}/s, ${l.operatingLimitSeconds} s of operating time per method per
${l.operatingWindowSeconds} s) and the default cost model (base ${c.baseMs} ms a call, ${c.narrowRowMs} ms a narrow row, ${c.wideRowMs} ms a wide row,
COUNT ${c.countRowMs} ms per table row and offset scan ${c.offsetRowMs} ms per skipped row on \`start >= 0\` pages, add ${c.baseMs}+${c.writeMs} ms,
get ${c.baseMs}+${c.getMs} ms), sped up by a time scale \`ts\`: portal time = real time × ts, costs are answered after cost / ts real
ms, the bucket drains ${l.requestsPerSecond} per portal second and the window is ${l.operatingWindowSeconds} portal seconds. \`time.operating\`, \`processing\`
and \`operating_reset_at\` are portal seconds (the engine reports the portal clock, which runs ahead of the wall clock
by (ts − 1) × elapsed).

The client is the library itself (\`Bitrix.layer\` over the HTTP client above, default options). To agree with the
scaled portal it runs on a Clock that reads the portal's time (same anchor) and sleeps ms / ts, with the
standard limits unchanged: everything its limiter compares (\`operating\` against 480 s, \`operating_reset_at\`, its
600 s window, backoffs, the 60 s request timeout) is then in the portal's units. The alternative, the wall clock
with limits rewritten (pool 50, drain 2 × ts/s, operating limit 480 — not 480 / ts, since \`operating\` arrives in
portal seconds — window 600 / ts s), cannot rewrite \`operating_reset_at\`, which is a portal epoch second ahead of the
wall clock: a client that waits for it would wait far too long (\`--client-time limits\` runs that way).

First the runner measures how fast the client and the portal process move rows together with no limits and zero
cost, right now on this machine (the calibration, strategy auto: ${options.calibration
    .map(
      (result) =>
        `${result.expected.toLocaleString("en-US")} ${result.scenario.includes("wide") ? "wide" : "narrow"} rows delivered at ${rate(result.perSecond)} rows/s, the portal serving ${rate(result.servedPerRealSecond)} rows/s`
    )
    .join("; ")}). \`ts\` is then chosen per run so the run takes about ${options.settings.targetRealSeconds} real seconds, but never so
fast that moving its rows at that speed would take more than 1 / ${options.settings.cpuHeadroom} of the run's real time:
ts = clamp(min(target ts, floor / (${options.settings.cpuHeadroom} × rows / speed), 2 unless the run is expected to be capped), 1, 50),
floor = min(the strategy's own floor, the cap). The ceiling of 2 keeps the client's bucket headroom (2 slots, 1 portal second
of drain) worth at least 0.5 real seconds against requests that reach the portal bunched (a busy event loop in either
process); at ts 3.75 a stall of 270 ms was enough for a 503. The ts
column states it. Every real millisecond of CPU (the client's decoding and the fake portal's encoding alike) is worth ts
portal milliseconds, so a high ts would let CPU time pace the run; the column "CPU floor s" is the time, in portal
seconds, that serving the run's rows (column "Rows served": every row the portal encoded, pages the client threw away
included) at the calibrated serving speed takes at the run's ts. Where it is near or above the bound
the run measures this machine's CPU (mostly the fake portal's PHP-style JSON encoder) rather than the client's strategy.

A run is capped at max(${options.settings.capFactor} × bound, ${options.settings.capMinPortalSeconds} s) of portal time (and ${options.settings.capRealSeconds} real seconds); a capped run reports the rows it had
received, the 429s and the operating time billed until then.

List scenarios are read with \`Bitrix.stream(...)\` counted chunk by chunk (\`getAll\` is \`Stream.runCollect\` of that same
stream; counting keeps the client's memory out of the figures). Every run checks completeness: the row count equals
the portal's count and IDs strictly increase (no duplicate, no gap in order); adds are checked against the writes the
portal performed. A run that errs makes the command exit non-zero.

Columns: wall time in portal seconds (real × ts); HTTP requests the portal received (refused ones included); 503
(QUERY_LIMIT_EXCEEDED) and 429 (OPERATION_TIME_LIMIT) the portal sent (a 429 inside a batch counts per command);
operating time the portal billed (portal s); rows (or items) per portal second; the lower bound and the ratio to it;
the client's RSS at start and peak.

## Lower bound

The work is \`units\` commands of \`unitMs\` server time: a list export of N rows is ⌈N / 50⌉ keyset pages
(\`start = -1\`: no COUNT, no offset) of ${c.baseMs} ms + 50 × row cost; a bulk call is N commands of base + write/get cost. A
request carries at most 50 commands, run one after another, and a batch adds its own ${c.baseMs} ms. For r requests
carrying the work evenly (R = ⌈units / 50⌉ ≤ r ≤ units):

    leaky(r)     = max(0, r − pool) / drain                                  (pool ${l.poolSize}, drain ${l.requestsPerSecond}/s)
    critical(r)  = ⌈units / r⌉ × unitMs (+ ${c.baseMs} ms when a batch)          (the longest request)
    operating(r) = window × (⌈S(r) / limit⌉ − 1), 0 when S(r) <= limit      (window ${l.operatingWindowSeconds} s, limit ${l.operatingLimitSeconds} s)
    S(r)         = Σ per request of its server time, counted only when > 0.1 s (as the portal bills)
    bound        = min over r of max(leaky(r), critical(r), operating(r))

A second counts until its basket expires, one window after the basket's first call, so the last call at T counts
everything since T − window: work that bills more than the limit spans a window from its first call, and each further
limit's worth one window more (the call that crosses the limit still runs, which moves this only when S is within
one call of a multiple of the limit).

At r = R this is the issue's "largest of leaky(R), operating(S), critical path" (column "at R"); letting r grow
only lowers the critical path of small exports (spreading 200 pages over 50 requests beats 4 full batches), so the
"bound" column, the minimum over r, is the strict one and the one the ratios use. No client can know the span and
the size of an export before its first answer, so the strict bound of a small export is out of reach by at least
one page; the "at R" bound is what full chained batches allow. Computed from \`defaultCost\` in bench/lowerBound.ts.

${lists.length === 0 ? "" : `| Scenario | Work | R | leaky(R) s | S(R) s | critical(R) s | at R s | best r | critical s | bound s |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${[...new Map(results.filter((result) => result.bound !== undefined).map((result) => [result.scenario, result] as const)).values()]
  .map((result) => {
    const b = result.bound!
    return `| ${result.scenario} | ${result.expected.toLocaleString("en-US")} ${result.title.startsWith("getAll") ? "rows" : "items"} | ${b.fewestRequests} | ${seconds(b.fewestLeakySeconds)} | ${seconds(b.fewestBilledSeconds)} | ${seconds(b.fewestCriticalSeconds)} | ${seconds(b.atFewestSeconds)} | ${b.requests} | ${seconds(b.criticalSeconds)} | ${seconds(b.seconds)} |`
  })
  .join("\n")}`}

## Results

${scenarios
  .map((name) => {
    const runs = results.filter((result) => result.scenario === name)
    const timeline = existsSync(new URL(`./timeline-${name}.svg`, import.meta.url)) ? `\n\n[Timeline of the first run](timeline-${name}.svg): requests in flight, the bucket, the operating budget, rows per second against the bound.` : ""
    return `### ${name}: ${runs[0]!.title}\n\n${markdownTable(tableHeader, runs.map(tableRow), [0, 1, tableHeader.length - 1])}${timeline}`
  })
  .join("\n\n")}

${options.sync === undefined || options.sync.length === 0 ? "" : `${syncMarkdown(options.sync)}

`}## Against the targets

Targets: zero 503s and 429s everywhere; default strategy within 1.15× of the lower bound on every list scenario;
offset failing or crawling on 1M rows; flat memory streaming 1M rows.

${targetNotes(results)
  .map((note) => `- ${note}`)
  .join("\n")}

${notes === undefined ? "" : `## Notes\n\n${notes.trim()}\n`}`
}

/** The markers around the summary the runner writes into README.md. */
export const readmeMarkers = { start: "<!-- bench-table -->", end: "<!-- /bench-table -->" } as const

/**
 * The README's summary of a run: per scenario, the default strategy (and its slow-motion run, where there is one)
 * against the lower bound, and what `offset` did, with the date and the command. Computed from the results only.
 */
export const readmeSummary = (report: Report): string => {
  const results = report.results
  const byScenario = new Map<string, Array<RunResult>>()
  for (const result of results) byScenario.set(result.scenario, [...(byScenario.get(result.scenario) ?? []), result])
  const rows: Array<ReadonlyArray<string>> = []
  for (const [scenario, runs] of byScenario) {
    const main = runs.find((run) => run.strategy === "auto" || run.strategy === "default" || run.strategy.includes("Redis store"))
    if (main === undefined || main.bound === undefined) continue
    // The slow-motion rerun is labelled in its strategy: "auto (slow motion)", "default (slow motion)"
    const slow = runs.find((run) => run.strategy.endsWith("(slow motion)"))
    const offset = runs.find((run) => run.strategy === "offset")
    const against = (run: RunResult) => {
      if (run.status !== "ok") {
        return `${run.status === "capped" ? "stopped" : "failed"} at ${seconds(run.wallPortalSeconds)} s with ${run.done.toLocaleString("en-US")} of ${run.expected.toLocaleString("en-US")}`
      }
      const atR = ratioAtFewest(run)
      return `${seconds(run.wallPortalSeconds)} (${fixed(run.ratio ?? NaN, 2)}×${atR === undefined ? "" : ` / ${fixed(atR, 2)}×`})`
    }
    rows.push([
      scenario,
      main.expected.toLocaleString("en-US"),
      `${seconds(main.bound.seconds)} / ${main.bound.atFewestSeconds === undefined ? "–" : seconds(main.bound.atFewestSeconds)}`,
      against(main),
      slow === undefined ? "–" : against(slow),
      String(main.httpRequests),
      `${main.rejected503} / ${main.rejected429}`,
      offset === undefined
        ? "–"
        : offset.status === "ok"
          ? `${seconds(offset.wallPortalSeconds)} (${fixed(offset.ratio ?? NaN, 2)}×)`
          : `${offset.status === "capped" ? "stopped" : "failed"} at ${seconds(offset.wallPortalSeconds)} s with ${offset.done.toLocaleString("en-US")} rows, ${offset.rejected429} × 429`
    ])
  }
  const header = [
    "Scenario",
    "Rows / items",
    "Bound s (strict / at R)",
    "Default, portal s (× strict / × at R)",
    "Slow motion (× strict / × at R)",
    "Requests",
    "503 / 429",
    "offset"
  ]
  return [
    `From \`${report.command}\` on ${report.startedAt.slice(0, 10)} (${report.machine.cpus} CPUs, Node ${report.machine.node}); every figure is in`,
    "portal seconds against the fake portal over HTTP with the standard limits and the default cost model. \"Slow motion\"",
    "reruns the default with portal time slower than real time, taking this machine's CPU (mostly the fake portal's JSON",
    "encoding) out of the figure. Two bounds: the strict one (the best split of the work over any number of requests,",
    "known in advance) and the issue's formula at R (the fewest requests: full chained batches). The full table, the",
    "bound's arithmetic and the memory traces are in",
    "[`bench/RESULTS.md`](bench/RESULTS.md).",
    "",
    markdownTable(header, rows, [0, header.length - 1]),
    ...syncSummary(report.sync ?? [])
  ].join("\n")
}

/** The sync figures under the table, in one paragraph (empty when the sync benchmark did not run). */
const syncSummary = (sync: ReadonlyArray<SyncBenchResult>): ReadonlyArray<string> => {
  const find = (scenario: string, limits: "standard" | "off", database?: string) =>
    sync.find((result) => result.scenario.startsWith(scenario) && result.limits === limits && (database === undefined || result.database === database))
  const getAll = find("get-all", "standard")
  const first = find("sync-", "standard")
  if (getAll === undefined || first === undefined || first.scenario === "sync-incremental") return []
  const incremental = find("sync-incremental", "standard")
  const writers = sync.filter((result) => result.scenario === "writer")
  return [
    "",
    `\`b24 sync\` (bench/sync.ts, ${first.rows.toLocaleString("en-US")} deals, standard limits): the first load into SQLite took ${seconds(first.wallSeconds)} s against ${seconds(getAll.wallSeconds)} s for \`get-all\` to NDJSON (${fixed(first.ratio ?? NaN, 2)}×, target 1.2×)` +
      (incremental === undefined ? "" : `; the incremental run after 1 % changed and 0.1 % deleted sent ${incremental.requests} requests (${incremental.target ?? ""})`) +
      (writers.length === 0 ? "" : `; the writer alone moved ${writers.map((writer) => `${rate(writer.rowsPerSecond)} rows/s into ${writer.database === "postgres" ? "Postgres" : "SQLite"}`).join(" and ")}`) +
      `; ${sync.every((result) => result.rejected503 === 0 && result.rejected429 === 0) ? "0 × 503 and 0 × 429 throughout" : "503s or 429s met: see RESULTS.md"}.`
  ]
}

/** README.md with the summary between the markers replaced (the markers must be there). */
export const withReadmeSummary = (readme: string, summary: string): string => {
  const start = readme.indexOf(readmeMarkers.start)
  const end = readme.indexOf(readmeMarkers.end)
  if (start < 0 || end < start) throw new Error(`README.md has no ${readmeMarkers.start} … ${readmeMarkers.end} section`)
  return `${readme.slice(0, start + readmeMarkers.start.length)}\n${summary}\n${readme.slice(end)}`
}
