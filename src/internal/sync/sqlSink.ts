/**
 * The sync's sink over `@effect/sql`: one implementation for SQLite and Postgres (the SQL both understand:
 * `INSERT … ON CONFLICT (id) DO UPDATE`, `excluded.`), with the dialects' types, placeholders, catalogs and locks.
 * Loaded only when a sink layer is built; each driver is imported only by its own constructor, so a SQLite user
 * needs no `pg` and a Postgres user no `better-sqlite3`.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type Checkpoint, type ColumnType, type Entity, type PreparedRow, SinkError, type SinkService, SyncLockedError, type TableShape } from "../../Sync.js"
import { PortalRow } from "./fields.js"
import { offerOrderedWrites } from "./orderedWrites.js"
import type { Value } from "./values.js"
import { makeRowWriter, type RowWriter } from "./writerThread.js"

type Dialect = "sqlite" | "postgres"

const describe = (cause: unknown): string => {
  if (typeof cause === "object" && cause !== null && "cause" in cause && (cause as { cause: unknown }).cause !== undefined) {
    const inner = (cause as { cause: unknown }).cause
    if (inner instanceof Error) return inner.message
  }
  return cause instanceof Error ? cause.message : String(cause)
}

const sqlType = (dialect: Dialect, type: ColumnType): string => {
  if (dialect === "sqlite") {
    switch (type) {
      case "integer":
      case "boolean":
        return "INTEGER"
      case "real":
      case "decimal":
        return "REAL"
      default:
        return "TEXT"
    }
  }
  switch (type) {
    case "integer":
      return "bigint"
    case "real":
      return "double precision"
    case "decimal":
      // money amounts: exact, and sums over many rows stay exact
      return "numeric"
    case "boolean":
      return "boolean"
    case "date":
      return "date"
    case "datetime":
      return "timestamptz"
    case "json":
      return "jsonb"
    case "text":
      return "text"
  }
}

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`

/** Most parameters one statement binds (SQLite allows 32766, Postgres 65535). */
const maxParams = 30_000

/** The lock's key in Postgres: two int4 so `pg_locks` shows them (classid, objid). */
const advisoryClass = 0x623234 // "b24"

const stringHash = (text: string): number => {
  let hash = 0
  for (let index = 0; index < text.length; index++) hash = (Math.imul(hash, 31) + text.charCodeAt(index)) | 0
  return hash
}

/** A lock row whose heartbeat is older than this belongs to a run that died on another machine. */
const staleLockMs = 60_000
const heartbeatEvery = "5 seconds"

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

interface Options {
  readonly dialect: Dialect
  readonly database: string
  /** Postgres: the schema the tables live in (`?schema=` of the URL), else `public`. */
  readonly schema: string | undefined
}

/**
 * The sink over `sql`. With `rowWriter` (SQLite), chunks of rows are committed by the writer thread, and the sink's
 * other writes on this thread wait until no chunk is in flight (and hold the next ones back): two connections
 * writing one SQLite file at once would make a deferred transaction that reads before it writes (`ensureTable`)
 * fail with SQLITE_BUSY instead of waiting.
 */
const make = (sql: SqlClient.SqlClient, options: Options, rowWriter?: RowWriter) => {
  const { dialect, database, schema } = options
  const gate = Effect.unsafeMakeSemaphore(1)
  const exclusive = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    rowWriter === undefined ? effect : gate.withPermits(1)(Effect.zipRight(rowWriter.idle, effect))
  const fail = (action: "read" | "write" | "lock") => (cause: unknown) =>
    new SinkError({ database, action, detail: describe(cause) })
  const table = (name: string) => (schema === undefined ? quote(name) : `${quote(schema)}.${quote(name)}`)
  const placeholder = (index: number) => (dialect === "sqlite" ? "?" : `$${index}`)
  // SQLite's "?" do not depend on their position: one row's list serves every row (100,000 rows built it anew each)
  const sqliteLists = new Map<number, string>()
  const placeholders = (count: number, from: number) => {
    if (dialect !== "sqlite") return Array.from({ length: count }, (_, index) => placeholder(from + index)).join(", ")
    let list = sqliteLists.get(count)
    if (list === undefined) {
      list = Array.from({ length: count }, () => "?").join(", ")
      sqliteLists.set(count, list)
    }
    return list
  }
  const run = (text: string, params: ReadonlyArray<unknown> = []) => sql.unsafe<Record<string, unknown>>(text, params)
  const stateTable = table("_b24_sync_state")
  const fieldsTable = table("_b24_sync_fields")
  const lockTable = table("_b24_sync_lock")
  const time = dialect === "sqlite" ? "TEXT" : "timestamptz"
  const json = dialect === "sqlite" ? "TEXT" : "jsonb"
  const bigint = dialect === "sqlite" ? "INTEGER" : "bigint"

  const setup = Effect.gen(function* () {
    if (schema !== undefined) yield* run(`CREATE SCHEMA IF NOT EXISTS ${quote(schema)}`)
    yield* run(
      `CREATE TABLE IF NOT EXISTS ${stateTable} (entity TEXT PRIMARY KEY, phase TEXT NOT NULL, watermark TEXT, run_started_at TEXT, ` +
        `since TEXT, cursor_id ${bigint}, runs INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL)`
    )
    yield* run(
      `CREATE TABLE IF NOT EXISTS ${fieldsTable} (table_name TEXT NOT NULL, column_name TEXT NOT NULL, field TEXT NOT NULL, ` +
        `portal_type TEXT NOT NULL, sql_type TEXT NOT NULL, title TEXT NOT NULL, PRIMARY KEY (table_name, column_name))`
    )
  })

  const columnsOf = (name: string) =>
    dialect === "sqlite"
      ? Effect.map(run(`PRAGMA table_info(${quote(name)})`), (rows) => rows.map((row) => String(row["name"])))
      : Effect.map(
          run(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`, [schema ?? "public", name]),
          (rows) => rows.map((row) => String(row["column_name"]))
        )

  const ensureTable = (shape: TableShape) =>
    exclusive(sql
      .withTransaction(
        Effect.gen(function* () {
          const columns = shape.columns.map((column) => `${quote(column.name)} ${sqlType(dialect, column.type)}`)
          yield* run(
            `CREATE TABLE IF NOT EXISTS ${table(shape.table)} (id ${bigint} PRIMARY KEY${columns.map((column) => `, ${column}`).join("")}, ` +
              `raw ${json} NOT NULL, raw_hash TEXT NOT NULL, deleted_at ${time}, synced_at ${time} NOT NULL)`
          )
          const existing = new Set(yield* columnsOf(shape.table))
          const added: Array<string> = []
          for (const column of shape.columns) {
            if (existing.has(column.name)) continue
            yield* run(`ALTER TABLE ${table(shape.table)} ADD COLUMN ${quote(column.name)} ${sqlType(dialect, column.type)}`)
            added.push(column.name)
          }
          for (const column of shape.columns) {
            yield* run(
              `INSERT INTO ${fieldsTable} (table_name, column_name, field, portal_type, sql_type, title) VALUES (${placeholders(6, 1)}) ` +
                `ON CONFLICT (table_name, column_name) DO UPDATE SET field = excluded.field, portal_type = excluded.portal_type, ` +
                `sql_type = excluded.sql_type, title = excluded.title`,
              [shape.table, column.name, column.field, column.portalType, sqlType(dialect, column.type), column.title]
            )
          }
          return added
        })
      )
      .pipe(Effect.mapError(fail("write"))))

  const checkpointOf = (row: Record<string, unknown>): Checkpoint => {
    const text = (value: unknown) => (value === null || value === undefined ? null : String(value))
    const phase = String(row["phase"])
    return {
      entity: String(row["entity"]) as Entity,
      phase: phase === "full" || phase === "incremental" ? phase : "idle",
      watermark: text(row["watermark"]),
      runStartedAt: text(row["run_started_at"]),
      since: text(row["since"]),
      cursorId: row["cursor_id"] === null || row["cursor_id"] === undefined ? null : Number(row["cursor_id"]),
      runs: Number(row["runs"] ?? 0)
    }
  }

  const checkpoint = (entity: Entity) =>
    Effect.gen(function* () {
      const rows = yield* run(`SELECT * FROM ${stateTable} WHERE entity = ${placeholder(1)}`, [entity])
      return rows.length === 0 ? undefined : checkpointOf(rows[0]!)
    }).pipe(Effect.mapError(fail("read")))

  const checkpointStatement = (state: Checkpoint): { readonly sql: string; readonly params: ReadonlyArray<Value> } => ({
    sql:
      `INSERT INTO ${stateTable} (entity, phase, watermark, run_started_at, since, cursor_id, runs, updated_at) VALUES (${placeholders(8, 1)}) ` +
      `ON CONFLICT (entity) DO UPDATE SET phase = excluded.phase, watermark = excluded.watermark, run_started_at = excluded.run_started_at, ` +
      `since = excluded.since, cursor_id = excluded.cursor_id, runs = excluded.runs, updated_at = excluded.updated_at`,
    params: [state.entity, state.phase, state.watermark, state.runStartedAt, state.since, state.cursorId, state.runs, new Date().toISOString()]
  })

  const saveCheckpointStatement = (state: Checkpoint) => {
    const statement = checkpointStatement(state)
    return run(statement.sql, statement.params)
  }

  const saveCheckpoint = (state: Checkpoint) =>
    exclusive(sql.withTransaction(saveCheckpointStatement(state)).pipe(Effect.asVoid, Effect.mapError(fail("write"))))

  /** The columns a row is written to, and the `SET` of an upsert that replaces every one but `id`. */
  const upsertOf = (shape: TableShape) => {
    const names = ["id", ...shape.columns.map((column) => column.name), "raw", "raw_hash", "deleted_at", "synced_at"]
    const assignments = names
      .filter((name) => name !== "id")
      .map((name) => `${quote(name)} = excluded.${quote(name)}`)
      .join(", ")
    return { names, assignments }
  }

  const selectStoredSql = (shape: TableShape) =>
    `SELECT id, raw_hash, deleted_at FROM ${table(shape.table)} WHERE id BETWEEN ${placeholder(1)} AND ${placeholder(2)}`

  const writeRowsHere = (shape: TableShape, rows: ReadonlyArray<PreparedRow>, state: Checkpoint, syncedAt: string) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          let inserted = 0
          let updated = 0
          if (rows.length > 0) {
            let low = Infinity
            let high = -Infinity
            for (const row of rows) {
              low = Math.min(low, row.id)
              high = Math.max(high, row.id)
            }
            const stored = new Map<number, { readonly hash: string; readonly deleted: boolean }>()
            for (const row of yield* run(selectStoredSql(shape), [low, high])) {
              stored.set(Number(row["id"]), { hash: String(row["raw_hash"]), deleted: row["deleted_at"] !== null && row["deleted_at"] !== undefined })
            }
            const changed: Array<PreparedRow> = []
            const seen = new Set<number>()
            for (const row of rows) {
              if (seen.has(row.id)) continue
              seen.add(row.id)
              const before = stored.get(row.id)
              if (before === undefined) inserted++
              else if (before.hash !== row.hash || before.deleted) updated++
              else continue
              changed.push(row)
            }
            const { names, assignments } = upsertOf(shape)
            const perStatement = Math.max(1, Math.floor(maxParams / names.length))
            for (let start = 0; start < changed.length; start += perStatement) {
              const slice = changed.slice(start, start + perStatement)
              const params: Array<unknown> = []
              const tuples = slice.map((row) => {
                const from = params.length + 1
                params.push(row.id, ...row.values, row.raw, row.hash, null, syncedAt)
                return `(${placeholders(names.length, from)})`
              })
              yield* run(
                `INSERT INTO ${table(shape.table)} (${names.map(quote).join(", ")}) VALUES ${tuples.join(", ")} ` +
                  `ON CONFLICT (id) DO UPDATE SET ${assignments}`,
                params
              )
            }
          }
          yield* saveCheckpointStatement(state)
          return { inserted, updated }
        })
      )
      .pipe(Effect.mapError(fail("write")))

  /**
   * The chunk to the writer thread: one row's upsert (a statement of a few hundred rows saves nothing in SQLite, and
   * one text serves every chunk), the checkpoint's, and the rows. A row nobody has read yet (`PortalRow`) goes as its
   * raw JSON alone: the writer parses, converts and hashes it, the work that held this thread besides SQLite's.
   */
  const postRows = (
    writer: RowWriter,
    after: number | null,
    shape: TableShape,
    rows: ReadonlyArray<PreparedRow>,
    state: Checkpoint,
    syncedAt: string
  ) =>
    gate.withPermits(1)(
      Effect.suspend(() => {
        const { names, assignments } = upsertOf(shape)
        const ids = new Array<number>(rows.length)
        const raws = new Array<string>(rows.length)
        const values = new Array<ReadonlyArray<Value> | null>(rows.length)
        const hashes = new Array<string | null>(rows.length)
        for (let index = 0; index < rows.length; index++) {
          const row = rows[index]!
          ids[index] = row.id
          raws[index] = row.raw
          const unread = row instanceof PortalRow && row.unread
          values[index] = unread ? null : row.values
          hashes[index] = unread ? null : row.hash
        }
        return writer.post(after, {
          select: selectStoredSql(shape),
          upsert: `INSERT INTO ${table(shape.table)} (${names.map(quote).join(", ")}) VALUES (${placeholders(names.length, 1)}) ON CONFLICT (id) DO UPDATE SET ${assignments}`,
          checkpoint: checkpointStatement(state),
          syncedAt,
          columns: shape.columns.map((column) =>
            column.part === undefined ? { field: column.field, type: column.type } : { field: column.field, type: column.type, part: column.part }
          ),
          ids,
          raws,
          values,
          hashes
        })
      })
    )

  const writeRows = (shape: TableShape, rows: ReadonlyArray<PreparedRow>, state: Checkpoint, syncedAt: string) =>
    rowWriter === undefined
      ? writeRowsHere(shape, rows, state, syncedAt)
      : Effect.flatMap(postRows(rowWriter, null, shape, rows, state, syncedAt), (posted) => posted.commit)

  const liveIds = (name: string) =>
    run(`SELECT id FROM ${table(name)} WHERE deleted_at IS NULL ORDER BY id`).pipe(
      Effect.map((rows) => rows.map((row) => Number(row["id"]))),
      Effect.mapError(fail("read"))
    )

  const maxId = (name: string) =>
    run(`SELECT max(id) AS top FROM ${table(name)} WHERE deleted_at IS NULL`).pipe(
      Effect.map((rows) => {
        const top = rows[0]?.["top"]
        return top === null || top === undefined ? undefined : Number(top)
      }),
      Effect.mapError(fail("read"))
    )

  const markDeleted = (name: string, ids: ReadonlyArray<number>, at: string) =>
    exclusive(sql
      .withTransaction(
        Effect.gen(function* () {
          let marked = 0
          const per = 1000
          for (let start = 0; start < ids.length; start += per) {
            const slice = ids.slice(start, start + per)
            const rows = yield* run(
              `UPDATE ${table(name)} SET deleted_at = ${placeholder(1)} WHERE deleted_at IS NULL AND id IN (${placeholders(slice.length, 2)}) RETURNING id`,
              [at, ...slice]
            )
            marked += rows.length
          }
          return marked
        })
      )
      .pipe(Effect.mapError(fail("write"))))

  const lock: Effect.Effect<void, SyncLockedError | SinkError, Scope.Scope> =
    dialect === "postgres" ? postgresLock(sql, options) : sqliteLock(sql, options, lockTable, run)

  const service: SinkService = { dialect, database, lock, ensureTable, checkpoint, saveCheckpoint, writeRows, liveIds, maxId, markDeleted }
  if (rowWriter !== undefined) {
    offerOrderedWrites(service, {
      // with two chunks waiting for their commit the writer always has the next one: it never waits for this
      // thread, busy as it may be decoding the portal's answers
      depth: 2,
      stream: () => {
        let last: number | null = null
        return {
          post: (shape, rows, state, syncedAt) =>
            Effect.map(postRows(rowWriter, last, shape, rows, state, syncedAt), (posted) => {
              last = posted.id
              return posted.commit
            })
        }
      },
      idle: rowWriter.idle
    })
  }

  return {
    service,
    // the sync's own tables, made once when the sink opens (entities run in parallel would race to make them)
    setup: sql.withTransaction(setup).pipe(Effect.mapError((cause) => new SinkError({ database, action: "open", detail: describe(cause) })))
  }
}

/** A lock row with a heartbeat: taken over when its heartbeat is stale or its process is gone from this host. */
const sqliteLock = (
  sql: SqlClient.SqlClient,
  options: Options,
  lockTable: string,
  run: (text: string, params?: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, unknown>
): Effect.Effect<void, SyncLockedError | SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = os.hostname()
    const owner = `${host}:${process.pid}:${Math.random().toString(36).slice(2)}`
    const fail = (cause: unknown) => new SinkError({ database: options.database, action: "lock", detail: describe(cause) })
    yield* run(
      `CREATE TABLE IF NOT EXISTS ${lockTable} (name TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL, heartbeat_ms INTEGER NOT NULL)`
    ).pipe(Effect.mapError(fail))
    const taken = yield* sql
      .withTransaction(
        Effect.gen(function* () {
          const now = Date.now()
          const rows = yield* run(`SELECT owner, pid, host, heartbeat_ms FROM ${lockTable} WHERE name = 'sync'`)
          const holder = rows[0]
          if (holder !== undefined) {
            const pid = Number(holder["pid"])
            const sameHost = holder["host"] === host
            const stale = now - Number(holder["heartbeat_ms"]) > staleLockMs
            // a run killed on this host leaves its row behind: its process is gone, so the row is taken over at once
            const alive = sameHost && pid !== process.pid ? processAlive(pid) : !stale
            if (alive) return `pid ${pid} on ${String(holder["host"])}, heartbeat ${Math.round((now - Number(holder["heartbeat_ms"])) / 1000)} s ago`
          }
          yield* run(
            `INSERT INTO ${lockTable} (name, owner, pid, host, heartbeat_ms) VALUES ('sync', ?, ?, ?, ?) ` +
              `ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, host = excluded.host, heartbeat_ms = excluded.heartbeat_ms`,
            [owner, process.pid, host, now]
          )
          return undefined
        })
      )
      .pipe(Effect.mapError(fail))
    if (taken !== undefined) return yield* Effect.fail(new SyncLockedError({ database: options.database, holder: taken }))
    yield* Effect.addFinalizer(() => Effect.ignore(run(`DELETE FROM ${lockTable} WHERE name = 'sync' AND owner = ?`, [owner])))
    yield* Effect.forkScoped(
      Effect.ignore(Effect.suspend(() => run(`UPDATE ${lockTable} SET heartbeat_ms = ? WHERE name = 'sync' AND owner = ?`, [Date.now(), owner]))).pipe(
        Effect.delay(heartbeatEvery),
        Effect.repeat(Schedule.forever)
      )
    )
  })

/** A session-level advisory lock on a reserved connection: Postgres frees it when that session ends, even on kill -9. */
const postgresLock = (sql: SqlClient.SqlClient, options: Options): Effect.Effect<void, SyncLockedError | SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const fail = (cause: unknown) => new SinkError({ database: options.database, action: "lock", detail: describe(cause) })
    const key = stringHash(`sync:${options.schema ?? "public"}`)
    const connection = yield* sql.reserve.pipe(Effect.mapError(fail))
    const rows = yield* connection.execute(`SELECT pg_try_advisory_lock($1, $2) AS locked`, [advisoryClass, key], undefined).pipe(Effect.mapError(fail))
    if (rows[0]?.locked !== true) {
      const holders = yield* connection
        .execute(
          `SELECT l.pid, a.application_name, a.client_addr FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid ` +
            `WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [advisoryClass, key >>> 0],
          undefined
        )
        .pipe(Effect.orElseSucceed(() => []))
      const holder = holders[0]
      return yield* Effect.fail(
        new SyncLockedError({
          database: options.database,
          holder:
            holder === undefined
              ? "another session holds its advisory lock"
              : `Postgres session pid ${String(holder.pid)}${holder.application_name ? ` (${String(holder.application_name)})` : ""}`
        })
      )
    }
    yield* Effect.addFinalizer(() => Effect.ignore(connection.execute(`SELECT pg_advisory_unlock($1, $2)`, [advisoryClass, key], undefined)))
  })

/** The page size of a database file the sink creates. */
const newFilePageSize = 16_384

const openFailure = (database: string, detail: string) => new SinkError({ database, action: "open", detail })

/** A SQLite file as the sink; refuses a file without write permission and a folder that does not exist. */
export const makeSqlite = (filename: string): Effect.Effect<SinkService, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const database = `sqlite:${filename}`
    const folder = path.dirname(path.resolve(filename))
    if (!fs.existsSync(folder)) return yield* Effect.fail(openFailure(database, `the folder ${folder} does not exist`))
    const stat = fs.statSync(filename, { throwIfNoEntry: false })
    // even root honours a file's read-only mode here: writing it would go against its owner's intent
    if (stat !== undefined && (stat.mode & 0o222) === 0) {
      return yield* Effect.fail(openFailure(database, "the file is read-only (no write permission); nothing was written"))
    }
    if (stat !== undefined && !stat.isFile()) return yield* Effect.fail(openFailure(database, "not a file"))
    const [{ make: makeClient }, Reactivity] = yield* Effect.tryPromise({
      try: () => Promise.all([import("@effect/sql-sqlite-node/SqliteClient"), import("@effect/experimental/Reactivity")]),
      catch: (cause) =>
        openFailure(database, `the SQLite driver is not installed (npm install @effect/sql-sqlite-node better-sqlite3): ${describe(cause)}`)
    })
    const client = yield* makeClient({ filename }).pipe(
      Effect.provide(Reactivity.layer),
      // better-sqlite3 throws while opening (a folder, a corrupt file, a read-only volume): one typed error
      Effect.catchAllDefect((defect) => Effect.fail(openFailure(database, describe(defect))))
    )
    // a first statement proves the file is a database we can write
    yield* client.unsafe("CREATE TABLE IF NOT EXISTS _b24_sync_probe (x INTEGER)").pipe(
      Effect.zipRight(client.unsafe("DROP TABLE IF EXISTS _b24_sync_probe")),
      Effect.mapError((error) => openFailure(database, describe(error)))
    )
    // A new file gets pages of 16 KiB (SQLite's default is 4): a row of a wide entity (a few KiB with its raw JSON)
    // then costs a fifth less to write, and the WAL is checkpointed (synced) a quarter as often. Only an empty
    // database can change its page size, and only outside WAL; another process holding the new file makes this
    // fail, and the file keeps its pages
    if (stat === undefined) {
      yield* client.unsafe("PRAGMA journal_mode = DELETE").pipe(
        Effect.zipRight(client.unsafe(`PRAGMA page_size = ${newFilePageSize}`)),
        Effect.zipRight(client.unsafe("VACUUM")),
        Effect.ignore
      )
      yield* client.unsafe("PRAGMA journal_mode = WAL").pipe(Effect.mapError((error) => openFailure(database, describe(error))))
    }
    // WAL (the driver's default) with NORMAL sync: a commit no longer waits for the disk, and the file is never
    // corrupted; a power cut may undo the last commits, rows and checkpoint together, and the next run redoes them
    yield* client.unsafe("PRAGMA synchronous = NORMAL").pipe(Effect.mapError((error) => openFailure(database, describe(error))))
    // row writes go to a thread of their own (see writerThread.ts); it opens its connection while the run starts
    const rowWriter = yield* makeRowWriter(filename, database)
    const sink = make(client, { dialect: "sqlite", database, schema: undefined }, rowWriter)
    yield* sink.setup
    return sink.service
  })

/** A Postgres database as the sink; `?schema=NAME` in the URL puts the tables in that schema. */
export const makePostgres = (url: Redacted.Redacted<string>, database: string): Effect.Effect<SinkService, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const parsed = new URL(Redacted.value(url))
    const schema = parsed.searchParams.get("schema") ?? undefined
    parsed.searchParams.delete("schema")
    const [{ make: makeClient }, Reactivity] = yield* Effect.tryPromise({
      try: () => Promise.all([import("@effect/sql-pg/PgClient"), import("@effect/experimental/Reactivity")]),
      catch: (cause) => openFailure(database, `the Postgres driver is not installed (npm install @effect/sql-pg): ${describe(cause)}`)
    })
    const client = yield* makeClient({ url: Redacted.make(parsed.toString()), applicationName: "b24 sync", connectTimeout: "10 seconds" }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.mapError((error) => openFailure(database, describe(error))),
      Effect.catchAllDefect((defect) => Effect.fail(openFailure(database, describe(defect))))
    )
    const sink = make(client, { dialect: "postgres", database, schema: schema === "" ? undefined : schema })
    yield* sink.setup.pipe(
      // two runs opening a new schema at once: the loser's CREATE … IF NOT EXISTS meets the winner's; once more is enough
      Effect.retry({ times: 1 })
    )
    return sink.service
  })
