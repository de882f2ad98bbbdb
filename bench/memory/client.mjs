/**
 * One run of the memory measurement (bench/memory.ts), a plain `node` process with nothing loaded but the compiled
 * package (dist/, as users get it): `getByID("crm.deal.get", ids)` through the Promise client, limits off, RSS
 * sampled every 20 ms. Prints one JSON line.
 *
 * argv: webhook URL, a file holding the IDs as a JSON array, and optionally the client's `limits` as JSON (default
 * "off").
 */
import { readFileSync } from "node:fs"
import { getHeapStatistics } from "node:v8"
import { createClient } from "../../dist/Promise.js"

const [webhook, idsFile, limits] = process.argv.slice(2)
const ids = JSON.parse(readFileSync(idsFile, "utf8"))
let peak = process.memoryUsage.rss()
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss())
}, 20)
const startRss = process.memoryUsage.rss()
const client = createClient({ webhook, limits: limits === undefined ? "off" : JSON.parse(limits) })
const started = performance.now()
const byId = await client.getByID("crm.deal.get", ids)
const seconds = (performance.now() - started) / 1000
peak = Math.max(peak, process.memoryUsage.rss())
clearInterval(sampler)
await client.close()
process.stdout.write(`${JSON.stringify({ rows: byId.size, seconds, startRssBytes: startRss, peakRssBytes: peak, heapLimitBytes: getHeapStatistics().heap_size_limit })}\n`)
