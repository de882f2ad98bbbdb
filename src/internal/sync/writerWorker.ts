/**
 * The SQLite sink's writer thread (`writerThread.ts` starts it): one `better-sqlite3` connection to the sink's file,
 * on which each chunk is committed in one `BEGIN IMMEDIATE` transaction holding its rows and the checkpoint, in the
 * order the chunks were posted. Rows the client's thread did not prepare are prepared here from their raw JSON, with
 * the same converters (`values.ts`). It loads no Effect: a message in, an acknowledgement out.
 */
import { createRequire } from "node:module"
import { parentPort, workerData } from "node:worker_threads"
import { rowHash, type Value, valuesOf } from "./values.js"
import type { ChunkMessage, WriteCounts, WriterData, WriterIn, WriterOut } from "./writerThread.js"

/** The part of better-sqlite3's API the writer uses (the package ships no types of its own). */
interface Statement {
  run(params: ReadonlyArray<Value>): unknown
  all(...params: ReadonlyArray<Value>): Array<unknown>
  raw(toggle: boolean): Statement
}

interface Database {
  prepare(sql: string): Statement
  pragma(source: string): unknown
  transaction(body: () => void): { readonly immediate: () => void }
  close(): void
}

type DatabaseConstructor = new (filename: string, options: { readonly fileMustExist: boolean }) => Database

const port = parentPort
if (port === null) throw new Error("writerWorker.ts runs as a worker thread")

const post = (message: WriterOut): void => port.postMessage(message)

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/**
 * better-sqlite3 is a dependency of `@effect/sql-sqlite-node`, not of this package: it is required from there, as
 * that client requires it (a strict node_modules layout would not let this package see it directly).
 */
const open = (filename: string): Database => {
  const driver = createRequire(createRequire(import.meta.url).resolve("@effect/sql-sqlite-node"))("better-sqlite3") as DatabaseConstructor
  // the client's thread made the file and set WAL (a property of the file); synchronous is one of the connection
  const db = new driver(filename, { fileMustExist: true })
  db.pragma("synchronous = NORMAL")
  // the WAL is checkpointed (and synced) at 4,000 pages rather than 1,000: a first load of wide rows spends an eighth
  // less time writing; the last connection to close checkpoints and removes it
  db.pragma("wal_autocheckpoint = 4000")
  return db
}

const statements = new Map<string, Statement>()
const preparers = new Map<string, (record: Readonly<Record<string, unknown>>) => Array<Value>>()

const statementOf = (db: Database, sql: string): Statement => {
  let statement = statements.get(sql)
  if (statement === undefined) {
    // the texts name a table and its columns: few, but a column added makes new ones
    if (statements.size >= 64) statements.clear()
    statement = db.prepare(sql)
    statements.set(sql, statement)
  }
  return statement
}

const preparerOf = (chunk: ChunkMessage) => {
  const key = JSON.stringify(chunk.columns)
  let prepare = preparers.get(key)
  if (prepare === undefined) {
    if (preparers.size >= 64) preparers.clear()
    // the sink is SQLite: booleans as 1/0, money amounts as numbers
    prepare = valuesOf(chunk.columns, "sqlite")
    preparers.set(key, prepare)
  }
  return prepare
}

/**
 * Upserts the chunk's rows by ID (a row whose hash is unchanged is left alone, a row marked deleted comes back; of
 * two rows with one ID the first is kept) and saves the checkpoint, in one transaction: what the sink did on the
 * client's thread, statement for statement.
 */
const write = (db: Database, chunk: ChunkMessage): WriteCounts => {
  const { ids, raws } = chunk
  let inserted = 0
  let updated = 0
  const select = statementOf(db, chunk.select).raw(true)
  const upsert = statementOf(db, chunk.upsert)
  const checkpoint = statementOf(db, chunk.checkpoint.sql)
  const prepare = preparerOf(chunk)
  // one array of parameters serves every row: id, the columns' values, raw, raw_hash, deleted_at, synced_at
  const params = new Array<Value>(chunk.columns.length + 5)
  params[params.length - 2] = null
  params[params.length - 1] = chunk.syncedAt
  db.transaction(() => {
    if (ids.length > 0) {
      let low = Infinity
      let high = -Infinity
      for (const id of ids) {
        low = Math.min(low, id)
        high = Math.max(high, id)
      }
      const stored = new Map<number, { readonly hash: string; readonly deleted: boolean }>()
      for (const row of select.all(low, high) as ReadonlyArray<readonly [unknown, unknown, unknown]>) {
        stored.set(Number(row[0]), { hash: String(row[1]), deleted: row[2] !== null && row[2] !== undefined })
      }
      const seen = new Set<number>()
      for (let index = 0; index < ids.length; index++) {
        const id = ids[index]!
        if (seen.has(id)) continue
        seen.add(id)
        const raw = raws[index]!
        const hash = chunk.hashes[index] ?? rowHash(raw)
        const before = stored.get(id)
        if (before === undefined) inserted++
        else if (before.hash !== hash || before.deleted) updated++
        // an unchanged row is not parsed at all
        else continue
        const values = chunk.values[index] ?? prepare(JSON.parse(raw) as Readonly<Record<string, unknown>>)
        if (values.length !== chunk.columns.length) throw new Error(`row ${id} has ${values.length} values for ${chunk.columns.length} columns`)
        params[0] = id
        for (let column = 0; column < values.length; column++) params[column + 1] = values[column]!
        params[values.length + 1] = raw
        params[values.length + 2] = hash
        upsert.run(params)
      }
    }
    checkpoint.run(chunk.checkpoint.params)
  }).immediate()
  return { inserted, updated }
}

let db: Database | undefined
try {
  db = open((workerData as WriterData).filename)
  post({ type: "ready" })
} catch (cause) {
  post({ type: "openFailed", detail: messageOf(cause) })
  port.close()
}

/** Writes that failed, or were refused behind one that did. */
const failed = new Set<number>()

if (db !== undefined) {
  const connection = db
  port.on("message", (message: WriterIn) => {
    switch (message.type) {
      case "write": {
        let outcome: WriterOut
        if (message.after !== null && failed.has(message.after)) {
          // its checkpoint would pass the rows of the chunk before it, which are not in the table
          outcome = { type: "failed", id: message.id, detail: "not written: the chunk before it failed" }
        } else {
          try {
            outcome = { type: "written", id: message.id, ...write(connection, message.chunk) }
          } catch (cause) {
            // the transaction is rolled back: nothing of the chunk, nor its checkpoint, was committed
            outcome = { type: "failed", id: message.id, detail: messageOf(cause) }
          }
        }
        if (outcome.type === "failed") failed.add(message.id)
        post(outcome)
        return
      }
      case "close":
        connection.close()
        port.close()
        return
    }
  })
}
