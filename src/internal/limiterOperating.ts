/**
 * The per-method operating budget as pure functions: what the portal told us about a method's server time
 * (`time.operating`, `operating_reset_at`), a local sliding window of the calls' own times for portals that
 * omit `operating`, and explicit blocks after a 429 OPERATION_TIME_LIMIT.
 */
import type { TimeBlock } from "../Envelope.js"

/** The portal's last word on a method: its running total of server time and when part of it is released. */
export interface PortalReport {
  /** `time.operating`: the method's running total in the window (assigned, never added, as b24jssdk does). */
  readonly totalSeconds: number
  /** `time.operating_reset_at` in epoch ms; older portals omit it. */
  readonly resetAtMs: number | undefined
  readonly reportedAtMs: number
}

/** One call's own server time, kept for the local window. */
export interface Spend {
  readonly atMs: number
  readonly seconds: number
}

/** Everything known about one method's budget. */
export interface MethodBudget {
  readonly portal: PortalReport | undefined
  /** Local sliding window, used only while the portal has never reported `operating` for the method. */
  readonly spends: ReadonlyArray<Spend>
  /** The last few calls' own times (`processing`, else `duration`), for the safety margin. */
  readonly recentCosts: ReadonlyArray<number>
  /** Set after a 429 OPERATION_TIME_LIMIT: no request for the method starts before this. */
  readonly blockedUntilMs: number | undefined
}

/** The operating limit and its window. */
export interface OperatingShape {
  readonly limitSeconds: number
  readonly windowMs: number
}

/** Why a request must wait for a method's budget. */
export type WaitReason = "blocked" | "portal" | "local" | "in-flight"

/** The decision for one method: go, or wait until `untilMs` (or until the method's state changes). */
export type Verdict =
  | { readonly _tag: "Go" }
  | { readonly _tag: "Wait"; readonly reason: WaitReason; readonly untilMs: number | undefined }

/** A method nobody has heard of yet. */
export const emptyBudget: MethodBudget = {
  portal: undefined,
  spends: [],
  recentCosts: [],
  blockedUntilMs: undefined
}

/** How many recent call times the margin looks at. */
const recentCostCount = 10
/** The portal's LoadLimiter ignores runs of 0.1 s or less. */
const ignoredRunSeconds = 0.1
/** b24jssdk waits until `operating_reset_at` + 1 s: the portal releases the basket at that second, not before. */
const resetSlackMs = 1000
/** b24jssdk treats `operating >= limit - 5 s` as blocked. */
const minimumMarginSeconds = 5
/** A 429 without any reset time: hold the method at least this long. */
const unknownBlockMs = 10_000
/**
 * What a call is assumed to cost until one of the method is answered: about twice the costliest single call in
 * the recordings (0.13 s for `crm.company.contact.items.get`; list pages of every field average 0.08 s). A first wave
 * of 2,375 unpriced calls (47 batches of 50, about what a standard bucket lets start) then fits the 480 s budget, and
 * a larger one (an Enterprise bucket of 250, a tighter budget) waits for the first answer to price the rest.
 */
const unknownCallSeconds = 0.2
/** The portal keeps 10 baskets per window; without `operating_reset_at` one basket is the best guess. */
const basketsPerWindow = 10

/** Method names are case-insensitive on the portal (it lower-cases the route). */
export const methodKey = (method: string): string => method.toLowerCase()

/**
 * Whether a method's own call times go into the local window. Not the outer `batch`: the docs say the portal
 * does not count it, and its duration spans all commands, so a local window over it would throttle batches
 * the portal never limits (a portal that does bill `batch` says so in its `operating`).
 */
export const countsLocally = (method: string): boolean => method !== "batch"

/** A call's own server time: the method's run (`processing`), else the whole request (`duration`). */
export const callCost = (time: TimeBlock): number | undefined => time.processing ?? time.duration

/** The budget without spends that left the window and without a block that ended. */
export const prune = (budget: MethodBudget, nowMs: number, windowMs: number): MethodBudget => ({
  ...budget,
  spends: budget.spends.filter((spend) => spend.atMs + windowMs > nowMs),
  blockedUntilMs: budget.blockedUntilMs !== undefined && budget.blockedUntilMs > nowMs ? budget.blockedUntilMs : undefined
})

/**
 * Whether a report already held outweighs a newer one: answers arrive out of order (a long batch answers after a
 * short request that started later), and an older, smaller total would drop calls that are neither in it nor in
 * flight any more. Until the held report's reset (when a basket may expire and the total really shrink), the
 * method's usage only grows, so the larger total is the better account.
 */
const holdsLarger = (report: PortalReport | undefined, operating: number, nowMs: number): boolean =>
  report !== undefined &&
  report.resetAtMs !== undefined &&
  nowMs < report.resetAtMs + resetSlackMs &&
  report.totalSeconds > operating

/**
 * Applies `time` blocks of a method's calls, in the order given, to its budget (the blocks of one answer: a batch
 * of 50 commands gives 50, pruned once); `countLocally` comes from `countsLocally`. The portal's total is assigned,
 * not added, unless a larger one held before the reset outweighs it (see `holdsLarger`).
 */
export const recordTimes = (
  budget: MethodBudget,
  times: ReadonlyArray<TimeBlock>,
  nowMs: number,
  shape: OperatingShape,
  countLocally: boolean
): MethodBudget => {
  const pruned = prune(budget, nowMs, shape.windowMs)
  let portal = pruned.portal
  const spends = [...pruned.spends]
  const recentCosts = [...pruned.recentCosts]
  for (const time of times) {
    if (time.operating !== undefined && !holdsLarger(portal, time.operating, nowMs)) {
      portal = {
        totalSeconds: time.operating,
        resetAtMs: time.operating_reset_at === undefined ? undefined : time.operating_reset_at * 1000,
        reportedAtMs: nowMs
      }
    }
    const cost = callCost(time)
    if (cost === undefined) continue
    if (countLocally && cost > ignoredRunSeconds) spends.push({ atMs: nowMs, seconds: cost })
    recentCosts.push(cost)
  }
  return { ...pruned, portal, spends, recentCosts: recentCosts.slice(-recentCostCount) }
}

/** The `time` blocks of an answer's entries by method, each method's in their order. */
export const timesByMethod = (
  entries: ReadonlyArray<{ readonly method: string; readonly time: TimeBlock }>
): ReadonlyMap<string, ReadonlyArray<TimeBlock>> => {
  const byMethod = new Map<string, Array<TimeBlock>>()
  for (const { method, time } of entries) {
    const times = byMethod.get(method)
    if (times === undefined) byMethod.set(method, [time])
    else times.push(time)
  }
  return byMethod
}

/**
 * Until when a 429 holds the method: the reset time the caller read, else the last known
 * `operating_reset_at` but at least 10 s from now, plus the 1 s the portal needs to release the basket.
 */
export const blockUntil = (budget: MethodBudget, resetAtMs: number | undefined, nowMs: number): number => {
  const base = resetAtMs ?? Math.max(budget.portal?.resetAtMs ?? 0, nowMs + unknownBlockMs)
  const until = Math.max(base, nowMs) + resetSlackMs
  return Math.max(until, budget.blockedUntilMs ?? 0)
}

/** The largest recent per-call time, 0 when none is known. */
export const recentCost = (budget: MethodBudget): number =>
  budget.recentCosts.reduce((largest, cost) => Math.max(largest, cost), 0)

/** `limit - max(5 s, 2 × recent per-call time)`, never below half the limit so a huge call cannot stall forever. */
export const thresholdSeconds = (budget: MethodBudget, shape: OperatingShape): number =>
  shape.limitSeconds -
  Math.min(Math.max(minimumMarginSeconds, 2 * recentCost(budget)), shape.limitSeconds / 2)

/** The local window's sum of call times. */
export const localUsage = (budget: MethodBudget): number =>
  budget.spends.reduce((sum, spend) => sum + spend.seconds, 0)

const oldestSpendExpiry = (budget: MethodBudget, windowMs: number): number | undefined =>
  budget.spends.length === 0 ? undefined : budget.spends[0]!.atMs + windowMs

/**
 * When the portal's total stops being current: `operating_reset_at` + 1 s, or, on portals that omit the
 * reset time, when the oldest local call leaves the window (else one basket after the report).
 */
export const reportLapsesAt = (report: PortalReport, budget: MethodBudget, windowMs: number): number =>
  report.resetAtMs !== undefined
    ? report.resetAtMs + resetSlackMs
    : oldestSpendExpiry(budget, windowMs) ?? report.reportedAtMs + windowMs / basketsPerWindow

/**
 * Whether a request making `ownCalls` calls of the method (50 for a batch of 50 of its commands) may start now,
 * given `pendingCalls` calls of it that passed this check and have not finished (their time is not in any report
 * yet, so each call, its own included, is estimated at the recent per-call time), and `settlingCalls` calls that
 * finished after the portal's total was taken (billed, but in no report yet). A request that finds nothing in use
 * goes whatever its size: waiting could not make room for it.
 *
 * The portal's total is an upper bound of the method's usage until new calls are reported (it only shrinks as
 * baskets expire). Past its reset time it is an over-estimate of unknown size, so while it is still near the
 * limit only one probe request runs at a time; its response brings a fresh total.
 */
export const decide = (
  rawBudget: MethodBudget,
  shape: OperatingShape,
  nowMs: number,
  pendingCalls: number,
  ownCalls = 1,
  settlingCalls = 0
): Verdict => {
  const budget = prune(rawBudget, nowMs, shape.windowMs)
  if (budget.blockedUntilMs !== undefined) {
    return { _tag: "Wait", reason: "blocked", untilMs: budget.blockedUntilMs }
  }
  const threshold = thresholdSeconds(budget, shape)
  const perCall = budget.recentCosts.length === 0 ? unknownCallSeconds : recentCost(budget)
  const pendingSeconds = pendingCalls * perCall
  const ownSeconds = ownCalls * perCall
  const report = budget.portal
  if (report !== undefined) {
    const lapsesAt = reportLapsesAt(report, budget, shape.windowMs)
    const usage = report.totalSeconds + pendingSeconds + settlingCalls * perCall
    if (usage + ownSeconds < threshold || usage <= 0) return { _tag: "Go" }
    if (nowMs < lapsesAt) {
      return report.totalSeconds >= threshold
        ? { _tag: "Wait", reason: "portal", untilMs: lapsesAt }
        : { _tag: "Wait", reason: "in-flight", untilMs: lapsesAt }
    }
    return pendingCalls === 0 ? { _tag: "Go" } : { _tag: "Wait", reason: "in-flight", untilMs: undefined }
  }
  const local = localUsage(budget)
  const usage = local + pendingSeconds
  if (usage + ownSeconds < threshold || usage <= 0) return { _tag: "Go" }
  return local >= threshold
    ? { _tag: "Wait", reason: "local", untilMs: oldestSpendExpiry(budget, shape.windowMs) }
    : { _tag: "Wait", reason: "in-flight", untilMs: oldestSpendExpiry(budget, shape.windowMs) }
}
