/**
 * A list export from end to end: its options checked, the strategy chosen, and the rows counted as they leave it.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Stream from "effect/Stream"
import { KeysetUnsupportedError, ValidationError } from "../../BitrixError.js"
import type { ListError, Options, Strategy } from "../../ListStrategy.js"
import * as Metrics from "../../Metrics.js"
import { ProgressReporter } from "../../ProgressReporter.js"
import { outcomeOf } from "../progress.js"
import { decodeListOptions } from "../options.js"
import * as Validate from "../validate.js"
import { keysetPlan, keysetWalk, strictlyAscending } from "./keyset.js"
import { offsetStream } from "./offset.js"
import { rangesExport } from "./ranges.js"
import { commandsPerBatch, findKey, pageBudget, type Params, type Row, type Services } from "./shared.js"

/**
 * Every row of a list method as a stream (see `ListStrategy.stream`): the input checked, the strategy chosen (`auto`:
 * a keyset strategy when the rows can be walked in ID order, else `offset`), the rows counted for the progress
 * reporter and the metrics.
 */
export const stream = (method: string, params: Params = {}, options: Options = {}): Stream.Stream<Row, ListError, Services> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      yield* Validate.method(method)
      // the one decoder of list options (internal/options.ts): a known strategy, whole numbers in range, no other key
      yield* decodeListOptions(options)
      const checked = yield* Validate.params(params)
      // the params travel as JSON and inside batches: what either cannot carry is refused before any request
      yield* Validate.wire(checked, "params", "both")
      const startKey = findKey(checked, "start")
      if (startKey !== undefined) {
        return yield* Effect.fail(
          new ValidationError({
            path: `params.${startKey}`,
            detail: "the list strategies page through the whole list themselves",
            suggestion: "Remove start; use call(method, { start }) for a single page, or the limit option."
          })
        )
      }
      const progress = yield* ProgressReporter
      const strategy = options.strategy ?? "auto"
      const concurrency = options.concurrency ?? 50
      const limit = options.limit
      if (limit === 0) return Stream.empty
      const plan = keysetPlan(method, checked)
      let chosen: Exclude<Strategy, "auto">
      let body: Stream.Stream<Row, ListError, Services>
      if (strategy === "offset" || (strategy === "auto" && Either.isLeft(plan))) {
        chosen = "offset"
        yield* progress.start(method)
        body = offsetStream(method, checked, { concurrency, limit, maxPages: options.maxPages })
      } else if (Either.isLeft(plan)) {
        // the method itself cannot be paged by keyset: known before any request
        if (plan.left.cause === "method") {
          return yield* Effect.fail(new KeysetUnsupportedError({ method, reason: "NoOrderObject", detail: plan.left.why }))
        }
        return yield* Effect.fail(
          new ValidationError({
            path: "options.strategy",
            detail: `${strategy} needs the rows in ID order: ${plan.left.why}`,
            suggestion: 'Drop the order (or order by ID ASC), or use strategy "offset".'
          })
        )
      } else {
        const keyset = plan.right
        const budget = pageBudget(options.maxPages)
        yield* progress.start(method)
        if (strategy === "keyset") {
          chosen = "keyset"
          body = keysetWalk(method, keyset, { cursor: keyset.lower, upper: keyset.upper, pagesPerRequest: 1, budget, ...(limit === undefined ? {} : { maxRows: limit }) })
        } else if (strategy === "keysetBatch" || (strategy === "auto" && limit !== undefined)) {
          chosen = "keysetBatch"
          body = keysetWalk(method, keyset, { cursor: keyset.lower, upper: keyset.upper, pagesPerRequest: commandsPerBatch, budget, ...(limit === undefined ? {} : { maxRows: limit }) })
        } else {
          const split = yield* rangesExport(method, keyset, { concurrency, auto: strategy === "auto", budget })
          chosen = split.chosen
          body = split.body
        }
        body = strictlyAscending(method, keyset.info, body)
      }
      yield* Effect.logDebug(`list ${method}: strategy ${chosen} (asked ${strategy})`)
      yield* Effect.annotateCurrentSpan("bitrix.strategy.chosen", chosen)
      const rowsDelivered = Metric.tagged(Metric.tagged(Metrics.rows, "method", method), "strategy", chosen)
      const limited = limit === undefined ? body : Stream.take(body, limit)
      return limited.pipe(
        Stream.mapChunksEffect((chunk) =>
          Effect.as(
            Effect.zipRight(progress.advance(method, Chunk.size(chunk)), Metric.incrementBy(rowsDelivered, Chunk.size(chunk))),
            chunk
          )
        ),
        Stream.ensuringWith((exit) => progress.finish(method, outcomeOf(exit)))
      )
    })
  // the options may be anything here (they are decoded inside): the span reads them without trusting their shape
  ).pipe(Stream.withSpan("Bitrix.stream", { attributes: { "bitrix.method": method, "bitrix.strategy": options?.strategy ?? "auto" } }))
