/**
 * `b24`'s settings from flags and `BITRIX24_*` variables, its help text and its version, run in-process
 * (`run(argv, env)`) against a fake portal served from this process.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Env } from "../../src/cli/Connection.js"
import { run } from "../../src/cli/main.js"
import { type RunningFakePortal, startFakePortal } from "../../src/testing/index.js"
import { captureOutput } from "../support/capture.js"

let portal: RunningFakePortal
let dir: string

beforeAll(async () => {
  portal = await startFakePortal({ seed: { "crm.deal": 60 }, limits: "off", costModel: "zero" })
  dir = mkdtempSync(join(tmpdir(), "b24-settings-"))
  // the first 30 IDs of the seeded deals, as the portal itself lists them, one a line
  const response = await fetch(`${portal.webhookUrl}crm.deal.list.json`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ select: ["ID"], order: { ID: "ASC" } })
  })
  const listed = (await response.json()) as { readonly result: ReadonlyArray<{ readonly ID: string }> }
  writeFileSync(join(dir, "ids.txt"), listed.result.slice(0, 30).map((row) => row.ID).join("\n"))
})

afterAll(async () => {
  await portal.close()
  rmSync(dir, { recursive: true, force: true })
})

const { stderr, stdout } = captureOutput({ stdout: true })

const b24 = (args: ReadonlyArray<string>, env: Env = {}) => run(["node", "b24", ...args], env)

/** Requests the portal received during `effect`. */
const requestsDuring = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const before = portal.stats().httpRequests
    const value = yield* effect
    return { value, requests: portal.stats().httpRequests - before }
  })

describe("b24 settings from flags and BITRIX24_* variables", () => {
  const getById = (extra: ReadonlyArray<string> = []) => [
    "get-by-id",
    "crm.deal.get",
    "--ids",
    join(dir, "ids.txt"),
    "--webhook",
    portal.webhookUrl,
    "--limits",
    "off",
    "--out",
    join(dir, "deals.ndjson"),
    ...extra
  ]

  it.live("BITRIX24_BATCH_SIZE sets the batch size: 30 IDs in batches of 10 are 3 requests; the flag wins over it", () =>
    Effect.gen(function* () {
      const fromEnv = yield* requestsDuring(b24(getById(), { BITRIX24_BATCH_SIZE: "10" }))
      expect(fromEnv.value).toBe(0)
      expect(fromEnv.requests).toBe(Math.ceil(30 / 10))
      expect(readFileSync(join(dir, "deals.ndjson"), "utf8").split("\n").filter((line) => line !== "")).toHaveLength(30)
      const fromFlag = yield* requestsDuring(b24(getById(["--batch-size", "15"]), { BITRIX24_BATCH_SIZE: "10" }))
      expect(fromFlag.value).toBe(0)
      expect(fromFlag.requests).toBe(Math.ceil(30 / 15))
      const byDefault = yield* requestsDuring(b24(getById()))
      expect(byDefault.requests).toBe(1)
    })
  )

  it.live("a variable that is not a number, or an unknown plan, is refused before any request (exit 2), naming it", () =>
    Effect.gen(function* () {
      const bad = yield* requestsDuring(b24(getById(), { BITRIX24_MAX_CONCURRENT: "lots" }))
      expect(bad.value).toBe(2)
      expect(bad.requests).toBe(0)
      expect(stderr.join("")).toContain("BITRIX24_MAX_CONCURRENT")
      const plan = yield* requestsDuring(b24(["get-all", "crm.deal.list", "--webhook", portal.webhookUrl], { BITRIX24_PLAN: "gold" }))
      expect(plan.value).toBe(2)
      expect(plan.requests).toBe(0)
      expect(stderr.join("")).toContain("BITRIX24_PLAN")
    })
  )

  it.live("a --batch-size out of range is refused before any request", () =>
    Effect.gen(function* () {
      const bad = yield* requestsDuring(b24(getById(["--batch-size", "51"])))
      expect(bad.requests).toBe(0)
      expect(bad.value).toBe(2)
    })
  )
})

describe("b24 help and version", () => {
  it.live("each command's --help is a line per option with examples, starts with its usage, and has no colour", () =>
    Effect.gen(function* () {
      for (const command of ["get-all", "get-by-id", "call", "batch"]) {
        stdout.length = 0
        expect(yield* b24([command, "--help"])).toBe(0)
        const text = stdout.join("")
        expect(text).toContain(`Usage: b24 ${command}`)
        expect(text).toContain("Examples:")
        expect(text).not.toMatch(/\u001b\[/)
        expect(text).not.toMatch(/wizard|completions|A user-defined piece of text|This setting is optional/)
        expect(text.split("\n").length).toBeLessThan(45)
      }
    })
  )

  it.live("--version prints the package's version; an unknown command or flag is exit 2 with a pointer to --help", () =>
    Effect.gen(function* () {
      expect(yield* b24(["--version"])).toBe(0)
      const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { readonly version: string }
      expect(stdout.join("")).toBe(`${pkg.version}\n`)
      expect(yield* b24(["export-all"])).toBe(2)
      expect(stderr.join("")).toContain('unknown command "export-all"')
      stderr.length = 0
      expect(yield* b24(["get-all", "crm.deal.list", "--colour"])).toBe(2)
      expect(stderr.join("")).toContain("--colour")
      expect(stderr.join("")).toContain("Run 'b24 get-all --help' for usage.")
    })
  )
})
