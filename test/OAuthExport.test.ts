/**
 * OAuth tokens that expire again and again while requests are being resent (issue 10, finding 5): each expiry
 * costs one refresh shared by every request in flight, and the work completes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type * as Auth from "../src/Auth.js"
import * as Bitrix from "../src/Bitrix.js"
import * as Transport from "../src/Transport.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import type { FakePortalOptions } from "../src/testing/Options.js"

const app = { clientId: "local.oauth.export", clientSecret: "export-secret" }

/** The client over the in-process portal's OAuth app; every rotated pair is recorded. */
const oauthClient = (options: FakePortalOptions) => {
  const rotations: Array<Auth.Tokens> = []
  const transport = Layer.unwrapEffect(
    Effect.map(FakePortal.FakePortal, (portal) =>
      Transport.layer({
        oauth: {
          ...portal.oauth!,
          onTokens: (tokens) => {
            rotations.push(tokens)
          }
        }
      })
    )
  ).pipe(Layer.orDie, Layer.provideMerge(FakePortal.layerHttpClient({ limits: "off", costModel: "zero", oauth: app, ...options })))
  return { rotations, layer: Layer.merge(Bitrix.layerServices({ limits: "off" }), transport) }
}

const stats = Effect.flatMap(FakePortal.FakePortal, (portal) => portal.stats)

/** Requests that were not REST calls: the token server's refreshes (nothing else here is outside /rest/). */
const tokenRequests = (portalStats: FakePortal.PortalStats) =>
  portalStats.httpRequests - Object.values(portalStats.requestsByMethod).reduce((sum, count) => sum + count, 0)

describe("OAuth: a token that expires again while requests are resent", () => {
  it.effect("50 concurrent calls meet two expiries in a row: one refresh for each, and every call succeeds", () => {
    // request 1 expires the first token, so all 50 calls are refused with it; they share one refresh (request 51)
    // and are resent; the first resend (request 52) expires the second token, so the resends are refused again
    const { layer, rotations } = oauthClient({ seed: { "crm.deal": 5 }, faults: [{ kind: "expireToken", onRequests: [1, 52] }] })
    return Effect.gen(function* () {
      const results = yield* Effect.forEach(Array.from({ length: 50 }, () => Bitrix.call("user.current")), (call) => call, {
        concurrency: "unbounded"
      })
      expect(results).toHaveLength(50)
      const after = yield* stats
      expect(after.faultsInjected).toEqual({ expireToken: 2 })
      // single flight each time: two expiries, two refreshes, each rotated pair reported once
      expect(tokenRequests(after)).toBe(2)
      expect(rotations).toHaveLength(2)
      // 50 refused, 50 resent and refused, 50 resent again
      expect(after.requestsByMethod["user.current"]).toBe(150)
    }).pipe(Effect.provide(layer))
  })

  it.effect("an export meets several expiries, some on resent requests, and returns every row", () => {
    const deals = 3000
    const { layer, rotations } = oauthClient({
      seed: { "crm.deal": deals },
      faults: [{ kind: "expireToken", onRequests: [2, 4, 9, 11, 20, 22] }]
    })
    return Effect.gen(function* () {
      const rows = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"] })
      const ids = rows.map((row) => Number((row as Record<string, unknown>)["ID"]))
      expect(ids).toHaveLength(deals)
      expect(new Set(ids).size).toBe(deals)
      const after = yield* stats
      expect(after.faultsInjected["expireToken"]).toBeGreaterThanOrEqual(3)
      expect(rotations.length).toBeGreaterThanOrEqual(3)
      expect(tokenRequests(after)).toBe(rotations.length)
    }).pipe(Effect.provide(layer))
  })
})
