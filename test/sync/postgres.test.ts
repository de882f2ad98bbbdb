/**
 * The sync into PostgreSQL: `DATABASE_URL` when set, else a server this file starts (support/postgres.ts). Every
 * test gets a schema of its own. Without a server the file fails: it never skips.
 */
import { PgClient } from "@effect/sql-pg"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import * as Sync from "../../src/Sync.js"
import { freshSchema, type PostgresServer, startPostgres, withSchema } from "../support/postgres.js"
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
