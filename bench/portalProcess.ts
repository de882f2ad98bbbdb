/**
 * The fake portals of the benchmark, in a child process of their own (forked by `portal.ts`), so that their
 * row generation and JSON encoding never run on the client's event loop: with `timeScale` every real
 * millisecond the client loses is multiplied in portal time, so sharing a loop would charge the portal's work
 * to the client. The process stays up for the whole benchmark; every run gets a fresh engine and server.
 *
 * The engine runs on this process's main thread; HTTP is served by a worker thread (`portalFront.ts`) that stamps
 * each request's arrival while the engine is busy with others, so an answer is due at its arrival + simulated
 * server time, as from a portal with many workers.
 *
 * IPC: `start` (options, probes) → `ready`; `stats` → `stats`; `close` → `closed`; `exit`.
 */
import { writeFileSync } from "node:fs"
import { Worker } from "node:worker_threads"
import { FakePortal } from "../src/testing/index.js"
import type { FakePortalOptions, PortalStats } from "../src/testing/index.js"
import type {
  ChildMessage,
  FrontIn,
  FrontOut,
  FrontOutcome,
  FrontRequest,
  ParentMessage,
  PortalTrace,
  Probes,
  TraceRequest
} from "./portalProtocol.js"

type Engine = InstanceType<typeof FakePortal.PortalEngine>

/** Answers the probes through the method table, off the engine's limits and counters (rowsServed is rebased). */
const runProbes = (engine: Engine, probes: Probes) => {
  const ctx = { nowMs: Date.now(), userId: 1 }
  let filterTotal: number | undefined
  if (probes.filterTotal !== undefined) {
    const outcome = engine.methodTable.call(
      probes.filterTotal.method,
      { filter: probes.filterTotal.filter, select: ["ID"], order: { ID: "ASC" }, start: 0 },
      ctx
    )
    if (outcome?._tag === "Ok" && typeof outcome.total === "number") filterTotal = outcome.total
  }
  const ids: Array<number> = []
  if (probes.ids !== undefined) {
    // Keyset pages by ID, as a client reads them: the seeded IDs have gaps
    let cursor = 0
    while (ids.length < probes.ids.count) {
      const outcome = engine.methodTable.call(
        probes.ids.method,
        { filter: { ">ID": cursor }, select: ["ID"], order: { ID: "ASC" }, start: -1 },
        ctx
      )
      if (outcome?._tag !== "Ok" || !Array.isArray(outcome.result) || outcome.result.length === 0) break
      for (const row of outcome.result as ReadonlyArray<{ readonly ID: string }>) {
        ids.push(Number(row.ID))
        cursor = Number(row.ID)
      }
    }
  }
  return { filterTotal, ids: ids.slice(0, probes.ids?.count ?? 0) }
}

/** Portal seconds since the anchor, to 0.1 ms. */
const traceSeconds = (engine: Engine, anchorMs: number, realMs: number) =>
  Math.round((engine.portalNowMs(realMs) - anchorMs) * 10) / 10_000

/** `crm.deal.list` from `/rest/1/abc/crm.deal.list.json?start=0`. */
const traceMethod = (url: string) =>
  (url.split("?")[0] ?? "").split("/").at(-1)?.replace(/\.(json|xml)$/i, "").toLowerCase() ?? ""

/**
 * The trace of `BENCH_PORTAL_TRACE`: each request's outcome, and what it changed in the engine's counters (rows
 * served, operating seconds billed per method, 429 refusals), read as differences of `stats()` around `handle`.
 */
const makeTracer = (engine: Engine, anchorMs: number) => {
  const requests: Array<TraceRequest> = []
  let before = engine.stats()
  const handle = (request: FrontRequest, arrivedMs: number): FrontOutcome => {
    const outcome = engine.handle(request, arrivedMs)
    const handledMs = Date.now()
    const after = engine.stats()
    const billed: Record<string, number> = {}
    for (const [method, seconds] of Object.entries(after.operatingSecondsByMethod)) {
      const delta = seconds - (before.operatingSecondsByMethod[method] ?? 0)
      if (delta > 0) billed[method] = Math.round(delta * 1e6) / 1e6
    }
    const blocked = after.rejected429 - before.rejected429
    // The front answers at arrival + delay, or as soon as it has the outcome if the engine built it later
    const answeredAt =
      outcome._tag === "Hang" ? null : traceSeconds(engine, anchorMs, Math.max(arrivedMs + outcome.delayMs, handledMs))
    requests.push({
      at: traceSeconds(engine, anchorMs, arrivedMs),
      answeredAt,
      method: traceMethod(request.url),
      status: outcome._tag === "Response" ? outcome.status : outcome._tag,
      rows: after.rowsServed - before.rowsServed,
      ...(Object.keys(billed).length > 0 ? { billed } : {}),
      ...(blocked > 0 ? { blocked } : {})
    })
    before = after
    return outcome
  }
  /** The trace as JSON, one request a line. */
  const json = () => {
    const header: Omit<PortalTrace, "requests"> = {
      version: 1,
      portalEpochMs: anchorMs,
      timeScale: engine.timeScale,
      limits: engine.limits === undefined ? null : { ...engine.limits },
      batchBilling: engine.batchBilling
    }
    const head = JSON.stringify(header)
    const lines = requests.map((request) => JSON.stringify(request))
    return `${head.slice(0, -1)},"requests":[${lines.length === 0 ? "" : `\n${lines.join(",\n")}\n`}]}\n`
  }
  return { handle, json }
}

const send = (message: ChildMessage): void => {
  process.send?.(message)
}

let current: { readonly close: () => Promise<void>; readonly stats: () => PortalStats } | undefined

/**
 * The HTTP front, loaded once for the whole benchmark. A worker does not inherit tsx's loader on Node 20, so a
 * two-line module registers it in the worker and then imports the TypeScript.
 */
const frontUrl = new URL("./portalFront.ts", import.meta.url).href
const frontLoader = [
  `import { register } from ${JSON.stringify(import.meta.resolve("tsx/esm/api"))}`,
  "register()",
  `await import(${JSON.stringify(frontUrl)})`
].join("; ")
const front = new Worker(new URL(`data:text/javascript,${encodeURIComponent(frontLoader)}`))
const toFront = (message: FrontIn) => front.postMessage(message)
/** The engine of the running portal; requests that reach the front between runs are answered by nobody. */
let handleRequest: ((request: FrontRequest, arrivedMs: number) => FrontOutcome) | undefined
const frontWaiters: Array<(message: FrontOut) => boolean> = []
front.on("message", (message: FrontOut) => {
  if (message.type === "request") {
    if (handleRequest !== undefined) toFront({ type: "outcome", id: message.id, outcome: handleRequest(message.request, message.arrivedMs) })
    return
  }
  const index = frontWaiters.findIndex((waiter) => waiter(message))
  if (index >= 0) frontWaiters.splice(index, 1)
})
front.on("error", (error) => {
  send({ type: "failed", error: describe(error) })
})
const frontReply = <T extends FrontOut["type"]>(message: FrontIn, type: T): Promise<Extract<FrontOut, { type: T }>> =>
  new Promise((resolve) => {
    frontWaiters.push((reply) => {
      if (reply.type !== type) return false
      resolve(reply as Extract<FrontOut, { type: T }>)
      return true
    })
    toFront(message)
  })

const start = async (options: FakePortalOptions, probes: Probes, record: boolean) => {
  if (current !== undefined) throw new Error("a portal is already running in this child")
  // The engine's portal clock is anchored at this real instant; the client's scaled clock uses the same anchor
  const anchorMs = Date.now()
  // The client runs on a clock scaled like the portal's, anchored here (scaledClock.ts): it reads the answers' stamps
  // and spans in portal time, so the engine reports them so (its default is the wall clock)
  const engine = new FakePortal.PortalEngine({ reportTime: "portal", ...options }, anchorMs)
  const seedMs = Date.now() - anchorMs
  const probed = runProbes(engine, probes)
  // BENCH_PORTAL_TRACE=<file>: every request (arrival, answer, method, status, rows, billed operating time), as JSON
  // written at close (drawn by timeline.ts); without it requests go straight to the engine
  const tracePath = process.env["BENCH_PORTAL_TRACE"]
  const tracer = tracePath === undefined ? undefined : makeTracer(engine, anchorMs)
  handleRequest = tracer === undefined ? (request, arrivedMs) => engine.handle(request, arrivedMs) : tracer.handle
  const { url } = await frontReply(
    {
      type: "serve",
      webhookPath: engine.webhookPath,
      ...(options.latency === undefined ? {} : { latency: options.latency }),
      ...(options.seedNumber === undefined ? {} : { seedNumber: options.seedNumber }),
      ...(record ? { record } : {})
    },
    "listening"
  )
  current = {
    close: async () => {
      await frontReply({ type: "close" }, "closed")
      handleRequest = undefined
      if (tracePath !== undefined && tracer !== undefined) writeFileSync(tracePath, tracer.json())
    },
    stats: () => engine.stats(Date.now())
  }
  send({
    type: "ready",
    webhookUrl: url + engine.webhookPath,
    anchorMs,
    seedMs,
    rowsServedBaseline: engine.stats(Date.now()).rowsServed,
    ...(probed.filterTotal === undefined ? {} : { filterTotal: probed.filterTotal }),
    ids: probed.ids
  })
}

const close = async () => {
  const portal = current
  current = undefined
  await portal?.close()
  // Drop the last run's tables now, not in the middle of the next run
  ;(globalThis as { gc?: () => void }).gc?.()
  send({ type: "closed" })
}

const describe = (error: unknown) => (error instanceof Error ? (error.stack ?? error.message) : String(error))

process.on("message", (raw: unknown) => {
  const message = raw as ParentMessage
  switch (message.type) {
    case "start":
      start(message.options, message.probes, message.record === true).catch((error: unknown) => send({ type: "failed", error: describe(error) }))
      return
    case "stats":
      if (current !== undefined) send({ type: "stats", stats: current.stats(), rssBytes: process.memoryUsage.rss() })
      else send({ type: "failed", error: "no portal is running" })
      return
    case "replay":
      frontReply({ type: "replay" }, "replaying")
        .then((reply) => send(reply))
        .catch((error: unknown) => send({ type: "failed", error: describe(error) }))
      return
    case "replayCount":
      frontReply({ type: "replayCount" }, "replayed")
        .then((reply) => send(reply))
        .catch((error: unknown) => send({ type: "failed", error: describe(error) }))
      return
    case "close":
      close().catch((error: unknown) => send({ type: "failed", error: describe(error) }))
      return
    case "exit":
      void (current?.close() ?? Promise.resolve()).finally(() => process.exit(0))
      return
  }
})

// Orphaned (the runner died): leave rather than keep a port and a million rows alive
process.on("disconnect", () => process.exit(0))

send({ type: "loaded" })
