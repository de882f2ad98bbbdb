/**
 * One HTTP exchange with the portal: request in, decoded envelope (or a typed failure) out.
 *
 * The transport never knows about batches, limits or retries; auth is applied here.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Auth from "./Auth.js"
import { type BitrixApiError, HttpError, type RetryableError, type UnexpectedResultError, type ValidationError } from "./BitrixError.js"
import type * as Envelope from "./Envelope.js"
import { describeCause, envelopeShape, interpretAnswer, type RawAnswer } from "./internal/httpResponse.js"
import * as Network from "./internal/network.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /**
   * POSTs `params` as JSON to `<endpoint><method>` (webhook) or `<endpoint><method>` with `auth` (OAuth),
   * and decodes the envelope. A 200 whose body holds `error` fails with `BitrixApiError`; a body that is not JSON
   * with `HttpError` "Decode"; JSON that is not an envelope with `UnexpectedResultError`.
   * `params` is an object, or an array for the old positional methods.
   */
  readonly send: (method: string, params: unknown) => Effect.Effect<Envelope.Success, HttpError | BitrixApiError | UnexpectedResultError>
  /**
   * The retry schedule of the requests sent through this transport; `defaultRetry` when absent. Which failures are
   * retried is fixed by safety rules (a write whose outcome is unknown is never repeated), not by the schedule.
   * `Bitrix.withRetry` replaces it for one program.
   */
  readonly retry?: Schedule.Schedule<unknown, RetryableError>
}

/**
 * @since 0.1.0
 * @category Context
 */
export class Transport extends Context.Tag("effect-bitrix24/Transport")<Transport, Service>() {}

/**
 * The most retries of the default schedule: a request is tried at most 9 times.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultMaxRetries = 8

/**
 * The default retry schedule: exponential backoff from 500 ms (× 1.5, jittered, as fast_bitrix24 backs off), at
 * most {@link defaultMaxRetries} retries.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultRetry: Schedule.Schedule<unknown, RetryableError> = Schedule.exponential("500 millis", 1.5).pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(defaultMaxRetries))
)

/**
 * Options of the HTTP transport.
 *
 * @since 0.1.0
 * @category Models
 */
export interface TransportOptions {
  /** How long one exchange may take before it fails with `HttpError` "Timeout"; the cloud caps a request at 60 s. */
  readonly timeout?: Duration.DurationInput
  /** The retry schedule of its requests (see `Service.retry`); default {@link defaultRetry}. */
  readonly retry?: Schedule.Schedule<unknown, RetryableError>
}

/**
 * Default time limit of one exchange: the cloud portal itself stops a request after 60 s (limits.md).
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultTimeout: Duration.Duration = Duration.seconds(60)

/**
 * How many times one request is resent after the portal refused its access token. Each refusal is worth a
 * refresh (single flight: one token request for every request in flight that met it) and a resend, since a
 * token may expire again while requests are being resent; the bound stops a portal that refuses every fresh
 * token from looping forever.
 */
const maxTokenResends = 3

/** Token errors after which an OAuth call is worth a refresh and a resend (notes §1.4). */
const isStaleTokenError = (error: HttpError | BitrixApiError | UnexpectedResultError): boolean =>
  error._tag === "BitrixApiError" && (error.code === "expired_token" || error.code === "invalid_token")

/** Serialises the body ourselves so an unserialisable value (a cycle, a bigint) is a typed error, not a defect. */
const encodeBody = (method: string, body: unknown): Either.Either<string, HttpError> => {
  try {
    return Either.right(JSON.stringify(body))
  } catch (cause) {
    return Either.left(
      new HttpError({
        reason: "Transport",
        method,
        detail: `the params could not be encoded as JSON (${describeCause(cause).slice(0, 200)}); nothing was sent`
      })
    )
  }
}

/**
 * Builds the transport from the `Auth` service and an `HttpClient`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  options: TransportOptions = {}
): Effect.Effect<Service, never, HttpClient.HttpClient | Auth.Auth> =>
  Effect.gen(function* () {
    const auth = yield* Auth.Auth
    const timeout = Duration.decode(options.timeout ?? defaultTimeout)
    // a webhook URL holds its secret code in the path: keep the platform's span (url.full) off it
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerDisabledWhen(() => auth.kind === "webhook"))

    const transportError = (method: string, detail: string, status?: number) =>
      new HttpError({
        reason: "Transport",
        method,
        ...(status === undefined ? {} : { status }),
        detail: auth.redact(detail).slice(0, 500)
      })

    /** One POST and its whole body, within the time limit. */
    const post = (method: string, authorized: Auth.Authorized) =>
      Effect.gen(function* () {
        const json = yield* encodeBody(method, authorized.body)
        const request = HttpClientRequest.post(auth.endpoint(method)).pipe(
          HttpClientRequest.bodyText(json, "application/json"),
          HttpClientRequest.acceptJson,
          (request) =>
            Option.match(authorized.bearerToken, {
              onNone: () => request,
              onSome: (token) => HttpClientRequest.bearerToken(request, Redacted.value(token))
            })
        )
        const response = yield* client
          .execute(request)
          .pipe(Effect.mapError((error) => transportError(method, `${error.reason}: ${describeCause(error.cause)}`)))
        const body = yield* response.text.pipe(
          Effect.mapError((error) =>
            transportError(method, `reading the body failed: ${error.reason}: ${describeCause(error.cause)}`, response.status)
          )
        )
        const answer: RawAnswer = { method, status: response.status, contentType: response.headers["content-type"], body }
        return answer
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new HttpError({ reason: "Timeout", method, detail: `no complete answer within ${Duration.format(timeout)}` })
        })
      )

    /** One exchange: post, classify, and log method, status and duration (never the URL or the body). */
    const exchange = (method: string, authorized: Auth.Authorized) =>
      Effect.gen(function* () {
        const started = yield* Clock.currentTimeMillis
        const elapsed = Effect.map(Clock.currentTimeMillis, (now) => now - started)
        const outcome = yield* Effect.either(
          Effect.flatMap(post(method, authorized), (answer) =>
            Effect.map(interpretAnswer(answer, auth.redact, envelopeShape), (envelope) => ({ answer, envelope }))
          )
        )
        const durationMs = yield* elapsed
        if (Either.isRight(outcome)) {
          yield* Effect.logDebug(`bitrix.transport: ${method} HTTP ${outcome.right.answer.status} in ${durationMs} ms`).pipe(
            Effect.annotateLogs({ "bitrix.method": method, "http.status": outcome.right.answer.status, "duration.ms": durationMs })
          )
          return outcome.right.envelope
        }
        const error = outcome.left
        yield* Effect.logDebug(`bitrix.transport: ${method} failed in ${durationMs} ms: ${error.message}`).pipe(
          Effect.annotateLogs({
            "bitrix.method": method,
            "duration.ms": durationMs,
            ...(error._tag === "UnexpectedResultError" || error.status === undefined ? {} : { "http.status": error.status })
          })
        )
        return yield* Effect.fail(error)
      })

    /**
     * Sends with the current token; when the portal calls the token stale, refreshes (joining a refresh already
     * under way, or none if another caller rotated the token meanwhile) and resends, at most `maxTokenResends`
     * times; the refusal after the last resend is final.
     */
    const sendWithToken = (
      method: string,
      params: unknown,
      resends: number
    ): Effect.Effect<Envelope.Success, HttpError | BitrixApiError | UnexpectedResultError> =>
      Effect.flatMap(auth.authorize(params), (authorized) =>
        exchange(method, authorized).pipe(
          Effect.catchIf(
            (error) => resends < maxTokenResends && Option.isSome(authorized.token) && isStaleTokenError(error),
            (error) =>
              Option.match(authorized.token, {
                onNone: () => Effect.fail(error),
                onSome: (token) => Effect.zipRight(auth.refresh(token), sendWithToken(method, params, resends + 1))
              })
          )
        )
      )

    const send = (method: string, params: unknown): Effect.Effect<Envelope.Success, HttpError | BitrixApiError | UnexpectedResultError> =>
      sendWithToken(method, params, 0).pipe(
        Effect.withSpan("bitrix.transport", { attributes: { "bitrix.method": method }, captureStackTrace: false })
      )

    return Transport.of({ send, retry: options.retry ?? defaultRetry })
  })

/**
 * The transport over an `Auth` already in context.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerWithAuth = (
  options: TransportOptions = {}
): Layer.Layer<Transport, never, HttpClient.HttpClient | Auth.Auth> => Layer.effect(Transport, make(options))

/**
 * The transport with its `Auth`, from a webhook URL or OAuth settings; needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Auth.AuthOptions & TransportOptions
): Layer.Layer<Transport, ValidationError, HttpClient.HttpClient> =>
  layerWithAuth({
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(options.retry === undefined ? {} : { retry: options.retry })
  }).pipe(Layer.provide(Auth.layer(options)))

/**
 * `layer` with the bundled `HttpClient` (undici's request API, proxies from `HTTPS_PROXY` / `HTTP_PROXY` /
 * `NO_PROXY`), for programs that need nothing else.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerFetch = (options: Auth.AuthOptions & TransportOptions): Layer.Layer<Transport, ValidationError> =>
  layer(options).pipe(Layer.provide(Network.layerHttpClient()))
