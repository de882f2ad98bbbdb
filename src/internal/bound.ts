/**
 * The fastest any client could do a piece of work against a portal with the given limits and cost model, in
 * portal seconds: the benchmark divides measured times by it (bench/lowerBound.ts re-exports this module) and
 * `b24 estimate` prints it. Pure arithmetic over the cost numbers.
 *
 * The work is `units` commands of `unitMs` server time each (a list page of 50 rows, or one item), carried by
 * requests of at most 50 commands (a batch runs its commands one after another and adds its own `baseMs`).
 * For `r` requests carrying the work evenly (r from the fewest, R = ⌈units / 50⌉, up to one command each):
 *
 * - leaky bucket: `max(0, r − pool) / drain` (the first `pool` start at once, the rest at the drain rate);
 * - critical path: the server time of the longest request, `⌈units / r⌉ × unitMs (+ baseMs for a batch)`;
 * - operating budget: `window × (⌈S(r) / limit⌉ − 1)`, `S(r)` the billed server time: per request the method's
 *   time counts only above 0.1 s, as the portal's LoadLimiter does. A time counts until its basket expires, one
 *   window after the basket's first call; the last call at T counts everything since T − window, so work that bills
 *   more than `limit` must span a window from its first call (and each further `limit` one more window). (The call
 *   that crosses the limit still runs; that moves the bound only when S is within one call of a multiple of it.)
 *
 * bound = min over r of max(leaky(r), critical(r), operating(r)): more requests shorten the longest one but
 * cost bucket time. List pages are keyset pages (`start = -1`: no COUNT, no offset scan).
 */
import type { LimitNumbers } from "../BitrixConfig.js"
import type { CostNumbers } from "../testing/Options.js"

/** Rows per list page (the portal's fixed `IRestService::LIST_LIMIT`). */
export const pageSize = 50

/** Commands per batch (the portal's fixed `CRestUtil::BATCH_MAX_LENGTH`). */
export const commandsPerBatch = 50

/** The portal bills a method's time in a request only above this ([CORE] LoadLimiter::$minimalFixTime). */
export const minimalFixSeconds = 0.1

/** The cost numbers the bound reads: a call's base time and a row's, narrow or wide (a fake portal's `CostNumbers`). */
export type BoundCost = Pick<CostNumbers, "baseMs" | "narrowRowMs" | "wideRowMs">

/** A piece of work in commands. */
export interface Work {
  readonly units: number
  readonly unitMs: number
}

/** The bound and its parts at the best request count. */
export interface Bound {
  readonly seconds: number
  readonly requests: number
  readonly leakySeconds: number
  readonly criticalSeconds: number
  readonly operatingSeconds: number
  /** Billed server time at that request count. */
  readonly billedSeconds: number
  /** The fewest requests (full batches), with the leaky-bucket time and billed time they need. */
  readonly fewestRequests: number
  readonly fewestLeakySeconds: number
  readonly fewestBilledSeconds: number
  /** The formula taken at the fewest requests: max(leaky(R), critical(R), operating(S(R))). */
  readonly fewestCriticalSeconds: number
  readonly atFewestSeconds: number
}

/** Keyset pages of a list export: `rows` rows, narrow or wide. */
export const listWork = (cost: BoundCost, rows: number, wide: boolean): Work => {
  const units = Math.max(1, Math.ceil(rows / pageSize))
  // Every page full but the last: averaging the row cost over the pages keeps the total exact
  return { units, unitMs: cost.baseMs + (rows * (wide ? cost.wideRowMs : cost.narrowRowMs)) / units }
}

/** `items` single calls (add, get) of `itemMs` each besides the base cost. */
export const itemWork = (cost: Pick<CostNumbers, "baseMs">, items: number, itemMs: number): Work => ({
  units: items,
  unitMs: cost.baseMs + itemMs
})

/** Seconds `requests` requests wait on the leaky bucket: the first `pool` start at once, the rest at the drain rate. */
export const leakyBucketSeconds = (limits: LimitNumbers, requests: number): number =>
  Math.max(0, requests - limits.poolSize) / limits.requestsPerSecond

/** Server time of one request carrying `commands` commands of `work` (a batch adds its own base time). */
export const requestMs = (cost: Pick<CostNumbers, "baseMs">, work: Work, commands: number): number =>
  commands * work.unitMs + (commands > 1 ? cost.baseMs : 0)

/** Billed seconds when the work is spread evenly over `requests` requests. */
const billed = (work: Work, requests: number) => {
  const large = Math.ceil(work.units / requests)
  const small = Math.floor(work.units / requests)
  const largeCount = work.units - small * requests
  const bill = (commands: number) => {
    const seconds = (commands * work.unitMs) / 1000
    return seconds > minimalFixSeconds ? seconds : 0
  }
  return largeCount * bill(large) + (requests - largeCount) * bill(small)
}

/** Seconds the operating budget makes work that bills `seconds` of server time span (see the module comment). */
export const operatingWaitSeconds = (limits: LimitNumbers, seconds: number): number =>
  seconds <= limits.operatingLimitSeconds
    ? 0
    : limits.operatingWindowSeconds * (Math.ceil(seconds / limits.operatingLimitSeconds) - 1)

/** The lower bound of `work` (see the module comment). */
export const lowerBound = (cost: Pick<CostNumbers, "baseMs">, limits: LimitNumbers, work: Work): Bound => {
  const fewest = Math.ceil(work.units / commandsPerBatch)
  const fewestCriticalSeconds = requestMs(cost, work, Math.ceil(work.units / fewest)) / 1000
  const atFewestSeconds = Math.max(
    leakyBucketSeconds(limits, fewest),
    fewestCriticalSeconds,
    operatingWaitSeconds(limits, billed(work, fewest))
  )
  let best: Bound | undefined
  for (let requests = fewest; requests <= work.units; requests++) {
    const leakySeconds = leakyBucketSeconds(limits, requests)
    if (best !== undefined && leakySeconds >= best.seconds) break
    const criticalSeconds = requestMs(cost, work, Math.ceil(work.units / requests)) / 1000
    const billedSeconds = billed(work, requests)
    const operatingSeconds = operatingWaitSeconds(limits, billedSeconds)
    const seconds = Math.max(leakySeconds, criticalSeconds, operatingSeconds)
    if (best === undefined || seconds < best.seconds) {
      best = {
        seconds,
        requests,
        leakySeconds,
        criticalSeconds,
        operatingSeconds,
        billedSeconds,
        fewestRequests: fewest,
        fewestLeakySeconds: leakyBucketSeconds(limits, fewest),
        fewestBilledSeconds: billed(work, fewest),
        fewestCriticalSeconds,
        atFewestSeconds
      }
    }
  }
  // Work of at least one unit: the loop ran at least once
  return best!
}

/**
 * The bound of `calls` single calls (one request each, nothing to batch) of `unitMs` server time each: the first
 * `pool` start at once and the rest at the drain rate, and the last one still runs its own time.
 */
export const singleCallsBound = (limits: LimitNumbers, calls: number, unitMs: number): Bound => {
  const leakySeconds = leakyBucketSeconds(limits, calls)
  const criticalSeconds = unitMs / 1000
  const seconds = leakySeconds + criticalSeconds
  return {
    seconds,
    requests: calls,
    leakySeconds,
    criticalSeconds,
    operatingSeconds: 0,
    // Each call runs under the 0.1 s the portal bills from
    billedSeconds: 0,
    fewestRequests: calls,
    fewestLeakySeconds: leakySeconds,
    fewestBilledSeconds: 0,
    fewestCriticalSeconds: criticalSeconds,
    atFewestSeconds: seconds
  }
}
