/**
 * Ground truth for tests: the rows in the fake portal's engine, read from its method table directly (no HTTP, no
 * client, no mutation rule fires), with plain offset pages in ID order and no filter.
 */
import { Effect, Layer } from "effect"
import * as Bitrix from "../../src/Bitrix.js"
import * as FakePortal from "../../src/testing/FakePortal.js"
import { PortalEngine } from "../../src/testing/internal/engine.js"
import type { FakePortalOptions } from "../../src/testing/Options.js"

/** The client over the in-process fake portal, limits off, no simulated server time. */
export const testLayer = (portal: FakePortalOptions, client: Bitrix.ServiceOptions = {}) =>
  Layer.merge(
    Bitrix.layerServices({ limits: "off", ...client }),
    FakePortal.layer({ limits: "off", costModel: "zero", ...portal })
  )

/** The fake portal's counters. */
export const stats = Effect.flatMap(FakePortal.FakePortal, (portal) => portal.stats)

/** Every row of a classic list method (`crm.deal.list`, …) with the fields in `select`, in ID order. */
export const engineRows = (method: string, select: ReadonlyArray<string>) =>
  Effect.map(FakePortal.FakePortal, (portal) => {
    const rows: Array<unknown> = []
    for (let start = 0; ; start += 50) {
      const answer = portal.engine.methodTable.call(method, { select: [...select], order: { ID: "ASC" }, start }, { nowMs: 0, userId: 1 })
      if (answer?._tag !== "Ok" || !Array.isArray(answer.result)) throw new Error(`the engine answered ${JSON.stringify(answer)}`)
      rows.push(...answer.result)
      if (answer.next === undefined || answer.result.length === 0) return rows
    }
  })

/** The IDs of every row of a classic list method, in ID order. */
export const engineIds = (method: string) =>
  Effect.map(engineRows(method, ["ID"]), (rows) => rows.map((row) => Number((row as { readonly ID: unknown }).ID)))

/**
 * The IDs of every row of a classic list method of a portal seeded with `options`, in ID order: the same rows a
 * portal started elsewhere with these options holds (for tests whose portal runs over HTTP or in another process).
 */
export const seededIds = (options: FakePortalOptions, method: string): ReadonlyArray<number> => {
  const engine = new PortalEngine(options, 0)
  const ids: Array<number> = []
  for (let start = 0; ; start += 50) {
    const answer = engine.methodTable.call(method, { select: ["ID"], order: { ID: "ASC" }, start }, { nowMs: 0, userId: 1 })
    if (answer?._tag !== "Ok" || !Array.isArray(answer.result)) throw new Error(`the engine answered ${JSON.stringify(answer)}`)
    ids.push(...answer.result.map((row: unknown) => Number((row as { readonly ID: unknown }).ID)))
    if (answer.next === undefined || answer.result.length === 0) return ids
  }
}

