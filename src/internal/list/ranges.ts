/**
 * The `ranges` strategy (and `auto` without a limit): the end pages and the COUNT raced together, the split of the
 * ID span between them for the limiter's room right now, and the ranges walked in parallel.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Envelope from "../../Envelope.js"
import type { ListError } from "../../ListStrategy.js"
import { ProgressReporter } from "../../ProgressReporter.js"
import { type Capacity, RateLimiter } from "../../RateLimiter.js"
import { BucketClaimant, newClaimantId } from "../limiterClaims.js"
import { checkWalkPage, endPages, type KeysetPlan, keysetParams, keysetWalk, probePages, topPage } from "./keyset.js"
import {
  countWorthWaiting,
  emptyCommandSeconds,
  estimateRows,
  minimumGapSpread,
  pageSecondsOf,
  type RangePlan,
  type RangePlanInput,
  planRanges,
  planSeconds,
  roundTripSeconds,
  rowsPerSingleRequest,
  splitRanges
} from "./plan.js"
import { type Page, page } from "./send.js"
import { type PageBudget, pageSize, type Row, rowIdNumber, type Services } from "./shared.js"

/**
 * Every free start claimed for this export, and its share of them and of the bucket's drain: planners beside it
 * (`Grant.otherPlanners`: other exports planning now, here or in other processes on the store) share both, so each
 * plans for its part. Four workers exporting from one portal at once each planned for the whole bucket, spread
 * their rows over the same free starts, and paid for the extra requests at half a second each in a bucket they
 * drained together; planning for a quarter of it, each chains its rows into the fewest requests.
 */
const claimShare = Effect.map(
  Effect.flatMap(RateLimiter, (limiter) => limiter.claim(Infinity)),
  (grant): Capacity => {
    const share = 1 / (1 + grant.otherPlanners)
    return {
      freeStarts: Math.floor(grant.freeStarts * share),
      requestsPerSecond: grant.requestsPerSecond * share,
      concurrencyCeiling: grant.concurrencyCeiling
    }
  }
)

/** What a split is made for: the rows, the server time of a page, how the walks run, how the rows are known. */
interface SplitRequest {
  readonly time: Envelope.TimeBlock | undefined
  readonly rows: number
  readonly concurrency: number
  readonly spread: number
  /** See `RangePlanInput.fastest`. */
  readonly fastest: boolean
  /** The rows were counted, not estimated (see `RangePlanInput.counted`). */
  readonly counted: boolean
}

/**
 * What a split is planned from: the request, and the room the limiter has now, every free start claimed for this
 * export (so other exports planning meanwhile see the starts it plans to use).
 */
const splitInput = Effect.fnUntraced(function* (request: SplitRequest) {
  const room = yield* claimShare
  const input: RangePlanInput = {
    rows: request.rows,
    pageSeconds: pageSecondsOf(request.time),
    freeStarts: room.freeStarts,
    requestsPerSecond: room.requestsPerSecond,
    concurrency: Math.min(request.concurrency, room.concurrencyCeiling),
    spread: request.spread,
    fastest: request.fastest,
    counted: request.counted
  }
  return input
})

/**
 * The split of `request.rows` rows, from the server time one page took and the room the limiter has now (the
 * page timed may be a page of IDs where the walks read every field: see `RangePlanInput.fastest`).
 */
export const planSplit = Effect.fnUntraced(function* (request: SplitRequest) {
  return planRanges(yield* splitInput(request))
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
 * model: 2 ms a row against 0.1 ms), so the span is learnt from pages of IDs alone (see `planFromIds`).
 */
const costlySelect = (base: Readonly<Record<string, unknown>>): boolean => {
  const key = Object.keys(base).find((name) => name.toLowerCase() === "select")
  const select = key === undefined ? undefined : base[key]
  if (select === undefined || select === null || select === "") return true
  const names = typeof select === "string" ? [select] : typeof select === "object" ? Object.values(select) : []
  return names.length === 0 || names.some((name) => typeof name === "string" && name.endsWith("*"))
}

type ListOptions = { readonly concurrency: number; readonly auto: boolean; readonly budget: PageBudget }

/** What the end pages tell of the rows between them (`estimateRows`). */
type Estimate = ReturnType<typeof estimateRows>

/**
 * The rows between the two end pages, estimated from their ID gaps (`headIds`, `topIds`: each page's IDs ascending);
 * none when the pages meet.
 */
const estimateBetween = (headIds: ReadonlyArray<number>, topIds: ReadonlyArray<number>, meet: boolean): Estimate =>
  meet
    ? { rows: 0, relativeError: 0, spread: minimumGapSpread }
    : estimateRows([headIds, topIds], { from: headIds.at(-1)! + 1, to: topIds[0]! - 1 })

/** The strategy reported for a list that lies in its end pages: `keysetBatch` under `auto`, else `ranges`. */
const aloneChosen = (options: ListOptions) => (options.auto ? ("keysetBatch" as const) : ("ranges" as const))

/** What `chooseSplit` plans from: what the end pages told of the rows in the walk's span. */
interface SplitFacts {
  /** The rows between the end pages (`estimateBetween`). */
  readonly estimate: Estimate
  /** Rows of the walk's span known one by one (the last page's, when the walk reads them). */
  readonly knownInSpan: number
  /** Rows the COUNT counts that the walk does not read (the end pages' rows read on their own). */
  readonly outsideSpan: number
  /** The server time of a page. */
  readonly time: Envelope.TimeBlock | undefined
  /** The COUNT under way, or the total of a counted first page. */
  readonly counting: Fiber.Fiber<number | undefined> | undefined
  /** When the COUNT was sent (the clock's millis), and the server time of the last page, sent beside it. */
  readonly countSentAt: number
  readonly besideCount: Envelope.TimeBlock | undefined
  readonly firstTotal: number | undefined
  /** The page timed was a page of IDs where the walk reads every field (`RangePlanInput.fastest`). */
  readonly fastest: boolean
  /**
   * A batch of `probePageCount` pages spread across the span, read for a narrower estimate of its rows (the end
   * pages' and the probe's gaps together), and the server time of one of its pages (a page of IDs for rows dear to
   * print). None under a page ceiling (`maxPages` counts the export's pages).
   */
  readonly probe?: { readonly read: Effect.Effect<Estimate, ListError, Services>; readonly pageTime: Envelope.TimeBlock | undefined }
}

/**
 * Pages of the span a probe reads (`SplitFacts.probe`): with the end pages, about 490 ID gaps, enough to believe
 * their spread (`believedGaps`) and to estimate the rows within about ±5 % on a filter's tenth of a table (±11 %
 * from the end pages alone), for a round trip and 8 pages of time.
 */
const probePageCount = 8

/** The cursors of a probe of `low..high` (each exclusive): one in the middle of each of `probePageCount` equal parts. */
const probeCursors = (low: number, high: number): ReadonlyArray<number> =>
  Array.from({ length: probePageCount }, (_, index) => low - 1 + Math.floor(((index + 0.5) * (high - low + 1)) / probePageCount))

/** The time a probe of `probePageCount` pages costs before the split: a round trip and the batch's pages. */
const probeSeconds = (time: Envelope.TimeBlock | undefined) => roundTripSeconds + emptyCommandSeconds + probePageCount * pageSecondsOf(time)

/**
 * The split of the walk's span: the rows estimated from the end pages' ID gaps, and the COUNT waited for as long as
 * that is worth (`countWorthWaiting`: never longer than it could save, the plan for the estimate's high end against
 * the plan for its low end, nor once it is slower than a seventh of that): on a small table the COUNT is as quick
 * as a page and makes the chains exact; a small filtered export from a large table goes ahead without it; an export
 * near what the free starts carry would wait, since a wrong guess there costs bucket turns of half a second. Where
 * the wait could be longer than a probe takes (`SplitFacts.probe`: a batch of pages across the span, a round trip
 * and 8 pages), the probe goes out and whichever of it and the COUNT answers first decides: the probe's five times
 * as many gaps narrow the estimate, and the COUNT is then waited for only as long as the narrower estimate leaves
 * it worth. A filtered tenth of a million-row table waited 0.5 s for its COUNT, as long as the whole walk after it.
 * The claim is then kept to the starts the split takes.
 */
const chooseSplit = Effect.fnUntraced(function* (method: string, facts: SplitFacts, options: ListOptions) {
  const request = (planned: number, counted: boolean, estimate: Estimate): SplitRequest => ({
    time: facts.time,
    rows: planned,
    concurrency: options.concurrency,
    spread: estimate.spread,
    fastest: facts.fastest,
    counted
  })
  // The cautious split for an estimate, and how long the COUNT is worth waiting for
  const weigh = Effect.fnUntraced(function* (estimate: Estimate) {
    // Plans for two standard errors fewer and more rows; the cautious one never goes past what the free starts
    // carry in full chains when the estimate fits in them (more rows than that would not fit whatever the count),
    // the rows known one by one included
    const margin = 2 * estimate.relativeError
    const fitsNow = (yield* claimShare).freeStarts * rowsPerSingleRequest(estimate.spread) - facts.knownInSpan
    const fewest = yield* splitInput(request(estimate.rows * Math.max(0, 1 - margin) + facts.knownInSpan, false, estimate))
    const hopeful = planRanges(fewest)
    const cautious = yield* planSplit(
      request(Math.min(estimate.rows * (1 + margin), Math.max(estimate.rows, fitsNow)) + facts.knownInSpan, false, estimate)
    )
    // The most the COUNT can save: the cautious split run over the fewest rows against the split made for them (the
    // rows themselves take their time whatever the plan). A probe's cost besides its time: the start it takes from
    // the split (half a second of the bucket's drain, or its share of it, where the split needs every start)
    const startCost = planRanges({ ...fewest, freeStarts: Math.max(0, fewest.freeStarts - 1) }).estimatedSeconds - hopeful.estimatedSeconds
    return { cautious, patience: planSeconds(cautious, fewest) - hopeful.estimatedSeconds, startCost }
  })
  // How long the COUNT still out is worth waiting for where it would save `saving` seconds (`countWorthWaiting`)
  const worthWaiting = (saving: number, quick?: number) =>
    Effect.map(Clock.currentTimeMillis, (now) => countWorthWaiting(saving, (now - facts.countSentAt) / 1000, quick))
  // The COUNT's total if it is in, or once it is within `seconds`
  const waitForCount = (counting: Fiber.Fiber<number | undefined>, seconds: number) =>
    Effect.flatMap(Fiber.poll(counting), (done) =>
      Option.isSome(done) || seconds > 0
        ? Effect.map(Effect.timeoutOption(Fiber.join(counting), Duration.seconds(Math.max(0, seconds))), Option.getOrUndefined)
        : Effect.succeed(undefined)
    )
  let estimate = facts.estimate
  const weighed = yield* weigh(estimate)
  let { cautious, patience } = weighed
  let total = facts.firstTotal
  const { counting, probe } = facts
  if (counting !== undefined && (probe === undefined || patience <= probeSeconds(probe.pageTime) + weighed.startCost)) {
    total = yield* waitForCount(counting, yield* worthWaiting(patience, pageSecondsOf(facts.besideCount)))
  } else if (counting !== undefined && probe !== undefined) {
    // A probe costs its time and the start it takes from the split: where that start is dear, a COUNT that answers
    // within its price is waited for first (beside three planners, a COUNT of 50,000 rows that answers 5 ms after
    // the end pages, where the start would cost 2 s)
    total = yield* waitForCount(counting, yield* worthWaiting(weighed.startCost))
    if (total === undefined) {
      // A probe that fails leaves the split to the COUNT, as without it; a COUNT that fails never comes first (the
      // probe always ends, so the race does)
      const probing = yield* Effect.forkScoped(Effect.option(probe.read))
      const first = yield* Effect.raceFirst(
        Effect.flatMap(Fiber.join(counting), (counted) =>
          counted === undefined ? Effect.never : Effect.succeed({ counted, probed: Option.none<Estimate>() })
        ),
        Effect.map(Fiber.join(probing), (probed) => ({ counted: undefined, probed }))
      )
      total = first.counted
      if (total === undefined) {
        if (Option.isSome(first.probed)) {
          estimate = first.probed.value
          ;({ cautious, patience } = yield* weigh(estimate))
        } else {
          patience -= probeSeconds(probe.pageTime)
        }
        total = yield* waitForCount(counting, yield* worthWaiting(patience))
      }
    }
  }
  const split = total === undefined ? cautious : yield* planSplit(request(Math.max(0, total - facts.outsideSpan), true, estimate))
  // the claim kept to the starts the split takes; its requests use it up as they start
  yield* (yield* RateLimiter).claim(split.ranges * split.requestsPerRange)
  yield* Effect.logDebug(`list ${method}: about ${Math.round(estimate.rows + facts.knownInSpan)} rows to walk`).pipe(
    Effect.annotateLogs({
      counted: total ?? "not waited for",
      ranges: split.ranges,
      pagesPerRequest: split.pagesPerRequest,
      estimatedSeconds: split.estimatedSeconds
    })
  )
  return split
})

/** The walk of the IDs `low..high` as split: one chained walk when that is as fast (`auto`), else the ranges. */
const walkSpan = (method: string, keyset: KeysetPlan, low: number, high: number, split: RangePlan, options: ListOptions) => {
  // One chained walk is as fast as any split the limits allow now: ranges would only add requests
  const single = options.auto && split.ranges === 1
  return {
    chosen: single ? ("keysetBatch" as const) : ("ranges" as const),
    walk: single
      ? keysetWalk(method, keyset, { cursor: low - 1, upper: high, pagesPerRequest: split.pagesPerRequest, budget: options.budget })
      : rangesStream(method, keyset, { low, high, split, concurrency: options.concurrency, budget: options.budget })
  }
}

/** The IDs of a walk page's rows, in its order. */
const idsOf = (method: string, keyset: KeysetPlan, rows: ReadonlyArray<Row>) =>
  Effect.forEach(rows, (row) => rowIdNumber(method, keyset.info, row))

/** A page checked as a page of the walk: IDs ascending inside the bounds. */
const checkedPage = (method: string, keyset: KeysetPlan, rows: ReadonlyArray<Row>) => {
  const checked = checkWalkPage(method, keyset.info, rows, keyset.lower, keyset.upper)
  return checked.error === undefined ? Effect.void : Effect.fail(checked.error)
}

/**
 * The probe of the IDs `low..high` between the end pages (`SplitFacts.probe`): its pages carry the export's select
 * where that is narrow (a page as dear as the walk's, a true sample of its cost) and the ID alone where the export
 * reads every field (no cost sample then). None under a page ceiling, whose pages are all the export's.
 */
const spanProbe = (
  method: string,
  keyset: KeysetPlan,
  options: ListOptions,
  span: {
    readonly headIds: ReadonlyArray<number>
    readonly topIds: ReadonlyArray<number>
    readonly low: number
    readonly high: number
    readonly pageTime: Envelope.TimeBlock | undefined
  }
): SplitFacts["probe"] => {
  if (options.budget.maxPages !== undefined) return undefined
  const idsOnly = costlySelect(keyset.base)
  const probed = idsOnly ? { ...keyset, base: { ...keyset.base, select: [keyset.info.rowIdKey] } } : keyset
  const read = Effect.map(
    probePages(method, probed, probeCursors(span.low, span.high), span.high, idsOnly ? { costSample: false } : {}),
    (pages) => estimateRows([span.headIds, ...pages, span.topIds], { from: span.low, to: span.high })
  )
  return { read, pageTime: span.pageTime }
}

/**
 * `ranges` (and `auto` without a limit). Three requests go out together: the first page and the last page (ID
 * descending), both `start: -1`, and the COUNT (`start: 0`, the ID alone), which only the progress total needs
 * (with fewer than three free starts in the bucket, the first page is counted instead). Beside other planners, whose
 * exports share the bucket's starts, the end pages go in one batch (`endPages`): a start fewer, for a page's time
 * more before the split (alone, a start is cheap and the sooner split is worth more: 1,000 rows took 1.30× the
 * bound in slow motion with the batch, 1.21× without).
 * The end pages give the span, the rows at both ends (the ranges walk only the IDs between them), the server time
 * of a page, and an estimate of the rows between (`chooseSplit`, which may probe the span for a better one while
 * the COUNT is out). Rows dear to print go to `planFromIds`.
 */
const planExport = Effect.fnUntraced(function* (method: string, keyset: KeysetPlan, options: ListOptions) {
  const progress = yield* ProgressReporter
  const firstParams = keysetParams(keyset, keyset.lower, keyset.upper)
  // With the bucket drained every request waits its turn, and a third one would delay the walk by a turn more
  // than the COUNT costs: the first page is counted instead
  const firstClaim = yield* (yield* RateLimiter).claim(3)
  const separateCount = firstClaim.freeStarts >= 3
  const countSentAt = yield* Clock.currentTimeMillis
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
  if (counted !== undefined && counting !== undefined && costlySelect(keyset.base)) {
    return yield* planFromIds(method, keyset, options, { counted, counting, sentAt: countSentAt })
  }
  // a counted first page is no cost sample, which a batch's commands all are: it goes alone
  const [first, top] =
    separateCount && firstClaim.otherPlanners > 0
      ? yield* endPages(method, keyset)
      : yield* Effect.all(
          [separateCount ? page(method, firstParams) : page(method, { ...firstParams, start: 0 }, { costSample: false }), topPage(method, keyset)],
          { concurrency: 2 }
        )
  if (!separateCount && first.total !== undefined) yield* progress.setTotal(method, first.total)
  options.budget.pages += (first.rows.length > 0 ? 1 : 0) + (top.rows.length > 0 ? 1 : 0)
  options.budget.rows += first.rows.length
  // Both end pages are pages of the walk: ascending IDs (the last one once reversed) inside the bounds
  const topRows = [...top.rows].reverse()
  yield* checkedPage(method, keyset, first.rows)
  yield* checkedPage(method, keyset, topRows)
  const head = Stream.fromIterable(first.rows)
  const headIds = yield* idsOf(method, keyset, first.rows)
  const topIds = yield* idsOf(method, keyset, topRows)
  const lastId = headIds.at(-1)
  const tail = lastId === undefined ? [] : topRows.filter((_, index) => topIds[index]! > lastId)
  const lowestTopId = topIds[0] ?? Infinity
  const alone = aloneChosen(options)
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
  const low = lastId + 1
  const high = lowestTopId - 1
  // The probe reads pages of the export's own select (a page as dear as the walk's, a true sample of its cost);
  // under a page ceiling every page read is the export's
  const probe = spanProbe(method, keyset, options, { headIds, topIds, low, high, pageTime: top.time })
  const split = yield* chooseSplit(
    method,
    {
      estimate: estimateBetween(headIds, topIds, false),
      knownInSpan: 0,
      outsideSpan: first.rows.length + tail.length,
      time: top.time,
      counting,
      countSentAt,
      besideCount: top.time,
      firstTotal: first.total,
      fastest: false,
      ...(probe === undefined ? {} : { probe })
    },
    options
  )
  // the walk's junk guard may stand further above its bound behind the export's lowest ID (`guardPrefix`)
  const { chosen, walk } = walkSpan(method, { ...keyset, lowestId: headIds[0]! }, low, high, split, options)
  return { chosen, body: Stream.concat(Stream.concat(head, walk), Stream.fromIterable(tail)) }
})

/**
 * An export of rows dear to print (`costlySelect`): the span is learnt from pages of IDs, not from pages of rows.
 * Beside the COUNT (whose page is the first page's IDs) go the first page of rows and the last page of IDs alone,
 * three requests as for any export. The first page's IDs come from whichever of the COUNT and the page of rows
 * answers first (the COUNT, on a table small enough for it to be quick): the split is made then, without waiting
 * for a page of rows (105 ms a page of 50 wide rows on the fake portal, against 10 ms a page of IDs), and the
 * walk covers everything after the first page, the last page's rows included. The first page's rows are read
 * meanwhile and come out first. A list of up to 50 rows lies in the first page: it waits for its rows.
 */
const planFromIds = Effect.fnUntraced(function* (
  method: string,
  keyset: KeysetPlan,
  options: ListOptions,
  count: {
    /** The COUNT's page of IDs, its total, and when it was sent (the clock's millis). */
    readonly counted: Fiber.Fiber<Page | undefined>
    readonly counting: Fiber.Fiber<number | undefined>
    readonly sentAt: number
  }
) {
  const progress = yield* ProgressReporter
  const rowsFirst = yield* Effect.forkScoped(page(method, keysetParams(keyset, keyset.lower, keyset.upper)))
  // a page of IDs prices nothing the walk reads: its pages of rows will
  const idsTop = topPage(method, { ...keyset, base: { ...keyset.base, select: [keyset.info.rowIdKey] } }, { costSample: false })
  // A COUNT that failed never comes first; the page of rows does, a failure too (its rows are needed anyway)
  const countedIds = Effect.flatMap(Fiber.join(count.counted), (answer) => (answer === undefined ? Effect.never : Effect.succeed(answer)))
  const [[first, firstHasRows], top] = yield* Effect.all(
    [
      Effect.raceFirst(
        Effect.map(Fiber.join(rowsFirst), (answer) => [answer, true] as const),
        Effect.map(countedIds, (answer) => [answer, false] as const)
      ),
      idsTop
    ],
    { concurrency: 2 }
  )
  const topRows = [...top.rows].reverse()
  yield* checkedPage(method, keyset, first.rows)
  yield* checkedPage(method, keyset, topRows)
  const headIds = yield* idsOf(method, keyset, first.rows)
  const topIds = yield* idsOf(method, keyset, topRows)
  const lastId = headIds.at(-1)
  // The first page's rows: the rows up to its last ID (a row deleted meanwhile lets the next one into the page of
  // rows: the walk reads that one), checked as a walk page
  const firstPage = Effect.gen(function* () {
    if (firstHasRows) {
      // the page of rows came first: the IDs above are its own, checked
      options.budget.rows += first.rows.length
      return first.rows
    }
    const answer = yield* Fiber.join(rowsFirst)
    yield* checkedPage(method, keyset, answer.rows)
    const ids = yield* idsOf(method, keyset, answer.rows)
    const kept = lastId === undefined ? answer.rows : answer.rows.filter((_, index) => ids[index]! <= lastId)
    options.budget.rows += kept.length
    return kept
  })
  options.budget.pages += first.rows.length > 0 ? 1 : 0
  // the walk: every ID after the first page's up to the last page's highest
  const high = topIds.at(-1) ?? -Infinity
  if (first.rows.length < pageSize || lastId === undefined || high <= lastId) {
    // The first page holds the whole list
    const rows = yield* firstPage
    yield* progress.setTotal(method, rows.length)
    return { chosen: aloneChosen(options), body: Stream.fromIterable(rows) }
  }
  const inSpan = topIds.filter((id) => id > lastId).length
  const lowestTopId = topIds[0] ?? Infinity
  // where the pages meet, the last page's rows after the first page's are all the walk holds
  const meet = top.rows.length < pageSize || lowestTopId <= lastId + 1
  const estimate = estimateBetween(headIds, topIds, meet)
  // Timed on a page of IDs, a split knows nothing of what the rows cost. That does not matter while every range is
  // one request of the first wave (the fastest split then uses every free start); a larger export is split on the
  // first page of rows' time, which it waits for: walks of several requests each, priced at a page of IDs, were
  // 2 walks of 61 full chains for 300,000 wide rows, 5 s a chain, where 21 walks of 6 were right
  const expected = estimate.rows + inSpan
  const carried = (yield* claimShare).freeStarts * rowsPerSingleRequest(estimate.spread)
  const timed = expected <= carried ? undefined : (yield* Fiber.join(rowsFirst)).time
  // the probe reads between the end pages; where they meet there is nothing to estimate
  const probe = meet ? undefined : spanProbe(method, keyset, options, { headIds, topIds, low: lastId + 1, high: lowestTopId - 1, pageTime: top.time })
  const split = yield* chooseSplit(
    method,
    {
      estimate,
      knownInSpan: inSpan,
      outsideSpan: first.rows.length,
      time: timed ?? top.time,
      counting: count.counting,
      countSentAt: count.sentAt,
      besideCount: top.time,
      firstTotal: undefined,
      fastest: timed === undefined,
      ...(probe === undefined ? {} : { probe })
    },
    options
  )
  const { chosen, walk } = walkSpan(method, { ...keyset, lowestId: headIds[0]! }, lastId + 1, high, split, options)
  // The walk starts now, not once the first page's rows are out: a concatenation pulls its second part only after
  // its first ends (a queue of two chunks keeps the walk from running ahead of the reader)
  const walking = Stream.flattenTake(Stream.fromQueue(yield* Stream.toQueue(walk, { capacity: 2 })))
  return { chosen, body: Stream.concat(Stream.unwrap(Effect.map(firstPage, Stream.fromIterable)), walking) }
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
