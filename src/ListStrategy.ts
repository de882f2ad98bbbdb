/**
 * How a whole list is read. Offset pages make the portal COUNT the table and scan the offset on every page;
 * keyset paging by ID with `start: -1` does neither. The strategies, from plain to fastest:
 *
 * - `offset`: the first page, then every remaining `start` page in parallel batches (fast_bitrix24's way).
 *   Works with any order. Offset pages shift when rows are deleted or added while they are read, so the export is
 *   then verified by an ID-only keyset pass (2,500 IDs a request): rows the filter matches that the pages missed
 *   are read by `@ID` and come after the others, in ID order. Rows are dropped by ID when a page repeats them.
 * - `keyset`: one page a request: `order ID ASC`, `filter >ID` the last ID seen, `start: -1`.
 * - `keysetBatch`: 50 keyset pages chained inside one batch by `$result[prev][…][49][ID]`: 2,500 rows a request.
 * - `ranges`: the ID span split into disjoint ranges, each walked by `keysetBatch`, in parallel.
 * - `auto` (default): `ranges` or `keysetBatch` when keyset is possible (ID order), else `offset`. The first page,
 *   the last page (ID descending) and the COUNT go out together; the rows between the end pages are split by
 *   `planRanges` into as many requests as the bucket allows now, each as short as that allows.
 *
 * Keyset walks check every page: the IDs must rise strictly from the cursor and stay within the bounds, or the walk
 * fails with an `HttpError` (reason `Decode`) instead of looping or repeating rows; `maxPages` caps the pages read.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as BatchPlanner from "./BatchPlanner.js"
import {
  BitrixApiError,
  HttpError,
  IncompleteListError,
  type UnknownOutcomeError,
  ValidationError
} from "./BitrixError.js"
import type * as Envelope from "./Envelope.js"
import * as Client from "./internal/client.js"
import { type ListMethodInfo, listMethodInfo, rowId, rowsOf } from "./internal/methodRegistry.js"
import * as Validate from "./internal/validate.js"
import * as Metrics from "./Metrics.js"
import { outcomeOf, ProgressReporter } from "./ProgressReporter.js"
import * as Query from "./Query.js"
import { RateLimiter } from "./RateLimiter.js"
import type { Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category Models
 */
export type Strategy = "auto" | "offset" | "keyset" | "keysetBatch" | "ranges"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** Default `"auto"`. */
  readonly strategy?: Strategy
  /** At most this many rows are returned, and no more requests are sent than they need. */
  readonly limit?: number
  /** Requests of one export in flight at once (the limiter still paces them). Default 50. */
  readonly concurrency?: number
  /**
   * The most pages of rows (50 rows each) the export reads, as the official SDKs bound their walks: an export that
   * needs more fails with `IncompleteListError` rather than end short. Under `ranges` the short last page of each
   * range counts as a page; the ID-only pass that verifies an `offset` export has its own ceiling of the same
   * size. Default: no ceiling.
   */
  readonly maxPages?: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export type ListError = Client.ExchangeError | UnknownOutcomeError | IncompleteListError | ValidationError

type Services = Transport | RateLimiter | BatchPlanner.BatchPlanner
type Row = unknown
type Params = Readonly<Record<string, unknown>>

const pageSize = 50
const commandsPerBatch = 50

const notAList = (method: string, result: unknown) =>
  new HttpError({
    reason: "Decode",
    method,
    status: 200,
    bodyExcerpt: (JSON.stringify(result) ?? "").slice(0, 500),
    detail: "the result is not a list of rows"
  })

const findKey = (record: Params, name: string) => Object.keys(record).find((key) => key.toLowerCase() === name.toLowerCase())

/** The list params with a key removed whatever its case. */
const without = (record: Params, name: string): Params => {
  const key = findKey(record, name)
  if (key === undefined) return record
  const { [key]: _removed, ...rest } = record
  return rest
}

/** A keyset walk's plan: the user's params split into the parts the walk owns (ID bounds) and the rest. */
interface KeysetPlan {
  readonly info: ListMethodInfo
  /** The user's params without order/start; `filter` without the ID bounds. */
  readonly base: Params
  readonly filter: Params
  /** Exclusive lower bound from the user's filter (`>ID` / `>=ID`), if any. */
  readonly lower: number | undefined
  /** Inclusive upper bound from the user's filter (`<ID` / `<=ID`), if any. */
  readonly upper: number | undefined
}

const asIdNumber = (value: unknown): number | undefined => {
  const number = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN
  return Number.isInteger(number) ? number : undefined
}

const isParams = (value: unknown): value is Params => typeof value === "object" && value !== null && !Array.isArray(value)

/** The user's filter (any case of the key), or an empty one. */
const userFilterOf = (params: Params): Params => {
  const filterKey = findKey(params, "filter")
  const filter = filterKey === undefined ? undefined : params[filterKey]
  return isParams(filter) ? filter : {}
}

/**
 * Whether keyset paging can serve the request, and how. It needs the ID order (no order, or ascending by the ID
 * field) and a method that takes an `order` object.
 */
const keysetPlan = (method: string, params: Params): Either.Either<KeysetPlan, string> => {
  const info = listMethodInfo(method)
  if (info.orderStyle !== "orderObject") return Either.left(`${method} does not take an order object`)
  const orderKey = findKey(params, "order")
  if (orderKey !== undefined) {
    const order = params[orderKey]
    if (!isParams(order)) return Either.left("the order is not an object")
    const entries = Object.entries(order)
    const byIdAscending =
      entries.length === 0 ||
      (entries.length === 1 &&
        entries[0]![0].toLowerCase() === info.filterIdKey.toLowerCase() &&
        String(entries[0]![1]).toUpperCase() === "ASC")
    if (!byIdAscending) return Either.left("the order is not by ID ascending")
  }
  return filterPlan(info, params)
}

/**
 * The user's filter split into its ID bounds and the rest, for a walk in ID order whatever order the user asked
 * for (the ID pass that verifies an offset export). A filter whose top level is an OR group cannot take the
 * walk's own `>ID` condition beside it without widening the query.
 */
const filterPlan = (info: ListMethodInfo, params: Params): Either.Either<KeysetPlan, string> => {
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
const keysetParams = (plan: KeysetPlan, cursor: number | Query.Reference | undefined, upper: number | undefined): Params => {
  const id = plan.info.filterIdKey
  const filter: Record<string, unknown> = { ...plan.filter }
  if (cursor !== undefined) filter[`>${id}`] = cursor
  if (upper !== undefined) filter[`<=${id}`] = upper
  // An empty filter cannot travel in a query string (PHP drops empty arrays): leave the key out
  return Object.keys(filter).length === 0
    ? { ...plan.base, order: { [id]: "ASC" }, start: -1 }
    : { ...plan.base, filter, order: { [id]: "ASC" }, start: -1 }
}

const rowIdNumber = (method: string, info: ListMethodInfo, row: Row) =>
  Effect.suspend(() => {
    const id = asIdNumber(rowId(info, row))
    return id === undefined ? Effect.fail(rowWithoutId(method, info, row)) : Effect.succeed(id)
  })

/** One plain page (no batch). */
const page = (method: string, params: Params) =>
  Client.exchange({ method, params, limiterMethods: [method], kind: "read", itemIndexes: [0] }).pipe(
    Effect.flatMap((envelope) => {
      const rows = rowsOf(method, envelope.result)
      return rows === undefined
        ? Effect.fail(notAList(method, envelope.result))
        : Effect.succeed({ rows, total: envelope.total, next: envelope.next, time: envelope.time })
    })
  )

/** How many times a batch whose commands were refused by an operating block is sent again. */
const blockedRetries = 5

/**
 * Sends one batch of list commands; returns one outcome per command. Commands refused by an operating block did
 * not run, so the batch is sent again once the limiter has learnt the block (its permit waits for the reset).
 */
const listBatch = (method: string, commands: ReadonlyArray<BatchPlanner.PlannedCommand>) =>
  Effect.gen(function* () {
    const limiter = yield* RateLimiter
    for (let attempt = 0; ; attempt++) {
      const outcomes = yield* Client.sendBatch({ commands }, { halt: false })
      const blocked = outcomes.some((outcome) => outcome._tag === "Failure" && outcome.error.error === "OPERATION_TIME_LIMIT")
      if (!blocked || attempt >= blockedRetries) return outcomes
      yield* limiter.feedback({ _tag: "MethodBlocked", method })
    }
  })

const commandFailure = (method: string, outcome: BatchPlanner.CommandOutcome) =>
  outcome._tag === "Failure"
    ? Client.commandError(method, outcome.label, outcome.error, outcome.error)
    : new BitrixApiError({
        code: "NOT_RUN",
        description: "the portal did not run this command (absent from every map of the batch)",
        status: 200,
        method,
        commandLabel: outcome.label
      })

const label = (index: number) => `k${String(index).padStart(2, "0")}`

/**
 * Up to `commands` keyset pages chained in one batch after `cursor`. Returns the rows in ID order and whether the
 * walk is finished. The reference `$result[prev][49][ID]` only resolves when the previous page was full; after
 * the first short page the portal substitutes something else, so every later command's rows are discarded.
 */
const chainedPages = (method: string, plan: KeysetPlan, cursor: number | undefined, upper: number | undefined, commands: number) =>
  Effect.gen(function* () {
    const wrapper = plan.info.wrapper === undefined ? [] : [plan.info.wrapper]
    const planned: Array<BatchPlanner.PlannedCommand> = []
    for (let index = 0; index < commands; index++) {
      const after =
        index === 0
          ? cursor
          : Query.reference("result", label(index - 1), ...wrapper, pageSize - 1, plan.info.rowIdKey)
      planned.push({ label: label(index), method, params: keysetParams(plan, after, upper), index })
    }
    return yield* Effect.flatMap(listBatch(method, planned), (outcomes) => pagesOf(method, outcomes, { stopAtShortPage: true }))
  })

/**
 * The rows of a batch of list commands, in command order; a failed command fails the whole. With
 * `stopAtShortPage`, the rows end at the first page of fewer than 50 rows and `done` says whether one came;
 * `pages` counts the pages of rows kept (not an empty one).
 */
const pagesOf = (method: string, outcomes: ReadonlyArray<BatchPlanner.CommandOutcome>, options: { readonly stopAtShortPage: boolean }) =>
  Effect.suspend((): Effect.Effect<{ readonly rows: Array<Row>; readonly done: boolean; readonly pages: number }, ListError> => {
    const rows: Array<Row> = []
    let pages = 0
    for (const outcome of outcomes) {
      if (outcome._tag !== "Success") return Effect.fail(commandFailure(method, outcome))
      const pageRows = rowsOf(method, outcome.result)
      if (pageRows === undefined) return Effect.fail(notAList(method, outcome.result))
      rows.push(...pageRows)
      if (pageRows.length > 0) pages++
      if (options.stopAtShortPage && pageRows.length < pageSize) return Effect.succeed({ rows, done: true, pages })
    }
    return Effect.succeed({ rows, done: false, pages })
  })

const ignoredKeysetFilter = (method: string, info: ListMethodInfo, cursor: number, firstId: number) =>
  new HttpError({
    reason: "Decode",
    method,
    status: 200,
    detail: `the portal ignored the keyset filter >${info.filterIdKey}=${cursor}: the next page began at ${info.rowIdKey} ${firstId}, so keyset paging cannot go on; use strategy "offset" for this method`
  })

const cursorNotAdvancing = (method: string, info: ListMethodInfo, previous: number, id: number) =>
  new HttpError({
    reason: "Decode",
    method,
    status: 200,
    detail: `the keyset cursor ${id === previous ? "repeated" : "ran backwards"}: ${info.rowIdKey} ${id} came after ${info.rowIdKey} ${previous} in ID order, so the walk would repeat or skip rows`
  })

const ignoredUpperBound = (method: string, info: ListMethodInfo, upper: number, id: number) =>
  new HttpError({
    reason: "Decode",
    method,
    status: 200,
    detail: `the portal ignored the filter <=${info.filterIdKey}=${upper}: a row with ${info.rowIdKey} ${id} came`
  })

const rowWithoutId = (method: string, info: ListMethodInfo, row: Row) =>
  new HttpError({
    reason: "Decode",
    method,
    status: 200,
    bodyExcerpt: (JSON.stringify(row) ?? "").slice(0, 300),
    detail: `a row has no whole-number ${info.rowIdKey}, so keyset paging cannot continue after it`
  })

/**
 * The first row of a walk's page that breaks it, as an error: every ID must rise strictly from `cursor` and stay
 * at or below `upper`. A method that ignores the cursor answers the same page again (stall), a cycle of pages runs
 * backwards, a page out of order repeats: each would repeat rows or loop for ever.
 */
const checkWalkPage = (
  method: string,
  info: ListMethodInfo,
  rows: ReadonlyArray<Row>,
  cursor: number | undefined,
  upper: number | undefined
): { readonly last: number | undefined; readonly error: HttpError | undefined } => {
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
 * The pages an export may still read (`maxPages`): one budget for the walks of an export, which run in parallel
 * under `ranges`; `rows` counts the rows read, for the error.
 */
interface PageBudget {
  readonly maxPages: number | undefined
  /** What the budget is for, in the error: the export, or the ID pass that verifies it. */
  readonly what: string
  /** Pages of rows read so far (an empty page that ends a walk is not one). */
  pages: number
  rows: number
}

const pageBudget = (maxPages: number | undefined, what = "the export"): PageBudget => ({ maxPages, what, pages: 0, rows: 0 })

const pageCeilingReached = (method: string, budget: PageBudget) =>
  new IncompleteListError({
    method,
    expected: budget.rows,
    received: budget.rows,
    detail: `${budget.what} needs more than maxPages (${budget.maxPages}) pages of ${pageSize} rows; it stopped after ${budget.rows} rows rather than end short`
  })

/**
 * Pages to chain in the next request of a walk. A range that spilled over its first chain (its IDs sit closer than
 * the average) is finished with a chain sized to what is left of it at the density seen so far, not another full
 * one: every command after the short page still runs at the portal and costs a page of server time.
 */
const followUpChain = (
  options: { readonly cursor: number | undefined; readonly upper: number | undefined; readonly pagesPerRequest: number },
  state: { readonly cursor: number | undefined; readonly sent: number }
): number => {
  const { cursor: from, upper } = options
  if (options.pagesPerRequest === 1 || state.sent === 0 || from === undefined || upper === undefined || state.cursor === undefined) {
    return options.pagesPerRequest
  }
  const density = state.sent / Math.max(1, state.cursor - from)
  return chainLength(density * Math.max(0, upper - state.cursor))
}

/**
 * A keyset walk from `cursor` (exclusive) to `upper` (inclusive) as a stream of pages, `pagesPerRequest` pages a
 * request (1 = plain keyset pages, otherwise chained in a batch). `maxRows` caps the requests sent; `budget` the
 * pages read (the walk fails when it runs out before the end).
 */
const keysetWalk = (
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
const topPage = (method: string, plan: KeysetPlan) =>
  page(method, { ...keysetParams(plan, plan.lower, plan.upper), order: { [plan.info.filterIdKey]: "DESC" } })

/**
 * Pages to chain in one batch for about `rows` rows: room for a quarter more (IDs are not spread evenly) and one
 * row more, so a walk of exactly 50·k rows still meets the short page that ends it in the same request. Every
 * command after the first short page is wasted (its reference does not resolve and the portal answers with rows
 * from the start of the table, at the cost of a page), so chains are not longer than that; a range that spills
 * is finished by a short follow-up chain.
 *
 * @since 0.1.0
 * @category Planning
 */
export const chainLength = (rows: number): number =>
  Math.min(commandsPerBatch, Math.max(2, Math.ceil((rows * 1.25 + 1) / pageSize)))

/** Rows a range is sized to per request: 90 % of a chained batch, so the uneven spread of IDs rarely spills it. */
const rowsPerRequestTarget = Math.floor(pageSize * commandsPerBatch * 0.9)

/**
 * What a `ranges` export knows before it splits the span: the rows left, the server time of one page (a page's
 * `time.processing`), and the limiter's room right now.
 *
 * @since 0.1.0
 * @category Planning
 */
export interface RangePlanInput {
  readonly rows: number
  readonly pageSeconds: number
  /** Starts the bucket allows at once (`Infinity` with the limits off). */
  readonly freeStarts: number
  /** The bucket's drain rate (`Infinity` with the limits off). */
  readonly requestsPerSecond: number
  /** Ranges walked at once. */
  readonly concurrency: number
}

/**
 * How to split: `ranges` disjoint ID ranges, each walked in `requestsPerRange` chained requests of
 * `pagesPerRequest` pages; `estimatedSeconds` is the time the plan expects.
 *
 * @since 0.1.0
 * @category Planning
 */
export interface RangePlan {
  readonly ranges: number
  readonly requestsPerRange: number
  readonly pagesPerRequest: number
  readonly estimatedSeconds: number
}

/**
 * Splits an export the way the lower bound does: a chained batch runs its pages one after another, so fewer,
 * longer requests take longer, while requests beyond the starts the bucket allows now wait `1 / drain` each.
 * Every range count is tried; the fastest plan wins, and among plans within 5 % of it the one with the fewest
 * requests (bucket starts are the portal's scarcest resource for whatever runs next), then the most ranges.
 * With a full bucket a small export is spread over many short requests; with a drained one it is chained into
 * full batches.
 *
 * @since 0.1.0
 * @category Planning
 */
export const planRanges = (input: RangePlanInput): RangePlan => {
  const rows = Math.max(1, input.rows)
  const pages = Math.ceil(rows / pageSize)
  const concurrency = Math.max(1, input.concurrency)
  const evaluate = (ranges: number): RangePlan => {
    const rowsPerRange = rows / ranges
    const requestsPerRange = Math.max(1, Math.ceil(rowsPerRange / rowsPerRequestTarget))
    const pagesPerRequest = chainLength(rowsPerRange / requestsPerRange)
    const requestSeconds = pagesPerRequest * input.pageSeconds
    const critical = Math.ceil(ranges / concurrency) * requestsPerRange * requestSeconds
    const overPool = Math.max(0, ranges * requestsPerRange - input.freeStarts)
    const bucketSeconds = overPool === 0 ? 0 : overPool / input.requestsPerSecond
    return { ranges, requestsPerRange, pagesPerRequest, estimatedSeconds: Math.max(critical, bucketSeconds + requestSeconds) }
  }
  const plans = Array.from({ length: pages }, (_, index) => evaluate(index + 1))
  // A loop, not Math.min(...plans): ten million rows are 200,000 candidates, too many arguments for a call
  const fastest = plans.reduce((least, plan) => Math.min(least, plan.estimatedSeconds), Infinity)
  const requestsOf = (plan: RangePlan) => plan.ranges * plan.requestsPerRange
  return plans
    .filter((plan) => plan.estimatedSeconds <= fastest * 1.05 + 1e-9)
    .reduce((best, plan) =>
      requestsOf(plan) < requestsOf(best) || (requestsOf(plan) === requestsOf(best) && plan.ranges > best.ranges) ? plan : best
    )
}

/** Disjoint ID ranges `[from, to]` covering `[low, high]`, about `rowsPerRange` rows each at the given density. */
export const splitRanges = (low: number, high: number, count: number): ReadonlyArray<readonly [number, number]> => {
  const span = high - low + 1
  const parts = Math.max(1, Math.min(count, span))
  const width = Math.ceil(span / parts)
  const ranges: Array<readonly [number, number]> = []
  for (let from = low; from <= high; from += width) ranges.push([from, Math.min(high, from + width - 1)] as const)
  return ranges
}

/** A page of unknown cost is taken for a narrow one of the default cost model (5 ms + 50 × 0.1 ms). */
const unknownPageSeconds = 0.01

/** The server time of a page, from its `time` block. */
const pageSecondsOf = (time: Envelope.TimeBlock | undefined): number => {
  const seconds = time?.processing ?? time?.duration ?? unknownPageSeconds
  return seconds > 0 ? seconds : unknownPageSeconds
}

/** The split of `rows` rows, from the server time one page took and the room the limiter has now. */
const planSplit = (time: Envelope.TimeBlock | undefined, rows: number, concurrency: number) =>
  Effect.gen(function* () {
    const capacity = yield* (yield* RateLimiter).capacity
    return planRanges({
      rows,
      pageSeconds: pageSecondsOf(time),
      freeStarts: capacity.freeStarts,
      requestsPerSecond: capacity.requestsPerSecond,
      concurrency: Math.min(concurrency, capacity.concurrencyCeiling)
    })
  })

/**
 * `ranges`: disjoint ID ranges walked by chained keyset batches, up to `concurrency` at once, handed out in ID
 * order as workers free up; rows come out in ID order.
 */
const rangesStream = (
  method: string,
  plan: KeysetPlan,
  options: {
    readonly low: number
    readonly high: number
    readonly split: RangePlan
    readonly concurrency: number
    readonly budget: PageBudget
  }
): Stream.Stream<Row, ListError, Services> =>
  Stream.fromIterable(splitRanges(options.low, options.high, options.split.ranges)).pipe(
    Stream.mapEffect(
      ([from, to]) =>
        Stream.runCollect(
          keysetWalk(method, plan, { cursor: from - 1, upper: to, pagesPerRequest: options.split.pagesPerRequest, budget: options.budget })
        ),
      { concurrency: options.concurrency }
    ),
    Stream.flattenChunks
  )

/**
 * The rows between the two end pages of a list, estimated from the ID gaps inside those pages (the IDs of each
 * page in ascending order), with the relative standard error of that estimate. Used to split the export without
 * waiting for a COUNT, which costs server time in proportion to the whole table, not to the rows exported.
 *
 * @since 0.1.0
 * @category Planning
 */
export const estimateRows = (
  pages: ReadonlyArray<ReadonlyArray<number>>,
  span: { readonly from: number; readonly to: number }
): { readonly rows: number; readonly relativeError: number } => {
  const gaps: Array<number> = []
  for (const ids of pages) for (let index = 1; index < ids.length; index++) gaps.push(ids[index]! - ids[index - 1]!)
  const width = Math.max(0, span.to - span.from + 1)
  if (gaps.length < 2) return { rows: width, relativeError: 1 }
  const mean = gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length
  const variance = gaps.reduce((sum, gap) => sum + (gap - mean) ** 2, 0) / (gaps.length - 1)
  return { rows: width / Math.max(1, mean), relativeError: Math.sqrt(variance) / Math.max(1, mean) / Math.sqrt(gaps.length) }
}

/**
 * `ranges` (and `auto` without a limit). Three requests go out together: the first page and the last page (ID
 * descending), both `start: -1`, and the COUNT (`start: 0`, the ID alone), which only the progress total needs
 * (with fewer than three free starts in the bucket, the first page is counted instead).
 * The end pages give the span, the rows at both ends (the ranges walk only the IDs between them), the server time
 * of a page, and an estimate of the rows between. The split waits for the COUNT no longer than the COUNT could save
 * (the plan for the estimate's high end against the plan for its low end): on a small table the COUNT is as quick
 * as a page and makes the chains exact; a small filtered export from a large table goes ahead without it; an
 * export near what the free starts carry waits, since a wrong guess there costs bucket turns of half a second.
 */
const rangesExport = (
  method: string,
  keyset: KeysetPlan,
  options: { readonly concurrency: number; readonly auto: boolean; readonly budget: PageBudget }
) =>
  Effect.gen(function* () {
    const progress = yield* ProgressReporter
    const firstParams = keysetParams(keyset, keyset.lower, keyset.upper)
    // With the bucket drained every request waits its turn, and a third one would delay the walk by a turn more
    // than the COUNT costs: the first page is counted instead
    const separateCount = (yield* (yield* RateLimiter).capacity).freeStarts >= 3
    const counting = separateCount
      ? yield* page(method, { ...firstParams, select: [keyset.info.rowIdKey], start: 0 }).pipe(
          Effect.flatMap(({ total }) =>
            total === undefined ? Effect.succeed(undefined) : Effect.as(progress.setTotal(method, total), total)
          ),
          Effect.catchAll((error) =>
            Effect.as(Effect.logDebug(`list ${method}: the COUNT for the progress total failed: ${error.message}`), undefined)
          ),
          Effect.forkScoped
        )
      : undefined
    const [first, top] = yield* Effect.all(
      [page(method, separateCount ? firstParams : { ...firstParams, start: 0 }), topPage(method, keyset)],
      { concurrency: 2 }
    )
    if (!separateCount && first.total !== undefined) yield* progress.setTotal(method, first.total)
    options.budget.pages += (first.rows.length > 0 ? 1 : 0) + (top.rows.length > 0 ? 1 : 0)
    options.budget.rows += first.rows.length
    // Both end pages are pages of the walk: ascending IDs (the last one once reversed) inside the bounds
    for (const rows of [first.rows, [...top.rows].reverse()]) {
      const checked = checkWalkPage(method, keyset.info, rows, keyset.lower, keyset.upper)
      if (checked.error !== undefined) return yield* Effect.fail(checked.error)
    }
    const head = Stream.fromIterable(first.rows)
    const headIds: Array<number> = []
    for (const row of first.rows) headIds.push(yield* rowIdNumber(method, keyset.info, row))
    const lastId = headIds.at(-1)
    const tail: Array<Row> = []
    const topIds: Array<number> = []
    for (const row of [...top.rows].reverse()) {
      const id = yield* rowIdNumber(method, keyset.info, row)
      topIds.push(id)
      if (lastId !== undefined && id > lastId) tail.push(row)
    }
    const lowestTopId = topIds[0] ?? Infinity
    const alone = options.auto ? ("keysetBatch" as const) : ("ranges" as const)
    if (first.rows.length < pageSize || lastId === undefined) {
      // The first page holds the whole list
      yield* progress.setTotal(method, first.rows.length)
      return { chosen: alone, body: head }
    }
    if (top.rows.length < pageSize || lowestTopId <= lastId + 1) {
      // The two pages meet: every row after the first page is in the last one
      yield* progress.setTotal(method, first.rows.length + tail.length)
      return { chosen: alone, body: Stream.concat(head, Stream.fromIterable(tail)) }
    }
    const upper = lowestTopId - 1
    const estimate = estimateRows([headIds, topIds], { from: lastId + 1, to: upper })
    // Plans for two standard errors fewer and more rows; the cautious one never goes past what the free starts
    // carry in full chains when the estimate fits in them (more rows than that would not fit whatever the count)
    const margin = 2 * estimate.relativeError
    const fitsNow = (yield* (yield* RateLimiter).capacity).freeStarts * rowsPerRequestTarget
    const hopeful = yield* planSplit(top.time, estimate.rows * Math.max(0, 1 - margin), options.concurrency)
    const cautious = yield* planSplit(
      top.time,
      Math.min(estimate.rows * (1 + margin), Math.max(estimate.rows, fitsNow)),
      options.concurrency
    )
    // The most the COUNT can save: the split waits for it no longer than that
    const patience = cautious.estimatedSeconds - hopeful.estimatedSeconds
    const total =
      counting === undefined
        ? first.total
        : patience > 0
          ? Option.getOrUndefined(yield* Effect.timeoutOption(Fiber.join(counting), Duration.seconds(patience)))
          : undefined
    const split =
      total === undefined
        ? cautious
        : yield* planSplit(top.time, Math.max(0, total - first.rows.length - tail.length), options.concurrency)
    yield* Effect.logDebug(`list ${method}: about ${Math.round(estimate.rows)} rows between the first and the last page`).pipe(
      Effect.annotateLogs({
        counted: total ?? "not waited for",
        ranges: split.ranges,
        pagesPerRequest: split.pagesPerRequest,
        estimatedSeconds: split.estimatedSeconds
      })
    )
    // One chained walk is as fast as any split the limits allow now: ranges would only add requests
    const middle =
      options.auto && split.ranges === 1
        ? keysetWalk(method, keyset, { cursor: lastId, upper, pagesPerRequest: split.pagesPerRequest, budget: options.budget })
        : rangesStream(method, keyset, { low: lastId + 1, high: upper, split, concurrency: options.concurrency, budget: options.budget })
    return {
      chosen: options.auto && split.ranges === 1 ? ("keysetBatch" as const) : ("ranges" as const),
      body: Stream.concat(Stream.concat(head, middle), Stream.fromIterable(tail))
    }
  })

/**
 * `offset`: the first page, then the remaining `start` pages as batches of 50 commands, `concurrency` batches
 * at once, in order. Duplicates (rows shifted by inserts while reading) are dropped by ID. Deletions shift later
 * rows out of view while rows added make the count up, so "rows >= total" proves nothing: without a `limit` the
 * export is verified by `verifyOffset` and the rows the pages missed come last. Only a method the ID pass cannot
 * walk (no `order` object, rows without whole-number IDs, an OR filter, or one that ignores `>ID`) falls back to
 * the count against `total`, and fewer rows than that is an `IncompleteListError`.
 */
const offsetStream = (
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

/** The key rows are deduplicated by: the whole-number ID as digits, another ID as given, none without an ID. */
const dedupeKey = (info: ListMethodInfo, row: Row): string | undefined => {
  const id = rowId(info, row)
  if (id === undefined) return undefined
  const number = asIdNumber(id)
  return number === undefined ? id : String(number)
}

/**
 * Proves an offset export complete. An ID-only keyset pass (the user's filter, `>ID` cursor, `start: -1`, up to 50
 * pages chained a request: 2,500 IDs) lists the IDs the filter matches now; each one the offset pages did not return
 * (shifted out of view by a deletion, or added meanwhile) is read by `@ID` with the user's select, 50 a command,
 * and returned in ID order. Every row present for the whole export is then in the result once. An ID the `@ID`
 * read does not return was deleted or left the filter meanwhile. Fails with `IncompleteListError` naming the IDs
 * when the portal answers the `@ID` read with other rows or refuses it, or when the pass needs more than
 * `maxPages` pages. A pass the method cannot serve (a `BitrixApiError`, or an `HttpError` Decode such as a method
 * that ignores `>ID`) is `Unverifiable`.
 */
const verifyOffset = (
  method: string,
  params: Params,
  plan: KeysetPlan,
  seen: Set<string>,
  options: { readonly concurrency: number; readonly maxPages: number | undefined; readonly total: number; readonly received: number }
) =>
  Effect.gen(function* () {
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
        (error): error is BitrixApiError | HttpError =>
          error._tag === "BitrixApiError" || (error._tag === "HttpError" && error.reason === "Decode"),
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
      Effect.catchTag("BitrixApiError", (error) =>
        Effect.fail(incomplete(`the rows the offset pages missed could not be read by @${idKey}: ${error.message}`, missing))
      )
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

/**
 * The rows of a keyset export as they leave it: IDs strictly ascending across pages, walks and ranges, so a row
 * can never come twice (end pages that overlap the walk between them, ranges that overlap) without a typed failure.
 */
const strictlyAscending = (
  method: string,
  info: ListMethodInfo,
  rows: Stream.Stream<Row, ListError, Services>
): Stream.Stream<Row, ListError, Services> =>
  Stream.suspend(() => {
    let previous: number | undefined
    return Stream.mapChunksEffect(rows, (chunk) =>
      Effect.suspend(() => {
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

const checkOptions = (options: Options) =>
  Effect.suspend(() => {
    const strategies: ReadonlyArray<Strategy> = ["auto", "offset", "keyset", "keysetBatch", "ranges"]
    if (options.strategy !== undefined && !strategies.includes(options.strategy)) {
      return Effect.fail(
        new ValidationError({ path: "options.strategy", detail: `unknown strategy ${JSON.stringify(options.strategy)}`, suggestion: `Use one of ${strategies.join(", ")}.` })
      )
    }
    if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 0)) {
      return Effect.fail(new ValidationError({ path: "options.limit", detail: `must be a whole number >= 0, got ${options.limit}` }))
    }
    if (options.concurrency !== undefined && (!Number.isInteger(options.concurrency) || options.concurrency < 1)) {
      return Effect.fail(new ValidationError({ path: "options.concurrency", detail: `must be a whole number >= 1, got ${options.concurrency}` }))
    }
    if (options.maxPages !== undefined && (!Number.isInteger(options.maxPages) || options.maxPages < 1)) {
      return Effect.fail(new ValidationError({ path: "options.maxPages", detail: `must be a whole number >= 1, got ${options.maxPages}` }))
    }
    return Effect.void
  })

/**
 * Every row of a list method as a stream with backpressure: requests are sent as the stream is pulled, a
 * `Stream.take(n)` stops them early, and interruption cancels the requests in flight.
 *
 * @since 0.1.0
 * @category Streams
 */
export const stream = (method: string, params: Params = {}, options: Options = {}): Stream.Stream<Row, ListError, Services> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      yield* Validate.method(method)
      yield* checkOptions(options)
      const checked = yield* Validate.params(params)
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
        return yield* Effect.fail(
          new ValidationError({
            path: "options.strategy",
            detail: `${strategy} needs the rows in ID order: ${plan.left}`,
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
  ).pipe(Stream.withSpan("Bitrix.stream", { attributes: { "bitrix.method": method, "bitrix.strategy": options.strategy ?? "auto" } }))
