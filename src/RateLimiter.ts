/**
 * All requests to one portal go through one limiter: leaky bucket, per-method operating budget, adaptive
 * concurrency, and scoped `slow` overrides. (Contract; the implementation lands in this file.)
 *
 * @since 0.1.0
 */
import { Context, type Effect } from "effect"
import type * as Envelope from "./Envelope.js"

/**
 * How a request ended, for adaptive concurrency and blocking.
 *
 * @since 0.1.0
 * @category Models
 */
export type Outcome =
  | { readonly _tag: "Success" }
  /** 503 QUERY_LIMIT_EXCEEDED: the portal's bucket is fuller than ours thinks. */
  | { readonly _tag: "Throttled" }
  /** 429 OPERATION_TIME_LIMIT for `method`; `resetAtMs` when known (epoch ms, from operating_reset_at). */
  | { readonly _tag: "MethodBlocked"; readonly method: string; readonly resetAtMs?: number }
  /** Other 5xx, timeouts, dropped connections. */
  | { readonly _tag: "ServerError" }

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /**
   * Runs `request` once the leaky bucket, the operating budget of every method in `methods`
   * (for a batch: `"batch"` and each command's method) and a concurrency slot allow it.
   */
  readonly withPermit: <A, E, R>(
    methods: ReadonlyArray<string>,
    request: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E, R>
  /** Feeds back the `time` blocks of a response: one entry for the call, one per batch command. */
  readonly record: (
    entries: ReadonlyArray<{ readonly method: string; readonly time: Envelope.TimeBlock }>
  ) => Effect.Effect<void>
  /** Reports how a request ended. */
  readonly feedback: (outcome: Outcome) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category Context
 */
export class RateLimiter extends Context.Tag("effect-bitrix24/RateLimiter")<RateLimiter, Service>() {}
