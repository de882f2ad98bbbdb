/**
 * A PostgreSQL server for the sync tests: `DATABASE_URL` when set (CI), else a server of our own, started with
 * initdb / pg_ctl in a temporary folder on a free port and stopped after. Without server binaries this fails
 * loudly: the Postgres tests never skip in silence.
 *
 * Each test file gets its own schema (`?schema=…` of the sink URL) so files running in parallel never meet.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

const binFolders = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/14/bin"]

const findBinary = (name: string): string | undefined => {
  for (const folder of binFolders) {
    const candidate = path.join(folder, name)
    if (fs.existsSync(candidate)) return candidate
  }
  const which = spawnSync("which", [name], { encoding: "utf8" })
  return which.status === 0 && which.stdout.trim() !== "" ? which.stdout.trim() : undefined
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** A server the tests can use, and how to stop it (a no-op for `DATABASE_URL`). */
export interface PostgresServer {
  /** e.g. `postgres://postgres@127.0.0.1:5432/test`, without a schema. */
  readonly url: string
  readonly stop: () => void
}

/**
 * `DATABASE_URL`, or a fresh server of our own. Throws (never skips) when neither is possible.
 */
export const startPostgres = async (): Promise<PostgresServer> => {
  const given = process.env["DATABASE_URL"]
  if (given !== undefined && given.trim() !== "") return { url: given.trim(), stop: () => undefined }
  const initdb = findBinary("initdb")
  const pgCtl = findBinary("pg_ctl")
  if (initdb === undefined || pgCtl === undefined) {
    throw new Error(
      "The Postgres tests need a server: set DATABASE_URL, or install PostgreSQL's server binaries (Debian: apt-get install postgresql) " +
        `so initdb and pg_ctl are found in ${binFolders.join(", ")} or on PATH`
    )
  }
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "b24-pg-"))
  const data = path.join(folder, "data")
  const port = await freePort()
  // the server refuses to run as root: run it as the postgres user then
  const asRoot = process.getuid?.() === 0
  const run = (binary: string, args: ReadonlyArray<string>) => {
    if (asRoot) {
      fs.chownSync(folder, Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim()), Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim()))
      return execFileSync("runuser", ["-u", "postgres", "--", binary, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
    }
    return execFileSync(binary, [...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  }
  run(initdb, ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
  run(pgCtl, ["-D", data, "-l", path.join(folder, "log"), "-w", "-o", `-p ${port} -k ${folder} -c listen_addresses=127.0.0.1 -c fsync=off`, "start"])
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => {
      try {
        run(pgCtl, ["-D", data, "-m", "immediate", "-w", "stop"])
      } finally {
        fs.rmSync(folder, { recursive: true, force: true })
      }
    }
  }
}

/** The server's URL with a schema of its own for one test file (`?schema=name`), as the sink reads it. */
export const withSchema = (url: string, schema: string): string => {
  const parsed = new URL(url)
  parsed.searchParams.set("schema", schema)
  return parsed.toString()
}

/** A schema name no other test file or run uses. */
export const freshSchema = (prefix: string): string => `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
