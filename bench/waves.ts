/**
 * Counting the dependent waves of a client's requests. Every request belongs to the wave after the latest wave an
 * answer (or a failure) had come back for when it was sent, the first wave when none had: the depth of the longest
 * chain "answer, then the next request", an upper bound of how many round trips the strategy made wait for each
 * other. Against a cloud portal each wave costs a network round trip. Used by the bench and by test/ListWaves.test.ts.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Transport from "../src/Transport.js"

/** The waves of the requests sent so far, in the order they were sent. */
export interface WaveLog {
  readonly waves: Array<number>
  /** The latest wave an answer (or a failure) came back for. */
  latestAnswered: number
}

/** A fresh, empty log. */
export const makeWaveLog = (): WaveLog => ({ waves: [], latestAnswered: 0 })

/** The deepest wave of the log (0 when nothing was sent). */
export const deepestWave = (log: WaveLog): number => log.waves.reduce((deepest, wave) => Math.max(deepest, wave), 0)

/** What a `Transport`'s `send` gives back. */
type Sent = ReturnType<Transport.Transport["Type"]["send"]>

/** The `Transport` beneath, its `send` wrapped by `around` (given the request and the inner send of it). */
export const aroundSend = (
  around: (method: string, params: unknown, send: Sent) => Sent
): Layer.Layer<Transport.Transport, never, Transport.Transport> =>
  Layer.effect(
    Transport.Transport,
    Effect.map(Transport.Transport, (inner) =>
      Transport.Transport.of({ ...inner, send: (method, params) => around(method, params, inner.send(method, params)) })
    )
  )

/** The `Transport` beneath, wrapped to note every request's wave in `log`. */
export const recordingWaves = (log: WaveLog): Layer.Layer<Transport.Transport, never, Transport.Transport> =>
  aroundSend((_method, _params, send) =>
    Effect.suspend(() => {
      const wave = log.latestAnswered + 1
      log.waves.push(wave)
      return send.pipe(
        Effect.ensuring(
          Effect.sync(() => {
            log.latestAnswered = Math.max(log.latestAnswered, wave)
          })
        )
      )
    })
  )
