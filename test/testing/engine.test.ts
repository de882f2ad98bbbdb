import { describe, expect, it } from "@effect/vitest"
import type { FakePortalOptions } from "../../src/testing/Options.js"
import { PortalEngine } from "../../src/testing/internal/engine.js"
import type { PortalOutcome, PortalRequest } from "../../src/testing/internal/types.js"
import { makeTestTable, type TestTable } from "./engineTestTable.js"

const hook = "/rest/1/secret/"

const setup = (options: FakePortalOptions = {}, table: TestTable = makeTestTable()) => {
  const engine = new PortalEngine({ costModel: "zero", webhook: { userId: 1, code: "secret" }, ...options }, 0, table)
  const send = (request: Partial<PortalRequest> & { readonly url: string }, nowMs = 0): PortalOutcome =>
    engine.handle({ httpMethod: "GET", headers: {}, body: "", ...request }, nowMs)
  const post = (url: string, body: unknown, nowMs = 0): PortalOutcome =>
    send({ httpMethod: "POST", url, headers: { "content-type": "application/json" }, body: JSON.stringify(body) }, nowMs)
  return { engine, table, send, post }
}

const response = (outcome: PortalOutcome) => {
  if (outcome._tag !== "Response") throw new Error(`expected a response, got ${outcome._tag}`)
  return outcome
}

const body = (outcome: PortalOutcome): Record<string, unknown> => JSON.parse(response(outcome).body) as Record<string, unknown>

describe("routing and webhook auth", () => {
  it("answers a webhook call with result, next, total and time, in PHP's key order", () => {
    const { send } = setup({ limits: "off" })
    const outcome = response(send({ url: `${hook}crm.deal.list?start=0` }))
    expect(outcome.status).toBe(200)
    expect(outcome.headers["content-type"]).toBe("application/json; charset=utf-8")
    const parsed = JSON.parse(outcome.body) as Record<string, unknown>
    expect(Object.keys(parsed)).toEqual(["result", "next", "total", "time"])
    expect(parsed["next"]).toBe(50)
    expect(parsed["total"]).toBe(120)
    expect((parsed["result"] as Array<unknown>)[0]).toEqual({ ID: "1", TITLE: "Deal 1" })
    expect(Object.keys(parsed["time"] as object)).toEqual(["start", "finish", "duration", "processing", "date_start", "date_finish"])
  })

  it("lower-cases the method and strips .json and a trailing slash", () => {
    const { send, table } = setup()
    expect(response(send({ url: `${hook}CRM.Deal.List.json/?start=100` })).status).toBe(200)
    expect(table.calls.map((call) => call.method)).toEqual(["crm.deal.list"])
    expect(body(send({ url: `${hook}crm.deal.list?start=100` }))["next"]).toBeUndefined()
  })

  it("answers .xml with Bitrix's XML", () => {
    const { send } = setup({ limits: "off" })
    const outcome = response(send({ url: `${hook}crm.deal.get.xml?ID=2` }))
    expect(outcome.headers["content-type"]).toBe("text/xml; charset=utf-8")
    expect(outcome.body).toMatch(/^<response><result><ID>2<\/ID><TITLE>Deal 2<\/TITLE><\/result><time><start>/)
  })

  it("refuses a wrong code or user with 401 INVALID_CREDENTIALS", () => {
    const { send } = setup()
    for (const url of ["/rest/1/wrong/crm.deal.list", "/rest/2/secret/crm.deal.list", "/rest/x/secret/crm.deal.list"]) {
      const outcome = response(send({ url }))
      expect(outcome.status).toBe(401)
      expect(JSON.parse(outcome.body)).toEqual({ error: "INVALID_CREDENTIALS", error_description: "Invalid request credentials" })
    }
  })

  it("answers an unknown method with 404 ERROR_METHOD_NOT_FOUND and no time", () => {
    const { send } = setup()
    const outcome = response(send({ url: `${hook}crm.nothing.list` }))
    expect(outcome.status).toBe(404)
    expect(JSON.parse(outcome.body)).toEqual({ error: "ERROR_METHOD_NOT_FOUND", error_description: "Method not found!" })
  })

  it("looks the method up before checking credentials, as CRestServer::process does", () => {
    const { send, engine } = setup({ oauth: { clientId: "a", clientSecret: "b", accessTokenLifetimeSeconds: 1 } })
    const notFound = { error: "ERROR_METHOD_NOT_FOUND", error_description: "Method not found!" }
    const urls = [
      // A webhook path missing a segment leaves slashes in the method name (b24pysdk PR #3).
      "/rest/secret/crm.deal.list",
      "/rest/1/secret/x/crm.deal.list",
      // Unknown methods are 404 whatever the credentials: none, a wrong webhook code, an unknown or expired token.
      "/rest/crm.nothing",
      "/rest/1/wrong/crm.nothing",
      "/rest/crm.nothing?auth=nope",
      `/rest/crm.nothing?auth=${engine.oauth!.accessToken}`
    ]
    for (const url of urls) {
      const outcome = response(send({ url }, 5_000))
      expect([url, outcome.status, JSON.parse(outcome.body)]).toEqual([url, 404, notFound])
    }
    // A known method still meets the credential checks.
    expect(body(send({ url: "/rest/1/wrong/crm.deal.list" }))["error"]).toBe("INVALID_CREDENTIALS")
    expect(body(send({ url: `/rest/crm.deal.list?auth=${engine.oauth!.accessToken}` }, 5_000))["error"]).toBe("expired_token")
    expect(body(send({ url: "/rest/batch" }))["error"]).toBe("NO_AUTH_FOUND")
  })

  it("answers /rest/{method} without credentials with NO_AUTH_FOUND and a bad token with invalid_token", () => {
    const { send } = setup()
    expect(body(send({ url: "/rest/crm.deal.list" }))).toEqual({ error: "NO_AUTH_FOUND", error_description: "Wrong authorization data" })
    const bad = response(send({ url: "/rest/crm.deal.list?auth=nope" }))
    expect(bad.status).toBe(401)
    expect(JSON.parse(bad.body)["error"]).toBe("invalid_token")
  })

  it("answers other paths with an nginx 404 page", () => {
    const { send } = setup()
    const outcome = response(send({ url: "/favicon.ico" }))
    expect(outcome.status).toBe(404)
    expect(outcome.body).toContain("<center>nginx</center>")
  })

  it("passes error extras through and turns an exception into 500 ERROR_CORE", () => {
    const { send } = setup()
    expect(body(send({ url: `${hook}fail` }))).toEqual({
      error: "ERROR_ARGUMENT",
      error_description: "The filter is not an array.",
      argument: "filter"
    })
    const boom = response(send({ url: `${hook}boom` }))
    expect(boom.status).toBe(500)
    expect(JSON.parse(boom.body)).toEqual({ error: "ERROR_CORE", error_description: "kaboom" })
    const notFound = response(send({ url: `${hook}crm.deal.get?ID=999` }))
    expect(notFound.status).toBe(400)
    expect(JSON.parse(notFound.body)).toEqual({ error: "", error_description: "Not found" })
  })

  it("never throws on garbage", () => {
    const { send } = setup()
    const outcome = response(send({ url: "%%%/rest/\u0000?a[[[=%&&=", httpMethod: "POST", body: "\u0000{", headers: { "content-type": "application/json" } }))
    expect(outcome.status).toBeGreaterThanOrEqual(400)
  })
})

describe("parameters", () => {
  const echo = (outcome: PortalOutcome): unknown => body(outcome)["result"]

  it("reads the query string with parse_str", () => {
    const { send } = setup()
    expect(echo(send({ url: `${hook}echo?filter%5B%3EID%5D=5&select[]=ID&a.b=1` }))).toEqual({
      filter: { ">ID": "5" },
      select: ["ID"],
      a_b: "1"
    })
  })

  it("reads a form body and merges it over the query", () => {
    const { send } = setup()
    const outcome = send({
      url: `${hook}echo?a=query&b=query`,
      httpMethod: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "a=form&c[]=1"
    })
    expect(echo(outcome)).toEqual({ a: "form", b: "query", c: ["1"] })
  })

  it("reads a JSON body (charset ignored) with body keys winning and types kept", () => {
    const { send } = setup()
    const outcome = send({
      url: `${hook}echo?a=query&b=query`,
      httpMethod: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body: '{"a":1,"filter":{">ID":0},"flag":true}'
    })
    expect(echo(outcome)).toEqual({ a: 1, b: "query", filter: { ">ID": 0 }, flag: true })
  })

  it("treats invalid JSON as no params and parse_strs other raw bodies", () => {
    const { send } = setup()
    const invalid = send({ url: `${hook}echo?a=1`, httpMethod: "POST", headers: { "content-type": "application/json" }, body: "{oops" })
    expect(echo(invalid)).toEqual({ a: "1" })
    const raw = send({ url: `${hook}echo`, httpMethod: "POST", headers: { "content-type": "text/plain" }, body: "x=1&y[z]=2" })
    expect(echo(raw)).toEqual({ x: "1", y: { z: "2" } })
    // Bitrix compares the type exactly: an upper-case JSON type is parse_str-ed.
    const upper = send({ url: `${hook}echo`, httpMethod: "POST", headers: { "content-type": "Application/JSON" }, body: '{"a":1}' })
    expect(echo(upper)).toEqual({ '{"a":1}': "" })
  })

  it("passes a JSON list body positionally", () => {
    const { send } = setup()
    const outcome = send({ url: `${hook}echo`, httpMethod: "POST", headers: { "content-type": "application/json" }, body: '[123,{"X":1}]' })
    expect(echo(outcome)).toEqual([123, { X: 1 }])
  })

  it("ignores a GET body", () => {
    const { send } = setup()
    expect(echo(send({ url: `${hook}echo?a=1`, body: "b=2", headers: { "content-type": "application/x-www-form-urlencoded" } }))).toEqual({ a: "1" })
  })
})

describe("OAuth", () => {
  const oauth = { clientId: "app.1", clientSecret: "s3cret", accessTokenLifetimeSeconds: 60 }

  it("accepts the initial token as auth, access_token or Bearer, and hides it from the method", () => {
    const { engine, send, table } = setup({ oauth })
    const token = engine.oauth!.accessToken
    expect(token).toMatch(/^[a-z0-9]{32}$/)
    expect(body(send({ url: `/rest/echo?auth=${token}&x=1` }))["result"]).toEqual({ x: "1" })
    expect(response(send({ url: `/rest/echo?access_token=${token}` })).status).toBe(200)
    const viaHeader = response(send({ url: "/rest/echo.json", headers: { authorization: `Bearer ${token}` } }))
    expect(viaHeader.status).toBe(200)
    expect(viaHeader.headers["x-bitrix-rest-application"]).toBe("app.1")
    expect(table.calls.every((call) => JSON.stringify(call.params).includes(token) === false)).toBe(true)
  })

  it("expires an access token after its lifetime of portal time", () => {
    const { engine, send } = setup({ oauth, timeScale: 10 })
    const token = engine.oauth!.accessToken
    expect(response(send({ url: `/rest/echo?auth=${token}` }, 5_999)).status).toBe(200)
    const expired = response(send({ url: `/rest/echo?auth=${token}` }, 6_000))
    expect(expired.status).toBe(401)
    expect(JSON.parse(expired.body)).toEqual({ error: "expired_token", error_description: "The access token provided has expired." })
  })

  it("rotates the refresh token on every refresh and refuses a spent one", () => {
    const { engine, send } = setup({ oauth })
    const first = engine.oauth!
    const refresh = (refreshToken: string, secret = "s3cret") =>
      send({ url: `/oauth/token/?grant_type=refresh_token&client_id=app.1&client_secret=${secret}&refresh_token=${refreshToken}` }, 1000)
    const answer = response(refresh(first.refreshToken))
    expect(answer.status).toBe(200)
    const pair = JSON.parse(answer.body) as Record<string, unknown>
    expect(Object.keys(pair)).toEqual([
      "access_token",
      "client_endpoint",
      "domain",
      "expires",
      "expires_in",
      "member_id",
      "refresh_token",
      "scope",
      "server_endpoint",
      "status",
      "user_id"
    ])
    expect(pair["refresh_token"]).not.toBe(first.refreshToken)
    expect(pair["access_token"]).not.toBe(first.accessToken)
    expect(pair["expires_in"]).toBe(60)
    expect(pair["client_endpoint"]).toBe("https://fake-portal.bitrix24.test/rest/")
    expect(response(send({ url: `/rest/echo?auth=${String(pair["access_token"])}` }, 1000)).status).toBe(200)

    const spent = response(refresh(first.refreshToken))
    expect(spent.status).toBe(400)
    expect(JSON.parse(spent.body)["error"]).toBe("invalid_grant")
    const wrongClient = response(refresh(String(pair["refresh_token"]), "nope"))
    expect(wrongClient.status).toBe(401)
    expect(JSON.parse(wrongClient.body)["error"]).toBe("invalid_client")
    // The wrong-client attempt did not spend the token.
    const second = JSON.parse(response(refresh(String(pair["refresh_token"]))).body) as Record<string, unknown>
    expect(second["refresh_token"]).not.toBe(pair["refresh_token"])
  })

  it("does not count token requests in the leaky bucket", () => {
    const { engine, send } = setup({ oauth, limits: { poolSize: 1, requestsPerSecond: 1, operatingLimitSeconds: 100, operatingWindowSeconds: 60 } })
    send({ url: "/oauth/token/?grant_type=refresh_token&client_id=app.1&client_secret=s3cret&refresh_token=x" })
    expect(response(send({ url: `/rest/echo?auth=${engine.oauth!.accessToken}` })).status).toBe(200)
  })
})

describe("414", () => {
  it("refuses a GET line longer than maxUrlLength with an HTML page, before anything else", () => {
    const { send, engine, table } = setup({ maxUrlLength: 100 })
    const query = "x=" + "a".repeat(100)
    const outcome = response(send({ url: `${hook}echo?${query}` }))
    expect(outcome.status).toBe(414)
    expect(outcome.headers["content-type"]).toBe("text/html")
    expect(outcome.body).toContain("414 Request-URI Too Large")
    expect(table.calls).toHaveLength(0)
    // The same parameters in a POST body are fine.
    expect(response(send({ url: `${hook}echo`, httpMethod: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: query })).status).toBe(200)
    expect(engine.stats().rejected414).toBe(1)
  })

  it("defaults to 8192 characters of path and query", () => {
    const { send } = setup()
    const base = `${hook}echo?x=`
    expect(response(send({ url: base + "a".repeat(8192 - base.length) })).status).toBe(200)
    expect(response(send({ url: base + "a".repeat(8193 - base.length) })).status).toBe(414)
    expect(response(send({ url: "https://portal.example" + base + "a".repeat(8192 - base.length) })).status).toBe(200)
  })
})

describe("faults", () => {
  const fault = (kind: NonNullable<FakePortalOptions["faults"]>[number]["kind"]) =>
    setup({ limits: "off", faults: [{ kind, onRequests: [2] }] })

  it("answers error500 with JSON, html502/html504 with HTML, error503 with QUERY_LIMIT_EXCEEDED, without running", () => {
    const cases = [
      ["error500", 500, '{"error":"INTERNAL_SERVER_ERROR","error_description":"Internal server error"}'],
      ["html502", 502, "502 Bad Gateway"],
      ["html504", 504, "504 Gateway Time-out"],
      ["error503", 503, '{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}']
    ] as const
    for (const [kind, status, text] of cases) {
      const { send, table, engine } = fault(kind)
      expect(response(send({ url: `${hook}crm.deal.add` })).status).toBe(200)
      const outcome = response(send({ url: `${hook}crm.deal.add` }))
      expect(outcome.status).toBe(status)
      expect(outcome.body).toContain(text)
      expect(table.writesPerformed()["crm.deal.add"]).toBe(1)
      expect(engine.stats().faultsInjected).toEqual({ [kind]: 1 })
      expect(response(send({ url: `${hook}crm.deal.add` })).status).toBe(200)
    }
  })

  it("drops the connection after a write ran, and hangs without running", () => {
    const dropped = fault("drop")
    dropped.send({ url: `${hook}crm.deal.add` })
    expect(dropped.send({ url: `${hook}crm.deal.add` })).toEqual({ _tag: "Drop", delayMs: 0 })
    expect(dropped.table.writesPerformed()["crm.deal.add"]).toBe(2)
    const hung = fault("hang")
    hung.send({ url: `${hook}crm.deal.add` })
    expect(hung.send({ url: `${hook}crm.deal.add` })).toEqual({ _tag: "Hang" })
    expect(hung.table.writesPerformed()["crm.deal.add"]).toBe(1)
    expect(hung.engine.stats().faultsInjected).toEqual({ hang: 1 })
  })

  it("truncates the JSON of a 200 with malformedJson", () => {
    const { send } = fault("malformedJson")
    send({ url: `${hook}crm.deal.list` })
    const outcome = response(send({ url: `${hook}crm.deal.list` }))
    expect(outcome.status).toBe(200)
    expect(() => JSON.parse(outcome.body)).toThrow()
    expect(outcome.body.startsWith('{"result":[{"ID":"1"')).toBe(true)
  })

  it("expires the presented token with expireToken", () => {
    const { send, engine } = setup({ oauth: { clientId: "a", clientSecret: "b" }, faults: [{ kind: "expireToken", onRequests: [2] }] })
    const url = `/rest/echo?auth=${engine.oauth!.accessToken}`
    expect(response(send({ url })).status).toBe(200)
    expect(JSON.parse(response(send({ url })).body)["error"]).toBe("expired_token")
    expect(JSON.parse(response(send({ url })).body)["error"]).toBe("expired_token")
    expect(engine.stats().faultsInjected).toEqual({ expireToken: 1 })
  })

  it("fires by seeded probability, the same way for the same seed, only for the listed methods", () => {
    const run = (seedNumber: number) => {
      const { send } = setup({ seedNumber, limits: "off", faults: [{ kind: "error500", probability: 0.3, methods: ["crm.deal.list"] }] })
      return Array.from({ length: 60 }, (_, i) => response(send({ url: `${hook}${i % 2 === 0 ? "crm.deal.list" : "echo"}` })).status)
    }
    const first = run(7)
    expect(run(7)).toEqual(first)
    expect(first.filter((_, i) => i % 2 === 1).every((status) => status === 200)).toBe(true)
    const failures = first.filter((status) => status === 500).length
    expect(failures).toBeGreaterThan(2)
    expect(failures).toBeLessThan(25)
    expect(run(8)).not.toEqual(first)
  })

  it("matches a batch by the methods of its commands", () => {
    const { post } = setup({ faults: [{ kind: "error500", onRequests: [1, 2], methods: ["crm.deal.add"] }] })
    expect(response(post(`${hook}batch`, { cmd: { a: "crm.deal.list" } })).status).toBe(200)
    expect(response(post(`${hook}batch`, { cmd: { a: "crm.deal.add" } })).status).toBe(500)
  })
})

describe("mutations and counters", () => {
  it("mutates an entity after every N list calls on it, batch commands included", () => {
    const { send, post, table } = setup({ mutations: [{ entity: "crm.deal", everyRequests: 3, add: 1 }] })
    send({ url: `${hook}crm.deal.list` })
    send({ url: `${hook}crm.deal.get?ID=1` })
    send({ url: `${hook}crm.deal.list` })
    expect(table.mutations).toHaveLength(0)
    post(`${hook}batch`, { cmd: { a: "crm.deal.list", b: "crm.deal.list", c: "crm.deal.list", d: "crm.deal.list" } })
    expect(table.mutations).toHaveLength(2)
  })

  it("counts requests, batch commands, rows, writes and portal time", () => {
    const { send, post, engine } = setup({ timeScale: 4 })
    send({ url: `${hook}crm.deal.list` })
    send({ url: `${hook}crm.deal.add` })
    post(`${hook}batch`, { cmd: { a: "crm.deal.list?start=50", b: "crm.deal.get?ID=1", c: "nope" } }, 2_500)
    const stats = engine.stats()
    expect(stats.httpRequests).toBe(3)
    expect(stats.requestsByMethod).toEqual({ "crm.deal.list": 1, "crm.deal.add": 1, batch: 1 })
    expect(stats.batchCommandsByMethod).toEqual({ "crm.deal.list": 1, "crm.deal.get": 1, nope: 1 })
    expect(stats.rowsServed).toBe(100)
    expect(stats.writesPerformed).toEqual({ "crm.deal.add": 1 })
    expect(stats.portalSecondsElapsed).toBe(10)
    expect(engine.stats(5_000).portalSecondsElapsed).toBe(20)
  })

  it("derives a webhook code from the seed number when none is given", () => {
    const a = new PortalEngine({ seedNumber: 3 }, 0, makeTestTable())
    const b = new PortalEngine({ seedNumber: 3 }, 0, makeTestTable())
    const c = new PortalEngine({ seedNumber: 4 }, 0, makeTestTable())
    expect(a.webhookPath).toMatch(/^\/rest\/1\/[a-z0-9]{16}\/$/)
    expect(b.webhookPath).toBe(a.webhookPath)
    expect(c.webhookPath).not.toBe(a.webhookPath)
  })
})

describe("limit presets", () => {
  const status = (outcome: PortalOutcome): number => response(outcome).status
  const timeOf = (outcome: PortalOutcome): Record<string, unknown> => body(outcome)["time"] as Record<string, unknown>

  it("defaults to standard: a bucket of 50 draining 2 per second, 480 s per method in 600 s", () => {
    const { send } = setup()
    for (let i = 0; i < 50; i++) expect(status(send({ url: `${hook}echo` }))).toBe(200)
    expect(status(send({ url: `${hook}echo` }))).toBe(503)
    expect(status(send({ url: `${hook}echo` }, 499))).toBe(503)
    expect(status(send({ url: `${hook}echo` }, 500))).toBe(200)
    expect(status(send({ url: `${hook}echo` }, 500))).toBe(503)
    // 100 s calls: checked before each, so the fifth runs at 400 s used and the sixth is refused at 500 s.
    const slow = `${hook}slow?ms=100000`
    for (let i = 1; i <= 5; i++) {
      const answer = send({ url: slow }, 60_000)
      expect(status(answer)).toBe(200)
      expect(timeOf(answer)["operating"]).toBe(100 * i)
      expect(timeOf(answer)["operating_reset_at"]).toBe(660)
    }
    expect(status(send({ url: slow }, 60_000))).toBe(429)
    expect(status(send({ url: slow }, 659_999))).toBe(429)
    expect(status(send({ url: slow }, 660_000))).toBe(200)
  })

  it("the bucket is kept per source address: a webhook and an app calling from one address share it, another address has its own", () => {
    const { send, engine } = setup({ oauth: { clientId: "app.1", clientSecret: "s3cret" } })
    const app = `/rest/echo?auth=${engine.oauth!.accessToken}`
    // 30 + 20 from one address fill the 50 slots, whichever credential sent them
    for (let i = 0; i < 30; i++) expect(status(send({ url: `${hook}echo`, clientIp: "10.0.0.1" }))).toBe(200)
    for (let i = 0; i < 20; i++) expect(status(send({ url: app, clientIp: "10.0.0.1" }))).toBe(200)
    expect(status(send({ url: app, clientIp: "10.0.0.1" }))).toBe(503)
    expect(status(send({ url: `${hook}echo`, clientIp: "10.0.0.1" }))).toBe(503)
    // the same credentials from another address: a bucket of their own
    for (let i = 0; i < 25; i++) expect(status(send({ url: `${hook}echo`, clientIp: "10.0.0.2" }))).toBe(200)
    for (let i = 0; i < 25; i++) expect(status(send({ url: app, clientIp: "10.0.0.2" }))).toBe(200)
    expect(status(send({ url: app, clientIp: "10.0.0.2" }))).toBe(503)
    expect(engine.stats().rejected503).toBe(3)
  })

  it("the operating budget is kept per credential and method: one webhook's spend does not block an app on the same address", () => {
    const { send, engine } = setup({ oauth: { clientId: "app.1", clientSecret: "s3cret" } })
    const slow = "slow?ms=100000"
    // 5 × 100 s: the webhook's sixth call of the method is refused (checked before each call, at 500 s used)
    for (let i = 0; i < 5; i++) expect(status(send({ url: `${hook}${slow}` }))).toBe(200)
    expect(status(send({ url: `${hook}${slow}` }))).toBe(429)
    // the app's budget for the same method is untouched, and the webhook's other methods too
    const answer = send({ url: `/rest/${slow}&auth=${engine.oauth!.accessToken}` })
    expect(status(answer)).toBe(200)
    expect(timeOf(answer)["operating"]).toBe(100)
    expect(status(send({ url: `${hook}echo` }))).toBe(200)
  })

  it("enterprise: a bucket of 250 draining 5 per second", () => {
    const { send } = setup({ limits: "enterprise" })
    for (let i = 0; i < 250; i++) expect(status(send({ url: `${hook}echo` }))).toBe(200)
    expect(status(send({ url: `${hook}echo` }))).toBe(503)
    expect(status(send({ url: `${hook}echo` }, 199))).toBe(503)
    expect(status(send({ url: `${hook}echo` }, 200))).toBe(200)
    expect(status(send({ url: `${hook}echo` }, 200))).toBe(503)
    for (let i = 0; i < 4; i++) expect(status(send({ url: `${hook}slow?ms=100000` }, 10_000))).toBe(200)
    expect(timeOf(send({ url: `${hook}slow?ms=100000` }, 10_000))["operating"]).toBe(500)
    expect(status(send({ url: `${hook}slow?ms=100000` }, 10_000))).toBe(429)
  })

  it("off: no bucket, no operating window, no operating fields", () => {
    const { send, engine } = setup({ limits: "off" })
    for (let i = 0; i < 300; i++) expect(status(send({ url: `${hook}echo` }))).toBe(200)
    for (let i = 0; i < 10; i++) expect(status(send({ url: `${hook}slow?ms=100000` }))).toBe(200)
    const time = timeOf(send({ url: `${hook}slow?ms=100000` }))
    expect(Object.keys(time)).toEqual(["start", "finish", "duration", "processing", "date_start", "date_finish"])
    expect(engine.stats().rejected503 + engine.stats().rejected429).toBe(0)
    // The counter still shows what the window would have counted.
    expect(engine.stats().operatingSecondsByMethod).toEqual({ slow: 1100 })
  })

  it("timeScale shortens the operating window by the same factor", () => {
    const { send } = setup({ timeScale: 10 })
    const slow = `${hook}slow?ms=100000`
    for (let i = 0; i < 5; i++) expect(status(send({ url: slow }))).toBe(200)
    expect(status(send({ url: slow }))).toBe(429)
    // 600 s of portal time is 60 s of real time at timeScale 10.
    expect(status(send({ url: slow }, 59_999))).toBe(429)
    expect(status(send({ url: slow }, 60_000))).toBe(200)
  })
})

describe("cost models", () => {
  /** `time.processing` of crm.deal.fields (a single read) and of a 5-row narrow keyset page, and the real wait. */
  const costs = (options: FakePortalOptions) => {
    const engine = new PortalEngine({ seed: { "crm.deal": 5 }, limits: "off", webhook: { userId: 1, code: "secret" }, ...options }, 0)
    const send = (url: string) => response(engine.handle({ httpMethod: "GET", url, headers: {}, body: "" }, 0))
    const fields = send(`${hook}crm.deal.fields`)
    const page = send(`${hook}crm.deal.list?select[]=ID&start=-1`)
    const processing = (outcome: ReturnType<typeof send>) => (JSON.parse(outcome.body) as { time: { processing: number } }).time.processing
    return { fields: processing(fields), page: processing(page), fieldsDelayMs: fields.delayMs, header: fields.headers["x-bitrix-rest-time"] }
  }

  it("defaults to base 5 ms + get 5 ms, and 0.1 ms per narrow row", () => {
    const model = costs({})
    expect(model.fields).toBeCloseTo(0.01, 9)
    expect(model.page).toBeCloseTo(0.0055, 9)
    expect(model.fieldsDelayMs).toBeCloseTo(10, 9)
    expect(costs({ costModel: "default" })).toEqual(model)
  })

  it("zero makes every call free and answers at once", () => {
    expect(costs({ costModel: "zero" })).toEqual({ fields: 0, page: 0, fieldsDelayMs: 0, header: "0.0000000000" })
  })

  it("takes explicit numbers, unset ones keeping their defaults, and waits cost / timeScale", () => {
    const model = costs({ costModel: { baseMs: 100, narrowRowMs: 10 }, timeScale: 4, reportTime: "portal" })
    expect(model.fields).toBeCloseTo(0.105, 9)
    expect(model.page).toBeCloseTo(0.15, 9)
    expect(model.fieldsDelayMs).toBeCloseTo(105 / 4, 9)
    expect(model.header).toBe("0.1050000000")
    // reported in real seconds by default: the 105 portal ms take 26.25 real ms at timeScale 4
    const real = costs({ costModel: { baseMs: 100, narrowRowMs: 10 }, timeScale: 4 })
    expect(real.fields).toBeCloseTo(0.02625, 9)
    expect(real.fieldsDelayMs).toBeCloseTo(26.25, 9)
    expect(real.header).toBe("0.0262500000")
  })

  /** `time.processing` of one 50-row narrow page of a 10,000-deal table, counted (`start=0`) or not (`start=-1`). */
  const countedPage = (costModel: NonNullable<FakePortalOptions["costModel"]>) => {
    const engine = new PortalEngine({ seed: { "crm.deal": 10_000 }, limits: "off", webhook: { userId: 1, code: "secret" }, costModel }, 0)
    const processing = (start: number) =>
      (JSON.parse(response(engine.handle({ httpMethod: "GET", url: `${hook}crm.deal.list?select[]=ID&start=${start}`, headers: {}, body: "" }, 0)).body) as {
        time: { processing: number }
      }).time.processing
    return { counted: processing(0), keyset: processing(-1) }
  }

  it("docsCount: the COUNT behind total at 20.9 µs per table row (the docs' 49.9 s on 2,387,743 leads), 40 times the default's 0.5 µs", () => {
    // base 5 ms + 50 narrow rows × 0.1 ms, plus the COUNT of 10,000 rows: 0.5 µs each by default, 20.9 µs with docsCount
    const standard = countedPage("default")
    expect(standard.counted).toBeCloseTo(0.015, 9)
    expect(standard.keyset).toBeCloseTo(0.01, 9)
    const docs = countedPage("docsCount")
    expect(docs.counted).toBeCloseTo(0.219, 9)
    // start=-1 runs no COUNT: the preset changes nothing else
    expect(docs.keyset).toBeCloseTo(0.01, 9)
  })
})

describe("reportTime: the clock of the answers' stamps and spans under timeScale", () => {
  const timeOf = (outcome: PortalOutcome): Record<string, unknown> => body(outcome)["time"] as Record<string, unknown>
  /** An engine started at real 1,000 s with timeScale 10; `send` at real ms. */
  const scaled = (reportTime?: "real" | "portal") => {
    const table = makeTestTable()
    const engine = new PortalEngine(
      {
        costModel: "zero",
        webhook: { userId: 1, code: "secret" },
        timeScale: 10,
        oauth: { clientId: "app.1", clientSecret: "s3cret" },
        ...(reportTime === undefined ? {} : { reportTime })
      },
      1_000_000,
      table
    )
    const send = (url: string, nowMs: number) => engine.handle({ httpMethod: "GET", url, headers: {}, body: "" }, nowMs)
    return { engine, table, send }
  }

  it("real (default): stamps are the real instants and spans real seconds, so the time block agrees with a wall clock", () => {
    const { send } = scaled()
    // 2 real s after the start; the call costs 100 portal s = 10 real s
    const answer = response(send(`${hook}slow?ms=100000`, 1_002_000))
    const time = timeOf(answer)
    expect(time["start"]).toBe(1002)
    expect(time["finish"]).toBe(1012)
    expect(time["duration"]).toBe(10)
    expect(time["processing"]).toBe(10)
    expect(time["date_start"]).toBe("1970-01-01T00:16:42+00:00")
    expect(time["date_finish"]).toBe("1970-01-01T00:16:52+00:00")
    expect(time["operating"]).toBe(10)
    // the bucket opened at portal 1,020 s expires 600 portal s later = 60 real s after its real 1,002 s
    expect(time["operating_reset_at"]).toBe(1062)
    expect(answer.headers["x-bitrix-rest-time"]).toBe("10.0000000000")
    // the answer still waits the cost in real time
    expect(answer.delayMs).toBe(10_000)
  })

  it("portal: stamps and spans in portal time, for a client on a clock running timeScale times faster", () => {
    const { send } = scaled("portal")
    const answer = response(send(`${hook}slow?ms=100000`, 1_002_000))
    const time = timeOf(answer)
    expect(time["start"]).toBe(1020)
    expect(time["finish"]).toBe(1120)
    expect(time["processing"]).toBe(100)
    expect(time["date_start"]).toBe("1970-01-01T00:17:00+00:00")
    expect(time["operating"]).toBe(100)
    expect(time["operating_reset_at"]).toBe(1620)
    expect(answer.headers["x-bitrix-rest-time"]).toBe("100.0000000000")
    expect(answer.delayMs).toBe(10_000)
  })

  it("a wall-clock client that waits until operating_reset_at is let in at that real second, not timeScale times later", () => {
    const { send } = scaled()
    // 5 × 100 portal s spend the 480 s budget: the sixth call is refused
    let resetAt = 0
    for (let i = 0; i < 5; i++) resetAt = Number(timeOf(send(`${hook}slow?ms=100000`, 1_000_000))["operating_reset_at"])
    expect(resetAt).toBe(1060)
    expect(response(send(`${hook}slow?ms=100000`, 1_000_000)).status).toBe(429)
    expect(response(send(`${hook}slow?ms=100000`, 1_059_999)).status).toBe(429)
    expect(response(send(`${hook}slow?ms=100000`, 1_060_000)).status).toBe(200)
  })

  it("rounds a fractional reset up to the next whole real second, so waiting until it is never early", () => {
    const { send } = scaled()
    // a bucket opened at real 1,000.05 s (portal 1,000.5 s) expires at real 1,060.05 s
    let resetAt = 0
    for (let i = 0; i < 5; i++) resetAt = Number(timeOf(send(`${hook}slow?ms=100000`, 1_000_050))["operating_reset_at"])
    expect(resetAt).toBe(1061)
    expect(response(send(`${hook}slow?ms=100000`, 1_060_049)).status).toBe(429)
    expect(response(send(`${hook}slow?ms=100000`, 1_061_000)).status).toBe(200)
  })

  it("a token's expires and expires_in, and rows written, are in the reported clock", () => {
    const refresh = (engine: PortalEngine, send: (url: string, nowMs: number) => PortalOutcome) =>
      body(
        send(
          `/oauth/token/?grant_type=refresh_token&client_id=app.1&client_secret=s3cret&refresh_token=${engine.oauth!.refreshToken}`,
          1_001_000
        )
      )
    const real = scaled()
    // refreshed 1 real s after the start: 3,600 portal s of life = 360 real s
    const realPair = refresh(real.engine, real.send)
    expect(realPair["expires_in"]).toBe(360)
    expect(realPair["expires"]).toBe(1361)
    real.send(`${hook}crm.deal.add?fields[TITLE]=x`, 1_003_000)
    expect(real.table.calls.at(-1)).toEqual({ method: "crm.deal.add", params: { fields: { TITLE: "x" } }, nowMs: 1_003_000 })

    const portal = scaled("portal")
    const portalPair = refresh(portal.engine, portal.send)
    expect(portalPair["expires_in"]).toBe(3600)
    expect(portalPair["expires"]).toBe(4610)
    portal.send(`${hook}crm.deal.add?fields[TITLE]=x`, 1_003_000)
    expect(portal.table.calls.at(-1)).toEqual({ method: "crm.deal.add", params: { fields: { TITLE: "x" } }, nowMs: 1_030_000 })
  })
})
