/**
 * The sync itself: per entity, `*.fields` → table → a full load or an incremental window, read by ID keyset and
 * written in chunks, each chunk committed with the checkpoint → the ID-only pass for deletions → the checkpoint
 * of a finished run. The portal's own clock (`time.date_start` of the `*.fields` answer) dates the runs, so a
 * skewed local clock cannot open a gap between two windows. Classic entities and smart processes (`crm.item`)
 * differ only in their methods and keys (`EntitySource`).
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import * as Bitrix from "../../Bitrix.js"
import { chainLength } from "../list/plan.js"
import { RateLimiter } from "../../RateLimiter.js"
import {
  type Checkpoint,
  type Entity,
  type EntitySummary,
  Sink,
  type SinkService,
  type SinkError,
  type Summary,
  type SyncError,
  type TableShape
} from "../../Sync.js"
import type { ResolvedOptions } from "./options.js"
import { type ChunkCounts, orderedWritesOf } from "./orderedWrites.js"
import { rowsOf } from "../methodRegistry.js"
import { decodeFields, portalRows, rowIdOf, selectOf, shapeOf, sourceOf } from "./fields.js"

/** Portal time as the filters take it: ISO-8601 with an offset, whole seconds. */
export const isoSeconds = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "+00:00")

/** IDs a `@ID` command reads when rows the windows missed are fetched. */
const idsPerCommand = 50

/** Rows of one list page. */
const pageSize = 50

/**
 * IDs of one range of the deletion pass: a chain of 50 pages reads 2,500 in one request, and a range one short of
 * that ends on a short page inside it (a full 50th page would take one more request to prove the range done).
 */
const idsPerRange = 2_499

/** Ranges walked at once: the bucket's size; the limiter paces them anyway. */
const idRangesAtOnce = 50

/**
 * The ID span cut at every `perRange`-th of the table's IDs (ascending): each range is `> after` and `<= upTo`;
 * the first has no lower bound, the last no upper one.
 */
export const idRanges = (ids: ReadonlyArray<number>, perRange: number): ReadonlyArray<{ readonly after?: number; readonly upTo?: number }> => {
  const ranges: Array<{ readonly after?: number; readonly upTo?: number }> = []
  let after: number | undefined
  for (let end = perRange; end < ids.length; end += perRange) {
    const upTo = ids[end - 1]!
    ranges.push(after === undefined ? { upTo } : { after, upTo })
    after = upTo
  }
  ranges.push(after === undefined ? {} : { after })
  return ranges
}

/**
 * Rows for the sink (`PortalRow`: the ID and raw JSON now, values and hash when read; the SQLite sink has its writer
 * thread compute them).
 */
const writeChunk = (sink: SinkService, shape: TableShape, rows: ReadonlyArray<unknown>, state: Checkpoint, syncedAt: string) =>
  Effect.suspend(() => sink.writeRows(shape, portalRows(shape, rows, sink.dialect), state, syncedAt))

/**
 * The rows of an incremental window, read by ID keyset without COUNT. A chain of pages in one batch reads 2,500 rows
 * a request, but every command after its first short page is wasted: its `$result[…][49][ID]` does not resolve, and
 * the portal answers it with a page of rows from the start of the table (wide rows: as dear as real ones). So:
 *
 * 1. one plain page: most windows (a cron every few minutes) hold fewer than 50 rows, and end there;
 * 2. a chain as long as the rest is likely to be: the first page's IDs tell how densely the window's rows lie,
 *    the table's highest ID (`knownTop`) how far they go;
 * 3. only if that chain came back full, chains of 50 pages after it until a short page.
 */
const windowStream = (method: string, params: Bitrix.Params, idKey: "ID" | "id", after: number, knownTop: number | undefined) => {
  const filter = typeof params["filter"] === "object" && params["filter"] !== null ? (params["filter"] as Readonly<Record<string, unknown>>) : {}
  const from = (cursor: number) => ({ ...params, filter: { ...filter, [`>${idKey}`]: cursor } })
  /** Rows after `cursor`, at most `limit` (in as few requests as that many rows take), and whether it was reached. */
  const read = (cursor: number, strategy: "keyset" | "keysetBatch", limit: number) =>
    Effect.map(Stream.runCollect(Bitrix.stream(method, from(cursor), { strategy, limit })), (rows) => {
      const array = Chunk.toReadonlyArray(rows)
      return { rows: array, last: rowIdOf(array.at(-1), idKey), full: array.length >= limit }
    })
  return Stream.unwrap(
    Effect.gen(function* () {
      const first = yield* read(after, "keyset", pageSize)
      if (!first.full || first.last === undefined) return Stream.fromIterable(first.rows)
      const density = pageSize / Math.max(1, first.last - after)
      const expected = knownTop === undefined ? 0 : density * Math.max(0, knownTop - first.last)
      const sized = yield* read(first.last, "keysetBatch", chainLength(expected) * pageSize)
      const head = Stream.fromIterable([...first.rows, ...sized.rows])
      if (!sized.full || sized.last === undefined) return head
      // more rows than the IDs foretold (rows added since the last run lie above the table's highest ID)
      return Stream.concat(head, Bitrix.stream(method, from(sized.last), { strategy: "keysetBatch" }))
    })
  )
}

const syncEntity = Effect.fn("Sync.entity")(function* (entity: Entity, options: ResolvedOptions) {
  const sink = yield* Sink
  const source = sourceOf(entity)
  const method = source.listMethod
  const fieldsAnswer = yield* Bitrix.callRaw(source.fieldsMethod, source.params)
  const fields = yield* Either.match(decodeFields(source, fieldsAnswer.result), { onLeft: Effect.fail, onRight: Effect.succeed })
  const portalStart = Date.parse(fieldsAnswer.time?.date_start ?? "")
  const now = Number.isFinite(portalStart) ? portalStart : yield* Clock.currentTimeMillis
  const shape = shapeOf(entity, fields)
  const columnsAdded = yield* sink.ensureTable(shape)
  const select = selectOf(source, fields)
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
  if (state.since !== null) filter[`>=${source.modifiedKey}`] = state.since
  if (state.cursorId !== null) filter[`>${source.idKey}`] = state.cursorId
  const params = Object.keys(filter).length === 0 ? { ...source.params, select } : { ...source.params, select, filter }
  yield* Effect.logDebug(`sync ${entity}: ${mode}${state.since === null ? "" : ` since ${state.since}`}${state.cursorId === null ? "" : ` after ID ${state.cursorId}`}`)
  // a full load splits the IDs into ranges read in parallel; a window is small (see windowStream)
  const knownTop = mode === "full" ? undefined : yield* sink.maxId(shape.table)
  const body =
    mode === "full"
      ? Bitrix.stream(method, params, { strategy: "auto" })
      : windowStream(method, params, source.idKey, state.cursorId ?? 0, knownTop)
  const committed = (counts: ChunkCounts) =>
    Effect.sync(() => {
      inserted += counts.inserted
      updated += counts.updated
    })
  // A sink that commits chunks in the order it is handed them (the SQLite sink's writer thread) gets the next chunk
  // before the one before is committed; any other, one chunk at a time
  const ordered = orderedWritesOf(sink)
  const handOver = ordered?.stream()
  /** Chunks handed over, oldest first, waiting for their commit. */
  const inFlight: Array<Effect.Effect<ChunkCounts, SinkError>> = []
  const settleOldest = Effect.suspend(() => {
    const oldest = inFlight.shift()
    return oldest === undefined ? Effect.void : Effect.flatMap(oldest, committed)
  })
  yield* body.pipe(
    Stream.rechunk(options.chunkSize),
    // a chunk's rows are made ready for the sink (their raw JSON) as they are read, while the chunk before is written
    Stream.mapChunks((chunk) => Chunk.unsafeFromArray(portalRows(shape, chunk, sink.dialect))),
    // the next rows are read while a chunk is written (a real portal's answers are I/O waits; the SQLite sink writes
    // in a thread of its own): at most this many chunks wait, besides those being written
    Stream.bufferChunks({ capacity: 4 }),
    Stream.runForEachChunk((chunk) =>
      Effect.gen(function* () {
        const rows = Chunk.toReadonlyArray(chunk)
        // the stream is in ascending ID order: the last row is the cursor a resumed run continues after
        let cursor = state.cursorId ?? 0
        for (const row of rows) if (row.id > cursor) cursor = row.id
        state = { ...state, cursorId: cursor }
        if (ordered === undefined || handOver === undefined) return yield* Effect.flatMap(sink.writeRows(shape, rows, state, syncedAt), committed)
        inFlight.push(yield* handOver.post(shape, rows, state, syncedAt))
        while (inFlight.length > ordered.depth) yield* settleOldest
      })
    ),
    Effect.zipRight(Effect.suspend(() => Effect.forEach(inFlight.splice(0), (commit) => Effect.flatMap(commit, committed), { discard: true }))),
    // stopped or failed, the run still waits for the chunks it handed over: nothing is left in flight when it ends
    Effect.ensuring(ordered === undefined ? Effect.void : ordered.idle)
  )

  // The ID pass: on a first load into an empty table there is nothing to compare yet
  const runNumber = state.runs + 1
  const firstLoad = before === undefined
  const deletionPass = options.deletionsEvery > 0 && !firstLoad && runNumber % options.deletionsEvery === 0
  let markedDeleted = 0
  if (deletionPass) {
    const live = yield* sink.liveIds(shape.table)
    const portalIds = new Set<number>()
    // The table's IDs split the span into ranges of one request each, walked in parallel (one walk would chain
    // its requests one after another); rows the table lacks fall in some range, new ones in the open last one
    yield* Effect.forEach(
      idRanges(live, idsPerRange),
      (range) => {
        const filter: Record<string, unknown> = {}
        if (range.after !== undefined) filter[`>${source.idKey}`] = range.after
        if (range.upTo !== undefined) filter[`<=${source.idKey}`] = range.upTo
        const params = { ...source.params, select: [source.idKey], ...(Object.keys(filter).length === 0 ? {} : { filter }) }
        return Bitrix.stream(method, params, { strategy: "keysetBatch" }).pipe(
          Stream.runForEachChunk((chunk) =>
            Effect.sync(() => {
              for (const row of chunk) {
                const id = rowIdOf(row, source.idKey)
                if (id !== undefined) portalIds.add(id)
              }
            })
          )
        )
      },
      { concurrency: idRangesAtOnce, discard: true }
    )
    const liveSet = new Set(live)
    const gone = live.filter((id) => !portalIds.has(id))
    markedDeleted = yield* sink.markDeleted(shape.table, gone, isoSeconds(now))
    // rows on the portal the windows did not bring (DATE_MODIFY not bumped, restored from the recycle bin)
    const missing = [...portalIds].filter((id) => !liveSet.has(id)).sort((a, b) => a - b)
    if (missing.length > 0) {
      yield* Effect.logDebug(`sync ${entity}: ${missing.length} rows on the portal are not in the table; reading them by @${source.idKey}`)
      const items: Array<Bitrix.Params> = []
      for (let start = 0; start < missing.length; start += idsPerCommand) {
        items.push({
          ...source.params,
          select,
          filter: { [`@${source.idKey}`]: missing.slice(start, start + idsPerCommand) },
          order: { [source.idKey]: "ASC" },
          start: -1
        })
      }
      const pages = yield* Bitrix.call(method, items).pipe(
        Effect.catchTag("BulkCallError", (error) =>
          Effect.succeed(error.outcomes.map((outcome) => (outcome._tag === "Succeeded" ? outcome.result : [])))
        )
      )
      // crm.item.list nests its rows under `items`
      const rows = pages.flatMap((page) => rowsOf(method, page) ?? [])
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
