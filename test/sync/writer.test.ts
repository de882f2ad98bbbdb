/**
 * The SQLite sink's writer thread (src/internal/sync/writerThread.ts): the rows it prepares equal those prepared on
 * the client's thread; its failures are the sink's typed errors; a chunk posted behind one that failed is not
 * committed; a run that fails or is interrupted leaves rows and checkpoint agreeing (no chunk in flight behind it),
 * and the run after it completes the copy.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Bitrix from "../../src/Bitrix.js"
import { decodeFields, portalRows, prepareRows, shapeOf, sourceOf } from "../../src/internal/sync/fields.js"
import { orderedWritesOf } from "../../src/internal/sync/orderedWrites.js"
import { type ChunkMessage, makeRowWriter } from "../../src/internal/sync/writerThread.js"
import * as Sync from "../../src/Sync.js"
import { engineRows } from "../support/engine.js"
import { expectTableEqualsPortal, portalLayer, syncSelect } from "./scenarios.js"

const folder = fs.mkdtempSync(path.join(os.tmpdir(), "b24-sync-writer-"))
afterAll(() => fs.rmSync(folder, { recursive: true, force: true }))
let files = 0
const freshFile = () => path.join(folder, `db-${++files}.db`)

const sqlite = {
  dialect: "sqlite" as const,
  fresh: () => `sqlite:${freshFile()}`,
  client: (url: string) => SqliteClient.layer({ filename: url.slice("sqlite:".length) }),
  table: (_url: string, name: string) => `"${name}"`,
  columnsQuery: (_url: string, name: string) => `SELECT name FROM pragma_table_info('${name}')`
}

/** Runs `statements` against the file with the test's own client and returns the last one's rows. */
const query = (file: string, ...statements: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const sql = yield* SqliteClient.SqliteClient
    let rows: ReadonlyArray<Record<string, unknown>> = []
    for (const statement of statements) rows = yield* sql.unsafe<Record<string, unknown>>(statement)
    return rows
  }).pipe(Effect.provide(SqliteClient.layer({ filename: file })))

/** The table's IDs and the checkpoint's cursor: committed together, they must agree. */
const committedState = (file: string) =>
  Effect.gen(function* () {
    const ids = (yield* query(file, `SELECT id FROM crm_deal ORDER BY id`)).map((row) => Number(row["id"]))
    const state = yield* query(file, `SELECT phase, cursor_id FROM _b24_sync_state WHERE entity = 'crm.deal'`)
    const cursor = state[0]?.["cursor_id"]
    return { ids, phase: state[0]?.["phase"], cursor: cursor === null || cursor === undefined ? 0 : Number(cursor) }
  })

/** The rows a run committed are exactly the portal's rows up to the checkpoint's cursor: none missing, none beyond. */
const expectPrefixOfPortal = (file: string) =>
  Effect.gen(function* () {
    const { ids, phase, cursor } = yield* committedState(file)
    const portalIds = (yield* engineRows("crm.deal.list", ["ID"])).map((row) => Number((row as { readonly ID: unknown }).ID))
    expect(phase).toBe("full")
    expect(ids).toEqual(portalIds.filter((id) => id <= cursor))
    return { committed: ids.length, total: portalIds.length }
  })

describe("the SQLite writer thread", () => {
  it.live("prepares rows from their raw JSON exactly as the client's thread does, column by column", () =>
    Effect.gen(function* () {
      const source = sourceOf("crm.deal")
      const fields = yield* Effect.flatMap(Bitrix.call(source.fieldsMethod), (result) => decodeFields(source, result))
      const shape = shapeOf("crm.deal", fields)
      const rows = yield* engineRows("crm.deal.list", syncSelect)
      const checkpoint: Sync.Checkpoint = { entity: "crm.deal", phase: "full", watermark: null, runStartedAt: null, since: null, cursorId: null, runs: 0 }
      const write = (file: string, prepared: ReadonlyArray<Sync.PreparedRow>) =>
        Effect.gen(function* () {
          const sink = yield* Sync.Sink
          yield* sink.ensureTable(shape)
          return yield* sink.writeRows(shape, prepared, checkpoint, "2026-12-02T00:00:00.000Z")
        }).pipe(Effect.provide(Sync.layer(`sqlite:${file}`)))
      const [here, there] = [freshFile(), freshFile()]
      // prepared here (values and hash read before the write) and in the writer (rows nobody has read)
      expect(yield* write(here, prepareRows(shape, rows, "sqlite"))).toEqual({ inserted: rows.length, updated: 0 })
      const unread = portalRows(shape, rows, "sqlite")
      expect(unread.every((row) => row.unread)).toBe(true)
      expect(yield* write(there, unread)).toEqual({ inserted: rows.length, updated: 0 })
      const all = `SELECT * FROM crm_deal ORDER BY id`
      const [a, b] = [yield* query(here, all), yield* query(there, all)]
      expect(a.length).toBe(rows.length)
      expect(b).toEqual(a)
      // money, flags and dates did reach their columns
      expect(a.some((row) => typeof row["uf_crm_1603211497115"] === "number")).toBe(true)
      expect(a.some((row) => row["is_new"] === 1)).toBe(true)
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 400 } })))
  )

  it.live("a failure inside the writer is a SinkError with SQLite's words; chunks behind it are not committed; the next run completes", () => {
    const file = freshFile()
    const url = `sqlite:${file}`
    return Effect.gen(function* () {
      // the sink makes its tables; the database then refuses the checkpoint of any chunk past the 1,200th row
      yield* Effect.scoped(Layer.build(Sync.layer(url)))
      yield* query(
        file,
        `CREATE TRIGGER refuse_checkpoint BEFORE UPDATE ON _b24_sync_state WHEN NEW.cursor_id > 1200 ` +
          `BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`
      )
      const failed = yield* Effect.either(Sync.run({ entities: ["crm.deal"], chunkSize: 100 }).pipe(Effect.provide(Sync.layer(url))))
      expect(Either.isLeft(failed) && failed.left._tag).toBe("SinkError")
      const error = Either.isLeft(failed) && failed.left._tag === "SinkError" ? failed.left : undefined
      expect(error?.action).toBe("write")
      expect(error?.detail).toMatch(/refused by the test/)
      expect(error?.message).toMatch(/^cannot write sqlite:.*: refused by the test$/)
      // the chunks posted behind the refused one were not committed either: the rows stop at the checkpoint
      const { committed, total } = yield* expectPrefixOfPortal(file)
      expect(committed).toBeGreaterThan(0)
      expect(committed).toBeLessThan(total)
      expect((yield* committedState(file)).cursor).toBeLessThanOrEqual(1200)
      yield* query(file, `DROP TRIGGER refuse_checkpoint`)
      const rerun = yield* Sync.run({ entities: ["crm.deal"], chunkSize: 100 }).pipe(Effect.provide(Sync.layer(url)))
      expect({ inserted: rerun.inserted, updated: rerun.updated }).toEqual({ inserted: total - committed, updated: 0 })
      yield* expectTableEqualsPortal(sqlite, url, "crm.deal")
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 3000 } })))
  })

  it.live("an interrupted run leaves no chunk in flight: rows and checkpoint agree, and the next run completes the copy", () => {
    const file = freshFile()
    const url = `sqlite:${file}`
    let listRequests = 0
    let interrupt: (() => void) | undefined
    return Effect.gen(function* () {
      const fiber = yield* Effect.fork(Sync.run({ entities: ["crm.deal"], chunkSize: 50 }).pipe(Effect.provide(Sync.layer(url))))
      // once rows have been flowing for a while, stop the run as Ctrl-C does
      yield* Effect.async<void>((resume) => {
        interrupt = () => resume(Effect.void)
      })
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      const { committed, total } = yield* expectPrefixOfPortal(file)
      expect(committed).toBeLessThan(total)
      const rerun = yield* Sync.run({ entities: ["crm.deal"], chunkSize: 50 }).pipe(Effect.provide(Sync.layer(url)))
      expect({ inserted: rerun.inserted, updated: rerun.updated }).toEqual({ inserted: total - committed, updated: 0 })
      yield* expectTableEqualsPortal(sqlite, url, "crm.deal")
    }).pipe(
      Effect.provide(
        portalLayer({ seed: { "crm.deal": 6000 } }, (method) => {
          if (method === "batch" || method === "crm.deal.list") listRequests++
          if (listRequests === 4) interrupt?.()
        })
      )
    )
  })

  it.live("the runs hand chunks over ahead to the SQLite sink itself; a wrapped sink (or Postgres's) gets one at a time", () =>
    Effect.gen(function* () {
      const sink = yield* Sync.Sink
      expect(orderedWritesOf(sink)?.depth).toBeGreaterThanOrEqual(1)
      expect(orderedWritesOf({ ...sink })).toBeUndefined()
    }).pipe(Effect.provide(Sync.layer(sqlite.fresh())))
  )

  it.live("a new file gets 16 KiB pages; an existing file keeps its own", () =>
    Effect.gen(function* () {
      const fresh = freshFile()
      yield* Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(`sqlite:${fresh}`)))
      expect(yield* query(fresh, "PRAGMA page_size")).toEqual([{ page_size: 16384 }])
      expect(yield* query(fresh, "PRAGMA journal_mode")).toEqual([{ journal_mode: "wal" }])
      const existing = freshFile()
      yield* query(existing, "CREATE TABLE kept (x INTEGER)")
      yield* Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(`sqlite:${existing}`)))
      expect(yield* query(existing, "PRAGMA page_size")).toEqual([{ page_size: 4096 }])
      yield* expectTableEqualsPortal(sqlite, `sqlite:${existing}`, "crm.deal")
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 120 } })))
  )

  describe("its failures, typed", () => {
    const table = `"t"`
    const chunk = (ids: ReadonlyArray<number>, upsertInto = table): ChunkMessage => ({
      select: `SELECT id, raw_hash, deleted_at FROM ${table} WHERE id BETWEEN ? AND ?`,
      upsert:
        `INSERT INTO ${upsertInto} (id, title, raw, raw_hash, deleted_at, synced_at) VALUES (?, ?, ?, ?, ?, ?) ` +
        `ON CONFLICT (id) DO UPDATE SET title = excluded.title, raw = excluded.raw, raw_hash = excluded.raw_hash`,
      checkpoint: { sql: `INSERT OR REPLACE INTO state (entity, cursor_id) VALUES (?, ?)`, params: ["crm.deal", ids.at(-1) ?? null] },
      syncedAt: "2026-12-02T00:00:00.000Z",
      columns: [{ field: "TITLE", type: "text" }],
      ids,
      raws: ids.map((id) => JSON.stringify({ ID: String(id), TITLE: `Deal ${id}` })),
      values: ids.map(() => null),
      hashes: ids.map(() => null)
    })
    const database = () => {
      const file = freshFile()
      return Effect.as(
        query(
          file,
          `CREATE TABLE t (id INTEGER PRIMARY KEY, title TEXT, raw TEXT NOT NULL, raw_hash TEXT NOT NULL, deleted_at TEXT, synced_at TEXT NOT NULL)`,
          `CREATE TABLE state (entity TEXT PRIMARY KEY, cursor_id INTEGER)`
        ),
        file
      )
    }

    it.scoped("a statement that fails, and the chunk posted behind it, fail as writes; the thread goes on", () =>
      Effect.gen(function* () {
        const file = yield* database()
        const writer = yield* makeRowWriter(file, "sqlite:test.db")
        const first = yield* writer.post(null, chunk([1, 2]))
        expect(yield* first.commit).toEqual({ inserted: 2, updated: 0 })
        // posted one behind the other before either is acknowledged, as a run posts them
        const broken = yield* writer.post(first.id, chunk([3, 4], `"missing"`))
        const behind = yield* writer.post(broken.id, chunk([5, 6]))
        expect(yield* Effect.flip(broken.commit)).toMatchObject({
          _tag: "SinkError",
          database: "sqlite:test.db",
          action: "write",
          detail: "no such table: missing"
        })
        expect(yield* Effect.flip(behind.commit)).toMatchObject({ _tag: "SinkError", action: "write", detail: "not written: the chunk before it failed" })
        // and one posted after the failure was acknowledged, behind the refused one, is refused as well
        const later = yield* writer.post(behind.id, chunk([8]))
        expect(yield* Effect.flip(later.commit)).toMatchObject({ _tag: "SinkError", action: "write", detail: "not written: the chunk before it failed" })
        expect(yield* query(file, `SELECT id FROM t ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }])
        expect(yield* query(file, `SELECT cursor_id FROM state`)).toEqual([{ cursor_id: 2 }])
        // another run's chunk (behind none) is written (row 2 unchanged: left alone)
        expect(yield* Effect.flatMap(writer.post(null, chunk([2, 7])), (posted) => posted.commit)).toEqual({ inserted: 1, updated: 0 })
        expect(yield* query(file, `SELECT title FROM t WHERE id = 7`)).toEqual([{ title: "Deal 7" }])
      })
    )

    it.scoped("a thread that dies fails every later write with a SinkError", () =>
      Effect.gen(function* () {
        const file = yield* database()
        const writer = yield* makeRowWriter(file, "sqlite:test.db")
        expect(yield* Effect.flatMap(writer.post(null, chunk([1])), (posted) => posted.commit)).toEqual({ inserted: 1, updated: 0 })
        yield* Effect.promise(() => writer.worker.terminate())
        const error = yield* Effect.flip(Effect.flatMap(writer.post(null, chunk([2])), (posted) => posted.commit))
        expect(error).toMatchObject({ _tag: "SinkError", action: "write" })
        expect(error.detail).toMatch(/the SQLite writer thread exited/)
        expect(yield* query(file, `SELECT id FROM t ORDER BY id`)).toEqual([{ id: 1 }])
      })
    )

    it.scoped("a file the thread cannot open fails the first write with a SinkError of action open", () =>
      Effect.gen(function* () {
        const writer = yield* makeRowWriter(path.join(folder, "never-made.db"), "sqlite:never-made.db")
        const error = yield* Effect.flip(Effect.flatMap(writer.post(null, chunk([1])), (posted) => posted.commit))
        expect(error).toMatchObject({ _tag: "SinkError", database: "sqlite:never-made.db", action: "open" })
        expect(fs.existsSync(path.join(folder, "never-made.db"))).toBe(false)
      })
    )
  })
})
