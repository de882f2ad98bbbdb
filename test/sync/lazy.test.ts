/**
 * `import "effect-bitrix24"` loads no database driver: they are optional, and only a sink layer loads one.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { describe, expect, it } from "vitest"

const loadedBy = (code: string): ReadonlyArray<string> => {
  const folder = mkdtempSync(join(tmpdir(), "b24-lazy-"))
  try {
    writeFileSync(
      join(folder, "hook.mjs"),
      `let port
export const initialize = (data) => { port = data.port }
export const load = async (url, context, next) => { port.postMessage(url); return next(url, context) }`
    )
    writeFileSync(
      join(folder, "main.mjs"),
      `import { register } from "node:module"
import { MessageChannel } from "node:worker_threads"
const { port1, port2 } = new MessageChannel()
const urls = []
port1.on("message", (url) => urls.push(url))
register(new URL("./hook.mjs", import.meta.url), { data: { port: port2 }, transferList: [port2] })
${code}
await new Promise((resolve) => setTimeout(resolve, 200))
port1.close()
console.log(JSON.stringify(urls))`
    )
    const run = spawnSync(process.execPath, ["--import", "tsx", join(folder, "main.mjs")], { cwd: process.cwd(), encoding: "utf8", timeout: 60_000 })
    expect(run.status, run.stderr).toBe(0)
    return JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "[]") as ReadonlyArray<string>
  } finally {
    rmSync(folder, { recursive: true, force: true })
  }
}

const index = pathToFileURL(join(process.cwd(), "src/index.ts")).href
const drivers = /@effect\/sql|better-sqlite3|\/node_modules\/pg\/|sqlSink/

describe("database drivers are loaded lazily", () => {
  it("the library's entry, Sync included, loads none of them", () => {
    const urls = loadedBy(`const { Sync } = await import(${JSON.stringify(index)}); if (typeof Sync.run !== "function") process.exit(3)`)
    expect(urls.some((url) => url.endsWith("/src/Sync.ts"))).toBe(true)
    expect(urls.filter((url) => drivers.test(url))).toEqual([])
  }, 60_000)

  it("a SQLite sink loads the SQLite driver and not Postgres's", () => {
    const urls = loadedBy(`const { Effect, Layer } = await import(${JSON.stringify(pathToFileURL(join(process.cwd(), "node_modules/effect/dist/esm/index.js")).href)})
const { Sync } = await import(${JSON.stringify(index)})
const file = (await import("node:path")).join((await import("node:os")).tmpdir(), "b24-lazy-" + process.pid + ".db")
await Effect.runPromise(Effect.scoped(Layer.build(Sync.layer("sqlite:" + file))))
;(await import("node:fs")).rmSync(file, { force: true })`)
    expect(urls.some((url) => /sql-sqlite-node/.test(url))).toBe(true)
    expect(urls.filter((url) => /sql-pg|\/node_modules\/pg\//.test(url))).toEqual([])
  }, 60_000)
})
