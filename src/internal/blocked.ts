/**
 * One policy for batch commands the portal refused with `OPERATION_TIME_LIMIT` (the method's operating budget is
 * spent), shared by bulk calls and list exports. Such a command did not run, so it is sent again: after an answer
 * that holds one, the limiter learns the block once (`MethodBlocked` for the method: its next permit waits for the
 * reset), and the commands go again, at most `blockedRounds` times. Whatever is still blocked after that is the
 * caller's refusal to report.
 */
import * as Effect from "effect/Effect"
import type * as BatchPlanner from "../BatchPlanner.js"
import { RateLimiter } from "../RateLimiter.js"
import * as Client from "./client.js"

/** How many times commands refused by an operating block are sent again (a sixth refusal is final). */
export const blockedRounds = 5

/** A command the portal refused because its method's operating budget is spent: it did not run. */
export const isBlocked = (outcome: BatchPlanner.CommandOutcome): boolean =>
  outcome._tag === "Failure" && outcome.error.error === "OPERATION_TIME_LIMIT"

/**
 * After an answer in which commands of `method` were refused by an operating block, in send round `round` (0 for the
 * first send): whether they go again. If they do, the limiter learns the block first, once for the answer, so the
 * next permit for the method waits for its reset.
 */
export const sendAgain = (method: string, round: number): Effect.Effect<boolean, never, RateLimiter> =>
  round >= blockedRounds
    ? Effect.succeed(false)
    : Effect.flatMap(RateLimiter, (limiter) => Effect.as(limiter.feedback({ _tag: "MethodBlocked", method }), true))

/**
 * Sends one batch of `method` commands whose commands depend on each other (a chained keyset walk refers to the
 * previous page), so a batch with a blocked command is sent again whole, under the policy above. Returns one outcome
 * per command of the last answer. `costSample: false`: see `Client.ExchangeOptions.costSample`.
 */
export const sendWhole = (
  method: string,
  commands: ReadonlyArray<BatchPlanner.PlannedCommand>,
  options: { readonly costSample?: boolean } = {}
) =>
  Effect.gen(function* () {
    for (let round = 0; ; round++) {
      const outcomes = yield* Client.sendBatch({ commands }, { halt: false, ...options })
      if (!outcomes.some(isBlocked) || !(yield* sendAgain(method, round))) return outcomes
    }
  })
