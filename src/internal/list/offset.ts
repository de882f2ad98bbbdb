/**
 * The `offset` strategy: the first page, then every remaining `start` page in parallel batches; and the ID-only
 * keyset pass that proves the export complete (rows shifted out of view by a deletion are read by `@ID`).
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import {
  type BitrixApiError,
  IncompleteListError,
  type KeysetUnsupportedError,
  type NotRunError,
  type UnexpectedResultError
} from "../../BitrixError.js"
import type { ListError } from "../../ListStrategy.js"
import { ProgressReporter } from "../../ProgressReporter.js"
import { type ListMethodInfo, listMethodInfo } from "../methodRegistry.js"
import { filterPlan, type KeysetPlan, keysetWalk } from "./keyset.js"
import { chainLength } from "./plan.js"
import { listBatch, page, pagesOf } from "./send.js"
import {
  asIdNumber,
  commandsPerBatch,
  dedupeKey,
  findKey,
  label,
  pageBudget,
  pageSize,
  type Params,
  type Row,
  type Services,
  userFilterOf,
  without
} from "./shared.js"

/** The order `offset` needs for stable pages, unless the user gave one. */
export const withStableOrder = (info: ListMethodInfo, params: Params): Params => {
  switch (info.orderStyle) {
    case "orderObject":
      // Without an order many methods return pages that repeat or skip rows (fast_bitrix24 always adds one)
      return findKey(params, "order") !== undefined ? params : { ...params, order: { [info.filterIdKey]: "ASC" } }
    case "sortAndOrderStrings":
      return findKey(params, "sort") !== undefined || findKey(params, "order") !== undefined
        ? params
        : { ...params, sort: "ID", order: "ASC" }
    case "none":
      return params
  }
}

/**
 * `offset`: the first page, then the remaining `start` pages as batches of 50 commands, `concurrency` batches
 * at once, in order. Duplicates (rows shifted by inserts while reading) are dropped by ID. Deletions shift later
 * rows out of view while rows added make the count up, so "rows >= total" proves nothing: without a `limit` the
 * export is verified by `verifyOffset` and the rows the pages missed come last. Only a method the ID pass cannot
 * walk (no `order` object, rows without whole-number IDs, an OR filter, or one that ignores `>ID`) falls back to
 * the count against `total`, and fewer rows than that is an `IncompleteListError`.
 */
export const offsetStream = (
  method: string,
  params: Params,
  options: { readonly concurrency: number; readonly limit: number | undefined; readonly maxPages: number | undefined }
): Stream.Stream<Row, ListError, Services> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const info = listMethodInfo(method)
      const listParams = withStableOrder(info, params)
      const progress = yield* ProgressReporter
      const first = yield* page(method, { ...listParams, start: 0 })
      const total = first.total ?? first.rows.length
      yield* progress.setTotal(method, options.limit === undefined ? total : Math.min(total, options.limit))
      const wanted = options.limit === undefined ? total : Math.min(total, options.limit)
      const pagesNeeded = Math.ceil(wanted / pageSize)
      if (options.maxPages !== undefined && pagesNeeded > options.maxPages) {
        return yield* Effect.fail(
          new IncompleteListError({
            method,
            expected: total,
            received: 0,
            detail: `the export needs ${pagesNeeded} pages of ${pageSize} rows for the ${total} rows the portal announced, more than maxPages (${options.maxPages})`
          })
        )
      }
      const starts: Array<number> = []
      if (first.next !== undefined) for (let start = first.next; start < wanted; start += pageSize) starts.push(start)
      const batches: Array<ReadonlyArray<number>> = []
      for (let index = 0; index < starts.length; index += commandsPerBatch) batches.push(starts.slice(index, index + commandsPerBatch))
      const rest = Stream.fromIterable(batches).pipe(
        Stream.mapEffect(
          (batchStarts) =>
            Effect.gen(function* () {
              const commands = batchStarts.map((start, index) => ({
                label: label(index),
                method,
                params: { ...listParams, start },
                index
              }))
              const outcomes = yield* listBatch(method, commands)
              const { rows } = yield* pagesOf(method, outcomes, { stopAtShortPage: false })
              return Chunk.fromIterable(rows)
            }),
          { concurrency: options.concurrency }
        ),
        Stream.flattenChunks
      )
      const seen = new Set<string>()
      const counted = { rows: 0, withoutWholeId: 0 }
      const unique = Stream.concat(Stream.fromIterable(first.rows), rest).pipe(
        Stream.filter((row) => {
          const key = dedupeKey(info, row)
          if (key !== undefined) {
            if (seen.has(key)) return false
            seen.add(key)
          }
          if (key === undefined || asIdNumber(key) === undefined) counted.withoutWholeId++
          counted.rows++
          return true
        })
      )
      const completion = Stream.unwrap(
        Effect.suspend(() => {
          if (options.limit !== undefined) return Effect.succeed(Stream.empty)
          const countCheck = (why: string) =>
            Effect.zipRight(
              Effect.logDebug(`list ${method}: the offset export is checked against total only: ${why}`),
              counted.rows < total
                ? Effect.fail(new IncompleteListError({ method, expected: total, received: counted.rows }))
                : Effect.succeed(Stream.empty)
            )
          const plan = filterPlan(info, params)
          if (Either.isLeft(plan)) return countCheck(plan.left)
          if (counted.withoutWholeId > 0) return countCheck(`${counted.withoutWholeId} rows have no whole-number ${info.rowIdKey}`)
          return verifyOffset(method, params, plan.right, seen, {
            concurrency: options.concurrency,
            maxPages: options.maxPages,
            total,
            received: counted.rows
          }).pipe(
            Effect.flatMap((verified) =>
              verified._tag === "Verified" ? Effect.succeed(Stream.fromIterable(verified.recovered)) : countCheck(verified.why)
            )
          )
        })
      )
      return Stream.concat(unique, completion)
    })
  )

/**
 * Proves an offset export complete. An ID-only keyset pass (the user's filter, `>ID` cursor, `start: -1`, up to 50
 * pages chained a request: 2,500 IDs) lists the IDs the filter matches now; each one the offset pages did not return
 * (shifted out of view by a deletion, or added meanwhile) is read by `@ID` with the user's select, 50 a command,
 * and returned in ID order. Every row present for the whole export is then in the result once. An ID the `@ID`
 * read does not return was deleted or left the filter meanwhile. Fails with `IncompleteListError` naming the IDs
 * when the portal answers the `@ID` read with other rows or refuses it, or when the pass needs more than
 * `maxPages` pages. A pass the method cannot serve (the portal's error, a command it did not run, a result it cannot
 * read, or a method that ignores `>ID`: `KeysetUnsupportedError`) is `Unverifiable`.
 */
export const verifyOffset = Effect.fnUntraced(function* (
  method: string,
  params: Params,
  plan: KeysetPlan,
  seen: Set<string>,
  options: { readonly concurrency: number; readonly maxPages: number | undefined; readonly total: number; readonly received: number }
) {
  const idKey = plan.info.filterIdKey
  const idPlan: KeysetPlan = { ...plan, base: { ...without(plan.base, "select"), select: [idKey] } }
  const missing: Array<number> = []
  const pass = yield* keysetWalk(method, idPlan, {
    cursor: plan.lower,
    upper: plan.upper,
    // About as many IDs as the portal counted: fewer than a page in one plain page, else chains sized to them
    pagesPerRequest: options.total < pageSize ? 1 : chainLength(options.total),
    budget: pageBudget(options.maxPages, "the ID pass that verifies the offset export")
  }).pipe(
    Stream.runForEachChunk((chunk) =>
      Effect.sync(() => {
        for (const row of chunk) {
          // the walk has checked every ID is a whole number
          const key = dedupeKey(plan.info, row)
          if (key !== undefined && !seen.has(key)) missing.push(Number(key))
        }
      })
    ),
    Effect.map(() => undefined),
    Effect.catchIf(
      (error): error is BitrixApiError | NotRunError | UnexpectedResultError | KeysetUnsupportedError =>
        error._tag === "BitrixApiError" ||
        error._tag === "NotRunError" ||
        error._tag === "UnexpectedResultError" ||
        error._tag === "KeysetUnsupportedError",
      (error) => Effect.succeed({ _tag: "Unverifiable" as const, why: `the ID pass failed: ${error.message}` })
    )
  )
  if (pass !== undefined) return pass
  if (missing.length === 0) return { _tag: "Verified" as const, recovered: [] }
  yield* Effect.logDebug(`list ${method}: ${missing.length} rows matched by the filter were not on the offset pages; reading them by @${idKey}`)
  const incomplete = (detail: string, ids: ReadonlyArray<number>) =>
    new IncompleteListError({ method, expected: options.total, received: options.received, missingIds: ids, detail })
  // The user's own `@ID` is narrowed to the missing IDs: they all matched it on the ID pass
  const filter = without(userFilterOf(params), `@${idKey}`)
  const base = without(without(without(params, "order"), "filter"), "start")
  const commands: Array<ReadonlyArray<number>> = []
  for (let index = 0; index < missing.length; index += pageSize) commands.push(missing.slice(index, index + pageSize))
  const batches: Array<ReadonlyArray<ReadonlyArray<number>>> = []
  for (let index = 0; index < commands.length; index += commandsPerBatch) batches.push(commands.slice(index, index + commandsPerBatch))
  const pages = yield* Effect.forEach(
    batches,
    (batch) =>
      listBatch(
        method,
        batch.map((ids, index) => ({
          label: label(index),
          method,
          params: { ...base, filter: { ...filter, [`@${idKey}`]: ids }, order: { [idKey]: "ASC" }, start: -1 },
          index
        }))
      ).pipe(Effect.flatMap((outcomes) => pagesOf(method, outcomes, { stopAtShortPage: false }))),
    { concurrency: options.concurrency }
  ).pipe(
    Effect.catchTags({
      BitrixApiError: (error) =>
        Effect.fail(incomplete(`the rows the offset pages missed could not be read by @${idKey}: ${error.message}`, missing)),
      NotRunError: (error) =>
        Effect.fail(incomplete(`the rows the offset pages missed could not be read by @${idKey}: ${error.message}`, missing))
    })
  )
  const wanted = new Set(missing)
  const recovered: Array<Row> = []
  for (const { rows } of pages) {
    for (const row of rows) {
      const key = dedupeKey(plan.info, row)
      const id = key === undefined ? undefined : asIdNumber(key)
      if (key === undefined || id === undefined || !wanted.has(id)) {
        const notRead = missing.filter((missingId) => !seen.has(String(missingId)))
        return yield* Effect.fail(
          incomplete(`the portal ignored the filter @${idKey} (it answered with ${plan.info.rowIdKey} ${key ?? "none"}), so the rows the offset pages missed cannot be read`, notRead)
        )
      }
      if (seen.has(key)) continue
      seen.add(key)
      recovered.push(row)
    }
  }
  recovered.sort((a, b) => Number(dedupeKey(plan.info, a)) - Number(dedupeKey(plan.info, b)))
  return { _tag: "Verified" as const, recovered }
})
