/**
 * An export that needs more server time than the method's operating budget allows in one window: the budget, not the
 * leaky bucket, decides. The client must wait for the window instead of meeting 429s, under both ways a portal bills
 * a batch (to its commands' methods, or to `batch`). Scaled down: a 10 s budget per 60 s window.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import type { LimitNumbers } from "../src/BitrixConfig.js"
import { engineIds, stats, testLayer } from "./support/engine.js"

const tight: LimitNumbers = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 10, operatingWindowSeconds: 60 }

describe.each(["commands", "batch"] as const)("an export over the operating budget, billed to %s", (batchBilling) => {
  // 9,500 wide rows: 190 pages of 50 at 5 ms + 50 × 2 ms = 105 ms each, about 20 s of server time: two budgets' worth
  it.effect("is complete and meets no 429", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(Bitrix.getAll("crm.deal.list", { select: ["*", "UF_*"] }))
      let result = yield* Fiber.poll(fiber)
      for (let step = 0; step < 2000 && result._tag === "None"; step++) {
        yield* TestClock.adjust("1 second")
        result = yield* Fiber.poll(fiber)
      }
      const rows = yield* Fiber.join(fiber)
      const expected = yield* engineIds("crm.deal.list")
      expect(rows.map((row) => Number((row as { readonly ID: unknown }).ID))).toEqual(expected)
      const after = yield* stats
      expect(after.rejected429).toBe(0)
      // 20 s of server time against 10 s a window: the export spans at least one window
      expect(after.portalSecondsElapsed).toBeGreaterThanOrEqual(60)
    }).pipe(Effect.provide(testLayer({ seed: { "crm.deal": 9500 }, limits: tight, costModel: "default", batchBilling }, { limits: tight })))
  )
})
