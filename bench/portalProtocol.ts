/**
 * The IPC messages between the benchmark runner and its portal child process (`portalProcess.ts`). The child
 * lives for the whole benchmark (loading the library takes seconds) and starts a fresh portal for every run.
 */
import type { FakePortalHttp, FakePortalOptions, PortalStats } from "../src/testing/index.js"

/** Facts the runner needs from the seeded tables before a run, read without touching limits or counters. */
export interface Probes {
  /** `total` of a filtered list (the exact size of the filtered export). */
  readonly filterTotal?: { readonly method: string; readonly filter: Readonly<Record<string, unknown>> }
  /** The first `count` IDs of a list, in order (for getByID). */
  readonly ids?: { readonly method: string; readonly count: number }
}

/** Runner → child. */
export type ParentMessage =
  | {
      readonly type: "start"
      readonly options: FakePortalOptions
      readonly probes: Probes
      /** The front keeps every answer it sends, for `replay` (the client-overhead scenario). */
      readonly record?: boolean
    }
  | { readonly type: "stats" }
  /**
   * From now on the HTTP front answers every request it recorded (same method, URL and body) from its recording,
   * without the engine (a portal started with `record`); other requests still go to the engine.
   */
  | { readonly type: "replay" }
  /** How many requests the recording answered, and how many it did not know, since `replay`. */
  | { readonly type: "replayCount" }
  /** Closes the current portal and drops its tables; the child stays for the next run. */
  | { readonly type: "close" }
  | { readonly type: "exit" }

/** Child → runner. */
export type ChildMessage =
  | { readonly type: "loaded" }
  | {
      readonly type: "ready"
      readonly webhookUrl: string
      /** Real epoch ms at which portal time equals real time (portal now = anchor + (real − anchor) × timeScale). */
      readonly anchorMs: number
      /** Real ms the engine took to build its tables. */
      readonly seedMs: number
      /** `rowsServed` after the probes, to subtract. */
      readonly rowsServedBaseline: number
      readonly filterTotal?: number
      readonly ids: ReadonlyArray<number>
    }
  | { readonly type: "stats"; readonly stats: PortalStats; readonly rssBytes: number }
  | { readonly type: "replaying"; readonly recorded: number }
  | { readonly type: "replayed"; readonly answered: number; readonly missed: number }
  | { readonly type: "closed" }
  | { readonly type: "failed"; readonly error: string }

/** A request as the HTTP front hands it to the engine, and the engine's answer. */
export type FrontRequest = Parameters<FakePortalHttp.Engine["handle"]>[0]
export type FrontOutcome = Exclude<ReturnType<FakePortalHttp.Engine["handle"]>, PromiseLike<unknown>>

/** Portal process's main thread (the engine) → its HTTP front (`portalFront.ts`, a worker thread). */
export type FrontIn =
  | {
      readonly type: "serve"
      readonly webhookPath: string
      /** The network in front of the portal (`FakePortalOptions.latency`, real ms) and its seed. */
      readonly latency?: FakePortalOptions["latency"]
      readonly seedNumber?: number
      /** Keep every answer sent, for `replay`. */
      readonly record?: boolean
    }
  | { readonly type: "outcome"; readonly id: number; readonly outcome: FrontOutcome }
  /** Answer recorded requests from the recording from now on. */
  | { readonly type: "replay" }
  /** How many requests the recording answered and how many it did not know since `replay`. */
  | { readonly type: "replayCount" }
  | { readonly type: "close" }

/** HTTP front → main thread. */
export type FrontOut =
  | { readonly type: "listening"; readonly url: string }
  | { readonly type: "replaying"; readonly recorded: number }
  | { readonly type: "replayed"; readonly answered: number; readonly missed: number }
  | { readonly type: "request"; readonly id: number; readonly request: FrontRequest; readonly arrivedMs: number }
  | { readonly type: "closed" }

/**
 * One request of a portal trace (`BENCH_PORTAL_TRACE=<file>`, written by `portalProcess.ts` when the portal closes;
 * drawn by `timeline.ts`). Times are portal seconds since the portal's anchor (its start, before seeding).
 */
export interface TraceRequest {
  /** When the front read the request (the engine's leaky bucket and operating window see it at this instant). */
  readonly at: number
  /**
   * When the answer left: its due time (arrival + simulated server time), or later if the engine built it later;
   * also for a dropped connection. `null`: the request hangs, no answer ever comes.
   */
  readonly answeredAt: number | null
  /** The REST method of the URL, lower-cased, without `.json`/`.xml` and query (`batch` for a batch). */
  readonly method: string
  /** The HTTP status, or `"Drop"` (connection closed without an answer) / `"Hang"`. */
  readonly status: number | "Drop" | "Hang"
  /** Rows the portal's list methods served for this request (all commands of a batch). */
  readonly rows: number
  /**
   * Operating seconds the request billed to the operating window, per method (each at `at`; only sums above the
   * 0.1 s floor are billed). Absent when nothing was billed.
   */
  readonly billed?: Readonly<Record<string, number>>
  /** OPERATION_TIME_LIMIT refusals in this request (a 429, or blocked commands of a batch). Absent when none. */
  readonly blocked?: number
}

/** A run's portal trace: what `timeline.ts` reads. */
export interface PortalTrace {
  readonly version: 1
  /** Portal epoch ms at `at` = 0 (the operating window's buckets are aligned to the epoch). */
  readonly portalEpochMs: number
  readonly timeScale: number
  /** The engine's limits; `null` with limits off. */
  readonly limits: {
    readonly poolSize: number
    readonly requestsPerSecond: number
    readonly operatingLimitSeconds: number
    readonly operatingWindowSeconds: number
  } | null
  readonly batchBilling: "commands" | "batch"
  readonly requests: ReadonlyArray<TraceRequest>
}
