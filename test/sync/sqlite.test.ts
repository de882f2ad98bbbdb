/**
 * The sync into SQLite files (in a temporary folder), against the in-process fake portal; and the errors a
 * database URL or file can give.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SyncOptions from "../../src/internal/sync/options.js"
import * as Sync from "../../src/Sync.js"
import { stats } from "../support/engine.js"
import { portalLayer, scenarios, type TestDatabase } from "./scenarios.js"

const folder = fs.mkdtempSync(path.join(os.tmpdir(), "b24-sync-sqlite-"))
afterAll(() => fs.rmSync(folder, { recursive: true, force: true }))
let files = 0

const sqlite: TestDatabase = {
  dialect: "sqlite",
  fresh: () => `sqlite:${path.join(folder, `db-${++files}.db`)}`,
  client: (url) => SqliteClient.layer({ filename: url.slice("sqlite:".length) }),
  table: (_url, name) => `"${name}"`,
  columnsQuery: (_url, name) => `SELECT name FROM pragma_table_info('${name}')`
}

describe("Sync into SQLite", () => {
  scenarios(sqlite)

  it.live("an unknown URL is a ValidationError, before anything is opened or requested", () =>
    Effect.gen(function* () {
      for (const to of ["crm.db", "mysql://host/db", "sqlite:", "postgres://", ""]) {
        const outcome = yield* Effect.either(Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(to))))
        expect(Either.isLeft(outcome) && outcome.left._tag, to).toBe("ValidationError")
      }
      expect(fs.readdirSync(folder).filter((name) => name.startsWith("mysql") || name === "crm.db")).toEqual([])
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 10 } })))
  )

  it.live("a read-only file is refused with one clear error and left as it was", () =>
    Effect.gen(function* () {
      const file = path.join(folder, "read-only.db")
      fs.writeFileSync(file, "")
      fs.chmodSync(file, 0o444)
      const outcome = yield* Effect.either(Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(`sqlite:${file}`))))
      expect(Either.isLeft(outcome) && outcome.left._tag).toBe("SinkError")
      expect(Either.isLeft(outcome) ? outcome.left.message : "").toMatch(/read-only/)
      expect(fs.statSync(file).size).toBe(0)
      expect(fs.existsSync(`${file}-wal`)).toBe(false)
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 10 } })))
  )

  it.live("a file in a folder that does not exist is refused, and no request is sent", () =>
    Effect.gen(function* () {
      const outcome = yield* Effect.either(
        Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(`sqlite:${path.join(folder, "missing", "crm.db")}`)))
      )
      expect(Either.isLeft(outcome) && outcome.left._tag).toBe("SinkError")
      expect(Either.isLeft(outcome) ? outcome.left.message : "").toMatch(/does not exist/)
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 10 } })))
  )

  it.live("entity names are checked by a Schema: a clear ValidationError naming the entity, before any request", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        ["crm.item:abc", 'Invalid Sync.options.entities[1]: "crm.item:abc" names no smart process: the entityTypeId after crm.item: must be a whole number from 1.'],
        ["crm.item:0", 'Invalid Sync.options.entities[1]: "crm.item:0" names no smart process'],
        ["crm.item:007", 'Invalid Sync.options.entities[1]: "crm.item:007" names no smart process'],
        ["crm.quote", 'Invalid Sync.options.entities[1]: unknown entity "crm.quote".'],
        [42, "Invalid Sync.options.entities[1]: unknown entity 42."]
      ]
      for (const [entity, message] of cases) {
        const outcome = yield* Effect.either(Sync.run({ entities: ["crm.deal", entity] } as unknown as Sync.Options).pipe(Effect.provide(Sync.layer(sqlite.fresh()))))
        expect(Either.isLeft(outcome) && outcome.left._tag).toBe("ValidationError")
        expect(Either.isLeft(outcome) ? outcome.left.message : "").toContain(message)
        expect(Either.isLeft(outcome) ? outcome.left.message : "").toContain("crm.item:<entityTypeId>")
      }
      expect((yield* stats).httpRequests).toBe(0)
      // and the names that are fine
      for (const entity of ["crm.item:1032", "crm.item:128", "crm.lead"]) expect(Either.isRight(SyncOptions.decodeEntity(entity)), entity).toBe(true)
      expect(SyncOptions.entityTypeIdOf("crm.item:1032")).toBe(1032)
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 10 } })))
  )

  it.live("bad options are a ValidationError", () =>
    Effect.gen(function* () {
      const bad: ReadonlyArray<unknown> = [
        { entities: [] },
        { entities: ["crm.quote"] },
        { entities: ["crm.item:abc"] },
        { entities: ["crm.item:0"] },
        { entities: ["crm.item:1.5"] },
        { entities: ["crm.item:-1032"] },
        { entities: ["crm.item"] },
        { entities: ["crm.deal", "crm.deal"] },
        { entities: ["crm.item:1032", "crm.item:1032"] },
        { entities: ["crm.deal"], overlap: "soon" },
        { entities: ["crm.deal"], chunkSize: 0 },
        { entities: ["crm.deal"], deletionsEvery: -1 },
        { entities: ["crm.deal"], colour: "red" }
      ]
      for (const options of bad) {
        const outcome = yield* Effect.either(Sync.run(options as Sync.Options).pipe(Effect.provide(Sync.layer(sqlite.fresh()))))
        expect(Either.isLeft(outcome) && outcome.left._tag, JSON.stringify(options)).toBe("ValidationError")
      }
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 10 } })))
  )
})
