/**
 * One worker of the `shared` scenarios (bench/shared.ts), a process of its own: a Promise client with the standard
 * limits and the limiter store it is given, waiting for "go" on stdin so every worker starts at once; then it streams
 * the export, checks that IDs strictly increase, and prints one JSON line with what it got.
 *
 * argv: webhook URL, limiter store URL (`memory`, `redis://…`), the select (comma-separated).
 */
import { createClient } from "../src/Promise.js"

const [webhook, limiterStore, select] = process.argv.slice(2)
if (webhook === undefined || limiterStore === undefined || select === undefined) {
  throw new Error("usage: sharedWorker.ts WEBHOOK STORE SELECT")
}
const client = createClient({ webhook, limits: "standard", limiterStore })
process.stdout.write("ready\n")
await new Promise((resolve) => process.stdin.once("data", resolve))
const cpuBefore = process.cpuUsage()
let peakRss = process.memoryUsage.rss()
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss())
}, 100)
let rows = 0
let lastId = 0
let outOfOrder = 0
let error: string | undefined
try {
  for await (const row of client.stream("crm.deal.list", { select: select.split(",") })) {
    const id = Number((row as { readonly ID?: unknown }).ID)
    if (!(id > lastId)) outOfOrder++
    lastId = id
    rows++
  }
} catch (cause) {
  error = cause instanceof Error ? cause.message : String(cause)
} finally {
  clearInterval(sampler)
  await client.close()
}
const cpu = process.cpuUsage(cpuBefore)
process.stdout.write(
  `${JSON.stringify({ rows, outOfOrder, error, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssBytes: peakRss })}\n`
)
