import { Effect, Logger, LogLevel, Metric } from "effect"
import { Bitrix, Metrics } from "effect-bitrix24"

export const traced = Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE"] }).pipe(
  // debug logs: each request (params excerpt), each answer, the strategy chosen, every wait on a limit
  Logger.withMinimumLogLevel(LogLevel.Debug),
  Effect.zipLeft(
    Effect.gen(function* () {
      const requests = yield* Metric.value(Metrics.requests)
      const rows = yield* Metric.value(Metric.tagged(Metrics.rows, "method", "crm.deal.list"))
      const bucketWaits = yield* Metric.value(Metric.tagged(Metrics.limiterWaitMs, "limit", "bucket"))
      yield* Effect.log(`requests ${requests.count}, rows ${rows.count}, waited on the bucket ${bucketWaits.count} ms`)
    })
  )
)
