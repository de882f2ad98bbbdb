import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Layer, Logger, LogLevel, TestClock } from "effect"
import type { Limits } from "../src/BitrixConfig.js"
import * as RateLimiter from "../src/RateLimiter.js"

const RateLimiterLimits = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }

/** A limiter over its own store; the plain bucket arithmetic (no arrival jitter allowed for) unless a test sets it. */
const makeLimiter = (options: RateLimiter.Options) =>
  RateLimiter.make({ arrivalJitterMs: 0, ...options }).pipe(Effect.provide(RateLimiter.layerStoreMemory))

/** A request that only notes when it started. */
const noteStart = (starts: Array<number>, label?: number, labels?: Array<number>) =>
  Effect.flatMap(Clock.currentTimeMillis, (nowMs) =>
    Effect.sync(() => {
      starts.push(nowMs)
      if (label !== undefined) labels?.push(label)
    })
  )

/** Replays the portal's counter (+1 per start, continuous drain) over the start times; returns its peak. */
const portalCounterPeak = (starts: ReadonlyArray<number>, requestsPerSecond: number) => {
  let level = 0
  let lastMs = 0
  let peak = 0
  for (const atMs of [...starts].sort((a, b) => a - b)) {
    level = Math.max(0, level - ((atMs - lastMs) * requestsPerSecond) / 1000) + 1
    lastMs = atMs
    peak = Math.max(peak, level)
  }
  return peak
}

const startedBy = (starts: ReadonlyArray<number>, atMs: number) => starts.filter((start) => start <= atMs).length

/** Forks `count` concurrent requests through the limiter; returns their start times as they happen. */
const forkBurst = (limiter: RateLimiter.Service, count: number, methods: ReadonlyArray<string> = ["crm.lead.list"]) =>
  Effect.gen(function* () {
    const starts: Array<number> = []
    const labels: Array<number> = []
    const fiber = yield* Effect.forEach(
      Array.from({ length: count }, (_, index) => index),
      (index) => limiter.withPermit(methods, noteStart(starts, index, labels)),
      { concurrency: "unbounded", discard: true }
    ).pipe(Effect.fork)
    return { starts, labels, fiber }
  })

describe("RateLimiter leaky bucket", () => {
  it.effect("capacity tells how many starts the bucket allows now, after headroom, as it drains", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: RateLimiterLimits, bucketHeadroom: 2 })
      expect((yield* limiter.capacity).freeStarts).toBe(48)
      const { fiber } = yield* forkBurst(limiter, 10)
      yield* Fiber.join(fiber)
      const after = yield* limiter.capacity
      expect(after.freeStarts).toBe(38)
      expect(after.requestsPerSecond).toBe(2)
      yield* TestClock.adjust("2500 millis")
      expect((yield* limiter.capacity).freeStarts).toBe(43)
      yield* TestClock.adjust("1 minute")
      expect((yield* limiter.capacity).freeStarts).toBe(48)
      const off = yield* makeLimiter({ limits: "off" })
      expect((yield* off.capacity).freeStarts).toBe(Infinity)
    })
  )

  it.effect("capacity inside slow(): its concurrency caps the flight, and a slower pacer leaves one start now", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: RateLimiterLimits, bucketHeadroom: 2 })
      const inside = yield* RateLimiter.slow({ maxConcurrent: 3, requestsPerSecond: 0.5 })(limiter.capacity)
      expect(inside).toEqual({ freeStarts: 1, requestsPerSecond: 0.5, concurrencyCeiling: 3 })
      // A pacer faster than the bucket's drain changes nothing but the concurrency
      const faster = yield* RateLimiter.slow({ maxConcurrent: 7, requestsPerSecond: 10 })(limiter.capacity)
      expect(faster).toEqual({ freeStarts: 48, requestsPerSecond: 2, concurrencyCeiling: 7 })
      // Outside the override the limiter is as before
      expect((yield* limiter.capacity).freeStarts).toBe(48)
      const off = yield* makeLimiter({ limits: "off" })
      expect(yield* RateLimiter.slow({ requestsPerSecond: 4 })(off.capacity)).toMatchObject({ freeStarts: 1, requestsPerSecond: 4 })
    })
  )

  const burstCase = (limits: Limits, pool: number, rate: number) =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits })
      const { fiber, labels, starts } = yield* forkBurst(limiter, 1000)
      yield* TestClock.adjust(0)
      expect(starts.length).toBe(pool)
      yield* TestClock.adjust("1 second")
      expect(starts.length).toBe(pool + rate)
      yield* TestClock.adjust("9 seconds")
      expect(starts.length).toBe(pool + 10 * rate)
      // FIFO: the first requests in are the first out, nobody overtakes.
      expect([...labels].sort((a, b) => a - b)).toEqual(Array.from({ length: pool + 10 * rate }, (_, i) => i))
      expect(portalCounterPeak(starts, rate)).toBeLessThanOrEqual(pool + 1e-9)
      const stats = yield* limiter.stats
      expect(stats.started).toBe(pool + 10 * rate)
      expect(stats.bucketWaits).toBeGreaterThan(0)
      yield* Fiber.interrupt(fiber)
    })

  it.effect("standard: 50 at once, then exactly 2 per second, never above the pool", () => burstCase("standard", 50, 2))

  it.effect("enterprise: 250 at once, then exactly 5 per second", () => burstCase("enterprise", 250, 5))

  it.effect("a burst runs to the end without the portal counter ever passing the pool", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: { ...RateLimiterLimits, poolSize: 5, requestsPerSecond: 2 } })
      const { fiber, starts } = yield* forkBurst(limiter, 45)
      yield* TestClock.adjust("20 seconds")
      yield* Fiber.join(fiber)
      expect(starts.length).toBe(45)
      expect(startedBy(starts, 0)).toBe(5)
      expect(Math.max(...starts)).toBe(20_000)
      expect(portalCounterPeak(starts, 2)).toBeLessThanOrEqual(5 + 1e-9)
    }))

  it.effect("a drain rate that does not divide a second never starts early", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: { ...RateLimiterLimits, poolSize: 10, requestsPerSecond: 3 } })
      const { fiber, starts } = yield* forkBurst(limiter, 16)
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(fiber)
      expect(starts.slice(10)).toEqual([334, 667, 1000, 1334, 1667, 2000])
      expect(portalCounterPeak(starts, 3)).toBeLessThanOrEqual(10)
    }))

  it.effect("off: all 1,000 start at once", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "off" })
      const { fiber, starts } = yield* forkBurst(limiter, 1000)
      yield* Fiber.join(fiber)
      expect(starts.length).toBe(1000)
      expect(starts.every((start) => start === 0)).toBe(true)
      expect((yield* limiter.stats).concurrencyCeiling).toBe(Infinity)
    }))

  it.effect("headroom keeps part of the pool free for other apps", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard", bucketHeadroom: 10 })
      const { fiber, starts } = yield* forkBurst(limiter, 100)
      yield* TestClock.adjust(0)
      expect(starts.length).toBe(40)
      yield* TestClock.adjust("1 second")
      expect(starts.length).toBe(42)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("Throttled feedback fills the bucket: the next starts follow the drain rate", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.feedback({ _tag: "Throttled" })
      const { fiber, starts } = yield* forkBurst(limiter, 10)
      yield* TestClock.adjust(0)
      expect(starts.length).toBe(0)
      yield* TestClock.adjust("1 second")
      expect(starts).toEqual([500, 1000])
      expect((yield* limiter.stats).throttled).toBe(1)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("limiters over one shared store share the portal's bucket", () =>
    Effect.gen(function* () {
      const [first, second] = yield* Effect.all([
        RateLimiter.make({ limits: "standard", key: "portal-a", arrivalJitterMs: 0 }),
        RateLimiter.make({ limits: "standard", key: "portal-a", arrivalJitterMs: 0 })
      ]).pipe(Effect.provide(RateLimiter.layerStoreMemory))
      const one = yield* forkBurst(first, 50)
      yield* Fiber.join(one.fiber)
      const two = yield* forkBurst(second, 1)
      yield* TestClock.adjust(499)
      expect(two.starts).toEqual([])
      yield* TestClock.adjust(1)
      expect(two.starts).toEqual([500])
    }))

  it.effect("the layer provides the service", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.RateLimiter
      const result = yield* limiter.withPermit(["user.current"], Effect.succeed(42))
      expect(result).toBe(42)
      expect((yield* limiter.stats).started).toBe(1)
    }).pipe(Effect.provide(RateLimiter.layer({ limits: "standard" }))))
})

/** Forks one request for `methods`; its start time appears in `starts` once it starts. */
const forkOne = (limiter: RateLimiter.Service, methods: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const starts: Array<number> = []
    const fiber = yield* limiter.withPermit(methods, noteStart(starts)).pipe(Effect.fork)
    yield* TestClock.adjust(0)
    return { starts, fiber }
  })

describe("RateLimiter arrival jitter", () => {
  it.effect("of k starts beyond the pool the last comes arrivalJitterMs + (k - pool) / rate after the first", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard", arrivalJitterMs: 1000 })
      const { fiber, starts } = yield* forkBurst(limiter, 100)
      yield* TestClock.adjust("5 seconds")
      // 50 at once; the 51st waits for the 1st start's drain (500 ms) to have surely reached the portal (+1000 ms)
      expect(starts.slice(0, 50).every((start) => start === 0)).toBe(true)
      expect(starts.slice(50)).toEqual([1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("capacity counts a start's drain only once it has surely reached the portal", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard", bucketHeadroom: 2, arrivalJitterMs: 1000 })
      const { fiber } = yield* forkBurst(limiter, 10)
      yield* Fiber.join(fiber)
      expect((yield* limiter.capacity).freeStarts).toBe(38)
      // At 2.5 s the drains of the first 3 starts (done at 0.5, 1, 1.5 s) are 1 s old; the 4th's (2 s) may not be
      yield* TestClock.adjust("2500 millis")
      expect((yield* limiter.capacity).freeStarts).toBe(41)
      yield* TestClock.adjust("1 minute")
      expect((yield* limiter.capacity).freeStarts).toBe(48)
    }))

  it.effect("the default allows for 1 s", () =>
    Effect.gen(function* () {
      expect(RateLimiter.defaultArrivalJitterMs).toBe(1000)
      const limiter = yield* RateLimiter.make({ limits: "standard" }).pipe(Effect.provide(RateLimiter.layerStoreMemory))
      const { fiber, starts } = yield* forkBurst(limiter, 51)
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(fiber)
      expect(starts.at(-1)).toBe(1500)
    }))

  /**
   * Every way a freeze of the path up to `jitterMs` long can bunch the starts: for each start, a freeze from it that
   * holds everything sent in the next `jitterMs` until its end (each request delayed by at most `jitterMs`).
   */
  const worstPeak = (starts: ReadonlyArray<number>, jitterMs: number, rate: number) =>
    Math.max(
      ...[...new Set(starts)].map((frozenAt) =>
        portalCounterPeak(
          starts.map((start) => (start >= frozenAt && start <= frozenAt + jitterMs ? frozenAt + jitterMs : start)),
          rate
        )
      )
    )

  const burstStarts = (options: RateLimiter.Options, count: number) =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter(options)
      const { fiber, starts } = yield* forkBurst(limiter, count)
      yield* TestClock.adjust("10 minutes")
      yield* Fiber.join(fiber)
      return starts
    })

  it.effect("no arrival delays within arrivalJitterMs can overflow the portal's bucket", () =>
    Effect.gen(function* () {
      for (const [limits, pool, rate] of [["standard", 50, 2], ["enterprise", 250, 5]] as const) {
        for (const jitterMs of [300, 1000, 2500]) {
          const starts = yield* burstStarts({ limits, arrivalJitterMs: jitterMs }, pool + 200)
          expect(worstPeak(starts, jitterMs, rate)).toBeLessThanOrEqual(pool + 1e-9)
          // Without the allowance the same freezes overflow it
          const plain = yield* burstStarts({ limits, arrivalJitterMs: 0 }, pool + 200)
          expect(worstPeak(plain, jitterMs, rate)).toBeGreaterThan(pool + 0.5)
        }
      }
    }))

  it.effect("after a 503 the next starts follow the drain rate from then on, as without jitter", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard", arrivalJitterMs: 1000 })
      yield* limiter.feedback({ _tag: "Throttled" })
      const { fiber, starts } = yield* forkBurst(limiter, 10)
      yield* TestClock.adjust("2 seconds")
      expect(starts).toEqual([500, 1000, 1500, 2000])
      yield* Fiber.interrupt(fiber)
    }))
})

describe("RateLimiter operating budget", () => {
  it.effect("a method near its limit waits for operating_reset_at + 1 s while another method goes on", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.record([
        { method: "crm.lead.list", time: { operating: 476, operating_reset_at: 300, processing: 1 } },
        { method: "crm.deal.list", time: { operating: 10, operating_reset_at: 300, processing: 1 } }
      ])
      const lead = yield* forkOne(limiter, ["CRM.LEAD.LIST"])
      const deal = yield* forkOne(limiter, ["crm.deal.list"])
      expect(lead.starts).toEqual([])
      expect(deal.starts).toEqual([0])
      yield* TestClock.adjust(300_999)
      expect(lead.starts).toEqual([])
      yield* TestClock.adjust(1)
      expect(lead.starts).toEqual([301_000])
      const stats = yield* limiter.stats
      expect(stats.operatingWaits).toBe(1)
      expect(stats.operatingWaitMs).toBe(301_000)
    }))

  it.effect("below the margin the method is not paced; a costly method gets a wider margin", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.record([
        { method: "cheap.list", time: { operating: 473, operating_reset_at: 300, processing: 1 } },
        { method: "costly.list", time: { operating: 465, operating_reset_at: 300, processing: 10 } }
      ])
      const cheap = yield* forkOne(limiter, ["cheap.list"])
      const costly = yield* forkOne(limiter, ["costly.list"])
      // 473 s + its own call's 1 s stay under 480 - 5 s = 475: cheap goes
      expect(cheap.starts).toEqual([0])
      // limit 480 - 2 × 10 s = 460 <= 465: costly waits.
      expect(costly.starts).toEqual([])
      yield* TestClock.adjust("301 seconds")
      expect(costly.starts).toEqual([301_000])
    }))

  it.effect("the portal's total is assigned, not added", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      for (let i = 0; i < 10; i++) {
        yield* limiter.record([{ method: "crm.lead.list", time: { operating: 100, operating_reset_at: 300, processing: 1 } }])
      }
      const lead = yield* forkOne(limiter, ["crm.lead.list"])
      expect(lead.starts).toEqual([0])
    }))

  it.effect("a batch waits when one of its commands' methods is out of budget", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.record([
        { method: "batch", time: { operating: 0, processing: 3 } },
        { method: "crm.lead.get", time: { operating: 478, operating_reset_at: 60, processing: 1 } }
      ])
      const leads = yield* forkOne(limiter, ["batch", "crm.lead.get"])
      const deals = yield* forkOne(limiter, ["batch", "crm.deal.get"])
      expect(leads.starts).toEqual([])
      expect(deals.starts).toEqual([0])
      yield* TestClock.adjust("61 seconds")
      expect(leads.starts).toEqual([61_000])
    }))

  it.effect("past the reset a method near its limit sends one probe at a time until a fresh total arrives", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.record([{ method: "crm.lead.list", time: { operating: 476, operating_reset_at: 100, processing: 1 } }])
      const gate = yield* Deferred.make<void>()
      const starts: Array<number> = []
      const request = Effect.zipRight(noteStart(starts), Deferred.await(gate))
      const fibers = yield* Effect.forEach([1, 2, 3], () =>
        limiter.withPermit(["crm.lead.list"], request).pipe(Effect.fork)
      )
      yield* TestClock.adjust("101 seconds")
      expect(starts).toEqual([101_000])
      // The probe's response says the window has room again: the others go.
      yield* limiter.record([{ method: "crm.lead.list", time: { operating: 120, operating_reset_at: 700, processing: 1 } }])
      yield* TestClock.adjust(0)
      expect(starts).toEqual([101_000, 101_000, 101_000])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.joinAll(fibers)
    }))

  it.effect("requests in flight count against the budget until they finish", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      // No `operating`: the local window holds 100 s; margin 2 × 100 s gives a threshold of 280 s.
      yield* limiter.record([{ method: "crm.item.list", time: { processing: 100 } }])
      const gates = yield* Effect.forEach([1, 2, 3], () => Deferred.make<void>())
      const starts: Array<number> = []
      const fibers = yield* Effect.forEach(gates, (gate, index) =>
        limiter
          .withPermit(
            ["crm.item.list"],
            Effect.zipRight(noteStart(starts, index), Deferred.await(gate))
          )
          .pipe(Effect.fork)
      )
      yield* TestClock.adjust(0)
      // 100 s known + 100 s estimated in flight + its own 100 s reach 300 s: the second waits.
      expect(starts.length).toBe(1)
      yield* Deferred.succeed(gates[0]!, undefined)
      yield* TestClock.adjust(0)
      expect(starts.length).toBe(2)
      yield* Deferred.succeed(gates[1]!, undefined)
      yield* TestClock.adjust(0)
      expect(starts.length).toBe(3)
      yield* Effect.forEach(gates, (gate) => Deferred.succeed(gate, undefined))
      yield* Fiber.joinAll(fibers)
    }))

  it.effect("a batch weighs one call per command: 50 commands of 1 s do not start beside 430 s of calls in flight", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.record([{ method: "crm.deal.list", time: { operating: 0, operating_reset_at: 600, processing: 1 } }])
      const gate = yield* Deferred.make<void>()
      const starts: Array<number> = []
      const batchOf = (commands: number) => ["batch", ...Array.from({ length: commands }, () => "crm.deal.list")]
      // 0 + 0 in flight + 430 own < 475: goes; then 430 in flight + 50 own >= 475: waits
      const first = yield* limiter.withPermit(batchOf(430), Effect.zipRight(noteStart(starts, 0), Deferred.await(gate))).pipe(Effect.fork)
      const second = yield* limiter.withPermit(batchOf(50), noteStart(starts, 1)).pipe(Effect.fork)
      // a batch of 44 fits: 430 + 44 = 474 < 475
      const third = yield* limiter.withPermit(batchOf(44), noteStart(starts, 2)).pipe(Effect.fork)
      yield* TestClock.adjust(0)
      expect(starts).toEqual([0, 0])
      yield* Fiber.join(third)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      // the 474 calls ended with no report after them: the second waits for the reset (600 s) + 1 s
      yield* TestClock.adjust("600 seconds")
      expect(starts.length).toBe(2)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(second)
      expect(starts).toEqual([0, 0, 601_000])
    }))

  it.effect("until a call of the method is answered each is priced at 0.2 s: 2,370 unpriced calls in flight hold 10 more", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      const gate = yield* Deferred.make<void>()
      const starts: Array<number> = []
      const labels: Array<number> = []
      const batchOf = (commands: number) => ["batch", ...Array.from({ length: commands }, () => "crm.deal.add")]
      // nothing in use: a batch goes whatever its estimate
      const fibers = yield* Effect.forEach([2370, 10, 1], (commands, index) =>
        limiter.withPermit(batchOf(commands), Effect.zipRight(noteStart(starts, index, labels), Deferred.await(gate))).pipe(Effect.fork)
      )
      yield* TestClock.adjust(0)
      // 474 s in flight: 10 more (2 s) reach the 475 s threshold and wait, 1 more (0.2 s) stays under it
      expect(labels).toEqual([0, 2])
      yield* limiter.record([{ method: "crm.deal.add", time: { operating: 0, operating_reset_at: 600, processing: 0.001 } }])
      yield* TestClock.adjust(0)
      // the answer's price (1 ms a call) frees the others
      expect(labels).toEqual([0, 2, 1])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.joinAll(fibers)
    }))

  it.effect("answers out of order: until the reset, a smaller total reported later does not replace a larger one", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.record([{ method: "crm.deal.list", time: { operating: 400, operating_reset_at: 600, processing: 1 } }])
      // an answer to a request that ran earlier, with the total of then
      yield* limiter.record([{ method: "crm.deal.list", time: { operating: 300, operating_reset_at: 600, processing: 1 } }])
      const calls = (count: number) => Array.from({ length: count }, () => "crm.deal.list")
      // 400 + 76 >= 475 waits (with 300 it would go); 400 + 74 < 475 goes
      const large = yield* forkOne(limiter, calls(76))
      const small = yield* forkOne(limiter, calls(74))
      expect(large.starts).toEqual([])
      expect(small.starts).toEqual([0])
      // past the reset (600 s + 1 s) a basket may have expired: the next report is taken as it is
      yield* TestClock.adjust("601 seconds")
      yield* limiter.record([{ method: "crm.deal.list", time: { operating: 100, operating_reset_at: 1200, processing: 1 } }])
      yield* TestClock.adjust(0)
      expect(large.starts).toEqual([601_000])
    }))

  it.effect("calls that finished after the total was taken count until a later request's report includes them", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.record([{ method: "crm.deal.list", time: { operating: 400, operating_reset_at: 600, processing: 1 } }])
      const calls = (count: number) => Array.from({ length: count }, () => "crm.deal.list")
      // 40 calls run and end; the portal billed them, but no report has them yet
      const starts: Array<number> = []
      yield* limiter.withPermit(calls(40), noteStart(starts))
      expect(starts).toEqual([0])
      // 400 + 40 finished + 40 own = 480 >= 475: waits (without them, 440 would go)
      const next = yield* forkOne(limiter, calls(40))
      yield* TestClock.adjust(0)
      expect(next.starts).toEqual([])
      // a request admitted after they finished reports a total that includes them: 420 + 40 own < 475
      yield* limiter.withPermit(
        calls(1),
        limiter.record([{ method: "crm.deal.list", time: { operating: 420, operating_reset_at: 600, processing: 1 } }])
      )
      yield* TestClock.adjust(0)
      expect(next.starts).toEqual([0])
    }))

  it.effect("without `operating` a local window of the calls' own times paces the method", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      // Six calls of 60 s, ten seconds apart: 360 s >= 480 - 2 × 60 s.
      for (let i = 0; i < 6; i++) {
        yield* limiter.record([{ method: "tasks.task.list", time: { processing: 60, duration: 61 } }])
        yield* TestClock.adjust("10 seconds")
      }
      const tasks = yield* forkOne(limiter, ["tasks.task.list"])
      const other = yield* forkOne(limiter, ["crm.lead.list"])
      expect(other.starts).toEqual([60_000])
      expect(tasks.starts).toEqual([])
      // The oldest call (t = 0) leaves the window at 600 s: 300 s remain, and with its own 60 s the call would
      // reach the 360 s threshold. The second (t = 10 s) leaves at 610 s: 240 s + 60 s stay under it.
      yield* TestClock.adjust(549_999)
      expect(tasks.starts).toEqual([])
      yield* TestClock.adjust(1)
      expect(tasks.starts).toEqual([610_000])
    }))

  it.effect("runs of 0.1 s or less do not fill the local window, and the outer batch is not counted", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.record(
        Array.from({ length: 6000 }, () => ({ method: "crm.lead.get", time: { processing: 0.1 } }))
      )
      yield* limiter.record(Array.from({ length: 20 }, () => ({ method: "batch", time: { duration: 30 } })))
      const lead = yield* forkOne(limiter, ["batch", "crm.lead.get"])
      expect(lead.starts).toEqual([0])
    }))

  it.effect("a wait is logged at debug level with the method and the wait", () =>
    Effect.gen(function* () {
      const logged: Array<{ readonly message: unknown; readonly annotations: Record<string, unknown> }> = []
      const capture = Logger.make(({ annotations, message }) => {
        logged.push({ message, annotations: Object.fromEntries(annotations) })
      })
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.feedback({ _tag: "MethodBlocked", method: "crm.lead.list", resetAtMs: 5_000 })
      const lead = yield* limiter
        .withPermit(["crm.lead.list"], Effect.void)
        .pipe(
          Logger.withMinimumLogLevel(LogLevel.Debug),
          Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
          Effect.fork
        )
      yield* TestClock.adjust("6 seconds")
      yield* Fiber.join(lead)
      const wait = logged.find((entry) => String(entry.message).includes("operating budget"))
      expect(wait?.annotations).toMatchObject({ method: "crm.lead.list", reason: "blocked", waitMs: 6_000 })
    }))

  it.effect("MethodBlocked holds only that method until resetAtMs + 1 s", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.feedback({ _tag: "MethodBlocked", method: "crm.lead.list", resetAtMs: 60_000 })
      const lead = yield* forkOne(limiter, ["crm.lead.list"])
      const deal = yield* forkOne(limiter, ["crm.deal.list"])
      expect(deal.starts).toEqual([0])
      yield* TestClock.adjust(60_999)
      expect(lead.starts).toEqual([])
      yield* TestClock.adjust(1)
      expect(lead.starts).toEqual([61_000])
      expect((yield* limiter.stats).methodBlocks).toBe(1)
    }))

  it.effect("MethodBlocked without a reset time uses the last known operating_reset_at, at least 10 s", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.record([{ method: "known.list", time: { operating: 200, operating_reset_at: 120 } }])
      yield* limiter.feedback({ _tag: "MethodBlocked", method: "known.list" })
      yield* limiter.feedback({ _tag: "MethodBlocked", method: "unknown.list" })
      const known = yield* forkOne(limiter, ["known.list"])
      const unknown = yield* forkOne(limiter, ["unknown.list"])
      yield* TestClock.adjust(10_999)
      expect(unknown.starts).toEqual([])
      yield* TestClock.adjust(1)
      expect(unknown.starts).toEqual([11_000])
      expect(known.starts).toEqual([])
      yield* TestClock.adjust(110_000)
      expect(known.starts).toEqual([121_000])
    }))

  it.effect("a block applies to a request already waiting for the method", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      yield* limiter.record([{ method: "crm.lead.list", time: { operating: 478, operating_reset_at: 30 } }])
      const lead = yield* forkOne(limiter, ["crm.lead.list"])
      yield* limiter.feedback({ _tag: "MethodBlocked", method: "crm.lead.list", resetAtMs: 90_000 })
      yield* TestClock.adjust("31 seconds")
      expect(lead.starts).toEqual([])
      yield* TestClock.adjust("60 seconds")
      expect(lead.starts).toEqual([91_000])
    }))
})

describe("RateLimiter adaptive concurrency", () => {
  it.effect("the ceiling halves on Throttled/ServerError at most once a second and grows back on Success", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      const ceiling = Effect.map(limiter.stats, (stats) => stats.concurrencyCeiling)
      expect(yield* ceiling).toBe(50)
      yield* limiter.feedback({ _tag: "ServerError" })
      expect(yield* ceiling).toBe(25)
      yield* limiter.feedback({ _tag: "ServerError" })
      expect(yield* ceiling).toBe(25)
      yield* TestClock.adjust("1 second")
      yield* limiter.feedback({ _tag: "Throttled" })
      expect(yield* ceiling).toBe(12)
      yield* Effect.repeatN(limiter.feedback({ _tag: "Success" }), 2)
      expect(yield* ceiling).toBe(15)
      yield* Effect.repeatN(limiter.feedback({ _tag: "Success" }), 100)
      expect(yield* ceiling).toBe(50)
      for (let i = 0; i < 10; i++) {
        yield* TestClock.adjust("1 second")
        yield* limiter.feedback({ _tag: "ServerError" })
      }
      expect(yield* ceiling).toBe(1)
      const stats = yield* limiter.stats
      expect(stats.serverErrors).toBe(12)
    }))

  it.effect("maxConcurrent raises the upper bound; the ceiling starts at the pool size", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard", maxConcurrent: 80 })
      expect((yield* limiter.stats).concurrencyCeiling).toBe(50)
      yield* Effect.repeatN(limiter.feedback({ _tag: "Success" }), 100)
      expect((yield* limiter.stats).concurrencyCeiling).toBe(80)
    }))

  it.effect("requests in flight never exceed the ceiling, also after it shrinks", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "off", maxConcurrent: 10 })
      let inFlight = 0
      const observed: Array<{ readonly inFlight: number; readonly ceiling: number; readonly atMs: number }> = []
      const request = Effect.gen(function* () {
        inFlight++
        const stats = yield* limiter.stats
        observed.push({ inFlight, ceiling: stats.concurrencyCeiling, atMs: yield* Clock.currentTimeMillis })
        yield* Effect.sleep("1 second")
        inFlight--
      })
      const fiber = yield* Effect.forEach(Array.from({ length: 40 }), () => limiter.withPermit(["a.b"], request), {
        concurrency: "unbounded",
        discard: true
      }).pipe(Effect.fork)
      yield* TestClock.adjust(0)
      expect(observed.length).toBe(10)
      yield* limiter.feedback({ _tag: "ServerError" })
      yield* TestClock.adjust("1 second")
      expect(observed.length).toBe(15)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect(observed.length).toBe(40)
      expect(observed.every((entry) => entry.inFlight <= entry.ceiling)).toBe(true)
      expect(Math.max(...observed.filter((entry) => entry.atMs > 0).map((entry) => entry.inFlight))).toBe(5)
    }))

  it.effect("an interrupted waiter gives its place back", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "off", maxConcurrent: 1 })
      const gate = yield* Deferred.make<void>()
      const holder = yield* limiter.withPermit(["a.b"], Deferred.await(gate)).pipe(Effect.fork)
      yield* TestClock.adjust(0)
      const waiters = yield* Effect.forEach(Array.from({ length: 5 }), () =>
        limiter.withPermit(["a.b"], Effect.void).pipe(Effect.fork)
      )
      yield* TestClock.adjust(0)
      yield* Fiber.interruptAll(waiters)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      const after = yield* forkOne(limiter, ["a.b"])
      expect(after.starts).toEqual([0])
      expect((yield* limiter.stats).inFlight).toBe(0)
    }))
})

describe("RateLimiter slow", () => {
  /** Five one-second requests at once; returns each one's start and end. */
  const fiveRequests = (limiter: RateLimiter.Service) =>
    Effect.forEach(
      Array.from({ length: 5 }),
      () =>
        limiter.withPermit(
          ["crm.lead.list"],
          Effect.gen(function* () {
            const startMs = yield* Clock.currentTimeMillis
            yield* Effect.sleep("1 second")
            return startMs
          })
        ),
      { concurrency: "unbounded" }
    )

  it.effect("slow({ maxConcurrent: 1 }) serialises its own requests only", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      const inside = yield* fiveRequests(limiter).pipe(RateLimiter.slow({ maxConcurrent: 1 }), Effect.fork)
      const outside = yield* fiveRequests(limiter).pipe(Effect.fork)
      yield* TestClock.adjust("5 seconds")
      expect(yield* Fiber.join(outside)).toEqual([0, 0, 0, 0, 0])
      expect(yield* Fiber.join(inside)).toEqual([0, 1000, 2000, 3000, 4000])
    }))

  it.effect("slow({ requestsPerSecond: 1 }) paces starts to one per second", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      const starts: Array<number> = []
      const fiber = yield* Effect.forEach(
        Array.from({ length: 5 }),
        () => limiter.withPermit(["crm.lead.list"], noteStart(starts)),
        { concurrency: "unbounded", discard: true }
      ).pipe(RateLimiter.slow({ requestsPerSecond: 1 }), Effect.fork)
      yield* TestClock.adjust("4 seconds")
      yield* Fiber.join(fiber)
      expect(starts).toEqual([0, 1000, 2000, 3000, 4000])
    }))

  it.effect("two concurrent slow programs keep their own settings", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "standard" })
      const paced: Array<number> = []
      const pacedProgram = Effect.forEach(
        Array.from({ length: 4 }),
        () => limiter.withPermit(["crm.deal.list"], noteStart(paced)),
        { concurrency: "unbounded", discard: true }
      ).pipe(RateLimiter.slow({ requestsPerSecond: 2 }))
      const pairs = fiveRequests(limiter).pipe(RateLimiter.slow({ maxConcurrent: 2 }))
      const fibers = yield* Effect.all([pacedProgram, pairs, fiveRequests(limiter)], { concurrency: "unbounded" }).pipe(
        Effect.fork
      )
      yield* TestClock.adjust("3 seconds")
      const [, pairStarts, freeStarts] = yield* Fiber.join(fibers)
      expect(paced).toEqual([0, 500, 1000, 1500])
      expect(pairStarts).toEqual([0, 0, 1000, 1000, 2000])
      expect(freeStarts).toEqual([0, 0, 0, 0, 0])
    }))

  it.effect("nested slow programs apply both limits; the reference is empty outside", () =>
    Effect.gen(function* () {
      const limiter = yield* makeLimiter({ limits: "off" })
      const inner = fiveRequests(limiter).pipe(
        RateLimiter.slow({ maxConcurrent: 3 }),
        RateLimiter.slow({ maxConcurrent: 2 }),
        Effect.fork
      )
      const fiber = yield* inner
      yield* TestClock.adjust("3 seconds")
      expect(yield* Fiber.join(fiber)).toEqual([0, 0, 1000, 1000, 2000])
      expect(yield* RateLimiter.SlowOverride).toEqual([])
    }))
})

describe("RateLimiter layers", () => {
  it.effect("layerWithStore takes the store from outside", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.RateLimiter
      expect(yield* limiter.withPermit(["a.b"], Effect.succeed("ok"))).toBe("ok")
    }).pipe(
      Effect.provide(
        RateLimiter.layerWithStore({ limits: "enterprise" }).pipe(Layer.provide(RateLimiter.layerStoreMemory))
      )
    ))
})
