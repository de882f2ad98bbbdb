/**
 * The worker thread that serves the fake portals of a process over HTTP (`frontThread.ts` starts it). It only reads
 * requests, stamps their arrival and answers them at arrival + simulated server time; the engines stay on the thread
 * that made them and are asked through messages, so a busy engine delays no stamp and no answer that is ready.
 */
import { parentPort } from "node:worker_threads"
import type { Server } from "../FakePortalHttp.js"
import { serveHere } from "./front.js"
import type { FrontIn, FrontOut } from "./frontThread.js"
import type { PortalOutcome } from "./types.js"

const port = parentPort
if (port === null) throw new Error("frontWorker.ts runs as a worker thread")

const post = (message: FrontOut): void => port.postMessage(message)

const servers = new Map<number, Server>()
/** Answers awaited from the engines, per server and request id. */
const pending = new Map<number, Map<number, (outcome: PortalOutcome) => void>>()
let nextRequestId = 0

port.on("message", (message: FrontIn) => {
  switch (message.type) {
    case "serve": {
      const { serverId } = message
      const waiting = new Map<number, (outcome: PortalOutcome) => void>()
      pending.set(serverId, waiting)
      serveHere(
        {
          handle: (request, arrivedMs) =>
            new Promise<PortalOutcome>((resolve) => {
              const id = nextRequestId++
              waiting.set(id, resolve)
              post({ type: "request", serverId, id, request, arrivedMs })
            })
        },
        message.options
      ).then(
        (server) => {
          servers.set(serverId, server)
          post({ type: "listening", serverId, url: server.url, port: server.port })
        },
        (error: unknown) => {
          pending.delete(serverId)
          post({ type: "serveFailed", serverId, message: error instanceof Error ? error.message : String(error) })
        }
      )
      return
    }
    case "outcome": {
      const waiting = pending.get(message.serverId)
      const resolve = waiting?.get(message.id)
      waiting?.delete(message.id)
      resolve?.(message.outcome)
      return
    }
    case "close": {
      const server = servers.get(message.serverId)
      servers.delete(message.serverId)
      // Answers still awaited are dropped: close() destroys their sockets
      pending.delete(message.serverId)
      void (server?.close() ?? Promise.resolve()).then(() => post({ type: "closed", serverId: message.serverId }))
      return
    }
  }
})

post({ type: "ready" })
