/**
 * Generated bad input (issue 10, findings 2 and 7): random bad arguments and options go to every verb of the Effect
 * API and of the Promise client, and to every entry point that takes options. Each case must end in a
 * `ValidationError` before any request (or, where the input is well-formed, in the portal's answer): never a
 * defect, never a synchronous throw. The expected outcome of each case comes from how the case was built (which
 * value was planted where), never from the code under test.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Cause, ConfigProvider, Effect, Exit, Layer, ManagedRuntime, Option, Schedule, Stream } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Bitrix from "../src/Bitrix.js"
import { createClient } from "../src/Promise.js"
import * as Query from "../src/Query.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import { type RunningFakePortal, startFakePortal } from "../src/testing/index.js"
import * as Transport from "../src/Transport.js"

// ----------------------------------------------------------------------------------------------------------------
// the cases
// ----------------------------------------------------------------------------------------------------------------

/** The wire a verb's params travel on: JSON body, batch query string, or both (list exports). */
type Wire = "json" | "query" | "both"

interface BadValue {
  readonly name: string
  readonly make: () => unknown
  /** Whether `wire` cannot carry it (then it must be refused), by what the JSON and query-string wires can hold. */
  readonly refusedOn: (wire: Wire) => boolean
  /** Where below the planted spot the problem is (a cycle is seen one step down, a hole at its index). */
  readonly suffix: string
}

class Money {
  constructor(readonly amount: number) {}
}

const always = () => true
const badValues: ReadonlyArray<BadValue> = [
  { name: "undefined", make: () => undefined, refusedOn: always, suffix: "" },
  { name: "function", make: () => () => 1, refusedOn: always, suffix: "" },
  { name: "symbol", make: () => Symbol("s"), refusedOn: always, suffix: "" },
  { name: "NaN", make: () => Number.NaN, refusedOn: always, suffix: "" },
  { name: "Infinity", make: () => Number.POSITIVE_INFINITY, refusedOn: always, suffix: "" },
  { name: "-Infinity", make: () => Number.NEGATIVE_INFINITY, refusedOn: always, suffix: "" },
  { name: "invalid Date", make: () => new Date(Number.NaN), refusedOn: always, suffix: "" },
  { name: "Map", make: () => new Map([["a", 1]]), refusedOn: always, suffix: "" },
  { name: "Set", make: () => new Set([1]), refusedOn: always, suffix: "" },
  { name: "class instance", make: () => new Money(5), refusedOn: always, suffix: "" },
  { name: "lone surrogate", make: () => "a\uD800b", refusedOn: always, suffix: "" },
  { name: "symbol key", make: () => ({ [Symbol("k")]: 1, A: 1 }), refusedOn: always, suffix: "" },
  {
    name: "cycle",
    make: () => {
      const cyclic: Record<string, unknown> = { A: 1 }
      cyclic["self"] = cyclic
      return cyclic
    },
    refusedOn: always,
    suffix: ".self"
  },
  // eslint-disable-next-line no-sparse-arrays
  { name: "array hole", make: () => [1, , 3], refusedOn: always, suffix: "[1]" },
  { name: "undefined in a list", make: () => [1, undefined], refusedOn: always, suffix: "[1]" },
  // JSON.stringify throws on a bigint; the query string writes its digits
  { name: "bigint", make: () => 12345678901234567890n, refusedOn: (wire) => wire !== "query", suffix: "" },
  // JSON carries null; a batch query string cannot
  { name: "null", make: () => null, refusedOn: (wire) => wire !== "json", suffix: "" },
  // a batch reference resolves only inside a batch
  { name: "reference", make: () => Query.reference("result", "c0", "ID"), refusedOn: (wire) => wire !== "query", suffix: "" }
]

/** Values every wire carries: the control group (they must reach the portal). */
const goodValues: ReadonlyArray<() => unknown> = [() => "WON", () => 7, () => true, () => new Date(0), () => ["1", "2"]]

/** Spots to plant a value, as keys below the params (identifiers, so the expected path is plain). */
const sites: ReadonlyArray<ReadonlyArray<string | number>> = [
  ["filter", "ASSIGNED_BY_ID"],
  ["filter", "STAGE_ID"],
  ["filter", "LOGIC", 0, "TITLE"],
  ["fields", "TITLE"],
  ["fields", "UF_CRM_1", "VALUE"],
  ["order", "ID"]
]

const pathText = (prefix: string, site: ReadonlyArray<string | number>) =>
  site.reduce<string>((path, key) => (typeof key === "number" ? `${path}[${key}]` : `${path}.${key}`), prefix)

/** `{ filter: { ">ID": 0 }, select: ["ID"] }` with `value` planted at `site`. */
const paramsWith = (site: ReadonlyArray<string | number>, value: unknown): Record<string, unknown> => {
  const params: Record<string, unknown> = { filter: { ">ID": 0 }, select: ["ID", "TITLE"] }
  let node: Record<string | number, unknown> = params
  site.forEach((key, index) => {
    if (index === site.length - 1) {
      node[key] = value
      return
    }
    const next = site[index + 1]
    const existing = node[key]
    const child = existing !== undefined ? existing : typeof next === "number" ? [] : {}
    node[key] = child
    node = child as Record<string | number, unknown>
  })
  return params
}

type Verb = "call" | "callBulk" | "callEither" | "callRaw" | "callBatch" | "getByID" | "getAll" | "stream"
const verbWire: Readonly<Record<Verb, Wire>> = {
  call: "json",
  callRaw: "json",
  callBulk: "query",
  callEither: "query",
  callBatch: "query",
  getByID: "query",
  getAll: "both",
  stream: "both"
}
const strategies = [undefined, "auto", "offset", "keyset", "keysetBatch", "ranges"] as const

/** One call of a verb, with what must come of it. */
interface Case {
  readonly label: string
  readonly verb: Verb | "slow"
  readonly args: ReadonlyArray<unknown>
  /** `path` when the case must fail with a ValidationError at exactly this path; `any` for any ValidationError. */
  readonly expect: { readonly _tag: "refused"; readonly path?: string } | { readonly _tag: "wellFormed" }
}

/** A value planted in the params of a verb: refused (with its path) when the verb's wire cannot carry it. */
const plantedCase: fc.Arbitrary<Case> = fc
  .record({
    verb: fc.constantFrom<Verb>("call", "callBulk", "callEither", "callRaw", "callBatch", "getByID", "getAll", "stream"),
    site: fc.constantFrom(...sites),
    value: fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...badValues).map((bad) => ({ bad: bad as BadValue | undefined, make: bad.make })) },
      { weight: 1, arbitrary: fc.constantFrom(...goodValues).map((make) => ({ bad: undefined as BadValue | undefined, make })) }
    ),
    itemCount: fc.integer({ min: 1, max: 4 }),
    plantedAt: fc.nat(),
    strategy: fc.constantFrom(...strategies)
  })
  .map(({ itemCount, plantedAt, site, strategy, value, verb }): Case => {
    const wire = verbWire[verb]
    const params = paramsWith(site, value.make())
    const refused = value.bad !== undefined && value.bad.refusedOn(wire)
    const index = plantedAt % itemCount
    const plain = () => ({ ID: 1, filter: { ">ID": 0 } })
    let args: ReadonlyArray<unknown>
    let prefix: string
    switch (verb) {
      case "call":
        args = ["crm.deal.list", params]
        prefix = "params"
        break
      case "callRaw":
        args = ["crm.deal.list", params]
        prefix = "params"
        break
      case "callBulk":
      case "callEither":
        args = ["crm.deal.list", Array.from({ length: itemCount }, (_, at) => (at === index ? params : plain()))]
        prefix = `items[${index}]`
        break
      case "callBatch":
        args = [{ cmd: { c0: "crm.deal.list", c1: { method: "crm.deal.list", params } } }]
        prefix = "cmd.c1.params"
        break
      case "getByID": {
        const { select: _select, ...rest } = params
        args = ["crm.deal.get", [1, 2], { params: rest }]
        prefix = "params"
        break
      }
      case "getAll":
      case "stream":
        args = ["crm.deal.list", params, strategy === undefined ? {} : { strategy }]
        prefix = "params"
        break
    }
    return {
      label: `${verb} with ${value.bad?.name ?? "a good value"} at ${pathText(prefix, site)}`,
      verb,
      args,
      expect: refused ? { _tag: "refused", path: pathText(prefix, site) + value.bad!.suffix } : { _tag: "wellFormed" }
    }
  })

const anything = fc.constantFrom<unknown>(undefined, null, 5, -1, Number.NaN, "", "x", true, [], [1], {}, () => 1, Symbol("s"), 10n)
const badMethod = fc.constantFrom<unknown>(
  undefined,
  null,
  5,
  "",
  "  ",
  "batch",
  "BATCH",
  "https://x.bitrix24.com/rest/1/abc/crm.deal.list.json",
  "crm.deal.list.json?x",
  {},
  [],
  Symbol("m"),
  () => "crm.deal.list"
)
const badParams = fc.constantFrom<unknown>(null, 5, "ID=1", true, () => 1, Symbol("p"), new Map(), { select: "ID" }, { filter: "x" }, { order: ["ID"] }, { filter: {}, FILTER: {} })
// (a plain object is not bad here: call(method, {}) is a single call with empty params)
const badItems = fc.constantFrom<unknown>(null, 5, "x", [null], [5], [[1]], [{ ID: 1 }, "x"], [{ select: "ID" }])
const badListOptions = fc.constantFrom<unknown>(null, 5, "x", [], { strategy: "fast" }, { limit: -1 }, { limit: 1.5 }, { limit: Number.NaN }, { concurrency: 0 }, { concurrency: "many" })
const badBatch = fc.constantFrom<unknown>(
  undefined,
  null,
  5,
  "crm.deal.get?ID=1",
  {},
  { cmd: null },
  { cmd: 5 },
  { cmd: [] },
  { cmd: { c1: null } },
  { cmd: { c1: 5 } },
  { cmd: { c1: "" } },
  { cmd: { c1: {} } },
  { cmd: { c1: { method: 5 } } },
  { cmd: { c1: { method: "crm.deal.get", params: 5 } } },
  { cmd: { c1: { method: "crm.deal.get", params: { ID: 1 }, extra: 1 } } },
  { cmd: { 1: "crm.deal.get?ID=1" } },
  { halt: "yes", cmd: { c1: "crm.deal.get?ID=1" } },
  { cmd: { c1: "crm.deal.get?ID=1" }, hault: true },
  { cmd: Object.fromEntries(Array.from({ length: 51 }, (_, index) => [`c${index}`, "crm.deal.get?ID=1"])) }
)
const badIds = fc.constantFrom<unknown>(undefined, null, 5, "1", {}, [null], [""], [Number.NaN], [{}], [1, undefined], [true])
const badByIdOptions = fc.constantFrom<unknown>(null, 5, "ID", [], { idField: 5 }, { idField: "" }, { params: 5 }, { params: { ID: 1 } }, { extra: 1 })
const badSlowOptions = fc.constantFrom<unknown>(null, 5, "x", [], { maxConcurrent: -1 }, { maxConcurrent: 0 }, { requestsPerSecond: 0 }, { requestsPerSecond: Number.NaN }, { requestsPerSecond: "1" }, { rps: 1 })

/** Bad arguments in the shape of the call itself: each must be a ValidationError before any request. */
const shapeCase: fc.Arbitrary<Case> = fc.oneof(
  fc.record({ verb: fc.constantFrom<Verb>("call", "callRaw", "getAll", "stream"), method: badMethod }).map(
    ({ method, verb }): Case => ({ label: `${verb} with a bad method`, verb, args: [method, {}], expect: { _tag: "refused", path: "method" } })
  ),
  fc.record({ verb: fc.constantFrom<Verb>("callBulk", "callEither"), method: badMethod }).map(
    ({ method, verb }): Case => ({ label: `${verb} with a bad method`, verb, args: [method, [{ ID: 1 }]], expect: { _tag: "refused", path: "method" } })
  ),
  fc.record({ verb: fc.constantFrom<Verb>("call", "getAll", "stream"), params: badParams }).map(
    ({ params, verb }): Case => ({ label: `${verb} with bad params`, verb, args: ["crm.deal.list", params], expect: { _tag: "refused" } })
  ),
  fc.record({ params: fc.constantFrom<unknown>(null, 5, "ID=1", true, () => 1) }).map(
    ({ params }): Case => ({ label: "callRaw with bad params", verb: "callRaw", args: ["crm.deal.list", params], expect: { _tag: "refused", path: "params" } })
  ),
  fc.record({ verb: fc.constantFrom<Verb>("callBulk", "callEither"), items: badItems }).map(
    ({ items, verb }): Case => ({ label: `${verb} with bad items`, verb, args: ["crm.deal.get", items], expect: { _tag: "refused" } })
  ),
  fc.record({ verb: fc.constantFrom<Verb>("getAll", "stream"), options: badListOptions }).map(
    ({ options, verb }): Case => ({ label: `${verb} with bad options`, verb, args: ["crm.deal.list", {}, options], expect: { _tag: "refused" } })
  ),
  badBatch.map((batch): Case => ({ label: "callBatch with a bad batch", verb: "callBatch", args: [batch], expect: { _tag: "refused" } })),
  fc.record({ ids: badIds, options: fc.option(badByIdOptions, { nil: undefined }) }).map(
    ({ ids, options }): Case => ({ label: "getByID with bad ids or options", verb: "getByID", args: ["crm.deal.get", ids, options], expect: { _tag: "refused" } })
  ),
  badByIdOptions.map((options): Case => ({ label: "getByID with bad options", verb: "getByID", args: ["crm.deal.get", [1], options], expect: { _tag: "refused" } })),
  badSlowOptions.map((options): Case => ({ label: "slow with bad options", verb: "slow", args: [options], expect: { _tag: "refused" } })),
  anything.map((options): Case => ({ label: "getAll with any options", verb: "getAll", args: ["crm.deal.list", {}, options], expect: isOptionsLike(options) ? { _tag: "wellFormed" } : { _tag: "refused" } }))
)

/** `undefined` (the default) and `{}` are valid list options; every other value in `anything` is not. */
function isOptionsLike(value: unknown): boolean {
  return value === undefined || (typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0)
}

const verbCase = fc.oneof({ weight: 3, arbitrary: plantedCase }, { weight: 2, arbitrary: shapeCase })

// ----------------------------------------------------------------------------------------------------------------
// outcomes
// ----------------------------------------------------------------------------------------------------------------

type Outcome =
  | { readonly _tag: "ok" }
  | { readonly _tag: "failed"; readonly error: { readonly _tag?: unknown; readonly path?: unknown } }
  | { readonly _tag: "defect"; readonly cause: unknown }
  | { readonly _tag: "syncThrow"; readonly error: unknown }

/** The portal's own refusals: what a well-formed input may meet. */
const portalErrors = new Set(["BitrixApiError", "BulkCallError"])

interface Figures {
  cases: number
  refused: number
  wellFormed: number
  defects: number
  syncThrows: number
  requestsOnRefusal: number
}
const newFigures = (): Figures => ({ cases: 0, refused: 0, wellFormed: 0, defects: 0, syncThrows: 0, requestsOnRefusal: 0 })

/** Records the case in `figures`; returns a description of what went wrong, or undefined. */
const judge = (figures: Figures, testCase: Case, outcome: Outcome, requests: number): string | undefined => {
  figures.cases++
  if (outcome._tag === "defect") {
    figures.defects++
    return `${testCase.label}: a defect (${String(outcome.cause).slice(0, 200)})`
  }
  if (outcome._tag === "syncThrow") {
    figures.syncThrows++
    return `${testCase.label}: a synchronous throw (${String(outcome.error).slice(0, 200)})`
  }
  const tag = outcome._tag === "failed" ? outcome.error._tag : undefined
  if (tag === "ValidationError" && requests > 0) {
    figures.requestsOnRefusal++
    return `${testCase.label}: ${requests} request(s) reached the portal before the ValidationError`
  }
  if (testCase.expect._tag === "refused") {
    figures.refused++
    if (tag !== "ValidationError") return `${testCase.label}: expected a ValidationError, got ${outcome._tag} ${String(tag)}`
    const path = outcome._tag === "failed" ? outcome.error.path : undefined
    if (testCase.expect.path !== undefined && path !== testCase.expect.path) {
      return `${testCase.label}: the ValidationError names ${String(path)}, expected ${testCase.expect.path}`
    }
    return undefined
  }
  figures.wellFormed++
  // well-formed for the wire, but other checks may still refuse it (an order a keyset strategy cannot follow)
  if (outcome._tag === "ok" || tag === "ValidationError" || portalErrors.has(String(tag))) return undefined
  return `${testCase.label}: a well-formed input ended in ${String(tag)}`
}

// ----------------------------------------------------------------------------------------------------------------
// Effect API against the in-process fake portal
// ----------------------------------------------------------------------------------------------------------------

const noRetry = Schedule.recurs(0)

/** Runs one case through the Effect API; a synchronous throw while building the program is caught as such. */
const runEffectCase = <R>(runtime: ManagedRuntime.ManagedRuntime<R, never>, testCase: Case) => {
  const verbs = Bitrix as unknown as Record<string, (...args: ReadonlyArray<unknown>) => unknown>
  const apply = (name: string, args: ReadonlyArray<unknown>) => verbs[name]!(...args)
  let program: Effect.Effect<unknown, { readonly _tag?: unknown }, R>
  try {
    program = (() => {
      switch (testCase.verb) {
        case "callBulk":
          return apply("call", testCase.args)
        case "stream":
          return Stream.runDrain(apply("stream", testCase.args) as Stream.Stream<unknown, { readonly _tag?: unknown }, R>)
        case "slow":
          return Bitrix.slow(Bitrix.call("crm.deal.list", {}), testCase.args[0] as Parameters<typeof Bitrix.slow>[1])
        default:
          return apply(testCase.verb, testCase.args)
      }
    })() as Effect.Effect<unknown, { readonly _tag?: unknown }, R>
  } catch (error) {
    return Promise.resolve<Outcome>({ _tag: "syncThrow", error })
  }
  return runtime.runPromiseExit(program).then(
    (exit): Outcome =>
      Exit.isSuccess(exit)
        ? { _tag: "ok" }
        : Option.match(Cause.failureOption(exit.cause), {
            onNone: () => ({ _tag: "defect", cause: Cause.pretty(exit.cause) }),
            onSome: (error) => ({ _tag: "failed", error })
          })
  )
}

/** The transport beneath, with the method of every request it sends pushed to `sent`, and no retries. */
const recordingInto = (sent: Array<string>) =>
  Layer.effect(
    Transport.Transport,
    Effect.map(Transport.Transport, (inner) =>
      Transport.Transport.of({
        send: (method, params) => Effect.suspend(() => (sent.push(method), inner.send(method, params))),
        retry: noRetry
      })
    )
  )

describe("generated bad input: the Effect API", () => {
  const sent: Array<string> = []
  const recording = recordingInto(sent)
  const runtime = ManagedRuntime.make(
    Layer.merge(
      Bitrix.layerServices({ limits: "off" }),
      recording.pipe(Layer.provide(FakePortal.layer({ limits: "off", costModel: "zero", seed: { "crm.deal": 120 } })))
    ).pipe(Layer.orDie)
  )
  afterAll(() => runtime.dispose())

  it("500 cases over every verb: ValidationError before any request, or the portal's answer; no defect, no throw", async () => {
    const figures = newFigures()
    await fc.assert(
      fc.asyncProperty(verbCase, async (testCase) => {
        const before = sent.length
        const outcome = await runEffectCase(runtime, testCase)
        const problem = judge(figures, testCase, outcome, sent.length - before)
        if (problem !== undefined) throw new Error(problem)
      }),
      { numRuns: 500 }
    )
    console.log(`bad input, Effect API: ${JSON.stringify(figures)}`)
    expect(figures.defects).toBe(0)
    expect(figures.syncThrows).toBe(0)
    expect(figures.requestsOnRefusal).toBe(0)
    expect(figures.refused).toBeGreaterThan(250)
  }, 120_000)
})

describe("values the wire cannot carry, named cases (finding 2)", () => {
  const sent: Array<string> = []
  const recording = recordingInto(sent)
  const runtime = ManagedRuntime.make(
    Layer.merge(
      Bitrix.layerServices({ limits: "off" }),
      recording.pipe(Layer.provide(FakePortal.layer({ limits: "off", costModel: "zero", seed: { "crm.deal": 120 } })))
    ).pipe(Layer.orDie)
  )
  afterAll(() => runtime.dispose())

  const refusedBeforeAnyRequest = async (program: Effect.Effect<unknown, unknown, Bitrix.Services>, path: string) => {
    const before = sent.length
    const exit = await runtime.runPromiseExit(Effect.flip(program))
    expect(Exit.isSuccess(exit) ? exit.value : Cause.pretty(exit.cause)).toMatchObject({ _tag: "ValidationError", path })
    expect(sent.length - before).toBe(0)
  }
  const unset = undefined
  const filter = { filter: { ASSIGNED_BY_ID: unset } }

  it("an undefined filter value (an unset variable) is refused on every verb and strategy, not dropped", async () => {
    await refusedBeforeAnyRequest(Bitrix.call("crm.deal.list", filter), "params.filter.ASSIGNED_BY_ID")
    await refusedBeforeAnyRequest(Bitrix.callRaw("crm.deal.list", filter), "params.filter.ASSIGNED_BY_ID")
    await refusedBeforeAnyRequest(Bitrix.call("crm.deal.list", [{}, filter]), "items[1].filter.ASSIGNED_BY_ID")
    await refusedBeforeAnyRequest(Bitrix.callEither("crm.deal.list", [filter]), "items[0].filter.ASSIGNED_BY_ID")
    await refusedBeforeAnyRequest(Bitrix.callBatch({ cmd: { a: { method: "crm.deal.list", params: filter } } }), "cmd.a.params.filter.ASSIGNED_BY_ID")
    await refusedBeforeAnyRequest(Bitrix.getByID("crm.deal.get", [1], { params: filter }), "params.filter.ASSIGNED_BY_ID")
    for (const strategy of [undefined, "auto", "offset", "keyset", "keysetBatch", "ranges"] as const) {
      const options = strategy === undefined ? {} : { strategy }
      await refusedBeforeAnyRequest(Bitrix.getAll("crm.deal.list", filter, options), "params.filter.ASSIGNED_BY_ID")
      await refusedBeforeAnyRequest(Stream.runDrain(Bitrix.stream("crm.deal.list", filter, options)), "params.filter.ASSIGNED_BY_ID")
    }
  })

  it("functions, NaN, bigint and cycles are refused before any request, on reads and writes alike", async () => {
    const cyclic: Record<string, unknown> = { TITLE: "x" }
    cyclic["self"] = cyclic
    await refusedBeforeAnyRequest(Bitrix.call("crm.deal.list", { filter: { ID: () => 1 } }), "params.filter.ID")
    await refusedBeforeAnyRequest(Bitrix.call("crm.deal.list", { filter: { ">OPPORTUNITY": Number.NaN } }), 'params.filter[">OPPORTUNITY"]')
    // a bigint on a single read was retried for 25 s; a cycle on a write was an unknown outcome
    await refusedBeforeAnyRequest(Bitrix.call("crm.deal.get", { ID: 10n }), "params.ID")
    await refusedBeforeAnyRequest(Bitrix.call("crm.deal.add", { fields: cyclic }), "params.fields.self")
    await refusedBeforeAnyRequest(Bitrix.callRaw("crm.deal.add", { fields: { TITLE: Symbol("t") } }), "params.fields.TITLE")
    await refusedBeforeAnyRequest(Bitrix.getAll("crm.deal.list", { filter: { ID: [1, 10n] } }, { strategy: "keyset" }), "params.filter.ID[1]")
  })

  it("what the wire does carry still goes: null through callRaw and call, positional arrays through callRaw", async () => {
    const before = sent.length
    await runtime.runPromise(Bitrix.callRaw("crm.deal.list", { filter: { COMMENTS: null }, select: ["ID"] }))
    await runtime.runPromise(Effect.either(Bitrix.callRaw("task.elapseditem.getlist", [{ ID: "desc" }, { TASK_ID: 1 }, ["ID"]])))
    await runtime.runPromise(Effect.either(Bitrix.call("crm.deal.list", { filter: { COMMENTS: null } })))
    expect(sent.length - before).toBe(3)
  })
})

// ----------------------------------------------------------------------------------------------------------------
// Promise client against a loopback portal, and bad options at every entry point
// ----------------------------------------------------------------------------------------------------------------

type AnyClient = Record<string, (...args: ReadonlyArray<unknown>) => unknown>

/** Calls a Promise-client method; it must return a promise, never throw. */
const runPromiseCase = async (client: AnyClient, testCase: Case): Promise<Outcome> => {
  let returned: unknown
  try {
    switch (testCase.verb) {
      case "callBulk":
        returned = client["call"]!(...testCase.args)
        break
      case "stream":
        returned = client["getAll"]!(...testCase.args)
        break
      case "slow":
        returned = client["slow"]!(testCase.args[0], (slowClient: AnyClient) => slowClient["call"]!("crm.deal.list", {}))
        break
      default:
        returned = client[testCase.verb]!(...testCase.args)
    }
  } catch (error) {
    return { _tag: "syncThrow", error }
  }
  if (!(returned instanceof Promise)) return { _tag: "syncThrow", error: new Error("the method did not return a promise") }
  return returned.then(
    (): Outcome => ({ _tag: "ok" }),
    (error: unknown): Outcome =>
      typeof error === "object" && error !== null && "_tag" in error
        ? { _tag: "failed", error: error as { readonly _tag?: unknown } }
        : { _tag: "defect", cause: error }
  )
}

/** Bad values for each option, and bad option objects as a whole. */
const badOptionValues: Readonly<Record<string, ReadonlyArray<unknown>>> = {
  maxConcurrent: [-1, 0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "3", null],
  bucketHeadroom: [Number.NaN, -1, 0.5, "2", 1000, null],
  timeout: ["soon", -5, 0, {}, null, Number.NaN, [1, 2, 3]],
  batchSize: [0, 51, 2.5, "50", Number.NaN, null],
  limits: ["fast", 5, null, {}, { poolSize: 0, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }, { poolSize: 50 }, { poolSize: 50, requestsPerSecond: Number.NaN, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }],
  retry: [3, {}, "exponential", null, () => 1],
  webhook: [undefined, null, 5, "", "   ", "portal.bitrix24.com", "https://x.bitrix24.com/crm.deal.list"],
  oauth: [undefined, null, 5, {}, { restUrl: 5, accessToken: "a", refreshToken: "r", clientId: "c", clientSecret: "s" }, { restUrl: "https://x.bitrix24.com/rest/", accessToken: "a", refreshToken: "r", clientId: "", clientSecret: "s" }],
  progress: ["yes", 1, {}, null],
  maxconcurrent: [3],
  limit: [10]
}
const optionsCase = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...Object.keys(badOptionValues)).chain((key) => fc.constantFrom(...badOptionValues[key]!).map((value) => ({ key, value, whole: false }))) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, null, 5, "https://x.bitrix24.com/rest/1/abc/", [], {}).map((value) => ({ key: "", value, whole: true })) }
)
const optionsWith = (webhook: string, picked: { readonly key: string; readonly value: unknown; readonly whole: boolean }): unknown => {
  if (picked.whole) return picked.value
  // with oauth, the webhook goes: both given is its own error, and a bad oauth must be the one reported
  // default limits ("standard"), so a headroom of 1000 slots is a bucket with none left
  const base: Record<string, unknown> = picked.key === "oauth" ? {} : { webhook }
  return { ...base, [picked.key]: picked.value }
}
const entryPoints = ["createClient", "layer", "layerFetch", "layerServices", "layerConfig"] as const

/** Builds an entry point with `options`; the Effect layers are built (without requests) and must fail typed. */
const buildEntry = async (entry: (typeof entryPoints)[number], options: unknown, webhook: string): Promise<Outcome> => {
  const loose = Bitrix as unknown as Record<string, (options: unknown) => Layer.Layer<unknown, unknown, unknown>>
  try {
    if (entry === "createClient") {
      const client = createClient(options as Parameters<typeof createClient>[0])
      const outcome = await runPromiseCase(client as unknown as AnyClient, {
        label: "",
        verb: "call",
        args: ["crm.deal.list", {}],
        expect: { _tag: "wellFormed" }
      })
      await client.close()
      return outcome
    }
    const layer =
      entry === "layer"
        ? loose["layer"]!(options).pipe(Layer.provide(FetchHttpClient.layer))
        : entry === "layerConfig"
          ? loose["layerConfig"]!(options).pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["BITRIX24_WEBHOOK", webhook]])))))
          : loose[entry]!(options)
    const exit = await Effect.runPromiseExit(
      Effect.scoped(Layer.build(layer as Layer.Layer<unknown, unknown, never>)).pipe(Effect.flatMap(() => Effect.succeed("built")))
    )
    return Exit.isSuccess(exit)
      ? { _tag: "ok" }
      : Option.match(Cause.failureOption(exit.cause), {
          onNone: (): Outcome => ({ _tag: "defect", cause: Cause.pretty(exit.cause) }),
          onSome: (error): Outcome => ({ _tag: "failed", error: error as { readonly _tag?: unknown } })
        })
  } catch (error) {
    return { _tag: "syncThrow", error }
  }
}

/**
 * Whether the options are valid for `entry` after all: `layerServices` takes no connection, and `layerConfig` reads
 * the webhook from `BITRIX24_WEBHOOK` when none is given.
 */
const validFor = (entry: (typeof entryPoints)[number], picked: { readonly key: string; readonly value: unknown; readonly whole: boolean }): boolean => {
  if (picked.whole) {
    const empty = picked.value === undefined || (typeof picked.value === "object" && picked.value !== null && !Array.isArray(picked.value) && Object.keys(picked.value).length === 0)
    return empty && (entry === "layerServices" || entry === "layerConfig")
  }
  // layerServices refuses every connection setting: the connection belongs to the transport
  return false
}

describe("generated bad input: the Promise client and the options of every entry point", () => {
  let portal: RunningFakePortal
  beforeAll(async () => {
    portal = await startFakePortal({ seed: { "crm.deal": 120 }, limits: "off", costModel: "zero" })
  })
  afterAll(() => portal.close())

  it("300 cases over every method of the Promise client: rejected with a ValidationError or the portal's answer; never a throw", async () => {
    const client = createClient({ webhook: portal.webhookUrl, limits: "off", retry: noRetry })
    const figures = newFigures()
    try {
      await fc.assert(
        fc.asyncProperty(verbCase, async (testCase) => {
          const before = portal.stats().httpRequests
          const outcome = await runPromiseCase(client as unknown as AnyClient, testCase)
          const problem = judge(figures, testCase, outcome, portal.stats().httpRequests - before)
          if (problem !== undefined) throw new Error(problem)
        }),
        { numRuns: 300 }
      )
    } finally {
      await client.close()
    }
    console.log(`bad input, Promise client: ${JSON.stringify(figures)}`)
    expect(figures.defects).toBe(0)
    expect(figures.syncThrows).toBe(0)
    expect(figures.requestsOnRefusal).toBe(0)
  }, 120_000)

  it("200 cases of bad options at createClient and every layer: a ValidationError, never a throw or a request", async () => {
    const figures = newFigures()
    await fc.assert(
      fc.asyncProperty(optionsCase, fc.constantFrom(...entryPoints), async (picked, entry) => {
        const ignored = validFor(entry, picked)
        const testCase: Case = {
          label: `${entry} with ${picked.whole ? `options ${String(picked.value)}` : `${picked.key}: ${String(picked.value)}`}`,
          verb: "call",
          args: [],
          expect: ignored ? { _tag: "wellFormed" } : { _tag: "refused" }
        }
        const before = portal.stats().httpRequests
        const outcome = await buildEntry(entry, optionsWith(portal.webhookUrl, picked), portal.webhookUrl)
        const problem = judge(figures, testCase, outcome, portal.stats().httpRequests - before)
        if (problem !== undefined) throw new Error(problem)
      }),
      { numRuns: 200 }
    )
    console.log(`bad input, options: ${JSON.stringify(figures)}`)
    expect(figures.defects).toBe(0)
    expect(figures.syncThrows).toBe(0)
    expect(figures.requestsOnRefusal).toBe(0)
  }, 120_000)
})
