/**
 * The command tree run in-process (`run(argv, env)`): option parsing, input errors and their exit codes,
 * `--verbose`, `--quiet` and an OAuth connection, against a fake portal served from this process.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { run } from "../../src/cli/main.js"
import type { Env } from "../../src/cli/Connection.js"
import { type RunningFakePortal, startFakePortal } from "../../src/testing/index.js"
import { captureOutput } from "../support/capture.js"
import { batchCommands, batchFileProblems } from "../support/b24.js"

let portal: RunningFakePortal
let oauthPortal: RunningFakePortal
let dir: string

beforeAll(async () => {
  portal = await startFakePortal({ seed: { "crm.deal": 300, "crm.contact": 40 }, limits: "off", costModel: "zero" })
  // the first request finds its access token expired, so the client refreshes once
  oauthPortal = await startFakePortal({
    seed: { "crm.deal": 120 },
    limits: "off",
    costModel: "zero",
    oauth: { clientId: "local.cli.test", clientSecret: "clisecret0000000000000000" },
    faults: [{ kind: "expireToken", onRequests: [1] }]
  })
  dir = mkdtempSync(join(tmpdir(), "b24-main-"))
})

afterAll(async () => {
  await portal.close()
  await oauthPortal.close()
  rmSync(dir, { recursive: true, force: true })
})

const { stderr, stderrLines } = captureOutput()

const b24 = (args: ReadonlyArray<string>, env: Env = {}) =>
  run(["node", "b24", ...args], env).pipe(Effect.provide(NodeContext.layer))

/** RFC 4180 records: quoted cells may hold commas, doubled quotes and line breaks. */
const parseCsv = (text: string): ReadonlyArray<ReadonlyArray<string>> => {
  const records: Array<Array<string>> = []
  let record: Array<string> = []
  let cell = ""
  let quoted = false
  for (let index = 0; index < text.length; index++) {
    const char = text[index]
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        cell += '"'
        index++
      } else if (char === '"') quoted = false
      else cell += char
    } else if (char === '"') quoted = true
    else if (char === ",") {
      record.push(cell)
      cell = ""
    } else if (char === "\r" && text[index + 1] === "\n") {
      record.push(cell)
      records.push(record)
      record = []
      cell = ""
      index++
    } else cell += char
  }
  return records
}

/** The portal's own answer to a list call, asked directly over HTTP. */
const listDirect = async (method: string, params: Readonly<Record<string, unknown>>): Promise<ReadonlyArray<Record<string, unknown>>> => {
  const response = await fetch(`${portal.webhookUrl}${method}.json`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params)
  })
  return ((await response.json()) as { readonly result: ReadonlyArray<Record<string, unknown>> }).result
}


describe("b24 option parsing and input errors", () => {
  it.live("refuses an unknown strategy with exit code 2", () =>
    Effect.gen(function* () {
      expect(yield* b24(["get-all", "crm.deal.list", "--webhook", portal.webhookUrl, "--strategy", "fastest"])).toBe(2)
    })
  )

  it.live("says how to connect when no webhook or OAuth variables are given (exit 2)", () =>
    Effect.gen(function* () {
      expect(yield* b24(["get-all", "crm.deal.list"])).toBe(2)
      expect(stderrLines()).toEqual([
        "b24: error: Invalid connection: no portal to talk to. Pass --webhook https://your-portal.bitrix24.com/rest/1/***/ or set " +
          "BITRIX24_WEBHOOK; for an OAuth app set BITRIX24_ACCESS_TOKEN, BITRIX24_REFRESH_TOKEN, BITRIX24_CLIENT_ID, " +
          "BITRIX24_CLIENT_SECRET, BITRIX24_REST_URL."
      ])
    })
  )

  it.live("reads the webhook from BITRIX24_WEBHOOK", () =>
    Effect.gen(function* () {
      const out = join(dir, "env.ndjson")
      expect(yield* b24(["get-all", "crm.deal.list", "--limits", "off", "--out", out], { BITRIX24_WEBHOOK: portal.webhookUrl })).toBe(0)
      expect(readFileSync(out, "utf8").split("\n").filter((line) => line !== "")).toHaveLength(300)
    })
  )

  it.live("names the flag of a bad JSON option, a bad --limits and clashing --items/--params (exit 2)", () =>
    Effect.gen(function* () {
      const requestsBefore = portal.stats().httpRequests
      expect(yield* b24(["get-all", "crm.deal.list", "--webhook", portal.webhookUrl, "--filter", "[1]"])).toBe(2)
      expect(yield* b24(["get-all", "crm.deal.list", "--webhook", portal.webhookUrl, "--limits", "pool=x"])).toBe(2)
      const items = join(dir, "clash.ndjson")
      writeFileSync(items, '{"ID":1}\n')
      expect(yield* b24(["call", "crm.deal.get", "--webhook", portal.webhookUrl, "--items", items, "--params", "{}"])).toBe(2)
      expect(stderrLines()).toEqual([
        "b24: error: Invalid --filter: expected a JSON object, got an array.",
        'b24: error: Invalid --limits: pool must be a number, got "x". Use standard, enterprise, off or pool=50,rps=2,operating=480,window=600.',
        "b24: error: Invalid --items: --items and --params exclude each other. Put the params in each item's line."
      ])
      // refused before any request
      expect(portal.stats().httpRequests).toBe(requestsBefore)
    })
  )

  it.live("names the line of a bad items file (exit 2) and a missing ID file (exit 1)", () =>
    Effect.gen(function* () {
      const items = join(dir, "bad.ndjson")
      writeFileSync(items, '{"ID":1}\nnot json\n')
      expect(yield* b24(["call", "crm.deal.get", "--webhook", portal.webhookUrl, "--items", items])).toBe(2)
      expect(yield* b24(["get-by-id", "crm.deal.get", "--webhook", portal.webhookUrl, "--ids", join(dir, "missing.txt")])).toBe(1)
      const [itemsLine, idsLine] = stderrLines()
      expect(itemsLine).toContain(`Invalid ${items}:2: not valid JSON`)
      expect(idsLine).toContain(`b24: error: cannot read ${join(dir, "missing.txt")}: ENOENT`)
    })
  )
})

describe("b24 output on stderr", () => {
  it.live("--verbose adds the failed request with the webhook code masked", () =>
    Effect.gen(function* () {
      const wrong = portal.webhookUrl.replace(/\/[^/]+\/$/, "/wr0ngc0de9/")
      const code = yield* b24(["get-all", "crm.deal.list", "--webhook", wrong, "--verbose", "--quiet", "--filter", '{">ID":5}'])
      expect(code).toBe(1)
      const lines = stderrLines()
      expect(lines[0]).toBe('b24: error: crm.deal.list: "INVALID_CREDENTIALS" Invalid request credentials (HTTP 401)')
      expect(lines[1]).toMatch(/^b24: request: POST http:\/\/127\.0\.0\.1:\d+\/rest\/1\/\*\*\*\/crm\.deal\.list \{"filter":\{">ID":5\}/)
      expect(stderr.join("")).not.toContain("wr0ngc0de9")
    })
  )

  it.live("--quiet prints nothing on success; otherwise a summary closes the run", () =>
    Effect.gen(function* () {
      const out = join(dir, "quiet.ndjson")
      expect(yield* b24(["get-all", "crm.deal.list", "--webhook", portal.webhookUrl, "--limits", "off", "--out", out, "--quiet"])).toBe(0)
      expect(stderr).toEqual([])
      expect(yield* b24(["get-all", "crm.deal.list", "--webhook", portal.webhookUrl, "--limits", "off", "--out", out])).toBe(0)
      expect(stderrLines().at(-1)).toMatch(/^b24: done: 300 rows in [0-9.]+s .*; \d+ requests?; throttled waits: none$/)
    })
  )

  it.live("--debug shows the strategy choice", () =>
    Effect.gen(function* () {
      const out = join(dir, "debug.ndjson")
      const args = ["get-all", "crm.deal.list", "--webhook", portal.webhookUrl, "--limits", "off", "--strategy", "keyset", "--out", out]
      expect(yield* b24([...args, "--debug"])).toBe(0)
      expect(stderrLines()).toContain("b24: debug: list crm.deal.list: strategy keyset (asked keyset)")
    })
  )
})

describe("b24 get-all options", () => {
  it.live("--format csv with --select: the header is the select, nested values are JSON in their cell", () =>
    Effect.gen(function* () {
      const out = join(dir, "contacts.txt")
      const args = ["get-all", "crm.contact.list", "--webhook", portal.webhookUrl, "--limits", "off", "--quiet"]
      expect(yield* b24([...args, "--select", "ID,NAME,EMAIL", "--format", "csv", "--out", out])).toBe(0)
      const [header, ...records] = parseCsv(readFileSync(out, "utf8"))
      expect(header).toEqual(["ID", "NAME", "EMAIL"])
      expect(records).toHaveLength(40)
      const emails = JSON.parse(records[0]?.[2] ?? "") as ReadonlyArray<{ readonly VALUE: string; readonly VALUE_TYPE: string }>
      expect(emails[0]?.VALUE).toContain("@")
      expect(emails[0]?.VALUE_TYPE).toBe("WORK")
    })
  )

  it.live("--order and --limit are honoured; without --select the CSV header is the first row's fields", () =>
    Effect.gen(function* () {
      const out = join(dir, "latest.txt")
      const args = ["get-all", "crm.contact.list", "--webhook", portal.webhookUrl, "--limits", "off", "--quiet"]
      expect(yield* b24([...args, "--order", '{"ID":"DESC"}', "--limit", "7", "--format", "csv", "--out", out])).toBe(0)
      const expected = yield* Effect.promise(() => listDirect("crm.contact.list", { order: { ID: "DESC" } }))
      const [header, ...records] = parseCsv(readFileSync(out, "utf8"))
      expect(header).toEqual(Object.keys(expected[0] ?? {}))
      const idColumn = header?.indexOf("ID") ?? -1
      expect(records.map((record) => record[idColumn])).toEqual(expected.slice(0, 7).map((row) => row["ID"]))
    })
  )

  it.live("--plan enterprise reaches the limiter: against a standard portal it sends more than the bucket holds", () =>
    Effect.gen(function* () {
      // A standard pool of 50 that drains 0.001 requests/s: it admits 50 requests in the run however long the run
      // takes on a loaded machine, and refuses the rest
      const standard = yield* Effect.acquireRelease(
        Effect.promise(() =>
          startFakePortal({
            seed: { "crm.deal": 10 },
            limits: { poolSize: 50, requestsPerSecond: 0.001, operatingLimitSeconds: 480, operatingWindowSeconds: 600 },
            costModel: "zero"
          })
        ),
        (opened) => Effect.promise(() => opened.close())
      )
      // 55 batches (50 gets each): the enterprise pool lets them all go at once, the portal's bucket of 50 cannot
      const ids = join(dir, "many-ids.txt")
      writeFileSync(ids, Array.from({ length: 55 * 50 }, (_, index) => String(index + 1)).join("\n"))
      yield* b24(["get-by-id", "crm.deal.get", "--webhook", standard.webhookUrl, "--plan", "enterprise", "--ids", ids, "--out", join(dir, "plan.ndjson")])
      expect(standard.stats().rejected503).toBeGreaterThan(0)
      // exactly the pool got in: the client sent past it
      expect(standard.stats().httpRequests - standard.stats().rejected503).toBe(50)
      expect(stderrLines().find((line) => line.startsWith("b24: failed:") || line.startsWith("b24: done:"))).toMatch(/\d+ refused with 503/)
    }).pipe(Effect.scoped),
    // the refused batches are retried with backoff (about 25 s) before the run gives up on them
    120_000
  )
})

describe("b24 call, get-by-id and batch outcomes", () => {
  it.live("call --params writes the single result as one JSON line", () =>
    Effect.gen(function* () {
      const out = join(dir, "single.ndjson")
      expect(yield* b24(["call", "crm.deal.get", "--webhook", portal.webhookUrl, "--params", '{"ID":2}', "--out", out])).toBe(0)
      const text = readFileSync(out, "utf8")
      expect(text.endsWith("\n")).toBe(true)
      expect(JSON.parse(text)).toMatchObject({ ID: "2" })
    })
  )

  it.live("get-by-id writes the rows it got, then fails (exit 3) naming the IDs the portal did not find", () =>
    Effect.gen(function* () {
      const ids = join(dir, "ids.txt")
      writeFileSync(ids, "1\n999999\n2\n888888\n")
      const out = join(dir, "by-id.ndjson")
      expect(yield* b24(["get-by-id", "crm.deal.get", "--webhook", portal.webhookUrl, "--ids", ids, "--out", out, "--quiet"])).toBe(3)
      const rows = readFileSync(out, "utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => (JSON.parse(line) as { readonly ID: string }).ID)
      expect(rows).toEqual(["1", "2"])
      expect(stderrLines()).toHaveLength(1)
      expect(stderrLines()[0]).toMatch(/^b24: error: crm\.deal\.get: 2 of 4 IDs failed: ID 999999 "" Not found; ID 888888 "" Not found;/)
    })
  )

  it.live("batch writes every command's outcome, then fails (exit 3) with the label and words of the failed one", () =>
    Effect.gen(function* () {
      const out = join(dir, "batch.ndjson")
      for (const halt of [[], ["--halt"]]) {
        stderr.length = 0
        expect(yield* b24(["batch", "--cmd", batchCommands, "--webhook", portal.webhookUrl, "--quiet", "--out", out, ...halt])).toBe(3)
        expect(batchFileProblems(readFileSync(out, "utf8"), halt.length > 0)).toEqual([])
        expect(stderrLines()).toHaveLength(1)
        expect(stderrLines()[0]).toMatch(/^b24: error: batch: \d of 3 commands failed: \[missing\] "" Not found/)
      }
    })
  )
})

describe("b24 over OAuth", () => {
  // in this order: the portal expires the first access token once, which the first test relies on
  it.live("connects with the OAuth variables and writes the rotated tokens to --tokens-out", () =>
    Effect.gen(function* () {
      const app = oauthPortal.oauth
      if (app === undefined) throw new Error("the portal has no OAuth app")
      const out = join(dir, "oauth.ndjson")
      const tokensOut = join(dir, "tokens.json")
      const env: Env = {
        BITRIX24_ACCESS_TOKEN: app.accessToken,
        BITRIX24_REFRESH_TOKEN: app.refreshToken,
        BITRIX24_CLIENT_ID: app.clientId,
        BITRIX24_CLIENT_SECRET: app.clientSecret,
        BITRIX24_REST_URL: app.restUrl,
        BITRIX24_TOKEN_URL: app.tokenUrl
      }
      expect(yield* b24(["get-all", "crm.deal.list", "--limits", "off", "--out", out, "--tokens-out", tokensOut], env)).toBe(0)
      expect(readFileSync(out, "utf8").split("\n").filter((line) => line !== "")).toHaveLength(120)
      const tokens = JSON.parse(readFileSync(tokensOut, "utf8")) as Record<string, unknown>
      expect(typeof tokens["refresh_token"]).toBe("string")
      expect(tokens["refresh_token"]).not.toBe(app.refreshToken)
      expect(stderr.join("")).not.toContain(app.accessToken)
    })
  )

  it.live("--verbose after a failed refresh shows the request, never a token or the client secret", () =>
    Effect.gen(function* () {
      const app = oauthPortal.oauth
      if (app === undefined) throw new Error("the portal has no OAuth app")
      const env: Env = {
        BITRIX24_ACCESS_TOKEN: "staleaccess0000000000",
        BITRIX24_REFRESH_TOKEN: "spentrefresh000000000",
        BITRIX24_CLIENT_ID: app.clientId,
        BITRIX24_CLIENT_SECRET: app.clientSecret,
        BITRIX24_REST_URL: app.restUrl,
        BITRIX24_TOKEN_URL: app.tokenUrl
      }
      const code = yield* b24(["get-all", "crm.deal.list", "--limits", "off", "--quiet", "--verbose", "--out", join(dir, "stale.ndjson")], env)
      expect(code).toBe(1)
      const lines = stderrLines()
      expect(lines[0]).toMatch(/^b24: error: .*"?(invalid_grant|invalid_token|expired_token)/)
      expect(lines.some((line) => line.startsWith(`b24: request: POST ${app.restUrl}`))).toBe(true)
      const text = stderr.join("")
      for (const secret of ["staleaccess0000000000", "spentrefresh000000000", app.clientSecret]) expect(text).not.toContain(secret)
    })
  )
})
