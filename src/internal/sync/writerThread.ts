/**
 * The SQLite sink's row writer: a worker thread (`writerWorker.ts`) that owns a `better-sqlite3` connection of its
 * own and commits each chunk, its rows and the checkpoint, in one transaction. better-sqlite3 is synchronous: on
 * the client's thread a chunk's statements (and the preparing of its rows) held the event loop for tens of
 * milliseconds, during which no answer was read and no request sent. Here the client's thread posts the chunk
 * (row IDs and raw JSON, which the worker parses, converts and hashes itself) and waits for the acknowledgement
 * without blocking. The schema, the checkpoints outside the chunks and the lock stay with `@effect/sql-sqlite-node`
 * on the client's thread.
 *
 * The worker commits the chunks in the order they were posted. A few may be in flight (`orderedWrites.ts`: the run
 * posts the next chunk before the one before is acknowledged, so the worker never waits for this thread), and a
 * chunk posted behind one that failed is not written either: a checkpoint must never pass rows that were not
 * committed. A posted write is waited for even when the run is interrupted (as a synchronous write could not be
 * interrupted either), so a stopped run leaves nothing in flight behind it.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"
import type { Worker } from "node:worker_threads"
import { startWorker as startWorkerThread } from "../workerThread.js"
import { SinkError } from "../../Sync.js"
import type { ColumnSpec, Value } from "./values.js"

/** What the worker is started with. */
export interface WriterData {
  readonly filename: string
}

/** A statement and its parameters. */
export interface StatementText {
  readonly sql: string
  readonly params: ReadonlyArray<Value>
}

/**
 * One chunk to commit: the SQL (made by the sink, which knows the dialect and the table) and the rows. A row whose
 * `values` and `hash` are `null` is prepared by the worker from its raw JSON, with `columns` (as `prepareRows` would).
 */
export interface ChunkMessage {
  /** `SELECT id, raw_hash, deleted_at … WHERE id BETWEEN ? AND ?`: the rows stored in the chunk's ID span. */
  readonly select: string
  /** The upsert of one row: `id`, the columns' values, `raw`, `raw_hash`, `deleted_at`, `synced_at`. */
  readonly upsert: string
  /** The checkpoint, committed with the rows. */
  readonly checkpoint: StatementText
  readonly syncedAt: string
  readonly columns: ReadonlyArray<ColumnSpec>
  readonly ids: ReadonlyArray<number>
  readonly raws: ReadonlyArray<string>
  readonly values: ReadonlyArray<ReadonlyArray<Value> | null>
  readonly hashes: ReadonlyArray<string | null>
}

/**
 * Client's thread → writer. A write names the write it was posted behind in its run (`after`): if that one failed
 * (or was refused), this one fails unwritten.
 */
export type WriterIn =
  | { readonly type: "write"; readonly id: number; readonly after: number | null; readonly chunk: ChunkMessage }
  | { readonly type: "close" }

/** Writer → client's thread. */
export type WriterOut =
  | { readonly type: "ready" }
  | { readonly type: "openFailed"; readonly detail: string }
  | { readonly type: "written"; readonly id: number; readonly inserted: number; readonly updated: number }
  | { readonly type: "failed"; readonly id: number; readonly detail: string }

/** What a committed chunk did. */
export interface WriteCounts {
  readonly inserted: number
  readonly updated: number
}

/** A chunk posted: its id (for the next chunk's `after`) and its commit to wait for. */
export interface Posted {
  readonly id: number
  /** Waits (uninterruptibly) for the commit; fails with the `SinkError` the same failure on the client's thread gave. */
  readonly commit: Effect.Effect<WriteCounts, SinkError>
}

/** The writer as the sink uses it. */
export interface RowWriter {
  /**
   * Posts the chunk to the worker at once, behind the chunks posted before it. `after` is the id of the chunk posted
   * before it in the same run, `null` for a run's first: a chunk behind one that failed is not written.
   */
  readonly post: (after: number | null, chunk: ChunkMessage) => Effect.Effect<Posted>
  /** Waits (uninterruptibly) until no posted chunk is in flight. */
  readonly idle: Effect.Effect<void>
  /** The thread itself (tests stop it to see how a dead writer fails). */
  readonly worker: Worker
}

/** The worker: `writerWorker` beside this file, compiled or TypeScript (`internal/workerThread.ts`). */
const startWorker = (data: WriterData): Worker => startWorkerThread(import.meta.url, "writerWorker", { workerData: data })

/** How long a closing writer may take to finish its chunk and close its connection before it is stopped. */
const closeTimeout = "10 seconds"

/**
 * Starts the writer of the SQLite file `filename` (`database` names it in errors); it is closed with the scope,
 * after the chunk it is writing. The worker opens its connection while the run starts: a failure to open surfaces
 * at the first write, as a `SinkError` of action `open`.
 */
export const makeRowWriter = (filename: string, database: string): Effect.Effect<RowWriter, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const worker = yield* Effect.try({
      try: () => startWorker({ filename }),
      catch: (cause) =>
        new SinkError({ database, action: "open", detail: `the SQLite writer thread did not start: ${cause instanceof Error ? cause.message : String(cause)}` })
    })
    // an idle writer does not keep the process alive; one with a chunk in flight does
    worker.unref()
    const pending = new Map<number, Deferred.Deferred<WriteCounts, SinkError>>()
    /** Waiting for no write in flight. */
    let idleWaiters: Array<() => void> = []
    let nextId = 0
    let opened = false
    let failure: SinkError | undefined
    let exited = false

    const settle = (id: number, outcome: Effect.Effect<WriteCounts, SinkError>) => {
      const deferred = pending.get(id)
      pending.delete(id)
      if (deferred !== undefined) Deferred.unsafeDone(deferred, outcome)
      if (pending.size === 0) {
        worker.unref()
        const waiters = idleWaiters
        idleWaiters = []
        for (const resume of waiters) resume()
      }
    }
    /** The writer is gone: every write in flight and every later one fails with `error`. */
    const fail = (error: SinkError) => {
      failure ??= error
      for (const id of [...pending.keys()]) settle(id, Effect.fail(failure))
    }
    const stopped = (detail: string) =>
      fail(new SinkError({ database, action: opened ? "write" : "open", detail: `the SQLite writer thread ${detail}` }))

    worker.on("message", (message: WriterOut) => {
      switch (message.type) {
        case "ready":
          opened = true
          return
        case "openFailed":
          return fail(new SinkError({ database, action: "open", detail: message.detail }))
        case "written":
          return settle(message.id, Effect.succeed({ inserted: message.inserted, updated: message.updated }))
        case "failed":
          return settle(message.id, Effect.fail(new SinkError({ database, action: "write", detail: message.detail })))
      }
    })
    worker.on("error", (error) => stopped(`failed: ${error.message}`))
    worker.on("messageerror", (error) => stopped(`could not read a message: ${error.message}`))
    worker.on("exit", (code) => {
      exited = true
      stopped(`exited (code ${code})`)
    })

    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        if (exited) return resume(Effect.void)
        // the close waits for the chunk being written; the process waits for the close
        worker.ref()
        worker.once("exit", () => resume(Effect.void))
        worker.postMessage({ type: "close" } satisfies WriterIn)
      }).pipe(
        Effect.timeout(closeTimeout),
        Effect.catchAll(() => Effect.promise(() => worker.terminate())),
        Effect.ignore
      )
    )

    const post = (after: number | null, chunk: ChunkMessage): Effect.Effect<Posted> =>
      Effect.sync(() => {
        const id = nextId++
        if (failure !== undefined) return { id, commit: Effect.fail(failure) }
        const deferred = Deferred.unsafeMake<WriteCounts, SinkError>(FiberId.none)
        if (pending.size === 0) worker.ref()
        pending.set(id, deferred)
        try {
          worker.postMessage({ type: "write", id, after, chunk } satisfies WriterIn)
        } catch (cause) {
          // a value the structured clone cannot copy: nothing was sent, and the worker cannot know to refuse the
          // chunks behind it, so the writer takes no more
          fail(new SinkError({ database, action: "write", detail: cause instanceof Error ? cause.message : String(cause) }))
        }
        return { id, commit: Effect.uninterruptible(Deferred.await(deferred)) }
      })

    const idle: Effect.Effect<void> = Effect.uninterruptible(
      Effect.async<void>((resume) => {
        if (pending.size === 0) return resume(Effect.void)
        idleWaiters.push(() => resume(Effect.void))
      })
    )

    return { post, idle, worker } satisfies RowWriter
  })
