/**
 * The portal's leaky bucket as the client must model it, as pure functions.
 *
 * The portal: a counter gains 1 per request it admits and drains continuously at `r` = `requestsPerSecond`; a
 * request that would take it past the pool `P` is refused (503 QUERY_LIMIT_EXCEEDED). Solving that recursion, the
 * portal admits every request iff any closed stretch of time `[a, b]` holds at most `P + r·(b − a)` arrivals.
 *
 * The portal counts a request when it ARRIVES, and arrivals are not starts: network delays, connection set-up and
 * both event loops delay each request by a different amount. Say every delay lies within `[D, D + J]` (`J` =
 * `arrivalJitterMs`, the spread; the common part `D` does not matter). The arrivals in `[a, b]` then started within
 * `[a − D − J, b − D]`, a stretch `J` longer. So the client keeps this rule on its own starts:
 *
 *   any stretch of starts `w` long holds at most `P + r·max(0, w − J)` of them
 *
 * i.e. of `k > P` consecutive starts the last comes at least `J + (k − P) / r` after the first: the drain the client
 * credits itself between two starts begins only `J` after the earlier one, since the portal may not have counted it
 * yet. Then the arrivals in any `[a, b]` number at most `P + r·(b − a)`: no 503, whatever the delays within `J`. The
 * rule is also the weakest safe one: starts that break it can be delayed within `J` into a 503 (delay the earlier
 * ones by `J` so they land with the later ones).
 *
 * Computing it: let `E_k` be the time the plain bucket (no jitter) of starts `1..k` would be empty,
 * `E_k = max(E_{k−1}, s_k) + 1/r`. Unfolding the rule, start `j` may go at `E_{j−P} + J`. So the state is the empty
 * times after the last `P` starts, and a reservation waits for the oldest of them plus `J`. With `J = 0` this is
 * exactly the plain leaky bucket (GCRA). The cost against it: the `(P+1)`-th start of a busy stretch and every one
 * after come `J` later; the burst keeps all `P` slots and the steady rate stays `r` (taking `r·J` slots off the pool
 * instead would cost the same later and shrink every burst).
 *
 * Starts are reserved, not polled: a reservation is entered at once with its future start time, so the next one
 * queues behind it (starts are handed out in order).
 */

/** The bucket as the client models it. */
export interface BucketState {
  /**
   * For each of the last `poolSize` starts (reserved ones included), oldest first: when the plain bucket of all starts
   * up to it would be empty (ms). Ascending.
   */
  readonly emptyAtMs: ReadonlyArray<number>
}

/** The bucket's size and drain rate, after any headroom was taken off, and the arrival jitter it allows for. */
export interface BucketShape {
  readonly poolSize: number
  readonly requestsPerSecond: number
  /**
   * How much later than others a request may be counted by the portal, relative to its start (ms): the spread of
   * the delays between a start and its arrival. 0 trusts that requests arrive exactly as they start.
   */
  readonly arrivalJitterMs: number
}

/** Float slack, so 49.999999 counts as 50 and a wait never gains a spurious millisecond. */
const epsilon = 1e-6

/** The whole starts the pool holds (a pool of 47.5 after headroom holds 47). */
const poolStarts = (shape: BucketShape): number => Math.max(1, Math.floor(shape.poolSize + epsilon))

/** The milliseconds one start takes to drain. */
const drainMs = (shape: BucketShape): number => 1000 / shape.requestsPerSecond

/** The empty times that still matter at `nowMs`; once even the newest is `J` in the past, none do (an idle bucket). */
const liveHistory = (state: BucketState | undefined, shape: BucketShape, nowMs: number): ReadonlyArray<number> => {
  const history = state?.emptyAtMs ?? []
  const newest = history[history.length - 1]
  if (newest === undefined || newest + shape.arrivalJitterMs <= nowMs) return []
  const pool = poolStarts(shape)
  return history.length > pool ? history.slice(history.length - pool) : history
}

/**
 * How many starts the bucket allows at `nowMs` without waiting: the pool's free slots, plus one for each of the
 * last `poolSize` starts whose drain has surely reached the portal.
 */
export const freeStarts = (state: BucketState | undefined, shape: BucketShape, nowMs: number): number => {
  const history = liveHistory(state, shape, nowMs)
  let free = poolStarts(shape) - history.length
  for (const emptyAtMs of history) if (emptyAtMs + shape.arrivalJitterMs <= nowMs + epsilon) free++
  return free
}

/**
 * The portal's counter at `nowMs` as the client must assume it (the worst case under the arrival jitter), reserved
 * starts included: the pool less the starts allowed now.
 */
export const drainedLevel = (state: BucketState | undefined, shape: BucketShape, nowMs: number): number =>
  poolStarts(shape) - freeStarts(state, shape, nowMs)

/** Reserves the next start: the new state and how many milliseconds the caller waits before starting. */
export const reserveStart = (
  state: BucketState | undefined,
  shape: BucketShape,
  nowMs: number
): { readonly state: BucketState; readonly delayMs: number } => {
  const pool = poolStarts(shape)
  const history = liveHistory(state, shape, nowMs)
  // The start `poolSize` back: this one may go once its drain has surely reached the portal.
  const bound = history.length >= pool ? history[history.length - pool]! + shape.arrivalJitterMs : nowMs
  const delayMs = Math.max(0, Math.ceil(bound - nowMs - epsilon))
  // The start the portal will see is the rounded one (the caller sleeps whole milliseconds).
  const startMs = nowMs + delayMs
  const newest = history[history.length - 1]
  const emptyAtMs = Math.max(newest ?? startMs, startMs) + drainMs(shape)
  const kept = history.length >= pool ? history.slice(history.length - pool + 1) : history
  return { state: { emptyAtMs: [...kept, emptyAtMs] }, delayMs }
}

/**
 * The bucket after the portal answered QUERY_LIMIT_EXCEEDED: its counter was full by `nowMs` whatever ours says
 * (other apps share it). Modelled as `poolSize` starts made `J` before now (so surely counted by now) on top of what
 * we know, so the next starts are paced at the drain rate from now.
 */
export const fillBucket = (state: BucketState | undefined, shape: BucketShape, nowMs: number): BucketState => {
  const pool = poolStarts(shape)
  const history = liveHistory(state, shape, nowMs)
  const missing = pool - history.length
  const full = Array.from({ length: pool }, (_, index) => {
    const known = index >= missing ? history[index - missing]! : Number.NEGATIVE_INFINITY
    return Math.max(known, nowMs - shape.arrivalJitterMs + (index + 1) * drainMs(shape))
  })
  return { emptyAtMs: full }
}
