/**
 * What a bulk call stopped by its signal or by `close()` reports: one outcome per input item, as `BulkCallError`
 * does. Deterministic without clocks: the client sends one request at a time, the portal never answers its second
 * request (a `hang` fault), and the stop comes once the first batch is answered and the second is held. So one
 * batch succeeded, one is in flight (outcome unknown) and the rest were never sent (not run).
 */
import { afterEach, describe, expect, it } from "vitest"
import { createClient, type Client } from "../src/Promise.js"
import { type RunningFakePortal, startFakePortal } from "../src/testing/index.js"

const running: Array<{ close: () => Promise<void> }> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((resource) => resource.close()))
})

const seed = { "crm.deal": 200 }

/** A portal that holds its `held`-th request forever, and a client that sends one request at a time. */
const setUp = async (held: number): Promise<{ readonly portal: RunningFakePortal; readonly client: Client }> => {
  const portal = await startFakePortal({ seed, limits: "off", costModel: "zero", faults: [{ kind: "hang", onRequests: [held] }] })
  running.push(portal)
  const client = createClient({ webhook: portal.webhookUrl, limits: "off", maxConcurrent: 1 })
  running.push(client)
  return { portal, client }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Waits (without a deadline of its own: the test's timeout is the bound) until `condition` holds. */
const until = async (condition: () => boolean): Promise<void> => {
  while (!condition()) await sleep(5)
}

const caught = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    (value) => ({ resolved: value }),
    (error: unknown) => error
  )

interface Outcome {
  readonly _tag: "Succeeded" | "Refused" | "NotRun" | "Unknown"
  readonly index: number
  readonly commandLabel: string
  readonly result?: unknown
  readonly item?: unknown
  readonly reason?: string
  readonly cause?: { readonly _tag: string; readonly message: string }
}

interface Stopped {
  readonly _tag: string
  readonly method: string
  readonly done: number
  readonly outcomes: ReadonlyArray<Outcome>
  readonly partialResults: ReadonlyArray<unknown>
  readonly message: string
}

const idOf = (row: unknown): string => (row as { readonly ID: string }).ID

/**
 * The deals as the engine serves them, from a portal of the same seed without faults (the data is generated from the
 * seed): every row by ID, and the first 150 IDs.
 */
const engineDeals = async (): Promise<{ readonly ids: ReadonlyArray<number>; readonly rows: ReadonlyMap<string, unknown> }> => {
  const portal = await startFakePortal({ seed, limits: "off", costModel: "zero" })
  running.push(portal)
  const reference = createClient({ webhook: portal.webhookUrl, limits: "off" })
  running.push(reference)
  const list = await reference.getAll("crm.deal.list", { select: ["ID"] })
  const ids = list.map((row) => Number(idOf(row))).slice(0, 150)
  expect(ids).toHaveLength(150)
  const rows = await reference.getByID("crm.deal.get", ids)
  return { ids, rows: new Map([...rows].map(([id, row]) => [String(id), row])) }
}

/**
 * Checks that `outcomes` accounts for every position of `ids` in order, in blocks of 50 (one batch each): those
 * of the answered batch succeeded with the portal's rows, the held batch's are unknown, the others not run.
 */
const expectOneBatchEach = (
  rows: ReadonlyMap<string, unknown>,
  stopped: Stopped,
  ids: ReadonlyArray<number>,
  expected: { readonly succeeded: number; readonly unknown: number; readonly notRun: number }
) => {
  const { outcomes } = stopped
  expect(outcomes.map((outcome) => outcome.index)).toEqual(ids.map((_, index) => index))
  const count = (tag: Outcome["_tag"]) => outcomes.filter((outcome) => outcome._tag === tag).length
  expect({ succeeded: count("Succeeded"), unknown: count("Unknown"), notRun: count("NotRun"), refused: count("Refused") }).toEqual({ ...expected, refused: 0 })
  // a batch's items share its fate: each block of 50 distinct IDs has one tag
  const firstPosition = new Map<number, number>()
  ids.forEach((id, position) => firstPosition.set(id, firstPosition.get(id) ?? position))
  const distinct = [...firstPosition.keys()]
  for (let start = 0; start < distinct.length; start += 50) {
    const tags = new Set(distinct.slice(start, start + 50).map((id) => outcomes[firstPosition.get(id)!]!._tag))
    expect(tags.size).toBe(1)
  }
  // a repeated ID has the outcome of its first position
  ids.forEach((id, position) => expect(outcomes[position]!._tag).toBe(outcomes[firstPosition.get(id)!]!._tag))
  for (const [position, outcome] of outcomes.entries()) {
    if (outcome._tag === "Succeeded") {
      expect(outcome.result).toEqual(rows.get(String(ids[position]!)))
      expect(outcome.result).toBeDefined()
      expect(stopped.partialResults[position]).toEqual(outcome.result)
    } else {
      expect(stopped.partialResults[position]).toBeUndefined()
    }
    if (outcome._tag === "Unknown") expect(outcome.cause?.message).toMatch(/stopped while this item's request was in flight/)
    if (outcome._tag === "NotRun") expect(outcome.reason).toBe("the call was stopped before this item was sent")
  }
}

/** The portal's request count once it stops moving; it must stay put after a quiet period. */
const settledRequests = async (portal: RunningFakePortal): Promise<number> => {
  let settled = portal.stats().httpRequests
  for (;;) {
    await sleep(200)
    const now = portal.stats().httpRequests
    if (now === settled) return now
    settled = now
  }
}

describe("a stopped bulk call reports every item", () => {
  it("call(method, items) aborted: AbortedError with 50 succeeded (the portal's rows), 50 in flight unknown, 50 not run", async () => {
    const { portal, client } = await setUp(2)
    const { ids, rows } = await engineDeals()
    const controller = new AbortController()
    let done = 0
    const pending = caught(
      client.call(
        "crm.deal.get",
        ids.map((ID) => ({ ID })),
        { signal: controller.signal, onProgress: (progress) => void (done = progress.done) }
      )
    )
    // the first batch answered, the second held by the portal; the third waits for the one request slot
    await until(() => done === 50 && portal.stats().httpRequests === 2)
    controller.abort("enough")
    const error = (await pending) as Stopped
    expect(error).toMatchObject({ _tag: "AbortedError", method: "crm.deal.get", done: 50, reason: "enough" })
    expect(error.message).toContain("50 succeeded, 0 refused, 50 not run, 50 outcome unknown")
    expect(await settledRequests(portal)).toBe(2)
    expectOneBatchEach(rows, error, ids, { succeeded: 50, unknown: 50, notRun: 50 })
  })

  it("callEither closed by close(): ClientClosedError with the same accounting", async () => {
    const { portal, client } = await setUp(2)
    const { ids, rows } = await engineDeals()
    let done = 0
    const pending = caught(client.callEither("crm.deal.get", ids.map((ID) => ({ ID })), { onProgress: (progress) => void (done = progress.done) }))
    await until(() => done === 50 && portal.stats().httpRequests === 2)
    await client.close()
    const error = (await pending) as Stopped
    expect(error).toMatchObject({ _tag: "ClientClosedError", method: "crm.deal.get", done: 50 })
    expect(await settledRequests(portal)).toBe(2)
    expectOneBatchEach(rows, error, ids, { succeeded: 50, unknown: 50, notRun: 50 })
  })

  it("getByID aborted: outcomes by position in ids, a repeated ID at each of its positions", async () => {
    const { portal, client } = await setUp(2)
    const deals = await engineDeals()
    const ids = [...deals.ids, deals.ids[0]!, deals.ids[74]!, deals.ids[149]!, deals.ids[1]!]
    const controller = new AbortController()
    let done = 0
    const pending = caught(client.getByID("crm.deal.get", ids, { signal: controller.signal, onProgress: (progress) => void (done = progress.done) }))
    await until(() => done === 50 && portal.stats().httpRequests === 2)
    controller.abort()
    const error = (await pending) as Stopped
    expect(error).toMatchObject({ _tag: "AbortedError", method: "crm.deal.get", done: 50 })
    expect(error.outcomes).toHaveLength(ids.length)
    expect(await settledRequests(portal)).toBe(2)
    // positions 150..153 repeat IDs 1, 75, 150, 2: their blocks' fates, counted again
    const repeatedTags = [150, 151, 152, 153].map((position) => error.outcomes[position]!._tag)
    const succeeded = 50 + repeatedTags.filter((tag) => tag === "Succeeded").length
    const unknown = 50 + repeatedTags.filter((tag) => tag === "Unknown").length
    expectOneBatchEach(deals.rows, error, ids, { succeeded, unknown, notRun: ids.length - succeeded - unknown })
  })

  it("callBatch: its request in flight, every command unknown; still waiting for a slot, every command not run", async () => {
    const { portal, client } = await setUp(1)
    const cmd = { a: "crm.deal.get?ID=1", b: { method: "crm.deal.get", params: { ID: 2 } } }
    // held by the portal: the batch's one request is in flight
    const inFlight = new AbortController()
    const held = caught(client.callBatch({ cmd }, { signal: inFlight.signal }))
    await until(() => portal.stats().httpRequests === 1)
    // the only request slot is taken by the held batch: this one cannot be sent
    const waiting = new AbortController()
    const queued = caught(client.callBatch({ cmd }, { signal: waiting.signal }))
    waiting.abort()
    const notSent = (await queued) as Stopped
    expect(notSent).toMatchObject({ _tag: "AbortedError", method: "batch" })
    expect(notSent.outcomes.map(({ _tag, index, commandLabel }) => ({ _tag, index, commandLabel }))).toEqual([
      { _tag: "NotRun", index: 0, commandLabel: "a" },
      { _tag: "NotRun", index: 1, commandLabel: "b" }
    ])
    inFlight.abort()
    const unknown = (await held) as Stopped
    expect(unknown).toMatchObject({ _tag: "AbortedError", method: "batch" })
    expect(unknown.outcomes.map(({ _tag, index, commandLabel, item }) => ({ _tag, index, commandLabel, item }))).toEqual([
      { _tag: "Unknown", index: 0, commandLabel: "a", item: cmd.a },
      { _tag: "Unknown", index: 1, commandLabel: "b", item: cmd.b }
    ])
    expect(await settledRequests(portal)).toBe(1)
  })
})
