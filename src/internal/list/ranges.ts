/**
 * The `ranges` strategy (and `auto` without a limit): the end pages and the COUNT raced together, the split of the
 * ID span between them for the limiter's room right now, and the ranges walked in parallel.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Envelope from "../../Envelope.js"
import type { ListError } from "../../ListStrategy.js"
import { ProgressReporter } from "../../ProgressReporter.js"
import { RateLimiter } from "../../RateLimiter.js"
import { BucketClaimant, newClaimantId } from "../limiterClaims.js"
import { checkWalkPage, type KeysetPlan, keysetParams, keysetWalk, topPage } from "./keyset.js"
import { estimateRows, pageSecondsOf, type RangePlan, type RangePlanInput, planRanges, planSeconds, rowsPerRequestTarget, splitRanges } from "./plan.js"
import { page } from "./send.js"
import { type PageBudget, pageSize, type Row, rowIdNumber, type Services } from "./shared.js"

/**
 * What a split of `rows` rows is planned from: the server time one page took and the room the limiter has now, every
 * free start claimed for this export (so other exports planning meanwhile see the starts it plans to use).
 */
const splitInput = Effect.fnUntraced(function* (time: Envelope.TimeBlock | undefined, rows: number, concurrency: number, spread: number) {
  const capacity = yield* (yield* RateLimiter).claim(Infinity)
  const input: RangePlanInput = {
    rows,
    pageSeconds: pageSecondsOf(time),
    freeStarts: capacity.freeStarts,
    requestsPerSecond: capacity.requestsPerSecond,
    concurrency: Math.min(concurrency, capacity.concurrencyCeiling),
    spread
  }
  return input
})

/** The split of `rows` rows, from the server time one page took and the room the limiter has now. */
export const planSplit = Effect.fnUntraced(function* (time: Envelope.TimeBlock | undefined, rows: number, concurrency: number, spread: number) {
  return planRanges(yield* splitInput(time, rows, concurrency, spread))
})

/**
 * `ranges`: disjoint ID ranges walked by chained keyset batches, up to `concurrency` at once, handed out in ID
 * order as workers free up; rows come out in ID order.
 */
export const rangesStream = (
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
 * Whether the export's rows are dear to print: a select of every field (none, or `*`) or of the user fields by
 * wildcard (`UF_*`). A page of such rows costs the portal many times a page of a few fields (the fake portal's
 * model: 2 ms a row against 0.1 ms), so the span is learnt from pages of IDs alone (see `planExport`).
 */
export const costlySelect = (base: Readonly<Record<string, unknown>>): boolean => {
  const key = Object.keys(base).find((name) => name.toLowerCase() === "select")
  const select = key === undefined ? undefined : base[key]
  if (select === undefined || select === null || select === "") return true
  const names = typeof select === "string" ? [select] : typeof select === "object" ? Object.values(select) : []
  return names.length === 0 || names.some((name) => typeof name === "string" && name.endsWith("*"))
}

/** A page as `page` returns it. */
type Page = Effect.Effect.Success<ReturnType<typeof page>>

/**
 * `ranges` (and `auto` without a limit). Three requests go out together: the first page and the last page (ID
 * descending), both `start: -1`, and the COUNT (`start: 0`, the ID alone), which only the progress total needs
 * (with fewer than three free starts in the bucket, the first page is counted instead).
 * The end pages give the span, the rows at both ends (the ranges walk only the IDs between them), the server time
 * of a page, and an estimate of the rows between. The split waits for the COUNT no longer than the COUNT could save
 * (the plan for the estimate's high end against the plan for its low end): on a small table the COUNT is as quick
 * as a page and makes the chains exact; a small filtered export from a large table goes ahead without it; an
 * export near what the free starts carry waits, since a wrong guess there costs bucket turns of half a second.
 *
 * Rows dear to print (`costlySelect`): a fourth request, the last page of IDs alone, goes out with the others, and
 * the span is known from whichever pages of IDs come first (the COUNT's page is the first page's IDs, on a table
 * small enough for it to be quick), without waiting for the end pages' rows: those are read meanwhile and come
 * out at the head and the tail of the export. A list of up to 100 rows still waits for them, as it lies in them.
 */
const planExport = Effect.fnUntraced(function* (
  method: string,
  keyset: KeysetPlan,
  options: { readonly concurrency: number; readonly auto: boolean; readonly budget: PageBudget }
) {
  const progress = yield* ProgressReporter
  const limiter = yield* RateLimiter
  const firstParams = keysetParams(keyset, keyset.lower, keyset.upper)
  // With the bucket drained every request waits its turn, and a third one would delay the walk by a turn more
  // than the COUNT costs: the first page is counted instead
  const separateCount = (yield* limiter.claim(3)).freeStarts >= 3
  const idsFirst = separateCount && costlySelect(keyset.base) && (yield* limiter.claim(4)).freeStarts >= 4
  const counted = separateCount
    ? yield* page(method, { ...firstParams, select: [keyset.info.rowIdKey], start: 0 }, { costSample: false }).pipe(
        Effect.tap(({ total }) => (total === undefined ? Effect.void : progress.setTotal(method, total))),
        Effect.map((answer): Page | undefined => answer),
        Effect.catchAll((error) =>
          Effect.as(Effect.logDebug(`list ${method}: the COUNT for the progress total failed: ${error.message}`), undefined)
        ),
        Effect.forkScoped
      )
    : undefined
  const counting = counted === undefined ? undefined : Fiber.map(counted, (answer) => answer?.total)
  const firstRows = separateCount ? page(method, firstParams) : page(method, { ...firstParams, start: 0 }, { costSample: false })
  let first: Page
  let top: Page
  /** The end pages' rows, when the span came from pages of IDs: read meanwhile. */
  let ends: { readonly first: Fiber.Fiber<Page, ListError>; readonly top: Fiber.Fiber<Page, ListError> } | undefined
  if (idsFirst && counted !== undefined) {
    const wideFirst = yield* Effect.forkScoped(firstRows)
    const wideTop = yield* Effect.forkScoped(topPage(method, keyset))
    // a page of IDs prices nothing the walks read: the end pages' rows will
    const idsTop = topPage(method, { ...keyset, base: { ...keyset.base, select: [keyset.info.rowIdKey] } }, { costSample: false })
    // the COUNT's page is the first page's IDs; a COUNT that failed never comes first. Whichever page of a pair
    // comes first decides, a failure too: the rows of the other are needed anyway
    const countedIds = Effect.flatMap(Fiber.join(counted), (answer) => (answer === undefined ? Effect.never : Effect.succeed(answer)))
    ;[first, top] = yield* Effect.all(
      [Effect.raceFirst(Fiber.join(wideFirst), countedIds), Effect.raceFirst(Fiber.join(wideTop), idsTop)],
      { concurrency: 2 }
    )
    const firstLast = first.rows.length < pageSize ? undefined : yield* rowIdNumber(method, keyset.info, first.rows.at(-1))
    const topLowest = top.rows.length < pageSize ? undefined : yield* rowIdNumber(method, keyset.info, top.rows.at(-1))
    if (firstLast === undefined || topLowest === undefined || topLowest <= firstLast + 1) {
      // the list lies in the two end pages: their rows are the export
      ;[first, top] = yield* Effect.all([Fiber.join(wideFirst), Fiber.join(wideTop)], { concurrency: 2 })
    } else {
      ends = { first: wideFirst, top: wideTop }
    }
  } else {
    ;[first, top] = yield* Effect.all([firstRows, topPage(method, keyset)], { concurrency: 2 })
  }
  if (!separateCount && first.total !== undefined) yield* progress.setTotal(method, first.total)
  // the end pages count against maxPages now, their rows when they are read
  options.budget.pages += (first.rows.length > 0 ? 1 : 0) + (top.rows.length > 0 ? 1 : 0)
  if (ends === undefined) options.budget.rows += first.rows.length
  // Both end pages are pages of the walk: ascending IDs (the last one once reversed) inside the bounds
  for (const rows of [first.rows, [...top.rows].reverse()]) {
    const checked = checkWalkPage(method, keyset.info, rows, keyset.lower, keyset.upper)
    if (checked.error !== undefined) return yield* Effect.fail(checked.error)
  }
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
  const head = Stream.fromIterable(first.rows)
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
  const fitsNow = (yield* (yield* RateLimiter).claim(Infinity)).freeStarts * rowsPerRequestTarget
  const fewest = yield* splitInput(top.time, estimate.rows * Math.max(0, 1 - margin), options.concurrency, estimate.spread)
  const hopeful = planRanges(fewest)
  const cautious = yield* planSplit(
    top.time,
    Math.min(estimate.rows * (1 + margin), Math.max(estimate.rows, fitsNow)),
    options.concurrency,
    estimate.spread
  )
  // The most the COUNT can save: the cautious split run over the fewest rows against the split made for them (the
  // rows themselves take their time whatever the plan); the split waits for the COUNT no longer than that
  const patience = planSeconds(cautious, fewest) - hopeful.estimatedSeconds
  const total =
    counting === undefined
      ? first.total
      : patience > 0
        ? Option.getOrUndefined(yield* Effect.timeoutOption(Fiber.join(counting), Duration.seconds(patience)))
        : undefined
  const split =
    total === undefined
      ? cautious
      : yield* planSplit(top.time, Math.max(0, total - first.rows.length - tail.length), options.concurrency, estimate.spread)
  // the claim kept to the starts the split takes; its requests use it up as they start
  yield* (yield* RateLimiter).claim(split.ranges * split.requestsPerRange)
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
  // The end pages' rows read meanwhile, when the span came from pages of IDs: the rows up to the first page's last
  // ID and from the last page's lowest on (the ranges walk the IDs between), checked as walk pages
  const endRows = (fiber: Fiber.Fiber<Page, ListError>, keep: (id: number) => boolean, descending: boolean) =>
    Stream.unwrap(
      Effect.gen(function* () {
        const answer = yield* Fiber.join(fiber)
        const rows = descending ? [...answer.rows].reverse() : answer.rows
        const checked = checkWalkPage(method, keyset.info, rows, keyset.lower, keyset.upper)
        if (checked.error !== undefined) return yield* Effect.fail(checked.error)
        const kept: Array<Row> = []
        for (const row of rows) if (keep(yield* rowIdNumber(method, keyset.info, row))) kept.push(row)
        options.budget.rows += kept.length
        return Stream.fromIterable(kept)
      })
    )
  const chosen = options.auto && split.ranges === 1 ? ("keysetBatch" as const) : ("ranges" as const)
  if (ends === undefined) return { chosen, body: Stream.concat(Stream.concat(head, middle), Stream.fromIterable(tail)) }
  // The walks start now, not once the first page's rows are out: a concatenation pulls its second part only after
  // its first ends (a queue of two chunks keeps the walks from running ahead of the reader)
  const walking = Stream.flattenTake(Stream.fromQueue(yield* Stream.toQueue(middle, { capacity: 2 })))
  return {
    chosen,
    body: Stream.concat(Stream.concat(endRows(ends.first, (id) => id <= lastId, false), walking), endRows(ends.top, (id) => id > upper, true))
  }
})

/**
 * A fresh claimant id for a planner (unique across processes sharing a store), whose claim is released when the
 * scope closes (a claim also lapses on its own after a few seconds). Provided as `BucketClaimant` to the planner and
 * to the requests it plans.
 */
export const makeClaimant: Effect.Effect<string, never, RateLimiter | Scope.Scope> = Effect.flatMap(RateLimiter, (limiter) =>
  Effect.flatMap(Effect.sync(newClaimantId), (claimant) =>
    Effect.as(Effect.addFinalizer(() => Effect.provideService(Effect.asVoid(limiter.claim(0)), BucketClaimant, claimant)), claimant)
  )
)

/**
 * The export as one planner of the bucket: a claimant of its own (`makeClaimant`) for the planning and
 * for every request the export makes (the end pages, the COUNT, the walks), so its claims are used up by its own
 * starts; what is left is released when the export's scope closes.
 */
export const rangesExport = (
  method: string,
  keyset: KeysetPlan,
  options: { readonly concurrency: number; readonly auto: boolean; readonly budget: PageBudget }
) =>
  Effect.flatMap(makeClaimant, (claimant) =>
    planExport(method, keyset, options).pipe(
      Effect.map((split) => ({ ...split, body: Stream.provideService(split.body, BucketClaimant, claimant) })),
      Effect.provideService(BucketClaimant, claimant)
    )
  )
