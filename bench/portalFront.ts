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
 * `closed`; out `request` (id, request, arrival); in `replay` → out `replaying` (answers recorded); in `replayCount`
 * → out `replayed`.
 *
 * Record and replay (the client-overhead scenario): a portal served with `record` keeps every answer under its
 * request (HTTP method, URL, body); after `replay` a request seen before is answered at once from the recording,
 * without the engine, so a rerun of the same export measures the client alone (the fake portal's row generation and
 * JSON encoding cost it nothing). The n-th identical request gets the n-th recorded answer.
 */
import { parentPort } from "node:worker_threads"
import { FakePortalHttp } from "../src/testing/index.js"
import type { FrontIn, FrontOut, FrontOutcome, FrontRequest } from "./portalProtocol.js"

const port = parentPort
if (port === null) throw new Error("portalFront.ts runs as a worker thread")

const post = (message: FrontOut) => port.postMessage(message)
const pending = new Map<number, (outcome: FrontOutcome) => void>()
let nextId = 0
let server: FakePortalHttp.Server | undefined

type Answer = Exclude<FrontOutcome, PromiseLike<unknown>>
let recording: Map<string, Array<Answer>> | undefined
let replaying: { readonly cursor: Map<string, number>; answered: number; missed: number } | undefined
const requestKey = (request: FrontRequest) => `${request.httpMethod} ${request.url}\n${request.body}`

const viaEngine = (request: FrontRequest, realNowMs: number) =>
  new Promise<FrontOutcome>((resolve) => {
    const id = nextId++
    pending.set(id, resolve)
    post({ type: "request", id, request, arrivedMs: realNowMs })
  })

const recordAnswer = (key: string, outcome: FrontOutcome) => {
  if (recording === undefined) return
  const answers = recording.get(key) ?? []
  answers.push(outcome as Answer)
  recording.set(key, answers)
}

const engineFor = (webhookPath: string): FakePortalHttp.Engine => ({
  webhookPath,
  stats: () => {
    throw new Error("the counters live with the engine, on the portal process's main thread")
  },
  handle: (request, realNowMs) => {
    const key = requestKey(request)
    if (replaying !== undefined && recording !== undefined) {
      const answers = recording.get(key)
      const index = replaying.cursor.get(key) ?? 0
      const answer = answers?.[index]
      if (answer !== undefined) {
        replaying.cursor.set(key, index + 1)
        replaying.answered++
        return answer
      }
      replaying.missed++
      return viaEngine(request, realNowMs)
    }
    return recording === undefined ? viaEngine(request, realNowMs) : viaEngine(request, realNowMs).then((outcome) => {
      recordAnswer(key, outcome)
      return outcome
    })
  }
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
        recording = message.record === true ? new Map() : undefined
        replaying = undefined
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
    case "replay": {
      replaying = { cursor: new Map(), answered: 0, missed: 0 }
      let recorded = 0
      for (const answers of recording?.values() ?? []) recorded += answers.length
      post({ type: "replaying", recorded })
      return
    }
    case "replayCount":
      post({ type: "replayed", answered: replaying?.answered ?? 0, missed: replaying?.missed ?? 0 })
      return
    case "close": {
      recording = undefined
      replaying = undefined
      const closing = server
      server = undefined
      pending.clear()
      void (closing?.close() ?? Promise.resolve()).then(() => post({ type: "closed" }))
      return
    }
  }
})
