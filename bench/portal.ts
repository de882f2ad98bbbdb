/**
 * The runner's side of the portal child process: fork it once, then start a fresh portal in it for every run,
 * read its counters and close it. Every wait has a timeout, so a stuck child fails the run instead of hanging.
 */
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { FakePortalOptions, PortalStats } from "../src/testing/index.js"
import type { ChildMessage, ParentMessage, Probes } from "./portalProtocol.js"

/** A portal running in the child process. */
export interface ChildPortal {
  readonly webhookUrl: string
  readonly anchorMs: number
  readonly seedMs: number
  readonly rowsServedBaseline: number
  readonly filterTotal: number | undefined
  readonly ids: ReadonlyArray<number>
  /** Counters now, and the child's RSS. */
  readonly stats: () => Promise<{ readonly stats: PortalStats; readonly rssBytes: number }>
  /**
   * From now on requests the portal answered before (started with `record`) are answered from the recording, without
   * the engine; returns the answers recorded.
   */
  readonly replay: () => Promise<number>
  /** Since `replay`: requests the recording answered, and requests it did not know (sent to the engine). */
  readonly replayed: () => Promise<{ readonly answered: number; readonly missed: number }>
  /** Closes the server (open connections included) and frees its tables. */
  readonly close: () => Promise<void>
}

/** The child process hosting one portal at a time. */
export interface PortalHost {
  /** `record`: the front keeps every answer, for `ChildPortal.replay`. */
  readonly start: (options: FakePortalOptions, probes?: Probes, record?: boolean) => Promise<ChildPortal>
  readonly shutdown: () => Promise<void>
}

const childPath = fileURLToPath(new URL("./portalProcess.ts", import.meta.url))

/** Waits for the child's next message of a type, failing on `failed`, on exit, or after `timeoutMs`. */
const nextMessage = <T extends ChildMessage["type"]>(
  child: ChildProcess,
  type: T,
  timeoutMs: number
): Promise<Extract<ChildMessage, { readonly type: T }>> =>
  new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer)
      child.off("message", onMessage)
      child.off("exit", onExit)
    }
    const onMessage = (raw: unknown) => {
      const message = raw as ChildMessage
      if (message.type === "failed") {
        cleanup()
        reject(new Error(`portal child: ${message.error}`))
      } else if (message.type === type) {
        cleanup()
        resolve(message as Extract<ChildMessage, { readonly type: T }>)
      }
    }
    const onExit = (code: number | null, signal: string | null) => {
      cleanup()
      reject(new Error(`the portal child exited (code ${code}, signal ${signal}) while waiting for "${type}"`))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`the portal child did not answer "${type}" within ${timeoutMs} ms`))
    }, timeoutMs)
    child.on("message", onMessage)
    child.on("exit", onExit)
  })

/** Forks `portalProcess.ts` under tsx and waits until it has loaded the library. */
export const startPortalHost = async (): Promise<PortalHost> => {
  const child = fork(childPath, [], {
    execArgv: [
      "--import",
      "tsx",
      "--expose-gc",
      "--max-old-space-size=4096",
      // BENCH_PORTAL_CPU_PROF=<dir> profiles the portal process (to see what bounds its throughput)
      ...(process.env["BENCH_PORTAL_CPU_PROF"] === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${process.env["BENCH_PORTAL_CPU_PROF"]}`])
    ],
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  const post = (message: ParentMessage) => {
    if (child.connected) child.send(message)
  }
  await nextMessage(child, "loaded", 120_000)
  // One request at a time: every exchange waits for its answer before the next is sent.
  let queue: Promise<unknown> = Promise.resolve()
  const exchange = <T extends ChildMessage["type"]>(message: ParentMessage, type: T, timeoutMs: number) => {
    const result = queue.then(() => {
      const answer = nextMessage(child, type, timeoutMs)
      post(message)
      return answer
    })
    queue = result.catch(() => undefined)
    return result
  }
  return {
    start: async (options, probes = {}, record = false) => {
      const ready = await exchange({ type: "start", options, probes, ...(record ? { record } : {}) }, "ready", 180_000)
      return {
        webhookUrl: ready.webhookUrl,
        anchorMs: ready.anchorMs,
        seedMs: ready.seedMs,
        rowsServedBaseline: ready.rowsServedBaseline,
        filterTotal: ready.filterTotal,
        ids: ready.ids,
        stats: () => exchange({ type: "stats" }, "stats", 30_000).then(({ stats, rssBytes }) => ({ stats, rssBytes })),
        replay: () => exchange({ type: "replay" }, "replaying", 30_000).then(({ recorded }) => recorded),
        replayed: () => exchange({ type: "replayCount" }, "replayed", 30_000).then(({ answered, missed }) => ({ answered, missed })),
        close: () => exchange({ type: "close" }, "closed", 30_000).then(() => undefined)
      }
    },
    shutdown: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      post({ type: "exit" })
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
      await exited
      clearTimeout(timer)
    }
  }
}
