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
import { binPath, collect, spawnB24 } from "../support/b24.js"
import { syncSelect } from "./scenarios.js"

const start = (args: ReadonlyArray<string>) => {
  const child = spawnB24(args)
  child.stdin.end()
  const { finished, stderr } = collect(child)
  return { child, finished, stderr }
}

const b24 = (args: ReadonlyArray<string>) => start(args).finished

const errorLines = (text: string) => text.split("\n").filter((line) => line.startsWith("b24: error"))

let engine: PortalEngine
let server: FakePortalHttp.Server
let webhook: string
let dir: string
let files = 0
const fresh = () => join(dir, `sync-${++files}.db`)
const deals = 2500
const contacts = 400

beforeAll(async () => {
  if (!existsSync(binPath)) throw new Error(`${binPath} is missing: run npm run build first`)
  engine = new PortalEngine({ seed: { "crm.deal": deals, "crm.contact": contacts }, limits: "off", costModel: "zero" }, Date.now())
  server = await FakePortalHttp.serve(engine, { port: 0 })
  webhook = server.url + engine.webhookPath
  dir = mkdtempSync(join(tmpdir(), "b24-sync-cli-"))
})

afterAll(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

type Row = Readonly<Record<string, unknown>>

/** The engine's rows as the sync reads them, by ID (no request counted, no mutation fired). */
const portalRows = (entity: string, portal: PortalEngine = engine): Map<number, Row> => {
  const rows = new Map<number, Row>()
  for (let start = 0; ; start += 50) {
    const answer = portal.methodTable.call(`${entity}.list`, { select: syncSelect, order: { ID: "ASC" }, start }, { nowMs: Date.now(), userId: 1 })
    if (answer?._tag !== "Ok" || !Array.isArray(answer.result)) throw new Error(`the engine answered ${JSON.stringify(answer)}`)
    for (const row of answer.result as ReadonlyArray<Row>) rows.set(Number(row["ID"]), row)
    if (answer.next === undefined) return rows
  }
}

/** The live rows of a table in a SQLite file, by ID, and how many rows it holds in all. */
const tableRows = (file: string, table: string) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqliteClient.SqliteClient
      const rows = yield* sql.unsafe<Record<string, unknown>>(`SELECT id, raw, deleted_at FROM "${table}" ORDER BY id`)
      const live = new Map<number, Row>()
      for (const row of rows) if (row["deleted_at"] === null) live.set(Number(row["id"]), JSON.parse(String(row["raw"])) as Row)
      return { live, total: rows.length }
    }).pipe(Effect.provide(SqliteClient.layer({ filename: file })))
  )

/** Whether the file's table holds exactly the portal's rows (live), each as the portal has it. */
const equalsPortal = async (file: string, entity: string, on: PortalEngine = engine) => {
  const portal = portalRows(entity, on)
  const { live } = await tableRows(file, entity.replace(".", "_"))
  const ids = [...live.keys()]
  expect(ids).toEqual([...portal.keys()])
  const different = ids.filter((id) => !isDeepStrictEqual(live.get(id), portal.get(id)))
  expect(different).toEqual([])
}

const summaryOf = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, unknown>

/** Seeded pseudo-random numbers in [0, 1). */
const seeded = (seed: number) => {
  let state = seed * 2654435761
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 2246822507) + 0x6d2b79f5) >>> 0
    return state / 2 ** 32
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
    // a portal with the default server costs, so the copy takes seconds and Ctrl-C lands in the middle
    const slowEngine = new PortalEngine({ seed: { "crm.deal": 10_000 }, limits: "off", costModel: "default" }, Date.now())
    const slow = await FakePortalHttp.serve(slowEngine, { port: 0 })
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
    const random = seeded(20261201)
    const moments: Array<number> = []
    for (let round = 0; round < 10; round++) {
      // between rounds the portal changes: rows added, updated and deleted, so later rounds kill incremental runs
      if (round > 0) {
        engine.methodTable.mutate({ entity: "crm.deal", everyRequests: 1, add: 7, update: 40, delete: 5 }, random, Date.now())
      }
      const moment = Math.floor(150 + random() * (round === 0 ? 2500 : 900))
      moments.push(moment)
      const run = start(["sync", "crm.deal", "--to", `sqlite:${file}`, "--chunk-size", "100", "--quiet", "--webhook", webhook])
      await new Promise((resolve) => setTimeout(resolve, moment))
      run.child.kill("SIGKILL")
      const killed = await run.finished
      expect(killed.signal === "SIGKILL" || killed.code === 0, `round ${round}: ${killed.stderr}`).toBe(true)
      const rerun = await b24(["sync", "crm.deal", "--to", `sqlite:${file}`, "--quiet", "--json", "--webhook", webhook])
      expect(rerun.code, `round ${round} rerun: ${rerun.stderr}`).toBe(0)
      await equalsPortal(file, "crm.deal")
      // no row twice, none lost: every row the table ever held is the portal's now or marked deleted
      const { total, live } = await tableRows(file, "crm_deal")
      expect(total).toBeGreaterThanOrEqual(live.size)
    }
    expect(moments.length).toBe(10)
  }, 300_000)
})
