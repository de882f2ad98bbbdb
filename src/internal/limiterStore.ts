/**
 * The in-memory limiter store: bucket counters and method budgets in Maps, one process only; it never fails. The
 * shared stores implement the same operations atomically with the same arithmetic (`limiterFile.ts` under a lock
 * file, `limiterRedis.ts` as Lua scripts).
 */
import * as Effect from "effect/Effect"
import type { StoreService } from "../RateLimiter.js"
import * as Bucket from "./limiterBucket.js"
import * as Claims from "./limiterClaims.js"
import * as Operating from "./limiterOperating.js"

/** Makes an empty in-memory store. */
export const makeMemoryStore = (): StoreService => {
  const buckets = new Map<string, Bucket.BucketState>()
  /** Planners' claims on each bucket (`limiterClaims.ts`). */
  const claims = new Map<string, Claims.Claims>()
  const setClaims = (key: string, next: Claims.Claims) => {
    if (Object.keys(next).length === 0) claims.delete(key)
    else claims.set(key, next)
  }
  const budgets = new Map<string, Operating.MethodBudget>()
  const budgetKey = (key: string, method: string) => `${key}\u0000${method}`
  const budgetOf = (key: string, method: string) => budgets.get(budgetKey(key, method)) ?? Operating.emptyBudget

  return {
    reserveBucketStart: ({ bucket, claimant, key, nowMs }) =>
      Effect.sync(() => {
        const reservation = Bucket.reserveStart(buckets.get(key), bucket, nowMs)
        buckets.set(key, reservation.state)
        setClaims(key, Claims.consumeClaim(claims.get(key), claimant, nowMs))
        return reservation.delayMs
      }),
    bucketLevel: ({ bucket, claimant, key, nowMs }) =>
      Effect.sync(() => Bucket.drainedLevel(buckets.get(key), bucket, nowMs) + Claims.othersClaimed(claims.get(key), claimant, nowMs)),
    claimBucketStarts: ({ bucket, claimant, key, nowMs, starts, ttlMs }) =>
      Effect.sync(() => {
        const level = Bucket.drainedLevel(buckets.get(key), bucket, nowMs)
        const claim = Claims.claimStarts(claims.get(key), { shape: bucket, level, claimant, wanted: starts, ttlMs, nowMs })
        setClaims(key, claim.claims)
        return { granted: claim.granted, otherPlanners: claim.otherPlanners }
      }),
    fillBucket: ({ bucket, key, nowMs }) =>
      Effect.sync(() => {
        buckets.set(key, Bucket.fillBucket(buckets.get(key), bucket, nowMs))
      }),
    recordOperating: ({ entries, key, nowMs, shape }) =>
      Effect.sync(() => {
        for (const [method, times] of Operating.timesByMethod(entries)) {
          budgets.set(
            budgetKey(key, method),
            Operating.recordTimes(budgetOf(key, method), times, nowMs, shape, Operating.countsLocally(method))
          )
        }
      }),
    blockMethod: ({ key, method, untilMs }) =>
      Effect.sync(() => {
        const budget = budgetOf(key, method)
        budgets.set(budgetKey(key, method), {
          ...budget,
          blockedUntilMs: Math.max(untilMs, budget.blockedUntilMs ?? 0)
        })
      }),
    methodBudgets: ({ key, methods, nowMs, windowMs }) =>
      Effect.sync(() =>
        methods.map((method) => {
          const stored = budgets.get(budgetKey(key, method))
          if (stored === undefined) return Operating.emptyBudget
          // Write the pruned budget back, so spends that left the window do not pile up.
          const pruned = Operating.prune(stored, nowMs, windowMs)
          budgets.set(budgetKey(key, method), pruned)
          return pruned
        })
      )
  }
}
