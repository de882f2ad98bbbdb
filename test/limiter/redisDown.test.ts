/**
 * A Redis store that goes down in the middle of an export (a redis-server of the test's own, killed): no request
 * starts without the store, the export fails with RateLimiterStoreError once the limiter has retried the store for
 * its `storeRetry`, and every row delivered before is exactly the portal's (a prefix of the engine's rows in ID
 * order): a typed failure, never a short result that looks complete.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Stream } from "effect"
import * as Bitrix from "../../src/Bitrix.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as FakePortal from "../../src/testing/FakePortal.js"
import { engineRows } from "../support/engine.js"
import { startRedisServer } from "../support/redis.js"

describe("Redis store down mid-export", () => {
  it.live("the export fails with RateLimiterStoreError; the rows before it are the portal's, none lost in between, none twice", () =>
    Effect.gen(function* () {
      // a server of this test's own: it is killed below
      const redis = yield* Effect.promise(() => startRedisServer())
      yield* Effect.addFinalizer(() => Effect.promise(() => redis.stop()))
      const limiter = RateLimiter.layerWithStore({ limits: "standard", storeRetry: "2 seconds" }).pipe(
        Layer.provide(RateLimiter.layerStoreRedis({ url: redis.url, prefix: "down-test:" }))
      )
      const layer = Layer.mergeAll(
        Bitrix.layerServices({ limits: "standard" }),
        limiter,
        FakePortal.layer({ seed: { "crm.deal": 1000 }, limits: "standard", costModel: "zero" })
      )
      const outcome = yield* Effect.gen(function* () {
        const expected = yield* engineRows("crm.deal.list", ["ID", "TITLE"])
        const received: Array<unknown> = []
        // keyset pages one after another, 5 a second: the export is still running when Redis dies
        const exported = yield* Bitrix.slow(
          Bitrix.stream("crm.deal.list", { select: ["ID", "TITLE"] }, { strategy: "keyset" }).pipe(
            Stream.runForEachChunk((chunk) =>
              Effect.gen(function* () {
                const first = received.length === 0
                received.push(...Chunk.toReadonlyArray(chunk))
                if (first) yield* Effect.promise(() => redis.stop())
              })
            ),
            Effect.either
          ),
          { requestsPerSecond: 5 }
        )
        return { exported, received, expected }
      }).pipe(Effect.provide(layer))
      assert(Either.isLeft(outcome.exported), "the export resolved although the store was down")
      expect(outcome.exported.left._tag).toBe("RateLimiterStoreError")
      // what arrived is the start of the table, exactly: no row skipped, none twice
      expect(outcome.received.length).toBeGreaterThan(0)
      expect(outcome.received.length).toBeLessThan(outcome.expected.length)
      expect(outcome.received).toEqual(outcome.expected.slice(0, outcome.received.length))
    }).pipe(Effect.scoped),
    120_000
  )
})
