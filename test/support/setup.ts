/**
 * Runs before each test file: a state folder of its own, so the file limiter store that `b24` uses by default
 * (`$XDG_STATE_HOME/effect-bitrix24/limiter.json`) stays out of the user's home and no two test files share a
 * bucket. Spawned `b24` processes inherit it.
 */
import { afterAll } from "vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const stateHome = mkdtempSync(join(tmpdir(), "effect-bitrix24-state-"))
process.env["XDG_STATE_HOME"] = stateHome

afterAll(() => rmSync(stateHome, { recursive: true, force: true }))
