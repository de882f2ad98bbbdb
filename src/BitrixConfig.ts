/**
 * Options shared by the client and the fake portal: limit presets and their numbers.
 *
 * Sources for the numbers (see `README.md`, "Limits"): the leaky bucket of 50 requests drained at 2 per
 * second (Enterprise 250 and 5) and the per-method operating budget of 480 s in a 10-minute window come from
 * the official REST docs (settings/performance/limits.md) and the helpdesk note on REST 22.0.0.
 *
 * @since 0.1.0
 */

/**
 * Explicit limit numbers.
 *
 * @since 0.1.0
 * @category Models
 */
export interface LimitNumbers {
  /** Leaky bucket size: requests above this counter are refused (X). */
  readonly poolSize: number
  /** Drain rate of the leaky bucket, requests per second (Y). */
  readonly requestsPerSecond: number
  /** Server time a method may use within the operating window, in seconds. */
  readonly operatingLimitSeconds: number
  /** Length of the operating window, in seconds (10 buckets of a tenth each). */
  readonly operatingWindowSeconds: number
}

/**
 * A preset name or explicit numbers. `"off"` disables every limit.
 *
 * @since 0.1.0
 * @category Models
 */
export type Limits = "standard" | "enterprise" | "off" | LimitNumbers

/**
 * The presets: standard plans (50 / 2 per s), Enterprise (250 / 5 per s), both with 480 s per 10 min.
 *
 * @since 0.1.0
 * @category Constants
 */
export const presets = {
  standard: { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 },
  enterprise: { poolSize: 250, requestsPerSecond: 5, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }
} as const satisfies Record<string, LimitNumbers>

/**
 * Resolves a `Limits` value to numbers, or `undefined` when limits are off.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const resolveLimits = (limits: Limits): LimitNumbers | undefined =>
  limits === "off" ? undefined : typeof limits === "string" ? presets[limits] : limits
