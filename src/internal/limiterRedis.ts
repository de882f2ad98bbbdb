/**
 * The limiter store in Redis (see `RateLimiter.layerStoreRedis`): each operation one Lua script from
 * `limiterRedisScripts.ts`, sent by SHA (`EVALSHA`, falling back to `EVAL` when Redis does not know it yet).
 * `ioredis` is an optional peer dependency: it is imported here, when the layer is built, never by the library's
 * entry.
 */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Envelope from "../Envelope.js"
import { RateLimiterStoreError } from "../BitrixError.js"
import type { RedisStoreOptions, StoreService } from "../RateLimiter.js"
import type { MethodBudget } from "./limiterOperating.js"
import * as Operating from "./limiterOperating.js"
import * as Scripts from "./limiterRedisScripts.js"

/** The few commands of an ioredis client the store uses (structural, so no ioredis type leaks into signatures). */
export interface RedisClient {
  readonly evalsha: (sha: string, numKeys: number, ...args: Array<string>) => Promise<unknown>
  readonly eval: (script: string, numKeys: number, ...args: Array<string>) => Promise<unknown>
}

/** The default prefix of every key. */
export const defaultPrefix = "effect-bitrix24:limiter:"

/** The store's key of a method's budget: the budget key (`operating:<portal>:<credential>`) and the method. */
export const budgetKey = (prefix: string, key: string, method: string): string => `${prefix}${key}:${method}`

/** The store's key of a bucket's claims (`limiterClaims.ts`), beside the bucket's own. */
export const claimsKey = (prefix: string, key: string): string => `${prefix}${key}:claims`

/** A window for the expiry of a block recorded before any budget (the portal's: 10 minutes). */
const defaultWindowMs = 600_000

interface Script {
  readonly name: string
  readonly source: string
  readonly sha: string
}

const script = (name: string, source: string): Script => ({
  name,
  source,
  sha: createHash("sha1").update(source).digest("hex")
})

const scripts = {
  reserveBucketStart: script("reserveBucketStart", Scripts.reserveBucketStart),
  bucketLevel: script("bucketLevel", Scripts.bucketLevel),
  claimBucketStarts: script("claimBucketStarts", Scripts.claimBucketStarts),
  fillBucket: script("fillBucket", Scripts.fillBucket),
  methodBudgets: script("methodBudgets", Scripts.methodBudgets),
  recordOperating: script("recordOperating", Scripts.recordOperating),
  blockMethod: script("blockMethod", Scripts.blockMethod)
}

const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause)).slice(0, 300)

const failure = (operation: string, detail: string) => new RateLimiterStoreError({ store: "redis", operation, detail })

/** Runs a script by its SHA; loads it with `EVAL` the first time a Redis does not know it. */
const run = (client: RedisClient, which: Script, keys: ReadonlyArray<string>, args: ReadonlyArray<string>) =>
  Effect.tryPromise({
    try: async () => {
      try {
        return await client.evalsha(which.sha, keys.length, ...keys, ...args)
      } catch (error) {
        if (errorText(error).startsWith("NOSCRIPT")) return await client.eval(which.source, keys.length, ...keys, ...args)
        throw error
      }
    },
    catch: (cause) => failure(which.name, errorText(cause))
  })

const num = (operation: string, value: unknown): Effect.Effect<number, RateLimiterStoreError> => {
  const parsed = typeof value === "string" && value !== "" ? Number(value) : Number.NaN
  return Number.isNaN(parsed) ? Effect.fail(failure(operation, `unexpected answer ${JSON.stringify(value)}`)) : Effect.succeed(parsed)
}

const optionalNum = (value: unknown): number | undefined => (typeof value === "string" && value !== "" ? Number(value) : undefined)

const numbers = (value: unknown): Array<number> => (Array.isArray(value) ? value.map((item) => Number(item)) : [])

/** One budget as the script answers it, its times shifted by `offsetMs` into the caller's clock. */
const decodeBudget = (value: unknown, offsetMs: number): MethodBudget | undefined => {
  if (!Array.isArray(value) || value.length !== 6) return undefined
  const [total, resetAt, reportedAt, blockedUntil, spends, recent] = value as ReadonlyArray<unknown>
  const shift = (ms: number | undefined) => (ms === undefined ? undefined : ms + offsetMs)
  const totalSeconds = optionalNum(total)
  const reportedAtMs = optionalNum(reportedAt)
  const flat = numbers(spends)
  const spendList: Array<Operating.Spend> = []
  for (let index = 0; index + 1 < flat.length; index += 2) spendList.push({ atMs: flat[index]! + offsetMs, seconds: flat[index + 1]! })
  return {
    portal:
      totalSeconds === undefined || reportedAtMs === undefined
        ? undefined
        : { totalSeconds, resetAtMs: shift(optionalNum(resetAt)), reportedAtMs: reportedAtMs + offsetMs },
    spends: spendList,
    recentCosts: numbers(recent),
    blockedUntilMs: shift(optionalNum(blockedUntil))
  }
}

/** Text of a number that `tonumber` reads back exactly (JavaScript's shortest round-trip form). */
const text = (value: number): string => String(value)

/** The store over a connected client. */
export const makeStore = (client: RedisClient, options: Pick<RedisStoreOptions, "prefix" | "clock"> = {}): StoreService => {
  const prefix = options.prefix ?? defaultPrefix
  const clock = options.clock ?? "redis"
  const bucketArgs = (nowMs: number, bucket: { readonly poolSize: number; readonly requestsPerSecond: number; readonly arrivalJitterMs: number }) => [
    clock,
    text(nowMs),
    text(bucket.poolSize),
    text(bucket.requestsPerSecond),
    text(bucket.arrivalJitterMs)
  ]
  const bucketKeys = (key: string) => [prefix + key, claimsKey(prefix, key)]
  return {
    reserveBucketStart: ({ bucket, claimant, key, nowMs }) =>
      Effect.flatMap(
        run(client, scripts.reserveBucketStart, bucketKeys(key), [...bucketArgs(nowMs, bucket), claimant ?? ""]),
        (answer) => num("reserveBucketStart", answer)
      ),
    bucketLevel: ({ bucket, claimant, key, nowMs }) =>
      Effect.flatMap(run(client, scripts.bucketLevel, bucketKeys(key), [...bucketArgs(nowMs, bucket), claimant ?? ""]), (answer) =>
        num("bucketLevel", answer)
      ),
    claimBucketStarts: ({ bucket, claimant, key, nowMs, starts, ttlMs }) =>
      Effect.flatMap(
        run(client, scripts.claimBucketStarts, bucketKeys(key), [
          ...bucketArgs(nowMs, bucket),
          claimant,
          Number.isFinite(starts) ? text(Math.max(0, starts)) : "-1",
          text(ttlMs)
        ]),
        (answer) =>
          Array.isArray(answer) && answer.length === 2
            ? Effect.map(Effect.all([num("claimBucketStarts", answer[0]), num("claimBucketStarts", answer[1])]), ([granted, otherPlanners]) => ({
                granted,
                otherPlanners
              }))
            : Effect.fail(failure("claimBucketStarts", `unexpected answer ${JSON.stringify(answer)}`))
      ),
    fillBucket: ({ bucket, key, nowMs }) => Effect.asVoid(run(client, scripts.fillBucket, bucketKeys(key), bucketArgs(nowMs, bucket))),
    recordOperating: ({ entries, key, nowMs, shape }) => {
      if (entries.length === 0) return Effect.void
      const args = [clock, text(nowMs), text(shape.windowMs)]
      for (const entry of entries) {
        const time: Envelope.TimeBlock = entry.time
        const cost = Operating.callCost(time)
        args.push(
          time.operating === undefined ? "" : text(time.operating),
          time.operating_reset_at === undefined ? "" : text(time.operating_reset_at),
          cost === undefined ? "" : text(cost),
          Operating.countsLocally(entry.method) ? "1" : "0"
        )
      }
      return Effect.asVoid(
        run(
          client,
          scripts.recordOperating,
          entries.map((entry) => budgetKey(prefix, key, entry.method)),
          args
        )
      )
    },
    blockMethod: ({ key, method, nowMs, untilMs }) =>
      Effect.asVoid(
        run(client, scripts.blockMethod, [budgetKey(prefix, key, method)], [clock, text(nowMs), text(untilMs), text(defaultWindowMs)])
      ),
    methodBudgets: ({ key, methods, nowMs, windowMs }) =>
      methods.length === 0
        ? Effect.succeed([])
        : Effect.flatMap(
            run(
              client,
              scripts.methodBudgets,
              methods.map((method) => budgetKey(prefix, key, method)),
              [clock, text(nowMs), text(windowMs)]
            ),
            (answer) => {
              if (!Array.isArray(answer) || answer.length !== methods.length + 1) {
                return Effect.fail(failure("methodBudgets", "unexpected answer"))
              }
              return Effect.flatMap(num("methodBudgets", answer[0]), (storeNowMs) => {
                // the store's times, moved onto the caller's clock
                const offsetMs = nowMs - storeNowMs
                const budgets: Array<MethodBudget> = []
                for (const item of answer.slice(1)) {
                  const budget = decodeBudget(item, offsetMs)
                  if (budget === undefined) return Effect.fail(failure("methodBudgets", "unexpected answer"))
                  budgets.push(budget)
                }
                return Effect.succeed(budgets)
              })
            }
          )
  }
}

/** The URL with its password masked, for messages. */
const masked = (url: string): string => url.replace(/\/\/([^@/]*)@/, "//***@")

/**
 * Connects to Redis (the connection is closed with the scope) and makes the store. The client fails commands at
 * once while disconnected (no offline queue, one attempt per command, `commandTimeoutMs`), so the limiter's own
 * bounded retry decides how long to wait; it reconnects in the background.
 */
export const make = (options: RedisStoreOptions = {}): Effect.Effect<StoreService, RateLimiterStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const url = options.url === undefined ? "redis://127.0.0.1:6379" : Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url
    const module = yield* Effect.tryPromise({
      try: () => import("ioredis"),
      catch: (cause) =>
        new RateLimiterStoreError({
          store: "redis",
          operation: "connect",
          detail: `the Redis store needs the package ioredis (npm install ioredis@5): ${errorText(cause)}`
        })
    })
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const created = new module.Redis(url, {
            lazyConnect: false,
            enableOfflineQueue: true,
            maxRetriesPerRequest: 0,
            commandTimeout: options.commandTimeoutMs ?? 2000,
            connectTimeout: 2000,
            retryStrategy: (times: number) => Math.min(50 * times, 1000)
          })
          // connection errors reach the commands; without a listener ioredis would print each one
          created.on("error", () => undefined)
          return created
        },
        catch: (cause) => failure("connect", `${masked(url)}: ${errorText(cause)}`)
      }),
      // no QUIT: with Redis gone it would wait for a reconnection; nothing is pending when the scope closes
      (created) => Effect.sync(() => created.disconnect())
    )
    return makeStore(client, options)
  })
