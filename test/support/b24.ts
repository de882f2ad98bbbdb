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
