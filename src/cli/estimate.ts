/**
 * `b24 estimate crm.deal.list [--filter …] [--select …] [--order …] [--plan …]`: how long an export would take
 * before running it. One request asks for the size, then the lower bound the benchmark divides by
 * (`internal/bound.ts`) gives the least time and the requests an export of that many rows takes at the limits, and
 * the strategy `auto` would read it with is named.
 *
 * The size request is the list method with `start: 0` and the ID alone: its `total` is an exact COUNT of the rows
 * the filter matches, in one request. The protocol notes show a request with no COUNT at all (the first and the last
 * page with `start: -1`, in one batch, with the rows between estimated from the ID gaps), but it only guesses the
 * size, within a few per cent, and only where the rows can be walked in ID order; the COUNT is the one the `ranges`
 * export sends anyway for its progress total, and its cost grows with the table, not with the rows exported
 * (0.5 µs a row in the fake portal's default model; the Bitrix24 docs measured 50 s on 2.4 million leads).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Ref from "effect/Ref"
import * as Bitrix from "../Bitrix.js"
import { type LimitNumbers, type Limits, resolveLimits as limitNumbersOf } from "../BitrixConfig.js"
import { UnexpectedResultError, ValidationError } from "../BitrixError.js"
import { type Bound, type BoundCost, commandsPerBatch, listWork, lowerBound, pageSize } from "../internal/bound.js"
import { excerptOf } from "../internal/excerpt.js"
import { keysetPlan } from "../internal/list/keyset.js"
import { isKnownListMethod, listMethodInfo } from "../internal/methodRegistry.js"
import { formatDuration } from "../internal/progress.js"
import * as Validate from "../internal/validate.js"
import { defaultCost } from "../testing/internal/methods/cost.js"
import type * as Args from "./Args.js"
import { type Env, resolveLimits } from "./Connection.js"
import * as Inputs from "./Inputs.js"
import { readOptionText } from "./Output.js"
import type { CliError } from "./Report.js"

type Values = Args.Parsed["values"]

/** What the job needs from main.ts: the same shape as every portal command's job. */
interface Job {
  readonly noun: string
  readonly request: { readonly method: string; readonly params?: unknown }
  readonly work: (count: Ref.Ref<number>) => Effect.Effect<void, CliError, Bitrix.Services>
}

// ---------------------------------------------------------------------------------------------------------------
// What is asked: a list method, narrow or wide rows, the strategy auto picks
// ---------------------------------------------------------------------------------------------------------------

/** List methods whose names end in `.get` (bitrix24-protocol.md §3.3); the registry knows a few more. */
const getListMethods: ReadonlySet<string> = new Set(["user.get", "department.get", "lists.element.get"])

/**
 * Whether `method` names a list method, which answers with a `total`: `*.list`, `*.getlist`, or one the client's
 * method registry or the protocol notes know (`user.get`, `department.get`, `lists.element.get`, …). Anything
 * else (`crm.deal.get`, `crm.deal.add`) is refused before a request is sent.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const isListMethod = (method: string): boolean => {
  const name = method.toLowerCase()
  const last = name.slice(name.lastIndexOf(".") + 1)
  return last === "list" || last === "getlist" || getListMethods.has(name) || isKnownListMethod(name)
}

/**
 * Whether the rows of `select` cost the wide row time: no select, `*`, `UF_*` or more than 5 fields. The fake
 * portal's cost model draws the line there (`selectFields` in src/testing/internal/listQuery.ts).
 *
 * @since 0.1.0
 * @category Parsing
 */
export const isWideSelect = (select: ReadonlyArray<string> | undefined): boolean =>
  select === undefined || select.length > 5 || select.some((field) => field === "*" || field.toUpperCase() === "UF_*")

/**
 * The strategy `auto` reads a list with: `keyset` (the `ranges` export, or one chained walk, `keysetBatch`, when
 * the limiter's room makes one range as fast: that part is decided at run time from the end pages and the bucket)
 * when the rows can be walked in ID order, else `offset`, with the reason.
 *
 * @since 0.1.0
 * @category Models
 */
export interface AutoChoice {
  readonly strategy: "keyset" | "offset"
  /** The strategies `auto` may end up running. */
  readonly candidates: ReadonlyArray<"ranges" | "keysetBatch" | "offset">
  readonly reason: string
}

/**
 * What `auto` would choose for `method` and the checked `params`: the same `keysetPlan` that
 * `internal/list/stream.ts` decides with (keyset when it succeeds, else offset); no limit is given, so a keyset
 * export goes to `rangesExport`, which picks `ranges` or `keysetBatch` once it has the end pages.
 *
 * @since 0.1.0
 * @category Planning
 */
export const autoChoice = (method: string, params: Readonly<Record<string, unknown>>): AutoChoice =>
  Either.match(keysetPlan(method, params), {
    onLeft: (noKeyset): AutoChoice => ({ strategy: "offset", candidates: ["offset"], reason: noKeyset.why }),
    onRight: (): AutoChoice => ({ strategy: "keyset", candidates: ["ranges", "keysetBatch"], reason: "the rows can be walked in ID order" })
  })

// ---------------------------------------------------------------------------------------------------------------
// The estimate
// ---------------------------------------------------------------------------------------------------------------

/**
 * An export's estimate: the rows counted, the limits, the lower bound at the best number of requests and in full
 * batches, and the strategy `auto` would use.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Estimate {
  readonly method: string
  readonly rows: number
  /** Keyset pages of 50 rows (one, empty, for no rows). */
  readonly pages: number
  readonly wide: boolean
  readonly limits: Limits
  readonly cost: BoundCost
  /** The bound at the best number of requests, and its parts. */
  readonly bound: Bound
  /** The pages the busiest request carries at the best number of requests. */
  readonly pagesPerRequest: number
  /** The pages the busiest full batch carries at the fewest requests. */
  readonly pagesPerBatch: number
  readonly auto: AutoChoice
  /** Server time of the size request as the portal reported it (`time.processing`), when it did. */
  readonly sizeRequestSeconds: number | undefined
}

/** With the limits off nothing waits: a bucket and a budget that never fill. */
const unlimited: LimitNumbers = {
  poolSize: Infinity,
  requestsPerSecond: Infinity,
  operatingLimitSeconds: Infinity,
  operatingWindowSeconds: 0
}

/**
 * The estimate of exporting `rows` rows at `limits` with the cost numbers `cost` (the fake portal's default model
 * unless given): the benchmark's lower bound of keyset pages.
 *
 * @since 0.1.0
 * @category Planning
 */
export const estimateOf = (input: {
  readonly method: string
  readonly rows: number
  readonly wide: boolean
  readonly limits: Limits
  readonly auto: AutoChoice
  readonly sizeRequestSeconds?: number | undefined
  readonly cost?: BoundCost
}): Estimate => {
  const cost = input.cost ?? defaultCost
  const work = listWork(cost, input.rows, input.wide)
  const bound = lowerBound(cost, limitNumbersOf(input.limits) ?? unlimited, work)
  return {
    method: input.method,
    rows: input.rows,
    pages: work.units,
    wide: input.wide,
    limits: input.limits,
    cost: { baseMs: cost.baseMs, narrowRowMs: cost.narrowRowMs, wideRowMs: cost.wideRowMs },
    bound,
    pagesPerRequest: Math.ceil(work.units / bound.requests),
    pagesPerBatch: Math.min(commandsPerBatch, Math.ceil(work.units / bound.fewestRequests)),
    auto: input.auto,
    sizeRequestSeconds: input.sizeRequestSeconds
  }
}

const count = (value: number) => value.toLocaleString("en-US")

const plural = (value: number, noun: string) => `${count(value)} ${noun}${value === 1 ? "" : "s"}`

/** Seconds as printed: three decimals (the bound of a small export is milliseconds), and minutes past one. */
const seconds = (value: number) => `${value.toFixed(3)} s${value >= 60 ? ` (${formatDuration(value * 1000)})` : ""}`

const limitsLine = (limits: Limits): string => {
  const numbers = limitNumbersOf(limits)
  if (numbers === undefined) return "with the limits off (nothing waits: one page a request, all at once):"
  const name = typeof limits === "string" ? `the ${limits} plan's limits` : "these limits"
  return (
    `at ${name} (bucket ${count(numbers.poolSize)}, drained ${count(numbers.requestsPerSecond)}/s; ` +
    `${count(numbers.operatingLimitSeconds)} s of operating time per ${count(numbers.operatingWindowSeconds)} s):`
  )
}

/** What the estimate takes for granted, in one sentence (the text and the JSON share it). */
const assumptionOf = (estimate: Estimate): string =>
  `keyset pages at the fake portal's default server time (${estimate.cost.baseMs} ms a call, ${estimate.cost.narrowRowMs} ms a narrow row, ` +
  `${estimate.cost.wideRowMs} ms a wide row; this select costs ${estimate.wide ? "wide" : "narrow"} rows) and a full bucket at the start; ` +
  "a real portal's server time differs, and network time and the client's own work come on top: a lower bound, not a forecast"

/**
 * The estimate as the lines `b24 estimate` prints on stdout.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const estimateLines = (estimate: Estimate): ReadonlyArray<string> => {
  const { bound } = estimate
  const measured = estimate.sizeRequestSeconds === undefined ? "" : `, ${seconds(estimate.sizeRequestSeconds)} on the portal`
  const auto =
    estimate.auto.strategy === "keyset"
      ? `strategy auto: keyset (ranges, or one chained walk when that is as fast; decided at run time from the bucket): ${estimate.auto.reason}`
      : `strategy auto: offset, since ${estimate.auto.reason}; every offset page pays the COUNT and the offset scan again, ` +
        "so an export takes well over this bound"
  return [
    `${estimate.method}: ${plural(estimate.rows, "row")} in ${plural(estimate.pages, "page")} of ${pageSize} (counted in 1 request${measured})`,
    limitsLine(estimate.limits),
    `  at best ${seconds(bound.seconds)} in ${plural(bound.requests, "request")} of up to ${plural(estimate.pagesPerRequest, "page")} ` +
      `(bucket wait ${seconds(bound.leakySeconds)}, longest request ${seconds(bound.criticalSeconds)}, ` +
      `operating-time wait ${seconds(bound.operatingSeconds)})`,
    `  in full batches ${seconds(bound.atFewestSeconds)} in ${plural(bound.fewestRequests, "request")} of up to ${plural(estimate.pagesPerBatch, "page")}`,
    auto,
    `assumes: ${assumptionOf(estimate)}`
  ]
}

/**
 * The estimate as the one JSON object `b24 estimate --json` prints.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const estimateJson = (estimate: Estimate) => {
  const numbers = limitNumbersOf(estimate.limits)
  return {
    method: estimate.method,
    rows: estimate.rows,
    pages: estimate.pages,
    select: estimate.wide ? ("wide" as const) : ("narrow" as const),
    limits: {
      plan: typeof estimate.limits === "string" ? estimate.limits : ("custom" as const),
      ...(numbers === undefined ? {} : numbers)
    },
    seconds: estimate.bound.seconds,
    requests: estimate.bound.requests,
    pagesPerRequest: estimate.pagesPerRequest,
    parts: {
      bucketWaitSeconds: estimate.bound.leakySeconds,
      longestRequestSeconds: estimate.bound.criticalSeconds,
      operatingWaitSeconds: estimate.bound.operatingSeconds,
      billedSeconds: estimate.bound.billedSeconds
    },
    fullBatches: {
      seconds: estimate.bound.atFewestSeconds,
      requests: estimate.bound.fewestRequests,
      pagesPerRequest: estimate.pagesPerBatch
    },
    auto: estimate.auto,
    sizeRequest: {
      requests: 1,
      ...(estimate.sizeRequestSeconds === undefined ? {} : { serverSeconds: estimate.sizeRequestSeconds })
    },
    costModel: estimate.cost,
    assumes: assumptionOf(estimate)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------------------------

const fromEither = <A, E>(either: Either.Either<A, E>): Effect.Effect<A, E> =>
  Either.isRight(either) ? Effect.succeed(either.right) : Effect.fail(either.left)

const text = (values: Values, name: string): string | undefined => {
  const value = values[name]
  return typeof value === "string" ? value : undefined
}

const jsonOption = (flag: string, value: string | undefined) =>
  value === undefined
    ? Effect.succeed(undefined)
    : Effect.flatMap(readOptionText(value), (content) => fromEither(Inputs.parseJsonObject(flag, content)))

/**
 * The job of `b24 estimate`: the method, options and limits checked before anything is sent (exit 2), then the size
 * request, and the estimate on stdout (lines, or one JSON line with `--json`).
 *
 * @since 0.1.0
 * @category Commands
 */
export const job = (method: string, values: Values, env: Env): Effect.Effect<Job, CliError> =>
  Effect.gen(function* () {
    yield* Validate.method(method)
    if (!isListMethod(method)) {
      return yield* Effect.fail(
        new ValidationError({
          path: "method",
          detail: `${JSON.stringify(method)} is not a list method, so it has no rows to count`,
          suggestion: "Name a list method: one ending in .list or .getlist (crm.deal.list, tasks.task.list), or user.get, department.get, lists.element.get."
        })
      )
    }
    const selectText = text(values, "select")
    const select = selectText === undefined ? undefined : yield* fromEither(Inputs.parseSelect(selectText))
    const filter = yield* jsonOption("--filter", text(values, "filter"))
    const order = yield* jsonOption("--order", text(values, "order"))
    const params = yield* Validate.params(Inputs.listParams({ select, filter, order }))
    const planText = text(values, "plan")
    const limits = yield* fromEither(
      resolveLimits(planText === "standard" || planText === "enterprise" ? planText : undefined, text(values, "limits"), env)
    )
    const auto = autoChoice(method, params)
    // The COUNT needs neither the order nor the fields: the ID alone keeps the page of rows it comes with small
    const sizeParams = { ...(filter === undefined ? {} : { filter }), select: [listMethodInfo(method).filterIdKey], start: 0 }
    return {
      noun: "rows counted",
      request: { method, params: sizeParams },
      work: (counted) =>
        Effect.gen(function* () {
          const answer = yield* Bitrix.callRaw(method, sizeParams)
          if (answer.total === undefined) {
            return yield* Effect.fail(
              new UnexpectedResultError({
                method,
                detail: "the answer has no total, so the method does not count its rows (it pages without a total, or is not a list)",
                excerpt: excerptOf(answer.result)
              })
            )
          }
          yield* Ref.set(counted, answer.total)
          const estimate = estimateOf({
            method,
            rows: answer.total,
            wide: isWideSelect(select),
            limits,
            auto,
            sizeRequestSeconds: answer.time?.processing ?? answer.time?.duration
          })
          const output = values["json"] === true ? JSON.stringify(estimateJson(estimate)) : estimateLines(estimate).join("\n")
          yield* Effect.sync(() => void process.stdout.write(`${output}\n`))
        })
    } satisfies Job
  })
