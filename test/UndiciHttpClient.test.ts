/**
 * The bundled HttpClient (undici's request API over an agent of the layer's own) against a real node:http server
 * on a free port: what it sends, what it reads, how it fails, and that the layer closes its connections.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { describeCause } from "../src/internal/httpResponse.js"
import { layerHttpClient } from "../src/internal/network.js"

interface Seen {
  readonly method: string
  readonly url: string
  readonly contentType: string | undefined
  readonly body: string
}

const seen: Array<Seen> = []
const sockets = new Set<Socket>()
const closedSockets: Array<Socket> = []
const aborted: Array<string> = []
let server: Server
let base = ""

const readAll = (request: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let text = ""
    request.setEncoding("utf8")
    request.on("data", (chunk: string) => void (text += chunk))
    request.on("end", () => resolve(text))
  })

beforeAll(async () => {
  server = createServer((request, response) => {
    void readAll(request).then((body) => {
      seen.push({ method: request.method ?? "", url: request.url ?? "", contentType: request.headers["content-type"], body })
      if (request.url === "/hang") {
        // never answers: the client's interruption must close the request
        request.socket.on("close", () => aborted.push(request.url ?? ""))
        return
      }
      if (request.url === "/cookies") {
        response.setHeader("set-cookie", ["a=1; Path=/", "b=2; Path=/"])
        response.end("")
        return
      }
      response.writeHead(request.url === "/missing" ? 404 : 200, { "content-type": "application/json; charset=utf-8", "x-echo": "yes" })
      // a body in several chunks, a Cyrillic title escaped and one not
      response.write(`{"method":"${request.method}","body":${JSON.stringify(body)},`)
      response.end(`"title":"Сделка \\u0421"}`)
    })
  })
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.on("close", () => closedSockets.push(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  for (const socket of sockets) socket.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

/** Waits (polling every 5 ms) until `done`, failing the test after 30 s instead of hanging it. */
const until = (what: string, done: () => boolean) =>
  Effect.gen(function* () {
    while (!done()) yield* Effect.sleep(5)
  }).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`never happened: ${what}`) }))

// no proxy from the machine's environment: the requests go straight to the test's server
const bundled = layerHttpClient({}, {})

describe("the bundled HttpClient over a real server", () => {
  it.live("POSTs the body as given and reads status, headers and the whole body (text twice, json, several chunks)", () =>
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const response = yield* client.execute(HttpClientRequest.post(`${base}/rest/x.json?a=1`).pipe(HttpClientRequest.bodyText('{"ID":7}', "application/json")))
      expect(response.status).toBe(200)
      expect(response.headers["x-echo"]).toBe("yes")
      expect(response.headers["content-type"]).toBe("application/json; charset=utf-8")
      const text = yield* response.text
      expect(text).toBe(`{"method":"POST","body":"{\\"ID\\":7}","title":"Сделка \\u0421"}`)
      // the body is read once: asking again gives the same text, and json parses it
      expect(yield* response.text).toBe(text)
      expect(yield* response.json).toEqual({ method: "POST", body: '{"ID":7}', title: "Сделка С" })
      expect(seen.at(-1)).toEqual({ method: "POST", url: "/rest/x.json?a=1", contentType: "application/json", body: '{"ID":7}' })
    }).pipe(Effect.provide(bundled))
  )

  it.live("an error status is a response, not a failure; the body streams in chunks", () =>
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const response = yield* client.execute(HttpClientRequest.get(`${base}/missing`))
      expect(response.status).toBe(404)
      const bytes = yield* Stream.runCollect(response.stream)
      const text = Buffer.concat(Chunk.toReadonlyArray(bytes)).toString("utf8")
      expect(JSON.parse(text)).toEqual({ method: "GET", body: "", title: "Сделка С" })
    }).pipe(Effect.provide(bundled))
  )

  it.live("every set-cookie header becomes a cookie", () =>
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const response = yield* client.execute(HttpClientRequest.get(`${base}/cookies`))
      expect(Object.keys(response.cookies.cookies).sort()).toEqual(["a", "b"])
    }).pipe(Effect.provide(bundled))
  )

  it.live("interrupting a request closes it on the server's side", () =>
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const fiber = yield* Effect.fork(client.execute(HttpClientRequest.get(`${base}/hang`)))
      // wait until the server has the request
      yield* until("the server has the request", () => seen.some((request) => request.url === "/hang"))
      yield* Fiber.interrupt(fiber)
      yield* until("the request is closed", () => aborted.length > 0)
      expect(aborted).toEqual(["/hang"])
    }).pipe(Effect.provide(bundled))
  )

  it.live("a refused connection is a Transport RequestError whose cause names ECONNREFUSED (the retry policy reads it)", () =>
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      // a port the test's server just gave up
      const spare = createServer()
      yield* Effect.promise(() => new Promise<void>((resolve) => spare.listen(0, "127.0.0.1", resolve)))
      const port = (spare.address() as AddressInfo).port
      yield* Effect.promise(() => new Promise<void>((resolve) => spare.close(() => resolve())))
      const result = yield* Effect.either(client.execute(HttpClientRequest.get(`http://127.0.0.1:${port}/`)))
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left._tag).toBe("RequestError")
        expect(result.left.reason).toBe("Transport")
        expect(describeCause(result.left.cause)).toMatch(/ECONNREFUSED/)
      }
    }).pipe(Effect.provide(bundled))
  )

  it.live("closing the layer closes its agent: its connection ends, and a later request fails instead of opening another", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(bundled, scope)
      const client = context.unsafeMap.get(HttpClient.HttpClient.key) as HttpClient.HttpClient
      const before = new Set(sockets)
      yield* Effect.flatMap(client.execute(HttpClientRequest.get(`${base}/open`)), (response) => response.text)
      const opened = [...sockets].filter((socket) => !before.has(socket))
      expect(opened).toHaveLength(1)
      yield* Scope.close(scope, Exit.void)
      const after = yield* Effect.either(client.execute(HttpClientRequest.get(`${base}/after`)))
      expect(Either.isLeft(after) && describeCause(after.left.cause)).toMatch(/closed|destroyed/i)
      expect(seen.some((request) => request.url === "/after")).toBe(false)
      yield* until("the connection is closed", () => closedSockets.includes(opened[0]!))
    })
  )
})
