/**
 * The fake portal served over real HTTP on loopback, so a client's whole stack (sockets, keep-alive,
 * timeouts, body decoding) runs exactly as against a cloud portal.
 *
 * The server is a thin shell over the protocol engine: it turns each request into a `PortalRequest`, asks the
 * engine what to do, waits out the simulated server time (counted from the request's arrival), then answers, drops
 * the connection, or never answers. It runs on a worker thread of its own, so arrivals are stamped and answers sent
 * on time while the engine works on other requests.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as FakePortal from "./FakePortal.js"
import { PortalEngine } from "./internal/engine.js"
import * as Front from "./internal/front.js"
import { serveHere } from "./internal/front.js"
import { serveOnThread } from "./internal/frontThread.js"
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
  /**
   * The clock the engine is handed arrival times in. With the front on its worker thread the arrival is stamped
   * there on the wall clock and handed over as `now()` minus its age; inline, `now()` stamps it and also measures
   * the engine's own work (which is part of the simulated server time).
   */
  readonly now?: () => number
  /**
   * Where the HTTP front runs: `"thread"` (default), a worker thread that stamps every arrival and sends every answer
   * while the engine works on this one; `"inline"`, this thread (for a caller that is already on a thread of its
   * own, or a test double driven by a fake `now`).
   */
  readonly front?: "thread" | "inline"
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
export const defaultMaxBodyBytes: number = Front.defaultMaxBodyBytes

/**
 * How long the front server keeps an idle keep-alive connection open: 75 s, nginx's default `keepalive_timeout`
 * (ngx_http_core_module), which the portal's front servers run. Real time, whatever `timeScale`: the fake scales the
 * portal's server time, not the network in front of it.
 *
 * @since 0.1.0
 * @category Constants
 */
export const keepAliveTimeoutMs: number = Front.keepAliveTimeoutMs

/**
 * Serves `engine` on `host:port` until `close()`. By default the HTTP front runs on a worker thread (one per process,
 * shared by every portal it serves) and the engine stays on this thread: each request is stamped when it arrives,
 * whatever the engine is busy with, and answered at its arrival + its simulated server time (+ the `latency` legs)
 * as soon as the engine has built the answer, as a cloud portal answers concurrent requests on many workers. With
 * `front: "inline"` everything runs on this thread.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const serve = (engine: Engine, options: ServeOptions = {}): Promise<Server> =>
  options.front === "inline" ? serveHere(engine, options) : serveOnThread(engine, options)

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
 * outside `TestClock` (with `@effect/vitest`, `it.live` and `Effect.provide(FakePortalHttp.layer(options))`; its
 * `layer(…, { excludeTestServices: true })` also does, but it sets the shared `it.effect` to that layer without
 * TestClock for the rest of the file).
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
