/**
 * Running a program to its end on the TestClock: time moves `step` at a time while the program runs.
 */
import { Clock, Effect, Fiber, TestClock } from "effect"
import type { Duration } from "effect"

/**
 * Runs `program` to its end on the TestClock, moving time `step` at a time (at most `steps` times); returns its
 * result and the test-clock ms it took.
 */
export const runOnTestClock = <A, E, R>(program: Effect.Effect<A, E, R>, step: Duration.DurationInput, steps: number) =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.fork(program)
    for (let index = 0; index < steps && fiber.unsafePoll() === null; index++) yield* TestClock.adjust(step)
    const result = yield* Fiber.join(fiber)
    return { result, elapsedMs: (yield* Clock.currentTimeMillis) - started }
  })
