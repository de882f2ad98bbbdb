import { HttpClient, HttpClientResponse } from "@effect/platform"
import { assert, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Exit, Fiber, Layer, Logger, LogLevel, Option, Redacted, Scope, TestClock } from "effect"
import * as Auth from "../src/Auth.js"
import type { ValidationError } from "../src/BitrixError.js"

const code = "abcdef0123456789"

/** An HttpClient that must not be called: webhook handling is pure. */
const noHttp = Layer.succeed(
  HttpClient.HttpClient,
  HttpClient.make(() => Effect.dieMessage("no HTTP request expected"))
)

const makeAuth = (options: Auth.AuthOptions) => Effect.scoped(Auth.make(options)).pipe(Effect.provide(noHttp))

const validationErrorOf = (webhook: string | Redacted.Redacted<string>) =>
  Effect.flatMap(Effect.either(makeAuth({ webhook })), (either) =>
    Either.isLeft(either) ? Effect.succeed(either.left) : Effect.dieMessage(`expected ${String(webhook)} to be refused`)
  )

const everyRendering = (error: ValidationError) => [error.message, String(error), JSON.stringify(error)].join("\n")

describe("Auth: webhook URL", () => {
  it.effect("normalises a valid webhook and appends methods to it", () =>
    Effect.gen(function* () {
      for (const input of [
        `https://portal.bitrix24.com/rest/1/${code}`,
        `https://portal.bitrix24.com/rest/1/${code}/`,
        `  https://PORTAL.bitrix24.com/rest/1/${code}/  `
      ]) {
        const auth = yield* makeAuth({ webhook: input })
        expect(auth.kind).toBe("webhook")
        expect(auth.endpoint("crm.deal.list")).toBe(`https://portal.bitrix24.com/rest/1/${code}/crm.deal.list`)
      }
      // plain http is allowed (self-hosted portals, the fake portal on loopback); ports are kept
      const local = yield* makeAuth({ webhook: Redacted.make(`http://127.0.0.1:8080/rest/12/${code}/`) })
      expect(local.endpoint("profile")).toBe(`http://127.0.0.1:8080/rest/12/${code}/profile`)
    }))

  it.effect("passes params through unchanged and holds no token", () =>
    Effect.gen(function* () {
      const auth = yield* makeAuth({ webhook: `https://portal.bitrix24.com/rest/1/${code}/` })
      const params = { filter: { ID: 1 } }
      const authorized = yield* auth.authorize(params)
      expect(authorized.body).toBe(params)
      expect(Option.isNone(authorized.token)).toBe(true)
      expect(Option.isNone(yield* auth.currentToken)).toBe(true)
      expect(auth.redact(`/rest/1/${code}/x`)).toBe("/rest/1/***/x")
    }))

  const refused: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["", "empty", /empty/],
    [`portal.bitrix24.com/rest/1/${code}/`, "no scheme", /Add "https:\/\/"/],
    [`not a url ${code}`, "garbage", /not a URL/],
    [`ftp://portal.bitrix24.com/rest/1/${code}/`, "wrong scheme", /scheme/],
    [`https://portal.bitrix24.com/${code}/`, "no /rest/", /\/rest\/\{userId\}\/\{code\}/],
    [`https://portal.bitrix24.com/rest/${code}/`, "user ID missing", /missing/],
    [`https://portal.bitrix24.com/rest/admin/${code}/`, "user ID not a number", /numeric user ID/],
    [`https://portal.bitrix24.com/rest/1/${code}/crm.deal.list`, "method pasted", /crm\.deal\.list/],
    [`https://portal.bitrix24.com/rest/1/${code}/crm.deal.list.json`, "method and .json pasted", /crm\.deal\.list\.json/],
    [`https://portal.bitrix24.com/rest/1/${code}.json`, ".json glued to the code", /"\.json"/],
    [`https://portal.bitrix24.com/rest/1/${code}/?auth=x`, "query string", /query string/],
    [`https://user:pw@portal.bitrix24.com/rest/1/${code}/`, "credentials", /user name or password/],
    [`https://portal.bitrix24.com/rest/1/${code}!/`, "odd characters", /characters/]
  ]

  for (const [input, name, detail] of refused) {
    it.effect(`refuses a webhook with ${name}, without repeating the code`, () =>
      Effect.gen(function* () {
        const error = yield* validationErrorOf(input)
        expect(error._tag).toBe("ValidationError")
        expect(error.path).toBe("webhook")
        expect(error.message).toMatch(detail)
        expect(error.suggestion).toBeDefined()
        expect(everyRendering(error)).not.toContain(code)
      }))
  }

  it.effect("suggests the corrected address when a method was pasted after the code", () =>
    Effect.gen(function* () {
      const error = yield* validationErrorOf(`https://portal.bitrix24.com/rest/1/${code}/crm.deal.list.json`)
      expect(error.suggestion).toContain("https://portal.bitrix24.com/rest/1/***/")
      expect(error.message).toContain("https://portal.bitrix24.com/rest/1/***/")
    }))
})

describe("Auth: OAuth settings", () => {
  const base: Auth.OAuthOptions = {
    restUrl: "https://portal.bitrix24.com/rest",
    clientId: "app.1",
    clientSecret: "client-secret-x",
    accessToken: "access-x",
    refreshToken: "refresh-x"
  }

  it.effect("normalises restUrl and puts auth in object params, Bearer for lists", () =>
    Effect.gen(function* () {
      const auth = yield* makeAuth({ oauth: base })
      expect(auth.kind).toBe("oauth")
      expect(auth.endpoint("crm.deal.get")).toBe("https://portal.bitrix24.com/rest/crm.deal.get")
      const authorized = yield* auth.authorize({ id: 3 })
      expect(authorized.body).toEqual({ id: 3, auth: "access-x" })
      expect(Option.map(authorized.token, Redacted.value)).toEqual(Option.some("access-x"))
      const positional = yield* auth.authorize([3, { A: 1 }])
      expect(positional.body).toEqual([3, { A: 1 }])
      expect(Option.map(positional.bearerToken, Redacted.value)).toEqual(Option.some("access-x"))
    }))

  it.effect("refuses empty or malformed settings, naming the option and never the secret", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [Auth.OAuthOptions, string]> = [
        [{ ...base, restUrl: "portal.bitrix24.com/rest/" }, "oauth.restUrl"],
        [{ ...base, tokenUrl: "ftp://oauth.bitrix.info/" }, "oauth.tokenUrl"],
        [{ ...base, clientId: " " }, "oauth.clientId"],
        [{ ...base, clientSecret: Redacted.make("") }, "oauth.clientSecret"],
        [{ ...base, accessToken: "" }, "oauth.accessToken"],
        [{ ...base, refreshToken: "" }, "oauth.refreshToken"]
      ]
      for (const [oauth, path] of cases) {
        const either = yield* Effect.either(makeAuth({ oauth }))
        expect(Either.isLeft(either) && either.left.path).toBe(path)
        if (Either.isLeft(either)) expect(everyRendering(either.left)).not.toContain("client-secret-x")
      }
    }))
})

describe("Auth: OAuth refresh", () => {
  /** The app's settings and first token pair; the token server answers with access-1/refresh-1, then -2, … */
  const app = {
    restUrl: "https://portal.bitrix24.com/rest/",
    clientId: "app.1",
    clientSecret: "secret",
    accessToken: "access-0",
    refreshToken: "refresh-0"
  }
  const tokenServer = (shape: (issued: number) => Record<string, unknown> = (issued) => ({
    access_token: `access-${issued}`,
    refresh_token: `refresh-${issued}`
  })) => {
    const requests: Array<URL> = []
    let issued = 0
    const layer = Layer.succeed(
      HttpClient.HttpClient,
      HttpClient.make((request, url) =>
        Effect.sync(() => {
          requests.push(url)
          issued++
          const body = {
            ...shape(issued),
            expires_in: 3600,
            expires: 1780319382,
            member_id: "a223c6b3710f85df22e9377d6c4f7553",
            scope: "crm,task",
            status: "F",
            user_id: 67,
            client_endpoint: "https://portal.bitrix24.com/rest/",
            server_endpoint: "https://oauth.bitrix.info/rest/",
            domain: "oauth.bitrix.info"
          }
          return HttpClientResponse.fromWeb(
            request,
            new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } })
          )
        })
      )
    )
    return { requests, layer }
  }

  it.scoped("rotates the pair, reports it to onTokens with expiresAt from the Clock, and uses the new token", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_000_000)
      const server = tokenServer()
      const received: Array<Auth.Tokens> = []
      const auth = yield* Auth.make({
        oauth: {
          ...app,
          onTokens: async (tokens) => {
            received.push(tokens)
          }
        }
      }).pipe(Effect.provide(server.layer))
      yield* auth.refresh(Redacted.make("access-0"))
      expect(server.requests[0]?.origin + server.requests[0]!.pathname).toBe("https://oauth.bitrix.info/oauth/token/")
      expect(received).toHaveLength(1)
      const [tokens] = received
      expect(Redacted.value(tokens!.accessToken)).toBe("access-1")
      expect(Redacted.value(tokens!.refreshToken)).toBe("refresh-1")
      expect(tokens!.expiresAt).toBe(1_000_000 + 3_600_000)
      expect(tokens!.raw).toMatchObject({ member_id: "a223c6b3710f85df22e9377d6c4f7553", user_id: 67, scope: "crm,task" })
      // the tokens inside stay redacted when the pair is serialised
      expect(JSON.stringify(tokens)).not.toContain("access-1")
      expect(Option.map(yield* auth.currentToken, Redacted.value)).toEqual(Option.some("access-1"))
      expect((yield* auth.authorize({})).body).toEqual({ auth: "access-1" })
      // spent tokens are still scrubbed from echoes
      expect(auth.redact("old access-0 new access-1 refresh-0")).toBe("old *** new *** ***")
    }))

  it.scoped("a JSON answer without a usable token pair is an UnexpectedResultError that shows no token", () =>
    Effect.gen(function* () {
      const server = tokenServer((issued) => ({ access_token: `access-${issued}` }))
      const auth = yield* Auth.make({ oauth: app }).pipe(Effect.provide(server.layer))
      const error = yield* Effect.flip(auth.refresh(Redacted.make("access-0")))
      expect(error._tag).toBe("UnexpectedResultError")
      expect(error.message).toContain("access_token / refresh_token")
      expect(JSON.stringify(error) + error.message).not.toContain("access-1")
      // the pair in use is unchanged
      expect(Option.map(yield* auth.currentToken, Redacted.value)).toEqual(Option.some("access-0"))
    }))

  it.scoped("returns at once when the caller's token was already rotated", () =>
    Effect.gen(function* () {
      const server = tokenServer()
      const auth = yield* Auth.make({
        oauth: app
      }).pipe(Effect.provide(server.layer))
      yield* auth.refresh(Redacted.make("access-0"))
      yield* auth.refresh(Redacted.make("access-0"))
      expect(server.requests).toHaveLength(1)
      // the current token, once refused, is refreshed again with the rotated refresh token
      yield* auth.refresh(Redacted.make("access-1"))
      expect(server.requests).toHaveLength(2)
      expect(server.requests[1]?.searchParams.get("refresh_token")).toBe("refresh-1")
    }))

  it.scoped("a failing onTokens callback is logged, not fatal: the tokens are rotated already", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const server = tokenServer()
      const auth = yield* Auth.make({
        oauth: {
          ...app,
          onTokens: () => Promise.reject(new Error("disk full while saving refresh-1"))
        }
      }).pipe(Effect.provide(server.layer))
      yield* auth.refresh(Redacted.make("access-0")).pipe(
        Effect.provide(
          Layer.merge(
            Logger.add(Logger.make((options) => lines.push(Logger.logfmtLogger.log(options)))),
            Logger.minimumLogLevel(LogLevel.All)
          )
        )
      )
      expect(Option.map(yield* auth.currentToken, Redacted.value)).toEqual(Option.some("access-1"))
      const warning = lines.find((line) => line.includes("onTokens callback failed"))
      expect(warning).toContain("disk full")
      expect(warning).not.toContain("refresh-1")
    }))

  it.effect("closing the client stops a refresh in flight: the requests waiting for it fail with an HttpError, never hang", () =>
    Effect.gen(function* () {
      // a token server that never answers, so the refresh is in flight when the client closes
      const asked: Array<URL> = []
      const hanging = Layer.succeed(
        HttpClient.HttpClient,
        HttpClient.make((_request, url) => Effect.zipRight(Effect.sync(() => asked.push(url)), Effect.never))
      )
      const scope = yield* Scope.make()
      const auth = yield* Auth.make({
        oauth: app
      }).pipe(Effect.provide(hanging), Scope.extend(scope))
      // one request leads the refresh, two join it
      const waiters = yield* Effect.forEach([1, 2, 3], () => Effect.fork(Effect.either(auth.refresh(Redacted.make("access-0")))))
      yield* TestClock.adjust("1 second")
      expect(asked).toHaveLength(1)
      yield* Scope.close(scope, Exit.void)
      for (const waiter of waiters) {
        const outcome = yield* Fiber.join(waiter)
        assert(Either.isLeft(outcome), "a waiter of a stopped refresh succeeded")
        expect(outcome.left._tag).toBe("HttpError")
        expect(outcome.left.message).toMatch(/token refresh was stopped/)
      }
      expect(asked).toHaveLength(1)
    }))

  it.scoped("interrupting the request that started a refresh does not stop it for the others", () =>
    Effect.gen(function* () {
      const server = tokenServer()
      const gate = yield* Deferred.make<void>()
      const slow = Layer.succeed(
        HttpClient.HttpClient,
        HttpClient.make((request) =>
          Effect.zipRight(
            Deferred.await(gate),
            Effect.flatMap(HttpClient.HttpClient, (client) => client.execute(request)).pipe(Effect.provide(server.layer))
          )
        )
      )
      const auth = yield* Auth.make({
        oauth: app
      }).pipe(Effect.provide(slow))
      const leader = yield* Effect.fork(auth.refresh(Redacted.make("access-0")))
      yield* TestClock.adjust("1 second")
      const joiner = yield* Effect.fork(auth.refresh(Redacted.make("access-0")))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(leader)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(joiner)
      expect(Option.map(yield* auth.currentToken, Redacted.value)).toEqual(Option.some("access-1"))
      expect(server.requests).toHaveLength(1)
    }))
})
