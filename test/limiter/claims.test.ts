/**
 * Planners' claims on the bucket's free starts (`limiterClaims.ts`), the same cases against every store: memory, a
 * file (two store instances over one file stand for two processes) and Redis (test/support/redis.ts: REDIS_URL, else
 * a redis-server started here), all on the caller's clock so the times are exact. The Redis scripts are also compared
 * with the in-memory store over a random sequence of claims, reservations and reads.
 *
 * The bucket: 48 starts (the standard 50 less the client's headroom), 2 a second, 1 s of arrival jitter; nothing
 * drains within the first second after a start, so the level right after `k` reservations is `k`.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { defaultClaimTtlMs } from "../../src/internal/limiterClaims.js"
import { make as makeFileStore } from "../../src/internal/limiterFile.js"
import { makeMemoryStore } from "../../src/internal/limiterStore.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import { type RunningRedis, startRedis } from "../support/redis.js"

let redis: RunningRedis
const directories: Array<string> = []

beforeAll(async () => {
  redis = await startRedis()
}, 30_000)

afterAll(async () => {
  for (const dir of directories) rmSync(dir, { recursive: true, force: true })
  await redis?.stop()
})

let prefixes = 0

/** Two handles on one store (two processes, for the shared stores), run in a scope of their own. */
type StorePair = readonly [RateLimiter.StoreService, RateLimiter.StoreService]

const withMemory = <A, E>(use: (stores: StorePair) => Effect.Effect<A, E>) => {
  const store = makeMemoryStore()
  return use([store, store])
}

const withFile = <A, E>(use: (stores: StorePair) => Effect.Effect<A, E>) =>
  Effect.suspend(() => {
    const dir = mkdtempSync(join(tmpdir(), "effect-bitrix24-claims-"))
    directories.push(dir)
    const path = join(dir, "limiter.json")
    return use([makeFileStore({ path }), makeFileStore({ path })])
  })

const withRedis = <A, E>(use: (stores: StorePair) => Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const layer = RateLimiter.layerStoreRedis({ url: redis.url, prefix: `claims-${process.pid}-${++prefixes}:`, clock: "caller" })
      const first = yield* Layer.build(layer)
      const second = yield* Layer.build(layer)
      const storeOf = (context: typeof first) => context.unsafeMap.get(RateLimiter.RateLimiterStore.key) as RateLimiter.StoreService
      return yield* use([storeOf(first), storeOf(second)])
    })
  )

const bucket = { poolSize: 48, requestsPerSecond: 2, arrivalJitterMs: 1000 }
const key = "bucket:portal.example:default"
const t0 = 1_700_000_000_000

const stores = [
  ["memory", withMemory],
  ["file", withFile],
  ["redis", withRedis]
] as const

for (const [name, withStores] of stores) {
  describe(`claims on the bucket: ${name} store`, () => {
    it.effect("two planners claiming at the same moment get disjoint claims whose sum is at most the free starts", () =>
      withStores(([first, second]) =>
        Effect.gen(function* () {
          const nowMs = t0
          for (let index = 0; index < 10; index++) yield* first.reserveBucketStart({ key, bucket, nowMs })
          // 48 − 10 = 38 free: the first planner asks for 30 and gets them, the second asks for all and gets 8
          const claimA = yield* first.claimBucketStarts({ key, bucket, nowMs, claimant: "planner-a", starts: 30, ttlMs: defaultClaimTtlMs })
          const claimB = yield* second.claimBucketStarts({ key, bucket, nowMs, claimant: "planner-b", starts: Infinity, ttlMs: defaultClaimTtlMs })
          // each hears of the planners that claimed before it
          expect([claimA, claimB]).toEqual([
            { granted: 30, otherPlanners: 0 },
            { granted: 8, otherPlanners: 1 }
          ])
          // a third finds nothing left, and the two beside it
          expect(yield* first.claimBucketStarts({ key, bucket, nowMs, claimant: "planner-c", starts: 5, ttlMs: defaultClaimTtlMs })).toEqual({
            granted: 0,
            otherPlanners: 2
          })
          // its claim of nothing holds no start, but says it is there
          expect((yield* second.claimBucketStarts({ key, bucket, nowMs, claimant: "planner-b", starts: Infinity, ttlMs: defaultClaimTtlMs })).otherPlanners).toBe(2)
          // each sees the other's claim in the level, not its own; a reader that claims nothing sees both
          expect(yield* second.bucketLevel({ key, bucket, nowMs, claimant: "planner-a" })).toBe(10 + 8)
          expect(yield* first.bucketLevel({ key, bucket, nowMs, claimant: "planner-b" })).toBe(10 + 30)
          expect(yield* first.bucketLevel({ key, bucket, nowMs })).toBe(48)
          // a claim again replaces the claimant's own (it does not add to it): A keeps 30 at most of 38 − 8 = 30 free
          expect((yield* second.claimBucketStarts({ key, bucket, nowMs, claimant: "planner-a", starts: 12, ttlMs: defaultClaimTtlMs })).granted).toBe(12)
          expect(yield* first.bucketLevel({ key, bucket, nowMs, claimant: "planner-b" })).toBe(10 + 12)
          expect((yield* first.claimBucketStarts({ key, bucket, nowMs, claimant: "planner-a", starts: 100, ttlMs: defaultClaimTtlMs })).granted).toBe(30)
          // 0 releases it: A is gone for the others
          expect((yield* first.claimBucketStarts({ key, bucket, nowMs, claimant: "planner-a", starts: 0, ttlMs: defaultClaimTtlMs })).granted).toBe(0)
          expect(yield* second.bucketLevel({ key, bucket, nowMs, claimant: "planner-b" })).toBe(10)
          expect((yield* second.claimBucketStarts({ key, bucket, nowMs, claimant: "planner-b", starts: 1, ttlMs: defaultClaimTtlMs })).otherPlanners).toBe(1)
        })
      )
    )

    it.effect("a claim lapses after its lifetime, and a renewed one lives from the renewal", () =>
      withStores(([first, second]) =>
        Effect.gen(function* () {
          expect((yield* first.claimBucketStarts({ key, bucket, nowMs: t0, claimant: "planner-a", starts: 20, ttlMs: 5000 })).granted).toBe(20)
          expect(yield* second.bucketLevel({ key, bucket, nowMs: t0 + 4999 })).toBe(20)
          expect(yield* second.bucketLevel({ key, bucket, nowMs: t0 + 5000 })).toBe(0)
          // the lapsed claim leaves the whole pool to the next planner
          expect((yield* second.claimBucketStarts({ key, bucket, nowMs: t0 + 5000, claimant: "planner-b", starts: Infinity, ttlMs: 5000 })).granted).toBe(48)
          // renewed at t0 + 9000, it lives until t0 + 14000
          expect((yield* second.claimBucketStarts({ key, bucket, nowMs: t0 + 9000, claimant: "planner-b", starts: 40, ttlMs: 5000 })).granted).toBe(40)
          expect(yield* first.bucketLevel({ key, bucket, nowMs: t0 + 13_999 })).toBe(40)
          expect(yield* first.bucketLevel({ key, bucket, nowMs: t0 + 14_000 })).toBe(0)
        })
      )
    )

    it.effect("a claim is used up by the claimant's own starts, and only by them", () =>
      withStores(([first, second]) =>
        Effect.gen(function* () {
          const nowMs = t0
          expect((yield* first.claimBucketStarts({ key, bucket, nowMs, claimant: "planner-a", starts: 10, ttlMs: 5000 })).granted).toBe(10)
          // four starts of A's: the level holds 4 starts and 6 claimed, as before them
          for (let index = 0; index < 4; index++) expect(yield* first.reserveBucketStart({ key, bucket, nowMs, claimant: "planner-a" })).toBe(0)
          expect(yield* second.bucketLevel({ key, bucket, nowMs })).toBe(10)
          expect(yield* second.bucketLevel({ key, bucket, nowMs, claimant: "planner-a" })).toBe(4)
          // a start of someone else's (or of no planner) takes a start of its own, and leaves A's claim alone
          yield* second.reserveBucketStart({ key, bucket, nowMs, claimant: "planner-b" })
          yield* second.reserveBucketStart({ key, bucket, nowMs })
          expect(yield* second.bucketLevel({ key, bucket, nowMs })).toBe(12)
          // six more of A's use the rest of its claim; the next one of A's is a plain start
          for (let index = 0; index < 6; index++) yield* first.reserveBucketStart({ key, bucket, nowMs, claimant: "planner-a" })
          expect(yield* second.bucketLevel({ key, bucket, nowMs })).toBe(12)
          yield* first.reserveBucketStart({ key, bucket, nowMs, claimant: "planner-a" })
          expect(yield* second.bucketLevel({ key, bucket, nowMs })).toBe(13)
          expect(yield* second.bucketLevel({ key, bucket, nowMs, claimant: "planner-a" })).toBe(13)
          // its claim used up, A is still there for other planners until the claim lapses (t0 + 5000)
          expect((yield* second.claimBucketStarts({ key, bucket, nowMs: t0 + 4999, claimant: "planner-b", starts: 1, ttlMs: 5000 })).otherPlanners).toBe(1)
          expect((yield* second.claimBucketStarts({ key, bucket, nowMs: t0 + 5000, claimant: "planner-b", starts: 1, ttlMs: 5000 })).otherPlanners).toBe(0)
        })
      )
    )

    it.effect("claims never change when a start may go: the delays are the bucket's alone", () =>
      withStores(([first, second]) =>
        Effect.gen(function* () {
          const oracle = makeMemoryStore()
          const nowMs = t0
          // someone claims the whole pool; starts of others still go at once, and the 49th waits as it always does
          expect((yield* first.claimBucketStarts({ key, bucket, nowMs, claimant: "planner-a", starts: 48, ttlMs: 5000 })).granted).toBe(48)
          const delays: Array<number> = []
          for (let index = 0; index < 50; index++) {
            const options = { key, bucket, nowMs, claimant: "planner-b" }
            const delay = yield* second.reserveBucketStart(options)
            expect(delay).toBe(yield* oracle.reserveBucketStart(options))
            delays.push(delay)
          }
          // 48 go at once; the 49th waits for the first start's drain (1/r = 500 ms) to surely reach the portal
          // (J = 1000 ms later), the 50th for the second's: 1500 and 2000 ms
          expect(delays.slice(0, 48).every((delay) => delay === 0)).toBe(true)
          expect(delays.slice(48)).toEqual([1500, 2000])
        })
      )
    )
  })
}

describe("claims in Redis", () => {
  it.effect("the Lua scripts give the in-memory store's answers over a random sequence of claims, starts and reads", () =>
    withRedis(([store]) =>
      Effect.gen(function* () {
        const memory = makeMemoryStore()
        let seed = 7
        const next = () => {
          seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
          return seed / 2_147_483_648
        }
        const claimants = ["a", "b", "c"]
        let nowMs = t0
        for (let step = 0; step < 400; step++) {
          nowMs += Math.floor(next() * 400)
          const pick = next()
          const claimant = claimants[Math.floor(next() * claimants.length)]!
          if (pick < 0.35) {
            const options = { key, bucket, nowMs, claimant: next() < 0.8 ? claimant : undefined }
            expect(yield* store.reserveBucketStart(options)).toBe(yield* memory.reserveBucketStart(options))
          } else if (pick < 0.6) {
            const starts = next() < 0.2 ? Infinity : Math.floor(next() * 30)
            const options = { key, bucket, nowMs, claimant, starts, ttlMs: 1000 + Math.floor(next() * 4000) }
            expect(yield* store.claimBucketStarts(options)).toEqual(yield* memory.claimBucketStarts(options))
          } else {
            const options = { key, bucket, nowMs, claimant: next() < 0.7 ? claimant : undefined }
            expect(yield* store.bucketLevel(options)).toBe(yield* memory.bucketLevel(options))
          }
        }
      })
    )
  )

  it.effect("atomic under concurrent callers: 8 connections claiming at one instant are granted the free starts once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const layer = RateLimiter.layerStoreRedis({ url: redis.url, prefix: `claims-${process.pid}-${++prefixes}:`, clock: "caller" })
        const contexts = yield* Effect.forEach(Array.from({ length: 8 }), () => Layer.build(layer))
        const all = contexts.map((context) => context.unsafeMap.get(RateLimiter.RateLimiterStore.key) as RateLimiter.StoreService)
        yield* all[0]!.reserveBucketStart({ key, bucket, nowMs: t0 })
        // 47 free; 8 planners ask for 10 each at once: 4 get 10, one gets 7, three get nothing, in some order
        const grants = yield* Effect.forEach(
          all,
          (store, index) => store.claimBucketStarts({ key, bucket, nowMs: t0, claimant: `planner-${index}`, starts: 10, ttlMs: 5000 }),
          { concurrency: "unbounded" }
        )
        expect(grants.map((grant) => grant.granted).sort((a, b) => b - a)).toEqual([10, 10, 10, 10, 7, 0, 0, 0])
        expect(yield* all[1]!.bucketLevel({ key, bucket, nowMs: t0 })).toBe(48)
      })
    )
  )
})
