/**
 * Test support: captures what a program logs and the spans it opens, so tests can check that secrets never leak.
 */
import { Effect, Layer, Logger, LogLevel, Tracer } from "effect"

/** Captures every log line (logfmt, with annotations and causes) and every span, for leak checks. */
export const observe = Effect.gen(function* () {
  const lines: Array<string> = []
  const spans: Array<Tracer.Span> = []
  const native = yield* Effect.tracer
  const tracer = Tracer.make({
    span: (...args) => {
      const span = native.span(...args)
      spans.push(span)
      return span
    },
    context: (f, fiber) => native.context(f, fiber)
  })
  const capture = Logger.make((options) => {
    lines.push(Logger.logfmtLogger.log(options))
  })
  const around = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.withTracer(tracer),
      Effect.provide(Layer.merge(Logger.add(capture), Logger.minimumLogLevel(LogLevel.All)))
    )
  const spanText = () =>
    spans
      .map((span) => `${span.name} ${JSON.stringify(Object.fromEntries([...span.attributes].map(([k, v]) => [k, String(v)])))}`)
      .join("\n")
  return { lines, spans, around, spanText }
})

