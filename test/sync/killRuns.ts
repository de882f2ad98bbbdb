/**
 * `b24 sync` as a child process against a fake portal served from the test process, whose engine the test reads
 * and changes directly (ground truth); and the kill -9 rounds run against each database (cli.test.ts for SQLite,
 * postgres.test.ts for Postgres).
 */
import { expect } from "@effect/vitest"
import { isDeepStrictEqual } from "node:util"
import * as FakePortalHttp from "../../src/testing/FakePortalHttp.js"
import { PortalEngine } from "../../src/testing/internal/engine.js"
import { collect, spawnB24 } from "../support/b24.js"
import { syncSelect } from "./scenarios.js"

type Row = Readonly<Record<string, unknown>>

/** Starts `b24 args…` (stdin closed); `finished` resolves when it has exited. */
export const start = (args: ReadonlyArray<string>) => {
  const child = spawnB24(args)
  child.stdin.end()
  const { finished, stderr } = collect(child)
  return { child, finished, stderr }
}

/** Runs `b24 args…` to its end. */
export const b24 = (args: ReadonlyArray<string>) => start(args).finished

/** The last line of stdout as JSON (`--json`'s summary). */
export const summaryOf = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, unknown>

/** Seeded pseudo-random numbers in [0, 1). */
export const seeded = (seed: number) => {
  let state = seed * 2654435761
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 2246822507) + 0x6d2b79f5) >>> 0
    return state / 2 ** 32
  }
}

/** A classic entity's rows in the engine as the sync reads them, by ID (no request counted, no mutation fired). */
export const engineRowsById = (portal: PortalEngine, entity: string): Map<number, Row> => {
  const rows = new Map<number, Row>()
  for (let start = 0; ; start += 50) {
    const answer = portal.methodTable.call(`${entity}.list`, { select: syncSelect, order: { ID: "ASC" }, start }, { nowMs: Date.now(), userId: 1 })
    if (answer?._tag !== "Ok" || !Array.isArray(answer.result)) throw new Error(`the engine answered ${JSON.stringify(answer)}`)
    for (const row of answer.result as ReadonlyArray<Row>) rows.set(Number(row["ID"]), row)
    if (answer.next === undefined) return rows
  }
}

/** A table as the test reads it with its own client: the live rows' raw JSON by ID, and the IDs marked deleted. */
export interface TableSnapshot {
  readonly live: ReadonlyMap<number, Row>
  readonly deleted: ReadonlyArray<number>
}

/**
 * Whether the table holds exactly the portal's rows (live), each as the portal has it, and marks deleted only rows
 * the portal no longer has.
 */
export const expectEqualsPortal = (table: TableSnapshot, portal: PortalEngine, entity: string) => {
  const rows = engineRowsById(portal, entity)
  const ids = [...table.live.keys()]
  expect(ids).toEqual([...rows.keys()])
  const different = ids.filter((id) => !isDeepStrictEqual(table.live.get(id), rows.get(id)))
  expect(different).toEqual([])
  expect(table.deleted.filter((id) => rows.has(id))).toEqual([])
}

/**
 * `b24 sync crm.deal --to <to>` killed with SIGKILL `rounds` times, each kill followed by a rerun that must complete
 * the copy: the table then equals the portal. The portal (served from this process) has the default server costs,
 * so a run lasts long enough to be hit: each kill lands a random time (drawn from `seed`) after the run's export has
 * started, up to 2 s into the first load and 0.8 s into the incremental runs after it (some runs are over by then).
 * Between rounds the portal changes (rows added, updated and deleted), so later rounds kill incremental runs.
 * Returns the moments and how many kills left a run under way (its checkpoint in the middle).
 */
export const killAtRandomMoments = async (options: {
  readonly to: string
  readonly read: () => Promise<TableSnapshot>
  /** The phase `_b24_sync_state` holds for crm.deal (`full`, `incremental`, `idle`), undefined before it exists. */
  readonly phase: () => Promise<string | undefined>
  readonly seed: number
  readonly rounds: number
}): Promise<{ readonly moments: ReadonlyArray<number>; readonly killedMidRun: number }> => {
  const { to } = options
  const engine = new PortalEngine({ seed: { "crm.deal": 5000 }, limits: "off", costModel: "default" }, Date.now())
  const server = await FakePortalHttp.serve(engine, { port: 0 })
  const webhook = server.url + engine.webhookPath
  const random = seeded(options.seed)
  const moments: Array<number> = []
  let killedMidRun = 0
  try {
    for (let round = 0; round < options.rounds; round++) {
      if (round > 0) {
        engine.methodTable.mutate({ entity: "crm.deal", everyRequests: 1, add: 7, update: 40, delete: 5 }, random, Date.now())
      }
      const moment = Math.floor(random() * (round === 0 ? 2000 : 800))
      moments.push(moment)
      // not --quiet: the progress lines on stderr say when the export has started
      const run = start(["sync", "crm.deal", "--to", to, "--chunk-size", "100", "--webhook", webhook])
      while (!/crm\.deal\.list: /.test(run.stderr()) && run.child.exitCode === null) await sleep(5)
      await sleep(moment)
      run.child.kill("SIGKILL")
      const killed = await run.finished
      expect(killed.signal === "SIGKILL" || killed.code === 0, `round ${round}: ${killed.stderr}`).toBe(true)
      // a kill that lands while a run is under way leaves its checkpoint in the middle: the rerun resumes from it
      const phase = await options.phase()
      if (killed.signal === "SIGKILL" && (phase === "full" || phase === "incremental")) killedMidRun++
      const rerun = await b24(["sync", "crm.deal", "--to", to, "--quiet", "--json", "--webhook", webhook])
      expect(rerun.code, `round ${round} rerun: ${rerun.stderr}`).toBe(0)
      // none lost, none doubled (the IDs are the table's key), none wrongly marked deleted
      expectEqualsPortal(await options.read(), engine, "crm.deal")
      expect(await options.phase()).toBe("idle")
    }
  } finally {
    await server.close()
  }
  return { moments, killedMidRun }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
