/**
 * Scoped `slow` overrides: extra limits that travel with one program's fibers (a `Context.Reference`), so two
 * programs with different settings never affect each other and fibers outside keep full speed.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { type Gate, unsafeMakeGate } from "./limiterGate.js"

/** Spaces one program's request starts `intervalMs` apart; the lock lets one request at a time claim a start. */
export interface Pacer {
  readonly lock: Gate
  readonly intervalMs: number
  /** Earliest start of the program's next request, epoch ms. */
  nextStartMs: number
}

/** The limits one `slow` call installed for its program. */
export interface SlowProgram {
  readonly concurrency: Gate | undefined
  readonly pacer: Pacer | undefined
}

/** Settings of one `slow` call. */
export interface SlowOptions {
  readonly maxConcurrent?: number
  readonly requestsPerSecond?: number
}

/**
 * The `slow` overrides in force for the current fiber, outermost first; nested `slow` calls all apply.
 */
export class SlowOverride extends Context.Reference<SlowOverride>()("effect-bitrix24/RateLimiter/SlowOverride", {
  defaultValue: (): ReadonlyArray<SlowProgram> => []
}) {}

/** Fresh per-program limits; a missing or non-positive setting adds no limit. */
export const makeSlowProgram = (options: SlowOptions): SlowProgram => ({
  concurrency:
    options.maxConcurrent !== undefined && Number.isFinite(options.maxConcurrent)
      ? unsafeMakeGate(Math.max(1, Math.floor(options.maxConcurrent)))
      : undefined,
  pacer:
    options.requestsPerSecond !== undefined && options.requestsPerSecond > 0 && Number.isFinite(options.requestsPerSecond)
      ? { lock: unsafeMakeGate(1), intervalMs: 1000 / options.requestsPerSecond, nextStartMs: Number.NEGATIVE_INFINITY }
      : undefined
})

/** Runs `program` with its own fresh `slow` limits added to those already in force. */
export const slow =
  (options: SlowOptions) =>
  <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(SlowOverride, (outer) =>
      Effect.provideService(program, SlowOverride, [...outer, makeSlowProgram(options)])
    )
