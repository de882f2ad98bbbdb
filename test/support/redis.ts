/**
 * A real Redis for tests: `REDIS_URL` when set, else a `redis-server` started here on a free port in a temporary
 * folder (`--save "" --appendonly no`), stopped afterwards. A missing binary FAILS the test loudly: the Redis tests
 * must never be skipped in silence.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** A running Redis: its URL, and (for one started here) a way to stop it. */
export interface RunningRedis {
  readonly url: string
  /** Whether this helper started it (only then can a test stop it mid-run). */
  readonly owned: boolean
  readonly stop: () => Promise<void>
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** The redis-server binary, or a loud failure naming what to install. */
export const redisServerBinary = (): string => {
  const candidates = [process.env["REDIS_SERVER"], "redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server"]
  for (const candidate of candidates) {
    if (candidate === undefined || candidate === "") continue
    try {
      execFileSync(candidate, ["--version"], { stdio: "ignore" })
      return candidate
    } catch {
      // try the next one
    }
  }
  throw new Error(
    "redis-server was not found: the Redis limiter tests need a real Redis. Install it (apt-get install redis-server) " +
      "or set REDIS_URL to a running one."
  )
}

/** Starts a `redis-server` of its own on a free port; resolves once it accepts connections. */
export const startRedisServer = async (): Promise<RunningRedis> => {
  const binary = redisServerBinary()
  const dir = mkdtempSync(join(tmpdir(), "effect-bitrix24-redis-"))
  const port = await freePort()
  const child: ChildProcess = spawn(
    binary,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no"],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  let output = ""
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s: ${output}`)), 10_000)
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.stderr?.on("data", (chunk: Buffer) => void (output += chunk.toString()))
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`redis-server exited with ${code}: ${output}`))
    })
  })
  let stopped: Promise<void> | undefined
  const stop = () => {
    stopped ??= new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once("exit", () => resolve())
      child.kill("SIGKILL")
    }).then(() => rmSync(dir, { recursive: true, force: true }))
    return stopped
  }
  return { url: `redis://127.0.0.1:${port}`, owned: true, stop }
}

/** `REDIS_URL` when set (never stopped here), else a server of its own. */
export const startRedis = async (): Promise<RunningRedis> => {
  const given = process.env["REDIS_URL"]
  if (given !== undefined && given !== "") return { url: given, owned: false, stop: () => Promise.resolve() }
  return startRedisServer()
}
