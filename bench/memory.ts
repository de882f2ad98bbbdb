/**
 * `npm run bench:memory -- [--items N] [--runs N] [--time-scale N] [--max-old-space MIB]`: the peak RSS of
 * `getByID` over `items` deal IDs (default 100,000), against the floor of the same work. The fake portal runs in a
 * process of its own (limits off, zero cost, `items` deals); each run is a fresh plain `node` process
 * (bench/memory/*.mjs), the compiled package (`npm run build` first) and then the floor (undici, `JSON.parse`, a Map,
 * nothing else), alternating, `runs` times each, since one process's peak varies by tens of MiB from run to run with
 * the moment of its garbage collections.
 *
 * With `--time-scale N` the portal has the standard limits and the default cost model, N times faster, reporting
 * real time, and the client the standard limits N times tighter: the pace of a real portal, sped up. The floor,
 * which knows no limits, runs only without them.
 *
 * With `--max-old-space MIB` both programs run under `node --max-old-space-size=MIB`: V8's old space may not grow
 * beyond it, so the heap is collected more often instead of growing by up to four times its live size after each
 * collection. The cap must hold the rows kept (about 0.9 KB a deal here) with room to spare, or the process dies
 * out of memory.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { startPortalHost } from "./portal.js"
import { mib } from "./report.js"

interface MemoryRun {
  readonly rows: number
  readonly seconds: number
  readonly startRssBytes: number
  readonly peakRssBytes: number
  /** V8's heap limit in the process (`heap_size_limit`): the old space's cap plus the young generation's. */
  readonly heapLimitBytes: number
}

/** How one program is run. */
export interface MemoryRunOptions {
  /** The client's `limits` (default "off"); the floor takes none. */
  readonly limits?: Readonly<Record<string, number>>
  /** `node --max-old-space-size` for the process, in MiB. */
  readonly maxOldSpaceMiB?: number
}

/** The programs measured: the package's Promise client, and the floor. */
export const memoryPrograms = ["client", "floor"] as const
export type MemoryProgram = (typeof memoryPrograms)[number]

const programPath = (program: MemoryProgram) => fileURLToPath(new URL(`./memory/${program}.mjs`, import.meta.url))

/** Runs one program in a fresh `node` against `webhook` over the IDs in `idsFile`; its one-line report. */
export const runMemoryProgram = async (
  program: MemoryProgram,
  webhook: string,
  idsFile: string,
  options: MemoryRunOptions = {}
): Promise<MemoryRun> => {
  const { limits, maxOldSpaceMiB } = options
  const args = [
    ...(maxOldSpaceMiB === undefined ? [] : [`--max-old-space-size=${maxOldSpaceMiB}`]),
    programPath(program),
    webhook,
    idsFile,
    ...(limits === undefined ? [] : [JSON.stringify(limits)])
  ]
  const { stdout } = await promisify(execFile)(process.execPath, args, {
    timeout: 600_000,
    maxBuffer: 1 << 20
  })
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as MemoryRun
}

/** The middle value (the lower middle of an even count). */
const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!

const option = (args: ReadonlyArray<string>, name: string, fallback: number): number => {
  const at = args.indexOf(name)
  if (at === -1) return fallback
  const value = Number(args[at + 1])
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} takes a whole number >= 1, got ${args[at + 1]}`)
  return value
}

const main = async () => {
  const args = process.argv.slice(2)
  const items = option(args, "--items", 100_000)
  const runs = option(args, "--runs", 3)
  const timeScale = args.includes("--time-scale") ? option(args, "--time-scale", 1) : undefined
  const maxOldSpaceMiB = args.includes("--max-old-space") ? option(args, "--max-old-space", 1) : undefined
  // the standard limits as a client on the wall clock sees a portal running `timeScale` times faster
  const limits =
    timeScale === undefined
      ? undefined
      : { poolSize: 50, requestsPerSecond: 2 * timeScale, operatingLimitSeconds: 480 / timeScale, operatingWindowSeconds: 600 / timeScale }
  const programs = timeScale === undefined ? memoryPrograms : (["client"] as const)
  if (!existsSync(fileURLToPath(new URL("../dist/Promise.js", import.meta.url)))) {
    throw new Error("dist/ is missing: run `npm run build` first (the measurement uses the compiled package)")
  }
  const host = await startPortalHost()
  const folder = mkdtempSync(join(tmpdir(), "bench-memory-"))
  try {
    const portal = await host.start(
      timeScale === undefined
        ? { seed: { "crm.deal": items }, limits: "off", costModel: "zero" }
        : { seed: { "crm.deal": items }, limits: "standard", timeScale, reportTime: "real" },
      { ids: { method: "crm.deal.list", count: items } }
    )
    if (portal.ids.length !== items) throw new Error(`the portal holds ${portal.ids.length} deals, not ${items}`)
    const idsFile = join(folder, "ids.json")
    writeFileSync(idsFile, JSON.stringify(portal.ids))
    const results: Record<MemoryProgram, Array<MemoryRun>> = { client: [], floor: [] }
    const pace = timeScale === undefined ? "limits off" : `standard limits at time scale ${timeScale}`
    const heap = maxOldSpaceMiB === undefined ? "" : `, node --max-old-space-size=${maxOldSpaceMiB}`
    console.log(`memory: getByID crm.deal.get of ${items.toLocaleString("en-US")} IDs, ${pace}${heap}, ${runs} runs each, Node ${process.version}`)
    console.log("| run | program | seconds | RSS at start MiB | peak RSS MiB |")
    console.log("|---|---|---|---|---|")
    for (let run = 1; run <= runs; run++) {
      for (const program of programs) {
        const report = await runMemoryProgram(program, portal.webhookUrl, idsFile, {
          ...(program === "client" && limits !== undefined ? { limits } : {}),
          ...(maxOldSpaceMiB === undefined ? {} : { maxOldSpaceMiB })
        })
        if (report.rows !== items) throw new Error(`${program} returned ${report.rows} rows for ${items} IDs`)
        results[program].push(report)
        console.log(`| ${run} | ${program} | ${report.seconds.toFixed(1)} | ${mib(report.startRssBytes)} | ${mib(report.peakRssBytes)} |`)
      }
    }
    for (const program of programs) {
      const peaks = results[program].map((report) => report.peakRssBytes)
      console.log(
        `memory: ${program}: peak RSS median ${mib(median(peaks))} MiB (${peaks.map(mib).join(", ")}), ` +
          `${median(results[program].map((report) => report.seconds)).toFixed(1)} s median`
      )
    }
    await portal.close()
  } finally {
    rmSync(folder, { recursive: true, force: true })
    await host.shutdown()
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exitCode = 1
  })
}
