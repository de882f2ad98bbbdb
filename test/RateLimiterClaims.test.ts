/**
 * The limiter's `claim`: planners that share a limiter (or a store) see each other's planned starts, their own starts
 * use up their claims, claims lapse and are released with the planner's scope, and nothing about when a request may
 * start changes. On the TestClock; the expected numbers follow from the bucket's arithmetic (standard limits less the
 * default headroom of 2: 48 starts, 2 a second, no arrival jitter unless a test sets it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, TestClock } from "effect"
import { RateLimiterStoreError } from "../src/BitrixError.js"
import { BucketClaimant, defaultClaimTtlMs } from "../src/internal/limiterClaims.js"
import { makeClaimant } from "../src/internal/list/ranges.js"
import * as RateLimiter from "../src/RateLimiter.js"

const limits = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }

/** Two limiters over one memory store (two processes sharing a store), or the same one twice. */
const twoLimiters = (shared: "store" | "limiter", bucketHeadroom = 2) =>
  Effect.gen(function* () {
    const store = yield* RateLimiter.RateLimiterStore
    const first = yield* RateLimiter.make({ limits, bucketHeadroom, arrivalJitterMs: 0 })
    const second = shared === "limiter" ? first : yield* RateLimiter.make({ limits, bucketHeadroom, arrivalJitterMs: 0 })
    return { store, first, second }
  }).pipe(Effect.provide(RateLimiter.layerStoreMemory))

/** Runs `effect` as the planner `claimant`. */
const as = (claimant: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, BucketClaimant, claimant)

/** `count` requests through `limiter` at once, each noting when it started; waits for all of them. */
const burst = (limiter: RateLimiter.Service, count: number) =>
  Effect.gen(function* () {
    const starts: Array<number> = []
    const fiber = yield* Effect.forEach(
      Array.from({ length: count }),
      () => limiter.withPermit(["crm.deal.list"], Effect.flatMap(Clock.currentTimeMillis, (nowMs) => Effect.sync(() => starts.push(nowMs)))),
      { concurrency: "unbounded", discard: true }
    ).pipe(Effect.fork)
    return { starts, fiber }
  })

describe("RateLimiter claims", () => {
  for (const shared of ["limiter", "store"] as const) {
    it.effect(`two planners claiming at the same moment get disjoint claims within the free starts (one ${shared})`, () =>
      Effect.gen(function* () {
        const { first, second } = yield* twoLimiters(shared)
        // 10 starts of nobody's: 38 free
        yield* Fiber.join((yield* burst(first, 10)).fiber)
        const [a, b] = yield* Effect.all([as("a")(first.claim(Infinity)), as("b")(second.claim(Infinity))], { concurrency: 2 })
        expect(a.freeStarts + b.freeStarts).toBe(38)
        expect(Math.min(a.freeStarts, b.freeStarts)).toBe(0)
        // each planner's capacity leaves out its own claim and counts the other's
        const holder = a.freeStarts > 0 ? "a" : "b"
        const other = holder === "a" ? "b" : "a"
        expect((yield* as(holder)(first.capacity)).freeStarts).toBe(38)
        expect((yield* as(other)(second.capacity)).freeStarts).toBe(0)
        // a reader that is no planner sees every claim
        expect((yield* first.capacity).freeStarts).toBe(0)
        // asked for fewer, a planner gets what it asked: 38 − 10 stay free for the other
        expect((yield* as(holder)(first.claim(10))).freeStarts).toBe(10)
        expect((yield* as(other)(second.claim(100))).freeStarts).toBe(28)
        expect((yield* first.capacity).freeStarts).toBe(0)
        // requestsPerSecond and the ceiling are capacity's
        expect((yield* as(holder)(first.claim(3))).requestsPerSecond).toBe(2)
      })
    )
  }

  it.effect("a planner its own process's flights leave no start stays a planner to the others: its claim of nothing is no release", () =>
    Effect.gen(function* () {
      // no headroom, so that 50 of the first limiter's requests fill the bucket and its flights alike
      const { first, second } = yield* twoLimiters("store", 0)
      expect((yield* as("a")(first.claim(5))).freeStarts).toBe(5)
      expect((yield* as("b")(second.claim(1))).otherPlanners).toBe(1)
      yield* Fiber.join((yield* burst(first, 50)).fiber)
      // A plans again: its flights hold the whole pool, so it gets nothing, and it is still there for B
      expect((yield* as("a")(first.claim(5))).freeStarts).toBe(0)
      const seenByB = yield* as("b")(second.claim(1))
      expect(seenByB.freeStarts).toBe(0)
      expect(seenByB.otherPlanners).toBe(1)
      // a claim of 0 is still a release
      yield* as("a")(first.claim(0))
      expect((yield* as("b")(second.claim(1))).otherPlanners).toBe(0)
    })
  )

  it.effect("a claim lapses after its lifetime", () =>
    Effect.gen(function* () {
      const { first, second } = yield* twoLimiters("store")
      expect((yield* as("a")(first.claim(20))).freeStarts).toBe(20)
      yield* TestClock.adjust(defaultClaimTtlMs - 1)
      expect((yield* second.capacity).freeStarts).toBe(48 - 20)
      yield* TestClock.adjust(1)
      expect((yield* second.capacity).freeStarts).toBe(48)
    })
  )

  it.effect("a claim is used up by the claimant's own starts, not by others'", () =>
    Effect.gen(function* () {
      const { first, second } = yield* twoLimiters("store")
      expect((yield* as("a")(first.claim(10))).freeStarts).toBe(10)
      // four of A's requests: they took 4 of its claimed starts, so B sees 48 − 4 − 6 as before
      yield* Fiber.join((yield* as("a")(burst(first, 4))).fiber)
      expect((yield* as("b")(second.capacity)).freeStarts).toBe(38)
      expect((yield* as("a")(first.capacity)).freeStarts).toBe(44)
      // two requests of no planner's: 2 starts more, A's 6 claimed untouched
      yield* Fiber.join((yield* burst(second, 2)).fiber)
      expect((yield* as("b")(second.capacity)).freeStarts).toBe(36)
      // eight more of A's: 6 use the claim, 2 are plain starts
      yield* Fiber.join((yield* as("a")(burst(first, 8))).fiber)
      expect((yield* as("b")(second.capacity)).freeStarts).toBe(48 - 14)
      expect((yield* as("a")(first.capacity)).freeStarts).toBe(48 - 14)
    })
  )

  it.effect("makeClaimant releases the claim when the planner's scope closes", () =>
    Effect.gen(function* () {
      const { first } = yield* twoLimiters("limiter")
      const planned = yield* Effect.scoped(
        Effect.gen(function* () {
          const claimant = yield* makeClaimant
          const granted = (yield* as(claimant)(first.claim(30))).freeStarts
          const seen = (yield* first.capacity).freeStarts
          return { granted, seen }
        })
      ).pipe(Effect.provideService(RateLimiter.RateLimiter, first))
      expect(planned).toEqual({ granted: 30, seen: 18 })
      expect((yield* first.capacity).freeStarts).toBe(48)
    })
  )

  it.effect("claims never hold a request back nor let one through: the starts are the bucket's alone", () =>
    Effect.gen(function* () {
      const { first, second } = yield* twoLimiters("store")
      // A claims the whole pool; 50 requests of B's still go as the bucket lets them: 48 at once, then 1 per 500 ms
      expect((yield* as("a")(first.claim(Infinity))).freeStarts).toBe(48)
      const { fiber, starts } = yield* as("b")(burst(second, 50))
      yield* TestClock.adjust(0)
      expect(starts.length).toBe(48)
      yield* TestClock.adjust(499)
      expect(starts.length).toBe(48)
      yield* TestClock.adjust(1)
      expect(starts.length).toBe(49)
      yield* TestClock.adjust(500)
      yield* Fiber.join(fiber)
      expect(starts.length).toBe(50)
      // A's requests now wait for the bucket like anyone's: its claim gives no start of its own
      const late = yield* as("a")(burst(first, 1))
      yield* TestClock.adjust(499)
      expect(late.starts.length).toBe(0)
      yield* TestClock.adjust(1)
      yield* Fiber.join(late.fiber)
      expect(late.starts).toEqual([1500])
    })
  )

  it.effect("with the limits off every start is free, and a claim records nothing", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.make({ limits: "off" }).pipe(Effect.provide(RateLimiter.layerStoreMemory))
      expect((yield* as("a")(limiter.claim(5))).freeStarts).toBe(Infinity)
      expect((yield* limiter.capacity).freeStarts).toBe(Infinity)
    })
  )

  it.effect("a claim outside any planner records nothing and reports the free starts, at most those asked", () =>
    Effect.gen(function* () {
      const { first, second } = yield* twoLimiters("store")
      expect((yield* first.claim(5)).freeStarts).toBe(5)
      expect((yield* second.capacity).freeStarts).toBe(48)
    })
  )

  it.effect("a store that fails grants nothing", () =>
    Effect.gen(function* () {
      const failing = Layer.succeed(RateLimiter.RateLimiterStore, {
        ...(yield* Effect.provide(RateLimiter.RateLimiterStore, RateLimiter.layerStoreMemory)),
        claimBucketStarts: () => Effect.fail(new RateLimiterStoreError({ store: "redis", operation: "claimBucketStarts", detail: "down" }))
      })
      const limiter = yield* RateLimiter.make({ limits }).pipe(Effect.provide(failing))
      expect((yield* as("a")(limiter.claim(10))).freeStarts).toBe(0)
    })
  )
})
