/**
 * The client side of a benchmark run: `Bitrix.layer` over an HTTP client, made to agree with a time-scaled
 * portal, and the programs the scenarios run.
 *
 * Time under `timeScale` (the engine, src/testing/internal/engine.ts): portal time = anchor + real elapsed ×
 * ts; costs are portal ms and the answer waits cost / ts real ms; the leaky bucket drains `requestsPerSecond`
 * per PORTAL second; the operating window is `operatingWindowSeconds` PORTAL seconds. The bench's portal reports
 * in portal time (`reportTime: "portal"`, set in portalProcess.ts): `time.operating` and `time.processing` are
 * PORTAL seconds and `operating_reset_at` is a PORTAL epoch second (it runs ahead of the wall clock by (ts − 1) ×
 * elapsed). The fake's default (`reportTime: "real"`) is for a client on the wall clock instead.
 *
 * Two ways to make the client agree:
 *
 * - `scaled` (default): the client runs on a Clock that reads portal time (same anchor) and sleeps ms / ts,
 *   with the standard limits unchanged. Everything the limiter compares (`operating`, `operating_reset_at`,
 *   its window, backoffs, the 60 s timeout) is then in the portal's units.
 * - `limits`: the wall clock, with limits rewritten for it: pool 50, drain 2 × ts per second, operating limit
 *   480 (unchanged: `operating` arrives in portal seconds), window 600 / ts s, timeout 60 / ts s, backoff / ts.
 *   `operating_reset_at` arrives in portal time too, so a client that waits for it waits too long; kept for
 *   comparison with earlier figures. (Against a portal reporting real time, `reportTime: "real"`, the same client
 *   would take the operating limit 480 / ts as well, and `operating_reset_at` would be right.)
 */
import { FetchHttpClient, type HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Duration, Effect, Layer, Schedule } from "effect"
import * as Bitrix from "../src/Bitrix.js"
import { presets } from "../src/BitrixConfig.js"
import type { ValidationError } from "../src/BitrixError.js"
import { layerHttpClient } from "../src/internal/network.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as ScaledClock from "./scaledClock.js"

/** How the client is made to agree with a time-scaled portal. */
export type ClientTime = "scaled" | "limits"

/**
 * Which Effect HTTP client carries the requests: the library's own (`layerFetch`, `createClient`, `b24`),
 * @effect/platform-node's undici client, or fetch.
 */
export type HttpChoice = "bundled" | "undici" | "fetch"

/** Settings of one run's client. */
export interface ClientSetup {
  readonly webhookUrl: string
  readonly anchorMs: number
  readonly timeScale: number
  readonly limitsOn: boolean
  readonly clientTime: ClientTime
  readonly http: HttpChoice
  /** `ServiceOptions.bucketHeadroom`; undefined = the library's default. */
  readonly bucketHeadroom: number | undefined
  /** The limiter's `arrivalJitterMs` (in the client's time); undefined = the library's default. */
  readonly arrivalJitterMs?: number | undefined
}

const httpLayer = (choice: HttpChoice): Layer.Layer<HttpClient.HttpClient> =>
  choice === "fetch" ? FetchHttpClient.layer : choice === "undici" ? NodeHttpClient.layerUndici : layerHttpClient({}, {})

/** The client's options for the run. */
export const clientOptions = (setup: ClientSetup): Bitrix.Options => {
  const headroom = setup.bucketHeadroom === undefined ? {} : { bucketHeadroom: setup.bucketHeadroom }
  if (!setup.limitsOn) return { webhook: setup.webhookUrl, limits: "off" }
  if (setup.clientTime === "scaled") return { webhook: setup.webhookUrl, limits: "standard", ...headroom }
  const ts = setup.timeScale
  const standard = presets.standard
  return {
    ...headroom,
    webhook: setup.webhookUrl,
    limits: {
      poolSize: standard.poolSize,
      requestsPerSecond: standard.requestsPerSecond * ts,
      operatingLimitSeconds: standard.operatingLimitSeconds,
      operatingWindowSeconds: standard.operatingWindowSeconds / ts
    },
    timeout: Duration.millis(60_000 / ts),
    retry: Schedule.exponential(Duration.millis(500 / ts), 1.5).pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(8)))
  }
}

/** The client services for the run. */
export const clientLayer = (setup: ClientSetup): Layer.Layer<Bitrix.Services, ValidationError> => {
  const options = clientOptions(setup)
  const client = Bitrix.layer(options).pipe(Layer.provide(httpLayer(setup.http)))
  if (setup.arrivalJitterMs === undefined || options.limits === "off") return client
  // Bitrix.Options has no arrivalJitterMs (yet): the same limiter as Bitrix.layer builds, with the allowance set
  return Layer.merge(
    client,
    RateLimiter.layer({
      limits: options.limits ?? "standard",
      bucketHeadroom: options.bucketHeadroom ?? Bitrix.defaultBucketHeadroom,
      arrivalJitterMs: setup.arrivalJitterMs
    })
  )
}

/** What the client's limiter did, captured even when the run is cut short. */
export type LimiterCapture = { stats: RateLimiter.LimiterStats | undefined }

/**
 * Runs `program` with the run's client: services, the scaled clock when asked, and the limiter's counters
 * captured into `capture` when the program ends for any reason.
 */
export const runWithClient = <A, E>(
  setup: ClientSetup,
  program: Effect.Effect<A, E, Bitrix.Services>,
  capture: LimiterCapture
): Effect.Effect<A, E | ValidationError> => {
  const withStats = Effect.flatMap(RateLimiter.RateLimiter, (limiter) =>
    program.pipe(
      Effect.ensuring(
        Effect.map(limiter.stats, (stats) => {
          capture.stats = stats
        })
      )
    )
  )
  const provided = Effect.provide(withStats, clientLayer(setup))
  return setup.clientTime === "scaled" && setup.limitsOn
    ? Effect.withClock(provided, ScaledClock.make(setup.anchorMs, setup.timeScale))
    : provided
}
