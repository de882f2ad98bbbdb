/**
 * The planning arithmetic of the list strategies, pure: how many pages to chain in one batch, how to split an ID
 * span into ranges for the limiter's room right now, how many rows lie between two end pages.
 */
import type * as Envelope from "../../Envelope.js"
import { commandsPerBatch, pageSize } from "./shared.js"

/**
 * Pages to chain in one batch for about `rows` rows, where nothing empties the commands after the short page (a walk
 * without an upper bound: the ID pass that verifies an offset export): room for a quarter more (IDs are not spread
 * evenly) and one row more, so a walk of exactly 50·k rows still meets the short page that ends it in the same
 * request. Every command after the first short page is wasted (its reference does not resolve and the portal
 * answers with rows from the start of the table, at the cost of a page), so chains are not longer than that. The
 * ranges size theirs with `rangeChainLength`.
 */
export const chainLength = (rows: number): number =>
  Math.min(commandsPerBatch, Math.max(2, Math.ceil((rows * 1.25 + 1) / pageSize)))

/** Rows a range is sized to per request: 90 % of a chained batch, so the uneven spread of IDs rarely spills it. */
export const rowsPerRequestTarget = Math.floor(pageSize * commandsPerBatch * 0.9)

/**
 * The least spread of the gaps between IDs a range's chain is sized for (the standard deviation of a gap over its
 * mean). A range of `r` rows by ID width holds about `r ± spread·√r` of them: a table that has seen deletions (the
 * fake portal's seed: 70 % of steps 1, 2 % jumps of 6–45) has a spread near 2, and the two end pages, 98 gaps, often
 * miss the rare long jumps that make it, so a smaller spread measured from fewer than `believedGaps` gaps is not
 * believed.
 */
export const minimumGapSpread = 2

/**
 * Gaps measured across the span (the end pages' and a probe's, see `estimateRows`) past which their spread is
 * believed as measured, down to `leastGapSpread`: about 500 gaps spread over the whole span see a table's rare long
 * jumps about ten times each in a hundred, where the end pages' 98, at its two ends, often see none.
 */
export const believedGaps = 400

/** The least spread of the gaps believed from `believedGaps` or more of them. */
export const leastGapSpread = 0.5

/** Standard deviations of room a range's chain gets over its expected rows (a range spills about 1 time in 700). */
export const spillMargin = 3

/**
 * The standard deviation of the rows a range of ID width holds, `rows` expected at the gaps' `spread` (never below
 * `minimumGapSpread`). `unknownShare` is the part of that count nothing has told: 1 when the rows between the end
 * pages were estimated from their ID gaps; `1 - 1/ranges` when they were counted, since then only how the counted
 * rows fall among the ranges is unknown (a finite population: a single range holds exactly the count).
 */
export const rangeDeviation = (rows: number, spread: number, unknownShare: number): number =>
  Math.max(leastGapSpread, spread) * Math.sqrt(Math.max(0, rows) * Math.max(0, unknownShare))

/**
 * The most rows one request of a single-request range is planned for: `rowsPerRequestTarget`, or more where a
 * full chain of 50 pages still holds them with `spillMargin` deviations of room at the gaps' `spread` (rows `n`
 * with `n + spillMargin·spread·√(n·u) + 1 <= 2,500`, solved for `√n`). A measured spread of 1.1 (a filter's tenth
 * of a table) fits 2,339 rows; the floor's 2 fits 2,216, under the target.
 */
export const rowsPerSingleRequest = (spread: number = minimumGapSpread, unknownShare: number = 1): number => {
  const b = spillMargin * Math.max(leastGapSpread, spread) * Math.sqrt(Math.max(0, unknownShare))
  const root = (-b + Math.sqrt(b * b + 4 * (pageSize * commandsPerBatch - 1))) / 2
  return Math.max(rowsPerRequestTarget, Math.floor(root * root))
}

/**
 * The part of a range's row count that nothing has told (see `rangeDeviation`): all of it for an estimate, the
 * share the range is not of the counted whole for a count.
 */
export const unknownShareOf = (ranges: number, counted: boolean | undefined): number => (counted === true ? 1 - 1 / ranges : 1)

/**
 * Pages to chain for a range expected to hold `rows` rows, so its short page very likely falls inside the one
 * request: the rows, `spillMargin` standard deviations of their count at the gaps' `spread`, and one row more (a
 * range of exactly 50·k rows ends on the empty page after them). The commands past the short page cost the portal
 * a call each but no rows when `keysetParams` can empty them (see `chainedPages`), so the room is cheap; one request
 * holds at most 50 pages, and a range that spills anyway is finished by a short follow-up chain.
 */
export const rangeChainLength = (rows: number, spread: number = minimumGapSpread, unknownShare: number = 1): number => {
  const expected = Math.max(0, rows)
  const deviation = rangeDeviation(expected, spread, unknownShare)
  return Math.min(commandsPerBatch, Math.max(2, Math.ceil((expected + spillMargin * deviation + 1) / pageSize)))
}

/**
 * What a `ranges` export knows before it splits the span: the rows left, the server time of one page (a page's
 * `time.processing`), and the limiter's room right now.
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
  /**
   * The spread of the gaps between IDs (`estimateRows`, which floors it as believed); default `minimumGapSpread`,
   * floor `leastGapSpread`.
   */
  readonly spread?: number
  /**
   * Take the fastest split, not the one with the fewest requests within 5 % of it: `pageSeconds` is a page of IDs
   * where the walks read every field, whose rows cost many times more. Timed on IDs, two splits look within 5 %
   * where their slowest ranges differ by more on the real rows (41 ranges of 100,000 wide rows against 45).
   */
  readonly fastest?: boolean
  /**
   * `rows` were counted (a COUNT's total), not estimated from ID gaps: a range's chain needs room only for how the
   * rows fall among the ranges, none for a single range (see `rangeDeviation`).
   */
  readonly counted?: boolean
}

/**
 * How to split: `ranges` disjoint ID ranges, each walked in `requestsPerRange` chained requests of
 * `pagesPerRequest` pages; `estimatedSeconds` is the time the plan expects.
 */
export interface RangePlan {
  readonly ranges: number
  readonly requestsPerRange: number
  readonly pagesPerRequest: number
  readonly estimatedSeconds: number
}

/**
 * Splits an export the way the lower bound does: a chained batch runs its pages one after another, so fewer,
 * longer requests take longer, while requests beyond the starts the bucket allows now wait `1 / drain` each. A
 * request is priced at a call per command (`emptyCommandSeconds`, the rest of `pageSeconds` shared by a page's 50
 * rows) and the rows of its slowest range (a standard deviation over the average): the room past the short page
 * costs calls, not pages.
 * Every range count is tried; the fastest plan wins, and among plans within 5 % of it (unless `fastest`) the one
 * with the fewest requests (bucket starts are the portal's scarcest resource for whatever runs next), then the most ranges.
 * With a full bucket a small export is spread over many short requests; with a drained one it is chained into
 * full batches.
 */
export const planRanges = (input: RangePlanInput): RangePlan => {
  const rows = Math.max(1, input.rows)
  const pages = Math.ceil(rows / pageSize)
  const evaluate = (ranges: number): RangePlan => {
    const rowsPerRange = rows / ranges
    // A range of one request gets a chain with room for its rows' spread. A longer one is walked in full chains one
    // after another, each going on where the last stopped, so only its last request is short: the rows, the room
    // for their spread and the short page that ends them, in as many full chains as they fill (chains of 90 % for
    // every request took 445 requests for a million rows, where 400 full chains carry them)
    const unknownShare = unknownShareOf(ranges, input.counted)
    const single = rowsPerRange <= rowsPerSingleRequest(input.spread, unknownShare)
    const room = spillMargin * rangeDeviation(rowsPerRange, input.spread ?? minimumGapSpread, unknownShare) + 1
    const requestsPerRange = single ? 1 : Math.ceil((rowsPerRange + room) / (pageSize * commandsPerBatch))
    const pagesPerRequest = single ? rangeChainLength(rowsPerRange, input.spread, unknownShare) : commandsPerBatch
    const shape = { ranges, requestsPerRange, pagesPerRequest }
    return { ...shape, estimatedSeconds: planSeconds(shape, input) }
  }
  const plans = Array.from({ length: pages }, (_, index) => evaluate(index + 1))
  // A loop, not Math.min(...plans): ten million rows are 200,000 candidates, too many arguments for a call
  const fastest = plans.reduce((least, plan) => Math.min(least, plan.estimatedSeconds), Infinity)
  const requestsOf = (plan: RangePlan) => plan.ranges * plan.requestsPerRange
  const slack = input.fastest === true ? 1 : 1.05
  return plans
    .filter((plan) => plan.estimatedSeconds <= fastest * slack + 1e-9)
    .reduce((best, plan) =>
      requestsOf(plan) < requestsOf(best) || (requestsOf(plan) === requestsOf(best) && plan.ranges > best.ranges) ? plan : best
    )
}

/**
 * The time a split of the given shape takes for `input.rows` rows (which may be fewer than it was planned for):
 * a command costs a call, a row its share of the rest of a page, so the room after the short page (commands the
 * junk guard empties) costs calls, and the slowest of the ranges holds about a standard deviation more rows than
 * the average; requests beyond the bucket's free starts wait `1 / drain` each. What a COUNT can save is the
 * difference between a cautious plan's time for the fewer rows and the plan made for them.
 */
export const planSeconds = (
  plan: Pick<RangePlan, "ranges" | "requestsPerRange" | "pagesPerRequest">,
  input: RangePlanInput
): number => {
  const rows = Math.max(1, input.rows)
  const spread = Math.max(leastGapSpread, input.spread ?? minimumGapSpread)
  const callSeconds = Math.min(input.pageSeconds, emptyCommandSeconds)
  const rowSeconds = (input.pageSeconds - callSeconds) / pageSize
  const requests = plan.ranges * plan.requestsPerRange
  const rowsPerRequest = rows / requests
  const rowsOfSlowest = Math.min(plan.pagesPerRequest * pageSize, rowsPerRequest + spread * Math.sqrt(rowsPerRequest))
  const requestSeconds = plan.pagesPerRequest * callSeconds + rowsOfSlowest * rowSeconds
  // a range's requests follow one another, each a round trip after the one before
  const critical = Math.ceil(plan.ranges / Math.max(1, input.concurrency)) * plan.requestsPerRange * (requestSeconds + roundTripSeconds)
  const overPool = Math.max(0, requests - input.freeStarts)
  const bucketSeconds = overPool === 0 ? 0 : overPool / input.requestsPerSecond
  return Math.max(critical, bucketSeconds + requestSeconds + roundTripSeconds)
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

/**
 * The rows between the two end pages of a list, estimated from the ID gaps inside those pages (the IDs of each
 * page in ascending order), with the relative standard error of that estimate and the spread of the gaps (their
 * standard deviation over their mean), which sizes the chains of the ranges. Used to split the export without
 * waiting for a COUNT, which costs server time in proportion to the whole table, not to the rows exported.
 */
export const estimateRows = (
  pages: ReadonlyArray<ReadonlyArray<number>>,
  span: { readonly from: number; readonly to: number }
): { readonly rows: number; readonly relativeError: number; readonly spread: number } => {
  const gaps: Array<number> = []
  for (const ids of pages) for (let index = 1; index < ids.length; index++) gaps.push(ids[index]! - ids[index - 1]!)
  const width = Math.max(0, span.to - span.from + 1)
  if (gaps.length < 2) return { rows: width, relativeError: 1, spread: minimumGapSpread }
  const mean = gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length
  const variance = gaps.reduce((sum, gap) => sum + (gap - mean) ** 2, 0) / (gaps.length - 1)
  const measured = Math.sqrt(variance) / Math.max(1, mean)
  // the spread a range is sized for: as measured only from enough gaps (`believedGaps`)
  const spread = Math.max(gaps.length >= believedGaps ? leastGapSpread : minimumGapSpread, measured)
  return { rows: width / Math.max(1, mean), relativeError: measured / Math.sqrt(gaps.length), spread }
}

/**
 * The network round trip a plan allows each of a range's requests, one after another: a portal in a neighbouring
 * region's data centre (the bench's 60 ms, see bench/network.ts). A walk of 400 chained requests takes 24 s more
 * than their server time, which two walks halve.
 */
export const roundTripSeconds = 0.06

/**
 * How many times the wait so far a COUNT still out may yet take: its time is unknown over about three decades
 * (as quick as a page on a small table, 0.5 µs a table row on a large one by fast_bitrix24's measure, 21 µs by the
 * docs', 50 s for 2.4 million leads), and taken evenly on a log scale within them (`countWorthWaiting`).
 */
export const countHorizon = 1000

/**
 * How much longer a COUNT still out is worth waiting for, where its answer would save `saving` seconds and
 * `waited` seconds have passed since it was sent. Its time taken evenly on a log scale (`countHorizon`), the chance
 * that it answers within `w` more seconds is ln(1 + w / waited) / ln(countHorizon); the wait pays while that chance
 * times the saving grows faster than the wait itself, up to saving / ln(countHorizon) − waited, never past the
 * saving. A COUNT already slower than a seventh of what it could save is not waited for: waiting the whole saving
 * for it lost 15 ms for a probe's start and 8 ms after the probe on a filtered tenth of a million rows, whose COUNT
 * took half a second, and 113 ms on 100,000 rows under the docs' COUNT. `quick`, where the pages sent beside the
 * COUNT have just answered: the time of one of them, waited for in any case, since the COUNT of most portals'
 * tables (20,000 rows at the default model's 0.5 µs a row) answers within a page's time after them.
 */
export const countWorthWaiting = (saving: number, waited: number, quick = 0): number =>
  Math.max(0, Math.min(saving, Math.max(quick, saving / Math.log(countHorizon) - Math.max(0, waited))))

/** A command that finds no rows is taken to cost what a call costs the default cost model (5 ms). */
export const emptyCommandSeconds = 0.005

/** A page of unknown cost is taken for a narrow one of the default cost model (5 ms + 50 × 0.1 ms). */
export const unknownPageSeconds = 0.01

/** The server time of a page, from its `time` block. */
export const pageSecondsOf = (time: Envelope.TimeBlock | undefined): number => {
  const seconds = time?.processing ?? time?.duration ?? unknownPageSeconds
  return seconds > 0 ? seconds : unknownPageSeconds
}
