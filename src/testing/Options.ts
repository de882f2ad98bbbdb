/**
 * Options of the fake portal, shared by its three forms: `FakePortal.layer` (in-process),
 * `FakePortalHttp.layer` (loopback HTTP) and `startFakePortal` (Promise).
 *
 * @since 0.1.0
 */
import type { Limits } from "../BitrixConfig.js"

/**
 * Simulated server time per call, in milliseconds of portal time. See the README, "Cost model", for the
 * sources of the defaults.
 *
 * @since 0.1.0
 * @category Models
 */
export interface CostNumbers {
  /** Every call (each batch command too). Default 5 ms. */
  readonly baseMs: number
  /** Per row returned with a narrow select (5 fields or fewer, no `*`, no `UF_*`). Default 0.1 ms. */
  readonly narrowRowMs: number
  /** Per row returned with `*`, no select, or `UF_*`. Default 2 ms. */
  readonly wideRowMs: number
  /** With `start >= 0`: per row skipped by the offset scan. Default 0.0015 ms. */
  readonly offsetRowMs: number
  /** With `start >= 0`: per row of the table (the COUNT behind `total`). Default 0.0005 ms; `"docsCount"` 0.0209 ms. */
  readonly countRowMs: number
  /** `*.add` / `*.update`. Default 40 ms. */
  readonly writeMs: number
  /** `*.delete`. Default 20 ms. */
  readonly deleteMs: number
  /** `*.get` and other single reads. Default 5 ms. */
  readonly getMs: number
}

/**
 * A cost model: a preset or numbers (unset ones keep the default's).
 *
 * - `"default"`: calibrated on recorded answers and fast_bitrix24's published export of 41,537 leads in about 2.5 s
 *   (the COUNT behind `total` at 0.5 µs per table row).
 * - `"docsCount"`: the default with the COUNT as the Bitrix24 docs measured it (settings/performance/huge-data.md:
 *   49.9 s for one counted page of 2,387,743 leads, 0.097 s with `start=-1`): about 20.9 µs per table row, 40 times
 *   the default, so offset paging on a big table is as slow as the docs warn.
 * - `"zero"`: every call free, for tests that must not depend on timing.
 *
 * @since 0.1.0
 * @category Models
 */
export type CostModel = "default" | "zero" | "docsCount" | Partial<CostNumbers>

/**
 * When a fault fires: with a probability per request, or on the listed request numbers (1-based, counted over
 * all requests the portal receives), optionally only for some methods.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FaultRule {
  readonly kind:
    | "error500" /** 500 with a JSON body: INTERNAL_SERVER_ERROR "Internal server error", before the method runs */
    | "error500After" /** the method runs (a write happens), then the same 500 answer: the client cannot know */
    | "html502" /** 502 with an HTML body */
    | "html504" /** 504 with an HTML body */
    | "error503" /** 503 QUERY_LIMIT_EXCEEDED although the bucket is fine */
    | "drop" /** the connection is closed without a response (after the method ran, for writes) */
    | "hang" /** no response ever (until the client's timeout) */
    | "malformedJson" /** a 200 with a truncated JSON body */
    | "expireToken" /** the OAuth access token expires now */
  readonly probability?: number
  readonly onRequests?: ReadonlyArray<number>
  readonly methods?: ReadonlyArray<string>
}

/**
 * Rows added, updated or deleted while a client reads, to test export completeness and syncs. Added and updated
 * rows are stamped with the portal time (`DATE_CREATE` / `DATE_MODIFY` and their equivalents), as real writes are.
 *
 * @since 0.1.0
 * @category Models
 */
export interface MutationRule {
  readonly entity: string
  /**
   * After every `everyRequests` list requests on the entity, add `add` rows, update `update` random rows (a new
   * title and `DATE_MODIFY` now) and delete `delete` random rows.
   */
  readonly everyRequests: number
  readonly add?: number
  readonly update?: number
  readonly delete?: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface FakePortalOptions {
  /** HTTP port for the served forms; 0 = any free port. */
  readonly port?: number
  /** Rows per entity, e.g. `{ "crm.deal": 100000, "crm.item:1032": 500, "tasks.task": 2000 }`. */
  readonly seed?: Readonly<Record<string, number>>
  /** Seed of the deterministic generator. Default 1. */
  readonly seedNumber?: number
  /** Default `"standard"`. */
  readonly limits?: Limits
  /** Whether a `batch` bills its commands (default, as the current docs say) or itself to the operating budget. */
  readonly batchBilling?: "commands" | "batch"
  /** Speeds up costs, drain rate and windows by the same factor. Default 1. */
  readonly timeScale?: number
  /**
   * Which clock the answers report time in, under `timeScale` (with 1 both are the same):
   *
   * - `"real"` (default): for a client on the wall clock. Stamps (`time.start`/`finish`/`date_*`,
   *   `operating_reset_at`, a token's `expires`, `DATE_CREATE`/`DATE_MODIFY` of rows written) are the real instants
   *   they happen at, and spans (`time.duration`/`processing`/`operating`, `X-Bitrix-Rest-Time`, `expires_in`) are
   *   real seconds, portal seconds ÷ `timeScale`. To such a client the portal is one whose limits are `timeScale`
   *   times tighter: a bucket of `poolSize` draining `requestsPerSecond × timeScale` per second and an operating
   *   budget of `operatingLimitSeconds ÷ timeScale` per `operatingWindowSeconds ÷ timeScale`.
   * - `"portal"`: for a client whose clock runs `timeScale` times faster, anchored at the engine's start (as the
   *   benchmark's): stamps and spans in portal time, the standard limits unchanged.
   */
  readonly reportTime?: "real" | "portal"
  /** Default `"default"`. */
  readonly costModel?: CostModel
  readonly faults?: ReadonlyArray<FaultRule>
  readonly mutations?: ReadonlyArray<MutationRule>
  /**
   * Requests reach the engine late by a seeded random delay of 0..`maxMs` ms (`seed` defaults to `seedNumber`), as
   * the network and event loops between a client and a real portal make them: the path freezes now and then for up
   * to `maxMs` (the first time with the first request, as a first burst waits for its connections) and what was sent
   * meanwhile arrives together, so the leaky bucket, which counts arrivals, sees requests bunched. The answer comes
   * that much later too. Under `TestClock` the delays are `Clock` sleeps, so a run repeats exactly. Served over HTTP
   * (`FakePortalHttp`, `startFakePortal`) they are timers, on top of the real jitter of sockets and event loops.
   */
  readonly arrivalJitter?: { readonly maxMs: number; readonly seed?: number }
  /**
   * A network between the client and the portal: every request travels `roundTripMs / 2` to the portal and its answer
   * as long back, each way plus a seeded random 0..`jitterMs / 2` (`seed` defaults to `seedNumber`). Against a cloud
   * portal in another region a round trip takes tens to hundreds of ms; on loopback it is nothing, which hides the cost
   * of requests that must wait for each other. Under `TestClock` the delays are `Clock` sleeps; served over HTTP they
   * are timers on top of loopback's own. Default: none.
   */
  readonly latency?: { readonly roundTripMs: number; readonly jitterMs?: number; readonly seed?: number }
  /** GET URLs longer than this get a 414 HTML page. Default 8192. */
  readonly maxUrlLength?: number
  /** Served over HTTP: request bodies over this many bytes get the front server's 413 page. Default 8 MiB. */
  readonly maxBodyBytes?: number
  /** Served over HTTP: HTTPS with this key and certificate (PEM), like a self-hosted portal with its own certificate. */
  readonly tls?: { readonly key: string; readonly cert: string }
  /** Webhook user ID and code. Defaults: 1 and a code derived from the seed number. */
  readonly webhook?: { readonly userId: number; readonly code: string }
  /** Enables the OAuth app: client id/secret, token lifetime in seconds (default 3600). */
  readonly oauth?: { readonly clientId: string; readonly clientSecret: string; readonly accessTokenLifetimeSeconds?: number }
}
