/**
 * `b24 sync` through the real process (`node dist/cli/bin.js`, built by `npm test` first) against a fake portal
 * served from this test process, whose engine the test also reads and changes directly (ground truth).
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { isDeepStrictEqual } from "node:util"
import * as FakePortalHttp from "../../src/testing/FakePortalHttp.js"
import { PortalEngine } from "../../src/testing/internal/engine.js"
import * as Sync from "../../src/Sync.js"
import { binPath } from "../support/b24.js"
import { b24, expectEqualsPortal, killAtRandomMoments, seeded, start, summaryOf, type TableSnapshot } from "./killRuns.js"

const errorLines = (text: string) => text.split("\n").filter((line) => line.startsWith("b24: error"))

let engine: PortalEngine
let server: FakePortalHttp.Server
let webhook: string
let dir: string
let files = 0
const fresh = () => join(dir, `sync-${++files}.db`)
const deals = 2500
const contacts = 400
const items = 900

beforeAll(async () => {
  if (!existsSync(binPath)) throw new Error(`${binPath} is missing: run npm run build first`)
  engine = new PortalEngine({ seed: { "crm.deal": deals, "crm.contact": contacts, "crm.item:1032": items }, limits: "off", costModel: "zero" }, Date.now())
  server = await FakePortalHttp.serve(engine, { port: 0 })
  webhook = server.url + engine.webhookPath
  dir = mkdtempSync(join(tmpdir(), "b24-sync-cli-"))
})

afterAll(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

type Row = Readonly<Record<string, unknown>>

/** The live rows of a table in a SQLite file (raw JSON by ID), the IDs marked deleted, and how many rows in all. */
const tableRows = (file: string, table: string) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqliteClient.SqliteClient
      const rows = yield* sql.unsafe<Record<string, unknown>>(`SELECT id, raw, deleted_at FROM "${table}" ORDER BY id`)
      const live = new Map<number, Row>()
      const deleted: Array<number> = []
      for (const row of rows) {
        if (row["deleted_at"] === null) live.set(Number(row["id"]), JSON.parse(String(row["raw"])) as Row)
        else deleted.push(Number(row["id"]))
      }
      return { live, deleted, total: rows.length } satisfies TableSnapshot & { readonly total: number }
    }).pipe(Effect.provide(SqliteClient.layer({ filename: file })))
  )

/** Whether the file's table holds exactly the portal's rows (live), each as the portal has it. */
const equalsPortal = async (file: string, entity: string, on: PortalEngine = engine) =>
  expectEqualsPortal(await tableRows(file, entity.replace(".", "_")), on, entity)

/** The engine's items of a smart process as crm.item.list prints them with `select: ["*"]`, by ID. */
const engineItems = (entityTypeId: number): Map<number, Row> => {
  const rows = new Map<number, Row>()
  for (let start = 0; ; start += 50) {
    const answer = engine.methodTable.call("crm.item.list", { entityTypeId, select: ["*"], order: { id: "ASC" }, start }, { nowMs: Date.now(), userId: 1 })
    const result = answer?._tag === "Ok" ? (answer.result as { readonly items?: ReadonlyArray<Row> }) : undefined
    if (answer?._tag !== "Ok" || !Array.isArray(result?.items)) throw new Error(`the engine answered ${JSON.stringify(answer)}`)
    for (const row of result.items) rows.set(Number(row["id"]), row)
    if (answer.next === undefined) return rows
  }
}

describe("b24 sync", () => {
  it("copies the entities, then a second run changes nothing and costs a few requests", async () => {
    const file = fresh()
    const first = await b24(["sync", "crm.deal", "crm.contact", "--to", `sqlite:${file}`, "--json", "--webhook", webhook])
    expect(first.code, first.stderr).toBe(0)
    const summary = summaryOf(first.stdout)
    expect(summary).toMatchObject({ status: "done", inserted: deals + contacts, updated: 0, markedDeleted: 0, throttled503: 0, blocked429: 0 })
    await equalsPortal(file, "crm.deal")
    await equalsPortal(file, "crm.contact")
    const requestsBefore = engine.stats(Date.now()).httpRequests
    const second = await b24(["sync", "crm.deal", "crm.contact", "--to", `sqlite:${file}`, "--json", "--quiet", "--webhook", webhook])
    expect(second.code, second.stderr).toBe(0)
    expect(second.stderr).toBe("")
    expect(summaryOf(second.stdout)).toMatchObject({ inserted: 0, updated: 0, markedDeleted: 0 })
    // per entity: *.fields, the empty window, the ID pass (one request under 2,500 IDs, two for the deals)
    expect(engine.stats(Date.now()).httpRequests - requestsBefore).toBeLessThanOrEqual(7)
  }, 120_000)

  it("a bad --to, an unknown entity, a read-only file: one clear error each, a non-zero exit, nothing written", async () => {
    const readOnly = join(dir, "read-only.db")
    writeFileSync(readOnly, "")
    chmodSync(readOnly, 0o444)
    const requestsBefore = engine.stats(Date.now()).httpRequests
    const [badUrl, badEntity, noTo, locked] = await Promise.all([
      b24(["sync", "crm.deal", "--to", "mysql://host/crm", "--webhook", webhook]),
      b24(["sync", "crm.deal", "crm.quote", "--to", `sqlite:${fresh()}`, "--webhook", webhook]),
      b24(["sync", "crm.deal", "--webhook", webhook]),
      b24(["sync", "crm.deal", "--to", `sqlite:${readOnly}`, "--webhook", webhook])
    ])
    expect([badUrl.code, badEntity.code, noTo.code]).toEqual([2, 2, 2])
    expect(errorLines(badUrl.stderr)).toEqual([expect.stringMatching(/^b24: error: Invalid to: "mysql:\/\/host\/crm" is neither sqlite: nor postgres:/)])
    expect(errorLines(badEntity.stderr)).toEqual([expect.stringMatching(/unknown entity "crm.quote"/)])
    expect(noTo.stderr).toMatch(/missing --to URL/)
    expect(locked.code).toBe(1)
    expect(errorLines(locked.stderr)).toEqual([expect.stringMatching(/^b24: error: cannot open sqlite:.*read-only\.db: the file is read-only/)])
    expect(statSync(readOnly).size).toBe(0)
    expect(existsSync(join(dir, `sync-${files}.db`))).toBe(false)
    // the checks come before any request
    expect(engine.stats(Date.now()).httpRequests - requestsBefore).toBeLessThanOrEqual(2)
  }, 60_000)

  it("an unreachable Postgres is one error line and exit 1, the password not shown", async () => {
    const run = await b24(["sync", "crm.deal", "--to", "postgres://bi:secret@127.0.0.1:1/crm", "--webhook", webhook])
    expect(run.code).toBe(1)
    expect(errorLines(run.stderr)).toEqual([expect.stringMatching(/^b24: error: cannot open postgres:\/\/bi:\*\*\*@127\.0\.0\.1:1\/crm: /)])
    expect(run.stderr).not.toContain("secret")
  }, 60_000)

  it("a second run while one holds the database is refused with exit 4", async () => {
    const file = fresh()
    const outcome = await Effect.runPromise(
      Effect.gen(function* () {
        const sink = yield* Sync.Sink
        yield* sink.lock
        return yield* Effect.promise(() => b24(["sync", "crm.deal", "--to", `sqlite:${file}`, "--webhook", webhook]))
      }).pipe(Effect.scoped, Effect.provide(Sync.layer(`sqlite:${file}`)))
    )
    expect(outcome.code).toBe(4)
    expect(errorLines(outcome.stderr)).toEqual([expect.stringMatching(/another sync is running against sqlite:.*\(pid \d+ on /)])
  }, 60_000)

  it("Ctrl-C stops cleanly (exit 130), and the next run completes the copy", async () => {
    const file = fresh()
    // a portal with the default server costs behind a network whose answers straggle over about 3 s (jitter): the
    // export's requests all go out at once, so without it every row would arrive together and the copy could end
    // before Ctrl-C lands; with it rows keep arriving for seconds after the first ones, on any machine load
    const slowEngine = new PortalEngine({ seed: { "crm.deal": 10_000 }, limits: "off", costModel: "default" }, Date.now())
    const slow = await FakePortalHttp.serve(slowEngine, { port: 0, latency: { roundTripMs: 100, jitterMs: 3_000, seed: 7 } })
    const slowWebhook = slow.url + slowEngine.webhookPath
    const run = start(["sync", "crm.deal", "--to", `sqlite:${file}`, "--chunk-size", "50", "--webhook", slowWebhook])
    // once rows are flowing (the first progress figures), interrupt
    while (!/crm\.deal\.list: [1-9]\d*\/\d+/.test(run.stderr()) && run.child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 20))
    run.child.kill("SIGINT")
    const interrupted = await run.finished
    expect(interrupted.code, interrupted.stderr).toBe(130)
    expect(interrupted.stderr).toMatch(/b24: interrupted: /)
    // what was committed before Ctrl-C stays, and the rerun resumes after it: each row written once
    const committed = (await tableRows(file, "crm_deal")).total
    const rerun = await b24(["sync", "crm.deal", "--to", `sqlite:${file}`, "--json", "--webhook", slowWebhook])
    await slow.close()
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(summaryOf(rerun.stdout)).toMatchObject({ inserted: 10_000 - committed, updated: 0 })
    await equalsPortal(file, "crm.deal", slowEngine)
  }, 120_000)

  it("kill -9 at 10 random moments (fixed seeds), each followed by a rerun: the table ends equal to the portal", async () => {
    const file = fresh()
    const phase = () =>
      Effect.runPromise(
        Effect.gen(function* () {
          const sql = yield* SqliteClient.SqliteClient
          const tables = yield* sql.unsafe(`SELECT name FROM sqlite_master WHERE name = '_b24_sync_state'`)
          if (tables.length === 0) return undefined
          const rows = yield* sql.unsafe<{ readonly phase: string }>(`SELECT phase FROM _b24_sync_state WHERE entity = 'crm.deal'`)
          return rows[0]?.phase
        }).pipe(Effect.provide(SqliteClient.layer({ filename: file })))
      )
    const { moments, killedMidRun } = await killAtRandomMoments({
      to: `sqlite:${file}`,
      read: () => tableRows(file, "crm_deal"),
      phase,
      seed: 20261201,
      rounds: 10
    })
    expect(moments.length).toBe(10)
    // at least 3 of the 10 kills land in the middle of a run (the others after it ended)
    expect(killedMidRun).toBeGreaterThanOrEqual(3)
  }, 300_000)

  it("crm.item:1032 copies a smart process into crm_item_1032, then an incremental run picks up what changed", async () => {
    const file = fresh()
    const first = await b24(["sync", "crm.item:1032", "--to", `sqlite:${file}`, "--json", "--webhook", webhook])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stderr).toMatch(/b24: crm\.item:1032 → crm_item_1032: full, 900 inserted/)
    expect(summaryOf(first.stdout)).toMatchObject({ status: "done", inserted: items, updated: 0, markedDeleted: 0 })
    expect((await tableRows(file, "crm_item_1032")).live).toEqual(engineItems(1032))
    const before = engineItems(1032)
    engine.methodTable.mutate({ entity: "crm.item:1032", everyRequests: 1, add: 3, update: 11, delete: 2 }, seeded(1032), Date.now())
    const after = engineItems(1032)
    const added = [...after.keys()].filter((id) => !before.has(id)).length
    const changed = [...after.keys()].filter((id) => before.has(id) && !isDeepStrictEqual(before.get(id), after.get(id))).length
    const removed = [...before.keys()].filter((id) => !after.has(id)).length
    expect(added).toBe(3)
    expect(changed).toBeGreaterThan(0)
    const second = await b24(["sync", "crm.item:1032", "--to", `sqlite:${file}`, "--json", "--quiet", "--webhook", webhook])
    expect(second.code, second.stderr).toBe(0)
    expect(summaryOf(second.stdout)).toMatchObject({ inserted: added, updated: changed, markedDeleted: removed })
    const table = await tableRows(file, "crm_item_1032")
    expect(table.live).toEqual(after)
    expect(table.deleted.length).toBe(removed)
  }, 120_000)

  it("crm.item:abc, crm.item:0 and crm.quote are bad input: exit 2, one error line naming the entity, nothing sent", async () => {
    const requestsBefore = engine.stats(Date.now()).httpRequests
    const runs = await Promise.all(
      ["crm.item:abc", "crm.item:0", "crm.quote"].map((entity) => b24(["sync", "crm.deal", entity, "--to", `sqlite:${fresh()}`, "--webhook", webhook]))
    )
    expect(runs.map((run) => run.code)).toEqual([2, 2, 2])
    expect(errorLines(runs[0]!.stderr)).toEqual([expect.stringMatching(/^b24: error: Invalid entity: "crm\.item:abc" names no smart process: the entityTypeId after crm\.item: must be a whole number from 1/)])
    expect(errorLines(runs[1]!.stderr)).toEqual([expect.stringMatching(/"crm\.item:0" names no smart process/)])
    expect(errorLines(runs[2]!.stderr)).toEqual([expect.stringMatching(/unknown entity "crm\.quote"\. Use crm\.deal, .* or crm\.item:<entityTypeId>/)])
    expect(engine.stats(Date.now()).httpRequests).toBe(requestsBefore)
    expect(existsSync(join(dir, `sync-${files}.db`))).toBe(false)
  }, 60_000)
})
