/**
 * The fake Bitrix24 portal in-process: the protocol engine behind an Effect service, an `HttpClient` that
 * talks to it without sockets, and a `Transport` layer on top, so a program's tests run against a portal
 * that limits, batches and fails like the real one, driven by `TestClock`.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as HttpBody from "@effect/platform/HttpBody"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Transport from "../Transport.js"
import { defaultPortalOrigin, type OAuthInfo, PortalEngine } from "./internal/engine.js"
import { makeArrivalDelays, makeTrips } from "./internal/engineLimits.js"
import type { PortalRequest, PortalStats } from "./internal/types.js"
import type { FakePortalOptions } from "./Options.js"

/** The engine and its request/outcome/stats types, for servers and tests that drive it directly. */
export { PortalEngine } from "./internal/engine.js"
/** The engine's OAuth app (paths rather than URLs). */
export type { OAuthInfo } from "./internal/engine.js"
/** What the engine reads and answers. */
export type { PortalOutcome, PortalRequest, PortalStats } from "./internal/types.js"

/**
 * The address the in-process portal pretends to live at; URLs under it never leave the process.
 *
 * @since 0.1.0
 * @category Constants
 */
export const baseUrl: string = defaultPortalOrigin

/**
 * The portal closed the connection without answering (the `drop` fault): the request may have run.
 *
 * @since 0.1.0
 * @category Errors
 */
export class PortalDropped extends Data.TaggedError("PortalDropped")<{
  readonly url: string
}> {}

/**
 * A portal answer as the wire carries it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface PortalResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/**
 * The OAuth app of the portal with absolute URLs, and the token pair issued at start.
 *
 * @since 0.1.0
 * @category Models
 */
export interface OAuthApp {
  readonly clientId: string
  readonly clientSecret: string
  readonly accessToken: string
  readonly refreshToken: string
  /** e.g. `https://fake-portal.bitrix24.test/oauth/token/`. */
  readonly tokenUrl: string
  /** e.g. `https://fake-portal.bitrix24.test/rest/`; append the method name. */
  readonly restUrl: string
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** The engine itself, for tests that inspect it directly. */
  readonly engine: PortalEngine
  /**
   * Answers one request after the simulated server time, counted from its arrival (a `Clock` sleep, so `TestClock`
   * drives it); a dropped connection fails with `PortalDropped`, a hung one never completes.
   */
  readonly handle: (request: PortalRequest) => Effect.Effect<PortalResponse, PortalDropped>
  /** The counters, with portal time read from the `Clock`. */
  readonly stats: Effect.Effect<PortalStats>
  /** The full webhook URL, e.g. `https://fake-portal.bitrix24.test/rest/1/<code>/`. */
  readonly webhookUrl: string
  /** Set when the portal was started with `oauth` options. */
  readonly oauth: OAuthApp | undefined
}

/**
 * @since 0.1.0
 * @category Context
 */
export class FakePortal extends Context.Tag("effect-bitrix24/testing/FakePortal")<FakePortal, Service>() {}

/**
 * The service over an existing engine (the HTTP server shares one engine between both views). With
 * `options.arrivalJitter` each request reaches the engine after its seeded delay (a `Clock` sleep).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromEngine = (
  engine: PortalEngine,
  origin: string = baseUrl,
  options: Pick<FakePortalOptions, "arrivalJitter" | "latency" | "seedNumber"> = {}
): Effect.Effect<Service> =>
  Effect.sync(() => {
    const arrivalDelayMs = makeArrivalDelays(options.arrivalJitter, options.seedNumber ?? 1)
    const nextTrip = makeTrips(options.latency, options.seedNumber ?? 1)
    const handle = (request: PortalRequest): Effect.Effect<PortalResponse, PortalDropped> =>
      Effect.gen(function* () {
        const trip = nextTrip?.()
        // In transit: the leaky bucket counts the request when it arrives, not when it was sent.
        if (trip !== undefined) yield* sleepMs(trip.upMs)
        if (arrivalDelayMs !== undefined) yield* sleepMs(arrivalDelayMs(yield* Clock.currentTimeMillis))
        const arrivedMs = yield* Clock.currentTimeMillis
        const outcome = engine.handle(request, arrivedMs)
        // The engine's own work is part of the simulated server time (as over HTTP); under TestClock it is none
        const spentMs = Math.max(0, (yield* Clock.currentTimeMillis) - arrivedMs)
        // The answer's way back
        const backMs = trip?.downMs ?? 0
        switch (outcome._tag) {
          case "Hang":
            return yield* Effect.never
          case "Drop":
            yield* sleepMs(outcome.delayMs - spentMs + backMs)
            return yield* Effect.fail(new PortalDropped({ url: request.url }))
          case "Response":
            yield* sleepMs(outcome.delayMs - spentMs + backMs)
            return { status: outcome.status, headers: outcome.headers, body: outcome.body }
        }
      })
    return {
      engine,
      handle,
      stats: Effect.map(Clock.currentTimeMillis, (now) => engine.stats(now)),
      webhookUrl: origin + engine.webhookPath,
      oauth: oauthAppOf(engine, origin)
    }
  })

/**
 * The OAuth app of a portal served at `origin`, with absolute token and REST URLs.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const oauthAppOf = (
  engine: { readonly oauth?: OAuthInfo | undefined },
  origin: string
): OAuthApp | undefined =>
  engine.oauth === undefined
    ? undefined
    : {
        clientId: engine.oauth.clientId,
        clientSecret: engine.oauth.clientSecret,
        accessToken: engine.oauth.accessToken,
        refreshToken: engine.oauth.refreshToken,
        tokenUrl: origin + engine.oauth.tokenPath,
        restUrl: origin + engine.oauth.restPath
      }

const sleepMs = (ms: number): Effect.Effect<void> => (ms > 0 ? Effect.sleep(Duration.millis(ms)) : Effect.void)

/**
 * A fresh portal whose clock starts at the current `Clock` time.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: FakePortalOptions = {}): Effect.Effect<Service> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => fromEngine(new PortalEngine(options, now), baseUrl, options))

/**
 * The portal alone, for tests that send raw requests through `handle`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerEngine = (options: FakePortalOptions = {}): Layer.Layer<FakePortal> => Layer.effect(FakePortal, make(options))

const textDecoder = new TextDecoder()

/** The body of a client request as text, with the content type the platform would have sent. */
const requestBody = (
  request: HttpClientRequest.HttpClientRequest,
  body: HttpBody.HttpBody
): Effect.Effect<{ readonly text: string; readonly contentType: string | undefined }, HttpClientError.RequestError> => {
  switch (body._tag) {
    case "Empty":
      return Effect.succeed({ text: "", contentType: undefined })
    case "Raw":
      return Effect.succeed({
        text:
          typeof body.body === "string"
            ? body.body
            : body.body instanceof Uint8Array
              ? textDecoder.decode(body.body)
              : String(body.body),
        contentType: body.contentType
      })
    case "Uint8Array":
      return Effect.succeed({ text: textDecoder.decode(body.body), contentType: body.contentType })
    case "FormData": {
      // Text fields only, sent as a urlencoded form (PHP files them the same way as multipart fields).
      const form = new URLSearchParams()
      body.formData.forEach((value, key) => {
        if (typeof value === "string") form.append(key, value)
      })
      return Effect.succeed({ text: form.toString(), contentType: "application/x-www-form-urlencoded" })
    }
    case "Stream":
      return body.stream.pipe(
        Stream.runCollect,
        Effect.map((chunks) => {
          const parts = Chunk.toReadonlyArray(chunks)
          const joined = new Uint8Array(parts.reduce((size, part) => size + part.length, 0))
          let offset = 0
          for (const part of parts) {
            joined.set(part, offset)
            offset += part.length
          }
          return { text: textDecoder.decode(joined), contentType: body.contentType }
        }),
        Effect.mapError((cause) => new HttpClientError.RequestError({ request, reason: "Encode", cause }))
      )
  }
}

/**
 * An `HttpClient` whose requests are answered by `portal` in-process: URL with query params, headers and body
 * go in as a `PortalRequest`; a dropped connection is a `RequestError` with reason "Transport".
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeHttpClient = (portal: Service): HttpClient.HttpClient =>
  HttpClient.make((request, url) =>
    Effect.gen(function* () {
      const body = yield* requestBody(request, request.body)
      const headers: Record<string, string> = { ...request.headers, host: url.host }
      if (body.contentType !== undefined && headers["content-type"] === undefined) headers["content-type"] = body.contentType
      if (request.body._tag === "FormData") headers["content-type"] = "application/x-www-form-urlencoded"
      const response = yield* portal
        .handle({ httpMethod: request.method, url: url.toString(), headers, body: body.text, clientIp: "127.0.0.1" })
        .pipe(
          Effect.mapError(
            (cause) =>
              new HttpClientError.RequestError({
                request,
                reason: "Transport",
                cause,
                description: "the portal closed the connection without answering"
              })
          )
        )
      return HttpClientResponse.fromWeb(request, new Response(response.body, { status: response.status, headers: response.headers }))
    })
  )

/**
 * A fresh portal and an `HttpClient` wired to it, so any HTTP-based layer (the library's `Transport.layer`)
 * runs against the fake portal without sockets.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerHttpClient = (options: FakePortalOptions = {}): Layer.Layer<HttpClient.HttpClient | FakePortal> =>
  Layer.effect(HttpClient.HttpClient, Effect.map(FakePortal, makeHttpClient)).pipe(Layer.provideMerge(layerEngine(options)))

/**
 * How `layer` authenticates: the portal's webhook (default) or its OAuth app (needs `options.oauth`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface LayerConfig {
  readonly auth?: "webhook" | "oauth"
  readonly transport?: Transport.TransportOptions
}

/**
 * The library's `Transport` talking to a fresh in-process portal, plus the portal itself for assertions.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: FakePortalOptions = {}, config: LayerConfig = {}): Layer.Layer<Transport.Transport | FakePortal> =>
  Layer.unwrapEffect(
    Effect.map(FakePortal, (portal) => {
      const transport = config.transport ?? {}
      if (config.auth === "oauth") {
        if (portal.oauth === undefined) return Layer.die(new Error("FakePortal.layer: auth \"oauth\" needs options.oauth"))
        return Transport.layer({ ...transport, oauth: portal.oauth })
      }
      return Transport.layer({ ...transport, webhook: portal.webhookUrl })
    })
  ).pipe(Layer.orDie, Layer.provideMerge(layerHttpClient(options)))
