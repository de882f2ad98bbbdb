import { HttpClient, HttpClientError, type HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import {
  Deferred,
  type Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  FiberId,
  Layer,
  Option,
  Redacted,
  TestClock
} from "effect"
import * as Auth from "../src/Auth.js"
import { BitrixApiError, HttpError } from "../src/BitrixError.js"
import * as Transport from "../src/Transport.js"
import { observe } from "./support/observe.js"

// ---------------------------------------------------------------------------------------------------------------
// A fake HttpClient that records every request and answers through a handler
// ---------------------------------------------------------------------------------------------------------------

interface Recorded {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

type Handler = (
  recorded: Recorded,
  request: HttpClientRequest.HttpClientRequest
) => Effect.Effect<Response, HttpClientError.HttpClientError>

const bodyOf = (request: HttpClientRequest.HttpClientRequest): unknown =>
  request.body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(request.body.body)) : undefined

const fakeClient = (handler: Handler) => {
  const recorded: Array<Recorded> = []
  const client = HttpClient.make((request, url) => {
    const entry: Recorded = { method: request.method, url, headers: request.headers, body: bodyOf(request) }
    recorded.push(entry)
    return Effect.map(handler(entry, request), (response) => HttpClientResponse.fromWeb(request, response))
  })
  return { recorded, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8" } })

const text = (status: number, body: string, contentType = "text/html") =>
  new Response(body, { status, headers: { "content-type": contentType } })

const always = (response: () => Response): Handler => () => Effect.sync(response)

const secretCode = "s3cr3tc0dexyz123"
const webhook = `https://portal.example.com/rest/7/${secretCode}`

const sendVia = <E>(layer: Layer.Layer<Transport.Transport, E>, method: string, params: unknown) =>
  Effect.flatMap(Transport.Transport, (transport) => transport.send(method, params)).pipe(Effect.provide(layer))

const webhookTransport = (handler: Handler, timeout?: Duration.DurationInput) => {
  const fake = fakeClient(handler)
  const options: Auth.AuthOptions & Transport.TransportOptions = timeout === undefined ? { webhook } : { webhook, timeout }
  return { ...fake, transport: Transport.layer(options).pipe(Layer.provide(fake.layer)) }
}

/** Fails the test with a readable message unless the effect failed; returns the error. */
const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.either(effect), (either) =>
    Either.isLeft(either) ? Effect.succeed(either.left) : Effect.dieMessage("expected a failure, got a success")
  )

// ---------------------------------------------------------------------------------------------------------------
// Request shape and envelope decoding
// ---------------------------------------------------------------------------------------------------------------

describe("Transport over a webhook", () => {
  it.effect("POSTs the params as JSON to webhook + method", () =>
    Effect.gen(function* () {
      const { recorded, transport } = webhookTransport(always(() => json(200, { result: true })))
      const params = { filter: { ">ID": 0 }, select: ["ID", "TITLE"], order: { ID: "ASC" }, start: -1 }
      yield* sendVia(transport, "crm.deal.list", params)
      expect(recorded).toHaveLength(1)
      const [request] = recorded
      expect(request?.method).toBe("POST")
      // the trailing slash was added to the webhook before the method was appended
      expect(request?.url.toString()).toBe(`https://portal.example.com/rest/7/${secretCode}/crm.deal.list`)
      expect(request?.headers["content-type"]).toBe("application/json")
      expect(request?.body).toEqual(params)
      expect(request?.headers["authorization"]).toBeUndefined()
    }))

  it.effect("sends positional params as a JSON list and missing params as {}", () =>
    Effect.gen(function* () {
      const { recorded, transport } = webhookTransport(always(() => json(200, { result: [] })))
      yield* sendVia(transport, "task.commentitem.add", [123, { POST_MESSAGE: "x" }])
      yield* sendVia(transport, "user.current", undefined)
      expect(recorded.map((request) => request.body)).toEqual([[123, { POST_MESSAGE: "x" }], {}])
    }))

  it.effect("decodes a success envelope with next, total and time (notes §2.1)", () =>
    Effect.gen(function* () {
      const body = {
        result: [{ ID: "37", TITLE: "[A] Deal" }],
        next: 50,
        total: 2387743,
        time: {
          start: 1725292115.026221,
          finish: 1725292115.907058,
          duration: 0.8808369636535645,
          processing: 0.2484450340270996,
          date_start: "2024-09-02T17:48:35+02:00",
          date_finish: "2024-09-02T17:48:35+02:00",
          operating_reset_at: 1725292715,
          operating: 0
        }
      }
      const { transport } = webhookTransport(always(() => json(200, body)))
      const envelope = yield* sendVia(transport, "crm.deal.list", {})
      expect(envelope.result).toEqual(body.result)
      expect(envelope.next).toBe(50)
      expect(envelope.total).toBe(2387743)
      expect(envelope.time?.operating).toBe(0)
      expect(envelope.time?.operating_reset_at).toBe(1725292715)
      expect(envelope.time?.duration).toBeCloseTo(0.8808, 3)
    }))

  it.effect("keeps an envelope without time or next (old portals, last page)", () =>
    Effect.gen(function* () {
      const { transport } = webhookTransport(always(() => json(200, { result: { items: [] }, total: 0 })))
      const envelope = yield* sendVia(transport, "crm.item.list", {})
      expect(envelope).toEqual({ result: { items: [] }, total: 0 })
    }))

  it.effect("fails with BitrixApiError on a 200 whose body holds error", () =>
    Effect.gen(function* () {
      const body = { error: "ERROR_CORE", error_description: "TASKS_ERROR_EXCEPTION_#256; Access denied" }
      const { transport } = webhookTransport(always(() => json(200, body)))
      const error = yield* failureOf(sendVia(transport, "tasks.task.add", {}))
      expect(error).toBeInstanceOf(BitrixApiError)
      expect(error).toMatchObject({ code: "ERROR_CORE", status: 200, method: "tasks.task.add", raw: body })
      expect(error).toMatchObject({ description: "TASKS_ERROR_EXCEPTION_#256; Access denied" })
    }))

  it.effect('keeps an empty error code "" and a numeric one exactly as sent (notes §2.2)', () =>
    Effect.gen(function* () {
      const notFound = { error: "", error_description: "Not found" }
      const numeric = { error: 100, error_description: "Unknown field definition `I_D` (I_D) for crm.type.list" }
      const argument = { error: "ERROR_ARGUMENT", error_description: "The filter is not an array.", argument: "filter" }
      const bodies = [
        [400, notFound],
        [400, numeric],
        [400, argument]
      ] as const
      const { transport } = webhookTransport((request) => {
        const [status, body] = bodies[Number((request.body as { readonly n: number }).n)]!
        return Effect.succeed(json(status, body))
      })
      const errors = yield* Effect.forEach([0, 1, 2], (n) => failureOf(sendVia(transport, "crm.type.list", { n })))
      expect(errors.map((error) => error._tag)).toEqual(["BitrixApiError", "BitrixApiError", "BitrixApiError"])
      const [first, second, third] = errors as ReadonlyArray<BitrixApiError>
      expect(first?.code).toBe("")
      expect(first?.description).toBe("Not found")
      expect(first?.status).toBe(400)
      expect(second?.code).toBe(100)
      expect(typeof second?.code).toBe("number")
      // extra keys such as `argument` survive in raw
      expect(third?.raw).toEqual(argument)
    }))

  it.effect("turns an HTML 502 page into HttpError Decode with the status and a bounded excerpt", () =>
    Effect.gen(function* () {
      const page = `<html><head><title>502 Bad Gateway</title></head><body>${"<p>upstream</p>".repeat(200)}</body></html>`
      const { transport } = webhookTransport(always(() => text(502, page)))
      const error = yield* failureOf(sendVia(transport, "crm.deal.list", {}))
      expect(error).toBeInstanceOf(HttpError)
      expect(error).toMatchObject({ reason: "Decode", status: 502, method: "crm.deal.list" })
      const excerpt = (error as HttpError).bodyExcerpt ?? ""
      expect(excerpt.startsWith("<html><head><title>502 Bad Gateway</title>")).toBe(true)
      expect(excerpt.length).toBe(500)
      expect((error as HttpError).detail).toContain("text/html")
    }))

  it.effect("turns a 414 from the front server into HttpError Decode", () =>
    Effect.gen(function* () {
      const page = "<html><head><title>414 Request-URI Too Large</title></head><body><center><h1>414 Request-URI Too Large</h1></center><hr><center>nginx</center></body></html>"
      const { transport } = webhookTransport(always(() => text(414, page)))
      const error = yield* failureOf(sendVia(transport, "batch", {}))
      expect(error).toMatchObject({ _tag: "HttpError", reason: "Decode", status: 414, bodyExcerpt: page })
    }))

  it.effect("turns malformed JSON into HttpError Decode, even with a JSON content type", () =>
    Effect.gen(function* () {
      const broken = '{"result":[{"ID":"1"},'
      const { transport } = webhookTransport(always(() => text(200, broken, "application/json; charset=utf-8")))
      const error = yield* failureOf(sendVia(transport, "crm.lead.list", {}))
      expect(error).toMatchObject({ _tag: "HttpError", reason: "Decode", status: 200, bodyExcerpt: broken })
    }))

  it.effect("refuses 2xx JSON that is not an envelope: an unexpected result, not an HTTP problem", () =>
    Effect.gen(function* () {
      const { transport } = webhookTransport(always(() => json(200, { next: "fifty" })))
      const error = yield* failureOf(sendVia(transport, "crm.lead.list", {}))
      expect(error._tag).toBe("UnexpectedResultError")
      expect(error._tag === "UnexpectedResultError" && error.method).toBe("crm.lead.list")
      expect(error._tag === "UnexpectedResultError" && error.excerpt).toContain("fifty")
    }))

  it.effect("turns a non-2xx JSON without error into HttpError Status", () =>
    Effect.gen(function* () {
      const { transport } = webhookTransport(always(() => json(500, { result: null })))
      const error = yield* failureOf(sendVia(transport, "crm.lead.list", {}))
      expect(error).toMatchObject({ _tag: "HttpError", reason: "Status", status: 500 })
    }))

  it.effect("turns a transport failure into HttpError Transport naming the cause", () =>
    Effect.gen(function* () {
      const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:443"), { code: "ECONNREFUSED" })
      const { transport } = webhookTransport((_, request) =>
        Effect.fail(
          new HttpClientError.RequestError({
            request,
            reason: "Transport",
            cause: new TypeError("fetch failed", { cause: refused })
          })
        )
      )
      const error = yield* failureOf(sendVia(transport, "crm.lead.list", {}))
      expect(error).toMatchObject({ _tag: "HttpError", reason: "Transport", method: "crm.lead.list" })
      expect((error as HttpError).status).toBeUndefined()
      // the retry policy recognises a refused connection by this word
      expect((error as HttpError).detail).toContain("ECONNREFUSED")
    }))

  it.effect("fails with HttpError Timeout after 60 s by default (TestClock)", () =>
    Effect.gen(function* () {
      const arrived = yield* Deferred.make<void>()
      const { transport } = webhookTransport(() => Effect.zipRight(Deferred.succeed(arrived, undefined), Effect.never))
      const fiber = yield* Effect.fork(failureOf(sendVia(transport, "crm.lead.list", {})))
      yield* Deferred.await(arrived)
      yield* TestClock.adjust("59 seconds")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      expect(error).toMatchObject({ _tag: "HttpError", reason: "Timeout", method: "crm.lead.list" })
    }))

  it.effect("honours a custom timeout", () =>
    Effect.gen(function* () {
      const arrived = yield* Deferred.make<void>()
      const { transport } = webhookTransport(
        () => Effect.zipRight(Deferred.succeed(arrived, undefined), Effect.never),
        "5 seconds"
      )
      const fiber = yield* Effect.fork(failureOf(sendVia(transport, "crm.lead.list", {})))
      yield* Deferred.await(arrived)
      yield* TestClock.adjust("5 seconds")
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isSuccess(exit) && exit.value).toMatchObject({ reason: "Timeout" })
    }))

  it.effect("does not refresh anything on expired_token for a webhook", () =>
    Effect.gen(function* () {
      const { recorded, transport } = webhookTransport(
        always(() => json(401, { error: "expired_token", error_description: "The access token provided has expired" }))
      )
      const error = yield* failureOf(sendVia(transport, "crm.lead.list", {}))
      expect(error).toMatchObject({ _tag: "BitrixApiError", code: "expired_token", status: 401 })
      expect(recorded).toHaveLength(1)
    }))

  it.effect("rejects a bad webhook while building the layer", () =>
    Effect.gen(function* () {
      const fake = fakeClient(always(() => json(200, { result: true })))
      const layer = Transport.layer({ webhook: `https://portal.example.com/rest/${secretCode}/` }).pipe(
        Layer.provide(fake.layer)
      )
      const error = yield* failureOf(sendVia(layer, "profile", {}))
      expect(error).toMatchObject({ _tag: "ValidationError", path: "webhook" })
      expect(fake.recorded).toHaveLength(0)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// OAuth: auth in the body, refresh on expired_token, single flight
// ---------------------------------------------------------------------------------------------------------------

const restUrl = "https://portal.example.com/rest/"
const tokenUrl = "https://oauth.example.com/oauth/token/"
const clientSecret = "client-secret-QWERTY987"
const initialAccess = "access-token-initial-111"
const initialRefresh = "refresh-token-initial-222"

/**
 * A portal + token server: the portal accepts only the last issued access token; the token server rotates
 * the pair for the current refresh token and answers invalid_grant otherwise.
 */
const oauthWorld = (
  options: {
    readonly acceptInitial?: boolean
    /** Hold the token server's answer until this many portal calls were refused. */
    readonly holdRefreshUntilRefused?: number
    /** The refresh token the client holds is already spent. */
    readonly spentRefreshToken?: boolean
  } = {}
) => {
  let validAccess = options.acceptInitial === true ? initialAccess : "none-yet"
  let validRefresh = options.spentRefreshToken === true ? "another-refresh-token" : initialRefresh
  const gate = Deferred.unsafeMake<void>(FiberId.none)
  if (options.holdRefreshUntilRefused === undefined) Deferred.unsafeDone(gate, Exit.void)
  let issued = 0
  const counters = { expired: 0, tokenRequests: 0, portalRequests: 0 }
  const fake = fakeClient((request) => {
    if (request.url.origin === "https://oauth.example.com") {
      counters.tokenRequests++
      const query = request.url.searchParams
      return Effect.zipRight(
        Deferred.await(gate),
        Effect.sync(() => {
          if (query.get("refresh_token") !== validRefresh || query.get("client_secret") !== clientSecret) {
            return json(400, { error: "invalid_grant", error_description: "Invalid grant" })
          }
          issued++
          validAccess = `access-rotated-${issued}`
          validRefresh = `refresh-rotated-${issued}`
          return json(200, {
            access_token: validAccess,
            client_endpoint: restUrl,
            domain: "oauth.bitrix.info",
            expires: 1780319382,
            expires_in: 3600,
            member_id: "a223c6b3710f85df22e9377d6c4f7553",
            refresh_token: validRefresh,
            scope: "crm,entity,im,task",
            server_endpoint: "https://oauth.bitrix.info/rest/",
            status: "F",
            user_id: 67
          })
        })
      )
    }
    counters.portalRequests++
    const auth = (request.body as { readonly auth?: unknown } | undefined)?.auth ?? request.headers["authorization"]?.replace("Bearer ", "")
    if (auth === validAccess) return Effect.succeed(json(200, { result: { ok: true, auth } }))
    counters.expired++
    if (counters.expired === options.holdRefreshUntilRefused) Deferred.unsafeDone(gate, Exit.void)
    return Effect.succeed(json(401, { error: "expired_token", error_description: "The access token provided has expired." }))
  })
  const received: Array<Auth.Tokens> = []
  const oauth: Auth.OAuthOptions = {
    restUrl,
    tokenUrl,
    clientId: "app.573ad8a0346747.09223434",
    clientSecret: Redacted.make(clientSecret),
    accessToken: initialAccess,
    refreshToken: initialRefresh,
    onTokens: (tokens) => {
      received.push(tokens)
    }
  }
  const auth = Auth.layer({ oauth }).pipe(Layer.provide(fake.layer))
  const transport = Transport.layerWithAuth().pipe(Layer.provideMerge(auth), Layer.provide(fake.layer))
  return { ...fake, counters, received, transport, current: () => ({ validAccess, validRefresh }) }
}

describe("Transport over OAuth", () => {
  it.effect("puts the access token in the body as auth and posts to restUrl + method", () =>
    Effect.gen(function* () {
      const world = oauthWorld({ acceptInitial: true })
      const envelope = yield* sendVia(world.transport, "crm.deal.get", { id: 5 })
      expect(envelope.result).toEqual({ ok: true, auth: initialAccess })
      expect(world.recorded[0]?.url.toString()).toBe("https://portal.example.com/rest/crm.deal.get")
      expect(world.recorded[0]?.body).toEqual({ id: 5, auth: initialAccess })
      expect(world.counters.tokenRequests).toBe(0)
    }))

  it.effect("sends the token as a Bearer header for positional (list) params", () =>
    Effect.gen(function* () {
      const world = oauthWorld({ acceptInitial: true })
      yield* sendVia(world.transport, "task.elapseditem.getlist", [1, { ID: "DESC" }])
      expect(world.recorded[0]?.body).toEqual([1, { ID: "DESC" }])
      expect(world.recorded[0]?.headers["authorization"]).toBe(`Bearer ${initialAccess}`)
    }))

  it.effect("on expired_token refreshes once with a GET to the token server, then resends", () =>
    Effect.gen(function* () {
      const world = oauthWorld()
      const envelope = yield* sendVia(world.transport, "crm.deal.get", { id: 5 })
      expect(envelope.result).toEqual({ ok: true, auth: "access-rotated-1" })
      expect(world.recorded.map((request) => `${request.method} ${request.url.origin}`)).toEqual([
        "POST https://portal.example.com",
        "GET https://oauth.example.com",
        "POST https://portal.example.com"
      ])
      const refresh = world.recorded[1]!
      expect(refresh.url.pathname).toBe("/oauth/token/")
      expect(Object.fromEntries(refresh.url.searchParams)).toEqual({
        grant_type: "refresh_token",
        client_id: "app.573ad8a0346747.09223434",
        client_secret: clientSecret,
        refresh_token: initialRefresh
      })
      expect(world.received).toHaveLength(1)
      expect(Redacted.value(world.received[0]!.refreshToken)).toBe("refresh-rotated-1")
      expect(Redacted.value(world.received[0]!.accessToken)).toBe("access-rotated-1")
    }))

  it.effect("single flight: 100 concurrent calls seeing expired_token cause exactly one refresh", () =>
    Effect.gen(function* () {
      // the token server answers only once all 100 calls have been refused, so all of them see expired_token
      const world = oauthWorld({ holdRefreshUntilRefused: 100 })
      const results = yield* Effect.flatMap(Transport.Transport, (transport) =>
        Effect.forEach(Array.from({ length: 100 }, (_, n) => n), (n) => transport.send("crm.deal.get", { id: n }), {
          concurrency: "unbounded"
        })
      ).pipe(Effect.provide(world.transport))
      expect(results).toHaveLength(100)
      expect(results.every((envelope) => (envelope.result as { readonly auth: string }).auth === "access-rotated-1")).toBe(true)
      expect(world.counters.expired).toBe(100)
      expect(world.counters.tokenRequests).toBe(1)
      expect(world.counters.portalRequests).toBe(200)
      expect(world.received).toHaveLength(1)
      expect(Redacted.value(world.received[0]!.refreshToken)).toBe("refresh-rotated-1")
    }))

  it.effect("single flight also shares a failure: 20 concurrent callers, one invalid_grant request", () =>
    Effect.gen(function* () {
      const world = oauthWorld({ holdRefreshUntilRefused: 20, spentRefreshToken: true })
      const errors = yield* Effect.flatMap(Transport.Transport, (transport) =>
        Effect.forEach(Array.from({ length: 20 }, (_, n) => n), (n) => failureOf(transport.send("crm.deal.get", { id: n })), {
          concurrency: "unbounded"
        })
      ).pipe(Effect.provide(world.transport))
      expect(errors.every((error) => error._tag === "BitrixApiError" && error.code === "invalid_grant")).toBe(true)
      expect(world.counters.tokenRequests).toBe(1)
      expect(world.received).toHaveLength(0)
    }))

  it.effect("resends a bounded number of times: a portal that refuses every fresh token fails with expired_token", () =>
    Effect.gen(function* () {
      const fake = fakeClient((request) =>
        Effect.succeed(
          request.url.origin === "https://oauth.example.com"
            ? json(200, { access_token: "a2", refresh_token: "r2", expires_in: 3600 })
            : json(401, { error: "expired_token", error_description: "The access token provided has expired" })
        )
      )
      const layer = Transport.layer({
        oauth: { restUrl, tokenUrl, clientId: "app", clientSecret, accessToken: "a1", refreshToken: "r1" }
      }).pipe(Layer.provide(fake.layer))
      const error = yield* failureOf(sendVia(layer, "crm.deal.get", {}))
      expect(error).toMatchObject({ _tag: "BitrixApiError", code: "expired_token" })
      // three refreshes, each followed by a resend; the refusal after the third resend is final
      expect(fake.recorded.map((request) => request.method)).toEqual(["POST", "GET", "POST", "GET", "POST", "GET", "POST"])
    }))

  it.effect("invalid_grant from the token server fails the call with BitrixApiError oauth.token", () =>
    Effect.gen(function* () {
      const rotated: Array<Auth.Tokens> = []
      const fake = fakeClient((request) =>
        Effect.succeed(
          request.url.origin === "https://oauth.example.com"
            ? json(400, { error: "invalid_grant", error_description: "The refresh token is invalid" })
            : json(401, { error: "invalid_token", error_description: "Unable to get application by token" })
        )
      )
      const layer = Transport.layer({
        oauth: {
          restUrl,
          tokenUrl,
          clientId: "app",
          clientSecret,
          accessToken: "a1",
          refreshToken: "r1",
          onTokens: (tokens) => {
            rotated.push(tokens)
          }
        }
      }).pipe(Layer.provide(fake.layer))
      const error = yield* failureOf(sendVia(layer, "crm.deal.get", {}))
      expect(error).toBeInstanceOf(BitrixApiError)
      expect(error).toMatchObject({ code: "invalid_grant", method: "oauth.token", status: 400 })
      expect(fake.recorded).toHaveLength(2)
      expect(rotated).toHaveLength(0)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// Secrets never leak: errors, logs, spans
// ---------------------------------------------------------------------------------------------------------------

const leakReport = (error: unknown) => {
  const asError = error as { readonly message: string }
  return [asError.message, String(error), JSON.stringify(error)].join("\n")
}

describe("Transport keeps secrets out of errors, logs and spans", () => {
  it.effect("webhook code: echoed pages, echoed errors, transport failures and timeouts", () =>
    Effect.gen(function* () {
      const observed = yield* observe
      const echoedPath = `/rest/7/${secretCode}/crm.lead.list`
      const answers: ReadonlyArray<Handler> = [
        always(() => text(404, `<html><body>Not Found: ${echoedPath} (${encodeURIComponent(secretCode)})</body></html>`)),
        always(() => json(200, { error: "INVALID_CREDENTIALS", error_description: `Invalid request credentials ${secretCode}` })),
        always(() => json(500, { result: null, debug: secretCode })),
        (_, request) =>
          Effect.fail(
            new HttpClientError.RequestError({
              request,
              reason: "Transport",
              cause: new Error(`request to https://portal.example.com${echoedPath} failed`)
            })
          )
      ]
      const errors: Array<unknown> = []
      for (const handler of answers) {
        const { transport } = webhookTransport(handler)
        errors.push(yield* observed.around(failureOf(sendVia(transport, "crm.lead.list", {}))))
      }
      const arrived = yield* Deferred.make<void>()
      const slow = webhookTransport(() => Effect.zipRight(Deferred.succeed(arrived, undefined), Effect.never))
      const fiber = yield* Effect.fork(observed.around(failureOf(sendVia(slow.transport, "crm.lead.list", {}))))
      yield* Deferred.await(arrived)
      yield* TestClock.adjust("60 seconds")
      errors.push(yield* Fiber.join(fiber))

      expect(errors.map((error) => (error as { readonly _tag: string })._tag)).toEqual([
        "HttpError",
        "BitrixApiError",
        "HttpError",
        "HttpError",
        "HttpError"
      ])
      for (const error of errors) expect(leakReport(error)).not.toContain(secretCode)
      // the echoes were kept, masked, so the server's words are not lost
      expect((errors[0] as HttpError).bodyExcerpt).toContain("/rest/7/***/crm.lead.list")
      // the capture works: the method and statuses are logged, the code is not
      const logs = observed.lines.join("\n")
      expect(logs).toContain("crm.lead.list")
      expect(logs).toContain("http.status=404")
      expect(logs).not.toContain(secretCode)
      const spans = observed.spanText()
      expect(spans).toContain('"bitrix.method":"crm.lead.list"')
      expect(spans).not.toContain(secretCode)
    }))

  it.effect("OAuth: tokens and client secret stay out of failed refreshes, echoed errors and logs", () =>
    Effect.gen(function* () {
      const observed = yield* observe
      const fake = fakeClient((request) =>
        Effect.succeed(
          request.url.origin === "https://oauth.example.com"
            ? json(400, {
                error: "invalid_grant",
                error_description: `refresh token ${request.url.searchParams.get("refresh_token")} is spent (client ${request.url.searchParams.get("client_secret")})`
              })
            : json(401, { error: "invalid_token", error_description: `Unable to get application by token ${initialAccess}` })
        )
      )
      const layer = Transport.layer({
        oauth: {
          restUrl,
          tokenUrl,
          clientId: "app",
          clientSecret: Redacted.make(clientSecret),
          accessToken: Redacted.make(initialAccess),
          refreshToken: initialRefresh
        }
      }).pipe(Layer.provide(fake.layer))
      const error = yield* observed.around(failureOf(sendVia(layer, "crm.deal.get", { id: 1 })))
      expect(error).toMatchObject({ _tag: "BitrixApiError", code: "invalid_grant", method: "oauth.token" })
      // the refresh really carried the secrets, so their absence below means they were scrubbed
      expect(fake.recorded[1]?.url.searchParams.get("client_secret")).toBe(clientSecret)
      const report = [leakReport(error), observed.lines.join("\n"), observed.spanText()].join("\n")
      expect(observed.lines.join("\n")).toContain("crm.deal.get")
      for (const secret of [clientSecret, initialAccess, initialRefresh]) expect(report).not.toContain(secret)
      expect((error as BitrixApiError).description).toBe("refresh token *** is spent (client ***)")
    }))

  it.effect("OAuth: rotated tokens are scrubbed too, and a half-broken token answer leaks no token", () =>
    Effect.gen(function* () {
      const observed = yield* observe
      let portalCalls = 0
      const fake = fakeClient((request) =>
        Effect.sync(() => {
          if (request.url.origin === "https://oauth.example.com") {
            // a truncated answer: not JSON, but it carries a fresh token
            return text(200, '{"access_token":"fresh-access-777","refresh_token":"fresh-refresh-888","expi', "application/json")
          }
          portalCalls++
          return json(401, { error: "expired_token", error_description: "The access token provided has expired" })
        })
      )
      const layer = Transport.layer({
        oauth: { restUrl, tokenUrl, clientId: "app", clientSecret, accessToken: initialAccess, refreshToken: initialRefresh }
      }).pipe(Layer.provide(fake.layer))
      const error = yield* observed.around(failureOf(sendVia(layer, "crm.deal.get", {})))
      expect(error).toMatchObject({ _tag: "HttpError", reason: "Decode", method: "oauth.token", status: 200 })
      expect((error as HttpError).bodyExcerpt).toContain('"access_token":"***"')
      const report = [leakReport(error), observed.lines.join("\n"), observed.spanText()].join("\n")
      for (const secret of ["fresh-access-777", "fresh-refresh-888", clientSecret, initialRefresh]) {
        expect(report).not.toContain(secret)
      }
      expect(portalCalls).toBe(1)
    }))
})
