/**
 * Keyset paging by ID with `start: -1`: the plan (the user's params split into the walk's ID bounds and the rest),
 * one walk from a cursor to an upper bound, a page or a chain of pages a request, and the checks that keep a walk
 * from looping or repeating rows on a portal that ignores the keyset filter or ordering.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as BatchPlanner from "../../BatchPlanner.js"
import type { KeysetUnsupportedError, UnexpectedResultError } from "../../BitrixError.js"
import type { ListError } from "../../ListStrategy.js"
import * as Query from "../../Query.js"
import { type ListMethodInfo, listMethodInfo, rowId } from "../methodRegistry.js"
import { rangeChainLength } from "./plan.js"
import { commandPage, listBatch, page, pagesOf } from "./send.js"
import {
  asIdNumber,
  cursorNotAdvancing,
  findKey,
  ignoredKeysetFilter,
  ignoredUpperBound,
  isParams,
  label,
  type PageBudget,
  pageCeilingReached,
  pageSize,
  type Params,
  type Row,
  rowWithoutId,
  type Services,
  userFilterOf,
  without
} from "./shared.js"

/** A keyset walk's plan: the user's params split into the parts the walk owns (ID bounds) and the rest. */
export interface KeysetPlan {
  readonly info: ListMethodInfo
  /** The user's params without order/start; `filter` without the ID bounds. */
  readonly base: Params
  readonly filter: Params
  /** Exclusive lower bound from the user's filter (`>ID` / `>=ID`), if any. */
  readonly lower: number | undefined
  /** Inclusive upper bound from the user's filter (`<ID` / `<=ID`), if any. */
  readonly upper: number | undefined
  /** The export's lowest ID when its first page was read (`ranges`, once the end pages are in): see `guardPrefix`. */
  readonly lowestId?: number
}

/**
 * Why keyset paging cannot serve a request: the method itself (it takes no `order` object), or the user's params
 * (an order not by ID, an OR filter, an ID bound that is not a whole number).
 */
export interface NoKeyset {
  readonly cause: "method" | "params"
  readonly why: string
}

/**
 * Whether keyset paging can serve the request, and how. It needs the ID order (no order, or ascending by the ID
 * field) and a method that takes an `order` object.
 */
export const keysetPlan = (method: string, params: Params): Either.Either<KeysetPlan, NoKeyset> => {
  const info = listMethodInfo(method)
  if (info.orderStyle !== "orderObject") return Either.left({ cause: "method", why: `${method} does not take an order object` })
  const orderKey = findKey(params, "order")
  if (orderKey !== undefined) {
    const order = params[orderKey]
    if (!isParams(order)) return Either.left({ cause: "params", why: "the order is not an object" })
    const entries = Object.entries(order)
    const byIdAscending =
      entries.length === 0 ||
      (entries.length === 1 &&
        entries[0]![0].toLowerCase() === info.filterIdKey.toLowerCase() &&
        String(entries[0]![1]).toUpperCase() === "ASC")
    if (!byIdAscending) return Either.left({ cause: "params", why: "the order is not by ID ascending" })
  }
  return Either.mapLeft(filterPlan(info, params), (why): NoKeyset => ({ cause: "params", why }))
}

/**
 * The user's filter split into its ID bounds and the rest, for a walk in ID order whatever order the user asked
 * for (the ID pass that verifies an offset export). A filter whose top level is an OR group cannot take the
 * walk's own `>ID` condition beside it without widening the query.
 */
export const filterPlan = (info: ListMethodInfo, params: Params): Either.Either<KeysetPlan, string> => {
  if (info.orderStyle !== "orderObject") return Either.left("the method does not take an order object")
  const userFilter = userFilterOf(params)
  const logicKey = findKey(userFilter, "logic")
  if (logicKey !== undefined && String(userFilter[logicKey]).toUpperCase() === "OR") {
    return Either.left("the filter is an OR group, which an ID condition beside it would widen")
  }
  const filter: Record<string, unknown> = {}
  let lower: number | undefined
  let upper: number | undefined
  const id = info.filterIdKey.toLowerCase()
  for (const [key, value] of Object.entries(userFilter)) {
    const folded = key.toLowerCase()
    const bound = folded === `>${id}` ? "gt" : folded === `>=${id}` ? "ge" : folded === `<${id}` ? "lt" : folded === `<=${id}` ? "le" : undefined
    if (bound === undefined) {
      filter[key] = value
      continue
    }
    const number = asIdNumber(value)
    if (number === undefined) return Either.left(`the filter ${key} is not a whole number`)
    if (bound === "gt") lower = Math.max(lower ?? -Infinity, number)
    if (bound === "ge") lower = Math.max(lower ?? -Infinity, number - 1)
    if (bound === "lt") upper = Math.min(upper ?? Infinity, number - 1)
    if (bound === "le") upper = Math.min(upper ?? Infinity, number)
  }
  const base = without(without(without(params, "order"), "filter"), "start")
  return Either.right({ info, base, filter, lower, upper })
}

/** The params of one keyset page after `cursor` (exclusive), up to `upper` (inclusive). */
export const keysetParams = (plan: KeysetPlan, cursor: number | Query.Reference | undefined, upper: number | undefined): Params => {
  const id = plan.info.filterIdKey
  const filter: Record<string, unknown> = { ...plan.filter }
  if (cursor !== undefined) filter[`>${id}`] = cursor
  if (upper !== undefined) filter[`<=${id}`] = upper
  // An empty filter cannot travel in a query string (PHP drops empty arrays): leave the key out
  return Object.keys(filter).length === 0
    ? { ...plan.base, order: { [id]: "ASC" }, start: -1 }
    : { ...plan.base, filter, order: { [id]: "ASC" }, start: -1 }
}

/**
 * The number the junk guard writes before the ID it reads (`chainedPages`): the largest power of ten not above the
 * export's lowest ID (`KeysetPlan.lowestId`), else 1. Unresolved, the guard reads as that number, `ID < 10^k`, which
 * no row of the export matches when its lowest ID is at least 10^k (a row that came to match the filter since is
 * discarded as any junk row is). Resolved, it puts the guard 10^k times as far above the ID as "1" does: the first
 * range of a filtered tenth of a million rows (IDs 845–44,715, lowest ID 13) could carry no guard behind "1", and
 * its chain served 150 junk rows, 20 ms more than the other ranges.
 */
export const guardPrefix = (lowestId: number | undefined): number =>
  lowestId === undefined || !Number.isSafeInteger(lowestId) || lowestId < 1 ? 1 : 10 ** (String(lowestId).length - 1)

/** A chained command's params with the junk guard `<ID = prefix + reference` (see `chainedPages`, `guardPrefix`). */
const withJunkGuard = (plan: KeysetPlan, params: Params, after: Query.Reference, prefix: number): Params => {
  const filterKey = findKey(params, "filter")
  const filter = filterKey === undefined ? {} : params[filterKey]
  return { ...params, filter: { ...(isParams(filter) ? filter : {}), [`<${plan.info.filterIdKey}`]: `${prefix}${after.expression}` } }
}

/**
 * The first row of a walk's page that breaks it, as an error: every ID must rise strictly from `cursor` and stay
 * at or below `upper`. A method that ignores the cursor answers the same page again (stall), a cycle of pages runs
 * backwards, a page out of order repeats: each would repeat rows or loop for ever.
 */
export const checkWalkPage = (
  method: string,
  info: ListMethodInfo,
  rows: ReadonlyArray<Row>,
  cursor: number | undefined,
  upper: number | undefined
): { readonly last: number | undefined; readonly error: UnexpectedResultError | KeysetUnsupportedError | undefined } => {
  let previous = cursor
  for (let index = 0; index < rows.length; index++) {
    const id = asIdNumber(rowId(info, rows[index]))
    if (id === undefined) return { last: previous, error: rowWithoutId(method, info, rows[index]) }
    if (previous !== undefined && id <= previous) {
      // A first row at or before the cursor: the method does not know the filter's ID spelling
      const error = index === 0 ? ignoredKeysetFilter(method, info, previous, id) : cursorNotAdvancing(method, info, previous, id)
      return { last: previous, error }
    }
    if (upper !== undefined && id > upper) return { last: previous, error: ignoredUpperBound(method, info, upper, id) }
    previous = id
  }
  return { last: previous, error: undefined }
}

/**
 * Pages to chain in the next request of a walk. A range that spilled over its first chain (its IDs sit closer than
 * the average) is finished with a chain sized to what is left of it at the density seen so far, not another full
 * one: every command after the short page still runs at the portal and costs a page of server time.
 */
export const followUpChain = (
  options: { readonly cursor: number | undefined; readonly upper: number | undefined; readonly pagesPerRequest: number },
  state: { readonly cursor: number | undefined; readonly sent: number }
): number => {
  const { cursor: from, upper } = options
  if (options.pagesPerRequest === 1 || state.sent === 0 || from === undefined || upper === undefined || state.cursor === undefined) {
    return options.pagesPerRequest
  }
  const density = state.sent / Math.max(1, state.cursor - from)
  return rangeChainLength(density * Math.max(0, upper - state.cursor))
}

/**
 * Whether the `index`-th command of a chain after `cursor` can carry the junk guard `<ID = prefix + $result[prev][49][ID]`
 * without ever cutting a page short: when the reference resolves, the previous pages were full, so the ID it reads
 * is at least `cursor + 50 · index`, and `prefix` (`guardPrefix`: 1, or a larger power of ten) written before an ID
 * of d digits adds prefix · 10^d to it; the guard then lies above `upper`, the walk's own bound, whatever the IDs are.
 */
export const junkGuardSafe = (cursor: number | undefined, index: number, upper: number | undefined, prefix = 1): boolean => {
  if (cursor === undefined || upper === undefined || index < 1) return false
  const least = cursor + pageSize * index
  if (!Number.isSafeInteger(least) || least < 1) return false
  const guard = prefix * 10 ** String(least).length + least
  return Number.isSafeInteger(guard) && guard > upper
}

/**
 * Up to `commands` keyset pages chained in one batch after `cursor`. Returns the rows in ID order and whether the
 * walk is finished. The reference `$result[prev][49][ID]` only resolves when the previous page was full; after
 * the first short page the portal substitutes something else (the previous page whole), the `>ID` condition matches
 * rows from the start of the table, and every later command's rows are discarded.
 *
 * Those later commands are made empty where `junkGuardSafe` allows: they also carry `<ID = "1$result[prev][49][ID]"`.
 * The reference is embedded in a longer text, so the portal splices what it resolves to into it: "1" and the ID,
 * a bound above the walk's upper bound, which cuts nothing. Unresolved, the text stays as it was (or, on older cores,
 * reads "1Array"), which the portal's integer filter reads as 1: `ID < 1`, no rows. A page of rows from the start
 * of the table becomes an empty call; a portal that read the guard otherwise would serve those rows as before, and
 * they are discarded as before.
 */
export const chainedPages = Effect.fnUntraced(function* (method: string, plan: KeysetPlan, cursor: number | undefined, upper: number | undefined, commands: number) {
  const wrapper = plan.info.wrapper === undefined ? [] : [plan.info.wrapper]
  const prefix = guardPrefix(plan.lowestId)
  const planned: Array<BatchPlanner.PlannedCommand> = []
  for (let index = 0; index < commands; index++) {
    const after =
      index === 0
        ? cursor
        : Query.reference("result", label(index - 1), ...wrapper, pageSize - 1, plan.info.rowIdKey)
    const params = keysetParams(plan, after, upper)
    planned.push({
      label: label(index),
      method,
      params: Query.isReference(after) && junkGuardSafe(cursor, index, upper, prefix) ? withJunkGuard(plan, params, after, prefix) : params,
      index
    })
  }
  return yield* Effect.flatMap(listBatch(method, planned), (outcomes) => pagesOf(method, outcomes, { stopAtShortPage: true }))
})

/**
 * A keyset walk from `cursor` (exclusive) to `upper` (inclusive) as a stream of pages, `pagesPerRequest` pages a
 * request (1 = plain keyset pages, otherwise chained in a batch). `maxRows` caps the requests sent; `budget` the
 * pages read (the walk fails when it runs out before the end).
 */
export const keysetWalk = (
  method: string,
  plan: KeysetPlan,
  options: {
    readonly cursor: number | undefined
    readonly upper: number | undefined
    readonly pagesPerRequest: number
    readonly budget: PageBudget
    readonly maxRows?: number
  }
): Stream.Stream<Row, ListError, Services> =>
  Stream.paginateChunkEffect({ cursor: options.cursor, sent: 0 }, (state) =>
    Effect.gen(function* () {
      const remaining = options.maxRows === undefined ? Infinity : options.maxRows - state.sent
      let pages = Math.max(1, Math.min(followUpChain(options, state), Math.ceil(remaining / pageSize)))
      const budget = options.budget
      // One page more than the ceiling leaves: an empty one ends the walk within it, rows in it exceed it
      if (budget.maxPages !== undefined) pages = Math.min(pages, Math.max(0, budget.maxPages - budget.pages) + 1)
      const result =
        pages === 1 && options.pagesPerRequest === 1
          ? yield* page(method, keysetParams(plan, state.cursor, options.upper)).pipe(
              Effect.map(({ rows }) => ({ rows: [...rows], done: rows.length < pageSize, pages: rows.length > 0 ? 1 : 0 }))
            )
          : yield* chainedPages(method, plan, state.cursor, options.upper, pages)
      // Without this check a method that ignores `>ID` (or a cycle of pages) would be walked for ever
      const checked = checkWalkPage(method, plan.info, result.rows, state.cursor, options.upper)
      if (checked.error !== undefined) return yield* Effect.fail(checked.error)
      budget.pages += result.pages
      if (budget.maxPages !== undefined && budget.pages > budget.maxPages) return yield* Effect.fail(pageCeilingReached(method, budget))
      budget.rows += result.rows.length
      const cursor = checked.last
      const last = result.rows.at(-1)
      const sent = state.sent + result.rows.length
      const finished = result.done || last === undefined || sent >= remaining + state.sent
      return [
        Chunk.fromIterable(result.rows),
        finished ? Option.none() : Option.some({ cursor, sent })
      ] as const
    })
  )

/**
 * The last page of the list (ID descending, `start: -1`, the user's select and filter): the top of the ID span,
 * the last rows of the export, and the server time of a page that did not COUNT.
 */
export const topPage = (method: string, plan: KeysetPlan, options: { readonly costSample?: boolean } = {}) =>
  page(method, topParams(plan), options)

const topParams = (plan: KeysetPlan) => ({ ...keysetParams(plan, plan.lower, plan.upper), order: { [plan.info.filterIdKey]: "DESC" } })

/**
 * The first page and the last page (`topPage`) of a keyset export, as `page` gives them, in one batch: the split
 * needs both, and their two commands cost the portal a page's time more than one, where a second request costs a
 * start of the bucket (half a second of it once the bucket is drained; four per fleet of four exports).
 */
export const endPages = (method: string, plan: KeysetPlan) =>
  Effect.flatMap(
    listBatch(method, [
      { label: "first", method, params: keysetParams(plan, plan.lower, plan.upper), index: 0 },
      { label: "last", method, params: topParams(plan), index: 1 }
    ]),
    (outcomes) =>
      // `unpack` gives one outcome per command sent, the two of them in order
      Effect.all([commandPage(method, outcomes[0]!), commandPage(method, outcomes[1]!)])
  )

/**
 * The IDs of one page of the walk after each of `cursors` (exclusive), up to `upper`, in one batch: samples of the
 * ID gaps across the span, for an estimate of its rows that need not wait for a COUNT (see `chooseSplit`). Each
 * page is checked as a walk page from its cursor. `costSample: false` for pages of IDs where the export reads every
 * field (see `page`).
 */
export const probePages = (
  method: string,
  plan: KeysetPlan,
  cursors: ReadonlyArray<number>,
  upper: number,
  options: { readonly costSample?: boolean } = {}
) =>
  Effect.flatMap(
    listBatch(
      method,
      cursors.map((cursor, index) => ({ label: label(index), method, params: keysetParams(plan, cursor, upper), index })),
      options
    ),
    (outcomes) =>
      Effect.forEach(outcomes, (outcome, index): Effect.Effect<ReadonlyArray<number>, ListError> => {
        const read = commandPage(method, outcome)
        if (Either.isLeft(read)) return Effect.fail(read.left)
        const rows = read.right.rows
        const checked = checkWalkPage(method, plan.info, rows, cursors[index], upper)
        // checked: every row has a whole-number ID
        return checked.error === undefined ? Effect.succeed(rows.map((row) => asIdNumber(rowId(plan.info, row))!)) : Effect.fail(checked.error)
      })
  )

/**
 * The rows of a keyset export as they leave it: IDs strictly ascending across pages, walks and ranges, so a row
 * can never come twice (end pages that overlap the walk between them, ranges that overlap) without a typed failure.
 */
export const strictlyAscending = (
  method: string,
  info: ListMethodInfo,
  rows: Stream.Stream<Row, ListError, Services>
): Stream.Stream<Row, ListError, Services> =>
  Stream.suspend(() => {
    let previous: number | undefined
    return Stream.mapChunksEffect(rows, (chunk) =>
      Effect.suspend((): Effect.Effect<Chunk.Chunk<Row>, UnexpectedResultError | KeysetUnsupportedError> => {
        for (const row of chunk) {
          const id = asIdNumber(rowId(info, row))
          if (id === undefined) return Effect.fail(rowWithoutId(method, info, row))
          if (previous !== undefined && id <= previous) return Effect.fail(cursorNotAdvancing(method, info, previous, id))
          previous = id
        }
        return Effect.succeed(chunk)
      })
    )
  })
