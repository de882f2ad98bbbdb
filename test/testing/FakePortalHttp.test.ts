import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { spawn } from "node:child_process"
import * as Net from "node:net"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import * as FakePortal from "../../src/testing/FakePortal.js"
import * as FakePortalHttp from "../../src/testing/FakePortalHttp.js"
import { startFakePortal } from "../../src/testing/index.js"
import { makeArrivalDelays } from "../../src/testing/internal/engineLimits.js"
import type { FakePortalOptions } from "../../src/testing/Options.js"
import { describeOnLayer } from "../support/liveLayer.js"

/** A response read whole: status, content type and the body as text and (when it parses) JSON. */
interface Reply {
  readonly status: number
  readonly contentType: string
  readonly text: string
  readonly json: unknown
}

const read = async (response: Response): Promise<Reply> => {
  const text = await response.text()
  let json: unknown = undefined
  try {
    json = JSON.parse(text)
  } catch {
    // Left undefined: an HTML page.
  }
  return { status: response.status, contentType: response.headers.get("content-type") ?? "", text, json }
}

const send = (url: string, init?: RequestInit): Effect.Effect<Reply> => Effect.promise(() => fetch(url, init).then(read))

/** A fetch that may fail at the transport level (dropped or aborted connection). */
const attempt = (url: string, init?: RequestInit): Effect.Effect<Reply, unknown> =>
  Effect.tryPromise({ try: () => fetch(url, init).then(read), catch: (error) => error })

const field = (json: unknown, key: string): unknown =>
  typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>)[key] : undefined

const rows = (json: unknown): ReadonlyArray<Record<string, unknown>> => {
  const result = field(json, "result")
  assert(Array.isArray(result), `result is not a list: ${JSON.stringify(json)}`)
  return result as ReadonlyArray<Record<string, unknown>>
}

const oauthApp = { clientId: "local.test0000000000.00000001", clientSecret: "secret-of-the-test-app" }

const basic: FakePortalOptions = { seed: { "crm.deal": 120, "crm.lead": 10 }, oauth: oauthApp }

describeOnLayer(FakePortalHttp.layer(basic), "FakePortalHttp over real HTTP", (it) => {
  it.effect("serves on loopback with a webhook URL under the base URL", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      expect(server.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(server.webhookUrl.startsWith(`${server.baseUrl}/rest/1/`)).toBe(true)
      expect(server.oauth?.tokenUrl).toBe(`${server.baseUrl}/oauth/token/`)
      expect(server.oauth?.restUrl).toBe(`${server.baseUrl}/rest/`)
      // The in-process view shares the engine and the address.
      const portal = yield* FakePortal.FakePortal
      expect(portal.webhookUrl).toBe(server.webhookUrl)
    }))

  it.effect("answers a list page GET with PHP-bracket query parameters", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      const reply = yield* send(
        `${server.webhookUrl}crm.deal.list.json?filter[>ID]=0&order[ID]=ASC&select[]=ID&select[]=TITLE&start=50`
      )
      expect(reply.status).toBe(200)
      expect(reply.contentType).toMatch(/^application\/json/)
      const page = rows(reply.json)
      expect(page).toHaveLength(50)
      expect(Object.keys(page[0]!).sort()).toEqual(["ID", "TITLE"])
      expect(field(reply.json, "next")).toBe(100)
      expect(field(reply.json, "total")).toBe(120)
      const ids = page.map((row) => Number(row["ID"]))
      expect([...ids].sort((a, b) => a - b)).toEqual(ids)
    }))

  it.effect("reads percent-encoded brackets the same way", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      const reply = yield* send(`${server.webhookUrl}crm.deal.list?select%5B0%5D=ID&order%5BID%5D=DESC&start=0`)
      const page = rows(reply.json)
      expect(Object.keys(page[0]!)).toEqual(["ID"])
      expect(Number(page[0]!["ID"])).toBeGreaterThan(Number(page[1]!["ID"]))
    }))

  it.effect("answers a JSON POST, with start=-1 giving no next and no count", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      const reply = yield* send(`${server.webhookUrl}crm.deal.list`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ filter: { ">ID": 0 }, order: { ID: "ASC" }, select: ["ID"], start: -1 })
      })
      expect(reply.status).toBe(200)
      expect(rows(reply.json)).toHaveLength(50)
      expect(field(reply.json, "next")).toBeUndefined()
      expect(field(reply.json, "total") ?? 0).toBe(0)
    }))

  it.effect("answers a form POST", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      const reply = yield* send(`${server.webhookUrl}crm.deal.list.json`, {
        method: "POST",
        body: new URLSearchParams({ "select[0]": "ID", "order[ID]": "ASC", start: "100" })
      })
      expect(reply.status).toBe(200)
      expect(rows(reply.json)).toHaveLength(20)
      expect(field(reply.json, "next")).toBeUndefined()
      expect(field(reply.json, "total")).toBe(120)
    }))

  it.effect("chains keyset pages inside one batch with $result[...][49][ID]", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      const reply = yield* send(`${server.webhookUrl}batch`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          halt: 0,
          cmd: {
            p0: "crm.deal.list?filter[>ID]=0&order[ID]=ASC&select[0]=ID&start=-1",
            p1: "crm.deal.list?filter[>ID]=$result[p0][49][ID]&order[ID]=ASC&select[0]=ID&start=-1"
          }
        })
      })
      expect(reply.status).toBe(200)
      const result = field(field(reply.json, "result"), "result") as Record<string, ReadonlyArray<{ ID: string }>>
      expect(result["p0"]).toHaveLength(50)
      expect(result["p1"]).toHaveLength(50)
      expect(Number(result["p1"]![0]!.ID)).toBeGreaterThan(Number(result["p0"]![49]!.ID))
    }))

  it.effect("answers a GET longer than 8 KB with nginx's 414 HTML page", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      const before = (yield* server.stats).rejected414
      const reply = yield* send(`${server.webhookUrl}crm.deal.list?filter[TITLE]=${"x".repeat(9000)}`)
      expect(reply.status).toBe(414)
      expect(reply.contentType).toMatch(/^text\/html/)
      expect(reply.text).toContain("414 Request-URI Too Large")
      expect((yield* server.stats).rejected414).toBe(before + 1)
      // The same parameters in a POST body are fine.
      const post = yield* send(`${server.webhookUrl}crm.deal.list`, {
        method: "POST",
        body: new URLSearchParams({ "filter[TITLE]": "x".repeat(9000) })
      })
      expect(post.status).toBe(200)
    }))

  it.effect("answers garbage, unknown methods and a wrong webhook with the portal's JSON errors, and stays up", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      // Invalid JSON silently becomes "no params", so crm.deal.get misses its ID.
      const garbage = yield* send(`${server.webhookUrl}crm.deal.get`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{\"ID\": 1,,, \u0000 not json"
      })
      expect(garbage.status).toBe(400)
      expect(garbage.json).toEqual({ error: "", error_description: "ID is not defined or invalid." })

      const binary = yield* send(`${server.webhookUrl}crm.deal.get`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: new Uint8Array([0xff, 0xfe, 0x00, 0x26, 0x3d, 0x5b])
      })
      expect(field(binary.json, "error_description")).toBe("ID is not defined or invalid.")

      const unknown = yield* send(`${server.webhookUrl}crm.nothing.here`)
      expect(unknown.status).toBe(404)
      expect(unknown.json).toEqual({ error: "ERROR_METHOD_NOT_FOUND", error_description: "Method not found!" })

      const wrongCode = yield* send(server.webhookUrl.replace(/\/rest\/1\/[^/]+\//, "/rest/1/wrongcode/") + "crm.deal.list")
      expect(wrongCode.status).toBe(401)
      expect(wrongCode.json).toEqual({ error: "INVALID_CREDENTIALS", error_description: "Invalid request credentials" })

      // Filters, orders and selects of the wrong type get each method family's own error (or are ignored).
      const classicFilter = yield* send(`${server.webhookUrl}crm.deal.list?filter=STAGE_ID`)
      expect(classicFilter.status).toBe(400)
      expect(classicFilter.json).toEqual({ error: "", error_description: "Parameter 'filter' must be array." })
      const d7Filter = yield* send(`${server.webhookUrl}crm.item.list`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ entityTypeId: 2, filter: 5 })
      })
      expect(d7Filter.status).toBe(400)
      expect(d7Filter.json).toEqual({ error: "ERROR_ARGUMENT", error_description: "The filter is not an array.", argument: "filter" })
      const badOrder = yield* send(`${server.webhookUrl}crm.deal.list?order[ID]=SIDEWAYS`)
      expect(badOrder.status).toBe(400)
      expect(field(badOrder.json, "error_description")).toBe("Order direction should be one of {ASC|DESC}")
      const oddValues = yield* send(`${server.webhookUrl}crm.deal.list`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ filter: { ">ID": { nested: [1] }, "@ID": "5" }, select: { a: { b: 1 } }, start: "abc" })
      })
      expect(oddValues.status).toBe(200)
      const oddBatch = yield* send(`${server.webhookUrl}batch`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ halt: { a: 1 }, cmd: { a: "crm.deal.list?filter=$result[", b: "", c: 5 } })
      })
      expect(oddBatch.status).toBe(200)
      expect(Object.keys(field(field(oddBatch.json, "result"), "result_error") as object)).toEqual(["a"])

      const alive = yield* send(`${server.webhookUrl}crm.deal.get?ID=1`)
      expect(alive.status).toBe(200)
      expect(field(field(alive.json, "result"), "ID")).toBe("1")
    }))

  it.effect("refreshes OAuth tokens over HTTP, rotating the refresh token", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      const app = server.oauth
      assert(app !== undefined)
      const first = yield* send(`${app.restUrl}crm.deal.list.json?select[]=ID&auth=${app.accessToken}`)
      expect(first.status).toBe(200)

      const refreshUrl = (refreshToken: string) =>
        `${app.tokenUrl}?grant_type=refresh_token&client_id=${app.clientId}&client_secret=${app.clientSecret}&refresh_token=${refreshToken}`
      const refreshed = yield* send(refreshUrl(app.refreshToken))
      expect(refreshed.status).toBe(200)
      const accessToken = field(refreshed.json, "access_token")
      const refreshToken = field(refreshed.json, "refresh_token")
      assert(typeof accessToken === "string" && typeof refreshToken === "string")
      expect(accessToken).not.toBe(app.accessToken)
      expect(refreshToken).not.toBe(app.refreshToken)
      expect(field(refreshed.json, "expires_in")).toBe(3600)

      const withBearer = yield* send(`${app.restUrl}crm.deal.list?select[]=ID`, { headers: { authorization: `Bearer ${accessToken}` } })
      expect(withBearer.status).toBe(200)
      expect(rows(withBearer.json).length).toBe(50)

      const spent = yield* send(refreshUrl(app.refreshToken))
      expect(spent.status).toBe(400)
      expect(field(spent.json, "error")).toBe("invalid_grant")

      const unknownToken = yield* send(`${app.restUrl}crm.deal.list?auth=notatoken`)
      expect(unknownToken.status).toBe(401)
      expect(field(unknownToken.json, "error")).toBe("invalid_token")
    }))
})

// The bucket drains one request per 1000 s, so however the 51 requests interleave, exactly one overflows.
const slowDrain = FakePortalHttp.layer({
  seed: { "crm.deal": 60 },
  limits: { poolSize: 50, requestsPerSecond: 0.001, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }
})

describeOnLayer(slowDrain, "the leaky bucket over HTTP", (it) => {
  it.effect("51 concurrent requests: exactly one 503 QUERY_LIMIT_EXCEEDED", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      const replies = yield* Effect.all(
        Array.from({ length: 51 }, () => send(`${server.webhookUrl}crm.deal.list?select[]=ID&start=-1`)),
        { concurrency: "unbounded" }
      )
      const refused = replies.filter((reply) => reply.status === 503)
      expect(refused).toHaveLength(1)
      expect(refused[0]!.json).toEqual({ error: "QUERY_LIMIT_EXCEEDED", error_description: "Too many requests" })
      expect(replies.filter((reply) => reply.status === 200)).toHaveLength(50)
      const stats = yield* server.stats
      expect(stats.rejected503).toBe(1)
      expect(stats.httpRequests).toBe(51)
    }))
})

// One wide page (no select: 2 ms per row, 50 rows, plus the base 5 ms) is over 0.1 s, so it is billed and the
// 0.1 s budget is spent at once.
const tinyBudget = FakePortalHttp.layer({
  seed: { "crm.deal": 60, "crm.lead": 60 },
  timeScale: 10,
  limits: { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 0.1, operatingWindowSeconds: 600 }
})

describeOnLayer(tinyBudget, "the operating window over HTTP", (it) => {
  it.effect("a method over its operating budget gets 429 OPERATION_TIME_LIMIT; other methods still run", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      const first = yield* send(`${server.webhookUrl}crm.deal.list`)
      expect(first.status).toBe(200)
      // 5 + 50 × 2 + the COUNT of 60 rows × 0.0005 = 105.03 portal ms, reported in real seconds at timeScale 10
      // (the default reportTime)
      expect(field(field(first.json, "time"), "operating")).toBeCloseTo(0.010503, 9)
      const blocked = yield* send(`${server.webhookUrl}crm.deal.list`)
      expect(blocked.status).toBe(429)
      expect(blocked.json).toEqual({
        error: "OPERATION_TIME_LIMIT",
        error_description: "Method is blocked due to operation time limit."
      })
      const other = yield* send(`${server.webhookUrl}crm.lead.list?select[]=ID`)
      expect(other.status).toBe(200)
      expect((yield* server.stats).rejected429).toBe(1)
    }))
})

const dropAndHang = FakePortalHttp.layer({
  seed: { "crm.deal": 10 },
  faults: [
    { kind: "drop", onRequests: [1] },
    { kind: "hang", onRequests: [3] }
  ]
})

describeOnLayer(dropAndHang, "faults over HTTP", (it) => {
  it.effect("drop closes the connection (fetch rejects), hang never answers (the client's timeout aborts)", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      const dropped = yield* Effect.either(attempt(`${server.webhookUrl}crm.deal.list`))
      assert(Either.isLeft(dropped), "a dropped connection must fail the fetch")
      expect(String(dropped.left)).toMatch(/fetch failed/)

      const after = yield* send(`${server.webhookUrl}crm.deal.list?select[]=ID`)
      expect(after.status).toBe(200)

      const hung = yield* Effect.either(attempt(`${server.webhookUrl}crm.deal.list`, { signal: AbortSignal.timeout(300) }))
      assert(Either.isLeft(hung), "a hung request must only end by the client's timeout")
      expect(hung.left).toBeInstanceOf(DOMException)
      expect((hung.left as DOMException).name).toBe("TimeoutError")

      const stats = yield* server.stats
      expect(stats.faultsInjected).toEqual({ drop: 1, hang: 1 })
    }))
})

describe("startFakePortal", () => {
  it("serves the webhook and closes even with a request hanging", async () => {
    const portal = await startFakePortal({ seed: { "crm.deal": 5 }, faults: [{ kind: "hang", onRequests: [2] }] })
    try {
      const ok = await read(await fetch(`${portal.webhookUrl}crm.deal.list?select[]=ID`))
      expect(rows(ok.json)).toHaveLength(5)
      expect(portal.oauth).toBeUndefined()
      const hanging = fetch(`${portal.webhookUrl}crm.deal.list`).then(
        () => "answered",
        () => "failed"
      )
      while (portal.stats().httpRequests < 2) await new Promise((resolve) => setTimeout(resolve, 5))
      await portal.close()
      // Closing destroyed the hung socket, so the client sees a failure rather than waiting forever.
      expect(await hanging).toBe("failed")
    } finally {
      await portal.close()
    }
  })

  it("starts the OAuth app with absolute URLs; its tokens call the portal and refresh with rotation", async () => {
    const portal = await startFakePortal({ seed: { "crm.deal": 3 }, oauth: { ...oauthApp, accessTokenLifetimeSeconds: 120 } })
    try {
      const app = portal.oauth
      assert(app !== undefined, "startFakePortal returned no oauth app")
      expect(app.clientId).toBe(oauthApp.clientId)
      expect(app.tokenUrl).toBe(`${portal.baseUrl}/oauth/token/`)
      expect(app.restUrl).toBe(`${portal.baseUrl}/rest/`)
      const listed = await read(await fetch(`${app.restUrl}crm.deal.list?select[]=ID&auth=${app.accessToken}`))
      expect(rows(listed.json)).toHaveLength(3)
      const refreshUrl = (refreshToken: string) =>
        `${app.tokenUrl}?grant_type=refresh_token&client_id=${app.clientId}&client_secret=${app.clientSecret}&refresh_token=${refreshToken}`
      const refreshed = await read(await fetch(refreshUrl(app.refreshToken)))
      expect(refreshed.status).toBe(200)
      expect(field(refreshed.json, "expires_in")).toBe(120)
      expect(field(refreshed.json, "refresh_token")).not.toBe(app.refreshToken)
      const spent = await read(await fetch(refreshUrl(app.refreshToken)))
      expect([spent.status, field(spent.json, "error")]).toEqual([400, "invalid_grant"])
      expect(portal.stats().requestsByMethod).toEqual({ "crm.deal.list": 1 })
    } finally {
      await portal.close()
    }
  })

  it("survives broken HTTP: garbage bytes, a body cut off mid-way and a request reset before its answer", async () => {
    const portal = await startFakePortal({ seed: { "crm.deal": 3 }, costModel: { baseMs: 200 } })
    try {
      const { port } = new URL(portal.baseUrl)
      /** Opens a raw connection, writes `bytes`, optionally resets it, and resolves with whatever came back. */
      const raw = (bytes: string, reset: boolean) =>
        new Promise<string>((resolve) => {
          const socket = Net.createConnection({ host: "127.0.0.1", port: Number(port) })
          let received = ""
          socket.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")))
          socket.on("error", () => resolve(received))
          socket.on("close", () => resolve(received))
          socket.write(bytes, () => {
            if (reset) setTimeout(() => socket.resetAndDestroy(), 20)
          })
        })
      // unparsable bytes get the front server's 400 page, and the server lives on
      const garbage = await raw("\u0000\u0001GARBAGE NOT HTTP\r\n\r\n", false)
      expect(garbage).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
      expect(garbage).toContain("<center><h1>400 Bad Request</h1></center>")
      await raw(`POST ${new URL(portal.webhookUrl).pathname}crm.deal.add HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"fie`, true)
      // A complete request whose client vanishes while the portal is "working" (200 ms of cost).
      await raw(`GET ${new URL(portal.webhookUrl).pathname}crm.deal.list HTTP/1.1\r\nHost: x\r\n\r\n`, true)
      await new Promise((resolve) => setTimeout(resolve, 300))
      const alive = await read(await fetch(`${portal.webhookUrl}crm.deal.list?select[]=ID`))
      expect(alive.status).toBe(200)
      expect(rows(alive.json)).toHaveLength(3)
    } finally {
      await portal.close()
    }
  })

  it("refuses a port that is taken", async () => {
    const first = await startFakePortal()
    try {
      const port = Number(new URL(first.baseUrl).port)
      await expect(startFakePortal({ port })).rejects.toThrow(/EADDRINUSE/)
    } finally {
      await first.close()
    }
  })
})

describe("FakePortalHttp.layer", () => {
  it.effect("fails with FakePortalServeError when the port is taken", () =>
    Effect.gen(function* () {
      const first = yield* Effect.promise(() => startFakePortal())
      const port = Number(new URL(first.baseUrl).port)
      const error = yield* Effect.flip(
        Effect.scoped(Effect.asVoid(FakePortalHttp.make(new FakePortal.PortalEngine({}, 0), { port })))
      )
      yield* Effect.promise(() => first.close())
      expect(error._tag).toBe("FakePortalServeError")
      expect(error.port).toBe(port)
      expect(error.message).toMatch(/EADDRINUSE/)
    }))
})

describe("FakePortalHttp.serve", () => {
  it("counts the simulated server time from the request's arrival: the engine's own work is part of it", async () => {
    // A clock that moves only while the engine works: the engine takes 60 s of it to build an answer whose
    // simulated server time is 60 s, so the answer is due the moment it is built (not 60 s later)
    let clockMs = 1_000_000
    const handledAt: Array<number> = []
    const engine: FakePortalHttp.Engine = {
      handle: (_request, realNowMs) => {
        handledAt.push(realNowMs)
        clockMs += 60_000
        return { _tag: "Response", status: 200, headers: { "content-type": "application/json" }, body: '{"result":true}', delayMs: 60_000 }
      },
      stats: () => new FakePortal.PortalEngine({}, 0).stats(0),
      webhookPath: "/rest/1/x/"
    }
    const server = await FakePortalHttp.serve(engine, { now: () => clockMs, front: "inline" })
    try {
      const reply = await fetch(`${server.url}/rest/1/x/user.current`).then(read)
      expect(reply.json).toEqual({ result: true })
      // The engine saw the arrival time, before its own work
      expect(handledAt).toEqual([1_000_000])
    } finally {
      await server.close()
    }
  }, 10_000)

  it("waits for an engine that answers later (another thread), still counting from the arrival", async () => {
    let clockMs = 5_000
    const engine: FakePortalHttp.Engine = {
      handle: (request, realNowMs) =>
        new Promise((resolve) =>
          setTimeout(() => {
            // The engine spent 30 s of the simulated time elsewhere: the answer is due now
            clockMs += 30_000
            resolve({
              _tag: "Response",
              status: 200,
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ result: { arrived: realNowMs, url: request.url } }),
              delayMs: 30_000
            })
          }, 200)
        ),
      stats: () => new FakePortal.PortalEngine({}, 0).stats(0),
      webhookPath: "/rest/1/x/"
    }
    const server = await FakePortalHttp.serve(engine, { now: () => clockMs, front: "inline" })
    try {
      const replies = await Promise.all(["a", "b"].map((name) => fetch(`${server.url}/rest/1/x/${name}`).then(read)))
      expect(replies.map((reply) => reply.json)).toEqual([
        { result: { arrived: 5_000, url: "/rest/1/x/a" } },
        { result: { arrived: 5_000, url: "/rest/1/x/b" } }
      ])
    } finally {
      await server.close()
    }
  }, 10_000)
})

describe("FakePortalHttp: serving in parallel, as a cloud portal does", () => {
  /**
   * Sends one request at each of `offsetsMs` after it starts, from a process of its own (so the engine's work on
   * this thread cannot hold the sends back), and reports when each was sent and its answer received (wall clock).
   */
  const sendFromChild = async (url: string, offsetsMs: ReadonlyArray<number>) => {
    const script = `
      const [url, offsets] = [process.argv[1], JSON.parse(process.argv[2])]
      const results = await Promise.all(offsets.map((offset, index) =>
        new Promise((resolve) => setTimeout(resolve, offset)).then(async () => {
          const sentAtMs = Date.now()
          const response = await fetch(url + "?i=" + index)
          const text = await response.text()
          return { index, sentAtMs, receivedAtMs: Date.now(), text }
        })))
      process.stdout.write(JSON.stringify(results))`
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, url, JSON.stringify(offsetsMs)], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => void (out += chunk.toString("utf8")))
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve))
    expect(code).toBe(0)
    return JSON.parse(out) as ReadonlyArray<{ readonly index: number; readonly sentAtMs: number; readonly receivedAtMs: number; readonly text: string }>
  }

  it("stamps every request when it arrives, while the engine works on the ones before, and answers each at its arrival + its modelled time", async () => {
    // An engine that takes 1 s of this thread for every request (as a heavy batch's rows and JSON take), and models
    // 5 s of server time for each. Four requests sent 100 ms apart reach it while it works on the first
    const workMs = 1_000
    const modelledMs = 5_000
    const handled: Array<{ readonly index: number; readonly arrivedMs: number; readonly startedMs: number }> = []
    const engine: FakePortalHttp.Engine = {
      handle: (request, arrivedMs) => {
        const startedMs = Date.now()
        handled.push({ index: Number(new URL(request.url, "http://x").searchParams.get("i")), arrivedMs, startedMs })
        while (Date.now() < startedMs + workMs) {
          // busy: this thread reads no socket meanwhile
        }
        return { _tag: "Response", status: 200, headers: { "content-type": "application/json" }, body: '{"result":true}', delayMs: modelledMs }
      },
      stats: () => new FakePortal.PortalEngine({}, 0).stats(0),
      webhookPath: "/rest/1/x/"
    }
    const server = await FakePortalHttp.serve(engine)
    try {
      const replies = await sendFromChild(`${server.url}/rest/1/x/m`, [0, 100, 200, 300])
      expect(replies.map((reply) => reply.text)).toEqual(Array.from({ length: 4 }, () => '{"result":true}'))
      expect(handled.map((entry) => entry.index).sort()).toEqual([0, 1, 2, 3])
      // the engine worked on them one after another, a second each...
      const starts = handled.map((entry) => entry.startedMs)
      expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(3 * workMs)
      for (const reply of replies) {
        const entry = handled.find((candidate) => candidate.index === reply.index)!
        // ...but each was stamped when it arrived, not when the engine got to it (which was up to 0.9 s later for
        // the last three, and 1.8 s and 2.7 s for the last two when the front shares the engine's thread); 700 ms of
        // slack for a loaded machine and the child's first fetch
        expect(entry.arrivedMs).toBeGreaterThanOrEqual(reply.sentAtMs - 1)
        expect(entry.arrivedMs - reply.sentAtMs).toBeLessThan(700)
        // and answered at its arrival + the modelled 5 s: never before, and not after the work queued ahead of it
        expect(reply.receivedAtMs - entry.arrivedMs).toBeGreaterThanOrEqual(modelledMs - 1)
        expect(reply.receivedAtMs - entry.arrivedMs).toBeLessThan(modelledMs + 1_500)
      }
    } finally {
      await server.close()
    }
  }, 60_000)

  it("startFakePortal: a burst of ten requests costing 2 s each is answered in parallel, each 2 s after its own arrival", async () => {
    // base 2,000 ms + get 5 ms per crm.deal.fields; limits off, so nothing but the cost decides
    const portal = await startFakePortal({ seed: { "crm.deal": 3 }, limits: "off", costModel: { baseMs: 2_000 } })
    try {
      const replies = await sendFromChild(`${portal.webhookUrl}crm.deal.fields.json`, Array.from({ length: 10 }, () => 0))
      const firstSentMs = Math.min(...replies.map((reply) => reply.sentAtMs))
      for (const reply of replies) {
        const time = field(JSON.parse(reply.text), "time")
        const startMs = Number(field(time, "start")) * 1000
        const finishMs = Number(field(time, "finish")) * 1000
        // the portal's own stamps: each request started when it arrived, and took its 2,005 ms
        expect(finishMs - startMs).toBeCloseTo(2_005, 0)
        expect(startMs).toBeGreaterThanOrEqual(reply.sentAtMs - 1)
        expect(startMs - reply.sentAtMs).toBeLessThan(700)
        // the answer leaves when the time block says the request finished
        expect(reply.receivedAtMs).toBeGreaterThanOrEqual(finishMs - 1)
        // in parallel: the burst is over in about one cost, not ten (20 s) one after another
        expect(reply.receivedAtMs - firstSentMs).toBeLessThan(2_005 + 4_000)
      }
      expect(portal.stats().httpRequests).toBe(10)
    } finally {
      await portal.close()
    }
  }, 60_000)
})

describe("FakePortalHttp: arrivalJitter over HTTP", () => {
  const jitter = { maxMs: 40, seed: 3 }

  /** An engine that answers `{"result":true}` at once and records the arrival time the server hands it. */
  const recordingEngine = () => {
    const arrivals: Array<number> = []
    const engine: FakePortalHttp.Engine = {
      handle: (_request, realNowMs) => {
        arrivals.push(realNowMs)
        return { _tag: "Response", status: 200, headers: { "content-type": "application/json" }, body: '{"result":true}', delayMs: 0 }
      },
      stats: () => new FakePortal.PortalEngine({}, 0).stats(0),
      webhookPath: "/rest/1/x/"
    }
    return { arrivals, engine }
  }

  it("serve: each request reaches the engine at its read time plus its seeded delay; requests read in a freeze arrive together", async () => {
    const startMs = 1_000_000
    let clockMs = startMs
    const { arrivals, engine } = recordingEngine()
    const server = await FakePortalHttp.serve(engine, { now: () => clockMs, arrivalJitter: jitter, front: "inline" })
    try {
      // the arithmetic of the option, as the in-process portal applies it (FakePortal.fromEngine): a fresh generator
      const delayOf = makeArrivalDelays(jitter, 1)!
      const expected: Array<number> = []
      // three requests read at the same moment, then one at a time at the listed offsets (portal ms)
      clockMs = startMs
      const together = await Promise.all([1, 2, 3].map((n) => fetch(`${server.url}/rest/1/x/m${n}`).then(read)))
      expect(together.map((reply) => reply.json)).toEqual([{ result: true }, { result: true }, { result: true }])
      const first = startMs + delayOf(startMs)
      expected.push(first, first, first)
      for (const offsetMs of [3, 11, 25, 47, 80, 120, 163, 207, 260, 330]) {
        clockMs = startMs + offsetMs
        expect((await fetch(`${server.url}/rest/1/x/m`).then(read)).json).toEqual({ result: true })
        expected.push(clockMs + delayOf(clockMs))
      }
      expect(arrivals).toEqual(expected)
      // the seed gives some delays and some none: the test can tell jitter from its absence
      const sent = [startMs, startMs, startMs, ...[3, 11, 25, 47, 80, 120, 163, 207, 260, 330].map((offset) => startMs + offset)]
      const delays = arrivals.map((arrival, index) => arrival - sent[index]!)
      expect(delays.some((delay) => delay > 0)).toBe(true)
      for (const delay of delays) {
        expect(delay).toBeGreaterThanOrEqual(0)
        expect(delay).toBeLessThanOrEqual(jitter.maxMs)
      }
    } finally {
      await server.close()
    }
  }, 20_000)

  it("serve without arrivalJitter stamps every request with its read time", async () => {
    let clockMs = 2_000_000
    const { arrivals, engine } = recordingEngine()
    const server = await FakePortalHttp.serve(engine, { now: () => clockMs, front: "inline" })
    try {
      for (const offsetMs of [0, 3, 11]) {
        clockMs = 2_000_000 + offsetMs
        await fetch(`${server.url}/rest/1/x/m`).then(read)
      }
      expect(arrivals).toEqual([2_000_000, 2_000_003, 2_000_011])
    } finally {
      await server.close()
    }
  }, 20_000)

  it("startFakePortal takes the option: its first request arrives a whole first freeze after it was sent", async () => {
    const slow = { maxMs: 600, seed: 2 }
    // The first freeze begins with the first request and lasts the generator's first length
    const firstDelayMs = makeArrivalDelays(slow, 1)!(0)
    expect(firstDelayMs).toBeGreaterThan(200)
    const portal = await startFakePortal({ seed: { "crm.deal": 3 }, limits: "off", costModel: "zero", arrivalJitter: slow })
    try {
      const sentAtMs = Date.now()
      const reply = await fetch(`${portal.webhookUrl}crm.deal.list.json?select[]=ID&start=-1`).then(read)
      expect(reply.status).toBe(200)
      // The engine counts the request at its read time (>= sentAtMs) plus the delay; whole ms either side
      expect(Number(field(field(reply.json, "time"), "start")) * 1000).toBeGreaterThanOrEqual(sentAtMs + firstDelayMs - 1)
    } finally {
      await portal.close()
    }
  }, 20_000)

  it.live("FakePortalHttp.layer takes the option: the portal's envelope starts at the seeded arrival time", () =>
    Effect.gen(function* () {
      const server = yield* FakePortalHttp.FakePortalServer
      // the first freeze begins with the first request read: what is read during it arrives at its end, what is
      // read later is later still, so no request reaches the engine before the freeze has passed
      const delayMs = makeArrivalDelays(jitter, 1)!(0)
      expect(delayMs).toBeGreaterThan(0)
      const sentAtMs = Date.now()
      const replies = yield* Effect.all(
        [1, 2, 3].map(() => send(`${server.webhookUrl}crm.deal.list.json?select[]=ID&start=-1`)),
        { concurrency: "unbounded" }
      )
      for (const reply of replies) {
        expect(reply.status).toBe(200)
        // whole ms either side: the stamp is read at or after sentAtMs, and the time block is rounded to the µs
        expect(Number(field(field(reply.json, "time"), "start")) * 1000).toBeGreaterThanOrEqual(sentAtMs + delayMs - 1)
      }
    }).pipe(Effect.provide(FakePortalHttp.layer({ seed: { "crm.deal": 3 }, limits: "off", costModel: "zero", arrivalJitter: jitter }))), 20_000)
})

describe("the front server's limits: every request gets an HTTP answer", () => {
  /** Opens a raw connection, writes `head` and then `bodyBytes` zero bytes, and resolves with what came back. */
  const rawRequest = (port: number, head: string, bodyBytes = 0) =>
    new Promise<string>((resolve) => {
      const socket = Net.createConnection({ host: "127.0.0.1", port })
      let received = ""
      socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")))
      socket.on("error", () => resolve(received))
      socket.on("close", () => resolve(received))
      socket.write(head)
      // the body in 64 KiB pieces; the server may close the connection before all of it is sent
      const piece = Buffer.alloc(64 * 1024, 0x20)
      let left = bodyBytes
      const pump = () => {
        while (left > 0 && !socket.destroyed) {
          const size = Math.min(left, piece.byteLength)
          left -= size
          if (!socket.write(piece.subarray(0, size))) return void socket.once("drain", pump)
        }
      }
      pump()
    })

  it("a body over maxBodyBytes gets 413, declared or chunked, without being read into memory; the server lives on", async () => {
    const portal = await startFakePortal({ seed: { "crm.deal": 3 }, limits: "off", costModel: "zero", maxBodyBytes: 1000 })
    try {
      const port = Number(new URL(portal.baseUrl).port)
      const path = `${new URL(portal.webhookUrl).pathname}crm.deal.add.json`
      const declared = await rawRequest(port, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n`, 5000)
      expect(declared).toMatch(/^HTTP\/1\.1 413 /)
      expect(declared).toContain("<center><h1>413 Request Entity Too Large</h1></center>")
      const chunked = await rawRequest(port, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n${" ".repeat(0x800)}\r\n`)
      expect(chunked).toMatch(/^HTTP\/1\.1 413 /)
      // exactly at the limit is accepted: the portal answers with its own JSON
      const body = (bytes: number) => JSON.stringify({ fields: { TITLE: "x".repeat(bytes - 23) } })
      expect(Buffer.byteLength(body(1000))).toBe(1000)
      const add = (text: string) =>
        fetch(`${portal.webhookUrl}crm.deal.add.json`, { method: "POST", headers: { "content-type": "application/json" }, body: text }).then(read)
      expect((await add(body(1000))).status).toBe(200)
      expect((await add(body(1001))).status).toBe(413)
      expect(portal.stats().httpRequests).toBeGreaterThan(0)
    } finally {
      await portal.close()
    }
  })

  it("by default a 100 MB body gets 413 at once (8 MiB limit) instead of exhausting the heap", async () => {
    const portal = await startFakePortal({ seed: { "crm.deal": 3 }, limits: "off", costModel: "zero" })
    try {
      const port = Number(new URL(portal.baseUrl).port)
      const path = `${new URL(portal.webhookUrl).pathname}crm.deal.add.json`
      const heapBefore = process.memoryUsage().heapUsed
      const answer = await rawRequest(port, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n`, 100_000_000)
      expect(answer).toMatch(/^HTTP\/1\.1 413 /)
      // nothing near the body's size was kept (the old server held ~35 bytes of heap per body byte)
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(50_000_000)
    } finally {
      await portal.close()
    }
  })

  /**
   * A body under the limit is decoded in about its own size. Measured as what a process needs rather than by a heap
   * reading in this busy test process: the portal runs in a child whose V8 heap is capped at 64 MB (it idles at about
   * 20), and must answer both 6 MB bodies. The decoder that built strings a character at a time needed ~32 bytes per
   * body byte (192 MB for the first body; it dies even with a 128 MB cap). Memory, unlike time, does not depend on the
   * machine's load.
   */
  it("a 6 MB JSON body under the limit is decoded in about its own size: a portal whose heap is capped at 64 MB takes it", async () => {
    const root = fileURLToPath(new URL("../..", import.meta.url))
    const child = spawn(
      process.execPath,
      ["--max-old-space-size=64", "--import", "tsx", "src/testing/cli.ts", "--port", "0", "--limits", "off", "--seed", "crm.deal=1"],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] }
    )
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString("utf8")))
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once("line", resolve)
        child.once("exit", (code) => reject(new Error(`portal exited early with ${code}: ${stderr}`)))
      })
      const webhook = first.slice("webhook: ".length)
      const post = async (method: string, body: string) => {
        const response = await fetch(`${webhook}${method}.json`, { method: "POST", headers: { "content-type": "application/json" }, body }).catch(
          (error: unknown) => {
            throw new Error(`no answer (the portal's stderr: ${stderr.slice(0, 400)})`, { cause: error })
          }
        )
        return read(response)
      }
      // one plain string, and 6 MB of escapes (PHP clients send non-ASCII as \uXXXX)
      const bodies = [`{"fields":{"TITLE":"${"x".repeat(6_000_000)}"}}`, `{"fields":{"TITLE":"${"\\u0436".repeat(1_000_000)}"}}`]
      for (const body of bodies) {
        expect(body.length).toBeGreaterThan(6_000_000)
        expect(body.length).toBeLessThan(FakePortalHttp.defaultMaxBodyBytes)
      }
      for (const body of bodies) {
        const reply = await post("crm.deal.add", body)
        expect(reply.status).toBe(200)
        expect(field(reply.json, "result")).toEqual(expect.any(Number))
      }
    } finally {
      child.kill("SIGTERM")
      await exited
    }
  }, 60_000)

  it("JSON string values are decoded as JSON reads them: escapes, surrogate pairs, PHP's \\uXXXX spelling, long values", async () => {
    const portal = await startFakePortal({ seed: { "crm.deal": 1 }, limits: "off", costModel: "zero" })
    try {
      const call = async (method: string, body: string) =>
        read(await fetch(`${portal.webhookUrl}${method}.json`, { method: "POST", headers: { "content-type": "application/json" }, body }))
      const pieces = ["plain ", 'quote " ', "back\\slash ", "slash / ", "tab\t nl\n ", "ж ", "😀 ", "<&'> ", "\u0000 ", "\u007f "]
      const title = Array.from({ length: 3000 }, (_, index) => pieces[index % pieces.length]).join("")
      // as JSON.stringify writes it, and as PHP does (every non-ASCII code unit, / and < > & ' as escapes)
      const native = JSON.stringify(title)
      const phpStyle = native.replace(/[^\x00-\x7f]|[/<>&']/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)
      expect(phpStyle).not.toBe(native)
      for (const spelled of [native, phpStyle]) {
        expect(JSON.parse(spelled)).toBe(title)
        const added = await call("crm.deal.add", `{"fields":{"TITLE":${spelled}}}`)
        expect(added.status).toBe(200)
        const got = await call("crm.deal.get", JSON.stringify({ ID: field(added.json, "result") }))
        expect(field(field(got.json, "result"), "TITLE")).toBe(title)
      }
    } finally {
      await portal.close()
    }
  })

  it("GET URLs of 20 KB and 200 KB get the 414 page instead of a dropped connection", async () => {
    const portal = await startFakePortal({ seed: { "crm.deal": 3 }, limits: "off", costModel: "zero" })
    try {
      for (const length of [20_000, 200_000]) {
        const url = `${portal.webhookUrl}crm.deal.list.json?filter[TITLE]=${"a".repeat(length)}`
        const reply = await read(await fetch(url))
        expect(reply.status).toBe(414)
        expect(reply.text).toContain("<center><h1>414 Request-URI Too Large</h1></center>")
      }
      // a request head over the front server's 1 MiB buffer still gets the page, from the parser's error
      const port = Number(new URL(portal.baseUrl).port)
      const huge = await rawRequest(port, `GET /rest/1/x/crm.deal.list.json?q=${"a".repeat(1_100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)
      expect(huge).toMatch(/^HTTP\/1\.1 414 /)
    } finally {
      await portal.close()
    }
  })
})
