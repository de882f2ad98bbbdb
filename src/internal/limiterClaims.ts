/**
 * Planners' claims on the leaky bucket's free starts, as pure functions (the memory and file stores apply them; the
 * Redis store runs the same arithmetic in Lua, `limiterRedisScripts.ts`).
 *
 * A planner that sizes a parallel wave by the bucket's free starts claims the starts it means to use, so the other
 * planners sharing the bucket (other exports in the process, other processes on the store) see fewer free starts and
 * plan for the room that is really left, instead of all planning for the same starts. A claim is only what planners
 * SEE: the starts themselves still go through the bucket's reservation, claimed or not, so claims cannot cause a 503.
 *
 * - A claim grants `min(wanted, free)`, where free = the pool − the bucket's level − the other claimants' live claims;
 *   it replaces the claimant's earlier claim (a planner that plans again claims again).
 * - Each start the claimant reserves consumes one of its claimed starts (the start is then in the level instead).
 * - A claim lapses at its expiry (a crashed or slow planner's claim frees itself) or when it is released (0 wanted).
 * - A claim that holds no start (none was free, or its starts were used) still says its planner is there until it
 *   lapses: planners that see others planning beside them plan for their share of the bucket (`otherPlanners`).
 */
import { randomUUID } from "node:crypto"
import * as Context from "effect/Context"
import type { BucketShape } from "./limiterBucket.js"

/**
 * The planner the current fiber's requests belong to (`RateLimiter.BucketClaimant`): `withPermit` passes it with each
 * reservation, so the planner's own starts use up its claim; `capacity` leaves its own claim out of what it sees.
 */
export class BucketClaimant extends Context.Reference<BucketClaimant>()("effect-bitrix24/RateLimiter/BucketClaimant", {
  defaultValue: (): string | undefined => undefined
}) {}

/** A claimant id unique across the processes and machines sharing a store. */
export const newClaimantId = (): string => randomUUID()

/** One claimant's claim: the starts it still holds and when the claim lapses (ms, the store's clock). */
export interface Claim {
  readonly starts: number
  readonly expiresAtMs: number
}

/** The claims on one bucket, by claimant. */
export type Claims = Readonly<Record<string, Claim>>

/**
 * How long a claim lives unless renewed (ms): long enough for a planner to plan and start its wave, short enough that
 * a crashed or stalled planner's claim frees itself within a few bucket turns.
 */
export const defaultClaimTtlMs = 5000

const epsilon = 1e-6

/** The claims still in force at `nowMs` (those holding no start too: their planners are still there). */
export const liveClaims = (claims: Claims | undefined, nowMs: number): Claims => {
  const live: Record<string, Claim> = {}
  for (const [claimant, claim] of Object.entries(claims ?? {})) {
    if (claim.expiresAtMs > nowMs) live[claimant] = claim
  }
  return live
}

/** The planners other than `claimant` whose claims are in force at `nowMs`, whether they hold starts or not. */
export const otherPlanners = (claims: Claims | undefined, claimant: string | undefined, nowMs: number): number => {
  let count = 0
  for (const holder of Object.keys(liveClaims(claims, nowMs))) if (holder !== claimant) count++
  return count
}

/** The starts claimed at `nowMs` by everyone but `claimant` (all of them when `claimant` is undefined). */
export const othersClaimed = (claims: Claims | undefined, claimant: string | undefined, nowMs: number): number => {
  let total = 0
  for (const [holder, claim] of Object.entries(liveClaims(claims, nowMs))) if (holder !== claimant) total += claim.starts
  return total
}

/**
 * Sets `claimant`'s claim to `min(wanted, free)` starts for `ttlMs`, where free is what the pool leaves after `level`
 * (the bucket's level, `drainedLevel`) and the others' live claims; `wanted` 0 releases it. Returns the claims, the
 * grant and the other planners (`otherPlanners`).
 */
export const claimStarts = (
  claims: Claims | undefined,
  options: {
    readonly shape: BucketShape
    readonly level: number
    readonly claimant: string
    readonly wanted: number
    readonly ttlMs: number
    readonly nowMs: number
  }
): { readonly claims: Claims; readonly granted: number; readonly otherPlanners: number } => {
  const live = liveClaims(claims, options.nowMs)
  const pool = Math.max(1, Math.floor(options.shape.poolSize + epsilon))
  const free = Math.max(0, pool - options.level - othersClaimed(live, options.claimant, options.nowMs))
  const wanted = Number.isFinite(options.wanted) ? Math.max(0, Math.floor(options.wanted + epsilon)) : Infinity
  const granted = Math.min(wanted, free)
  const next: Record<string, Claim> = { ...live }
  delete next[options.claimant]
  // a claim of nothing is a release; one that got nothing still says the planner is there
  if (wanted > 0) next[options.claimant] = { starts: granted, expiresAtMs: options.nowMs + options.ttlMs }
  return { claims: next, granted, otherPlanners: otherPlanners(live, options.claimant, options.nowMs) }
}

/**
 * The claims after `claimant` reserved a start: one of its claimed starts used (none left: the claim holds no start
 * but says the planner is there until it lapses).
 */
export const consumeClaim = (claims: Claims | undefined, claimant: string | undefined, nowMs: number): Claims => {
  const live = liveClaims(claims, nowMs)
  if (claimant === undefined) return live
  const held = live[claimant]
  if (held === undefined || held.starts <= 0) return live
  return { ...live, [claimant]: { ...held, starts: held.starts - 1 } }
}
