/**
 * A portal's CRM kept in a real database: `Sync.run` copies each entity (`crm.deal`, `crm.contact`,
 * `crm.company`, `crm.lead`, and smart processes as `crm.item:<entityTypeId>`) into a table shaped by the portal's
 * own `*.fields`, first in full, then incrementally (rows whose `DATE_MODIFY`, or `updatedTime` for `crm.item`, is
 * at or after the last run's start minus an overlap), and marks the rows gone from the portal with `deleted_at`
 * (never deleting data). Rows and the checkpoint are committed in the same transaction, so a run killed at any
 * moment resumes where it stopped.
 *
 * ```ts
 * const summary = await Effect.runPromise(
 *   Sync.run({ entities: ["crm.deal", "crm.contact"] }).pipe(
 *     Effect.provide(Sync.layer("sqlite:crm.db")),
 *     Effect.provide(Bitrix.layerFetch({ webhook }))
 *   )
 * )
 * ```
 *
 * The database drivers (`@effect/sql-sqlite-node` with `better-sqlite3`, or `@effect/sql-pg`) are optional
 * peer dependencies, loaded only when a sink layer is built.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Bitrix from "./Bitrix.js"
import { ValidationError } from "./BitrixError.js"
import * as SyncOptions from "./internal/sync/options.js"
import type * as ListStrategy from "./ListStrategy.js"

// ----------------------------------------------------------------------------------------------------------------
// Errors
// ----------------------------------------------------------------------------------------------------------------

/**
 * Another sync holds the database: a run is refused rather than interleaved with it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class SyncLockedError extends Schema.TaggedError<SyncLockedError>("effect-bitrix24/SyncLockedError")(
  "SyncLockedError",
  {
    /** The database, password redacted. */
    database: Schema.String,
    /** Who holds it, as far as the database tells (`pid 1234 on host`, `another Postgres session`). */
    holder: Schema.String
  }
) {
  override get message(): string {
    return `another sync is running against ${this.database} (${this.holder}); this run is refused. Wait for it to end, or run again later`
  }
}

/**
 * The database could not be opened, read or written. Nothing of the failed transaction was committed.
 *
 * @since 0.1.0
 * @category Errors
 */
export class SinkError extends Schema.TaggedError<SinkError>("effect-bitrix24/SinkError")("SinkError", {
  /** The database, password redacted. */
  database: Schema.String,
  action: Schema.Literal("open", "read", "write", "lock"),
  /** The database's own words. */
  detail: Schema.String
}) {
  override get message(): string {
    return `cannot ${this.action} ${this.database}: ${this.detail}`
  }
}

/**
 * Every failure of a sync: the portal's (as of any export), bad options, the database, a concurrent run.
 *
 * @since 0.1.0
 * @category Errors
 */
export type SyncError = ListStrategy.ListError | SinkError | SyncLockedError

// ----------------------------------------------------------------------------------------------------------------
// Options and summary
// ----------------------------------------------------------------------------------------------------------------

/**
 * The classic CRM entities a sync copies.
 *
 * @since 0.1.0
 * @category Models
 */
export type ClassicEntity = "crm.deal" | "crm.contact" | "crm.company" | "crm.lead"

/**
 * A smart process (or any type `crm.item.list` serves), named by its `entityTypeId`: `crm.item:1032`.
 *
 * @since 0.1.0
 * @category Models
 */
export type SmartProcessEntity = `crm.item:${number}`

/**
 * The entities a sync copies.
 *
 * @since 0.1.0
 * @category Models
 */
export type Entity = ClassicEntity | SmartProcessEntity

/**
 * The classic CRM entities a sync copies.
 *
 * @since 0.1.0
 * @category Models
 */
export const entities: ReadonlyArray<ClassicEntity> = SyncOptions.entities

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /**
   * The entities to copy, each into its own table (`crm.deal` → `crm_deal`, `crm.item:1032` → `crm_item_1032`).
   */
  readonly entities: ReadonlyArray<Entity>
  /**
   * How far before the last run's start an incremental run looks back, for clock skew and transactions that
   * commit late. Default 5 minutes.
   */
  readonly overlap?: Duration.DurationInput
  /**
   * The ID-only pass that marks rows gone from the portal runs on every `deletionsEvery`-th run of an entity
   * (1: every run, the default; 0: never).
   */
  readonly deletionsEvery?: number
  /** Rows a transaction: each commit holds them and the checkpoint. Default 1000. */
  readonly chunkSize?: number
  /** Reads every row again (a fresh full load over the existing table). Default false. */
  readonly full?: boolean
}

/**
 * What a run did to one entity's table.
 *
 * @since 0.1.0
 * @category Models
 */
export interface EntitySummary {
  readonly entity: Entity
  readonly table: string
  /** `full` for a first load (or a resumed one), `incremental` after it. */
  readonly mode: "full" | "incremental"
  readonly inserted: number
  /** Rows whose content changed (a row read again unchanged is not counted, nor written). */
  readonly updated: number
  readonly markedDeleted: number
  /** Columns added because the portal has new fields. */
  readonly columnsAdded: ReadonlyArray<string>
  /** Whether the ID pass for deletions ran. */
  readonly deletionPass: boolean
}

/**
 * What a run did.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Summary {
  readonly entities: ReadonlyArray<EntitySummary>
  readonly inserted: number
  readonly updated: number
  readonly markedDeleted: number
  /** Requests sent to the portal (batches count once). */
  readonly requests: number
  /** Refusals met: 503 QUERY_LIMIT_EXCEEDED and 429 OPERATION_TIME_LIMIT. */
  readonly throttled503: number
  readonly blocked429: number
  readonly wallMs: number
}

// ----------------------------------------------------------------------------------------------------------------
// The sink: where rows go
// ----------------------------------------------------------------------------------------------------------------

/**
 * The SQL type of a column, mapped to each database's own. `decimal` (a money amount) is `numeric` in Postgres,
 * exact at any length, and `REAL` in SQLite.
 *
 * @since 0.1.0
 * @category Models
 */
export type ColumnType = "integer" | "real" | "decimal" | "boolean" | "text" | "date" | "datetime" | "json"

/**
 * One column of an entity's table, from one field of `*.fields`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Column {
  /**
   * The column's name: the field's code in lower case (`uf_crm_1603211475642`; for `crm.item`, its `upperName`
   * in lower case: `updated_time`, `uf_crm_1032_1712074666`).
   */
  readonly name: string
  /** The field's key in a row as the portal prints it (`UF_CRM_1603211475642`, `updatedTime`). */
  readonly field: string
  readonly type: ColumnType
  /** The portal's field type (`crm_status`, `money`, …) and title, kept in the sync's field table. */
  readonly portalType: string
  readonly title: string
  /**
   * A money field (`"123.45|RUB"`) fills two columns: `amount` (the number, under the field's name) and
   * `currency` (the code, under `<name>_currency`). Absent for every other column: the value is the field's.
   */
  readonly part?: "amount" | "currency"
}

/**
 * An entity's table: its name and columns (besides `id`, `raw`, `raw_hash`, `deleted_at` and `synced_at`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface TableShape {
  readonly entity: Entity
  readonly table: string
  readonly columns: ReadonlyArray<Column>
}

/**
 * A row ready for the database: values in the order of the shape's columns. In the rows `run` hands a sink,
 * `values` and `hash` are computed when first read (the SQLite sink has its writer thread compute them).
 *
 * @since 0.1.0
 * @category Models
 */
export interface PreparedRow {
  readonly id: number
  readonly values: ReadonlyArray<string | number | boolean | null>
  /** The row as the portal sent it, as JSON, and a hash of that text (rows are compared by it). */
  readonly raw: string
  readonly hash: string
}

/**
 * Where an entity's sync stands, committed with its rows.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Checkpoint {
  readonly entity: Entity
  /** `full`: the first load is under way; `incremental`: an incremental run is; `idle`: the last run ended. */
  readonly phase: "full" | "incremental" | "idle"
  /** Portal time (ISO) at the start of the last completed run: the next window starts there minus the overlap. */
  readonly watermark: string | null
  /** Portal time (ISO) at the start of the run under way. */
  readonly runStartedAt: string | null
  /** The lower bound (ISO) of the incremental window under way. */
  readonly since: string | null
  /** The highest ID committed by the run under way: it resumes after it. */
  readonly cursorId: number | null
  /** Runs completed. */
  readonly runs: number
}

/**
 * The database behind a sync. `layer`, `layerSqlite` and `layerPostgres` provide it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface SinkService {
  readonly dialect: "sqlite" | "postgres"
  /** The database, password redacted, for messages. */
  readonly database: string
  /** Holds the database for this run until the scope closes; refuses when another run holds it. */
  readonly lock: Effect.Effect<void, SyncLockedError | SinkError, Scope.Scope>
  /** Creates the table, or adds the columns it lacks (a removed field's column is kept). Returns the added ones. */
  readonly ensureTable: (shape: TableShape) => Effect.Effect<ReadonlyArray<string>, SinkError>
  readonly checkpoint: (entity: Entity) => Effect.Effect<Checkpoint | undefined, SinkError>
  readonly saveCheckpoint: (checkpoint: Checkpoint) => Effect.Effect<void, SinkError>
  /**
   * Upserts `rows` by ID (rows whose hash is unchanged are left alone; a row marked deleted comes back) and saves
   * `checkpoint`, in one transaction. `run` calls it for one chunk at a time, each committed before the next
   * (`layerSqlite`'s sink, unwrapped, takes the next chunks while it commits one, in a thread of its own).
   */
  readonly writeRows: (
    shape: TableShape,
    rows: ReadonlyArray<PreparedRow>,
    checkpoint: Checkpoint,
    syncedAt: string
  ) => Effect.Effect<{ readonly inserted: number; readonly updated: number }, SinkError>
  /** IDs of the rows not marked deleted, ascending. */
  readonly liveIds: (table: string) => Effect.Effect<ReadonlyArray<number>, SinkError>
  /** The highest ID of the rows not marked deleted (`undefined` for an empty table): sizes an incremental window's reads. */
  readonly maxId: (table: string) => Effect.Effect<number | undefined, SinkError>
  /** Marks rows deleted at `at` (rows already marked keep their time), in one transaction; returns how many. */
  readonly markDeleted: (table: string, ids: ReadonlyArray<number>, at: string) => Effect.Effect<number, SinkError>
}

/**
 * @since 0.1.0
 * @category Context
 */
export class Sink extends Context.Tag("effect-bitrix24/Sync/Sink")<Sink, SinkService>() {}

type SinkModule = typeof import("./internal/sync/sqlSink.js")

const loadSinkModule: Effect.Effect<SinkModule, SinkError> = Effect.tryPromise({
  try: () => import("./internal/sync/sqlSink.js"),
  catch: (cause) =>
    new SinkError({ database: "the database", action: "open", detail: `the sync's database module failed to load: ${String(cause)}` })
})

/**
 * A SQLite file (created when missing, with 16 KiB pages) as the sink, through `@effect/sql-sqlite-node` and
 * `better-sqlite3`. Rows are committed by a worker thread with a connection of its own (better-sqlite3 blocks the
 * thread it runs on), each chunk with its checkpoint in one transaction; the schema, the checkpoints between chunks
 * and the lock stay on the calling thread.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerSqlite = (filename: string): Layer.Layer<Sink, SinkError> =>
  Layer.scoped(Sink, Effect.flatMap(loadSinkModule, (module) => module.makeSqlite(filename)))

/**
 * A Postgres database as the sink, through `@effect/sql-pg`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerPostgres = (url: string | Redacted.Redacted<string>): Layer.Layer<Sink, SinkError | ValidationError> =>
  Layer.unwrapEffect(
    Effect.map(
      Effect.flatMap(
        Either.match(SyncOptions.parseTarget(Redacted.isRedacted(url) ? Redacted.value(url) : url), { onLeft: Effect.fail, onRight: Effect.succeed }),
        (target) =>
          target._tag === "Postgres"
            ? Effect.succeed(target)
            : Effect.fail(new ValidationError({ path: "to", detail: "expected a postgres:// URL" }))
      ),
      (target) => Layer.scoped(Sink, Effect.flatMap(loadSinkModule, (module) => module.makePostgres(target.url, target.database)))
    )
  )

/**
 * The sink a database URL names: `sqlite:FILE` or `postgres://…`. A bad URL is a `ValidationError`, found before
 * anything is opened.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (to: string): Layer.Layer<Sink, SinkError | ValidationError> =>
  Layer.unwrapEffect(
    Effect.map(
      Either.match(SyncOptions.parseTarget(to), { onLeft: Effect.fail, onRight: Effect.succeed }),
      (target): Layer.Layer<Sink, SinkError | ValidationError> =>
        target._tag === "Sqlite" ? layerSqlite(target.filename) : layerPostgres(target.url)
    )
  )

// ----------------------------------------------------------------------------------------------------------------
// Running
// ----------------------------------------------------------------------------------------------------------------

/**
 * Syncs `options.entities` into the sink: for each, its `*.fields` shape the table, then a full load (first
 * run, or a resumed one) or an incremental window, then the ID pass for deletions. Every entity shares the
 * client's one limiter. Fails with `SyncLockedError` when another run holds the database.
 *
 * @since 0.1.0
 * @category Running
 */
export const run = (options: Options): Effect.Effect<Summary, SyncError, Bitrix.Services | Sink> =>
  Effect.flatMap(
    Effect.suspend(() => Either.match(SyncOptions.decodeOptions(options), { onLeft: Effect.fail, onRight: Effect.succeed })),
    (resolved) => Effect.flatMap(Effect.promise(() => import("./internal/sync/run.js")), (module) => module.run(resolved))
  ).pipe(Effect.withSpan("Sync.run"))
