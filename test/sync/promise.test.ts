/**
 * `client.sync` of the Promise client: the same run as `Sync.run`, over the client's own limiter, into a SQLite
 * file; bad options are rejected with a ValidationError before anything is opened or requested. Expected row counts
 * come from the portal's engine.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { createClient } from "../../src/Promise.js"
import { startFakePortal } from "../../src/testing/index.js"
import type { FakePortalOptions } from "../../src/testing/Options.js"
import { seededIds } from "../support/engine.js"

const folder = fs.mkdtempSync(path.join(os.tmpdir(), "b24-sync-promise-"))
afterAll(() => fs.rmSync(folder, { recursive: true, force: true }))

/** 120 deals: more than two pages, fewer than a batch of pages. */
const portalOptions: FakePortalOptions = { seed: { "crm.deal": 120 }, limits: "off", costModel: "zero" }


describe("Promise client: sync", () => {
  it("copies the deals into SQLite and resolves with the summary; a second run changes nothing", async () => {
    const portal = await startFakePortal(portalOptions)
    const client = createClient({ webhook: portal.webhookUrl, limits: "off" })
    const file = path.join(folder, "crm.db")
    try {
      const first = await client.sync({ entities: ["crm.deal"], to: `sqlite:${file}` })
      const expected = seededIds(portalOptions, "crm.deal.list")
      expect(first.inserted).toBe(expected.length)
      expect(first.updated).toBe(0)
      const stored = await Effect.runPromise(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly id: number }>`SELECT id FROM crm_deal ORDER BY id`).pipe(
          Effect.provide(SqliteClient.layer({ filename: file, readonly: true })),
          Effect.scoped
        )
      )
      expect(stored.map((row) => Number(row.id))).toEqual(expected)
      const second = await client.sync({ entities: ["crm.deal"], to: `sqlite:${file}` })
      expect([second.inserted, second.updated, second.markedDeleted]).toEqual([0, 0, 0])
    } finally {
      await client.close()
      await portal.close()
    }
  }, 120_000)

  it("bad options reject with a ValidationError before any request", async () => {
    const portal = await startFakePortal(portalOptions)
    const client = createClient({ webhook: portal.webhookUrl, limits: "off" })
    try {
      const untouched = path.join(folder, "untouched.db")
      for (const options of [undefined, {}, { entities: ["crm.deal"] }, { entities: ["crm.deal"], to: "mysql://db" }, { entities: [], to: `sqlite:${untouched}` }]) {
        const error = await client.sync(options as never).then(
          () => undefined,
          (reason: unknown) => reason
        )
        expect((error as { readonly _tag?: unknown } | undefined)?._tag, JSON.stringify(options)).toBe("ValidationError")
      }
      expect(portal.stats().httpRequests).toBe(0)
      // nothing was opened for options that do not decode
      expect(fs.existsSync(untouched)).toBe(false)
    } finally {
      await client.close()
      await portal.close()
    }
  })
})
