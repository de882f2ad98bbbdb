import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningFakePortal, startFakePortal } from "../src/testing/index.js"

const root = Path.resolve(import.meta.dirname, "..")
const temp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "b24-examples-"))

/** Runs an example the way its header says, with tsx, against the fake portal. */
const run = (example: string, args: ReadonlyArray<string>, env: Record<string, string>) =>
  promisify(execFile)(process.execPath, ["--import", "tsx", Path.join(root, "examples", example), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    timeout: 60_000
  })

let portal: RunningFakePortal

beforeAll(async () => {
  portal = await startFakePortal({
    seed: { "crm.deal": 1200 },
    limits: "standard",
    costModel: "zero"
  })
})
afterAll(async () => {
  await portal.close()
  Fs.rmSync(temp, { recursive: true, force: true })
})

describe("npm run demo", () => {
  it("exports the embedded portal with b24's bar on a terminal, then says what it did and how close it came to the bound", async () => {
    const out = Path.join(temp, "demo", "deals.ndjson")
    // under a pseudo-terminal, as a user runs it: b24 inherits the terminal and draws its bar
    const command = [process.execPath, "--import", "tsx", Path.join(root, "examples", "demo.ts"), "--rows", "3000", "--out", out]
      .map((arg) => `'${arg.replace(/'/g, "'\\''")}'`)
      .join(" ")
    const { stdout } = await promisify(execFile)("script", ["-qfec", command, "/dev/null"], { cwd: root, timeout: 60_000 })
    const text = stdout.replace(/\r/g, "")
    expect(text).toContain("fake portal: 3,000 deals, standard limits sped up 10x")
    expect(text).toMatch(/running: b24 get-all crm\.deal\.list --select ID,TITLE,STAGE_ID,OPPORTUNITY,DATE_CREATE --format ndjson --out \S+ --limits pool=50,rps=20,operating=480,window=60/)
    expect(text).toContain("\u001b[")
    expect(text).toMatch(/crm\.deal\.list \[[=-]{30}\] 3000\//)
    expect(text).toMatch(/b24: done: 3000 rows in [\d.]+s/)
    expect(text).toMatch(/^exit code: +0$/m)
    expect(text).toContain(`rows written:       3,000 to ${out} (3,000 distinct IDs)`)
    expect(text).toMatch(/^HTTP requests: +\d+ \(503s: 0, 429s: 0\); the fewest that can carry it: 2$/m)
    expect(text).toMatch(/^export time: +[\d.]+ s real = [\d.]+ s of portal time/m)
    expect(text).toMatch(/^lower bound: +[\d.]+ s of portal time/m)
    expect(text).toMatch(/^ratio to the bound: +[\d.]+x$/m)
    const ids = Fs.readFileSync(out, "utf8").trimEnd().split("\n").map((line) => (JSON.parse(line) as { ID: string }).ID)
    expect(new Set(ids).size).toBe(3000)
  })

  it("is what npm run demo runs", () => {
    const scripts = (JSON.parse(Fs.readFileSync(Path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts
    expect(scripts["demo"]).toBe("tsx examples/demo.ts")
  })
})

describe("examples run against the fake portal", () => {
  it("export-csv writes every deal", async () => {
    const file = Path.join(temp, "deals.csv")
    const { stdout } = await run("export-csv.ts", [file], { BITRIX24_WEBHOOK: portal.webhookUrl })
    expect(stdout).toContain("1200 deals written")
    const lines = Fs.readFileSync(file, "utf8").trimEnd().split("\n")
    expect(lines[0]).toBe("ID,TITLE,STAGE_ID,OPPORTUNITY,CURRENCY_ID")
    expect(lines.length).toBe(1201)
    expect(new Set(lines.slice(1).map((line) => line.split(",")[0])).size).toBe(1200)
  })

  it("bulk-update moves every deal of a stage", async () => {
    const { stdout } = await run("bulk-update.ts", ["NEW", "PREPARATION"], { BITRIX24_WEBHOOK: portal.webhookUrl })
    const moved = Number(/^(\d+) deals moved/m.exec(stdout)?.[1])
    expect(moved).toBeGreaterThan(0)
    expect(stdout).not.toContain("failed")
    expect(portal.stats().writesPerformed["crm.deal.update"]).toBe(moved)
    const again = await run("bulk-update.ts", ["NEW", "PREPARATION"], { BITRIX24_WEBHOOK: portal.webhookUrl })
    expect(again.stdout).toContain("0 deals moved")
  })

  it("oauth-app refreshes an expired token and stores the rotated pair", async () => {
    const app = await startFakePortal({
      seed: { "crm.deal": 1200 },
      costModel: "zero",
      oauth: { clientId: "local.example.1", clientSecret: "example-secret" },
      // the first access token expires at once, so the example has to refresh and store the new pair
      faults: [{ kind: "expireToken", onRequests: [1] }]
    })
    const oauth = app.oauth!
    const tokens = Path.join(temp, "tokens.json")
    Fs.writeFileSync(tokens, JSON.stringify({ accessToken: oauth.accessToken, refreshToken: oauth.refreshToken }))
    const { stdout } = await run("oauth-app.ts", [tokens], {
      BITRIX24_REST_URL: oauth.restUrl,
      BITRIX24_TOKEN_URL: oauth.tokenUrl,
      BITRIX24_CLIENT_ID: oauth.clientId,
      BITRIX24_CLIENT_SECRET: oauth.clientSecret
    })
    expect(stdout).toMatch(/user 1 sees 1200 deals/)
    const stored = JSON.parse(Fs.readFileSync(tokens, "utf8")) as { refreshToken: string }
    expect(stored.refreshToken).not.toBe(oauth.refreshToken)
    expect(app.stats().faultsInjected["expireToken"]).toBe(1)
    await app.close()
  })
})
