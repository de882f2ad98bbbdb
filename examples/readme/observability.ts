import { Effect, Logger, LogLevel, Metric, MetricState, Option, Tracer } from "effect"
import { Bitrix } from "effect-bitrix24"

// Spans: a tracer that prints each span as it ends, indented under its parent. With @effect/opentelemetry,
// provide its NodeSdk layer instead and the same spans reach your collector as one trace.
const printingTracer = Effect.map(Effect.tracer, (native) =>
  Tracer.make({
    context: (f, fiber) => native.context(f, fiber),
    span: (...args) => {
      const span = native.span(...args)
      const end = span.end.bind(span)
      span.end = (endTime, exit) => {
        end(endTime, exit)
        let depth = 0
        for (let parent = span.parent; Option.isSome(parent) && parent.value._tag === "Span"; parent = parent.value.parent) depth++
        const ms = span.status._tag === "Ended" ? Number(span.status.endTime - span.status.startTime) / 1e6 : 0
        const attributes = [...span.attributes].map(([key, value]) => `${key}=${String(value)}`).join(" ")
        console.log(`${"  ".repeat(depth)}span ${span.name} ${ms.toFixed(1)}ms ${attributes}`)
      }
      return span
    }
  })
)

// Metrics: every counter of the client, with its tags (method, outcome, strategy, limit)
const printMetrics = Effect.gen(function* () {
  for (const { metricKey, metricState } of yield* Metric.snapshot) {
    if (!metricKey.name.startsWith("bitrix_") || !MetricState.isCounterState(metricState)) continue
    const tags = metricKey.tags.map((tag) => `${tag.key}=${tag.value}`).join(",")
    console.log(`metric ${metricKey.name}{${tags}} ${metricState.count}`)
  }
})

const webhook = process.env["BITRIX24_WEBHOOK"] ?? "https://example.bitrix24.com/rest/1/secret/"
const program = Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"] }).pipe(
  // debug logs: each request (params excerpt), each answer, the strategy chosen, every wait on a limit
  Logger.withMinimumLogLevel(LogLevel.Debug),
  Effect.zipLeft(printMetrics),
  Effect.provide(Bitrix.layerFetch({ webhook }))
)
Effect.runPromise(Effect.flatMap(printingTracer, (tracer) => Effect.withTracer(program, tracer))).then(
  (deals) => console.log(`${deals.length} deals`),
  console.error
)
