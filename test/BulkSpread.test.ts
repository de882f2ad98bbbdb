/**
 * How a bulk call sizes its batches and how many it keeps under way: writes the bucket can start at once are spread
 * over the free starts (never thinner than 10 items a batch), more of them and reads go in batches of 50, and no more
 * batches are under way than the limiter lets run (50 with the limits off).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import type { LimitNumbers } from "../src/BitrixConfig.js"
import * as Transport from "../src/Transport.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import { withClock } from "./support/scripted.js"

/** Commands per batch request, in the order the requests were sent. */
const recording = (sizes: Array<number>) =>
  Layer.effect(
    Transport.Transport,
    Effect.map(Transport.Transport, (inner) => ({
      ...inner,
      send: (method: string, params: unknown) =>
        Effect.suspend(() => {
          if (method === "batch") sizes.push(Object.keys((params as { readonly cmd: Record<string, string> }).cmd).length)
          return inner.send(method, params)
        })
    }))
  )

const standard: LimitNumbers = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }

/** The client with standard limits (2 slots of headroom: 48 free starts) over the in-process portal. */
const layerWith = (sizes: Array<number>, limits: LimitNumbers | "off") =>
  Layer.merge(
    Bitrix.layerServices({ limits }),
    recording(sizes).pipe(Layer.provide(FakePortal.layer({ limits, costModel: "zero", seed: { "crm.deal": 10 } })))
  )

const adds = (count: number) => Array.from({ length: count }, (_, index) => ({ fields: { TITLE: `deal ${index}` } }))

describe("a bulk call spreads a job the bucket can start at once", () => {
  // free starts 48 (bucket 50, headroom 2): items per batch = max(10, ceil(n / 48)), at most 50
  for (const [items, perBatch] of [
    [2_000, 42],
    [480, 10],
    [481, 11],
    [100, 10],
    [9, 10],
    [2_400, 50],
    [2_401, 50]
  ] as const) {
    it.effect(`${items} adds go in batches of at most ${perBatch}`, () => {
      const sizes: Array<number> = []
      return Effect.gen(function* () {
        const ids = yield* withClock(Bitrix.call("crm.deal.add", adds(items)))
        expect(ids.length).toBe(items)
        expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(items)
        expect(Math.max(...sizes)).toBe(Math.min(perBatch, items))
        expect(sizes.length).toBe(Math.ceil(items / perBatch))
      }).pipe(Effect.provide(layerWith(sizes, standard)))
    })
  }

  it.effect("reads are not spread: 120 gets go in batches of 50", () => {
    const sizes: Array<number> = []
    return Effect.gen(function* () {
      yield* Effect.either(withClock(Bitrix.call("crm.deal.get", Array.from({ length: 120 }, (_, index) => ({ ID: index + 1 })))))
      expect(sizes).toEqual([50, 50, 20])
    }).pipe(Effect.provide(layerWith(sizes, standard)))
  })

  it.effect("with the limits off there is no bucket to spread over: batches of 50", () => {
    const sizes: Array<number> = []
    return Effect.gen(function* () {
      yield* Bitrix.call("crm.deal.add", adds(120))
      expect(sizes).toEqual([50, 50, 20])
    }).pipe(Effect.provide(layerWith(sizes, "off")))
  })
})

describe("a bulk call keeps no more batches under way than the limiter runs", () => {
  it.effect("with the limits off, 5,000 items (100 batches) have at most 50 requests in flight", () => {
    let inFlight = 0
    let most = 0
    const counting = Layer.effect(
      Transport.Transport,
      Effect.map(Transport.Transport, (inner) => ({
        ...inner,
        send: (method: string, params: unknown) =>
          Effect.acquireUseRelease(
            Effect.sync(() => {
              inFlight++
              most = Math.max(most, inFlight)
            }),
            // every request takes a second of the TestClock, so all the call lets start are under way together
            () => Effect.zipRight(Effect.sleep("1 second"), inner.send(method, params)),
            () => Effect.sync(() => void inFlight--)
          )
      }))
    )
    const layer = Layer.merge(
      Bitrix.layerServices({ limits: "off" }),
      counting.pipe(Layer.provide(FakePortal.layer({ limits: "off", costModel: "zero", seed: { "crm.deal": 10 } })))
    )
    return Effect.gen(function* () {
      const ids = yield* withClock(Bitrix.call("crm.deal.add", adds(5_000)))
      expect(ids.length).toBe(5_000)
      expect(most).toBe(50)
    }).pipe(Effect.provide(layer))
  })
})
