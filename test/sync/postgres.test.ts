/**
 * The sync into PostgreSQL: `DATABASE_URL` when set, else a server this file starts (support/postgres.ts). Every
 * test gets a schema of its own. Without a server the file fails: it never skips. The kill -9 rounds run the built
 * `b24` (dist/cli/bin.js) against a fake portal served from this process.
 */
import { PgClient } from "@effect/sql-pg"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import { existsSync } from "node:fs"
import * as Sync from "../../src/Sync.js"
import { binPath } from "../support/b24.js"
import { freshSchema, type PostgresServer, startPostgres, withSchema } from "../support/postgres.js"
import { killAtRandomMoments, type TableSnapshot } from "./killRuns.js"
import { portalLayer, scenarios, type TestDatabase } from "./scenarios.js"

let server: PostgresServer | undefined
const schemas: Array<string> = []
beforeAll(async () => {
  server = await startPostgres()
}, 120_000)
afterAll(async () => {
  // a shared server (DATABASE_URL) keeps nothing of this file's runs
  if (server !== undefined && schemas.length > 0) {
    const url = server.url
    await Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        for (const schema of schemas) yield* sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })))
    )
  }
  server?.stop()
}, 60_000)

const serverUrl = () => {
  if (server === undefined) throw new Error("the Postgres server did not start")
  return server.url
}

const schemaOf = (url: string) => new URL(url).searchParams.get("schema") ?? "public"

const postgres: TestDatabase = {
  dialect: "postgres",
  fresh: () => {
    const schema = freshSchema("b24sync")
    schemas.push(schema)
    return withSchema(serverUrl(), schema)
  },
  client: () => PgClient.layer({ url: Redacted.make(serverUrl()) }),
  table: (url, name) => `"${schemaOf(url)}"."${name}"`,
  columnsQuery: (url, name) =>
    `SELECT column_name AS name FROM information_schema.columns WHERE table_schema = '${schemaOf(url)}' AND table_name = '${name}'`
}

describe("Sync into Postgres", () => {
  scenarios(postgres)

  it.live("an unreachable server is one clear error, before any row is read", () =>
    Effect.gen(function* () {
      const outcome = yield* Effect.either(
        Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer("postgres://postgres:secret@127.0.0.1:1/nowhere")))
      )
      expect(Either.isLeft(outcome) && outcome.left._tag).toBe("SinkError")
      const message = Either.isLeft(outcome) ? outcome.left.message : ""
      expect(message).toMatch(/^cannot open postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/nowhere: /)
      expect(message).not.toContain("secret")
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 10 } })))
  )

  it.live("two schemas of one database are synced independently, each under its own lock", () => {
    const first = postgres.fresh()
    const second = postgres.fresh()
    return Effect.gen(function* () {
      const outcome = yield* Effect.gen(function* () {
        const sink = yield* Sync.Sink
        yield* sink.lock
        return yield* Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(second)))
      }).pipe(Effect.scoped, Effect.provide(Sync.layer(first)))
      expect(outcome.inserted).toBe(30)
    }).pipe(Effect.provide(portalLayer({ seed: { "crm.deal": 30 } })))
  })
})

describe("b24 sync into Postgres, killed with -9", () => {
  beforeAll(() => {
    if (!existsSync(binPath)) throw new Error(`${binPath} is missing: run npm run build first`)
  })

  /** The table as this test's own client reads it: live rows' raw JSON (jsonb, parsed by the driver) by ID. */
  const read = (url: string) => (): Promise<TableSnapshot> =>
    Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        const rows = yield* sql.unsafe<Record<string, unknown>>(`SELECT id, raw, deleted_at FROM ${postgres.table(url, "crm_deal")} ORDER BY id`)
        const live = new Map<number, Readonly<Record<string, unknown>>>()
        const deleted: Array<number> = []
        for (const row of rows) {
          if (row["deleted_at"] === null) live.set(Number(row["id"]), row["raw"] as Readonly<Record<string, unknown>>)
          else deleted.push(Number(row["id"]))
        }
        return { live, deleted }
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(serverUrl()) })))
    )

  it("kill -9 at 10 random moments (fixed seeds), each followed by a rerun: the table ends equal to the portal", async () => {
    const url = postgres.fresh()
    const phase = () =>
      Effect.runPromise(
        Effect.gen(function* () {
          const sql = yield* PgClient.PgClient
          const rows = yield* sql.unsafe<{ readonly phase: string }>(
            `SELECT phase FROM ${postgres.table(url, "_b24_sync_state")} WHERE entity = 'crm.deal'`
          )
          return rows[0]?.phase
        }).pipe(
          Effect.provide(PgClient.layer({ url: Redacted.make(serverUrl()) })),
          // the schema is made by the first run that opens the database
          Effect.catchAll(() => Effect.succeed(undefined))
        )
      )
    const { moments, killedMidRun } = await killAtRandomMoments({
      to: url,
      read: read(url),
      phase,
      seed: 20261202,
      rounds: 10
    })
    expect(moments.length).toBe(10)
    // at least 3 of the 10 kills land in the middle of a run (the others after it ended)
    expect(killedMidRun).toBeGreaterThanOrEqual(3)
  }, 300_000)
})
