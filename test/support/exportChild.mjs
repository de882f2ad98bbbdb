// A worker process of the multi-process limiter tests: builds a Promise client over the built package (dist/), waits
// for "go" on stdin so every worker starts at once, exports crm.deal.list and prints the IDs it got as one JSON line.
// argv: webhook URL, limiter store URL (memory, redis://…).
import { createClient } from "../../dist/Promise.js"

const [webhook, limiterStore] = process.argv.slice(2)
const client = createClient({ webhook, limits: "standard", limiterStore })
process.stdout.write("ready\n")
await new Promise((resolve) => process.stdin.once("data", resolve))
try {
  const rows = await client.getAll("crm.deal.list", { select: ["ID", "TITLE"] })
  process.stdout.write(JSON.stringify({ ids: rows.map((row) => Number(row.ID)) }) + "\n")
} catch (error) {
  process.stdout.write(JSON.stringify({ error: String(error?.message ?? error) }) + "\n")
  process.exitCode = 1
} finally {
  await client.close()
}
