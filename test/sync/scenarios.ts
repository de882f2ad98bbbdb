/**
 * The sync's behaviour, written once and run against each database (sqlite.test.ts, postgres.test.ts). Expected
 * values come from the fake portal's engine (its method table called directly, see support/engine.ts) and from
 * the database read with its own client, never from the sync's summary alone.
 */
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { isDeepStrictEqual } from "node:util"
import * as Bitrix from "../../src/Bitrix.js"
import * as FakePortal from "../../src/testing/FakePortal.js"
import type { FakePortalOptions, MutationRule } from "../../src/testing/Options.js"
import * as Sync from "../../src/Sync.js"
import * as Transport from "../../src/Transport.js"
import { engineRows } from "../support/engine.js"

/** A database the scenarios run against. */
export interface TestDatabase {
  readonly dialect: "sqlite" | "postgres"
  /** A sink URL no other test uses. */
  readonly fresh: () => string
  /** A client of the database behind `url`, for the test's own reads. */
  readonly client: (url: string) => Layer.Layer<SqlClient.SqlClient, unknown>
  /** A query whose rows name the table's columns (`name`). */
  readonly columnsQuery: (url: string, name: string) => string
  /** The table's name in SQL, qualified by the URL's schema when there is one. */
  readonly table: (url: string, name: string) => string
}

/** What every classic CRM list returns to the sync: standard fields, user fields, multifields by name. */
export const syncSelect = ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"]

type Row = Readonly<Record<string, unknown>>

const isRecord = (value: unknown): value is Row => typeof value === "object" && value !== null && !Array.isArray(value)

/** The entityTypeId of `crm.item:<n>`, or undefined for a classic entity. */
const entityTypeIdOf = (entity: string): number | undefined => {
  const match = /^crm\.item:(\d+)$/.exec(entity)
  return match === null ? undefined : Number(match[1])
}

/** An entity's table: `crm.deal` → `crm_deal`, `crm.item:1032` → `crm_item_1032`. */
export const tableName = (entity: string): string => entity.replace(/[.:]/g, "_")

/**
 * Every item of a smart process as `crm.item.list` prints it with `select: ["*"]` (camelCase keys, rows under
 * `result.items`), from the engine's method table, in ID order.
 */
export const engineItems = (entityTypeId: number) =>
  Effect.map(FakePortal.FakePortal, (portal) => {
    const rows: Array<Row> = []
    for (let start = 0; ; start += 50) {
      const answer = portal.engine.methodTable.call("crm.item.list", { entityTypeId, select: ["*"], order: { id: "ASC" }, start }, { nowMs: 0, userId: 1 })
      const items = answer?._tag === "Ok" && isRecord(answer.result) ? answer.result["items"] : undefined
      if (!Array.isArray(items)) throw new Error(`the engine answered ${JSON.stringify(answer)}`)
      for (const item of items) if (isRecord(item)) rows.push(item)
      if (answer?._tag !== "Ok" || answer.next === undefined || items.length === 0) return rows
    }
  })

/** The engine's rows of an entity as the sync reads them, by ID (`ID` classic, `id` for crm.item). */
export const portalRows = (entity: string) => {
  const entityTypeId = entityTypeIdOf(entity)
  if (entityTypeId !== undefined) return Effect.map(engineItems(entityTypeId), (rows) => new Map(rows.map((row) => [Number(row["id"]), row])))
  return Effect.map(engineRows(`${entity}.list`, entity === "crm.lead" ? [...syncSelect, "LINK"] : syncSelect), (rows) => {
    const byId = new Map<number, Row>()
    for (const row of rows) if (isRecord(row)) byId.set(Number(row["ID"]), row)
    return byId
  })
}

/** Every row of a table, by ID, as the database returns it. */
export const tableRows = (db: TestDatabase, url: string, name: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql.unsafe<Record<string, unknown>>(`SELECT * FROM ${db.table(url, name)} ORDER BY id`)
    return new Map(rows.map((row) => [Number(row["id"]), row]))
  }).pipe(Effect.provide(db.client(url)))

/** The table's columns. */
export const tableColumns = (db: TestDatabase, url: string, name: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql.unsafe<Record<string, unknown>>(db.columnsQuery(url, name))
    return rows.map((row) => String(row["name"]))
  }).pipe(Effect.provide(db.client(url)))

/** The raw JSON a table keeps, parsed (SQLite stores text, Postgres jsonb). */
const rawOf = (row: Row): unknown => (typeof row["raw"] === "string" ? JSON.parse(row["raw"]) : row["raw"])

/**
 * The table against the portal: the same live IDs, each row's raw JSON equal to the engine's row; the rows the
 * portal no longer has are still there, marked deleted.
 */
export const expectTableEqualsPortal = (db: TestDatabase, url: string, entity: string) =>
  Effect.gen(function* () {
    const portal = yield* portalRows(entity)
    const table = yield* tableRows(db, url, tableName(entity))
    const live = [...table.values()].filter((row) => row["deleted_at"] === null)
    expect(live.map((row) => Number(row["id"]))).toEqual([...portal.keys()])
    for (const row of live) expect(rawOf(row)).toEqual(portal.get(Number(row["id"])))
    return { portal, table }
  })

/** Timestamps as epoch ms whichever way the driver returns them (text in SQLite, Date in Postgres). */
const epoch = (value: unknown): number | null =>
  value === null || value === undefined ? null : value instanceof Date ? value.getTime() : Date.parse(String(value))

const numberOrNull = (value: unknown): number | null => (value === null || value === undefined || value === "" ? null : Number(value))

const flag = (value: unknown): boolean | null => (value === null || value === undefined ? null : value === true || value === 1 || value === "1")

const jsonOf = (value: unknown): unknown => (typeof value === "string" ? JSON.parse(value) : value)

/** The client over a fresh in-process portal (limits off, no simulated server time), the portal kept for checks. */
export const portalLayer = (portal: FakePortalOptions, onRequest?: (method: string, engine: FakePortal.Service["engine"]) => void) => {
  const fake = FakePortal.layer({ limits: "off", costModel: "zero", ...portal })
  const hooked = Layer.effect(
    Transport.Transport,
    Effect.gen(function* () {
      const inner = yield* Transport.Transport
      const { engine } = yield* FakePortal.FakePortal
      return Transport.Transport.of({
        send: (method, params) => Effect.zipRight(Effect.sync(() => onRequest?.(method, engine)), inner.send(method, params))
      })
    })
  ).pipe(Layer.provide(fake))
  return Layer.mergeAll(Bitrix.layerServices({ limits: "off" }), fake, hooked)
}

/** Writes through the engine itself (no client, no request counted), as another user of the portal would. */
export const engineCall = (method: string, params: Record<string, unknown>) =>
  Effect.flatMap(FakePortal.FakePortal, ({ engine }) =>
    Effect.sync(() => {
      const answer = engine.methodTable.call(method, params, { nowMs: Date.now(), userId: 1 })
      if (answer?._tag !== "Ok") throw new Error(`${method}: the engine answered ${JSON.stringify(answer)}`)
      return answer.result
    })
  )

/** Applies a mutation rule once at the portal's current time. */
export const mutate = (rule: Omit<MutationRule, "everyRequests">, seed = 7) =>
  Effect.flatMap(FakePortal.FakePortal, ({ engine }) =>
    Effect.sync(() => {
      let state = seed
      const random = () => {
        state = (state * 1103515245 + 12345) % 2147483648
        return state / 2147483648
      }
      engine.methodTable.mutate({ ...rule, everyRequests: 1 }, random, Date.now())
    })
  )

const httpRequests = Effect.map(Effect.flatMap(FakePortal.FakePortal, (portal) => portal.stats), (stats) => stats.httpRequests)

/** The scenarios, against one database. */
export const scenarios = (db: TestDatabase) => {
  const seed = { "crm.deal": 700, "crm.contact": 300 }

  it.live("first load: the table holds every row of the portal, field by field", () => {
    const url = db.fresh()
    return Effect.gen(function* () {
      const summary = yield* Sync.run({ entities: ["crm.deal", "crm.contact"] }).pipe(Effect.provide(Sync.layer(url)))
      const deals = yield* expectTableEqualsPortal(db, url, "crm.deal")
      const contacts = yield* expectTableEqualsPortal(db, url, "crm.contact")
      expect(summary.inserted).toBe(deals.portal.size + contacts.portal.size)
      expect(summary.updated).toBe(0)
      // typed columns, field by field for a sample of rows
      const sample = [...deals.portal.keys()].filter((_, index) => index % 37 === 0)
      for (const id of sample) {
        const portal = deals.portal.get(id)!
        const row = deals.table.get(id)!
        expect(row["title"]).toBe(portal["TITLE"])
        expect(numberOrNull(row["opportunity"])).toBe(numberOrNull(portal["OPPORTUNITY"]))
        expect(numberOrNull(row["category_id"])).toBe(numberOrNull(portal["CATEGORY_ID"]))
        expect(numberOrNull(row["assigned_by_id"])).toBe(numberOrNull(portal["ASSIGNED_BY_ID"]))
        expect(row["stage_id"]).toBe(portal["STAGE_ID"])
        expect(flag(row["is_new"])).toBe(portal["IS_NEW"] === "Y")
        expect(epoch(row["date_modify"])).toBe(Date.parse(String(portal["DATE_MODIFY"])))
        expect(epoch(row["date_create"])).toBe(Date.parse(String(portal["DATE_CREATE"])))
        // a money field ("158000|RUB" or ""): its amount and its currency
        const money = String(portal["UF_CRM_1603211497115"] ?? "")
        expect(numberOrNull(row["uf_crm_1603211497115"])).toBe(money === "" ? null : Number(money.split("|")[0]))
        expect(row["uf_crm_1603211497115_currency"] ?? null).toBe(money === "" ? null : money.split("|")[1])
      }
      for (const id of [...contacts.portal.keys()].slice(0, 40)) {
        const portal = contacts.portal.get(id)!
        const row = contacts.table.get(id)!
        expect(jsonOf(row["phone"]) ?? []).toEqual(portal["PHONE"] ?? [])
        expect(jsonOf(row["email"]) ?? []).toEqual(portal["EMAIL"] ?? [])
      }
    }).pipe(Effect.provide(portalLayer({ seed })))
  })

  it.live("a second run changes nothing and costs a few requests", () => {
    const url = db.fresh()
    return Effect.gen(function* () {
      const sync = Sync.run({ entities: ["crm.deal", "crm.contact"] }).pipe(Effect.provide(Sync.layer(url)))
      yield* sync
      const before = yield* tableRows(db, url, "crm_deal")
      const requestsBefore = yield* httpRequests
      const again = yield* sync
      const requests = (yield* httpRequests) - requestsBefore
      expect({ inserted: again.inserted, updated: again.updated, markedDeleted: again.markedDeleted }).toEqual({ inserted: 0, updated: 0, markedDeleted: 0 })
      expect(again.entities.map((entity) => entity.mode)).toEqual(["incremental", "incremental"])
      // per entity: *.fields, the (empty) window, one ID-only request (under 2,500 rows)
      expect(requests).toBeLessThanOrEqual(2 * 3)
      expect(again.requests).toBe(requests)
      expect(yield* tableRows(db, url, "crm_deal")).toEqual(before)
    }).pipe(Effect.provide(portalLayer({ seed })))
  })

  it.live("incremental: exactly the rows changed since, those changed during the previous run included", () => {
    const url = db.fresh()
    const changedDuringRun: Array<number> = []
    // as soon as the first load has committed its first rows, other users change some of them on the portal
    const sink = Layer.effect(
      Sync.Sink,
      Effect.gen(function* () {
        const inner = yield* Sync.Sink
        const { engine } = yield* FakePortal.FakePortal
        return {
          ...inner,
          writeRows: (shape, rows, checkpoint, syncedAt) =>
            Effect.tap(inner.writeRows(shape, rows, checkpoint, syncedAt), () =>
              Effect.sync(() => {
                if (changedDuringRun.length > 0 || rows.length < 20) return
                for (const row of rows.slice(0, 20).filter((_, index) => index % 4 === 0)) {
                  engine.methodTable.call("crm.deal.update", { id: row.id, fields: { TITLE: `changed during the run ${row.id}` } }, { nowMs: Date.now(), userId: 1 })
                  changedDuringRun.push(row.id)
                }
              })
            )
        } satisfies Sync.SinkService
      })
    ).pipe(Layer.provide(Sync.layer(url)))
    return Effect.gen(function* () {
      yield* Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(sink))
      expect(changedDuringRun.length).toBe(5)
      const staleAfterFirst = yield* tableRows(db, url, "crm_deal")
      const portalAfterFirst = yield* portalRows("crm.deal")
      for (const id of changedDuringRun) expect(rawOf(staleAfterFirst.get(id)!)).not.toEqual(portalAfterFirst.get(id))
      // and more changes between the runs
      yield* mutate({ entity: "crm.deal", add: 4, update: 9 })
      const portal = yield* portalRows("crm.deal")
      const table = yield* tableRows(db, url, "crm_deal")
      const inserted = [...portal.keys()].filter((id) => !table.has(id)).length
      const updated = [...portal.keys()].filter((id) => table.has(id) && !isDeepStrictEqual(rawOf(table.get(id)!), portal.get(id))).length
      expect(inserted).toBe(4)
      expect(updated).toBeGreaterThanOrEqual(changedDuringRun.length + 1)
      const second = yield* Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(url)))
      expect({ inserted: second.inserted, updated: second.updated }).toEqual({ inserted, updated })
      yield* expectTableEqualsPortal(db, url, "crm.deal")
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 3000 } })))
  })

  it.live("rows deleted on the portal are marked deleted_at, never deleted", () => {
    const url = db.fresh()
    return Effect.gen(function* () {
      const sync = Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(url)))
      yield* sync
      const ids = [...(yield* portalRows("crm.deal")).keys()]
      const gone = [ids[0]!, ids[10]!, ids[11]!, ids[ids.length - 1]!]
      for (const id of gone) yield* engineCall("crm.deal.delete", { id })
      const summary = yield* sync
      expect(summary.markedDeleted).toBe(gone.length)
      const { table } = yield* expectTableEqualsPortal(db, url, "crm.deal")
      expect(table.size).toBe(ids.length)
      for (const id of gone) expect(table.get(id)?.["deleted_at"]).not.toBeNull()
      // once marked, a row stays marked: a third run marks nothing more
      expect((yield* sync).markedDeleted).toBe(0)
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 400 } })))
  })

  it.live("a user field added on the portal becomes a column", () => {
    const url = db.fresh()
    return Effect.gen(function* () {
      const sync = Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(url)))
      yield* sync
      expect(yield* tableColumns(db, url, "crm_deal")).not.toContain("uf_crm_sync_margin")
      yield* engineCall("crm.deal.userfield.add", { fields: { FIELD_NAME: "SYNC_MARGIN", USER_TYPE_ID: "double", EDIT_FORM_LABEL: "Margin" } })
      const id = [...(yield* portalRows("crm.deal")).keys()][5]!
      yield* engineCall("crm.deal.update", { id, fields: { UF_CRM_SYNC_MARGIN: 12.5 } })
      const summary = yield* sync
      expect(summary.entities[0]?.columnsAdded).toEqual(["uf_crm_sync_margin"])
      // every row now has the field (empty but for one): the table is read again
      expect(summary.entities[0]?.mode).toBe("full")
      expect(yield* tableColumns(db, url, "crm_deal")).toContain("uf_crm_sync_margin")
      const { table } = yield* expectTableEqualsPortal(db, url, "crm.deal")
      expect(numberOrNull(table.get(id)?.["uf_crm_sync_margin"])).toBe(12.5)
      expect([...table.values()].filter((row) => row["uf_crm_sync_margin"] !== null).length).toBe(1)
      // and the run after is incremental again
      expect((yield* sync).entities[0]?.mode).toBe("incremental")
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 120 } })))
  })

  it.live("crm.item: a smart process's first load holds every item, field by field, beside a classic entity", () => {
    const url = db.fresh()
    return Effect.gen(function* () {
      const summary = yield* Sync.run({ entities: ["crm.item:1032", "crm.deal"] }).pipe(Effect.provide(Sync.layer(url)))
      const items = yield* expectTableEqualsPortal(db, url, "crm.item:1032")
      const deals = yield* expectTableEqualsPortal(db, url, "crm.deal")
      expect(summary.entities.map((entity) => [entity.entity, entity.table, entity.mode, entity.inserted])).toEqual([
        ["crm.item:1032", "crm_item_1032", "full", items.portal.size],
        ["crm.deal", "crm_deal", "full", deals.portal.size]
      ])
      // columns named by each field's upperName in lower case
      const columns = yield* tableColumns(db, url, "crm_item_1032")
      for (const column of ["title", "stage_id", "category_id", "assigned_by_id", "opportunity", "updated_time", "created_time", "uf_crm_1032_1712074701"]) {
        expect(columns).toContain(column)
      }
      expect(columns).not.toContain("updatedtime")
      const sample = [...items.portal.keys()].filter((_, index) => index % 23 === 0)
      expect(sample.length).toBeGreaterThan(20)
      for (const id of sample) {
        const portal = items.portal.get(id)!
        const row = items.table.get(id)!
        expect(row["title"]).toBe(portal["title"])
        expect(row["stage_id"]).toBe(portal["stageId"])
        expect(numberOrNull(row["opportunity"])).toBe(numberOrNull(portal["opportunity"]))
        expect(numberOrNull(row["category_id"])).toBe(numberOrNull(portal["categoryId"]))
        expect(numberOrNull(row["assigned_by_id"])).toBe(numberOrNull(portal["assignedById"]))
        expect(numberOrNull(row["company_id"])).toBe(numberOrNull(portal["companyId"]))
        expect(flag(row["opened"])).toBe(portal["opened"] === "Y")
        expect(epoch(row["updated_time"])).toBe(Date.parse(String(portal["updatedTime"])))
        expect(epoch(row["created_time"])).toBe(Date.parse(String(portal["createdTime"])))
        expect(row["uf_crm_1032_1712074701"] ?? null).toBe(portal["ufCrm1032_1712074701"] ?? null)
      }
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.item:1032": 700, "crm.deal": 60 } })))
  })

  it.live("crm.item: an incremental run reads the items changed since (updatedTime) and marks the deleted ones", () => {
    const url = db.fresh()
    return Effect.gen(function* () {
      const sync = Sync.run({ entities: ["crm.item:1032"] }).pipe(Effect.provide(Sync.layer(url)))
      yield* sync
      const ids = [...(yield* portalRows("crm.item:1032")).keys()]
      // other users add, change and delete items between the runs
      yield* mutate({ entity: "crm.item:1032", add: 4, update: 9 })
      const gone = [ids[0]!, ids[1500]!, ids[ids.length - 1]!]
      for (const id of gone) yield* engineCall("crm.item.delete", { entityTypeId: 1032, id })
      const portal = yield* portalRows("crm.item:1032")
      const table = yield* tableRows(db, url, "crm_item_1032")
      const inserted = [...portal.keys()].filter((id) => !table.has(id)).length
      const updated = [...portal.keys()].filter((id) => table.has(id) && !isDeepStrictEqual(rawOf(table.get(id)!), portal.get(id))).length
      expect(inserted).toBe(4)
      expect(updated).toBeGreaterThanOrEqual(1)
      const requestsBefore = yield* httpRequests
      const second = yield* sync
      const requests = (yield* httpRequests) - requestsBefore
      expect(second.entities[0]?.mode).toBe("incremental")
      expect({ inserted: second.inserted, updated: second.updated, markedDeleted: second.markedDeleted }).toEqual({ inserted, updated, markedDeleted: gone.length })
      // crm.item.fields, ONE request for the window (all 3,000 items would take two), two for the 3,000 IDs
      expect(requests).toBe(4)
      const after = yield* expectTableEqualsPortal(db, url, "crm.item:1032")
      expect(after.table.size).toBe(ids.length + inserted)
      for (const id of gone) expect(after.table.get(id)?.["deleted_at"]).not.toBeNull()
      // and nothing more the run after
      const third = yield* sync
      expect({ inserted: third.inserted, updated: third.updated, markedDeleted: third.markedDeleted }).toEqual({ inserted: 0, updated: 0, markedDeleted: 0 })
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.item:1032": 3000 } })))
  })

  it.live("money: the amount as a number and the currency as text; empty or malformed values leave both null", () => {
    const url = db.fresh()
    const field = "UF_CRM_1603211497115"
    // [value written on the portal, amount expected (decimal text), currency expected]
    const cases: ReadonlyArray<readonly [string, string | null, string | null]> = [
      ["1234.56|USD", "1234.56", "USD"],
      ["0|EUR", "0", "EUR"],
      ["-15.5|RUB", "-15.5", "RUB"],
      ["007.50|RUB", "7.5", "RUB"],
      ["100", "100", null],
      ["999999999999999|RUB", "999999999999999", "RUB"],
      // 16 significant digits: exact in Postgres' numeric; SQLite's REAL would round it, so no number there
      ["1234567890123456.5|RUB", db.dialect === "postgres" ? "1234567890123456.5" : null, "RUB"],
      ["", null, null],
      ["|RUB", null, null],
      ["12,5|RUB", null, null],
      ["1e3|RUB", null, null],
      ["abc|RUB", null, null],
      ["12.5|rub", null, null],
      ["12.5|RUB|EUR", null, null],
      [" 12.5|RUB", null, null]
    ]
    const amountText = (value: unknown): string | null => (value === null || value === undefined ? null : String(value))
    return Effect.gen(function* () {
      const ids = [...(yield* portalRows("crm.deal")).keys()]
      const written = new Map<number, (typeof cases)[number]>()
      for (const [index, testCase] of cases.entries()) {
        const id = ids[index * 7 + 3]!
        yield* engineCall("crm.deal.update", { id, fields: { [field]: testCase[0] } })
        written.set(id, testCase)
      }
      yield* Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(url)))
      const { portal, table } = yield* expectTableEqualsPortal(db, url, "crm.deal")
      const columns = yield* tableColumns(db, url, "crm_deal")
      expect(columns).toContain("uf_crm_1603211497115")
      expect(columns).toContain("uf_crm_1603211497115_currency")
      // the boundary cases, each as written through the engine (the raw row keeps the text)
      for (const [id, [value, amount, currency]] of written) {
        const row = table.get(id)!
        expect(portal.get(id)?.[field], value).toBe(value)
        expect((rawOf(row) as Row)[field], value).toBe(value)
        expect(amountText(row["uf_crm_1603211497115"]), value).toBe(amount)
        expect(row["uf_crm_1603211497115_currency"] ?? null, value).toBe(currency)
      }
      // every other row as the engine seeded it: "<thousands>|RUB" or ""
      let filled = 0
      for (const [id, row] of table) {
        if (written.has(id)) continue
        const value = String(portal.get(id)?.[field] ?? "")
        const [amount, currency] = value === "" ? [null, null] : value.split("|")
        if (amount !== null) filled++
        expect(amountText(row["uf_crm_1603211497115"]), `${id}: ${value}`).toBe(amount === null ? null : String(Number(amount)))
        expect(row["uf_crm_1603211497115_currency"] ?? null, `${id}: ${value}`).toBe(currency ?? null)
      }
      expect(filled).toBeGreaterThan(50)
      if (db.dialect === "postgres") {
        // a money amount is numeric there: exact sums
        const sums = yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          return yield* sql.unsafe<{ readonly total: unknown }>(
            `SELECT sum(uf_crm_1603211497115) AS total FROM ${db.table(url, "crm_deal")} WHERE uf_crm_1603211497115_currency = 'USD'`
          )
        }).pipe(Effect.provide(db.client(url)))
        expect(String(sums[0]?.total)).toBe("1234.56")
      }
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 300 } })))
  })

  it.live("a second run against the same database while one holds it is refused", () => {
    const url = db.fresh()
    return Effect.gen(function* () {
      // the first run holds the lock (its own connection) while the second tries
      const holder = yield* Effect.gen(function* () {
        const sink = yield* Sync.Sink
        yield* sink.lock
        return yield* Effect.either(Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(url))))
      }).pipe(Effect.scoped, Effect.provide(Sync.layer(url)))
      expect(Either.isLeft(holder) && holder.left._tag).toBe("SyncLockedError")
      expect(Either.isLeft(holder) ? holder.left.message : "").toMatch(/another sync is running/)
      // the lock is released with its holder's scope: now a run goes through
      const summary = yield* Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(url)))
      expect(summary.inserted).toBe(50)
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 50 } })))
  })
}
