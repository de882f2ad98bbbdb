/**
 * The HTTP front of the benchmark's fake portal, in a worker thread of the portal process (`portalProcess.ts`).
 *
 * The engine (row generation, JSON encoding) runs on the process's main thread; this thread only reads requests,
 * stamps their arrival and answers at arrival + simulated server time. A cloud portal serves concurrent requests
 * on many workers; were the engine on this thread, a burst of 45 heavy batches would be read one after another
 * as the engine finished each, and every answer would come late by the encoding of all the batches before it
 * (measured: the last of 45 wide 2,500-row batches came 5 s after the first, against a modelled 26 s each).
 *
 * Messages: in `serve` (webhook path) → out `listening` (url); in `outcome` (id, outcome); in `close` → out
 * `closed`; out `request` (id, request, arrival).
 */
import { parentPort } from "node:worker_threads"
import { FakePortalHttp } from "../src/testing/index.js"
import type { FrontIn, FrontOut, FrontOutcome } from "./portalProtocol.js"

const port = parentPort
if (port === null) throw new Error("portalFront.ts runs as a worker thread")

const post = (message: FrontOut) => port.postMessage(message)
const pending = new Map<number, (outcome: FrontOutcome) => void>()
let nextId = 0
let server: FakePortalHttp.Server | undefined

const engineFor = (webhookPath: string): FakePortalHttp.Engine => ({
  webhookPath,
  stats: () => {
    throw new Error("the counters live with the engine, on the portal process's main thread")
  },
  handle: (request, realNowMs) =>
    new Promise<FrontOutcome>((resolve) => {
      const id = nextId++
      pending.set(id, resolve)
      post({ type: "request", id, request, arrivedMs: realNowMs })
    })
})

port.on("message", (message: FrontIn) => {
  switch (message.type) {
    case "serve":
      // this worker is the front's thread already
      void FakePortalHttp.serve(engineFor(message.webhookPath), {
        port: 0,
        front: "inline",
        ...(message.latency === undefined ? {} : { latency: message.latency }),
        ...(message.seedNumber === undefined ? {} : { seedNumber: message.seedNumber })
      }).then((started) => {
        server = started
        post({ type: "listening", url: started.url })
      })
      return
    case "outcome": {
      const resolve = pending.get(message.id)
      pending.delete(message.id)
      resolve?.(message.outcome)
      return
    }
    case "close": {
      const closing = server
      server = undefined
      pending.clear()
      void (closing?.close() ?? Promise.resolve()).then(() => post({ type: "closed" }))
      return
    }
  }
})
