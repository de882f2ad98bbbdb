/**
 * The Promise client's `slow()` (issue 10, finding 8): every call made inside it shares one set of limits. A small
 * HTTP server on loopback answers and records what arrived; time is only ever bounded from below (a loaded
 * machine makes things slower, never faster), so no test depends on the machine's speed.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { type Client, createClient } from "../src/Promise.js"

interface Recorder {
  readonly webhookUrl: string
  /** Requests received so far. */
  readonly requests: () => number
  /** The most requests the server held at once. */
  readonly maxInFlight: () => number
  readonly close: () => Promise<void>
}

/** Answers every method with `{ result: true }` after `holdMs`, counting requests and how many overlap. */
const startRecorder = async (holdMs: number): Promise<Recorder> => {
  let requests = 0
  let inFlight = 0
  let maxInFlight = 0
  const server: Server = createServer((request, response) => {
    requests++
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    request.resume()
    request.on("end", () => {
      setTimeout(() => {
        inFlight--
        response.writeHead(200, { "content-type": "application/json" })
        response.end(JSON.stringify({ result: true }))
      }, holdMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    webhookUrl: `http://127.0.0.1:${port}/rest/1/c0de4slowtest/`,
    requests: () => requests,
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

const open: Array<{ readonly close: () => Promise<void> }> = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((resource) => resource.close()))
})

const setUp = async (holdMs: number): Promise<{ readonly recorder: Recorder; readonly client: Client }> => {
  const recorder = await startRecorder(holdMs)
  open.push(recorder)
  const client = createClient({ webhook: recorder.webhookUrl, limits: "off" })
  open.push(client)
  return { recorder, client }
}

describe("Promise client slow()", () => {
  it("paces the calls made inside it with one pacer: 6 concurrent calls at 5 per second take at least 5 intervals", async () => {
    const { client, recorder } = await setUp(0)
    // the client builds its services on first use: keep that out of the measured time
    await client.call("server.time")
    const calls = 6
    const requestsPerSecond = 5
    const started = Date.now()
    const results = await client.slow({ requestsPerSecond }, (slowClient) =>
      Promise.all(Array.from({ length: calls }, () => slowClient.call("user.current")))
    )
    const elapsed = Date.now() - started
    expect(results).toEqual(Array.from({ length: calls }, () => true))
    expect(recorder.requests()).toBe(calls + 1)
    // the n-th start is (n - 1) intervals after the first; 5 ms for timer rounding
    const lowerBound = ((calls - 1) * 1000) / requestsPerSecond - 5
    expect(elapsed).toBeGreaterThanOrEqual(lowerBound)
  })

  it("maxConcurrent caps the calls made inside it together: never more than one request at the portal", async () => {
    const { client, recorder } = await setUp(100)
    const results = await client.slow({ maxConcurrent: 1 }, (slowClient) =>
      Promise.all([
        slowClient.call("user.current"),
        slowClient.callRaw("user.current"),
        slowClient.call("user.current", {}),
        slowClient.call("server.time", {})
      ])
    )
    expect(results.length).toBe(4)
    expect(recorder.requests()).toBe(4)
    expect(recorder.maxInFlight()).toBe(1)
  })

  it("a nested slow() adds its limits to the outer one's", async () => {
    const { client, recorder } = await setUp(100)
    await client.slow({ maxConcurrent: 2 }, (outer) =>
      Promise.all([
        outer.slow({ maxConcurrent: 1 }, (inner) => Promise.all([inner.call("user.current"), inner.call("user.current")])),
        outer.call("server.time"),
        outer.call("server.time")
      ])
    )
    expect(recorder.requests()).toBe(4)
    expect(recorder.maxInFlight()).toBeLessThanOrEqual(2)
  })

  it("bad options or body reject with a ValidationError, before the body runs and before any request", async () => {
    const { client, recorder } = await setUp(0)
    let ran = 0
    const body = (slowClient: Client) => {
      ran++
      return slowClient.call("user.current")
    }
    const loose = client.slow as unknown as (options: unknown, body: unknown) => Promise<unknown>
    for (const options of [null, 5, "fast", { requestsPerSecond: 0 }, { maxConcurrent: -1 }, { requestsPerSecond: Number.NaN }, { rps: 1 }]) {
      await expect(loose(options, body)).rejects.toMatchObject({ _tag: "ValidationError" })
    }
    await expect(loose({ requestsPerSecond: 1 }, "not a function")).rejects.toMatchObject({ _tag: "ValidationError", path: "slow.body" })
    expect(ran).toBe(0)
    expect(recorder.requests()).toBe(0)
  })
})
