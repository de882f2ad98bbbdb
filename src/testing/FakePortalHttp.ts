/**
 * The fake portal served over real HTTP on loopback, so a client's whole stack (sockets, keep-alive,
 * timeouts, body decoding) runs exactly as against a cloud portal.
 *
 * The server is a thin shell over the protocol engine: it turns each request into a `PortalRequest`, asks the
 * engine what to do, waits out the simulated server time (counted from the request's arrival), then answers, drops
 * the connection, or never answers.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as Https from "node:https"
import type { Socket } from "node:net"
import * as FakePortal from "./FakePortal.js"
import { PortalEngine } from "./internal/engine.js"
import { nginxPage, rawNginxPage } from "./internal/engineHttp.js"
import { makeArrivalDelays, makeTrips } from "./internal/engineLimits.js"
import type { PortalOutcome, PortalRequest, PortalStats } from "./internal/types.js"
import type { FakePortalOptions } from "./Options.js"

/**
 * What the server needs from a protocol engine; `PortalEngine` has it, and so can a test double.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Engine {
  /**
   * What to do with a request that arrived at `realNowMs`. It may answer later (a promise): an engine that runs on
   * another thread leaves this one free to stamp every arrival while it works.
   */
  readonly handle: (request: PortalRequest, realNowMs: number) => PortalOutcome | PromiseLike<PortalOutcome>
  /** Counters, with portal time measured up to `realNowMs`. */
  readonly stats: (realNowMs?: number) => PortalStats
  /** e.g. `/rest/1/<code>/`. */
  readonly webhookPath: string
  readonly oauth?: FakePortal.OAuthInfo | undefined
}

/**
 * The OAuth app of a served portal, with absolute URLs for the token endpoint and the REST root (the same
 * shape as the in-process `FakePortal.OAuthApp`).
 *
 * @since 0.1.0
 * @category Models
 */
export type OAuthApp = FakePortal.OAuthApp

/**
 * A running server.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Server {
  /** e.g. `http://127.0.0.1:8124`, without a trailing slash. */
  readonly url: string
  /** The port actually bound (useful with port 0). */
  readonly port: number
  /** Stops accepting, destroys every open socket (hung requests included) and cancels pending answers. */
  readonly close: () => Promise<void>
}

/**
 * Where to listen. `now` supplies the real time handed to the engine (default `Date.now`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface ServeOptions {
  /** Default 0: any free port. */
  readonly port?: number
  /** Default `127.0.0.1`. */
  readonly host?: string
  readonly now?: () => number
  /** Request bodies over this many bytes get the front server's 413 page. Default {@link defaultMaxBodyBytes}. */
  readonly maxBodyBytes?: number
  /** Serve HTTPS with this key and certificate (PEM), as a self-hosted portal with its own certificate does. */
  readonly tls?: { readonly key: string; readonly cert: string }
  /**
   * Each request reaches the engine after its seeded delay, as `FakePortalOptions.arrivalJitter` makes it
   * in-process: the delay of a request read at `now()` is added to its arrival time (and waited out on a timer), so
   * the engine counts it that much later and its answer comes that much later too.
   */
  readonly arrivalJitter?: FakePortalOptions["arrivalJitter"]
  /** The seed of `arrivalJitter` and `latency` when they name none (as `FakePortalOptions.seedNumber`). Default 1. */
  readonly seedNumber?: number
  /**
   * A network in front of the server, as `FakePortalOptions.latency`: each request reaches the engine its up leg
   * later and its answer leaves its down leg later (timers, on top of loopback's own).
   */
  readonly latency?: FakePortalOptions["latency"]
}

/** The serve options a portal's options carry (port aside): its front server's limits, TLS and arrival jitter. */
export const serveOptionsOf = (options: FakePortalOptions): ServeOptions => ({
  ...(options.arrivalJitter === undefined ? {} : { arrivalJitter: options.arrivalJitter }),
  ...(options.seedNumber === undefined ? {} : { seedNumber: options.seedNumber }),
  ...(options.latency === undefined ? {} : { latency: options.latency }),
  ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
  ...(options.tls === undefined ? {} : { tls: options.tls })
})

/**
 * The body size the fake front server accepts by default: 8 MiB. A batch of 50 commands with large `fields`
 * stays far below it; a real portal's nginx refuses bodies over its own `client_max_body_size` with 413.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultMaxBodyBytes = 8 * 1024 * 1024

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
const engineFailure = (error: unknown): PortalOutcome => ({
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

/**
 * Serves `engine` on `host:port` until `close()`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const serve = (engine: Engine, options: ServeOptions = {}): Promise<Server> => {
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
   * of the simulated server time, not added to it. A cloud portal serves concurrent requests on many workers. With
   * the engine on this thread, requests that arrive while it works are read (and stamped) only after it; an engine
   * on another thread (`handle` answering with a promise) leaves this one free to stamp every arrival.
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
    response.writeHead(413, { ...page.headers, connection: "close", "content-length": String(Buffer.byteLength(page.body)) })
    response.end(page.body, () => request.socket.destroy())
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
  server.keepAliveTimeout = 5_000
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

/**
 * The OAuth app of a served portal (shared with the in-process form).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const oauthAppOf: (engine: Engine, baseUrl: string) => OAuthApp | undefined = FakePortal.oauthAppOf

/**
 * The server could not start, e.g. the port is taken.
 *
 * @since 0.1.0
 * @category Errors
 */
export class FakePortalServeError extends Schema.TaggedError<FakePortalServeError>()("FakePortalServeError", {
  host: Schema.String,
  port: Schema.Number,
  message: Schema.String
}) {}

/**
 * The served portal as seen by a test: where to send requests, and its counters.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** e.g. `http://127.0.0.1:41234`, without a trailing slash. */
  readonly baseUrl: string
  /** e.g. `http://127.0.0.1:41234/rest/1/<code>/`; append `crm.deal.list.json`. */
  readonly webhookUrl: string
  readonly oauth?: OAuthApp
  readonly stats: Effect.Effect<PortalStats>
}

/**
 * The served portal in a test's context, so test code finds the URLs and counters of the server its layer
 * started.
 *
 * @since 0.1.0
 * @category Context
 */
export class FakePortalServer extends Context.Tag("effect-bitrix24/testing/FakePortalServer")<FakePortalServer, Service>() {}

/**
 * Serves an existing engine for the life of the scope; the socket server is closed (hung requests included) when
 * the scope closes.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  engine: Engine,
  options: Omit<ServeOptions, "now"> = {}
): Effect.Effect<Service, FakePortalServeError, Scope.Scope> =>
  Effect.gen(function* () {
    const clock = yield* Effect.clock
    const host = options.host ?? "127.0.0.1"
    const port = options.port ?? 0
    const server = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => serve(engine, { ...options, host, port, now: () => clock.unsafeCurrentTimeMillis() }),
        catch: (error) =>
          new FakePortalServeError({ host, port, message: error instanceof Error ? error.message : String(error) })
      }),
      (server) => Effect.promise(() => server.close())
    )
    const oauth = oauthAppOf(engine, server.url)
    return {
      baseUrl: server.url,
      webhookUrl: server.url + engine.webhookPath,
      ...(oauth !== undefined ? { oauth } : {}),
      stats: Effect.sync(() => engine.stats(clock.unsafeCurrentTimeMillis()))
    }
  })

/**
 * A fresh portal engine served on loopback for the life of the layer, exposed both as `FakePortalServer` (URLs,
 * counters) and as `FakePortal` (the in-process view of the same engine), so a test can drive it over HTTP and
 * inspect it directly. The engine reads time from the layer's `Clock`: the server runs on real time, so build it
 * outside `TestClock` (with `@effect/vitest`, `layer(FakePortalHttp.layer(options), { excludeTestServices: true })`).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: FakePortalOptions = {}): Layer.Layer<FakePortalServer | FakePortal.FakePortal, FakePortalServeError> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const clock = yield* Effect.clock
      const engine = new PortalEngine(options, clock.unsafeCurrentTimeMillis())
      const server = yield* make(engine, { ...serveOptionsOf(options), port: options.port ?? 0 })
      // The in-process view of the same engine answers under the server's address, so its URLs are real ones.
      const portal = yield* FakePortal.fromEngine(engine, server.baseUrl, options)
      return Context.make(FakePortalServer, server).pipe(Context.add(FakePortal.FakePortal, portal))
    })
  )
