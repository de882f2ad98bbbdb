/**
 * Verb semantics seen from the wire: what getAll adds to the params, how it treats duplicates, and which
 * inputs are refused before any request. The fake portal answers; a recording transport in front of it
 * keeps what was sent.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Layer, Option, TestClock } from "effect"
import v8 from "node:v8"
import vm from "node:vm"
import * as BatchPlanner from "../src/BatchPlanner.js"
import * as Bitrix from "../src/Bitrix.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import type { FakePortalOptions } from "../src/testing/Options.js"
import * as Transport from "../src/Transport.js"
import { engineIds } from "./support/engine.js"
import { observe } from "./support/observe.js"

interface Sent {
  readonly method: string
  readonly params: unknown
}

/** Wraps the transport below it, recording every request. */
const recording = (sent: Array<Sent>) =>
  Layer.effect(
    Transport.Transport,
    Effect.map(Transport.Transport, (inner) =>
      Transport.Transport.of({
        send: (method, params) => Effect.suspend(() => (sent.push({ method, params }), inner.send(method, params)))
      })
    )
  )

const fakeWithRecorder = (portal: FakePortalOptions) => {
  const sent: Array<Sent> = []
  const layer = Layer.merge(
    Bitrix.layerServices({ limits: "off" }),
    recording(sent).pipe(Layer.provide(FakePortal.layer({ limits: "off", costModel: "zero", ...portal })))
  )
  return { sent, layer }
}

/** A transport answering every request with the envelope `answer` gives, recording what was sent. */
const answering = (answer: (method: string, params: unknown) => { readonly result: unknown; readonly total?: number }) => {
  const sent: Array<Sent> = []
  const transport = Layer.succeed(
    Transport.Transport,
    Transport.Transport.of({
      send: (method, params) =>
        Effect.sync(() => {
          sent.push({ method, params })
          return answer(method, params)
        })
    })
  )
  return { sent, layer: Layer.merge(Bitrix.layerServices({ limits: "off" }), transport) }
}

const cmdOf = (params: unknown): ReadonlyArray<string> => Object.values((params as { readonly cmd: Record<string, string> }).cmd)

describe("getAll (offset) on the wire", () => {
  it.effect("adds order ID ASC to the first page and to every batched page, in the family's spelling", () => {
    const { layer, sent } = fakeWithRecorder({ seed: { "crm.deal": 120, "tasks.task": 60, "crm.item:1032": 60 } })
    return Effect.gen(function* () {
      expect((yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy: "offset" })).length).toBe(120)
      expect(sent[0]).toEqual({ method: "crm.deal.list", params: { select: ["ID"], order: { ID: "ASC" }, start: 0 } })
      expect(sent[1]?.method).toBe("batch")
      for (const command of cmdOf(sent[1]?.params)) expect(command).toContain("order%5BID%5D=ASC")

      sent.length = 0
      const tasks = yield* Bitrix.getAll("tasks.task.list", {}, { strategy: "offset" })
      // the portal's own default for tasks is ID DESC: the added order is what makes them ascend
      expect(tasks.map((task) => Number((task as { readonly id: string }).id))).toEqual(
        [...tasks.map((task) => Number((task as { readonly id: string }).id))].sort((a, b) => a - b)
      )
      expect(sent[0]?.params).toMatchObject({ order: { ID: "ASC" } })

      sent.length = 0
      yield* Bitrix.getAll("crm.item.list", { entityTypeId: 1032 }, { strategy: "offset" })
      expect(sent[0]?.params).toMatchObject({ order: { id: "ASC" } })
    }).pipe(Effect.provide(layer))
  })

  it.effect("keeps the caller's order, and uses sort/order strings for user.get", () => {
    const { layer, sent } = fakeWithRecorder({ seed: { "crm.deal": 70, user: 10 } })
    return Effect.gen(function* () {
      const rows = yield* Bitrix.getAll("crm.deal.list", { order: { ID: "DESC" }, select: ["ID"] }, { strategy: "offset" })
      expect(rows.length).toBe(70)
      expect(sent[0]?.params).toEqual({ order: { ID: "DESC" }, select: ["ID"], start: 0 })
      sent.length = 0
      yield* Bitrix.getAll("user.get", {}, { strategy: "offset" })
      expect(sent[0]?.params).toMatchObject({ sort: "ID", order: "ASC" })
    }).pipe(Effect.provide(layer))
  })

  it.effect("adds no order to the methods that reject one", () => {
    const { layer, sent } = answering(() => ({ result: [{ ID: "1" }, { ID: "2" }], total: 2 }))
    return Effect.gen(function* () {
      for (const method of ["crm.address.list", "voximplant.statistic.get", "crm.deal.userfield.list"]) {
        sent.length = 0
        expect((yield* Bitrix.getAll(method, { filter: { TYPE_ID: 1 } }, { strategy: "offset" })).length).toBe(2)
        expect(sent.map((request) => request.params)).toEqual([{ filter: { TYPE_ID: 1 }, start: 0 }])
      }
    }).pipe(Effect.provide(layer))
  })

  it.effect("removes duplicates by ID keeping the first, and unwraps a wrapper it does not know", () => {
    const { layer } = answering(() => ({
      result: { things: [{ ID: "1", v: "first" }, { ID: "2" }, { ID: "1", v: "again" }] },
      total: 2
    }))
    return Effect.gen(function* () {
      const rows = yield* Bitrix.getAll("some.thing.list", {}, { strategy: "offset" })
      expect(rows).toEqual([{ ID: "1", v: "first" }, { ID: "2" }])
    }).pipe(Effect.provide(layer))
  })

  it.effect("rows inserted at the front while paging: repeats are dropped, and the rows pushed out are found again", () => {
    const layer = Layer.merge(
      Bitrix.layerServices({ limits: "off" }),
      FakePortal.layer({ limits: "off", costModel: "zero", seed: { "crm.deal": 400 }, mutations: [{ entity: "crm.deal", everyRequests: 1, add: 7 }] })
    )
    return Effect.gen(function* () {
      const original = yield* engineIds("crm.deal.list")
      expect(original.length).toBe(400)
      // newest first: every insert shifts the later pages, so the portal repeats rows and pushes others past `total`
      const rows = yield* Bitrix.getAll("crm.deal.list", { order: { ID: "DESC" }, select: ["ID"] }, { strategy: "offset" })
      const ids = rows.map((row) => Number((row as { readonly ID: string }).ID))
      expect(ids.length - new Set(ids).size).toBe(0)
      expect(original.filter((id) => !ids.includes(id))).toEqual([])
    }).pipe(Effect.provide(layer))
  })
})

describe("getByID", () => {
  it.effect("a failed ID is reported at its position in ids, and the results of the others by their positions", () => {
    const { layer } = fakeWithRecorder({ seed: { "crm.deal": 5 } })
    return Effect.gen(function* () {
      const error = yield* Effect.flip(Bitrix.getByID("crm.deal.get", [2, 1, 2, 999999, 1]))
      expect(error._tag).toBe("BulkCallError")
      if (error._tag !== "BulkCallError") return
      expect(error.refused.map((failure) => [failure.index, failure.item])).toEqual([[3, { ID: 999999 }]])
      const ids = error.partialResults?.map((result) => (result as { readonly ID?: string } | undefined)?.ID)
      expect(ids).toEqual(["2", "1", "2", undefined, "1"])
    }).pipe(Effect.provide(layer))
  })
})

/** A full garbage collection on demand (V8's `gc`, exposed for this worker). */
const collectGarbage = (): (() => void) => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
}

describe("a bulk call's memory", () => {
  it.effect("a batch's plan is let go once the batch is answered: 500 items one batch at a time, the 9 answered are collected", () => {
    const gc = collectGarbage()
    const planned: Array<WeakRef<BatchPlanner.PlannedBatch>> = []
    const stillHeld: Array<number> = []
    let requests = 0
    // the default planner, remembering every batch it planned (weakly)
    const watchedPlanner = Layer.effect(
      BatchPlanner.BatchPlanner,
      Effect.map(BatchPlanner.make(), (inner) =>
        BatchPlanner.BatchPlanner.of({
          ...inner,
          plan: (method, items, perBatch) =>
            Either.map(inner.plan(method, items, perBatch), (batches) => {
              for (const batch of batches) planned.push(new WeakRef(batch))
              return batches
            })
        })
      )
    )
    // each answer waits for the next turn of the event loop (weak references stay set within one job); at the
    // tenth request the nine batches before it are answered, and a full collection runs before it is answered
    const transport = Layer.succeed(
      Transport.Transport,
      Transport.Transport.of({
        send: (_method, params) =>
          Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve))).pipe(
            Effect.map(() => {
              requests++
              if (requests === 10) {
                gc()
                for (const [position, ref] of planned.entries()) if (position < 9 && ref.deref() !== undefined) stillHeld.push(position)
              }
              const labels = Object.keys((params as { readonly cmd: Record<string, string> }).cmd)
              return { result: { result: Object.fromEntries(labels.map((label) => [label, { ok: label }])), result_error: [], result_total: [], result_next: [], result_time: [] } }
            })
          )
      })
    )
    return Effect.gen(function* () {
      const items = Array.from({ length: 500 }, (_, index) => ({ ID: index + 1 }))
      const results = yield* Bitrix.call("crm.deal.get", items)
      expect(results.length).toBe(500)
      expect(requests).toBe(10)
      expect(planned.length).toBe(10)
      expect(stillHeld).toEqual([])
    }).pipe(
      Effect.provide(watchedPlanner),
      Effect.provide(Layer.merge(Bitrix.layerServices({ limits: "off", maxConcurrent: 1 }), transport))
    )
  })
})

describe("validation before any request", () => {
  const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, { readonly _tag: string; readonly message: string }, Bitrix.Services>, string]> = [
    ["an empty method", Bitrix.call("", {}), "method"],
    ["batch through call", Bitrix.call("batch", { cmd: {} }), "callBatch"],
    ["batch through callRaw", Bitrix.callRaw("batch", { cmd: {} }), "callBatch"],
    ["batch through callEither", Bitrix.callEither("batch", [{}]), "callBatch"],
    ["a webhook URL as the method", Bitrix.call("https://x.bitrix24.com/rest/1/abc/crm.deal.list", {}), "method"],
    ["select as a string", Bitrix.call("crm.deal.list", { select: "ID" }), "params.select"],
    ["filter as a string", Bitrix.call("crm.deal.list", { filter: "ID>5" }), "params.filter"],
    ["order as a string", Bitrix.getAll("crm.deal.list", { order: "ID" }), "params.order"],
    ["order as a list", Bitrix.call("crm.deal.list", { order: ["ID"] }), "params.order"],
    ["start in getAll", Bitrix.getAll("crm.deal.list", { START: 50 }), "params.START"],
    ["an order keyset cannot follow", Bitrix.getAll("crm.deal.list", { order: { TITLE: "ASC" } }, { strategy: "keyset" }), "order"],
    ["twins filter and FILTER", Bitrix.call("crm.deal.list", { filter: {}, FILTER: {} }), "FILTER"],
    ["twins in one item", Bitrix.call("crm.deal.update", [{ ID: 1, fields: {}, Fields: {} }]), "items[0]"],
    ["null in a batched call", Bitrix.call("crm.deal.update", [{ ID: 1 }, { ID: 2, fields: { TITLE: null } }]), "callRaw"],
    ["an item that is not an object", Bitrix.call("crm.deal.get", [{ ID: 1 }, 5 as never]), "items[1]"],
    ["the ID field in getByID params", Bitrix.getByID("crm.deal.get", [1], { params: { ID: 2 } }), "params.ID"],
    ["a custom ID field in getByID params", Bitrix.getByID("crm.item.get", [1], { idField: "id", params: { entityTypeId: 2, ID: 2 } }), "params.ID"],
    ["an empty ID", Bitrix.getByID("crm.deal.get", [1, ""]), "ids[1]"],
    ["a numeric callBatch label", Bitrix.callBatch({ cmd: { "7": "crm.deal.get?ID=1" } }), "cmd.7"]
  ]
  for (const [name, program, mentions] of cases) {
    it.effect(`${name} is a ValidationError`, () => {
      const { layer, sent } = answering(() => ({ result: [] }))
      return Effect.gen(function* () {
        const error = yield* Effect.flip(program)
        expect(error._tag).toBe("ValidationError")
        expect(error.message).toContain(mentions)
        expect(sent.length).toBe(0)
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("empty item lists send nothing and give empty results", () => {
    const { layer, sent } = answering(() => ({ result: [] }))
    return Effect.gen(function* () {
      expect(yield* Bitrix.call("crm.deal.add", [])).toEqual([])
      expect(yield* Bitrix.callEither("crm.deal.add", [])).toEqual([])
      expect((yield* Bitrix.getByID("crm.deal.get", [])).size).toBe(0)
      expect(yield* Bitrix.callBatch({ cmd: {} })).toEqual({})
      expect(sent.length).toBe(0)
    }).pipe(Effect.provide(layer))
  })
})

describe("secrets through the whole client", () => {
  const code = "w3bh00ks3cretcode"

  it.effect("the webhook code appears in no error, debug log line or span of any verb, faults included", () =>
    Effect.gen(function* () {
      const observed = yield* observe
      const errors: Array<unknown> = []
      const failure = <A, E, R>(program: Effect.Effect<A, E, R>) =>
        Effect.flip(program).pipe(Effect.tap((error) => Effect.sync(() => errors.push(error))))
      const program = Effect.gen(function* () {
        yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy: "offset" })
        yield* Bitrix.getByID("crm.deal.get", [1, 2])
        yield* Bitrix.callBatch({ cmd: { one: "crm.deal.get?ID=1" } })
        yield* failure(Bitrix.call("crm.deal.get", [{ ID: 1 }, { ID: 999999 }]))
        yield* failure(Bitrix.call("crm.nothing.list", {}))
        yield* failure(Bitrix.callRaw("crm.deal.add", { fields: { TITLE: "dropped" } }))
        yield* failure(Bitrix.call("crm.deal.update", [{ ID: 1, fields: { TITLE: "hangs" } }]))
      }).pipe(observed.around)
      const fiber = yield* Effect.fork(program)
      while (Option.isNone(yield* Fiber.poll(fiber))) yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)

      expect(errors.map((error) => (error as { readonly _tag: string })._tag)).toEqual([
        "BulkCallError",
        "BitrixApiError",
        "UnknownOutcomeError",
        "BulkCallError"
      ])
      const report = [
        ...errors.map((error) => `${String(error)} ${JSON.stringify(error)}`),
        ...observed.lines,
        observed.spanText()
      ].join("\n")
      // the capture works: methods are there, the code is not
      expect(report).toContain("crm.deal.update")
      expect(observed.lines.length).toBeGreaterThan(10)
      expect(report).not.toContain(code)
    }).pipe(
      Effect.provide(
        Layer.merge(
          Bitrix.layerServices({ limits: "off" }),
          FakePortal.layer(
            {
              limits: "off",
              costModel: "zero",
              seed: { "crm.deal": 120 },
              webhook: { userId: 1, code },
              faults: [
                { kind: "drop", onRequests: [8] },
                { kind: "hang", onRequests: [9] }
              ]
            },
            { transport: { timeout: "5 seconds" } }
          )
        )
      )
    ))
})
