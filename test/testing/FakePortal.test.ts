import { HttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Layer, TestClock } from "effect"
import * as Transport from "../../src/Transport.js"
import * as FakePortal from "../../src/testing/FakePortal.js"
import type { FakePortalOptions } from "../../src/testing/Options.js"
import { PortalEngine } from "../../src/testing/internal/engine.js"
import { makeTrips } from "../../src/testing/internal/engineLimits.js"
import type { PortalRequest } from "../../src/testing/internal/types.js"
import { makeTestTable } from "./engineTestTable.js"

const hook = "/rest/1/secret/"
const limits = { poolSize: 5, requestsPerSecond: 2, operatingLimitSeconds: 10, operatingWindowSeconds: 60 }

/** A portal over the test table, its clock starting at the TestClock's now. */
const portalWith = (options: FakePortalOptions = {}) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    FakePortal.fromEngine(new PortalEngine({ costModel: "zero", limits, webhook: { userId: 1, code: "secret" }, ...options }, now, makeTestTable()))
  )

const get = (url: string, extra: Partial<PortalRequest> = {}): PortalRequest => ({ httpMethod: "GET", url, headers: {}, body: "", ...extra })

const postJson = (url: string, body: unknown): PortalRequest => ({
  httpMethod: "POST",
  url,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body)
})

/** Sends a request and moves the TestClock by `advanceMs` so its simulated server time passes. */
const call = (portal: FakePortal.Service, request: PortalRequest, advanceMs = 0) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(portal.handle(request))
    yield* TestClock.adjust(advanceMs)
    const response = yield* Fiber.join(fiber)
    return { status: response.status, body: JSON.parse(response.body) as Record<string, unknown> }
  })

const time = (body: Record<string, unknown>) => body["time"] as { operating: number; operating_reset_at: number }

describe("leaky bucket through the service", () => {
  it.effect("admits exactly poolSize at once, refuses the next, and one more per 1/rps s", () =>
    Effect.gen(function* () {
      const portal = yield* portalWith()
      for (let i = 0; i < 5; i++) expect((yield* call(portal, get(`${hook}crm.deal.get?ID=1`))).status).toBe(200)
      const refused = yield* call(portal, get(`${hook}crm.deal.get?ID=1`))
      expect(refused).toEqual({ status: 503, body: { error: "QUERY_LIMIT_EXCEEDED", error_description: "Too many requests" } })
      yield* TestClock.adjust("499 millis")
      expect((yield* call(portal, get(`${hook}crm.deal.get?ID=1`))).status).toBe(503)
      yield* TestClock.adjust("1 millis")
      expect((yield* call(portal, get(`${hook}crm.deal.get?ID=1`))).status).toBe(200)
      expect((yield* call(portal, get(`${hook}crm.deal.get?ID=1`))).status).toBe(503)
      // A client at exactly the drain rate never sees a 503.
      for (let i = 0; i < 20; i++) {
        yield* TestClock.adjust("500 millis")
        expect((yield* call(portal, get(`${hook}crm.deal.get?ID=1`))).status).toBe(200)
      }
      const stats = yield* portal.stats
      expect(stats.rejected503).toBe(3)
      expect(stats.portalSecondsElapsed).toBe(10.5)
    }))

  it.effect("keeps one bucket per client address, shared by every credential calling from it", () =>
    Effect.gen(function* () {
      const portal = yield* portalWith({ oauth: { clientId: "app", clientSecret: "s" } })
      for (let i = 0; i < 5; i++) yield* call(portal, get(`${hook}echo`))
      expect((yield* call(portal, get(`${hook}echo`))).status).toBe(503)
      expect((yield* call(portal, get(`${hook}echo`, { clientIp: "10.0.0.2" }))).status).toBe(200)
      // the app calls from the webhook's address: the same full bucket
      expect((yield* call(portal, get(`/rest/echo?auth=${portal.oauth!.accessToken}`))).status).toBe(503)
      expect((yield* call(portal, get(`/rest/echo?auth=${portal.oauth!.accessToken}`, { clientIp: "10.0.0.3" }))).status).toBe(200)
    }))

  it.effect("drains timeScale times faster and shortens the wait by timeScale", () =>
    Effect.gen(function* () {
      const portal = yield* portalWith({ timeScale: 10 })
      for (let i = 0; i < 5; i++) yield* call(portal, get(`${hook}echo`))
      yield* TestClock.adjust("50 millis")
      expect((yield* call(portal, get(`${hook}echo`))).status).toBe(200)
      expect((yield* call(portal, get(`${hook}echo`))).status).toBe(503)
      yield* TestClock.adjust("1 seconds")
      // One real second drained 20 requests' worth; the slow call costs 3 portal s = 300 ms of real time.
      const fiber = yield* Effect.fork(portal.handle(get(`${hook}slow?ms=3000`)))
      yield* TestClock.adjust("299 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(fiber)).status).toBe(200)
    }))
})

describe("operating time through the service", () => {
  it.effect("blocks a method over the limit with 429 and releases it when the oldest bucket expires", () =>
    Effect.gen(function* () {
      const portal = yield* portalWith({ limits: { ...limits, poolSize: 100 } })
      const slow = get(`${hook}slow?ms=3000`)
      const operating: Array<number> = []
      for (let i = 0; i < 4; i++) {
        const answer = yield* call(portal, slow, 3000)
        expect(answer.status).toBe(200)
        operating.push(time(answer.body).operating)
        expect(time(answer.body).operating_reset_at).toBe(60)
      }
      // Checked before the call: 9 s is not over 10, so the fourth call ran and took the sum to 12.
      expect(operating).toEqual([3, 6, 9, 12])
      const blocked = yield* call(portal, slow)
      expect(blocked).toEqual({
        status: 429,
        body: { error: "OPERATION_TIME_LIMIT", error_description: "Method is blocked due to operation time limit." }
      })
      // Other methods of the same webhook keep working.
      expect((yield* call(portal, get(`${hook}crm.deal.get?ID=1`))).status).toBe(200)
      // The calls at 0 s and 3 s share the first bucket (6 s each), which lives until 60 s.
      yield* TestClock.adjust(60_000 - 12_000 - 1)
      expect((yield* call(portal, slow)).status).toBe(429)
      yield* TestClock.adjust(1)
      const released = yield* call(portal, slow, 3000)
      expect(released.status).toBe(200)
      expect(time(released.body).operating).toBe(9)
      expect(time(released.body).operating_reset_at).toBe(66)
      const stats = yield* portal.stats
      expect(stats.rejected429).toBe(2)
      expect(stats.operatingSecondsByMethod).toEqual({ slow: 15 })
    }))

  it.effect("does not count calls of 0.1 s or less", () =>
    Effect.gen(function* () {
      const portal = yield* portalWith()
      const short = yield* call(portal, get(`${hook}slow?ms=100`), 100)
      expect(time(short.body).operating).toBe(0)
      const longer = yield* call(portal, get(`${hook}slow?ms=101`), 101)
      expect(time(longer.body).operating).toBeCloseTo(0.101)
      expect((yield* portal.stats).operatingSecondsByMethod).toEqual({ slow: 0.101 })
    }))

  it.effect("bills batch commands to their own methods by default", () =>
    Effect.gen(function* () {
      const portal = yield* portalWith()
      const batch = postJson(`${hook}batch`, { cmd: { a: "slow?ms=3000", b: "slow?ms=3000", c: "crm.deal.get?ID=1" } })
      const answer = yield* call(portal, batch, 6000)
      const result = answer.body["result"] as { result_time: Record<string, { operating: number }> }
      expect(time(answer.body).operating).toBe(0)
      expect(result.result_time["a"]!.operating).toBe(3)
      expect(result.result_time["b"]!.operating).toBe(6)
      expect(result.result_time["c"]!.operating).toBe(0)
      // Checked before each command: 6 s stored + 3 s of this batch is not over 10, so both run (sum 12)...
      const again = yield* call(portal, batch, 6000)
      expect((again.body["result"] as typeof result).result_time["b"]!.operating).toBe(12)
      // ...and in the next batch both are blocked inside a 200, while crm.deal.get still runs.
      const blocked = yield* call(portal, batch)
      expect(blocked.status).toBe(200)
      const third = blocked.body["result"] as { result: Record<string, unknown>; result_error: Record<string, unknown> }
      expect(Object.keys(third.result)).toEqual(["c"])
      const limitError = { error: "OPERATION_TIME_LIMIT", error_description: "Method is blocked due to operation time limit." }
      expect(third.result_error).toEqual({ a: limitError, b: limitError })
      const stats = yield* portal.stats
      expect(stats.operatingSecondsByMethod).toEqual({ slow: 12 })
      expect(stats.batchCommandsByMethod).toEqual({ slow: 4, "crm.deal.get": 3 })
      expect(stats.rejected429).toBe(2)
    }))

  it.effect("bills the batch itself with batchBilling 'batch', every sub-time carrying the batch's operating", () =>
    Effect.gen(function* () {
      const portal = yield* portalWith({ batchBilling: "batch" })
      const batch = postJson(`${hook}batch`, { cmd: { a: "slow?ms=3000", b: "slow?ms=3000" } })
      const answer = yield* call(portal, batch, 6000)
      const result = answer.body["result"] as { result_time: Record<string, { operating: number }> }
      expect(time(answer.body).operating).toBe(6)
      expect(result.result_time["a"]!.operating).toBe(6)
      expect(result.result_time["b"]!.operating).toBe(6)
      expect((yield* call(portal, batch, 6000)).status).toBe(200)
      // 12 s billed to `batch`: the next batch is refused whole; plain calls of `slow` are unaffected.
      expect((yield* call(portal, batch)).status).toBe(429)
      expect((yield* call(portal, get(`${hook}slow?ms=3000`), 3000)).status).toBe(200)
      expect((yield* portal.stats).operatingSecondsByMethod).toEqual({ batch: 12, slow: 3 })
    }))
})

describe("service behaviour", () => {
  it.effect("waits the simulated cost, fails a drop with PortalDropped and never answers a hang", () =>
    Effect.gen(function* () {
      const portal = yield* portalWith({ faults: [{ kind: "drop", onRequests: [2] }, { kind: "hang", onRequests: [3] }] })
      const first = yield* Effect.fork(portal.handle(get(`${hook}slow?ms=2000`)))
      yield* TestClock.adjust("1999 millis")
      expect(first.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(first)).status).toBe(200)
      const dropped = yield* Effect.fork(portal.handle(get(`${hook}crm.deal.add`)))
      yield* TestClock.adjust(0)
      expect(yield* Fiber.join(dropped).pipe(Effect.flip)).toBeInstanceOf(FakePortal.PortalDropped)
      const hung = yield* Effect.fork(portal.handle(get(`${hook}crm.deal.add`)))
      yield* TestClock.adjust("1 hours")
      expect(hung.unsafePoll()).toBeNull()
      yield* Fiber.interrupt(hung)
      expect((yield* portal.stats).writesPerformed).toEqual({ "crm.deal.add": 1 })
    }))
})

describe("latency: a network in the model", () => {
  const withLatency = (latency: NonNullable<FakePortalOptions["latency"]>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      FakePortal.fromEngine(
        new PortalEngine({ costModel: "zero", limits, webhook: { userId: 1, code: "secret" } }, now, makeTestTable()),
        "https://portal.example",
        { latency }
      )
    )

  it.effect("a request arrives half a round trip after it was sent, and its answer comes half a round trip after the server's time", () =>
    Effect.gen(function* () {
      const portal = yield* withLatency({ roundTripMs: 200 })
      const sentMs = yield* Clock.currentTimeMillis
      const fiber = yield* Effect.fork(portal.handle(get(`${hook}slow?ms=1000`)))
      yield* TestClock.adjust("1199 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const response = yield* Fiber.join(fiber)
      expect(response.status).toBe(200)
      const start = (JSON.parse(response.body) as { time: { start: number } }).time.start
      expect(start * 1000).toBe(sentMs + 100)
    }))

  it.effect("with jitter each leg is half the round trip plus a seeded 0..jitterMs/2, the same for a seed", () =>
    Effect.gen(function* () {
      const latency = { roundTripMs: 100, jitterMs: 80, seed: 9 }
      const trips = makeTrips(latency, 1)!
      const portal = yield* withLatency(latency)
      for (let index = 0; index < 5; index++) {
        const trip = trips()
        expect(trip.upMs).toBeGreaterThanOrEqual(50)
        expect(trip.upMs).toBeLessThanOrEqual(90)
        const sentMs = yield* Clock.currentTimeMillis
        const fiber = yield* Effect.fork(portal.handle(get(`${hook}echo`)))
        yield* TestClock.adjust(trip.upMs + trip.downMs - 1)
        expect(fiber.unsafePoll()).toBeNull()
        yield* TestClock.adjust(1)
        const response = yield* Fiber.join(fiber)
        expect((JSON.parse(response.body) as { time: { start: number } }).time.start * 1000).toBe(sentMs + trip.upMs)
      }
      expect(makeTrips(undefined, 1)).toBeUndefined()
    }))
})

describe("in-process HttpClient", () => {
  const clientLayer = (options: FakePortalOptions = {}) =>
    Layer.effect(HttpClient.HttpClient, Effect.map(FakePortal.FakePortal, FakePortal.makeHttpClient)).pipe(
      Layer.provideMerge(Layer.effect(FakePortal.FakePortal, portalWith(options)))
    )

  it.effect("carries URL params, JSON and form bodies, and headers to the portal", () =>
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const portal = yield* FakePortal.FakePortal
      const base = portal.webhookUrl
      expect(base).toBe("https://fake-portal.bitrix24.test/rest/1/secret/")
      const viaQuery = yield* client.get(`${base}echo`, { urlParams: { "filter[>ID]": "5", "select[]": "ID" } })
      expect(viaQuery.status).toBe(200)
      expect(viaQuery.headers["content-type"]).toBe("application/json; charset=utf-8")
      expect(((yield* viaQuery.json) as { result: unknown }).result).toEqual({ filter: { ">ID": "5" }, select: ["ID"] })
      const viaJson = yield* HttpClientRequest.post(`${base}echo`).pipe(HttpClientRequest.bodyUnsafeJson({ a: [1, 2] }), client.execute)
      expect(((yield* viaJson.json) as { result: unknown }).result).toEqual({ a: [1, 2] })
      const form = new FormData()
      form.append("x[y]", "1")
      const viaForm = yield* HttpClientRequest.post(`${base}echo`).pipe(HttpClientRequest.bodyFormData(form), client.execute)
      expect(((yield* viaForm.json) as { result: unknown }).result).toEqual({ x: { y: "1" } })
      const unauthorized = yield* client.get(`${portal.webhookUrl.replace("secret", "nope")}echo`)
      expect(unauthorized.status).toBe(401)
    }).pipe(Effect.provide(clientLayer())))

  it.effect("turns a dropped connection into a RequestError with reason Transport", () =>
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const portal = yield* FakePortal.FakePortal
      const exit = yield* Effect.exit(client.get(`${portal.webhookUrl}crm.deal.add`))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(client.get(`${portal.webhookUrl}crm.deal.add`))
      expect(error._tag).toBe("RequestError")
      expect(error.reason).toBe("Transport")
      expect((yield* portal.stats).writesPerformed).toEqual({ "crm.deal.add": 2 })
    }).pipe(Effect.provide(clientLayer({ faults: [{ kind: "drop", onRequests: [1, 2] }] }))))
})

describe("FakePortal.layer", () => {
  it.effect("gives the library's Transport talking to the portal over its webhook", () =>
    Effect.gen(function* () {
      const transport = yield* Transport.Transport
      const envelope = yield* transport.send("batch", { halt: 0, cmd: {} })
      expect(envelope.result).toEqual({ result: [], result_error: [], result_total: [], result_next: [], result_time: [] })
      const error = yield* Effect.flip(transport.send("no.such.method", {}))
      expect(error._tag).toBe("BitrixApiError")
      const stats = yield* (yield* FakePortal.FakePortal).stats
      expect(stats.requestsByMethod).toEqual({ batch: 1, "no.such.method": 1 })
    }).pipe(Effect.provide(FakePortal.layer({ limits: "off", costModel: "zero" }))))

  it.effect("authenticates with the OAuth app and survives an expired token by refreshing", () =>
    Effect.gen(function* () {
      const transport = yield* Transport.Transport
      const portal = yield* FakePortal.FakePortal
      yield* transport.send("batch", { cmd: {} })
      yield* transport.send("batch", { cmd: {} })
      const stats = yield* portal.stats
      expect(stats.faultsInjected).toEqual({ expireToken: 1 })
      expect(stats.requestsByMethod).toEqual({ batch: 3 })
      expect(stats.httpRequests).toBe(4)
    }).pipe(
      Effect.provide(
        FakePortal.layer(
          { limits: "off", costModel: "zero", oauth: { clientId: "app.1", clientSecret: "s" }, faults: [{ kind: "expireToken", onRequests: [2] }] },
          { auth: "oauth" }
        )
      )
    ))
})

describe("with the real method table", () => {
  it.effect("serves seeded rows over the in-process HttpClient, pages and keyset batches included", () =>
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const portal = yield* FakePortal.FakePortal
      const page = yield* client.get(`${portal.webhookUrl}crm.deal.list`, { urlParams: { start: "0", "order[ID]": "ASC", "select[]": "ID" } })
      const first = (yield* page.json) as { result: Array<{ ID: string }>; next: number; total: number; time: unknown }
      expect(first.result).toHaveLength(50)
      expect(first.next).toBe(50)
      expect(first.total).toBe(120)
      const keyset = (after: string) => `crm.deal.list?start=-1&order[ID]=ASC&select[]=ID&filter[>ID]=${after}`
      const batch = yield* HttpClientRequest.post(`${portal.webhookUrl}batch`).pipe(
        HttpClientRequest.bodyUnsafeJson({ halt: 0, cmd: { a: keyset("0"), b: keyset("$result[a][49][ID]"), c: keyset("$result[b][49][ID]") } }),
        client.execute
      )
      const maps = ((yield* batch.json) as { result: { result: Record<string, Array<{ ID: string }>>; result_next: unknown } }).result
      const ids = [...maps.result["a"]!, ...maps.result["b"]!, ...maps.result["c"]!].map((row) => Number(row.ID))
      expect(ids).toHaveLength(120)
      expect(new Set(ids).size).toBe(120)
      expect([...ids].sort((x, y) => x - y)).toEqual(ids)
      expect(maps.result_next).toEqual([])
      yield* TestClock.adjust("2 seconds")
      const stats = yield* portal.stats
      expect(stats.rowsServed).toBe(170)
      expect(stats.portalSecondsElapsed).toBe(2)
    }).pipe(Effect.provide(FakePortal.layerHttpClient({ seed: { "crm.deal": 120 }, costModel: "zero", limits: "off" }))))
})
