/**
 * The sync itself: per entity, `*.fields` → table → a full load or an incremental window, read by ID keyset and
 * written in chunks, each chunk committed with the checkpoint → the ID-only pass for deletions → the checkpoint
 * of a finished run. The portal's own clock (`time.date_start` of the `*.fields` answer) dates the runs, so a
 * skewed local clock cannot open a gap between two windows.
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import * as Bitrix from "../../Bitrix.js"
import { RateLimiter } from "../../RateLimiter.js"
import {
  type Checkpoint,
  type Entity,
  type EntitySummary,
  type PreparedRow,
  type ResolvedOptions,
  Sink,
  type SinkService,
  type Summary,
  type SyncError,
  type TableShape
} from "../../Sync.js"
import { decodeFields, prepareRow, selectOf, shapeOf } from "./fields.js"

/** Portal time as the filters take it: ISO-8601 with an offset, whole seconds. */
export const isoSeconds = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "+00:00")

/** IDs a `@ID` command reads when rows the windows missed are fetched. */
const idsPerCommand = 50

const writeChunk = (sink: SinkService, shape: TableShape, rows: ReadonlyArray<unknown>, state: Checkpoint, syncedAt: string) =>
  Effect.suspend(() => {
    const prepared: Array<PreparedRow> = []
    for (const row of rows) {
      const ready = prepareRow(shape, row, sink.dialect)
      if (ready !== undefined) prepared.push(ready)
    }
    return sink.writeRows(shape, prepared, state, syncedAt)
  })

const syncEntity = Effect.fn("Sync.entity")(function* (entity: Entity, options: ResolvedOptions) {
  const sink = yield* Sink
  const method = `${entity}.list`
  const fieldsAnswer = yield* Bitrix.callRaw(`${entity}.fields`, {})
  const fields = yield* Either.match(decodeFields(`${entity}.fields`, fieldsAnswer.result), { onLeft: Effect.fail, onRight: Effect.succeed })
  const portalStart = Date.parse(fieldsAnswer.time?.date_start ?? "")
  const now = Number.isFinite(portalStart) ? portalStart : yield* Clock.currentTimeMillis
  const shape = shapeOf(entity, fields)
  const columnsAdded = yield* sink.ensureTable(shape)
  const select = selectOf(fields)
  const before = yield* sink.checkpoint(entity)

  // Where this run starts: a resumed pass keeps its start time and window, so nothing between attempts is lost
  let state: Checkpoint
  if (
    before !== undefined &&
    columnsAdded.length === 0 &&
    before.phase !== "idle" &&
    before.runStartedAt !== null &&
    (before.phase === "full" || before.since !== null)
  ) {
    state = before
  } else if (before === undefined || options.full || before.watermark === null || columnsAdded.length > 0) {
    // a new field is a new key in every row (empty in most): the table is read again to hold it
    state = { entity, phase: "full", watermark: before?.watermark ?? null, runStartedAt: isoSeconds(now), since: null, cursorId: null, runs: before?.runs ?? 0 }
  } else {
    const since = isoSeconds(Date.parse(before.watermark) - options.overlapMs)
    state = { ...before, phase: "incremental", runStartedAt: isoSeconds(now), since, cursorId: null }
  }
  yield* sink.saveCheckpoint(state)
  const mode = state.phase === "full" ? ("full" as const) : ("incremental" as const)
  const syncedAt = new Date().toISOString()
  let inserted = 0
  let updated = 0

  const filter: Record<string, unknown> = {}
  if (state.since !== null) filter[">=DATE_MODIFY"] = state.since
  if (state.cursorId !== null) filter[">ID"] = state.cursorId
  const params = Object.keys(filter).length === 0 ? { select } : { select, filter }
  yield* Effect.logDebug(`sync ${entity}: ${mode}${state.since === null ? "" : ` since ${state.since}`}${state.cursorId === null ? "" : ` after ID ${state.cursorId}`}`)
  // a full load splits the IDs into ranges read in parallel; a window is small: 2,500 rows a request, in one walk
  yield* Bitrix.stream(method, params, { strategy: mode === "full" ? "auto" : "keysetBatch" }).pipe(
    Stream.rechunk(options.chunkSize),
    // the next rows are read while a chunk is written (a real portal's answers are I/O waits)
    Stream.bufferChunks({ capacity: 4 }),
    Stream.runForEachChunk((chunk) =>
      Effect.gen(function* () {
        const rows = Chunk.toReadonlyArray(chunk)
        // the stream is in ascending ID order: the last row is the cursor a resumed run continues after
        let cursor = state.cursorId ?? 0
        for (const row of rows) {
          const id = Number((row as { readonly ID?: unknown }).ID)
          if (Number.isInteger(id) && id > cursor) cursor = id
        }
        state = { ...state, cursorId: cursor }
        const counts = yield* writeChunk(sink, shape, rows, state, syncedAt)
        inserted += counts.inserted
        updated += counts.updated
      })
    )
  )

  // The ID pass: on a first load into an empty table there is nothing to compare yet
  const runNumber = state.runs + 1
  const firstLoad = before === undefined
  const deletionPass = options.deletionsEvery > 0 && !firstLoad && runNumber % options.deletionsEvery === 0
  let markedDeleted = 0
  if (deletionPass) {
    const portalIds = new Set<number>()
    yield* Bitrix.stream(method, { select: ["ID"] }, { strategy: "keysetBatch" }).pipe(
      Stream.runForEachChunk((chunk) =>
        Effect.sync(() => {
          for (const row of chunk) {
            const id = Number((row as { readonly ID?: unknown }).ID)
            if (Number.isInteger(id)) portalIds.add(id)
          }
        })
      )
    )
    const live = yield* sink.liveIds(shape.table)
    const liveSet = new Set(live)
    const gone = live.filter((id) => !portalIds.has(id))
    markedDeleted = yield* sink.markDeleted(shape.table, gone, isoSeconds(now))
    // rows on the portal the windows did not bring (DATE_MODIFY not bumped, restored from the recycle bin)
    const missing = [...portalIds].filter((id) => !liveSet.has(id)).sort((a, b) => a - b)
    if (missing.length > 0) {
      yield* Effect.logDebug(`sync ${entity}: ${missing.length} rows on the portal are not in the table; reading them by @ID`)
      const items: Array<Bitrix.Params> = []
      for (let start = 0; start < missing.length; start += idsPerCommand) {
        items.push({ select, filter: { "@ID": missing.slice(start, start + idsPerCommand) }, order: { ID: "ASC" }, start: -1 })
      }
      const pages = yield* Bitrix.call(method, items).pipe(
        Effect.catchTag("BulkCallError", (error) =>
          Effect.succeed(error.outcomes.map((outcome) => (outcome._tag === "Succeeded" ? outcome.result : [])))
        )
      )
      const rows = pages.flatMap((page) => (Array.isArray(page) ? page : []))
      for (let start = 0; start < rows.length; start += options.chunkSize) {
        const counts = yield* writeChunk(sink, shape, rows.slice(start, start + options.chunkSize), state, syncedAt)
        inserted += counts.inserted
        updated += counts.updated
      }
    }
  }

  yield* sink.saveCheckpoint({
    entity,
    phase: "idle",
    watermark: state.runStartedAt,
    runStartedAt: null,
    since: null,
    cursorId: null,
    runs: runNumber
  })
  return { entity, table: shape.table, mode, inserted, updated, markedDeleted, columnsAdded, deletionPass } satisfies EntitySummary
})

/** Runs the sync of every entity under the database's lock; the entities share the client's one limiter. */
export const run = (options: ResolvedOptions): Effect.Effect<Summary, SyncError, Bitrix.Services | Sink> =>
  Effect.gen(function* () {
    const sink = yield* Sink
    const limiter = yield* RateLimiter
    const before = yield* limiter.stats
    const startedAt = yield* Clock.currentTimeMillis
    const entities = yield* Effect.scoped(
      Effect.zipRight(sink.lock, Effect.forEach(options.entities, (entity) => syncEntity(entity, options), { concurrency: "unbounded" }))
    )
    const after = yield* limiter.stats
    const finishedAt = yield* Clock.currentTimeMillis
    const total = (key: "inserted" | "updated" | "markedDeleted") => entities.reduce((sum, entity) => sum + entity[key], 0)
    return {
      entities,
      inserted: total("inserted"),
      updated: total("updated"),
      markedDeleted: total("markedDeleted"),
      requests: after.started - before.started,
      throttled503: after.throttled - before.throttled,
      blocked429: after.methodBlocks - before.methodBlocks,
      wallMs: finishedAt - startedAt
    }
  })
