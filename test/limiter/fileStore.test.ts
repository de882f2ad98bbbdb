/**
 * The file store: two store instances over one file stand for two processes (or two consecutive `b24` runs) of one
 * machine; the in-memory store over the same sequence of operations is the oracle.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { make as makeFileStore } from "../../src/internal/limiterFile.js"
import { makeMemoryStore } from "../../src/internal/limiterStore.js"

const withDir = <A, E>(use: (dir: string) => Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "effect-bitrix24-limiter-"))),
    use,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

describe("file limiter store", () => {
  it.effect("a second process on the same file finds the bucket the first one filled (the oracle: one memory store)", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const path = join(dir, "limiter.json")
        const first = makeFileStore({ path })
        const second = makeFileStore({ path })
        const memory = makeMemoryStore()
        const bucket = { poolSize: 48, requestsPerSecond: 2, arrivalJitterMs: 1000 }
        const key = "bucket:portal.example:default"
        let nowMs = 1_700_000_000_000
        // the first run uses the whole pool and a little more
        for (let index = 0; index < 60; index++) {
          const options = { key, bucket, nowMs }
          expect(yield* first.reserveBucketStart(options)).toBe(yield* memory.reserveBucketStart(options))
          nowMs += 10
        }
        // the second run starts right after: it must wait like a continuation of the first, not find an empty bucket
        const options = { key, bucket, nowMs }
        const waited = yield* second.reserveBucketStart(options)
        expect(waited).toBe(yield* memory.reserveBucketStart(options))
        expect(waited).toBeGreaterThan(0)
        expect(yield* second.bucketLevel(options)).toBe(yield* memory.bucketLevel(options))
      })
    )
  )

  it.effect("parallel operations from several store instances lose no reservation (the lock)", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const path = join(dir, "limiter.json")
        const stores = Array.from({ length: 4 }, () => makeFileStore({ path }))
        const memory = makeMemoryStore()
        const bucket = { poolSize: 10, requestsPerSecond: 5, arrivalJitterMs: 250 }
        const options = { key: "bucket:parallel:default", bucket, nowMs: 1_700_000_000_000 }
        const expected: Array<number> = []
        for (let index = 0; index < 80; index++) expected.push(yield* memory.reserveBucketStart(options))
        const delays = yield* Effect.forEach(
          Array.from({ length: 80 }, (_, index) => stores[index % 4]!),
          (store) => store.reserveBucketStart(options),
          { concurrency: "unbounded" }
        )
        expect([...delays].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b))
      })
    )
  )

  it.effect("budgets and blocks go through the file like through memory", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const path = join(dir, "limiter.json")
        const file = makeFileStore({ path })
        const memory = makeMemoryStore()
        const key = "operating:portal:webhook-0123"
        const shape = { limitSeconds: 480, windowMs: 60_000 }
        let nowMs = 1_700_000_000_000
        for (let step = 0; step < 50; step++) {
          nowMs += 1500
          const entries = [{ method: step % 3 === 0 ? "batch" : "crm.deal.list", time: { operating: step * 3, operating_reset_at: Math.floor(nowMs / 1000) + 30, processing: 0.05 * (step % 7) } }]
          yield* file.recordOperating({ key, shape, nowMs, entries })
          yield* memory.recordOperating({ key, shape, nowMs, entries })
          if (step % 10 === 9) {
            const block = { key, method: "crm.deal.list", untilMs: nowMs + 20_000, nowMs }
            yield* file.blockMethod(block)
            yield* memory.blockMethod(block)
          }
          const query = { key, methods: ["crm.deal.list", "batch"], nowMs, windowMs: shape.windowMs }
          // a fresh instance reads what the other wrote
          expect(yield* makeFileStore({ path }).methodBudgets(query)).toEqual(yield* memory.methodBudgets(query))
        }
      })
    )
  )
})
