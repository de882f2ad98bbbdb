/**
 * Captures what a test's in-process `b24` writes to stderr (and stdout when asked): each test starts with empty
 * captures, and the real streams are restored after it.
 */
import { afterEach, beforeEach } from "@effect/vitest"
import { vi } from "vitest"

/** Registers the hooks; the arrays are emptied before each test (read them inside the test). */
export const captureOutput = (streams: { readonly stdout?: boolean } = {}) => {
  const captured: { readonly stderr: Array<string>; readonly stdout: Array<string> } = { stderr: [], stdout: [] }
  const into = (target: Array<string>) => (chunk: string | Uint8Array) => {
    target.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"))
    return true
  }
  beforeEach(() => {
    captured.stderr.length = 0
    captured.stdout.length = 0
    vi.spyOn(process.stderr, "write").mockImplementation(into(captured.stderr))
    if (streams.stdout === true) vi.spyOn(process.stdout, "write").mockImplementation(into(captured.stdout))
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })
  /** What was written to stderr so far, as lines without the empty ones. */
  const stderrLines = () =>
    captured.stderr
      .join("")
      .split("\n")
      .filter((line) => line !== "")
  return { ...captured, stderrLines }
}
