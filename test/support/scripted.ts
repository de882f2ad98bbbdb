/**
 * Test support: a scripted transport. Each test names the answers the "portal" gives, in order, and counts what
 * was sent; time moves only through TestClock.
 */
import { Effect, Fiber, Layer, Option, TestClock } from "effect"
import * as Bitrix from "../../src/Bitrix.js"
import { BitrixApiError, HttpError } from "../../src/BitrixError.js"
import type * as Envelope from "../../src/Envelope.js"
import * as Transport from "../../src/Transport.js"

export type Answer = (method: string, params: unknown) => Effect.Effect<Envelope.Success, HttpError | BitrixApiError>

export const ok = (result: unknown): Answer => () => Effect.succeed({ result })
export const apiError = (code: string | number, status: number, description = "words"): Answer => (method) =>
  Effect.fail(new BitrixApiError({ code, description, status, method }))
export const httpError = (reason: "Transport" | "Timeout" | "Status" | "Decode", detail: string, status?: number): Answer => (method) =>
  Effect.fail(new HttpError({ reason, method, detail, ...(status === undefined ? {} : { status }) }))

/** A transport that gives `answers` in order (the last one repeats) and records what was sent. */
export const scripted = (
  answers: ReadonlyArray<Answer>,
  { retry, ...options }: Bitrix.ServiceOptions & Pick<Transport.TransportOptions, "retry"> = {}
) => {
  const sent: Array<{ readonly method: string; readonly params: unknown }> = []
  const transport = Layer.succeed(
    Transport.Transport,
    Transport.Transport.of({
      send: (method, params) =>
        Effect.suspend(() => {
          const answer = answers[Math.min(sent.length, answers.length - 1)]!
          sent.push({ method, params })
          return answer(method, params)
        }),
      ...(retry === undefined ? {} : { retry })
    })
  )
  return { sent, layer: Layer.merge(Bitrix.layerServices({ limits: "off", ...options }), transport) }
}

/** Runs `program` while moving the TestClock forward until it ends. */
export const withClock = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(program)
    for (;;) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* done.value
      yield* TestClock.adjust("1 second")
    }
  })

