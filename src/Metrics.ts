/**
 * The client's metrics, through Effect's `Metric`: read them with `Metric.value`, or export them with an
 * OpenTelemetry metrics layer. Counters are tagged with the Bitrix method (`method`) where one applies.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

/**
 * HTTP requests sent to the portal, tagged `method` (the top-level method: `batch` for batches) and `outcome`
 * (`ok`, or the error code / `http_<reason>`).
 *
 * @since 0.1.0
 * @category Metrics
 */
export const requests = Metric.counter("bitrix_requests_total", {
  description: "HTTP requests sent to the portal",
  incremental: true
})

/**
 * Requests sent again after a failure that was safe to retry.
 *
 * @since 0.1.0
 * @category Metrics
 */
export const retries = Metric.counter("bitrix_retries_total", {
  description: "requests retried after a safe-to-retry failure",
  incremental: true
})

/**
 * List rows delivered by `getAll` / `stream`, tagged `method` and `strategy`.
 *
 * @since 0.1.0
 * @category Metrics
 */
export const rows = Metric.counter("bitrix_rows_total", { description: "list rows delivered", incremental: true })

/**
 * Time requests spent waiting on a limit, in milliseconds, tagged `limit` (`bucket`, `operating`).
 *
 * @since 0.1.0
 * @category Metrics
 */
export const limiterWaitMs = Metric.counter("bitrix_limiter_wait_ms_total", {
  description: "milliseconds requests waited on a limit",
  incremental: true
})

/**
 * Requests that had to wait on a limit, tagged `limit` (`bucket`, `operating`).
 *
 * @since 0.1.0
 * @category Metrics
 */
export const limiterWaits = Metric.counter("bitrix_limiter_waits_total", {
  description: "requests that waited on a limit",
  incremental: true
})
