/**
 * What `b24` says while it cannot reach the portal: each retry on stderr as it happens, the reason in the summary,
 * and no retries at all where they cannot help (a name that does not resolve). In-process (`run(argv, env)`), the
 * retry schedule's waits on `TestClock`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import * as Net from "node:net"
import { run } from "../../src/cli/main.js"
import { captureOutput } from "../support/capture.js"

const { stderr, stderrLines: lines } = captureOutput()

/** A port nothing listens on: bound, read, closed. */
const closedPort = () =>
  Effect.promise(
    () =>
      new Promise<number>((resolve) => {
        const server = Net.createServer()
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
        })
      })
  )

/** Runs b24 on TestClock: the clock moves a second at a time while the real sockets answer in between. */
const runMoving = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(run(["node", "b24", ...args], {}))
    for (let step = 0; step < 300; step++) {
      const done = yield* Fiber.poll(fiber)
      if (done._tag === "Some") break
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
      yield* TestClock.adjust("1 second")
    }
    return yield* Fiber.join(fiber)
  })


describe("b24 and an unreachable portal", () => {
  it.effect("a refused connection: every retry on stderr as it happens, then one error line and a summary naming it", () =>
    Effect.gen(function* () {
      const port = yield* closedPort()
      const code = yield* runMoving(["call", "crm.deal.get", "--params", "{\"ID\":1}", "--webhook", `http://127.0.0.1:${port}/rest/1/secretcode1234/`])
      expect(code).toBe(1)
      const retries = lines().filter((line) => /try \d+ of 9 failed \(connection refused\); trying again in/.test(line))
      // the default schedule: 8 retries after the first try, 9 tries in all
      expect(retries.length).toBe(8)
      expect(retries[0]).toMatch(/try 1 of 9 failed/)
      expect(retries[7]).toMatch(/try 8 of 9 failed/)
      const summary = lines().find((line) => line.startsWith("b24: failed:"))
      expect(summary).toMatch(/retried after connection refused ×8/)
      // a refused connection never reached the portal: not a server error
      expect(summary).not.toMatch(/server error/)
      expect(stderr.join("")).not.toContain("secretcode1234")
    })
  )

  it.effect("a name that does not resolve fails at once: no retry", () =>
    Effect.gen(function* () {
      const code = yield* runMoving(["get-all", "crm.deal.list", "--webhook", "https://no-such-portal.invalid/rest/1/secretcode1234/"])
      expect(code).toBe(1)
      expect(lines().filter((line) => /trying again/.test(line))).toEqual([])
      expect(stderr.join("")).toMatch(/ENOTFOUND/)
    })
  )
})
