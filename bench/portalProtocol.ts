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
  | { readonly type: "start"; readonly options: FakePortalOptions; readonly probes: Probes }
  | { readonly type: "stats" }
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
  | { readonly type: "closed" }
  | { readonly type: "failed"; readonly error: string }

/** A request as the HTTP front hands it to the engine, and the engine's answer. */
export type FrontRequest = Parameters<FakePortalHttp.Engine["handle"]>[0]
export type FrontOutcome = Exclude<ReturnType<FakePortalHttp.Engine["handle"]>, PromiseLike<unknown>>

/** Portal process's main thread (the engine) → its HTTP front (`portalFront.ts`, a worker thread). */
export type FrontIn =
  | { readonly type: "serve"; readonly webhookPath: string }
  | { readonly type: "outcome"; readonly id: number; readonly outcome: FrontOutcome }
  | { readonly type: "close" }

/** HTTP front → main thread. */
export type FrontOut =
  | { readonly type: "listening"; readonly url: string }
  | { readonly type: "request"; readonly id: number; readonly request: FrontRequest; readonly arrivedMs: number }
  | { readonly type: "closed" }
