import { it, expect } from "@effect/vitest"
import { Effect, Fiber, Layer, TestClock } from "effect"
import { Bitrix } from "effect-bitrix24"
import { FakePortal } from "effect-bitrix24/testing"

// your own test: the fake portal in-process, no sockets, standard limits and costs
const portal = FakePortal.layer({ seed: { "crm.deal": 2000 }, limits: "standard" })
const client = Bitrix.layerServices({ limits: "standard" })

it.effect("exports every deal without one 503", () =>
  Effect.gen(function* () {
    // the portal's server time and the limiter's waits run on TestClock: move it on while the export runs
    const exporting = yield* Effect.fork(Bitrix.getAll("crm.deal.list", { select: ["ID"] }))
    yield* TestClock.adjust("1 minute")
    const deals = yield* Fiber.join(exporting)
    const stats = yield* Effect.flatMap(FakePortal.FakePortal, (fake) => fake.stats)
    expect(deals.length).toBe(2000)
    expect(stats.rejected503).toBe(0)
  }).pipe(Effect.provide(Layer.merge(client, portal)))
)
