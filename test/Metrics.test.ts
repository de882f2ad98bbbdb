import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, LogLevel, Metric, Option, Schedule, TestClock } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import * as Metrics from "../src/Metrics.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import type { FakePortalOptions } from "../src/testing/Options.js"

const testLayer = (portal: FakePortalOptions, client: Bitrix.ServiceOptions = {}) =>
  Layer.merge(Bitrix.layerServices({ limits: "off", ...client }), FakePortal.layer({ limits: "off", costModel: "zero", ...portal }))

const stats = Effect.flatMap(FakePortal.FakePortal, (portal) => portal.stats)
const count = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)

describe("metrics", () => {
  it.effect("requests, rows and retries are counted as the portal saw them", () =>
    Effect.gen(function* () {
      const requests = Metric.tagged(Metric.tagged(Metrics.requests, "method", "batch"), "outcome", "ok")
      const throttled = Metric.tagged(Metric.tagged(Metrics.requests, "method", "batch"), "outcome", "QUERY_LIMIT_EXCEEDED")
      const rows = Metric.tagged(Metric.tagged(Metrics.rows, "method", "crm.deal.list"), "strategy", "keysetBatch")
      const retries = Metric.tagged(Metrics.retries, "method", "batch")
      const before = { requests: yield* count(requests), rows: yield* count(rows), retries: yield* count(retries), throttled: yield* count(throttled) }
      const fiber = yield* Effect.fork(
        Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy: "keysetBatch" }).pipe(Bitrix.withRetry(Schedule.spaced("1 second")))
      )
      yield* TestClock.adjust("10 seconds")
      const exported = yield* Fiber.join(fiber)
      const portal = yield* stats
      expect(exported.length).toBe(5100)
      expect((yield* count(rows)) - before.rows).toBe(5100)
      // the first request was refused by an injected 503 and sent again
      expect((yield* count(requests)) - before.requests).toBe(portal.requestsByMethod["batch"]! - 1)
      expect((yield* count(throttled)) - before.throttled).toBe(1)
      expect((yield* count(retries)) - before.retries).toBe(1)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 5100 }, faults: [{ kind: "error503", onRequests: [1] }] })))
  )

  it.effect("waits on the leaky bucket are counted", () =>
    Effect.gen(function* () {
      const waits = Metric.tagged(Metrics.limiterWaits, "limit", "bucket")
      const before = yield* count(waits)
      const fiber = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 60 }, (_, index) => index), () => Bitrix.call("crm.deal.list", { start: -1 }), {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      // 48 start at once (the pool less the default headroom of 2), the other 12 wait for the drain
      expect((yield* count(waits)) - before).toBe(12)
      expect((yield* stats).rejected503).toBe(0)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 10 }, limits: "standard" }, { limits: "standard" })))
  )
})

describe("metrics of the operating budget", () => {
  it.effect("waits for a method's operating budget are counted, with the time waited", () => {
    const tight = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 2, operatingWindowSeconds: 60 }
    return Effect.gen(function* () {
      const waits = Metric.tagged(Metrics.limiterWaits, "limit", "operating")
      const waitedMs = Metric.tagged(Metrics.limiterWaitMs, "limit", "operating")
      const before = { waits: yield* count(waits), waitedMs: yield* count(waitedMs) }
      // 40 calls of about 0.105 s of server time each: twice the 2 s budget of the 60 s window
      const fiber = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 40 }, (_, index) => index), () => Bitrix.call("crm.deal.list", { select: ["*"] }), {
          concurrency: 4
        })
      )
      for (let second = 0; second < 600 && fiber.unsafePoll() === null; second++) yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      expect((yield* stats).rejected429).toBe(0)
      expect((yield* count(waits)) - before.waits).toBeGreaterThan(0)
      // the window is 60 s: the budget came back only after tens of seconds of waiting
      expect((yield* count(waitedMs)) - before.waitedMs).toBeGreaterThan(10_000)
    }).pipe(
      Effect.provide(testLayer({ seed: { "crm.deal": 500 }, limits: tight, costModel: "default" }, { limits: tight }))
    )
  })
})

describe("debug logs", () => {
  it.effect("show each request and answer, never the webhook code", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message, annotations }) => {
          lines.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])}`)
        })
      )
      const portal = yield* FakePortal.FakePortal
      const code = portal.webhookUrl.split("/").at(-2)!
      yield* Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"] }).pipe(
        Effect.zipRight(Effect.exit(Bitrix.call("crm.nothing.here", {}))),
        Logger.withMinimumLogLevel(LogLevel.Debug),
        Effect.provide(capture)
      )
      const text = lines.join("\n")
      expect(code.length).toBeGreaterThan(8)
      expect(text).toContain("bitrix: crm.deal.list")
      expect(text).toContain("strategy")
      expect(text).toContain("crm.nothing.here")
      expect(text).not.toContain(code)
      expect(Option.isSome(Option.fromNullable(lines.find((line) => line.includes("bitrix.result"))))).toBe(true)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 300 } })))
  )
})
