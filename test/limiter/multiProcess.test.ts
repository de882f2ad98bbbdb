/**
 * Several processes, one portal: four worker processes export from one standard-limit fake portal over HTTP at the
 * same moment. Through one Redis store they share its leaky bucket and meet no 503 or 429; each with a store of its
 * own, each believes it has the whole bucket, and together they overflow it (the contrast, so the first run tests
 * something). Every export is complete either way: the expected IDs come from the portal's engine.
 *
 * The workers run the built package (dist/, built by `npm test`'s pretest) and start together on a signal, so the
 * contrast does not depend on how fast the machine spawns processes.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { startFakePortal } from "../../src/testing/index.js"
import type { FakePortalOptions } from "../../src/testing/Options.js"
import { seededIds } from "../support/engine.js"
import { binPath, cleanEnv } from "../support/b24.js"
import { type RunningRedis, startRedis } from "../support/redis.js"

const workerScript = fileURLToPath(new URL("../support/exportChild.mjs", import.meta.url))
const workers = 4
/** 1,000 deals a worker: about 20 requests each, 80 together, beyond the 50 the bucket holds at once. */
const portalOptions: FakePortalOptions = { seed: { "crm.deal": 1000 }, limits: "standard" }

let redis: RunningRedis
beforeAll(async () => {
  redis = await startRedis()
}, 60_000)
afterAll(async () => {
  await redis?.stop()
})


/** Starts `workers` processes against `webhook` with `store`, lets them go at once and collects their IDs. */
const exportTogether = async (webhook: string, store: (index: number) => string) => {
  const children = Array.from({ length: workers }, (_, index) =>
    spawn(process.execPath, [workerScript, webhook, store(index)], { stdio: ["pipe", "pipe", "pipe"] })
  )
  const stderr: Array<string> = []
  const outputs = children.map((child) => {
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk.toString()))
    const lines = createInterface({ input: child.stdout })
    const ready = new Promise<void>((resolve) => lines.once("line", () => resolve()))
    const result = new Promise<{ readonly ids?: ReadonlyArray<number>; readonly error?: string }>((resolve) =>
      lines.on("line", (line) => {
        if (line !== "ready") resolve(JSON.parse(line) as { readonly ids?: ReadonlyArray<number>; readonly error?: string })
      })
    )
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
    return { ready, result, exited }
  })
  await Promise.all(outputs.map((output) => output.ready))
  for (const child of children) child.stdin.end("go\n")
  const results = await Promise.all(outputs.map((output) => output.result))
  const codes = await Promise.all(outputs.map((output) => output.exited))
  return { results, codes, stderr: stderr.join("") }
}

describe("four processes, one portal", () => {
  it("through one Redis store: no 503, no 429, every export complete", async () => {
    const portal = await startFakePortal(portalOptions)
    try {
      const run = await exportTogether(portal.webhookUrl, () => redis.url)
      expect(run.codes).toEqual([0, 0, 0, 0])
      const expected = seededIds(portalOptions, "crm.deal.list")
      expect(expected).toHaveLength(1000)
      for (const result of run.results) expect([...(result.ids ?? [])].sort((a, b) => a - b)).toEqual(expected)
      const stats = portal.stats()
      // the same four without a shared store overflow the bucket (the control below); with it each sees the others'
      // starts, waits for them or plans fewer, larger requests
      expect(stats.rejected503).toBe(0)
      expect(stats.rejected429).toBe(0)
    } finally {
      await portal.close()
    }
  }, 300_000)

  it("control: each with a memory store of its own, together they overflow the bucket (503s), though each export completes", async () => {
    const portal = await startFakePortal(portalOptions)
    try {
      const run = await exportTogether(portal.webhookUrl, () => "memory")
      expect(run.codes).toEqual([0, 0, 0, 0])
      const expected = seededIds(portalOptions, "crm.deal.list")
      for (const result of run.results) expect([...(result.ids ?? [])].sort((a, b) => a - b)).toEqual(expected)
      expect(portal.stats().rejected503).toBeGreaterThan(0)
    } finally {
      await portal.close()
    }
  }, 300_000)
})

describe("one machine, one run after another", () => {
  /** Runs `b24 get-all` to an NDJSON file and resolves with its exit code and the IDs written. */
  const getAll = (webhook: string, limiter: string, out: string) =>
    new Promise<{ readonly code: number | null; readonly ids: ReadonlyArray<number>; readonly stderr: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [binPath, "get-all", "crm.deal.list", "--webhook", webhook, "--select", "ID,TITLE", "--format", "ndjson", "--out", out, "--quiet", "--limiter", limiter],
        { env: cleanEnv, stdio: ["ignore", "ignore", "pipe"] }
      )
      let stderr = ""
      child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
      child.on("error", reject)
      child.on("close", (code) => {
        const ids = readFileSync(out, "utf8")
          .split("\n")
          .filter((line) => line !== "")
          .map((line) => Number((JSON.parse(line) as { readonly ID: unknown }).ID))
        resolve({ code, ids, stderr })
      })
    })

  /** 3,000 deals: one export's first burst takes most of the bucket. */
  const options: FakePortalOptions = { seed: { "crm.deal": 3000 }, limits: "standard" }

  const twoRuns = async (limiter: string) => {
    const dir = mkdtempSync(join(tmpdir(), "b24-consecutive-"))
    const portal = await startFakePortal(options)
    try {
      const first = await getAll(portal.webhookUrl, limiter, join(dir, "first.ndjson"))
      const second = await getAll(portal.webhookUrl, limiter, join(dir, "second.ndjson"))
      return { first, second, stats: portal.stats() }
    } finally {
      await portal.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }

  it("two b24 get-all runs in a row share the bucket through the file store (b24's default): no 503", async () => {
    const dir = mkdtempSync(join(tmpdir(), "b24-store-"))
    try {
      const run = await twoRuns(`file:${join(dir, "limiter.json")}`)
      expect([run.first.code, run.second.code]).toEqual([0, 0])
      expect(run.first.ids).toHaveLength(3000)
      expect(new Set(run.second.ids).size).toBe(3000)
      // the same two runs without the shared file overflow the bucket (the control below); with it the second run
      // knows what the first used, and waits or plans fewer, larger requests
      expect(run.stats.rejected503).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 300_000)

  it("control: with a memory store each run assumes an empty bucket, and the second meets 503s", async () => {
    const run = await twoRuns("memory")
    expect([run.first.code, run.second.code]).toEqual([0, 0])
    expect(new Set(run.second.ids).size).toBe(3000)
    expect(run.stats.rejected503).toBeGreaterThan(0)
  }, 300_000)
})

