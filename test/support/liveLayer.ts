/**
 * A `describe` whose `it.effect` programs run on one layer built for the block, with the live clock: what
 * `layer(l, { excludeTestServices: true })(name, …)` of @effect/vitest does, without its side effect. That one assigns
 * the block's `effect` onto @effect/vitest's shared `it`, so every later `it.effect` of the file (and, under vitest's
 * `isolate: false`, of every later file in the same worker) ran on that layer without TestClock: a test that needs
 * the live clock passed by accident, and TestClock tests of other files failed ("testClock.setTime is not a function").
 */
import { afterAll, describe, it } from "vitest"
import { type Effect, type Layer, ManagedRuntime } from "effect"

export interface LiveIt<R> {
  readonly effect: <A, E>(name: string, program: () => Effect.Effect<A, E, R>, timeout?: number) => void
}

export const describeOnLayer = <R, E>(layer: Layer.Layer<R, E>, name: string, body: (it: LiveIt<R>) => void): void => {
  describe(name, () => {
    const runtime = ManagedRuntime.make(layer)
    afterAll(() => runtime.dispose())
    body({ effect: (title, program, timeout) => it(title, () => runtime.runPromise(program()), timeout) })
  })
}
