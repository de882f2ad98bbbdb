/**
 * "0 × 503 for one client under any concurrency", with the arrival jitter a real network and event loops add: the
 * in-process fake portal delays each request by a seeded random amount before its leaky bucket counts it, all on
 * TestClock, so the runs repeat exactly and do not depend on the machine's speed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, TestClock } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import { makeArrivalDelays } from "../src/testing/internal/engineLimits.js"

/** Standard plan: 50 requests at once, then 2 per second. */
const pool = 50
const rate = 2

interface Run {
  readonly rejected503: number
  readonly httpRequests: number
  readonly seconds: number
}

/**
 * `calls` concurrent single `user.current` calls through the client's default services (`limiter` replaces its
 * limiter when given) against a standard portal whose arrivals are late by up to `maxMs`.
 */
const concurrentCalls = (
  calls: number,
  jitter: { readonly maxMs: number; readonly seed: number },
  options: Bitrix.ServiceOptions,
  limiter?: RateLimiter.Options
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
        ...(limiter === undefined ? [] : [RateLimiter.layer(limiter)]),
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
    "with no headroom the allowance alone covers arrivals up to arrivalJitterMs late",
    () =>
      Effect.gen(function* () {
        const run = yield* concurrentCalls(400, oneSecond, { bucketHeadroom: 0 })
        expect(run.rejected503).toBe(0)
        expect(run.httpRequests).toBe(400)
      }),
    300_000
  )

  it.effect(
    "control: the same freezes defeat a limiter that allows for no jitter (the arithmetic before), so the runs above test something",
    () =>
      Effect.gen(function* () {
        const withHeadroom = yield* concurrentCalls(400, twoSeconds, {}, { limits: "standard", bucketHeadroom: 2, arrivalJitterMs: 0 })
        expect(withHeadroom.rejected503).toBeGreaterThan(0)
        const bare = yield* concurrentCalls(400, oneSecond, {}, { limits: "standard", bucketHeadroom: 0, arrivalJitterMs: 0 })
        expect(bare.rejected503).toBeGreaterThan(0)
      }),
    300_000
  )
})
