import { describe, expect, it } from "@effect/vitest"
import { Either, Redacted } from "effect"
import type { ValidationError } from "../../src/BitrixError.js"
import { type Connection, redactorOf, resolveConnection, resolveLimits } from "../../src/cli/Connection.js"

const webhook = "https://portal.example/rest/7/s3cr3tcode/"

const oauthEnv = {
  BITRIX24_ACCESS_TOKEN: "access1",
  BITRIX24_REFRESH_TOKEN: "refresh1",
  BITRIX24_CLIENT_ID: "local.app",
  BITRIX24_CLIENT_SECRET: "clientsecret",
  BITRIX24_REST_URL: "https://portal.example/rest"
}

const connectionOf = (either: Either.Either<Connection, ValidationError>): Connection => {
  if (Either.isLeft(either)) throw new Error(`unexpected error: ${either.left.message}`)
  return either.right
}

const errorOf = <A>(either: Either.Either<A, ValidationError>): ValidationError => {
  if (Either.isRight(either)) throw new Error("expected a ValidationError")
  return either.left
}

describe("resolveConnection", () => {
  it("takes --webhook first, masks its code, and keeps the code as a secret", () => {
    const connection = connectionOf(resolveConnection(webhook, { BITRIX24_WEBHOOK: "https://other.example/rest/1/zzz/" }))
    expect(connection._tag).toBe("Webhook")
    if (connection._tag !== "Webhook") return
    expect(Redacted.value(connection.webhook)).toBe(webhook)
    expect(connection.endpoint).toBe("https://portal.example/rest/7/***/")
    expect(redactorOf(connection.secrets)(`failed at ${webhook}crm.deal.list`)).toBe(
      "failed at https://portal.example/rest/7/***/crm.deal.list"
    )
  })

  it("falls back to BITRIX24_WEBHOOK, then to the OAuth variables", () => {
    expect(connectionOf(resolveConnection(undefined, { BITRIX24_WEBHOOK: webhook, ...oauthEnv }))._tag).toBe("Webhook")
    const oauth = connectionOf(resolveConnection(undefined, { ...oauthEnv, BITRIX24_TOKEN_URL: "http://127.0.0.1:9/oauth/token/" }))
    expect(oauth._tag).toBe("OAuth")
    if (oauth._tag !== "OAuth") return
    expect(oauth.oauth.restUrl).toBe("https://portal.example/rest")
    expect(oauth.oauth.tokenUrl).toBe("http://127.0.0.1:9/oauth/token/")
    expect(oauth.endpoint).toBe("https://portal.example/rest/")
    expect(redactorOf(oauth.secrets)("access1 refresh1 clientsecret local.app")).toBe("*** *** *** local.app")
  })

  it("names the missing OAuth variables, and says how to connect when nothing is set", () => {
    const partial = errorOf(resolveConnection(undefined, { BITRIX24_ACCESS_TOKEN: "a", BITRIX24_REST_URL: "https://p.example/rest/" }))
    expect(partial.detail).toContain("BITRIX24_REFRESH_TOKEN, BITRIX24_CLIENT_ID, BITRIX24_CLIENT_SECRET")
    const none = errorOf(resolveConnection(undefined, {}))
    expect(none.path).toBe("connection")
    expect(none.suggestion).toContain("--webhook")
  })

  it("refuses a malformed webhook without repeating its code, naming where it came from", () => {
    const fromFlag = errorOf(resolveConnection("https://portal.example/rest/1/s3cr3tcode/crm.deal.list.json", {}))
    expect(fromFlag.path).toBe("--webhook")
    expect(fromFlag.message).not.toContain("s3cr3tcode")
    expect(errorOf(resolveConnection(undefined, { BITRIX24_WEBHOOK: "portal.example/rest/1/x/" })).path).toBe("BITRIX24_WEBHOOK")
  })
})

describe("resolveLimits", () => {
  it("defaults to the standard plan and takes --plan", () => {
    expect(resolveLimits(undefined, undefined)).toEqual(Either.right("standard"))
    expect(resolveLimits("enterprise", undefined)).toEqual(Either.right("enterprise"))
  })

  it("lets --limits override the plan, with the fake portal's syntax", () => {
    expect(resolveLimits("enterprise", "off")).toEqual(Either.right("off"))
    expect(resolveLimits(undefined, "pool=5,rps=20,operating=48,window=60")).toEqual(
      Either.right({ poolSize: 5, requestsPerSecond: 20, operatingLimitSeconds: 48, operatingWindowSeconds: 60 })
    )
  })

  it("reports a bad spec against --limits", () => {
    const error = errorOf(resolveLimits(undefined, "pool=abc"))
    expect(error.path).toBe("--limits")
    expect(error.detail).toContain("pool")
  })
})
