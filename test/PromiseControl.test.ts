/**
 * The Promise client's control of work in flight, against the fake portal over HTTP: `close()`, `{ signal }`,
 * `onProgress` and `client.stream`. No assertion on wall-clock speed: the portal's request counter says what was
 * sent, and a quiet period after a stop says nothing more is.
 */
import * as Effect from "effect/Effect"
import { afterEach, describe, expect, it } from "vitest"
import { type Client, createClient, type Progress } from "../src/Promise.js"
import * as ProgressReporter from "../src/ProgressReporter.js"
import type { FakePortalOptions, RunningFakePortal } from "../src/testing/index.js"
import { startFakePortal } from "../src/testing/index.js"

const running: Array<{ close: () => Promise<void> }> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((resource) => resource.close()))
})

const rowsSeeded = 5000

/** A portal slow enough that a list or bulk call has requests in flight for a while. */
const slowPortal = async (options: FakePortalOptions = {}): Promise<RunningFakePortal> => {
  const portal = await startFakePortal({ seed: { "crm.deal": rowsSeeded }, limits: "off", costModel: { baseMs: 20 }, ...options })
  running.push(portal)
  return portal
}

/** A client of `portal`; `maxConcurrent: 2` keeps few requests in flight, so a stop shows in the counts. */
const clientOf = (portal: RunningFakePortal, options: { readonly maxConcurrent?: number } = {}): Client => {
  const client = createClient({ webhook: portal.webhookUrl, limits: "off", ...options })
  running.push(client)
  return client
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * The requests the portal has received once the ones already sent have landed (the in-process portal reads a
 * request only when its engine is free, so requests sent before a stop may be counted a little after it): the
 * count once it stops moving, and the count after a further quiet period, which must be the same.
 */
const requestsAfterStop = async (portal: RunningFakePortal): Promise<{ readonly settled: number; readonly later: number }> => {
  let settled = portal.stats().httpRequests
  for (let round = 0; round < 40; round++) {
    await sleep(250)
    const now = portal.stats().httpRequests
    if (now === settled) break
    settled = now
  }
  await sleep(700)
  return { settled, later: portal.stats().httpRequests }
}

/** Requests `body` makes, from the portal's counter. */
const requestsOf = async (portal: RunningFakePortal, body: () => Promise<unknown>): Promise<number> => {
  const before = portal.stats().httpRequests
  await body()
  return portal.stats().httpRequests - before
}

const idOf = (row: unknown): string => (row as { readonly ID: string }).ID

/** Every row of the list as the engine serves it, read by a client of its own. */
const engineIds = async (portal: RunningFakePortal): Promise<ReadonlyArray<string>> => {
  const reference = clientOf(portal)
  return (await reference.getAll("crm.deal.list", { select: ["ID"] })).map(idOf)
}

const expectSubsetWithoutRepeats = (ids: ReadonlyArray<string>, all: ReadonlyArray<string>) => {
  expect(new Set(ids).size).toBe(ids.length)
  const known = new Set(all)
  expect(ids.filter((id) => !known.has(id))).toEqual([])
}

const caught = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    (value) => ({ resolved: value }),
    (error: unknown) => error
  )

describe("close()", () => {
  it("interrupts a getAll in flight: it rejects with ClientClosedError and no request follows close()", async () => {
    const portal = await slowPortal()
    const client = clientOf(portal, { maxConcurrent: 2 })
    let closing: Promise<void> | undefined
    const error = await caught(
      client.getAll("crm.deal.list", { select: ["ID"] }, {
        onProgress: ({ done }) => {
          if (done >= 100 && closing === undefined) closing = client.close()
        }
      })
    )
    expect(error).toMatchObject({ _tag: "ClientClosedError", method: "crm.deal.list" })
    await closing
    const { settled, later } = await requestsAfterStop(portal)
    expect(later).toBe(settled)
    // calls after close reject with the same error, without a request
    await expect(client.call("crm.deal.list", {})).rejects.toMatchObject({ _tag: "ClientClosedError" })
    await expect(client.call("crm.deal.get", [{ ID: 1 }])).rejects.toMatchObject({ _tag: "ClientClosedError" })
    await expect(client.getAll("crm.deal.list")).rejects.toMatchObject({ _tag: "ClientClosedError" })
    await expect(client.stream("crm.deal.list").next()).rejects.toMatchObject({ _tag: "ClientClosedError" })
    await expect(client.slow({}, (slowClient) => slowClient.call("crm.deal.list"))).rejects.toMatchObject({ _tag: "ClientClosedError" })
    await expect(client.close()).resolves.toBeUndefined()
    expect(portal.stats().httpRequests).toBe(later)
    // it stopped early: the whole list takes several times the requests sent
    const wholeList = await requestsOf(portal, async () => expect((await engineIds(portal)).length).toBe(rowsSeeded))
    expect(settled * 3).toBeLessThan(wholeList)
  })

  it("interrupts every verb in flight at once, open streams and bulk calls included", async () => {
    const portal = await slowPortal()
    const client = clientOf(portal)
    const items = Array.from({ length: 2000 }, (_, index) => ({ ID: index + 1 }))
    const stream = client.stream("crm.deal.list", { select: ["ID"] }, { strategy: "keyset" })
    expect(idOf((await stream.next()).value)).toBeDefined()
    const calls = [
      caught(client.getAll("crm.deal.list", { select: ["ID"] })),
      caught(client.call("crm.deal.get", items)),
      caught(client.callEither("crm.deal.get", items)),
      caught(client.getByID("crm.deal.get", [1, 2, 3])),
      caught(client.slow({ maxConcurrent: 1 }, (slowClient) => slowClient.getAll("crm.deal.list", { select: ["ID"] })))
    ]
    while (portal.stats().httpRequests < 10) await sleep(5)
    await client.close()
    const outcomes = await Promise.all(calls)
    // a call may have ended before close(); the others were stopped with the typed error
    for (const outcome of outcomes) {
      if (!(typeof outcome === "object" && outcome !== null && "resolved" in outcome)) {
        expect(outcome).toMatchObject({ _tag: "ClientClosedError" })
      }
    }
    expect(outcomes.filter((outcome) => (outcome as { _tag?: string })._tag === "ClientClosedError").length).toBeGreaterThanOrEqual(3)
    // the stream ends: the rows already received may still come, then the error, then done
    let failure: unknown
    for (;;) {
      const step = await stream.next().catch((error: unknown) => {
        failure = error
        return undefined
      })
      if (step === undefined || step.done === true) break
    }
    expect(failure === undefined || (failure as { _tag?: string })._tag === "ClientClosedError").toBe(true)
    const { settled, later } = await requestsAfterStop(portal)
    expect(later).toBe(settled)
  })
})

describe("{ signal }", () => {
  it("aborting a getAll rejects with AbortedError carrying the rows so far; no request follows", async () => {
    const portal = await slowPortal()
    const client = clientOf(portal, { maxConcurrent: 2 })
    const controller = new AbortController()
    const error = await caught(
      client.getAll("crm.deal.list", { select: ["ID"] }, {
        signal: controller.signal,
        onProgress: ({ done }) => {
          if (done >= 200) controller.abort("enough")
        }
      })
    )
    expect(error).toMatchObject({ _tag: "AbortedError", method: "crm.deal.list", reason: "enough" })
    const aborted = error as { readonly rows: ReadonlyArray<unknown>; readonly done: number }
    expect(aborted.rows.length).toBe(aborted.done)
    expect(aborted.done).toBeGreaterThanOrEqual(200)
    expect(aborted.done).toBeLessThan(rowsSeeded)
    const { settled, later } = await requestsAfterStop(portal)
    expect(later).toBe(settled)
    // the partial rows are the start of the list (rows come in ID order), each once
    const all = await engineIds(portal)
    const ids = aborted.rows.map(idOf)
    expectSubsetWithoutRepeats(ids, all)
    expect(ids).toEqual(all.slice(0, ids.length))
    // the client still works
    await expect(client.call("crm.deal.get", { ID: all[0] })).resolves.toMatchObject({ ID: all[0] })
  })

  it("aborting a bulk call stops its batches and reports the items done; an aborted signal sends nothing", async () => {
    const portal = await slowPortal()
    const client = clientOf(portal, { maxConcurrent: 2 })
    const items = Array.from({ length: 3000 }, (_, index) => ({ ID: index + 1 }))
    const controller = new AbortController()
    const error = await caught(
      client.call("crm.deal.get", items, {
        signal: controller.signal,
        onProgress: ({ done }) => {
          if (done > 0) controller.abort()
        }
      })
    )
    expect(error).toMatchObject({ _tag: "AbortedError", method: "crm.deal.get" })
    expect((error as { readonly done: number }).done).toBeGreaterThan(0)
    expect((error as { readonly done: number }).done).toBeLessThan(items.length)
    const { settled, later } = await requestsAfterStop(portal)
    expect(later).toBe(settled)
    // 2 batches in flight at once: far from the 60 batches of the whole call
    expect(settled).toBeLessThan(20)

    const before = portal.stats().httpRequests
    const done = AbortSignal.abort()
    for (const call of [
      client.call("crm.deal.list", {}, { signal: done }),
      client.call("crm.deal.get", items, { signal: done }),
      client.callEither("crm.deal.get", items, { signal: done }),
      client.callRaw("crm.deal.list", {}, { signal: done }),
      client.callBatch({ cmd: { a: "crm.deal.get?ID=1" } }, { signal: done }),
      client.getByID("crm.deal.get", [1, 2], { signal: done }),
      client.getAll("crm.deal.list", {}, { signal: done }),
      client.stream("crm.deal.list", {}, { signal: done }).next()
    ]) {
      await expect(call).rejects.toMatchObject({ _tag: "AbortedError", done: 0 })
    }
    expect(portal.stats().httpRequests).toBe(before)
  })

  it("a signal or onProgress of the wrong type is a ValidationError, never a synchronous throw", async () => {
    const portal = await slowPortal()
    const client = clientOf(portal)
    const before = portal.stats().httpRequests
    await expect(client.getAll("crm.deal.list", {}, { signal: "soon" } as never)).rejects.toMatchObject({
      _tag: "ValidationError",
      path: "options.signal"
    })
    await expect(client.call("crm.deal.get", [{ ID: 1 }], { onProgress: 5 } as never)).rejects.toMatchObject({
      _tag: "ValidationError",
      path: "options.onProgress"
    })
    await expect(client.call("crm.deal.get", { ID: 1 }, { onProgress: () => undefined } as never)).rejects.toMatchObject({
      _tag: "ValidationError",
      path: "options.onProgress"
    })
    await expect(client.getByID("crm.deal.get", [1], { idFeld: "ID" } as never)).rejects.toMatchObject({ _tag: "ValidationError" })
    await expect(client.stream("crm.deal.list", {}, { strategy: "fast" } as never).next()).rejects.toMatchObject({
      _tag: "ValidationError",
      path: "options.strategy"
    })
    expect(portal.stats().httpRequests).toBe(before)
  })
})

describe("onProgress", () => {
  it("getAll: done never decreases and ends at the engine's total", async () => {
    const portal = await slowPortal({ costModel: "zero" })
    const client = clientOf(portal)
    const seen: Array<Progress> = []
    const rows = await client.getAll("crm.deal.list", { select: ["ID"] }, { onProgress: (progress) => seen.push(progress) })
    expect(rows.length).toBe(rowsSeeded)
    expect(seen.length).toBeGreaterThan(1)
    for (const [index, progress] of seen.entries()) {
      if (index > 0) expect(progress.done).toBeGreaterThanOrEqual(seen[index - 1]!.done)
      expect(progress.rate).toBeGreaterThanOrEqual(0)
    }
    expect(seen.at(-1)).toMatchObject({ done: rowsSeeded, total: rowsSeeded })
  })

  it("bulk verbs: done counts items up to their number", async () => {
    const portal = await slowPortal({ costModel: "zero" })
    const client = clientOf(portal)
    const ids = (await engineIds(portal)).slice(0, 230)
    const items = ids.map((ID) => ({ ID }))
    const runs: Record<string, Array<Progress>> = { call: [], callEither: [], getByID: [] }
    await client.call("crm.deal.get", items, { onProgress: (progress) => runs["call"]!.push(progress) })
    await client.callEither("crm.deal.get", [...items, { ID: 999999 }], { onProgress: (progress) => runs["callEither"]!.push(progress) })
    await client.getByID("crm.deal.get", [ids[0]!, ids[1]!, ids[1]!, ids[2]!], { onProgress: (progress) => runs["getByID"]!.push(progress) })
    const totals: Record<string, number> = { call: 230, callEither: 231, getByID: 3 }
    for (const [verb, seen] of Object.entries(runs)) {
      expect(seen.length, verb).toBeGreaterThan(0)
      for (const [index, progress] of seen.entries()) if (index > 0) expect(progress.done).toBeGreaterThanOrEqual(seen[index - 1]!.done)
      expect(seen.at(-1), verb).toMatchObject({ done: totals[verb], total: totals[verb] })
    }
  })
})

describe("client.stream", () => {
  it("yields every row exactly once, with backpressure: a paused loop sends no requests", async () => {
    const portal = await slowPortal({ costModel: "zero" })
    const client = clientOf(portal)
    const ids: Array<string> = []
    const seen: Array<Progress> = []
    let paused: { readonly settled: number; readonly later: number } | undefined
    for await (const row of client.stream("crm.deal.list", { select: ["ID"] }, { strategy: "keyset", onProgress: (progress) => seen.push(progress) })) {
      ids.push(idOf(row))
      if (ids.length === 100) paused = await requestsAfterStop(portal)
    }
    expect(paused?.later).toBe(paused?.settled)
    expect(ids.length).toBe(rowsSeeded)
    expect(new Set(ids).size).toBe(rowsSeeded)
    expect(new Set(ids)).toEqual(new Set(await engineIds(portal)))
    expect(seen.at(-1)).toMatchObject({ done: rowsSeeded })
  })

  it("the default strategy yields every row exactly once too", async () => {
    const portal = await slowPortal()
    const client = clientOf(portal)
    const ids: Array<string> = []
    for await (const row of client.stream("crm.deal.list", { select: ["ID"] })) ids.push(idOf(row))
    expect(ids.length).toBe(rowsSeeded)
    expect(new Set(ids)).toEqual(new Set(await engineIds(portal)))
  })

  it("break after 100 rows stops the requests: far fewer than the whole list needs", async () => {
    const portal = await slowPortal({ costModel: "zero" })
    // the export's task is finished when its stream ends: here, when break interrupts it
    const finished: Array<string> = []
    const reporter = { ...ProgressReporter.silent, finish: (label: string) => Effect.sync(() => void finished.push(label)) }
    const client = createClient({ webhook: portal.webhookUrl, limits: "off", progress: reporter })
    running.push(client)
    const ids: Array<string> = []
    for await (const row of client.stream("crm.deal.list", { select: ["ID"] }, { strategy: "keyset" })) {
      ids.push(idOf(row))
      if (ids.length === 100) {
        expect(finished).toEqual([])
        break
      }
    }
    expect(finished).toEqual(["crm.deal.list"])
    const { settled, later } = await requestsAfterStop(portal)
    expect(later).toBe(settled)
    const before = portal.stats().httpRequests
    const whole = clientOf(portal)
    let count = 0
    for await (const _ of whole.stream("crm.deal.list", { select: ["ID"] }, { strategy: "keyset" })) count++
    expect(count).toBe(rowsSeeded)
    const wholeList = portal.stats().httpRequests - before
    // 100 rows are two pages of 50: a page or two read ahead at most, against 100 for the whole list
    expect(settled).toBeLessThanOrEqual(5)
    expect(settled * 10).toBeLessThan(wholeList)
  })

  it("aborting the signal stops the stream: the pending next() rejects with AbortedError and nothing more is sent", async () => {
    const portal = await slowPortal()
    const client = clientOf(portal)
    const controller = new AbortController()
    const iterator = client.stream("crm.deal.list", { select: ["ID"] }, { signal: controller.signal })
    let taken = 0
    const failure = await (async () => {
      try {
        for await (const _ of { [Symbol.asyncIterator]: () => iterator }) {
          taken++
          if (taken === 120) controller.abort()
        }
        return undefined
      } catch (error) {
        return error
      }
    })()
    expect(failure).toMatchObject({ _tag: "AbortedError", method: "crm.deal.list" })
    expect((failure as { readonly done: number }).done).toBeGreaterThanOrEqual(120)
    expect((failure as { readonly done: number }).done).toBeLessThan(rowsSeeded)
    const { settled, later } = await requestsAfterStop(portal)
    expect(later).toBe(settled)
    await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined })
  })
})
