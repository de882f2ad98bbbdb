/**
 * The portal's two limits as plain state machines over portal time: the leaky bucket of request intensity
 * (503 QUERY_LIMIT_EXCEEDED) and the per-method operating-time window (429 OPERATION_TIME_LIMIT).
 */

import { makeRandom } from "./engineAuth.js"

/** Float drift must not turn an exact burst (poolSize requests, then one per 1/rps s) into a 503. */
const epsilon = 1e-9

/**
 * The leaky bucket of [D] limits.md: every admitted request adds 1, the counter drains `perSecond` per portal
 * second, and a request that would take it past `poolSize` is refused without adding anything.
 */
export class LeakyBucket {
  private readonly counters = new Map<string, { level: number; atMs: number }>()

  constructor(
    readonly poolSize: number,
    readonly perSecond: number
  ) {}

  /** The drained counter of `key` at `nowMs` (portal time). */
  level(key: string, nowMs: number): number {
    const counter = this.counters.get(key)
    if (counter === undefined) return 0
    const drained = counter.level - (Math.max(0, nowMs - counter.atMs) / 1000) * this.perSecond
    return Math.max(0, drained)
  }

  /** Adds one request, or answers `false` (and adds nothing) when it would overflow the pool. */
  admit(key: string, nowMs: number): boolean {
    const level = this.level(key, nowMs)
    if (level + 1 > this.poolSize + epsilon) {
      this.counters.set(key, { level, atMs: nowMs })
      return false
    }
    this.counters.set(key, { level: level + 1, atMs: nowMs })
    return true
  }
}

interface OperatingBucket {
  readonly index: number
  readonly firstCallMs: number
  seconds: number
}

/**
 * The operating-time window of [CORE] LoadLimiter: per key (auth entity × method) ten buckets of window/10; a
 * bucket lives from its first call until that call + window; the sum of live buckets is the method's usage.
 */
export class OperatingWindow {
  private readonly buckets = new Map<string, Array<OperatingBucket>>()
  private readonly bucketMs: number
  private readonly windowMs: number

  constructor(
    readonly limitSeconds: number,
    windowSeconds: number
  ) {
    this.windowMs = windowSeconds * 1000
    this.bucketMs = this.windowMs / 10
  }

  private live(key: string, nowMs: number): Array<OperatingBucket> {
    const all = this.buckets.get(key)
    if (all === undefined) return []
    const live = all.filter((bucket) => nowMs < bucket.firstCallMs + this.windowMs)
    if (live.length !== all.length) {
      if (live.length === 0) this.buckets.delete(key)
      else this.buckets.set(key, live)
    }
    return live
  }

  /** Seconds billed to `key` in the live buckets. */
  usedSeconds(key: string, nowMs: number): number {
    let sum = 0
    for (const bucket of this.live(key, nowMs)) sum += bucket.seconds
    return sum
  }

  /**
   * `operating_reset_at`: unix seconds when the oldest live bucket expires; with none, `now + window`, as the
   * core does from the first call of the request.
   */
  resetAtSeconds(key: string, nowMs: number): number {
    return Math.floor(this.resetAtMs(key, nowMs) / 1000)
  }

  /** `operating_reset_at` before rounding: epoch ms (portal time) when the oldest live bucket expires. */
  resetAtMs(key: string, nowMs: number): number {
    const oldest = this.live(key, nowMs)[0]
    return (oldest?.firstCallMs ?? nowMs) + this.windowMs
  }

  /** Files `seconds` into the bucket of `nowMs`. */
  bill(key: string, seconds: number, nowMs: number): void {
    const index = Math.floor(nowMs / this.bucketMs)
    const live = this.live(key, nowMs)
    const current = live.find((bucket) => bucket.index === index)
    if (current !== undefined) current.seconds += seconds
    else this.buckets.set(key, [...live, { index, firstCallMs: nowMs, seconds }])
  }
}

/** [CORE] LoadLimiter::$minimalFixTime: a method's run time in one request counts only above 0.1 s. */
export const minimalFixSeconds = 0.1

/**
 * The operating time one HTTP request has used so far, per key; billed to the window when the request ends
 * (the core's `finalize`), each key only when its sum passes the 0.1 s floor.
 */
export class RequestOperating {
  private readonly seconds = new Map<string, number>()

  add(key: string, seconds: number): void {
    this.seconds.set(key, (this.seconds.get(key) ?? 0) + seconds)
  }

  /** What counts of this request so far: nothing until the floor is passed. */
  counted(key: string): number {
    const seconds = this.seconds.get(key) ?? 0
    return seconds > minimalFixSeconds ? seconds : 0
  }

  /** The keys and seconds to bill. */
  billable(): Array<[string, number]> {
    return [...this.seconds.entries()].filter(([, seconds]) => seconds > minimalFixSeconds)
  }
}

/**
 * The delays of the `arrivalJitter` option: the path to the portal freezes now and then (a busy event loop, connections
 * being opened, a retransmit), and what is sent while it is frozen arrives together when it thaws. Freezes last a
 * seeded random 0..`maxMs` whole ms with seeded gaps of 0..4 × `maxMs` between them; the first begins with the first
 * request, as a client's first burst waits for its connections. So every delay is within [0, `maxMs`], and requests sent in
 * order arrive bunched: those sent early in a freeze are delayed most. Returns the delay of a request sent at `nowMs`
 * (non-decreasing between calls), or `undefined` without jitter; its generator is its own, so adding jitter changes no
 * fault, token or mutation.
 */
export const makeArrivalDelays = (
  jitter: { readonly maxMs: number; readonly seed?: number } | undefined,
  seedNumber: number
): ((nowMs: number) => number) | undefined => {
  if (jitter === undefined || !(jitter.maxMs > 0)) return undefined
  const random = makeRandom((jitter.seed ?? seedNumber) * 2750159 + 4)
  const maxMs = Math.floor(jitter.maxMs)
  const length = () => Math.floor(random() * (maxMs + 1))
  let freeze: { readonly startMs: number; readonly endMs: number } | undefined
  return (nowMs) => {
    freeze ??= { startMs: nowMs, endMs: nowMs + length() }
    while (freeze.endMs <= nowMs) {
      const next: number = freeze.endMs + Math.floor(random() * (4 * maxMs + 1))
      freeze = { startMs: next, endMs: next + length() }
    }
    return nowMs >= freeze.startMs ? freeze.endMs - nowMs : 0
  }
}

/** The two legs of one request's trip through the `latency` option's network, in ms. */
export interface Trip {
  readonly upMs: number
  readonly downMs: number
}

/**
 * The delays of the `latency` option: each leg of each request takes `roundTripMs / 2` plus a seeded random
 * 0..`jitterMs / 2` whole ms; `undefined` without latency. Its generator is its own, so adding latency changes no
 * fault, token, mutation or arrival jitter.
 */
export const makeTrips = (
  latency: { readonly roundTripMs: number; readonly jitterMs?: number; readonly seed?: number } | undefined,
  seedNumber: number
): (() => Trip) | undefined => {
  if (latency === undefined || !(latency.roundTripMs > 0 || (latency.jitterMs ?? 0) > 0)) return undefined
  const random = makeRandom((latency.seed ?? seedNumber) * 4256249 + 7)
  const halfMs = Math.max(0, latency.roundTripMs) / 2
  const halfJitterMs = Math.max(0, latency.jitterMs ?? 0) / 2
  const leg = () => Math.round(halfMs + random() * halfJitterMs)
  return () => ({ upMs: leg(), downMs: leg() })
}

