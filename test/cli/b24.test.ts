/**
 * End-to-end runs of the real `b24` command (`node dist/cli/bin.js …`, the compiled bin that `npm test` builds first, as a child process) against a fake portal
 * served from this test process. Each run pays the CLI's start-up, so the runs go concurrently.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type RunningFakePortal, startFakePortal } from "../../src/testing/index.js"
import { batchCommands, batchFileProblems, binPath, cleanEnv, collect, type Finished, spawnB24 } from "../support/b24.js"

const deals = 3000

const b24 = (
  args: ReadonlyArray<string>,
  options: { readonly input?: string; readonly env?: Readonly<Record<string, string>> } = {}
): Promise<Finished> => {
  const child = spawnB24(args, options.env)
  child.stdin.end(options.input ?? "")
  return collect(child).finished
}

const lines = (text: string): ReadonlyArray<string> => text.split("\n").filter((line) => line !== "")

const idsOf = (rows: ReadonlyArray<unknown>): ReadonlyArray<string> =>
  rows.map((row) => String((row as { readonly ID?: unknown }).ID))

/** One call to the portal directly over HTTP (not through b24): its whole JSON answer. */
const portalCall = async (method: string, params: Readonly<Record<string, unknown>>): Promise<Readonly<Record<string, unknown>>> => {
  const response = await fetch(`${webhook}${method}.json`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params)
  })
  return (await response.json()) as Readonly<Record<string, unknown>>
}

/** The portal's own count of deals matching `filter`. */
const totalOf = async (filter: Readonly<Record<string, unknown>>): Promise<number> => {
  const body = await portalCall("crm.deal.list", { filter, select: ["ID"] })
  if (typeof body["total"] !== "number") throw new Error(`no total in ${JSON.stringify(body).slice(0, 200)}`)
  return body["total"]
}

/** The portal's first `count` deal IDs, ascending. */
const firstIds = async (count: number): Promise<Array<string>> => {
  const listed: Array<string> = []
  for (let start = 0; listed.length < count; start += 50) {
    listed.push(...idsOf((await portalCall("crm.deal.list", { select: ["ID"], order: { ID: "ASC" }, start }))["result"] as ReadonlyArray<unknown>))
  }
  return listed.slice(0, count)
}

/** Shell-quotes one argument for `script -c`. */
const quote = (arg: string) => `'${arg.replace(/'/g, "'\\''")}'`

let portal: RunningFakePortal
let dir: string
let webhook: string

beforeAll(async () => {
  portal = await startFakePortal({ seed: { "crm.deal": deals }, limits: "off", costModel: "zero" })
  webhook = portal.webhookUrl
  dir = mkdtempSync(join(tmpdir(), "b24-cli-"))
})

afterAll(async () => {
  await portal.close()
  rmSync(dir, { recursive: true, force: true })
})

describe.concurrent("b24 (child process)", () => {
  it("get-all writes NDJSON to a file: every row once, plain progress lines and a summary on stderr", async () => {
    const out = join(dir, "deals.ndjson")
    const run = await b24(["get-all", "crm.deal.list", "--webhook", webhook, "--limits", "off", "--select", "ID,TITLE", "--out", out])
    expect(run.code).toBe(0)
    const rows = lines(readFileSync(out, "utf8")).map((line) => JSON.parse(line) as unknown)
    expect(rows).toHaveLength(deals)
    expect(new Set(idsOf(rows)).size).toBe(deals)
    expect(run.stdout).toBe("")
    expect(run.stderr).toContain("b24: crm.deal.list: started")
    expect(run.stderr).toMatch(new RegExp(`b24: done: ${deals} rows in [0-9.]+s .*; \\d+ requests?; throttled waits: none`))
    expect(run.stderr).not.toContain("\u001b[")
  })

  it("get-all writes one JSON array (keyset strategy, filtered)", async () => {
    const out = join(dir, "deals.json")
    const run = await b24([
      "get-all",
      "crm.deal.list",
      "--webhook",
      webhook,
      "--limits",
      "off",
      "--strategy",
      "keyset",
      "--filter",
      '{">ID": 1000}',
      "--select",
      "ID",
      "--out",
      out
    ])
    expect(run.code).toBe(0)
    const rows = JSON.parse(readFileSync(out, "utf8")) as ReadonlyArray<unknown>
    const ids = idsOf(rows).map(Number)
    const expected = await totalOf({ ">ID": 1000 })
    expect(expected).toBeGreaterThan(100)
    expect(ids).toHaveLength(expected)
    expect(new Set(ids).size).toBe(expected)
    expect(ids.every((id) => id > 1000)).toBe(true)
  })

  it("get-by-id reads IDs from stdin and writes the rows to stdout in the order of the IDs", async () => {
    const run = await b24(["get-by-id", "crm.deal.get", "--ids", "-", "--webhook", webhook, "--limits", "off"], { input: "3\n1\n\n2\n" })
    expect(run.code).toBe(0)
    expect(idsOf(lines(run.stdout).map((line) => JSON.parse(line) as unknown))).toEqual(["3", "1", "2"])
  })

  it("get-by-id of 101 IDs in reverse writes them in that order across its chunks of 50 (50, 50, 1)", async () => {
    const asked = (await firstIds(101)).reverse()
    const run = await b24(["get-by-id", "crm.deal.get", "--ids", "-", "--webhook", webhook, "--limits", "off", "--quiet"], { input: asked.join("\n") })
    expect(run.code, run.stderr).toBe(0)
    expect(idsOf(lines(run.stdout).map((line) => JSON.parse(line) as unknown))).toEqual(asked)
  })

  it("get-by-id --format csv takes its header from every row, so a field the first row lacks is not left out", async () => {
    const asked = await firstIds(101)
    // the rows as the portal has them, one crm.deal.get each: the fields each row has
    const fields: Array<string> = []
    for (const id of asked) {
      for (const field of Object.keys((await portalCall("crm.deal.get", { ID: id }))["result"] as Readonly<Record<string, unknown>>)) {
        if (!fields.includes(field)) fields.push(field)
      }
    }
    const run = await b24(["get-by-id", "crm.deal.get", "--ids", "-", "--format", "csv", "--webhook", webhook, "--limits", "off", "--quiet"], {
      input: asked.join("\n")
    })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).not.toMatch(/not in the header/)
    expect(run.stdout.split(/\r?\n/)[0]).toBe(fields.join(","))
  })

  it("call --items of 101 items writes a line for each in order across its chunks of 50, the failed 51st among them", async () => {
    const ids = await firstIds(101)
    // the item at index 50, the first of the second chunk, names no deal
    const items = ids.map((id, index) => JSON.stringify({ ID: index === 50 ? 999999 : Number(id) }))
    const run = await b24(["call", "crm.deal.get", "--items", "-", "--webhook", webhook, "--limits", "off", "--quiet"], { input: items.join("\n") })
    expect(run.code).toBe(3)
    const results = lines(run.stdout).map((line) => JSON.parse(line) as { readonly index: number; readonly result?: { readonly ID: string } })
    expect(results.map((line) => line.index)).toEqual(ids.map((_, index) => index))
    expect(results.map((line) => line.result?.ID)).toEqual(ids.map((id, index) => (index === 50 ? undefined : id)))
    expect(results[50]).toEqual({ index: 50, error: { code: "", description: "Not found" } })
    expect(run.stderr).toMatch(/1 of 101 items failed: #50 "" Not found/)
  })

  it("call --items writes one line per item in order, the failed one with the portal's words, and exits 3", async () => {
    const items = join(dir, "items.ndjson")
    writeFileSync(items, '{"ID":1}\n{"ID":999999}\n{"ID":2}\n')
    const out = join(dir, "results.ndjson")
    const run = await b24(["call", "crm.deal.get", "--items", items, "--webhook", webhook, "--limits", "off", "--out", out])
    expect(run.code).toBe(3)
    const results = lines(readFileSync(out, "utf8")).map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(results.map((line) => line["index"])).toEqual([0, 1, 2])
    expect(results[0]).toMatchObject({ result: { ID: "1" } })
    expect(results[1]).toEqual({ index: 1, error: { code: "", description: "Not found" } })
    expect(results[2]).toMatchObject({ result: { ID: "2" } })
    expect(run.stderr).toMatch(/b24: error: crm\.deal\.get: 1 of 3 items failed: #1 "" Not found/)
  })

  it("call --items - reads the items from stdin and writes the result lines to stdout, in order", async () => {
    const run = await b24(["call", "crm.deal.get", "--items", "-", "--webhook", webhook, "--limits", "off", "--quiet"], {
      input: '{"ID":3}\n\n{"ID":1}\n'
    })
    expect(run.code).toBe(0)
    const results = lines(run.stdout).map((line) => JSON.parse(line) as { readonly index: number; readonly result: { readonly ID: string } })
    expect(results.map(({ index, result }) => [index, result.ID])).toEqual([
      [0, "3"],
      [1, "1"]
    ])
    expect(run.stderr).toBe("")
  })

  it("batch runs labelled commands and prints the results by label", async () => {
    const cmd = JSON.stringify({
      one: "crm.deal.get?ID=1",
      two: { method: "crm.deal.list", params: { filter: { "<=ID": 2 }, select: ["ID"] } }
    })
    const run = await b24(["batch", "--cmd", cmd, "--webhook", webhook, "--limits", "off"])
    expect(run.code).toBe(0)
    const result = JSON.parse(run.stdout) as { readonly one: { readonly ID: string }; readonly two: ReadonlyArray<unknown> }
    expect(result.one.ID).toBe("1")
    expect(result.two).toEqual([{ ID: "1" }, { ID: "2" }])
    expect(run.stderr).toMatch(/b24: done: 2 commands/)
  })

  it("a wrong webhook code prints one error line with the portal's code and words, and never the code", async () => {
    const wrong = webhook.replace(/\/[^/]+\/$/, "/wr0ngc0de9/")
    const run = await b24(["get-all", "crm.deal.list", "--webhook", wrong, "--quiet"])
    expect(run.code).toBe(1)
    expect(lines(run.stderr)).toEqual(['b24: error: crm.deal.list: "INVALID_CREDENTIALS" Invalid request credentials (HTTP 401)'])
    expect(run.stdout).toBe("")
    expect(run.stderr + run.stdout).not.toContain("wr0ngc0de9")
  })

  // one run for two checks, since each run pays the CLI's start-up: the bar, and a CSV export (offset strategy)
  it("draws a progress bar on stderr under a pseudo-terminal, and writes CSV with the --select header", async () => {
    expect(existsSync("/usr/bin/script") || existsSync("/bin/script")).toBe(true)
    const out = join(dir, "deals.csv")
    const command = [
      process.execPath,
      binPath,
      "get-all",
      "crm.deal.list",
      "--webhook",
      webhook,
      "--limits",
      "off",
      "--strategy",
      "offset",
      "--select",
      "ID,TITLE,STAGE_ID",
      "--out",
      out
    ]
      .map(quote)
      .join(" ")
    const run = await collect(spawn("script", ["-qfec", command, "/dev/null"], { env: cleanEnv, stdio: ["pipe", "pipe", "pipe"] })).finished
    expect(run.code).toBe(0)
    // cli-progress draws with escape codes; the bar line has the glyphs and the figures (offset knows the total)
    expect(run.stdout).toContain("\u001b[")
    expect(run.stdout).toMatch(/crm\.deal\.list \[[=-]{30}\] \d+\/3000/)
    expect(run.stdout).toMatch(/crm\.deal\.list \[={30}\] 3000\/3000 \(100\.0%\)/)
    // rows per second, elapsed time and ETA on every frame
    expect(run.stdout).toMatch(/crm\.deal\.list \[[=-]{30}\] \d+\/3000 \([\d.]+%\) \| [\d.]+\/s \| elapsed \d+\S* \| ETA \S+/)
    expect(run.stdout).toMatch(/b24: done: 3000 rows/)
    const records = readFileSync(out, "utf8").split("\r\n").filter((record) => record !== "")
    expect(records[0]).toBe("ID,TITLE,STAGE_ID")
    const ids = records.slice(1).map((record) => record.split(",")[0])
    expect(ids).toHaveLength(deals)
    expect(new Set(ids).size).toBe(deals)
  })

  it("portal serves the fake portal with the options of npm run portal until Ctrl-C", async () => {
    const child = spawn(process.execPath, [binPath, "portal", "--port", "0", "--seed", "crm.deal=7", "--limits", "off"], {
      env: cleanEnv,
      stdio: ["pipe", "pipe", "pipe"]
    })
    child.stdin.end()
    const finished = collect(child).finished
    const served = await new Promise<string>((resolve, reject) => {
      let text = ""
      child.stdout.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8")
        const match = /^webhook: (\S+)$/m.exec(text)
        if (match?.[1] !== undefined) resolve(match[1])
      })
      child.on("close", () => reject(new Error(`the portal stopped before serving: ${text}`)))
    })
    const response = await fetch(`${served}crm.deal.list.json`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })
    const body = (await response.json()) as { readonly total?: unknown }
    expect(body.total).toBe(7)
    child.kill("SIGINT")
    const run = await finished
    expect(run.code).toBe(0)
    expect(run.stdout).toContain("limits: off")
    expect(run.stderr).toMatch(/stopped after 1 requests/)
  })

  it("Ctrl-C stops a long export cleanly: exit 130, a summary, and a file of whole NDJSON lines", async () => {
    const out = join(dir, "interrupted.ndjson")
    // one page of 50 a request, 2 requests a second: the export would take 30 s
    const child = spawn(
      process.execPath,
      [binPath, "get-all", "crm.deal.list", "--webhook", webhook, "--limits", "off", "--strategy", "keyset", "--slow", "2", "--out", out],
      { env: cleanEnv, stdio: ["pipe", "pipe", "pipe"] }
    )
    child.stdin.end()
    const finished = collect(child).finished
    const rowsSoFar = () => (existsSync(out) ? lines(readFileSync(out, "utf8")).length : 0)
    for (let waited = 0; rowsSoFar() < 100; waited += 100) {
      if (waited > 45_000) throw new Error("the export wrote no rows")
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    child.kill("SIGINT")
    const run = await finished
    expect(run.code).toBe(130)
    expect(run.stderr).toMatch(/b24: interrupted: \d+ rows/)
    // one truthful line: nothing says the export finished
    expect(run.stderr).not.toMatch(/finished/)
    expect(run.stderr.split("\n").filter((line) => /interrupted/.test(line))).toHaveLength(1)
    const text = readFileSync(out, "utf8")
    expect(text.endsWith("\n")).toBe(true)
    const rows = lines(text).map((line) => JSON.parse(line) as unknown)
    expect(rows.length).toBeGreaterThanOrEqual(100)
    expect(rows.length).toBeLessThan(deals)
    expect(new Set(idsOf(rows)).size).toBe(rows.length)
  })
})

describe.concurrent("b24 (child process): help, version and an unreachable portal", () => {
  it("--help and a command's --help, piped: short, with b24 in the usage line, no colour; portal --help names b24 portal", async () => {
    const top = await b24(["--help"])
    expect(top.code).toBe(0)
    expect(top.stdout).toMatch(/^b24: /)
    const command = await b24(["get-all", "--help"])
    expect(command.code).toBe(0)
    expect(command.stdout).toContain("Usage: b24 get-all <method> [options]")
    expect(command.stdout.split("\n").length).toBeLessThan(45)
    for (const text of [top.stdout, command.stdout, top.stderr, command.stderr]) expect(text).not.toMatch(/\u001b\[/)
    const portalHelp = await b24(["portal", "--help"])
    expect(portalHelp.code).toBe(0)
    expect(portalHelp.stdout).toContain("Usage: b24 portal [options]")
    expect(portalHelp.stdout).not.toContain("npm run portal")
  })

  it("--version prints the package's version; a misspelt flag is exit 2 with a pointer to the command's help", async () => {
    const version = await b24(["--version"])
    expect(version.code).toBe(0)
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { readonly version: string }
    expect(version.stdout).toBe(`${pkg.version}\n`)
    const misspelt = await b24(["get-all", "crm.deal.list", "--selct", "ID", "--webhook", webhook])
    expect(misspelt.code).toBe(2)
    expect(misspelt.stderr).toContain("--selct")
    expect(misspelt.stderr).toContain("Run 'b24 get-all --help' for usage.")
  })

  it("a name that does not resolve fails at once with one error line: no retry", async () => {
    const run = await b24(["call", "crm.deal.get", "--params", '{"ID":1}', "--webhook", "https://no-such-portal.invalid/rest/1/secretcode1234/"])
    expect(run.code).toBe(1)
    expect(run.stderr).not.toMatch(/trying again/)
    expect(run.stderr).toMatch(/ENOTFOUND/)
    expect(run.stderr).not.toContain("secretcode1234")
  })
})

/** A port nothing listens on: bound, read, closed. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

describe.concurrent("b24 (child process): outcomes, settings and a refused connection", () => {
  it("batch writes every command's outcome, then exits 3 naming the failed label; with --halt the rest is not run", async () => {
    for (const halt of [[], ["--halt"]]) {
      const out = join(dir, `batch${halt.length}.json`)
      const run = await b24(["batch", "--cmd", batchCommands, "--webhook", webhook, "--limits", "off", "--quiet", "--out", out, ...halt])
      expect(run.code).toBe(3)
      expect(batchFileProblems(readFileSync(out, "utf8"), halt.length > 0)).toEqual([])
      expect(lines(run.stderr)).toHaveLength(1)
      expect(run.stderr).toMatch(/^b24: error: batch: \d of 3 commands failed: \[missing\] "" Not found/)
    }
  })

  it("get-by-id writes the rows it got, then exits 3 naming the failed IDs, not their positions", async () => {
    const out = join(dir, "by-id.ndjson")
    const run = await b24(["get-by-id", "crm.deal.get", "--ids", "-", "--webhook", webhook, "--limits", "off", "--out", out, "--quiet"], {
      input: "1\n999999\n2\n888888\n"
    })
    expect(run.code).toBe(3)
    expect(idsOf(lines(readFileSync(out, "utf8")).map((line) => JSON.parse(line) as unknown))).toEqual(["1", "2"])
    expect(lines(run.stderr)).toHaveLength(1)
    expect(run.stderr).toMatch(/^b24: error: crm\.deal\.get: 2 of 4 IDs failed: ID 999999 "" Not found; ID 888888 "" Not found/)
    expect(run.stderr).not.toMatch(/#\d/)
  })

  it("BITRIX24_* variables are honoured: the webhook, the batch size (a flag wins over it); a bad plan is refused naming it", async () => {
    // a portal of its own, so its request counter sees only these runs
    const own = await startFakePortal({ seed: { "crm.deal": 30 }, limits: "off", costModel: "zero" })
    try {
      const page = (await (await fetch(`${own.webhookUrl}crm.deal.list.json?select[]=ID`)).json()) as { readonly result: ReadonlyArray<{ readonly ID: string }> }
      const ids = page.result.map((row) => row.ID)
      expect(ids).toHaveLength(30)
      const requestsOf = async (run: () => Promise<Finished>) => {
        const before = own.stats().httpRequests
        const finished = await run()
        return { finished, requests: own.stats().httpRequests - before }
      }
      const getById = (extra: ReadonlyArray<string>, env: Readonly<Record<string, string>>) =>
        requestsOf(() => b24(["get-by-id", "crm.deal.get", "--ids", "-", "--quiet", ...extra], { input: ids.join("\n"), env }))
      const fromEnv = await getById([], { BITRIX24_WEBHOOK: own.webhookUrl, BITRIX24_LIMITS: "off", BITRIX24_BATCH_SIZE: "10" })
      expect(fromEnv.finished.code).toBe(0)
      expect(idsOf(lines(fromEnv.finished.stdout).map((line) => JSON.parse(line) as unknown))).toEqual(ids)
      expect(fromEnv.requests).toBe(Math.ceil(30 / 10))
      const flagWins = await getById(["--batch-size", "15"], { BITRIX24_WEBHOOK: own.webhookUrl, BITRIX24_LIMITS: "off", BITRIX24_BATCH_SIZE: "10" })
      expect(flagWins.finished.code).toBe(0)
      expect(flagWins.requests).toBe(Math.ceil(30 / 15))
      const badPlan = await getById([], { BITRIX24_WEBHOOK: own.webhookUrl, BITRIX24_PLAN: "gold" })
      expect(badPlan.finished.code).toBe(2)
      expect(badPlan.requests).toBe(0)
      expect(badPlan.finished.stderr).toContain("BITRIX24_PLAN")
    } finally {
      await own.close()
    }
  })

  // the default retry schedule waits about 25 s in all before the run gives up; no assertion is on that time
  it("a refused connection: each retry on stderr as it happens, then a summary that says connection refused", async () => {
    const port = await closedPort()
    const run = await b24(["call", "crm.deal.get", "--params", '{"ID":1}', "--webhook", `http://127.0.0.1:${port}/rest/1/secretcode1234/`])
    expect(run.code).toBe(1)
    const retries = lines(run.stderr).filter((line) => /^b24: warning: crm\.deal\.get: try \d+ of 9 failed \(connection refused\); trying again in \d/.test(line))
    // the default schedule: 8 retries after the first try (9 tries in all), numbered in order
    expect(retries.map((line) => Number(/try (\d+)/.exec(line)?.[1]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    const summary = lines(run.stderr).find((line) => line.startsWith("b24: failed:"))
    expect(summary).toMatch(/retried after connection refused ×8/)
    // a refused connection never reached the portal: not a server error
    expect(summary).not.toMatch(/server error/)
    expect(run.stderr).toMatch(/ECONNREFUSED/)
    expect(run.stderr).not.toContain("secretcode1234")
  }, 120_000)
})
