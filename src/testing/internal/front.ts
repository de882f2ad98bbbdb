/**
 * The front server of the fake portal: node:http in front of a protocol engine. It reads each request (refusing
 * what nginx refuses: 413, 414, 400), stamps its arrival, hands it to the engine and answers at arrival + the
 * simulated server time (+ the `latency` legs), or drops the connection, or never answers.
 *
 * Only Node built-ins and the engine's small pure modules are imported here (the types come from the public
 * module and are erased), so a worker thread loads it in a moment (`frontWorker.ts`).
 */
import * as Http from "node:http"
import * as Https from "node:https"
import type { Socket } from "node:net"
import type { Server, ServeOptions } from "../FakePortalHttp.js"
import { nginxPage, rawNginxPage } from "./engineHttp.js"
import { makeArrivalDelays, makeTrips } from "./engineLimits.js"
import type { PortalOutcome, PortalRequest } from "./types.js"

/** What the front needs from an engine: an answer to a request that arrived at `realNowMs`, now or later. */
export interface FrontEngine {
  readonly handle: (request: PortalRequest, realNowMs: number) => PortalOutcome | PromiseLike<PortalOutcome>
}

/** The body size the fake front server accepts by default: 8 MiB. */
export const defaultMaxBodyBytes = 8 * 1024 * 1024

/** nginx's default `lingering_time` (30 s): the longest it reads and discards a refused body before it closes. */
const lingeringTimeMs = 30_000

/** nginx's default `keepalive_timeout` (75 s), in ms. */
export const keepAliveTimeoutMs = 75_000

/**
 * The longest request head (request line and headers) read: 1 MiB. Node's default of 16 KiB would close the
 * connection on a long GET URL before the portal's own 414 check could answer it; past this size the front
 * server still answers with its 414 page.
 */
const maxHeaderBytes = 1024 * 1024

const headersOf = (request: Http.IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue
    // node:http already lower-cases names; repeated headers arrive as arrays and are joined as a proxy would.
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value
  }
  return headers
}

/** An engine bug must not take the server down; the portal's own words for an uncaught exception are ERROR_CORE. */
export const engineFailure = (error: unknown): PortalOutcome => ({
  _tag: "Response",
  status: 500,
  headers: { "content-type": "application/json; charset=utf-8" },
  body: JSON.stringify({
    error: "ERROR_CORE",
    error_description: `Fake portal engine failure: ${error instanceof Error ? error.message : String(error)}`
  }),
  delayMs: 0
})

const urlHost = (host: string): string => (host.includes(":") && !host.startsWith("[") ? `[${host}]` : host)

/** Serves `engine` on `host:port` until `close()`, on the calling thread. */
export const serveHere = (engine: FrontEngine, options: ServeOptions = {}): Promise<Server> => {
  const host = options.host ?? "127.0.0.1"
  const now = options.now ?? Date.now
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  let closing = false

  const later = (delayMs: number, action: () => void): void => {
    if (closing) return
    const timer = setTimeout(() => {
      timers.delete(timer)
      action()
    }, Math.max(0, delayMs))
    timers.add(timer)
  }

  /**
   * Answers `delayMs` after the request arrived: the engine's own work (building and encoding the answer) is part
   * of the simulated server time, not added to it; an answer the engine builds later than that leaves when built.
   * On the engine's thread (`front: "inline"`) requests that arrive while it works are read and stamped only after
   * it; served from the front worker (`frontThread.ts`), or with an engine on another thread (`handle` answering with
   * a promise), this thread stays free to stamp every arrival and send every answer on time.
   */
  const answer = (
    request: Http.IncomingMessage,
    response: Http.ServerResponse,
    settled: PortalOutcome,
    arrivedMs: number,
    backMs: number
  ): void => {
    // the answer's way back through the `latency` network is part of its delay
    const outcome = settled._tag === "Hang" || backMs === 0 ? settled : { ...settled, delayMs: settled.delayMs + backMs }
    const spentMs = Math.max(0, now() - arrivedMs)
    switch (outcome._tag) {
      case "Response":
        later(outcome.delayMs - spentMs, () => {
          if (response.destroyed || response.writableEnded) return
          const body = Buffer.from(outcome.body, "utf8")
          response.writeHead(outcome.status, { ...outcome.headers, "content-length": String(body.byteLength) })
          response.end(body)
        })
        return
      case "Drop":
        // The portal ran the request (for writes) but the client never hears back: close the TCP connection.
        later(outcome.delayMs - spentMs, () => request.socket.destroy())
        return
      case "Hang":
        // No answer ever; `close()` destroys the socket so test runs still end.
        return
    }
  }

  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes
  const arrivalDelayMs = makeArrivalDelays(options.arrivalJitter, options.seedNumber ?? 1)
  const nextTrip = makeTrips(options.latency, options.seedNumber ?? 1)

  /** The front server refuses the body: its 413 page, then the connection is closed without reading the rest. */
  const refuseBody = (request: Http.IncomingMessage, response: Http.ServerResponse): void => {
    const page = nginxPage(413)
    if (page._tag !== "Response") return
    request.removeAllListeners("data")
    request.removeAllListeners("end")
    response.writeHead(413, { ...page.headers, "content-length": String(Buffer.byteLength(page.body)) })
    // nginx's lingering close (`lingering_close on`, `lingering_time 30s`): after the page it closes its side and
    // reads and discards what the client is still sending, so the client reads the 413 rather than a reset that
    // would destroy it unread. node:http discards the rest of the body (its sockets stay open half-closed); the
    // socket goes when the client closes, or after the lingering time
    response.end(page.body, () => {
      const socket = request.socket
      socket.end()
      const timer = setTimeout(() => socket.destroy(), lingeringTimeMs)
      timer.unref()
      socket.once("close", () => clearTimeout(timer))
    })
  }

  const handler = (request: Http.IncomingMessage, response: Http.ServerResponse): void => {
    if (Number(request.headers["content-length"] ?? 0) > maxBodyBytes) return refuseBody(request, response)
    const chunks: Array<Buffer> = []
    let received = 0
    request.on("data", (chunk: Buffer) => {
      received += chunk.byteLength
      // a chunked body declares no length: counted as it comes, and nothing past the limit is kept
      if (received > maxBodyBytes) {
        chunks.length = 0
        return refuseBody(request, response)
      }
      chunks.push(chunk)
    })
    request.on("end", () => {
      const readMs = now()
      const portalRequest: PortalRequest = {
        httpMethod: request.method ?? "GET",
        url: request.url ?? "/",
        headers: headersOf(request),
        body: Buffer.concat(chunks).toString("utf8"),
        ...(request.socket.remoteAddress !== undefined ? { clientIp: request.socket.remoteAddress } : {})
      }
      // the body is held once, as text, while the engine works on it
      chunks.length = 0
      const trip = nextTrip?.()
      const upMs = trip?.upMs ?? 0
      const backMs = trip?.downMs ?? 0
      const delayMs = upMs + (arrivalDelayMs === undefined ? 0 : arrivalDelayMs(readMs + upMs))
      if (delayMs > 0) {
        // in transit: it reaches the engine (and its leaky bucket) at its seeded arrival time
        later(delayMs, () => work(request, response, portalRequest, readMs + delayMs, backMs))
      } else {
        // Handled on the next turn of the event loop, so every request that arrived together is stamped with its
        // own arrival time before any of them is worked on
        setImmediate(() => work(request, response, portalRequest, readMs, backMs))
      }
    })
  }

  /** Hands a request that arrived at `arrivedMs` to the engine and answers it. */
  const work = (
    request: Http.IncomingMessage,
    response: Http.ServerResponse,
    portalRequest: PortalRequest,
    arrivedMs: number,
    backMs: number
  ): void => {
    let outcome: PortalOutcome | PromiseLike<PortalOutcome>
    try {
      outcome = engine.handle(portalRequest, arrivedMs)
    } catch (error) {
      outcome = engineFailure(error)
    }
    if ("then" in outcome) {
      outcome.then(
        (settled) => answer(request, response, settled, arrivedMs, backMs),
        (error: unknown) => answer(request, response, engineFailure(error), arrivedMs, backMs)
      )
    } else {
      answer(request, response, outcome, arrivedMs, backMs)
    }
  }

  const server =
    options.tls === undefined
      ? Http.createServer({ maxHeaderSize: maxHeaderBytes }, handler)
      : Https.createServer({ maxHeaderSize: maxHeaderBytes, key: options.tls.key, cert: options.tls.cert }, handler)
  // A burst of concurrent clients (the 503 demonstration) must not be refused by the listen backlog.
  server.maxConnections = Infinity
  // nginx's default `keepalive_timeout 75s` (ngx_http_core_module), which the portal's front servers run (every
  // page they write is signed "nginx"). Real seconds, not scaled by timeScale: the fake scales the portal's server
  // time (costs, the bucket's drain, the operating window), not the network in front of it (loopback and the
  // `latency` option are real time too), and a client's HTTP agent closes its idle sockets on wall-clock timers
  // whatever clock its limiter reads
  server.keepAliveTimeout = keepAliveTimeoutMs
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  // A request node:http cannot parse gets the front server's page (414 for a head over the size limit, 400 for
  // anything else) where the socket can still carry it; a client that reset its socket must not crash the process.
  server.on("clientError", (error: Error & { readonly code?: string }, socket: Socket) => {
    if (!socket.writable || error.code === "ECONNRESET") return void socket.destroy()
    socket.end(rawNginxPage(error.code === "HPE_HEADER_OVERFLOW" ? 414 : 400))
  })

  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      closing = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      for (const socket of sockets) socket.destroy()
      sockets.clear()
      if (!server.listening) return resolve()
      server.close(() => resolve())
    })

  return new Promise<Server>((resolve, reject) => {
    const onError = (error: Error) => reject(error)
    server.once("error", onError)
    server.listen({ port: options.port ?? 0, host, backlog: 1024 }, () => {
      server.off("error", onError)
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : (options.port ?? 0)
      resolve({ url: `${options.tls === undefined ? "http" : "https"}://${urlHost(host)}:${port}`, port, close })
    })
  })
}
