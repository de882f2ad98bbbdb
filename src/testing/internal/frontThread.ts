/**
 * Serving a fake portal from a worker thread: the HTTP front (`frontWorker.ts`) reads requests and stamps their
 * arrival on a thread of its own, while the engine stays on the thread that made it (its counters and the
 * in-process view read it directly). A cloud portal serves concurrent requests on many workers: with the front on
 * the engine's thread, requests that arrive while the engine builds an answer would be read, stamped and answered
 * only after it, so a burst would bunch and come late. One worker serves every portal of the process; it does not
 * keep the process alive while it serves none.
 */
import type { Worker } from "node:worker_threads"
import { startWorker as startWorkerThread } from "../../internal/workerThread.js"
import type { Server, ServeOptions } from "../FakePortalHttp.js"
import { engineFailure, type FrontEngine } from "./front.js"
import type { PortalOutcome, PortalRequest } from "./types.js"

/** The serve options a worker can take: everything but the caller's clock and the choice of thread. */
export type ThreadServeOptions = Omit<ServeOptions, "now" | "front">

/** Engine's thread → front worker. */
export type FrontIn =
  | { readonly type: "serve"; readonly serverId: number; readonly options: ThreadServeOptions }
  | { readonly type: "outcome"; readonly serverId: number; readonly id: number; readonly outcome: PortalOutcome }
  | { readonly type: "close"; readonly serverId: number }

/** Front worker → engine's thread. `arrivedMs` is the wall clock (`Date.now`) when the request arrived. */
export type FrontOut =
  | { readonly type: "ready" }
  | { readonly type: "listening"; readonly serverId: number; readonly url: string; readonly port: number }
  | { readonly type: "serveFailed"; readonly serverId: number; readonly message: string }
  | { readonly type: "request"; readonly serverId: number; readonly id: number; readonly request: PortalRequest; readonly arrivedMs: number }
  | { readonly type: "closed"; readonly serverId: number }

/** An engine served by the worker, with the clock its arrival stamps are handed over in. */
interface Served {
  readonly engine: FrontEngine
  readonly now: (() => number) | undefined
}

interface FrontWorker {
  readonly worker: Worker
  readonly served: Map<number, Served>
  /** One-shot listeners for the replies to `serve` and `close`. */
  readonly replies: Map<number, (message: FrontOut) => void>
}

/** The worker: `frontWorker` beside this file, compiled or TypeScript (`internal/workerThread.ts`). */
const startWorker = (): Worker => startWorkerThread(import.meta.url, "frontWorker")

let current: Promise<FrontWorker> | undefined

const spawn = (): Promise<FrontWorker> =>
  new Promise<FrontWorker>((resolve, reject) => {
    let worker: Worker
    try {
      worker = startWorker()
    } catch (error) {
      return reject(error)
    }
    const front: FrontWorker = { worker, served: new Map(), replies: new Map() }
    let ready = false
    worker.on("message", (message: FrontOut) => {
      switch (message.type) {
        case "ready":
          ready = true
          worker.unref()
          return resolve(front)
        case "request": {
          const served = front.served.get(message.serverId)
          if (served === undefined) return
          answer(front, served, message)
          return
        }
        default: {
          const reply = front.replies.get(message.serverId)
          front.replies.delete(message.serverId)
          reply?.(message)
        }
      }
    })
    worker.on("error", (error) => {
      current = undefined
      if (!ready) return reject(error)
      // The servers it hosted are gone; a later portal starts a new worker
      for (const reply of front.replies.values()) reply({ type: "serveFailed", serverId: -1, message: error.message })
      front.replies.clear()
      front.served.clear()
    })
    worker.on("exit", () => {
      current = undefined
      if (!ready) reject(new Error("the fake portal's HTTP worker exited before it was ready"))
      for (const reply of front.replies.values()) reply({ type: "serveFailed", serverId: -1, message: "the fake portal's HTTP worker exited" })
      front.replies.clear()
      front.served.clear()
    })
  })

/** Asks the engine and sends its answer back; a failing engine answers ERROR_CORE, as on the calling thread. */
const answer = (front: FrontWorker, served: Served, message: Extract<FrontOut, { readonly type: "request" }>): void => {
  // The stamp is the wall clock at arrival; a caller's own clock gets the same instant, read as long ago
  const arrivedMs = served.now === undefined ? message.arrivedMs : served.now() - Math.max(0, Date.now() - message.arrivedMs)
  const send = (outcome: PortalOutcome) => {
    if (front.served.has(message.serverId)) {
      front.worker.postMessage({ type: "outcome", serverId: message.serverId, id: message.id, outcome } satisfies FrontIn)
    }
  }
  let outcome: PortalOutcome | PromiseLike<PortalOutcome>
  try {
    outcome = served.engine.handle(message.request, arrivedMs)
  } catch (error) {
    return send(engineFailure(error))
  }
  if ("then" in outcome) outcome.then(send, (error: unknown) => send(engineFailure(error)))
  else send(outcome)
}

let nextServerId = 0

/** Sends a message and waits for the worker's reply about the same server. */
const exchange = (front: FrontWorker, message: FrontIn): Promise<FrontOut> =>
  new Promise<FrontOut>((resolve) => {
    front.replies.set(message.serverId, resolve)
    front.worker.postMessage(message)
  })

/** Keeps the process alive while the worker serves a portal, as a server on the main thread would. */
const holdProcess = (front: FrontWorker): void => {
  if (front.served.size > 0) front.worker.ref()
  else front.worker.unref()
}

/**
 * Serves `engine` from the process's front worker (started on first use). Rejects when the worker cannot start or
 * the server cannot listen (e.g. the port is taken).
 */
export const serveOnThread = async (engine: FrontEngine, options: ServeOptions): Promise<Server> => {
  current ??= spawn()
  const attempt = current
  const front = await attempt.catch((error: unknown) => {
    if (current === attempt) current = undefined
    throw error
  })
  const serverId = nextServerId++
  const { now, front: _thread, ...threadOptions } = options
  front.served.set(serverId, { engine, now })
  holdProcess(front)
  const reply = await exchange(front, { type: "serve", serverId, options: threadOptions })
  if (reply.type !== "listening") {
    front.served.delete(serverId)
    holdProcess(front)
    throw new Error(reply.type === "serveFailed" ? reply.message : `unexpected reply ${reply.type} from the fake portal's HTTP worker`)
  }
  let closed: Promise<void> | undefined
  return {
    url: reply.url,
    port: reply.port,
    close: () =>
      (closed ??= exchange(front, { type: "close", serverId }).then(() => {
        front.served.delete(serverId)
        holdProcess(front)
      }))
  }
}
