/**
 * The floor of the memory measurement (bench/memory.ts): the least a client can do for the same result, in a plain
 * `node` process. undici's `request` (the package's own HTTP client), batches of 50 `crm.deal.get`, 50 in flight,
 * `body.text()` and `JSON.parse`, the rows kept in a Map; no checks, retries or limits. Prints one JSON line.
 *
 * argv: webhook URL, a file holding the IDs as a JSON array.
 */
import { readFileSync } from "node:fs"
import { getHeapStatistics } from "node:v8"
import { Agent } from "undici"

const [webhook, idsFile] = process.argv.slice(2)
const ids = JSON.parse(readFileSync(idsFile, "utf8"))
const url = new URL(webhook)
let peak = process.memoryUsage.rss()
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss())
}, 20)
const startRss = process.memoryUsage.rss()
const agent = new Agent({ connections: 50 })
const byId = new Map()
const started = performance.now()
let next = 0
const worker = async () => {
  while (next < ids.length) {
    const batch = ids.slice(next, next + 50)
    next += 50
    const cmd = {}
    batch.forEach((id, index) => {
      cmd[`c${index}`] = `crm.deal.get?ID=${id}`
    })
    const { body } = await agent.request({
      origin: url.origin,
      path: `${url.pathname}batch.json`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ halt: 0, cmd })
    })
    const answer = JSON.parse(await body.text())
    batch.forEach((id, index) => byId.set(id, answer.result.result[`c${index}`]))
  }
}
await Promise.all(Array.from({ length: 50 }, worker))
const seconds = (performance.now() - started) / 1000
peak = Math.max(peak, process.memoryUsage.rss())
clearInterval(sampler)
await agent.close()
process.stdout.write(`${JSON.stringify({ rows: byId.size, seconds, startRssBytes: startRss, peakRssBytes: peak, heapLimitBytes: getHeapStatistics().heap_size_limit })}\n`)
