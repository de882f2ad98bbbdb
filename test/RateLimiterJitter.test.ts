/**
 * "0 × 503 for one client under any concurrency", with the arrival jitter a real network and event loops add: the
 * in-process fake portal delays each request by a seeded random amount before its leaky bucket counts it (and
 * answers after that), all on TestClock, so the runs repeat exactly and do not depend on the machine's speed.
 *
 * Two guards are under test: the arithmetic on starts (it allows for arrivals up to `arrivalJitterMs` apart) and the
 * gate on answers (a request counts as undrained until its answer came, which holds for stalls of any length).
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, TestClock } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import { makeService } from "../src/internal/limiter.js"
import { makeMemoryStore } from "../src/internal/limiterStore.js"
import { makeArrivalDelays } from "../src/testing/internal/engineLimits.js"

/** Standard plan: 50 requests at once, then 2 per second. */
const pool = 50
const rate = 2

interface Run {
  readonly rejected503: number
  readonly httpRequests: number
  readonly seconds: number
}

/** A limiter with the arithmetic on starts alone, without the gate on answers. */
const startsOnly = (options: RateLimiter.Options) =>
  Layer.effect(RateLimiter.RateLimiter, makeService(options, makeMemoryStore(), { answers: false }))

/**
 * `calls` concurrent single `user.current` calls through the client's default services (`limiter` replaces its
 * limiter when given) against a standard portal whose arrivals are late by up to `maxMs`.
 */
const concurrentCalls = (
  calls: number,
  jitter: { readonly maxMs: number; readonly seed: number },
  options: Bitrix.ServiceOptions,
  limiter?: Layer.Layer<RateLimiter.RateLimiter>
) =>
  Effect.gen(function* () {
    const portal = yield* FakePortal.FakePortal
    const startedMs = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.forEach(
      Array.from({ length: calls }, (_, index) => index),
      () => Bitrix.call("user.current", {}),
      { concurrency: "unbounded", discard: true }
    ).pipe(Effect.fork)
    // Each call waits its turn in the bucket: at 2 per second they end well within calls / 2 + 60 s
    for (let step = 0; step < calls / rate + 60 && fiber.unsafePoll() === null; step++) yield* TestClock.adjust("1 second")
    yield* Fiber.join(fiber)
    const stats = yield* portal.stats
    return {
      rejected503: stats.rejected503,
      httpRequests: stats.httpRequests,
      seconds: ((yield* Clock.currentTimeMillis) - startedMs) / 1000
    } satisfies Run
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        Bitrix.layerServices(options),
        ...(limiter === undefined ? [] : [limiter]),
        // Zero server time: the answers add no sleeps of their own, so TestClock has less to step through
        FakePortal.layer({ limits: "standard", costModel: "zero", arrivalJitter: jitter })
      )
    )
  )

/** The fewest seconds any client needs for `calls` calls: the pool at once, the rest at the drain rate. */
const bucketBoundSeconds = (calls: number) => (calls - pool) / rate

/** Freezes of up to 2 s: beyond what the default headroom alone absorbs (2 slots = 1 s of drain). */
const twoSeconds = { maxMs: 2000, seed: 1 }
/** Freezes of up to 1 s, against a client with no headroom. */
const oneSecond = { maxMs: 1000, seed: 3 }
/** Stalls of up to 8 s: far beyond the allowance and the headroom together. */
const eightSeconds = { maxMs: 8000, seed: 5 }

describe("arrival jitter", () => {
  it("the fake portal's freezes delay requests by 0..maxMs, bunch them, and repeat for a seed", () => {
    const delays = (seed: number) => {
      const delayOf = makeArrivalDelays({ maxMs: 2000, seed }, 1)!
      return Array.from({ length: 4000 }, (_, index) => delayOf(index * 25))
    }
    const first = delays(1)
    expect(delays(1)).toEqual(first)
    expect(delays(2)).not.toEqual(first)
    expect(first.every((delay) => delay >= 0 && delay <= 2000)).toBe(true)
    // Within a freeze everything arrives at its end: arrival times repeat, and the first request is held
    const arrivals = first.map((delay, index) => index * 25 + delay)
    expect(new Set(arrivals).size).toBeLessThan(arrivals.length * 0.9)
    expect(first[0]).toBeGreaterThan(0)
    expect(makeArrivalDelays(undefined, 1)).toBeUndefined()
  })

  it.effect(
    "2,000 concurrent calls with the default options meet no 503 when arrivals are up to 2 s late, at the bucket's pace",
    () =>
      Effect.gen(function* () {
        // The default headroom (2 slots = 1 s of drain) and the default allowance (arrivalJitterMs 1 s) cover 2 s
        const run = yield* concurrentCalls(2000, twoSeconds, {})
        expect(run.rejected503).toBe(0)
        expect(run.httpRequests).toBe(2000)
        // The cost over the bound: the headroom (1 s), the allowance once (1 s), the last arrival's delay (<= 2 s)
        expect(run.seconds).toBeGreaterThanOrEqual(bucketBoundSeconds(2000))
        expect(run.seconds).toBeLessThanOrEqual(bucketBoundSeconds(2000) + 5)
      }),
    300_000
  )

  it.effect(
    "with no headroom and no gate on answers, the arithmetic on starts alone covers arrivals up to arrivalJitterMs late",
    () =>
      Effect.gen(function* () {
        const run = yield* concurrentCalls(400, oneSecond, {}, startsOnly({ limits: "standard", bucketHeadroom: 0 }))
        expect(run.rejected503).toBe(0)
        expect(run.httpRequests).toBe(400)
      }),
    300_000
  )

  it.effect(
    "stalls of up to 8 s, beyond any allowance: the default client meets no 503, since no request counts as drained before its answer",
    () =>
      Effect.gen(function* () {
        const run = yield* concurrentCalls(400, eightSeconds, {})
        expect(run.rejected503).toBe(0)
        expect(run.httpRequests).toBe(400)
        expect(run.seconds).toBeGreaterThanOrEqual(bucketBoundSeconds(400))
      }),
    300_000
  )

  it.effect(
    "the gate on answers alone (no allowance, no headroom) also meets no 503 under 1 s freezes",
    () =>
      Effect.gen(function* () {
        const run = yield* concurrentCalls(
          400,
          oneSecond,
          {},
          RateLimiter.layer({ limits: "standard", bucketHeadroom: 0, arrivalJitterMs: 0 })
        )
        expect(run.rejected503).toBe(0)
        expect(run.httpRequests).toBe(400)
      }),
    300_000
  )

  it.effect(
    "control: without the gate on answers, the same freezes defeat a limiter that allows for less jitter than they add, so the runs above test something",
    () =>
      Effect.gen(function* () {
        const withHeadroom = yield* concurrentCalls(
          400,
          twoSeconds,
          {},
          startsOnly({ limits: "standard", bucketHeadroom: 2, arrivalJitterMs: 0 })
        )
        expect(withHeadroom.rejected503).toBeGreaterThan(0)
        const bare = yield* concurrentCalls(
          400,
          oneSecond,
          {},
          startsOnly({ limits: "standard", bucketHeadroom: 0, arrivalJitterMs: 0 })
        )
        expect(bare.rejected503).toBeGreaterThan(0)
        // The default allowance and headroom (1 s and 2 slots) do not cover stalls of 8 s
        const defaults = yield* concurrentCalls(400, eightSeconds, {}, startsOnly({ limits: "standard", bucketHeadroom: 2 }))
        expect(defaults.rejected503).toBeGreaterThan(0)
      }),
    300_000
  )
})
