/**
 * The `error500After` fault: the method runs (a write happens), then the portal answers 500, so a client cannot
 * tell it from a 500 that came before anything ran.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { parseFaults } from "../../src/testing/cliOptions.js"
import { PortalEngine } from "../../src/testing/internal/engine.js"
import type { PortalOutcome } from "../../src/testing/internal/types.js"
import { makeTestTable } from "./engineTestTable.js"

const hook = "/rest/1/secret/"

const response = (outcome: PortalOutcome) => {
  if (outcome._tag !== "Response") throw new Error(`expected a response, got ${outcome._tag}`)
  return outcome
}

const internalError = '{"error":"INTERNAL_SERVER_ERROR","error_description":"Internal server error"}'

describe("error500After", () => {
  it("runs the write, then answers the same 500 as error500, which does not run it", () => {
    for (const [kind, writes] of [
      ["error500", 0],
      ["error500After", 1]
    ] as const) {
      const engine = new PortalEngine(
        { costModel: "zero", limits: "off", webhook: { userId: 1, code: "secret" }, faults: [{ kind, onRequests: [1] }] },
        0,
        makeTestTable()
      )
      const outcome = response(engine.handle({ httpMethod: "GET", url: `${hook}crm.deal.add?fields[TITLE]=x`, headers: {}, body: "" }, 0))
      expect(outcome.status, kind).toBe(500)
      expect(outcome.body, kind).toBe(internalError)
      const stats = engine.stats()
      expect(stats.writesPerformed["crm.deal.add"] ?? 0, kind).toBe(writes)
      expect(stats.faultsInjected, kind).toEqual({ [kind]: 1 })
    }
  })

  it("is a kind the portal CLI's --faults accepts", () => {
    expect(parseFaults("error500After@2+3/crm.deal.add,error500:0.1")).toEqual(
      Either.right([
        { kind: "error500After", onRequests: [2, 3], methods: ["crm.deal.add"] },
        { kind: "error500", probability: 0.1 }
      ])
    )
  })
})
