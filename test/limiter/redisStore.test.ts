/**
 * The Redis limiter store against a real redis-server (test/support/redis.ts: REDIS_URL, else one started here; a
 * missing binary fails loudly). The in-memory store, i.e. the pure functions of limiterBucket.ts and
 * limiterOperating.ts, is the oracle: the same operations on the same inputs must give the same answers.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Stream } from "effect"
import { Redis } from "ioredis"
import * as Bucket from "../../src/internal/limiterBucket.js"
import { makeMemoryStore } from "../../src/internal/limiterStore.js"
import * as Bitrix from "../../src/Bitrix.js"
import { RateLimiterStoreError } from "../../src/BitrixError.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import { startFakePortal } from "../../src/testing/index.js"
import { type RunningRedis, startRedis, startRedisServer } from "../support/redis.js"

let redis: RunningRedis
let raw: Redis

beforeAll(async () => {
  redis = await startRedis()
  raw = new Redis(redis.url)
}, 30_000)

afterAll(async () => {
  raw?.disconnect()
  await redis?.stop()
})

let prefixes = 0
const freshPrefix = () => `test-${process.pid}-${++prefixes}:`

/** A store over the test's Redis, run in a scope of its own. */
const withRedisStore = <A, E>(
  options: RateLimiter.RedisStoreOptions,
  use: (store: RateLimiter.StoreService) => Effect.Effect<A, E>
) =>
  Effect.scoped(
    Effect.flatMap(Layer.build(RateLimiter.layerStoreRedis({ url: redis.url, ...options })), (context) =>
      use(context.unsafeMap.get(RateLimiter.RateLimiterStore.key) as RateLimiter.StoreService)
    )
  )

/** A deterministic generator (mulberry32), so a failing sequence repeats. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const shapes: ReadonlyArray<Bucket.BucketShape> = [
  { poolSize: 50, requestsPerSecond: 2, arrivalJitterMs: 1000 },
  { poolSize: 5, requestsPerSecond: 3, arrivalJitterMs: 0 },
  { poolSize: 7.5, requestsPerSecond: 7, arrivalJitterMs: 333 }
]

describe("Redis limiter store: the Lua scripts against the pure functions", () => {
  it.effect("bucket: reserve, level and fill give the in-memory store's answers, step by step", () =>
    withRedisStore({ prefix: freshPrefix(), clock: "caller" }, (store) =>
      Effect.gen(function* () {
        const memory = makeMemoryStore()
        for (const [shapeIndex, bucket] of shapes.entries()) {
          const next = random(shapeIndex + 1)
          let nowMs = 1_700_000_000_000 + shapeIndex
          const key = `bucket:portal${shapeIndex}:default`
          for (let step = 0; step < 300; step++) {
            nowMs += Math.floor(next() * 700)
            const pick = next()
            const options = { key, bucket, nowMs }
            if (pick < 0.6) {
              expect(yield* store.reserveBucketStart(options)).toBe(yield* memory.reserveBucketStart(options))
            } else if (pick < 0.95) {
              expect(yield* store.bucketLevel(options)).toBe(yield* memory.bucketLevel(options))
            } else {
              yield* store.fillBucket(options)
              yield* memory.fillBucket(options)
              expect(yield* store.bucketLevel(options)).toBe(yield* memory.bucketLevel(options))
            }
          }
        }
      })
    )
  )

  it.effect("operating: record, block and budgets give the in-memory store's answers, step by step", () =>
    withRedisStore({ prefix: freshPrefix(), clock: "caller" }, (store) =>
      Effect.gen(function* () {
        const memory = makeMemoryStore()
        const next = random(42)
        const key = "operating:portal:webhook-0123456789abcdef"
        const methods = ["crm.deal.list", "batch", "crm.contact.get"]
        const shape = { limitSeconds: 480, windowMs: 60_000 }
        let nowMs = 1_700_000_000_000
        for (let step = 0; step < 400; step++) {
          nowMs += Math.floor(next() * 2000)
          const pick = next()
          const method = methods[Math.floor(next() * methods.length)]!
          if (pick < 0.55) {
            const entries = Array.from({ length: 1 + Math.floor(next() * 3) }, () => ({
              method: methods[Math.floor(next() * methods.length)]!,
              time: {
                ...(next() < 0.7 ? { operating: Math.round(next() * 5000) / 10 } : {}),
                ...(next() < 0.5 ? { operating_reset_at: Math.floor(nowMs / 1000) + Math.floor(next() * 600) } : {}),
                ...(next() < 0.7 ? { processing: next() * 0.5 } : {}),
                ...(next() < 0.5 ? { duration: next() } : {})
              }
            }))
            yield* store.recordOperating({ key, shape, nowMs, entries })
            yield* memory.recordOperating({ key, shape, nowMs, entries })
          } else if (pick < 0.65) {
            const block = { key, method, untilMs: nowMs + Math.floor(next() * 30_000), nowMs }
            yield* store.blockMethod(block)
            yield* memory.blockMethod(block)
          } else {
            const query = { key, methods: [method, "batch"], nowMs, windowMs: shape.windowMs }
            expect(yield* store.methodBudgets(query)).toEqual(yield* memory.methodBudgets(query))
          }
        }
      })
    )
  )

  it.effect("atomic under concurrent callers: 200 reservations from 4 connections at one instant get the delays of 200 in a row", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const bucket = { poolSize: 10, requestsPerSecond: 5, arrivalJitterMs: 250 }
      const nowMs = 1_700_000_000_000
      const options = { key: "bucket:concurrent:default", bucket, nowMs }
      // the oracle: the same 200 reservations one after another
      const memory = makeMemoryStore()
      const expected: Array<number> = []
      for (let index = 0; index < 200; index++) expected.push(yield* memory.reserveBucketStart(options))
      const stores = Array.from({ length: 4 }, () => RateLimiter.layerStoreRedis({ url: redis.url, prefix, clock: "caller" }))
      const delays = yield* Effect.scoped(
        Effect.gen(function* () {
          const built = yield* Effect.forEach(stores, Layer.build)
          const all = built.map((context) => context.unsafeMap.get(RateLimiter.RateLimiterStore.key) as RateLimiter.StoreService)
          return yield* Effect.forEach(
            Array.from({ length: 200 }, (_, index) => all[index % 4]!),
            (store) => store.reserveBucketStart(options),
            { concurrency: "unbounded" }
          )
        })
      )
      // a lost update would hand two callers the same slot: the multiset of delays would differ
      expect([...delays].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b))
    })
  )
})

describe("Redis limiter store: clock, keys and expiry", () => {
  it.effect("the clock is Redis TIME: callers whose clocks are years apart share one timeline", () =>
    withRedisStore({ prefix: freshPrefix() }, (store) =>
      Effect.gen(function* () {
        const bucket = { poolSize: 2, requestsPerSecond: 1, arrivalJitterMs: 0 }
        const key = "bucket:skew:default"
        // three callers, one with a clock near 1970, one in 2023, one centuries ahead
        expect(yield* store.reserveBucketStart({ key, bucket, nowMs: 0 })).toBe(0)
        expect(yield* store.reserveBucketStart({ key, bucket, nowMs: 1_700_000_000_000 })).toBe(0)
        // the third start must wait for the first one's drain (1 s after it on Redis's clock); a store on the callers'
        // clocks would have seen the bucket empty at this caller's time and answered 0
        const third = yield* store.reserveBucketStart({ key, bucket, nowMs: 9_000_000_000_000 })
        expect(third).toBeGreaterThan(500)
        expect(third).toBeLessThanOrEqual(1000)
        // budgets come back on the caller's own clock: a spend recorded now reads as "now" for a skewed caller
        const budgetKey = "operating:skew:cred"
        const shape = { limitSeconds: 480, windowMs: 600_000 }
        yield* store.recordOperating({ key: budgetKey, shape, nowMs: 0, entries: [{ method: "crm.deal.list", time: { processing: 2 } }] })
        const skewedNow = 5_000_000_000_000
        const [budget] = yield* store.methodBudgets({ key: budgetKey, methods: ["crm.deal.list"], nowMs: skewedNow, windowMs: shape.windowMs })
        expect(budget!.spends).toHaveLength(1)
        expect(Math.abs(budget!.spends[0]!.atMs - skewedNow)).toBeLessThan(5_000)
        // a block given on a skewed clock lasts its duration on Redis's
        yield* store.blockMethod({ key: budgetKey, method: "crm.deal.list", nowMs: 0, untilMs: 60_000 })
        const [blocked] = yield* store.methodBudgets({ key: budgetKey, methods: ["crm.deal.list"], nowMs: skewedNow, windowMs: shape.windowMs })
        expect(blocked!.blockedUntilMs! - skewedNow).toBeGreaterThan(50_000)
        expect(blocked!.blockedUntilMs! - skewedNow).toBeLessThanOrEqual(60_000)
      })
    )
  )

  it.effect("keys carry the prefix and expire on their own: an idle bucket within a second, a budget after its window", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      yield* withRedisStore({ prefix }, (store) =>
        Effect.gen(function* () {
          // 1000 requests per second and no jitter: the bucket is idle 1 ms after the start
          yield* store.reserveBucketStart({ key: "bucket:fast:default", bucket: { poolSize: 5, requestsPerSecond: 1000, arrivalJitterMs: 0 }, nowMs: 0 })
          yield* store.recordOperating({
            key: "operating:fast:cred",
            shape: { limitSeconds: 480, windowMs: 600_000 },
            nowMs: 0,
            entries: [{ method: "crm.deal.list", time: { operating: 1, processing: 0.5 } }]
          })
        })
      )
      const keys = yield* Effect.promise(() => raw.keys(`${prefix}*`))
      expect(keys.sort()).toEqual([`${prefix}bucket:fast:default`, `${prefix}operating:fast:cred:crm.deal.list`])
      const bucketTtl = yield* Effect.promise(() => raw.pttl(`${prefix}bucket:fast:default`))
      const budgetTtl = yield* Effect.promise(() => raw.pttl(`${prefix}operating:fast:cred:crm.deal.list`))
      // the bucket matters 1 ms, kept at least a second; the budget a window (600 s) plus a second
      expect(bucketTtl).toBeGreaterThan(0)
      expect(bucketTtl).toBeLessThanOrEqual(1001)
      expect(budgetTtl).toBeGreaterThan(590_000)
      expect(budgetTtl).toBeLessThanOrEqual(601_000)
    })
  )

  it.effect("a Redis that is down: the operation fails with RateLimiterStoreError", () =>
    Effect.gen(function* () {
      const own = yield* Effect.promise(() => startRedisServer())
      const exit = yield* Effect.scoped(
        Effect.gen(function* () {
          const context = yield* Layer.build(RateLimiter.layerStoreRedis({ url: own.url, prefix: freshPrefix() }))
          const store = context.unsafeMap.get(RateLimiter.RateLimiterStore.key) as RateLimiter.StoreService
          const bucket = { poolSize: 5, requestsPerSecond: 5, arrivalJitterMs: 0 }
          expect(yield* store.reserveBucketStart({ key: "bucket:down:default", bucket, nowMs: 0 })).toBe(0)
          yield* Effect.promise(() => own.stop())
          return yield* Effect.exit(store.reserveBucketStart({ key: "bucket:down:default", bucket, nowMs: 0 }))
        })
      )
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
        expect(failure).toBeInstanceOf(RateLimiterStoreError)
        expect(failure?.store).toBe("redis")
        expect(failure?.operation).toBe("reserveBucketStart")
      }
    })
  )
})

describe("Redis limiter store under the client", () => {
  it.effect("Bitrix.layerFetch with limiterStore: keys by host and a credential hash, never the webhook code", () =>
    Effect.gen(function* () {
      const portal = yield* Effect.acquireRelease(
        Effect.promise(() => startFakePortal({ seed: { "crm.deal": 300 }, limits: "standard", costModel: "zero" })),
        (running) => Effect.promise(() => running.close())
      )
      const code = new URL(portal.webhookUrl).pathname.split("/").filter((part) => part !== "").pop()!
      const prefix = freshPrefix()
      const store = RateLimiter.layerStoreRedis({ url: redis.url, prefix })
      const rows = yield* Bitrix.stream("crm.deal.list", { select: ["ID"] }).pipe(
        Stream.runCollect,
        Effect.provide(Bitrix.layerFetch({ webhook: portal.webhookUrl, limiterStore: store }))
      )
      expect(rows.length).toBe(300)
      const host = new URL(portal.webhookUrl).host
      const keys = yield* Effect.promise(() => raw.keys(`${prefix}*`))
      expect(keys).toContain(`${prefix}bucket:${host}:default`)
      expect(keys.some((key) => key.startsWith(`${prefix}operating:${host}:webhook-`))).toBe(true)
      expect(code.length).toBeGreaterThan(4)
      for (const key of keys) expect(key).not.toContain(code)
      // nor any value
      for (const key of keys) expect((yield* Effect.promise(() => raw.getBuffer(key)))?.toString("latin1") ?? "").not.toContain(code)
    }).pipe(Effect.scoped)
  )
})
