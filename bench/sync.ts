/**
 * Sync figures against the in-process fake portal (limits off, zero server cost, so the client and the database
 * writer are what is measured):
 *
 * - `sync-100k`: the first load of N deals into SQLite, against `get-all` of the same rows to an NDJSON file in the
 *   same run (the target: at most 1.2 times as long).
 * - `sync-incremental`: after 1 % of the rows changed and 0.1 % deleted, the requests and wall time of the next run
 *   (target: requests <= changed / 2,500 + the ID pass + 3).
 * - `writer`: rows a second the first load writes into SQLite, and into Postgres when `DATABASE_URL` is set.
 *
 * `npx tsx bench/sync.ts [rows]` (default 100000); prints a JSON line per scenario.
 */
import { Effect, Layer, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Bitrix from "../src/Bitrix.js"
import * as FakePortal from "../src/testing/FakePortal.js"
import { decodeFields, prepareRow, shapeOf } from "../src/internal/sync/fields.js"
import * as Sync from "../src/Sync.js"

const rows = Number(process.argv[2] ?? 100_000)
const folder = fs.mkdtempSync(path.join(os.tmpdir(), "b24-bench-sync-"))

const portal = Layer.merge(
  Bitrix.layerServices({ limits: "off" }),
  FakePortal.layer({ limits: "off", costModel: "zero", seed: { "crm.deal": rows } })
)

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const started = Date.now()
    const value = yield* effect
    return { value, ms: Date.now() - started }
  })

const requests = Effect.map(Effect.flatMap(FakePortal.FakePortal, (fake) => fake.stats), (stats) => stats.httpRequests)

/** The database writer alone: the rows read once, then written in chunks of 1,000 with their checkpoint. */
const writer = (to: string, database: "sqlite" | "postgres") =>
  Effect.gen(function* () {
    const fields = yield* Effect.flatMap(Bitrix.call("crm.deal.fields"), (result) => decodeFields("crm.deal.fields", result))
    const shape = shapeOf("crm.deal", fields)
    const read = yield* Bitrix.getAll("crm.deal.list", { select: ["*", "UF_*"] })
    const prepared = read.flatMap((row) => prepareRow(shape, row, database) ?? [])
    const sink = yield* Sync.Sink
    yield* sink.ensureTable(shape)
    const written = yield* timed(
      Effect.forEach(
        Array.from({ length: Math.ceil(prepared.length / 1000) }, (_, index) => prepared.slice(index * 1000, (index + 1) * 1000)),
        (chunk) =>
          sink.writeRows(shape, chunk, { entity: "crm.deal", phase: "full", watermark: null, runStartedAt: null, since: null, cursorId: chunk.at(-1)?.id ?? null, runs: 0 }, new Date().toISOString()),
        { discard: true }
      )
    )
    console.log(JSON.stringify({ scenario: "writer", database, rows: prepared.length, rowsPerSecond: Math.round((prepared.length * 1000) / written.ms) }))
  }).pipe(Effect.provide(Sync.layer(to)))

const program = Effect.gen(function* () {
  // get-all of the same rows (the sync's select) to NDJSON, as `b24 get-all` writes it
  const ndjson = path.join(folder, "deals.ndjson")
  const getAll = yield* timed(
    Effect.scoped(
      Effect.gen(function* () {
        const fd = yield* Effect.acquireRelease(Effect.sync(() => fs.openSync(ndjson, "w")), (handle) => Effect.sync(() => fs.closeSync(handle)))
        yield* Bitrix.stream("crm.deal.list", { select: ["*", "UF_*"] }).pipe(
          Stream.runForEachChunk((chunk) => Effect.sync(() => fs.writeSync(fd, [...chunk].map((row) => `${JSON.stringify(row)}\n`).join(""))))
        )
      })
    )
  )
  const sqlite = `sqlite:${path.join(folder, "crm.db")}`
  const first = yield* timed(Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(sqlite))))
  console.log(
    JSON.stringify({
      scenario: "sync-100k",
      rows,
      getAllMs: getAll.ms,
      syncMs: first.ms,
      ratio: Math.round((first.ms / getAll.ms) * 100) / 100,
      requests: first.value.requests,
      throttled503: first.value.throttled503,
      blocked429: first.value.blocked429
    })
  )
  yield* writer(`sqlite:${path.join(folder, "writer.db")}`, "sqlite")

  // 1 % changed, 0.1 % deleted, through the engine as other users of the portal would
  const { engine } = yield* FakePortal.FakePortal
  let state = 42
  const random = () => (state = (state * 48271) % 2147483647) / 2147483647
  const changed = Math.round(rows / 100)
  engine.methodTable.mutate({ entity: "crm.deal", everyRequests: 1, update: changed, delete: Math.round(rows / 1000) }, random, Date.now())
  const before = yield* requests
  const incremental = yield* timed(Sync.run({ entities: ["crm.deal"] }).pipe(Effect.provide(Sync.layer(sqlite))))
  const sent = (yield* requests) - before
  console.log(
    JSON.stringify({
      scenario: "sync-incremental",
      rows,
      changed,
      deleted: Math.round(rows / 1000),
      requests: sent,
      target: Math.ceil(changed / 2500) + Math.ceil(rows / 2500) + 3,
      ms: incremental.ms,
      updated: incremental.value.updated,
      markedDeleted: incremental.value.markedDeleted
    })
  )

  const postgres = process.env["DATABASE_URL"]
  if (postgres !== undefined && postgres !== "") {
    const url = new URL(postgres)
    url.searchParams.set("schema", `b24bench_${process.pid}`)
    yield* writer(url.toString(), "postgres")
    console.log(`(drop the schema b24bench_${process.pid} when done)`)
  }
}).pipe(Effect.provide(portal), Effect.ensuring(Effect.sync(() => fs.rmSync(folder, { recursive: true, force: true }))))

Effect.runPromise(program).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
