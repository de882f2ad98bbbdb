/**
 * The portal's leaky bucket as pure functions: a counter that gains 1 per request start and drains
 * continuously at `requestsPerSecond`. A start is allowed when the drained counter + 1 <= `poolSize`.
 *
 * Starts are reserved, not polled: a reservation adds 1 to the counter at once and returns how long the caller
 * must wait, so the counter may run above the pool by the number of reserved-but-not-started requests. Because
 * reservations are handed out in order and each waits exactly until the drained counter allows it, the real
 * counter at every start instant is at most the pool (the same arithmetic as GCRA).
 */

/** The bucket's counter at a moment. */
export interface BucketState {
  /** Counter value at `atMs`, including reserved starts that have not happened yet. */
  readonly level: number
  readonly atMs: number
}

/** The bucket's size and drain rate, after any headroom was taken off. */
export interface BucketShape {
  readonly poolSize: number
  readonly requestsPerSecond: number
}

/** Float slack, so 49.999999 counts as 50 and a wait never gains a spurious millisecond. */
const epsilon = 1e-6

/** The counter drained from `state.atMs` to `nowMs`; it never goes below zero, like the portal's. */
export const drainedLevel = (state: BucketState | undefined, shape: BucketShape, nowMs: number): number =>
  state === undefined
    ? 0
    : Math.max(0, state.level - (Math.max(0, nowMs - state.atMs) * shape.requestsPerSecond) / 1000)

/** Reserves the next start: the new state and how many milliseconds the caller waits before starting. */
export const reserveStart = (
  state: BucketState | undefined,
  shape: BucketShape,
  nowMs: number
): { readonly state: BucketState; readonly delayMs: number } => {
  const level = drainedLevel(state, shape, nowMs) + 1
  const excess = level - shape.poolSize
  const delayMs = excess <= epsilon ? 0 : Math.ceil((excess * 1000) / shape.requestsPerSecond - epsilon)
  return { state: { level, atMs: nowMs }, delayMs }
}

/**
 * The bucket after the portal answered QUERY_LIMIT_EXCEEDED: its counter is at least full (other apps share
 * the same counter), so the next starts are paced at the drain rate.
 */
export const fillBucket = (state: BucketState | undefined, shape: BucketShape, nowMs: number): BucketState => ({
  level: Math.max(drainedLevel(state, shape, nowMs), shape.poolSize),
  atMs: nowMs
})
