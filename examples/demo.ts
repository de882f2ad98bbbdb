/**
 * `npm run demo`: an export of 100,000 deals from the embedded fake portal with the `b24` command, as a newcomer's
 * first look. The portal runs on loopback with the standard limits (50 requests, 2 per second, 480 s of server
 * time per method per 10 minutes) sped up 10 times; `b24 get-all` streams the deals to demo/deals.ndjson with its
 * progress bar on stderr; then the demo says what happened and how close it came to the lower bound the limits
 * and the cost model allow.
 *
 * `npm run demo -- --rows 5000 --out /tmp/deals.ndjson` exports a smaller portal elsewhere (the tests do).
 */
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import { listWork, lowerBound } from "../bench/lowerBound.js"
import { presets } from "../src/BitrixConfig.js"
import { startFakePortal } from "../src/testing/index.js"
import { defaultCost } from "../src/testing/internal/methods.js"

const root = Path.resolve(import.meta.dirname, "..")
const { values: flags } = parseArgs({
  options: { rows: { type: "string", default: "100000" }, out: { type: "string", default: Path.join(root, "demo", "deals.ndjson") } }
})
const rows = Number(flags.rows)
if (!Number.isSafeInteger(rows) || rows < 1) throw new Error(`--rows: expected a positive whole number, got ${flags.rows}`)
const out = Path.resolve(flags.out)
const timeScale = 10
const select = ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "DATE_CREATE"]

const portal = await startFakePortal({ seed: { "crm.deal": rows }, limits: "standard", timeScale })
console.log(`fake portal: ${rows.toLocaleString("en")} deals, standard limits sped up ${timeScale}x, at ${portal.baseUrl}`)

// The portal drains its bucket and runs its window 10 times faster than real time; the client is told so
const standard = presets.standard
const limits = `pool=${standard.poolSize},rps=${standard.requestsPerSecond * timeScale},operating=${standard.operatingLimitSeconds},window=${standard.operatingWindowSeconds / timeScale}`
const args = [
  // the compiled command, as users run it (`npm ci` builds dist/)
  Path.join(root, "dist", "cli", "bin.js"),
  "get-all",
  "crm.deal.list",
  "--select",
  select.join(","),
  "--format",
  "ndjson",
  "--out",
  out,
  "--limits",
  limits
]
console.log(`running: b24 ${args.slice(1).join(" ")}\n`)
Fs.mkdirSync(Path.dirname(out), { recursive: true })

const started = Date.now()
// The export's own time runs from the portal's first request to the command's exit: b24's start-up (loading
// the library) is not the export, and the bound knows nothing of it
let firstRequestAt: number | undefined
const watch = setInterval(() => {
  if (firstRequestAt === undefined && portal.stats().httpRequests > 0) firstRequestAt = Date.now()
}, 5)
const exitCode = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, args, {
    stdio: "inherit",
    env: { ...process.env, BITRIX24_WEBHOOK: portal.webhookUrl }
  })
  child.on("exit", (code) => resolve(code ?? 1))
})
const finished = Date.now()
clearInterval(watch)
const realSeconds = (finished - started) / 1000
const exportSeconds = (finished - (firstRequestAt ?? started)) / 1000
const stats = portal.stats()
await portal.close()

const written = Fs.readFileSync(out, "utf8").split("\n").filter((line) => line !== "")
const ids = new Set(written.map((line) => (JSON.parse(line) as { ID: string }).ID))
const bound = lowerBound(defaultCost, standard, listWork(defaultCost, rows, false))

const rowsPerSecond = written.length / exportSeconds
const shownOut = out.startsWith(root + Path.sep) ? Path.relative(root, out) : out
console.log(`
exit code:          ${exitCode}
rows written:       ${written.length.toLocaleString("en")} to ${shownOut} (${ids.size.toLocaleString("en")} distinct IDs)
HTTP requests:      ${stats.httpRequests} (503s: ${stats.rejected503}, 429s: ${stats.rejected429}); the fewest that can carry it: ${bound.fewestRequests}
export time:        ${exportSeconds.toFixed(2)} s real = ${(exportSeconds * timeScale).toFixed(1)} s of portal time, ${Math.round(rowsPerSecond).toLocaleString("en")} rows/s (from the first request to the end; ${realSeconds.toFixed(1)} s with b24's start-up)
lower bound:        ${bound.seconds.toFixed(2)} s of portal time = ${(bound.seconds / timeScale).toFixed(3)} s real (bucket ${bound.leakySeconds.toFixed(2)} s, longest request ${bound.criticalSeconds.toFixed(2)} s, operating budget ${bound.operatingSeconds.toFixed(2)} s)
ratio to the bound: ${(exportSeconds * timeScale / bound.seconds).toFixed(1)}x

The limits would let ${rows.toLocaleString("en")} narrow rows through in ${bound.seconds / timeScale < 1 ? "well under a second" : `${(bound.seconds / timeScale).toFixed(1)} s`} here: what took the time is this
machine's CPU (the fake portal encoding JSON on one core, b24 decoding and writing it on the other). The benchmark
(npm run bench, bench/RESULTS.md) runs the portal slower than the CPU so that the limits, not the CPU, decide.`)
process.exit(exitCode === 0 && ids.size === rows ? 0 : 1)
