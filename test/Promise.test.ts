import { Effect, Schedule } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { createClient } from "../src/Promise.js"
import type * as ProgressReporter from "../src/ProgressReporter.js"
import type { FakePortalOptions } from "../src/testing/index.js"
import { type RunningFakePortal, startFakePortal } from "../src/testing/index.js"

const running: Array<{ close: () => Promise<void> }> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((resource) => resource.close()))
})

const portalWith = async (options: FakePortalOptions): Promise<RunningFakePortal> => {
  const portal = await startFakePortal({ costModel: "zero", ...options })
  running.push(portal)
  return portal
}

const clientOf = (options: Parameters<typeof createClient>[0]) => {
  const client = createClient(options)
  running.push(client)
  return client
}

const quickRetry = Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(5)))

describe("createClient over real HTTP", () => {
  it("exposes the verbs as Promises", async () => {
    const portal = await portalWith({ seed: { "crm.deal": 700 }, limits: "standard" })
    const client = clientOf({ webhook: portal.webhookUrl, limits: "standard" })
    const deals = await client.getAll("crm.deal.list", { select: ["ID"] })
    expect(deals.length).toBe(700)
    const ids = deals.slice(0, 60).map((deal) => (deal as { ID: string }).ID)
    const got = await client.call(
      "crm.deal.get",
      ids.map((ID) => ({ ID }))
    )
    expect(got.map((deal) => (deal as { ID: string }).ID)).toEqual(ids)
    const byId = await client.getByID("crm.deal.get", [ids[2]!, ids[0]!])
    expect([...byId.keys()]).toEqual([ids[2], ids[0]])
    const raw = await client.callRaw("crm.deal.list", { start: 0, select: ["ID"] })
    expect(raw.total).toBe(700)
    const batch = await client.callBatch({ cmd: { one: `crm.deal.get?ID=${ids[0]}` } })
    expect((batch["one"] as { ID: string }).ID).toBe(ids[0])
    const eithers = await client.callEither("crm.deal.get", [{ ID: ids[0] }, { ID: 999999 }])
    expect(eithers.map((outcome) => outcome.ok)).toEqual([true, false])
    const slowCount = await client.slow({ maxConcurrent: 1 }, (slowClient) =>
      slowClient.getAll("crm.deal.list", { select: ["ID"] }).then((rows) => rows.length)
    )
    expect(slowCount).toBe(700)
    expect(portal.stats().rejected503).toBe(0)
  })

  it("rejects with the typed errors, _tag intact", async () => {
    const portal = await portalWith({ seed: { "crm.deal": 10 } })
    const client = clientOf({ webhook: portal.webhookUrl, limits: "off" })
    await expect(client.call("crm.deal.get", [{ ID: 999999 }])).rejects.toMatchObject({
      _tag: "BulkCallError",
      refused: [{ index: 0, description: "Not found" }]
    })
    await expect(client.getAll("crm.deal.list", { select: "ID" } as never)).rejects.toMatchObject({ _tag: "ValidationError" })
    const wrong = clientOf({ webhook: portal.webhookUrl.replace(/\/rest\/1\/[^/]+\//, "/rest/1/wrongcode/"), limits: "off" })
    const error = await wrong.call("crm.deal.list", {}).catch((failure: unknown) => failure)
    expect(error).toMatchObject({ _tag: "BitrixApiError", code: "INVALID_CREDENTIALS", status: 401 })
    expect(String(error)).not.toContain("wrongcode")
  })

  it("HTML 502 pages and dropped connections on reads are retried; a hanging write has an unknown outcome", async () => {
    const portal = await portalWith({
      seed: { "crm.deal": 10 },
      limits: "off",
      faults: [
        { kind: "html502", onRequests: [1] },
        { kind: "drop", onRequests: [2] },
        { kind: "hang", onRequests: [4] }
      ]
    })
    const client = clientOf({ webhook: portal.webhookUrl, limits: "off", retry: quickRetry, timeout: "500 millis" })
    const deals = await client.call("crm.deal.list", { select: ["ID"], start: -1 })
    expect((deals as ReadonlyArray<unknown>).length).toBe(10)
    expect(portal.stats().faultsInjected).toMatchObject({ html502: 1, drop: 1 })
    await expect(client.call("crm.deal.add", [{ fields: { TITLE: "x" } }])).rejects.toMatchObject({
      _tag: "BulkCallError",
      unknown: [{ index: 0, cause: { _tag: "HttpError", reason: "Timeout" } }]
    })
    expect(portal.stats().requestsByMethod["batch"]).toBe(1)
  })

  it("one refresh for 100 concurrent calls that meet an expired token", async () => {
    const portal = await portalWith({
      seed: { "crm.deal": 5 },
      limits: "off",
      oauth: { clientId: "local.test.1", clientSecret: "s3cret" },
      faults: [{ kind: "expireToken", onRequests: [1] }]
    })
    const oauth = portal.oauth!
    let rotations = 0
    const client = clientOf({
      limits: "off",
      oauth: {
        restUrl: oauth.restUrl,
        tokenUrl: oauth.tokenUrl,
        clientId: oauth.clientId,
        clientSecret: oauth.clientSecret,
        accessToken: oauth.accessToken,
        refreshToken: oauth.refreshToken,
        onTokens: () => {
          rotations++
        }
      }
    })
    const results = await Promise.all(Array.from({ length: 100 }, () => client.call("user.current")))
    expect(results.length).toBe(100)
    expect(rotations).toBe(1)
  })

  it("takes the options of Bitrix.layer: explicit limits, batchSize, a progress reporter; getAll takes its options", async () => {
    const portal = await portalWith({ seed: { "crm.deal": 120 }, limits: "standard" })
    const events: Array<string> = []
    const reporter: ProgressReporter.Service = {
      start: (label, total) => Effect.sync(() => events.push(`start ${label} ${total}`)),
      advance: (label, n) => Effect.sync(() => events.push(`advance ${label} ${n}`)),
      setTotal: (label, total) => Effect.sync(() => events.push(`total ${label} ${total}`)),
      finish: (label) => Effect.sync(() => events.push(`finish ${label}`))
    }
    const client = clientOf({
      webhook: portal.webhookUrl,
      limits: { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 },
      batchSize: 10,
      progress: reporter
    })
    const first = await client.getAll("crm.deal.list", { select: ["ID"] }, { strategy: "offset", limit: 25 })
    expect(first.length).toBe(25)
    const ids = first.map((deal) => (deal as { ID: string }).ID)
    const before = portal.stats().requestsByMethod["batch"] ?? 0
    const deals = await client.call("crm.deal.get", ids.map((ID) => ({ ID })))
    expect(deals.length).toBe(25)
    // 25 items in batches of 10
    expect((portal.stats().requestsByMethod["batch"] ?? 0) - before).toBe(3)
    const advanced = events
      .filter((event) => event.startsWith("advance crm.deal.get"))
      .reduce((sum, event) => sum + Number(event.split(" ")[2]), 0)
    expect(events).toContain("start crm.deal.get 25")
    expect(advanced).toBe(25)
    expect(events).toContain("finish crm.deal.get")
  })

  it("bad input and bad options are rejected with a ValidationError before any request: no defect, no synchronous throw", async () => {
    const portal = await portalWith({ seed: { "crm.deal": 5 }, limits: "off" })
    const loose = (value: unknown) => value as never
    const rejection = (run: () => Promise<unknown>) => {
      let promise: Promise<unknown>
      try {
        promise = run()
      } catch (error) {
        return Promise.resolve({ thrownSynchronously: String(error) })
      }
      return promise.then(
        (value) => ({ resolved: value }),
        (error: unknown) => error
      )
    }
    // an unset environment variable, a timeout that is no duration, limits that make no sense
    const badOptions: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
      [{ webhook: process.env["EFFECT_BITRIX24_SURELY_UNSET"] }, "webhook"],
      [{ webhook: portal.webhookUrl, timeout: "soon" }, "options.timeout"],
      [{ webhook: portal.webhookUrl, maxConcurrent: -1 }, "options.maxConcurrent"],
      [{ webhook: portal.webhookUrl, bucketHeadroom: Number.NaN }, "options.bucketHeadroom"],
      [{ webhook: portal.webhookUrl, limits: { poolSize: 50 } }, "options.limits.requestsPerSecond"]
    ]
    for (const [options, path] of badOptions) {
      const client = clientOf(loose(options))
      expect(await rejection(() => client.call("crm.deal.list", {}))).toMatchObject({ _tag: "ValidationError", path })
    }
    const client = clientOf({ webhook: portal.webhookUrl, limits: "off" })
    let bodyRan = false
    const cases: ReadonlyArray<readonly [() => Promise<unknown>, string]> = [
      [() => client.callBatch(loose({})), "cmd"],
      [() => client.callBatch(loose(null)), "batch"],
      [() => client.slow(loose(null), async () => (bodyRan = true)), "slow"],
      [() => client.getAll("crm.deal.list", {}, loose(null)), "options"],
      [() => client.getByID("crm.deal.get", [1], loose(null)), "options"],
      [() => client.call("crm.deal.list", { filter: { ASSIGNED_BY_ID: undefined } }), "params.filter.ASSIGNED_BY_ID"],
      [() => client.call(loose(undefined)), "method"]
    ]
    for (const [run, path] of cases) {
      expect(await rejection(run)).toMatchObject({ _tag: "ValidationError", path })
    }
    expect(bodyRan).toBe(false)
    expect(portal.stats().httpRequests).toBe(0)
  })

  it("bad options reject every call with a ValidationError, _tag intact, without the secret", async () => {
    const pasted = createClient({ webhook: "https://x.bitrix24.com/rest/1/s3cretcode42/crm.deal.list.json" })
    running.push(pasted)
    const error = await pasted.call("crm.deal.list", {}).catch((failure: unknown) => failure)
    expect(error).toMatchObject({ _tag: "ValidationError", path: "webhook" })
    expect(`${String(error)} ${JSON.stringify(error)}`).not.toContain("s3cretcode42")
    const tooBig = createClient({ webhook: "https://x.bitrix24.com/rest/1/abc/", batchSize: 60 })
    running.push(tooBig)
    await expect(tooBig.call("crm.deal.get", [{ ID: 1 }])).rejects.toMatchObject({ _tag: "ValidationError", path: "options.batchSize" })
  })
})
