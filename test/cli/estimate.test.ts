/**
 * `b24 estimate` run in-process (`run(argv, env)`) against fake portals served from this process: the rows counted
 * in exactly one request, and the printed seconds and requests checked against arithmetic done here (rows → pages →
 * requests, the bucket's drain, the operating window), never against the bound module the command prints from.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect } from "effect"
import type { Env } from "../../src/cli/Connection.js"
import { run } from "../../src/cli/main.js"
import { type RunningFakePortal, startFakePortal } from "../../src/testing/index.js"
import { captureOutput } from "../support/capture.js"

/** The fake portal's default cost model (README "Cost model"), which the estimate says it assumes. */
const baseMs = 5
const narrowRowMs = 0.1
const wideRowMs = 2

/** A keyset page of 50 rows: a call's base time and its rows. */
const fullPageMs = (rowMs: number) => baseMs + 50 * rowMs

let small: RunningFakePortal
let oneOver: RunningFakePortal
let large: RunningFakePortal

beforeAll(async () => {
  // the portals' own limits and costs stay out of the way: the estimate is arithmetic on the count alone
  small = await startFakePortal({ seed: { "crm.deal": 2500 }, limits: "off", costModel: "zero" })
  oneOver = await startFakePortal({ seed: { "crm.deal": 2501 }, limits: "off", costModel: "zero" })
  large = await startFakePortal({ seed: { "crm.deal": 100_000 }, limits: "off", costModel: "zero" })
})

afterAll(async () => {
  await Promise.all([small, oneOver, large].map((portal) => portal.close()))
})

const { stderr, stderrLines, stdout } = captureOutput({ stdout: true })

const b24 = (args: ReadonlyArray<string>, env: Env = {}) => run(["node", "b24", ...args], env).pipe(Effect.provide(NodeContext.layer))

/** Runs `b24 estimate` against `portal` and says how many HTTP requests the portal received meanwhile. */
const estimate = (portal: RunningFakePortal, args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const before = portal.stats().httpRequests
    const code = yield* b24(["estimate", "crm.deal.list", "--webhook", portal.webhookUrl, "--limiter", "memory", ...args])
    return { code, requests: portal.stats().httpRequests - before, stdout: stdout.join("") }
  })

interface Printed {
  readonly method: string
  readonly rows: number
  readonly pages: number
  readonly select: string
  readonly limits: Readonly<Record<string, unknown>>
  readonly seconds: number
  readonly requests: number
  readonly pagesPerRequest: number
  readonly parts: { readonly bucketWaitSeconds: number; readonly operatingWaitSeconds: number; readonly billedSeconds: number }
  readonly fullBatches: { readonly seconds: number; readonly requests: number; readonly pagesPerRequest: number }
  readonly auto: { readonly strategy: string; readonly candidates: ReadonlyArray<string>; readonly reason: string }
  readonly sizeRequest: { readonly requests: number }
  readonly costModel: Readonly<Record<string, number>>
  readonly assumes: string
}

const parsed = (text: string): Printed => {
  const lines = text.split("\n").filter((line) => line !== "")
  expect(lines).toHaveLength(1)
  return JSON.parse(lines[0] ?? "") as Printed
}

/** The portal's own count of deals matching `filter`, asked directly over HTTP. */
const totalOf = async (portal: RunningFakePortal, filter: Readonly<Record<string, unknown>>): Promise<number> => {
  const response = await fetch(`${portal.webhookUrl}crm.deal.list.json`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ filter, select: ["ID"], start: 0 })
  })
  const body = (await response.json()) as { readonly total?: unknown }
  if (typeof body.total !== "number") throw new Error(`no total in ${JSON.stringify(body).slice(0, 200)}`)
  return body.total
}

describe("b24 estimate: the numbers", () => {
  it.live("2,500 deals are 50 pages: at best 50 requests of one page each, all within the bucket; one full batch at the fewest", () =>
    Effect.gen(function* () {
      const result = yield* estimate(small, ["--select", "ID,TITLE,STAGE_ID", "--plan", "standard", "--json"])
      expect(result.code).toBe(0)
      // exactly one request asked for the size
      expect(result.requests).toBe(1)
      const printed = parsed(result.stdout)
      expect(printed.costModel).toEqual({ baseMs, narrowRowMs, wideRowMs })
      expect(printed.rows).toBe(2500)
      expect(printed.pages).toBe(2500 / 50)
      expect(printed.select).toBe("narrow")
      // 50 requests start at once from a bucket of 50: none waits, and the longest is one page
      expect(printed.requests).toBe(50)
      expect(printed.pagesPerRequest).toBe(1)
      expect(printed.seconds).toBeCloseTo(fullPageMs(narrowRowMs) / 1000, 9)
      expect(printed.parts.bucketWaitSeconds).toBe(0)
      // the fewest requests: one batch of 50 pages run one after another, plus the batch's own call
      expect(printed.fullBatches.requests).toBe(1)
      expect(printed.fullBatches.seconds).toBeCloseTo((50 * fullPageMs(narrowRowMs) + baseMs) / 1000, 9)
      expect(printed.sizeRequest.requests).toBe(1)
      expect(printed.limits).toEqual({ plan: "standard", poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 })
      expect(printed.auto.strategy).toBe("keyset")
      expect(printed.assumes).toContain("default server time")
    })
  )

  it.live("the text form prints the same figures, and the summary on stderr counts one request", () =>
    Effect.gen(function* () {
      const result = yield* estimate(small, ["--select", "ID,TITLE"])
      expect(result.code).toBe(0)
      expect(result.requests).toBe(1)
      const lines = result.stdout.split("\n").filter((line) => line !== "")
      expect(lines[0]).toBe("crm.deal.list: 2,500 rows in 50 pages of 50 (counted in 1 request, 0.000 s on the portal)")
      expect(lines[1]).toBe("at the standard plan's limits (bucket 50, drained 2/s; 480 s of operating time per 600 s):")
      expect(lines[2]).toContain(`at best ${(fullPageMs(narrowRowMs) / 1000).toFixed(3)} s in 50 requests of up to 1 page `)
      expect(lines[3]).toBe(`  in full batches ${((50 * fullPageMs(narrowRowMs) + baseMs) / 1000).toFixed(3)} s in 1 request of up to 50 pages`)
      expect(lines[4]).toMatch(/^strategy auto: keyset /)
      expect(lines[5]).toMatch(/^assumes: .*a real portal's server time differs/)
      expect(stderrLines()).toHaveLength(1)
      expect(stderrLines()[0]).toMatch(/^b24: done: 2500 rows counted in [0-9.]+s .*; 1 request; throttled waits: none$/)
    })
  )

  it.live("no select costs wide rows: 2,500 deals at 50 × 2 ms a page", () =>
    Effect.gen(function* () {
      const printed = parsed((yield* estimate(small, ["--json"])).stdout)
      expect(printed.select).toBe("wide")
      expect(printed.requests).toBe(50)
      expect(printed.seconds).toBeCloseTo(fullPageMs(wideRowMs) / 1000, 9)
      // each request runs 0.105 s, over the 0.1 s from which the portal bills a request's time
      expect(printed.parts.billedSeconds).toBeCloseTo((50 * fullPageMs(wideRowMs)) / 1000, 9)
    })
  )

  it.live("2,501 deals are 51 pages: a 51st request would wait half a second on the bucket, so two pages share a request", () =>
    Effect.gen(function* () {
      const result = yield* estimate(oneOver, ["--select", "ID", "--json"])
      expect(result.requests).toBe(1)
      const printed = parsed(result.stdout)
      const pages = Math.ceil(2501 / 50)
      expect(printed.pages).toBe(pages)
      // the bound spreads the row cost evenly over the pages (the last one holds a single row)
      const pageMs = baseMs + (2501 * narrowRowMs) / pages
      // 51 requests: (51 − 50) / 2 s on the bucket; within 50 requests one carries two pages, and ⌈51 / 2⌉ = 26
      // requests is the fewest that keep every request at two pages
      expect((pages - 50) / 2).toBeGreaterThan((2 * pageMs + baseMs) / 1000)
      expect(printed.requests).toBe(26)
      expect(printed.pagesPerRequest).toBe(2)
      expect(printed.seconds).toBeCloseTo((2 * pageMs + baseMs) / 1000, 9)
      // the fewest requests: two batches, the larger of 26 pages
      expect(printed.fullBatches.requests).toBe(2)
      expect(printed.fullBatches.pagesPerRequest).toBe(26)
      expect(printed.fullBatches.seconds).toBeCloseTo((26 * pageMs + baseMs) / 1000, 9)
    })
  )

  it.live("100,000 deals on each plan: the bucket's starts, its drain, and the operating window", () =>
    Effect.gen(function* () {
      const pages = 100_000 / 50
      const select = ["--select", "ID,TITLE,STAGE_ID", "--json"]

      // standard: 50 requests start at once, 2,000 / 50 = 40 pages each; a 51st request would wait 0.5 s
      const standard = yield* estimate(large, [...select, "--plan", "standard"])
      expect(standard.requests).toBe(1)
      const onStandard = parsed(standard.stdout)
      expect(onStandard.rows).toBe(100_000)
      expect(onStandard.requests).toBe(50)
      expect(onStandard.seconds).toBeCloseTo(((pages / 50) * fullPageMs(narrowRowMs) + baseMs) / 1000, 9)
      expect(onStandard.fullBatches.requests).toBe(pages / 50)
      expect(onStandard.fullBatches.seconds).toBeCloseTo((50 * fullPageMs(narrowRowMs) + baseMs) / 1000, 9)
      stdout.length = 0

      // enterprise: 250 start at once, 8 pages each; a 251st would wait 0.2 s
      const enterprise = parsed((yield* estimate(large, [...select, "--plan", "enterprise"])).stdout)
      expect(enterprise.requests).toBe(250)
      expect(enterprise.seconds).toBeCloseTo(((pages / 250) * fullPageMs(narrowRowMs) + baseMs) / 1000, 9)
      stdout.length = 0

      // a bucket of 10: even the fewest requests, 40 full batches, wait (40 − 10) / 2 s for the drain, and more
      // requests would wait longer
      const drained = parsed((yield* estimate(large, [...select, "--limits", "pool=10,rps=2,operating=480,window=600"])).stdout)
      expect(drained.limits).toEqual({ plan: "custom", poolSize: 10, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 })
      expect(drained.requests).toBe(pages / 50)
      expect(drained.seconds).toBeCloseTo((pages / 50 - 10) / 2, 9)
      expect(drained.parts.bucketWaitSeconds).toBeCloseTo((pages / 50 - 10) / 2, 9)
      stdout.length = 0

      // wide rows under a 100 s operating budget: 2,000 pages × 105 ms bill 210 s, so the work spans
      // ⌈210 / 100⌉ − 1 = 2 windows of 600 s after its first call, however it is split
      const budget = parsed((yield* estimate(large, ["--json", "--limits", "pool=10,rps=2,operating=100,window=600"])).stdout)
      const billed = (pages * fullPageMs(wideRowMs)) / 1000
      expect(budget.parts.billedSeconds).toBeCloseTo(billed, 9)
      expect(budget.seconds).toBeCloseTo(600 * (Math.ceil(billed / 100) - 1), 9)
      expect(budget.requests).toBe(pages / 50)
    })
  )

  it.live("a filter narrows the count, and the count is still one request", () =>
    Effect.gen(function* () {
      const filter = { ">ID": 1000 }
      const expected = yield* Effect.promise(() => totalOf(small, filter))
      expect(expected).toBeGreaterThan(0)
      expect(expected).toBeLessThan(2500)
      const result = yield* estimate(small, ["--select", "ID", "--filter", JSON.stringify(filter), "--json"])
      expect(result.code).toBe(0)
      expect(result.requests).toBe(1)
      const printed = parsed(result.stdout)
      expect(printed.rows).toBe(expected)
      expect(printed.pages).toBe(Math.ceil(expected / 50))
    })
  )

  it.live("names the strategy auto would use: keyset in ID order, offset for another order, with the reason", () =>
    Effect.gen(function* () {
      const inIdOrder = parsed((yield* estimate(small, ["--json", "--order", '{"ID":"ASC"}'])).stdout)
      expect(inIdOrder.auto).toEqual({ strategy: "keyset", candidates: ["ranges", "keysetBatch"], reason: "the rows can be walked in ID order" })
      stdout.length = 0
      const byTitle = yield* estimate(small, ["--order", '{"TITLE":"ASC"}'])
      expect(byTitle.code).toBe(0)
      expect(byTitle.stdout).toContain("strategy auto: offset, since the order is not by ID ascending;")
    })
  )
})

describe("b24 estimate: bad input", () => {
  it.live("refuses a method that is not a list, bad JSON, an unknown plan and bad limits: exit 2, one error line, nothing sent", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<{ readonly args: ReadonlyArray<string>; readonly error: RegExp }> = [
        { args: ["crm.deal.add"], error: /^b24: error: Invalid method: "crm\.deal\.add" is not a list method/ },
        { args: ["crm.deal.get"], error: /^b24: error: Invalid method: "crm\.deal\.get" is not a list method/ },
        { args: ["crm.deal.list", "--filter", "{bad"], error: /^b24: error: Invalid --filter: not valid JSON/ },
        { args: ["crm.deal.list", "--filter", "[1]"], error: /^b24: error: Invalid --filter: expected a JSON object, got an array\.$/ },
        { args: ["crm.deal.list", "--plan", "gold"], error: /^b24: --plan expects one of standard, enterprise, got "gold"$/ },
        { args: ["crm.deal.list", "--limits", "pool=x"], error: /^b24: error: Invalid --limits: pool must be a number, got "x"\./ },
        { args: ["crm.deal.list"], error: /^b24: error: Invalid BITRIX24_PLAN: expected standard or enterprise, got "gold"\./ }
      ]
      for (const [index, { args, error }] of cases.entries()) {
        const before = small.stats().httpRequests
        const env: Env = index === cases.length - 1 ? { BITRIX24_PLAN: "gold" } : {}
        const code = yield* b24(["estimate", ...args, "--webhook", small.webhookUrl, "--limiter", "memory"], env)
        const errorLines = stderrLines().filter((line) => line.startsWith("b24:"))
        expect({ args, code, errorLines }).toMatchObject({ code: 2, errorLines: [expect.stringMatching(error)] })
        expect(small.stats().httpRequests).toBe(before)
        expect(stdout.join("")).toBe("")
        stdout.length = 0
        // the next case starts with an empty stderr
        stderr.length = 0
      }
    })
  )

  it.live("a list method that answers without a total fails (exit 1) with one line saying so, after its one request", () =>
    Effect.gen(function* () {
      const before = small.stats().httpRequests
      const code = yield* b24(["estimate", "crm.dealcategory.stage.list", "--webhook", small.webhookUrl, "--limiter", "memory", "--quiet"])
      expect(code).toBe(1)
      expect(small.stats().httpRequests - before).toBe(1)
      expect(stderrLines()).toHaveLength(1)
      expect(stderrLines()[0]).toMatch(/^b24: error: crm\.dealcategory\.stage\.list: unexpected result: the answer has no total/)
      expect(stdout.join("")).toBe("")
    })
  )
})
