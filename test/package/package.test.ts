/**
 * The package as its users get it: `npm pack` (which builds dist/ through `prepare`), the tarball installed with
 * its peer dependencies from the registry into a temporary project outside the repository, and used from there by
 * plain `node` (ESM and CommonJS), by `tsc` (nodenext and bundler resolution, strict) and through `npx b24`.
 * Nothing here imports the repository's sources: what passes only inside the repository does not count.
 *
 * One pack and one install are shared by every test of the file.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFile, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const repo = fileURLToPath(new URL("../..", import.meta.url))
const deals = 3000

interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to its end (or kills it after `timeoutMs`) and collects what it printed. */
const exec = (command: string, args: ReadonlyArray<string>, cwd: string, timeoutMs = 120_000): Promise<Finished> =>
  new Promise((resolve) => {
    execFile(command, [...args], { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: cleanEnv }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
      resolve({ code, stdout, stderr })
    })
  })

/** The test's environment without BITRIX24_* variables, so a developer's real portal is never used. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("BITRIX24_")))

const versionOf = (name: string): string =>
  (JSON.parse(readFileSync(join(repo, "node_modules", name, "package.json"), "utf8")) as { readonly version: string }).version

let project: string
let tarball: string

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), "effect-bitrix24-consumer-"))
  const packed = await exec("npm", ["pack", "--pack-destination", project, "--loglevel", "error"], repo, 300_000)
  if (packed.code !== 0) throw new Error(`npm pack failed: ${packed.stderr}`)
  const file = readdirSync(project).find((name) => name.endsWith(".tgz"))
  if (file === undefined) throw new Error("npm pack wrote no tarball")
  tarball = join(project, file)
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }))
  // the peers at the versions this repository is tested with; typings for the TypeScript consumer
  const installed = await exec(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      "--loglevel",
      "error",
      tarball,
      `effect@${versionOf("effect")}`,
      `@effect/platform@${versionOf("@effect/platform")}`,
      `@types/node@${versionOf("@types/node")}`
    ],
    project,
    300_000
  )
  if (installed.code !== 0) throw new Error(`npm install failed: ${installed.stderr}`)
}, 600_000)

afterAll(() => {
  if (project !== undefined) rmSync(project, { recursive: true, force: true })
})

/** The export every consumer runs: a fake portal with 3,000 deals, the Promise client's getAll, then close. */
const exportBody = (start: string, client: string) => `
const portal = await ${start}({ seed: { "crm.deal": ${deals} }, limits: "off", costModel: "zero" })
// the engine's own count, asked over HTTP without the client
const direct = await (await fetch(portal.webhookUrl + "crm.deal.list.json", {
  method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ select: ["ID"] })
})).json()
const client = ${client}({ webhook: portal.webhookUrl, limits: "off" })
const rows = await client.getAll("crm.deal.list", { select: ["ID", "TITLE"] })
await client.close()
await portal.close()
console.log(JSON.stringify({ total: direct.total, rows: rows.length, distinct: new Set(rows.map((row) => row.ID)).size }))
`

const lastJson = (stdout: string): Record<string, unknown> => JSON.parse(stdout.trim().split("\n").at(-1) ?? "null") as Record<string, unknown>

describe("the packed tarball in a fresh project", () => {
  it("ships dist, the sources for the declaration maps, no tests, bench or examples", async () => {
    const listing = await exec("tar", ["tzf", tarball], project)
    const files = listing.stdout.split("\n").filter((line) => line !== "")
    expect(files).toContain("package/dist/index.js")
    expect(files).toContain("package/dist/index.d.ts")
    expect(files).toContain("package/dist/index.d.ts.map")
    expect(files).toContain("package/dist/cli/bin.js")
    expect(files).toContain("package/src/index.ts")
    expect(files.filter((file) => /^package\/(test|bench|examples|docs)\//.test(file))).toEqual([])
    expect(readFileSync(join(project, "node_modules/effect-bitrix24/dist/cli/bin.js"), "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true)
  })

  it("plain node ESM: every entry point imports, internals are closed, and a 3,000-deal export ends the process by itself", async () => {
    writeFileSync(
      join(project, "esm.mjs"),
      `import * as Root from "effect-bitrix24"
import { createClient } from "effect-bitrix24/promise"
import { startFakePortal, FakePortal } from "effect-bitrix24/testing"
import { createRequire } from "node:module"
const pkg = createRequire(import.meta.url)("effect-bitrix24/package.json")
let internal = "open"
try { await import("effect-bitrix24/internal/client.js") } catch (error) { internal = error.code }
console.log(JSON.stringify({ modules: Object.keys(Root).sort(), layer: typeof FakePortal.layer, version: pkg.version, internal }))
${exportBody("startFakePortal", "createClient")}`
    )
    // no process.exit in the script: it must end on its own once the client and the portal are closed
    const run = await exec(process.execPath, ["esm.mjs"], project, 60_000)
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    const [first] = run.stdout.split("\n")
    const shape = JSON.parse(first ?? "null") as Record<string, unknown>
    expect(shape["modules"]).toEqual(expect.arrayContaining(["Bitrix", "BitrixError", "ProgressReporter", "RateLimiter", "Transport"]))
    expect(shape["layer"]).toBe("function")
    expect(shape["version"]).toBe(JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version)
    expect(shape["internal"]).toBe("ERR_PACKAGE_PATH_NOT_EXPORTED")
    expect(lastJson(run.stdout)).toEqual({ total: deals, rows: deals, distinct: deals })
  })

  it("CommonJS: require() of the Promise client and the fake portal does the same export", async () => {
    writeFileSync(
      join(project, "cjs.cjs"),
      `const { createClient } = require("effect-bitrix24/promise")
const { startFakePortal } = require("effect-bitrix24/testing")
const main = async () => {${exportBody("startFakePortal", "createClient")}}
main().catch((error) => { console.error(error); process.exitCode = 1 })`
    )
    const run = await exec(process.execPath, ["cjs.cjs"], project, 60_000)
    expect(run.code).toBe(0)
    // Node 20 may warn that require() of ES modules is experimental; nothing else may be printed
    expect(run.stderr.split("\n").filter((line) => line !== "" && !/ExperimentalWarning|--trace-warnings/.test(line))).toEqual([])
    expect(lastJson(run.stdout)).toEqual({ total: deals, rows: deals, distinct: deals })
  })

  it("the library's entry loads neither the command line, nor the progress bar's package, nor the fake portal", async () => {
    writeFileSync(
      join(project, "hook.mjs"),
      `let port
export const initialize = (data) => { port = data.port }
export const load = async (url, context, next) => { port.postMessage(url); return next(url, context) }`
    )
    writeFileSync(
      join(project, "light.mjs"),
      `import { register } from "node:module"
import { MessageChannel } from "node:worker_threads"
const { port1, port2 } = new MessageChannel()
const urls = []
port1.on("message", (url) => urls.push(url))
register(new URL("./hook.mjs", import.meta.url), { data: { port: port2 }, transferList: [port2] })
await import("effect-bitrix24")
await import("effect-bitrix24/promise")
await new Promise((resolve) => setTimeout(resolve, 200))
port1.close()
console.log(JSON.stringify(urls.filter((url) => url.includes("effect-bitrix24") || url.includes("cli-progress")).map((url) => url.replace(/^.*node_modules\\//, ""))))`
    )
    const run = await exec(process.execPath, ["light.mjs"], project, 60_000)
    expect(run.code).toBe(0)
    const loaded = JSON.parse(run.stdout.trim()) as ReadonlyArray<string>
    expect(loaded).toContain("effect-bitrix24/dist/index.js")
    expect(loaded.filter((url) => /cli-progress|\/dist\/cli\/|\/dist\/testing\//.test(url))).toEqual([])
  })

  it.each(["nodenext", "bundler"] as const)("a TypeScript consumer type-checks under moduleResolution %s, strict", async (resolution) => {
    const dir = join(project, `ts-${resolution}`)
    rmSync(dir, { recursive: true, force: true })
    await exec("mkdir", ["-p", dir], project)
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: resolution === "nodenext" ? "NodeNext" : "ESNext",
          moduleResolution: resolution === "nodenext" ? "NodeNext" : "Bundler",
          strict: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          types: ["node"],
          typeRoots: [join(project, "node_modules/@types")]
        },
        include: ["*.ts"]
      })
    )
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }))
    writeFileSync(
      join(dir, "program.ts"),
      `import { Effect, Layer } from "effect"
import { Bitrix, BitrixError } from "effect-bitrix24"
import { createClient } from "effect-bitrix24/promise"
import { FakePortal } from "effect-bitrix24/testing"

const deals: Effect.Effect<ReadonlyArray<unknown>, BitrixError.BitrixError, Bitrix.Services> = Bitrix.getAll("crm.deal.list", { select: ["ID"] })
const live = Bitrix.layerFetch({ webhook: "https://example.bitrix24.com/rest/1/secret/" })
// the fake portal's transport, swapped in under the client's other services
const fake = Layer.merge(Bitrix.layerServices({ limits: "off" }), FakePortal.layer({ seed: { "crm.deal": 10 }, limits: "off" }))
export const viaFake: Promise<number> = Effect.runPromise(deals.pipe(Effect.map((rows) => rows.length), Effect.provide(fake)))
export const viaLive: Effect.Effect<number, BitrixError.BitrixError> = deals.pipe(Effect.map((rows) => rows.length), Effect.provide(live))
export const layers: ReadonlyArray<Layer.Layer<Bitrix.Services, BitrixError.ValidationError>> = [live, fake]

const client = createClient({ webhook: "https://example.bitrix24.com/rest/1/secret/" })
export const count: Promise<number> = client.getAll("crm.deal.list").then((rows) => rows.length)
// @ts-expect-error: a number is not a method name
Bitrix.call(42, {})
`
    )
    const tsc = join(repo, "node_modules/typescript/bin/tsc")
    const run = await exec(process.execPath, [tsc, "-p", dir], dir)
    expect(run.stdout + run.stderr).toBe("")
    expect(run.code).toBe(0)
  })

  it("npx b24: --help without a loader, the fake portal, and get-all from it as NDJSON", async () => {
    const help = await exec("npx", ["--no", "--", "b24", "--help"], project)
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^b24: /)
    expect(help.stdout).toContain("get-all")

    // the bin npx runs, started directly so that SIGTERM reaches the portal itself (npx does not pass it on)
    const portal = spawn(join(project, "node_modules/.bin/b24"), ["portal", "--port", "0", "--seed", `crm.deal=${deals}`, "--limits", "off", "--cost-model", "zero"], {
      cwd: project,
      env: cleanEnv,
      stdio: ["ignore", "pipe", "pipe"]
    })
    try {
      const webhook = await new Promise<string>((resolve, reject) => {
        let out = ""
        portal.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString("utf8")
          const match = /^webhook: (\S+)$/m.exec(out)
          if (match?.[1] !== undefined) resolve(match[1])
        })
        portal.on("close", (code) => reject(new Error(`b24 portal exited ${code} before printing its webhook`)))
      })
      const run = await exec("npx", ["--no", "--", "b24", "get-all", "crm.deal.list", "--format", "ndjson", "--select", "ID", "--webhook", webhook, "--limits", "off"], project)
      expect(run.code).toBe(0)
      const ids = run.stdout.split("\n").filter((line) => line !== "").map((line) => (JSON.parse(line) as { readonly ID: string }).ID)
      expect(ids.length).toBe(deals)
      expect(new Set(ids).size).toBe(deals)
    } finally {
      const closed = new Promise((resolve) => portal.on("close", resolve))
      portal.kill("SIGTERM")
      await closed
    }
  })

  it("publint and arethetypeswrong (esm-only) find nothing in the tarball", async () => {
    const publint = await exec(process.execPath, [join(repo, "node_modules/publint/src/cli.js"), join(project, "node_modules/effect-bitrix24"), "--strict", "--pack", "false"], project)
    expect(publint.stdout + publint.stderr).not.toMatch(/error|warning|suggestion/i)
    expect(publint.code).toBe(0)
    const attw = await exec(process.execPath, [join(repo, "node_modules/@arethetypeswrong/cli/dist/index.js"), tarball, "--profile", "esm-only", "--format", "json"], project)
    expect(attw.code).toBe(0)
    const report = JSON.parse(attw.stdout) as { readonly analysis: { readonly problems: ReadonlyArray<{ readonly resolutionKind?: string }> } }
    const counted = report.analysis.problems.filter((problem) => problem.resolutionKind !== "node10" && problem.resolutionKind !== "node16-cjs")
    expect(counted).toEqual([])
  })
})
