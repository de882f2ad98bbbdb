/**
 * The memory measurement's two programs (bench/memory/*.mjs), each a plain `node` process, against a small fake
 * portal over HTTP: both read every ID given and report a peak RSS no lower than their start. The figures
 * themselves come from `npm run bench:memory` (bench/NOTES.md), never from a test.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { memoryPrograms, runMemoryProgram } from "../../bench/memory.js"
import { createClient } from "../../src/Promise.js"
import { type RunningFakePortal, startFakePortal } from "../../src/testing/index.js"

describe("bench:memory's programs", () => {
  let portal: RunningFakePortal
  let folder: string
  let idsFile: string
  // 51 deals: one full batch of 50 and one of 1
  const deals = 51

  beforeAll(async () => {
    portal = await startFakePortal({ seed: { "crm.deal": deals }, limits: "off", costModel: "zero" })
    const client = createClient({ webhook: portal.webhookUrl, limits: "off" })
    const rows = await client.getAll("crm.deal.list", { select: ["ID"] })
    await client.close()
    folder = mkdtempSync(join(tmpdir(), "memory-test-"))
    idsFile = join(folder, "ids.json")
    writeFileSync(idsFile, JSON.stringify(rows.map((row) => Number((row as { readonly ID: string }).ID))))
  })

  afterAll(async () => {
    await portal.close()
    rmSync(folder, { recursive: true, force: true })
  })

  it("client takes the limits it is given (bench:memory --time-scale)", async () => {
    const limits = { poolSize: 50, requestsPerSecond: 100, operatingLimitSeconds: 9.6, operatingWindowSeconds: 12 }
    const report = await runMemoryProgram("client", portal.webhookUrl, idsFile, { limits })
    expect(report.rows).toBe(deals)
  })

  it("each runs under the old-space cap it is given (bench:memory --max-old-space)", async () => {
    const capMiB = 64
    for (const program of memoryPrograms) {
      const capped = await runMemoryProgram(program, portal.webhookUrl, idsFile, { maxOldSpaceMiB: capMiB })
      expect(capped.rows).toBe(deals)
      // V8's limit is the old space's cap plus the young generation's (a few semi-spaces of at most 16 MiB each)
      expect(capped.heapLimitBytes).toBeGreaterThanOrEqual(capMiB * 2 ** 20)
      expect(capped.heapLimitBytes).toBeLessThanOrEqual(2 * capMiB * 2 ** 20)
    }
  })

  for (const program of memoryPrograms) {
    it(`${program} reads every one of ${deals} IDs and reports its peak RSS`, async () => {
      const report = await runMemoryProgram(program, portal.webhookUrl, idsFile)
      expect(report.rows).toBe(deals)
      expect(report.startRssBytes).toBeGreaterThan(0)
      expect(report.peakRssBytes).toBeGreaterThanOrEqual(report.startRssBytes)
      // uncapped, V8 sizes the heap from the machine's memory: far above the capped run's
      expect(report.heapLimitBytes).toBeGreaterThan(2 * 64 * 2 ** 20)
    })
  }
})
