/**
 * "Every row once, nothing outside the filter", proven against ground truth: the expected rows come from the fake
 * portal's engine (its method table called directly, plain offset pages with no filter, so neither the client's
 * strategies nor the portal's filter code decide what is expected), and the filter is applied here, in the test.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Layer } from "effect"
import * as fc from "fast-check"
import * as Bitrix from "../src/Bitrix.js"
import type * as Envelope from "../src/Envelope.js"
import type * as ListStrategy from "../src/ListStrategy.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import type { FakePortalOptions, MutationRule } from "../src/testing/Options.js"
import * as Transport from "../src/Transport.js"
import { engineRows } from "./support/engine.js"
import { type Answer, ok, scripted, withClock } from "./support/scripted.js"

interface Deal {
  readonly id: number
  readonly category: number
  readonly title: string
}

const strategies: ReadonlyArray<ListStrategy.Strategy> = ["auto", "offset", "keyset", "keysetBatch", "ranges"]

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const dealOf = (row: unknown): Deal => {
  if (!isRecord(row)) throw new Error(`not a row: ${JSON.stringify(row)}`)
  return { id: Number(row["ID"]), category: Number(row["CATEGORY_ID"]), title: String(row["TITLE"]) }
}

const idsOf = (rows: ReadonlyArray<unknown>) => rows.map((row) => dealOf(row).id)

/**
 * A fresh in-process portal with the limits off and no simulated server time (nothing sleeps, so nothing depends
 * on the speed of the machine), the client over it, and every request the client sends recorded. `rewrite` may
 * change a request on its way (to make the portal misbehave).
 */
const portalLayer = (portal: FakePortalOptions, rewrite: (method: string, params: unknown) => unknown = (_, params) => params) => {
  const sent: Array<{ readonly method: string; readonly params: unknown }> = []
  const fake = FakePortal.layer({ limits: "off", costModel: "zero", ...portal })
  const recording = Layer.effect(
    Transport.Transport,
    Effect.map(Transport.Transport, (inner) =>
      Transport.Transport.of({
        send: (method, params) =>
          Effect.suspend(() => {
            sent.push({ method, params })
            return inner.send(method, rewrite(method, params))
          })
      })
    )
  ).pipe(Layer.provide(fake))
  // the recording Transport last, so it is the one the client gets (the portal layer is built once, shared)
  return { sent, layer: Layer.mergeAll(Bitrix.layerServices({ limits: "off" }), fake, recording) }
}

/** Ground truth: every deal in the engine's table (see support/engine.ts). */
const engineDeals = Effect.map(engineRows("crm.deal.list", ["ID", "CATEGORY_ID", "TITLE"]), (rows) => rows.map(dealOf))

type BoundOp = ">" | ">=" | "<" | "<="
const boundOps: ReadonlyArray<BoundOp> = [">", ">=", "<", "<="]

/** The meaning of an ID bound, written out here rather than taken from the portal. */
const holds = (op: BoundOp, id: number, value: number) =>
  op === ">" ? id > value : op === ">=" ? id >= value : op === "<" ? id < value : id <= value

describe("every strategy at the page and batch edges returns the engine's rows, each once, in ID order", () => {
  for (const strategy of strategies) {
    for (const size of [1, 49, 50, 51, 99, 100, 101, 2499, 2500, 2501]) {
      it.effect(`${strategy}: ${size} rows`, () => {
        const { layer } = portalLayer({ seed: { "crm.deal": size } })
        return Effect.gen(function* () {
          const expected = (yield* engineDeals).map((deal) => deal.id)
          expect(expected.length).toBe(size)
          const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy })
          expect(idsOf(rows)).toEqual(expected)
        }).pipe(Effect.provide(layer))
      })
    }
  }
})

describe("ID bounds that land exactly on existing rows", () => {
  for (const strategy of strategies) {
    it.effect(`${strategy}: >, >=, <, <= keep or drop exactly the row on the bound`, () => {
      const { layer } = portalLayer({ seed: { "crm.deal": 400 } })
      return Effect.gen(function* () {
        const deals = yield* engineDeals
        const ids = deals.map((deal) => deal.id)
        // the first row, the last of the first page, the first of the second, one inside, the last row
        const anchors = [ids[0]!, ids[49]!, ids[50]!, ids[137]!, ids.at(-1)!]
        for (const op of boundOps) {
          for (const anchor of anchors) {
            const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"], filter: { [`${op}ID`]: anchor } }, { strategy })
            expect(idsOf(rows), `${op}ID ${anchor}`).toEqual(ids.filter((id) => holds(op, id, anchor)))
          }
        }
        // both ends on existing rows, with another condition beside them
        for (const low of [">", ">="] as const) {
          for (const high of ["<", "<="] as const) {
            const [from, to] = [ids[49]!, ids[301]!]
            const filter = { [`${low}ID`]: from, [`${high}ID`]: to, CATEGORY_ID: 2 }
            const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID", "CATEGORY_ID"], filter }, { strategy })
            const expected = deals.filter((deal) => holds(low, deal.id, from) && holds(high, deal.id, to) && deal.category === 2)
            expect(expected.length).toBeGreaterThan(10)
            expect(idsOf(rows), JSON.stringify(filter)).toEqual(expected.map((deal) => deal.id))
          }
        }
      }).pipe(Effect.provide(layer))
    })
  }
})

/** Rows present for the whole export (before and after it, IDs are never reused) that the filter matches. */
const presentThroughout = (before: ReadonlyArray<Deal>, after: ReadonlyArray<Deal>, matches: (deal: Deal) => boolean) => {
  const afterIds = new Set(after.map((deal) => deal.id))
  return before.filter((deal) => afterIds.has(deal.id) && matches(deal)).map((deal) => deal.id)
}

/** The guarantees of an export that ran while rows were added and deleted, checked against the engine. */
const expectComplete = (
  rows: ReadonlyArray<unknown>,
  truth: { readonly before: ReadonlyArray<Deal>; readonly after: ReadonlyArray<Deal> },
  matches: (deal: Deal) => boolean
) => {
  const returned = rows.map(dealOf)
  const ids = returned.map((deal) => deal.id)
  // no duplicates
  expect(ids.length - new Set(ids).size).toBe(0)
  // every row present for the whole export, exactly once
  const got = new Set(ids)
  expect(presentThroughout(truth.before, truth.after, matches).filter((id) => !got.has(id))).toEqual([])
  // nothing outside the filter, and nothing that never existed
  const existed = new Set([...truth.before, ...truth.after].map((deal) => deal.id))
  const highestBefore = Math.max(0, ...truth.before.map((deal) => deal.id))
  expect(returned.filter((deal) => !matches(deal))).toEqual([])
  expect(ids.filter((id) => !existed.has(id) && id <= highestBefore)).toEqual([])
}

describe("offset and non-ID orders while rows are deleted and added (finding 1)", () => {
  const churn: ReadonlyArray<MutationRule> = [{ entity: "crm.deal", everyRequests: 10, add: 5, delete: 5 }]
  const orders = [
    ["ID ascending (offset)", { ID: "ASC" }, "offset"],
    ["ID descending (auto)", { ID: "DESC" }, "auto"],
    ["TITLE (auto)", { TITLE: "ASC" }, "auto"],
    ["TITLE (offset)", { TITLE: "ASC" }, "offset"]
  ] as const
  for (const [name, order, strategy] of orders) {
    it.effect(`${name}: every row present for the whole export is returned once`, () => {
      const { layer } = portalLayer({ seed: { "crm.deal": 3000 }, mutations: churn })
      return Effect.gen(function* () {
        const before = yield* engineDeals
        const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID", "CATEGORY_ID", "TITLE"], order }, { strategy })
        const after = yield* engineDeals
        expect(after.map((deal) => deal.id)).not.toEqual(before.map((deal) => deal.id))
        expectComplete(rows, { before, after }, () => true)
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("the order asked for: the rows of the offset pages in that order, then the rows it recovered in ID order", () => {
    const { layer, sent } = portalLayer({ seed: { "crm.deal": 1500 }, mutations: [{ entity: "crm.deal", everyRequests: 4, delete: 6 }] })
    return Effect.gen(function* () {
      const before = yield* engineDeals
      const returned = yield* Bitrix.getAll("crm.deal.list", { select: ["ID", "CATEGORY_ID", "TITLE"], order: { TITLE: "ASC" } })
      const after = yield* engineDeals
      expectComplete(returned, { before, after }, () => true)
      const rows = returned.map(dealOf)
      let sorted = 1
      while (sorted < rows.length && rows[sorted - 1]!.title <= rows[sorted]!.title) sorted++
      const recovered = rows.slice(sorted).map((deal) => deal.id)
      // deletions shifted rows out of view of the offset pages: some were recovered, and they come in ID order
      expect(recovered.length).toBeGreaterThan(0)
      expect(recovered).toEqual([...recovered].sort((a, b) => a - b))
      // they were read by @ID, the ID pass selected the ID alone
      const commands = sent.flatMap(({ params }) => (isRecord(params) && isRecord(params["cmd"]) ? Object.values(params["cmd"]).map(String) : []))
      expect(commands.some((command) => command.includes("filter%5B%40ID%5D"))).toBe(true)
      expect(commands.some((command) => command.includes("select%5B0%5D=ID&") && !command.includes("select%5B1%5D"))).toBe(true)
    }).pipe(Effect.provide(layer))
  })

  it.effect("without changes, a non-ID order is exactly the engine's rows in that order", () => {
    const { layer } = portalLayer({ seed: { "crm.deal": 777 } })
    return Effect.gen(function* () {
      const deals = yield* engineDeals
      const byTitle = (yield* Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"], order: { TITLE: "ASC" } })).map(dealOf)
      expect(byTitle.map((deal) => deal.id)).toEqual(
        [...deals].sort((a, b) => (a.title < b.title ? -1 : a.title > b.title ? 1 : 0)).map((deal) => deal.id)
      )
      const descending = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"], order: { ID: "DESC" }, filter: { "<=ID": deals[500]!.id } })
      expect(idsOf(descending)).toEqual(deals.slice(0, 501).map((deal) => deal.id).reverse())
    }).pipe(Effect.provide(layer))
  })

  it.effect("a portal that answers the @ID read with other rows: IncompleteListError naming the missing IDs", () => {
    // NOT IN instead of IN: the portal answers with rows that were not asked for
    const { layer } = portalLayer(
      { seed: { "crm.deal": 1000 }, mutations: [{ entity: "crm.deal", everyRequests: 3, delete: 4 }] },
      (method, params) =>
        method === "batch" && isRecord(params) && isRecord(params["cmd"])
          ? { ...params, cmd: Object.fromEntries(Object.entries(params["cmd"]).map(([key, command]) => [key, String(command).replaceAll("filter%5B%40ID%5D", "filter%5B%21%40ID%5D")])) }
          : params
    )
    return Effect.gen(function* () {
      const before = yield* engineDeals
      const error = yield* Effect.flip(Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy: "offset" }))
      const after = yield* engineDeals
      expect(error._tag).toBe("IncompleteListError")
      if (error._tag !== "IncompleteListError") return
      expect(error.message).toContain("@ID")
      const missing = error.missingIds ?? []
      expect(missing.length).toBeGreaterThan(0)
      // no row was added: every missing row was present for the whole export
      const throughout = new Set(presentThroughout(before, after, () => true))
      expect(missing.filter((id) => !throughout.has(id))).toEqual([])
    }).pipe(Effect.provide(layer))
  })
})

describe("property: random tables, bounds, strategies and changes during the export, against the engine", () => {
  const input = fc.record({
    size: fc.integer({ min: 0, max: 260 }),
    seedNumber: fc.integer({ min: 1, max: 10_000 }),
    strategy: fc.constantFrom(...strategies),
    order: fc.constantFrom<"none" | "ID DESC" | "TITLE">("none", "none", "ID DESC", "TITLE"),
    bounds: fc.array(
      fc.record({ op: fc.constantFrom(...boundOps), at: fc.nat(), shift: fc.constantFrom(-1, 0, 0, 0, 1) }),
      { maxLength: 2 }
    ),
    category: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
    // every field: the span is learnt from pages of IDs while the end pages' rows are read (`costlySelect`)
    select: fc.constantFrom<"some" | "every">("some", "every"),
    churn: fc.option(
      fc.record({ everyRequests: fc.integer({ min: 1, max: 4 }), add: fc.integer({ min: 0, max: 6 }), delete: fc.integer({ min: 0, max: 6 }) }),
      { nil: undefined }
    )
  })

  it("every row present for the whole export is returned exactly once, and nothing outside the filter", async () => {
    await fc.assert(
      fc.asyncProperty(input, async (run) => {
        const strategy = run.order === "none" ? run.strategy : run.strategy === "offset" ? "offset" : "auto"
        const { layer } = portalLayer({
          seed: { "crm.deal": run.size },
          seedNumber: run.seedNumber,
          ...(run.churn === undefined ? {} : { mutations: [{ entity: "crm.deal", ...run.churn }] })
        })
        const program = Effect.gen(function* () {
          const before = yield* engineDeals
          const ids = before.map((deal) => deal.id)
          // bounds on existing IDs or next to them; one per operator (a filter key holds one value)
          const bounds = new Map<BoundOp, number>()
          for (const bound of run.bounds) bounds.set(bound.op, ids.length === 0 ? bound.shift : ids[bound.at % ids.length]! + bound.shift)
          const filter: Record<string, number> = {}
          for (const [op, value] of bounds) filter[`${op}ID`] = value
          if (run.category !== undefined) filter["CATEGORY_ID"] = run.category
          const matches = (deal: Deal) =>
            [...bounds].every(([op, value]) => holds(op, deal.id, value)) && (run.category === undefined || deal.category === run.category)
          const order = run.order === "ID DESC" ? { order: { ID: "DESC" } } : run.order === "TITLE" ? { order: { TITLE: "ASC" } } : {}
          const select = run.select === "every" ? ["*"] : ["ID", "CATEGORY_ID", "TITLE"]
          const params = { select, ...(Object.keys(filter).length === 0 ? {} : { filter }), ...order }
          const rows = yield* Bitrix.getAll("crm.deal.list", params, { strategy })
          const after = yield* engineDeals
          expectComplete(rows, { before, after }, matches)
          if (run.churn === undefined) {
            // nothing changed: exactly the engine's rows
            const expected = before.filter(matches)
            if (run.order === "TITLE") expected.sort((a, b) => (a.title < b.title ? -1 : a.title > b.title ? 1 : 0))
            if (run.order === "ID DESC") expected.reverse()
            expect(idsOf(rows)).toEqual(expected.map((deal) => deal.id))
          }
        })
        await Effect.runPromise(program.pipe(Effect.provide(layer)))
      }),
      { numRuns: 40, seed: 20_251_010 }
    )
  }, 60_000)
})

describe("keyset walks fail with a typed error when the cursor stalls, repeats or runs backwards", () => {
  const page = (ids: ReadonlyArray<number>) => ok(ids.map((id) => ({ ID: String(id) })))
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index)

  it.effect("a page whose IDs go back inside it", () => {
    const { layer, sent } = scripted([page(range(1, 50)), page([...range(51, 80), 70, ...range(81, 99)])])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.getAll("vendor.thing.list", {}, { strategy: "keyset" })))
      expect(error).toMatchObject({ _tag: "KeysetUnsupportedError", reason: "OrderIgnored" })
      expect(error.message).toContain("ran backwards: ID 70 came after ID 80")
      expect(sent.length).toBe(2)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a page that repeats a row", () => {
    const { layer, sent } = scripted([page([...range(1, 49), 49])])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.getAll("vendor.thing.list", {}, { strategy: "keyset" })))
      expect(error.message).toContain("repeated: ID 49 came after ID 49")
      expect(sent.length).toBe(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a cycle of pages (A, B, A): the walk stops where the cursor runs back", () => {
    const { layer, sent } = scripted([page(range(1, 50)), page(range(51, 100)), page(range(1, 50))])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.getAll("vendor.thing.list", {}, { strategy: "keyset" })))
      expect(error).toMatchObject({ _tag: "KeysetUnsupportedError", reason: "FilterIgnored" })
      expect(error.message).toContain("ignored the keyset filter >ID=100")
      expect(sent.length).toBe(3)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a row beyond the upper bound the walk sent", () => {
    const { layer } = scripted([page([...range(1, 20), 61])])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.getAll("vendor.thing.list", { filter: { "<=ID": 60 } }, { strategy: "keyset" })))
      expect(error).toMatchObject({ _tag: "KeysetUnsupportedError", reason: "FilterIgnored" })
      expect(error.message).toContain("ignored the filter <=ID=60: a row with ID 61 came")
    }).pipe(Effect.provide(layer))
  })

  it.effect("keysetBatch: a chained command that ignored the reference and went back", () => {
    // every command of the batch answers: k00 rows 1-50, k01 rows 26-75 (it did not continue after 50)
    const chained: Answer = (_method, params) => {
      const labels = isRecord(params) && isRecord(params["cmd"]) ? Object.keys(params["cmd"]) : []
      const rows = (index: number) => range(1 + index * 25, 50 + index * 25).map((id) => ({ ID: String(id) }))
      const envelope: Envelope.Success = {
        result: { result: Object.fromEntries(labels.map((label, index) => [label, rows(index)])), result_error: [], result_total: [], result_next: [], result_time: [] }
      }
      return Effect.succeed(envelope)
    }
    const { layer, sent } = scripted([chained])
    return Effect.gen(function* () {
      const error = yield* Effect.flip(withClock(Bitrix.getAll("vendor.thing.list", {}, { strategy: "keysetBatch" })))
      expect(error).toMatchObject({ _tag: "KeysetUnsupportedError", reason: "OrderIgnored" })
      expect(error.message).toContain("ran backwards: ID 26 came after ID 50")
      expect(sent.length).toBe(1)
    }).pipe(Effect.provide(layer))
  })
})

describe("maxPages: a ceiling on the pages an export reads", () => {
  it.effect("keyset and keysetBatch read up to maxPages pages of rows, and fail with IncompleteListError past it", () => {
    const { layer } = portalLayer({ seed: { "crm.deal": 500 } })
    return Effect.gen(function* () {
      for (const strategy of ["keyset", "keysetBatch", "offset"] as const) {
        // 500 rows are 10 pages: the empty page that shows the end is not a page of rows
        expect((yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy, maxPages: 10 })).length).toBe(500)
        const error = yield* Effect.flip(Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy, maxPages: 9 }))
        expect(error._tag, strategy).toBe("IncompleteListError")
        expect(error.message).toContain("maxPages (9)")
      }
    }).pipe(Effect.provide(layer))
  })

  it.effect("ranges share one ceiling across the ranges walked at once", () => {
    const { layer } = portalLayer({ seed: { "crm.deal": 6000 } })
    return Effect.gen(function* () {
      const error = yield* Effect.flip(Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy: "ranges", maxPages: 60 }))
      expect(error._tag).toBe("IncompleteListError")
      expect(error.message).toContain("maxPages (60)")
      expect((yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] }, { strategy: "ranges", maxPages: 200 })).length).toBe(6000)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a ceiling that is not a whole number >= 1 is a ValidationError before any request", () => {
    const { layer, sent } = portalLayer({ seed: { "crm.deal": 10 } })
    return Effect.gen(function* () {
      for (const maxPages of [0, -1, 1.5, Number.NaN]) {
        const error = yield* Effect.flip(Bitrix.getAll("crm.deal.list", {}, { maxPages }))
        expect(error._tag).toBe("ValidationError")
        expect(error.message).toContain("options.maxPages")
      }
      expect(sent.length).toBe(0)
    }).pipe(Effect.provide(layer))
  })
})

describe("every field: the span comes from pages of IDs, the end pages' rows are read beside it", () => {
  // With `select: ["*"]` the export learns the span from the COUNT's page of IDs and a last page of IDs, and reads
  // the end pages' rows meanwhile. A row of the first page deleted between its page of IDs and its page of rows
  // lets the next row (the 51st) into the page of rows: that row lies in the ranges' span too, and must come once.
  it.effect("a row of the first page deleted between its IDs and its rows: every other row once, in ID order", () => {
    const gate = Effect.runSync(Deferred.make<void>())
    let deletedId: number | undefined
    const fake = FakePortal.layer({ limits: "off", costModel: "zero", seed: { "crm.deal": 500 } })
    const racing = Layer.effect(
      Transport.Transport,
      Effect.gen(function* () {
        const inner = yield* Transport.Transport
        const portal = yield* FakePortal.FakePortal
        return Transport.Transport.of({
          send: (method, params) =>
            Effect.gen(function* () {
              const query = params as {
                readonly start?: number
                readonly select?: ReadonlyArray<string>
                readonly order?: Record<string, string>
              }
              const list = method === "crm.deal.list"
              // the COUNT's page: the first page's IDs are in once it is answered
              if (list && query.start === 0) return yield* Effect.ensuring(inner.send(method, params), Deferred.succeed(gate, undefined))
              const firstPageOfRows = list && query.select?.includes("*") === true && query.order?.["ID"] === "ASC"
              if (firstPageOfRows && deletedId === undefined) {
                // the page of IDs is in: delete the tenth row before the page of rows is read
                yield* Deferred.await(gate)
                const first = (yield* Effect.provideService(engineDeals, FakePortal.FakePortal, portal)).slice(0, 50)
                deletedId = first[9]!.id
                portal.engine.methodTable.call("crm.deal.delete", { id: deletedId }, { nowMs: 0, userId: 1 })
              }
              return yield* inner.send(method, params)
            })
        })
      })
    ).pipe(Layer.provide(fake))
    return Effect.gen(function* () {
      const before = yield* engineDeals
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["*"] })
      expect(deletedId).toBe(before[9]!.id)
      // every row but the deleted one, once, in ID order: the 51st among them, read by the first range only
      expect(idsOf(rows)).toEqual(before.map((deal) => deal.id).filter((id) => id !== deletedId))
    }).pipe(Effect.provide(Layer.mergeAll(Bitrix.layerServices({ limits: "off" }), fake, racing)))
  })
})
