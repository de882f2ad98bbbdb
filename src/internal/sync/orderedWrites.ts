/**
 * A sink that commits chunks in the order they are handed over, several at once: the SQLite sink, whose writer thread
 * takes the next chunk while it commits one. `run.ts` hands chunks over this way when the sink it was given offers
 * it (a sink of this package, not wrapped); any other sink gets one `writeRows` at a time, committed before the next
 * is called, as a sink may run its transactions in any order (Postgres's pool does).
 */
import type * as Effect from "effect/Effect"
import type { Checkpoint, PreparedRow, SinkError, SinkService, TableShape } from "../../Sync.js"

/** What a committed chunk did. */
export interface ChunkCounts {
  readonly inserted: number
  readonly updated: number
}

/** The chunks of one run of one entity, handed over in order. */
export interface OrderedStream {
  /**
   * Hands the chunk over now, behind those handed over before; the effect returned waits for its commit. A chunk
   * behind one that failed is not committed (it fails too): its checkpoint would pass rows not in the table.
   */
  readonly post: (
    shape: TableShape,
    rows: ReadonlyArray<PreparedRow>,
    checkpoint: Checkpoint,
    syncedAt: string
  ) => Effect.Effect<Effect.Effect<ChunkCounts, SinkError>>
}

/** Chunks handed over in order, committed in that order, each with its checkpoint, as `writeRows` commits one. */
export interface OrderedWrites {
  /** Chunks that may wait for their commit while the next is handed over. */
  readonly depth: number
  /** A new stream of chunks (one per run of an entity: a failure in one stops the chunks behind it in that one). */
  readonly stream: () => OrderedStream
  /** Waits until every chunk handed over is committed or failed. */
  readonly idle: Effect.Effect<void>
}

const registry = new WeakMap<SinkService, OrderedWrites>()

/** Records that `sink` offers ordered writes. */
export const offerOrderedWrites = (sink: SinkService, writes: OrderedWrites): void => {
  registry.set(sink, writes)
}

/** The ordered writes `sink` offers, if it is a sink of this package that does. */
export const orderedWritesOf = (sink: SinkService): OrderedWrites | undefined => registry.get(sink)
