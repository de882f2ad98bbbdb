/**
 * Running the built `b24` (dist/cli/bin.js, built by `npm test`'s pretest) as a child process, as a user would.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export const binPath = fileURLToPath(new URL("../../dist/cli/bin.js", import.meta.url))

/** The test's own environment without any BITRIX24_* variable, so a developer's real portal is never used. */
export const cleanEnv: Readonly<Record<string, string | undefined>> = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.startsWith("BITRIX24_"))
)

/** How a child process ended, with everything it printed. */
export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Collects a child's output as it comes; `finished` resolves when it has exited. */
export const collect = (child: ChildProcess) => {
  let stdout = ""
  let stderr = ""
  child.stdout?.on("data", (chunk: Buffer) => void (stdout += chunk.toString("utf8")))
  child.stderr?.on("data", (chunk: Buffer) => void (stderr += chunk.toString("utf8")))
  const finished = new Promise<Finished>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  return { finished, stdout: () => stdout, stderr: () => stderr }
}

/** Starts `b24 args…` with the clean environment (plus `env`); stdin is open for the caller. */
export const spawnB24 = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
  spawn(process.execPath, [binPath, ...args], { env: { ...cleanEnv, ...env }, stdio: ["pipe", "pipe", "pipe"] })

/** The commands `b24 batch` runs in the CLI tests: one found, one missing, one after it. */
export const batchCommands = JSON.stringify({ ok: "crm.deal.get?ID=1", missing: "crm.deal.get?ID=999999", after: "crm.deal.get?ID=2" })

/** What `b24 batch --out` wrote for {@link batchCommands}: every command's outcome, `after` not run under `--halt`. */
export const batchFileProblems = (text: string, halted: boolean): ReadonlyArray<string> => {
  const written = JSON.parse(text) as {
    readonly result: Readonly<Record<string, { readonly ID: string }>>
    readonly error: Readonly<Record<string, { readonly code: string; readonly description: string }>>
  }
  const problems: Array<string> = []
  if (written.result["ok"]?.ID !== "1") problems.push(`ok: ${JSON.stringify(written.result["ok"])}`)
  const missing = written.error["missing"]
  if (missing?.code !== "" || missing.description !== "Not found") problems.push(`missing: ${JSON.stringify(missing)}`)
  if (!halted && written.result["after"]?.ID !== "2") problems.push(`after: ${JSON.stringify(written.result["after"])}`)
  if (halted && written.error["after"]?.code !== "NOT_RUN") problems.push(`after: ${JSON.stringify(written.error["after"])}`)
  return problems
}

