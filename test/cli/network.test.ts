/**
 * Reaching the portals people run: a self-hosted portal with its own certificate (the fake portal served over
 * TLS with a certificate generated here by openssl) and a corporate proxy (a small HTTP proxy in this process that
 * counts what passes through it). Through the real `b24` process (`dist/cli/bin.js`, built by `npm test`), and
 * through the library's bundled HTTP client (`Bitrix.layerFetch`, `createClient`) with the `network` option.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { FetchHttpClient } from "@effect/platform"
import { Effect, Either, Layer } from "effect"
import * as Bitrix from "../../src/Bitrix.js"
import { createClient } from "../../src/Promise.js"
import { type RunningFakePortal, startFakePortal } from "../../src/testing/index.js"

const binPath = fileURLToPath(new URL("../../dist/cli/bin.js", import.meta.url))
const deals = 200

/** The test's environment without BITRIX24_* or proxy variables. */
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.startsWith("BITRIX24_") && !/^(https?|no)_proxy$/i.test(key))
)

interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const b24 = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): Promise<Finished> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], { env: { ...baseEnv, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

const ids = (stdout: string): ReadonlyArray<string> =>
  stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => (JSON.parse(line) as { readonly ID: string }).ID)

/** A forward proxy: CONNECT tunnels for https, absolute-form requests for http; counts both. */
const startProxy = async () => {
  const seen: Array<string> = []
  const server = Http.createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`)
    const target = new URL(request.url ?? "")
    const upstream = Http.request(
      { host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: request.method, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(response)
      }
    )
    upstream.on("error", () => response.destroy())
    request.pipe(upstream)
  })
  server.on("connect", (request: Http.IncomingMessage, socket: Net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${request.url}`)
    const [host, port] = (request.url ?? "").split(":")
    const upstream = Net.connect(Number(port), host ?? "127.0.0.1", () => {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n")
      upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    upstream.on("error", () => socket.destroy())
    socket.on("error", () => upstream.destroy())
  })
  const sockets = new Set<Net.Socket>()
  server.on("connection", (socket: Net.Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}

let dir: string
let caFile: string
let tlsPortal: RunningFakePortal
let plainPortal: RunningFakePortal
let proxy: Awaited<ReturnType<typeof startProxy>>

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "b24-network-"))
  caFile = join(dir, "cert.pem")
  const keyFile = join(dir, "key.pem")
  // a self-signed certificate for 127.0.0.1, as a self-hosted portal might have
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    caFile,
    "-days",
    "2",
    "-subj",
    "/CN=portal.test",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost"
  ], { stdio: "ignore" })
  const tls = { key: readFileSync(keyFile, "utf8"), cert: readFileSync(caFile, "utf8") }
  tlsPortal = await startFakePortal({ seed: { "crm.deal": deals }, limits: "off", costModel: "zero", tls })
  plainPortal = await startFakePortal({ seed: { "crm.deal": deals }, limits: "off", costModel: "zero" })
  proxy = await startProxy()
})

afterAll(async () => {
  await tlsPortal.close()
  await plainPortal.close()
  await proxy.close()
  rmSync(dir, { recursive: true, force: true })
})

const getAll = (webhook: string, extra: ReadonlyArray<string> = []) => [
  "get-all",
  "crm.deal.list",
  "--select",
  "ID",
  "--webhook",
  webhook,
  "--limits",
  "off",
  "--quiet",
  ...extra
]

describe.concurrent("b24 and a self-hosted portal's certificate", () => {
  it("refuses the unknown certificate by default, with the reason, and never prints the webhook code", async () => {
    expect(tlsPortal.webhookUrl.startsWith("https://127.0.0.1:")).toBe(true)
    const run = await b24(getAll(tlsPortal.webhookUrl))
    expect(run.code).toBe(1)
    expect(run.stdout).toBe("")
    expect(run.stderr).toMatch(/certificate/i)
    const code = new URL(tlsPortal.webhookUrl).pathname.split("/")[3] ?? ""
    expect(code.length).toBeGreaterThan(4)
    expect(run.stderr).not.toContain(code)
  })

  it("--ca FILE (or BITRIX24_CA_FILE) trusts the portal's CA: every deal once", async () => {
    for (const run of [await b24(getAll(tlsPortal.webhookUrl, ["--ca", caFile])), await b24(getAll(tlsPortal.webhookUrl), { BITRIX24_CA_FILE: caFile })]) {
      expect(run.stderr).toBe("")
      expect(run.code).toBe(0)
      const rows = ids(run.stdout)
      expect(rows.length).toBe(deals)
      expect(new Set(rows).size).toBe(deals)
    }
  })

  it("--insecure accepts the certificate unchecked and says so on stderr", async () => {
    const run = await b24(getAll(tlsPortal.webhookUrl, ["--insecure"]))
    expect(run.code).toBe(0)
    expect(ids(run.stdout).length).toBe(deals)
    expect(run.stderr).toMatch(/warning: --insecure/)
  })
})

describe("b24 behind a proxy", () => {
  it("HTTPS_PROXY tunnels the requests to an https portal; NO_PROXY bypasses it", async () => {
    const before = proxy.seen.length
    const through = await b24(getAll(tlsPortal.webhookUrl, ["--ca", caFile]), { HTTPS_PROXY: proxy.url })
    expect(through.stderr).toBe("")
    expect(through.code).toBe(0)
    expect(ids(through.stdout).length).toBe(deals)
    const tunnels = proxy.seen.slice(before)
    expect(tunnels.length).toBeGreaterThan(0)
    expect(tunnels.every((line) => line === `CONNECT 127.0.0.1:${new URL(tlsPortal.webhookUrl).port}`)).toBe(true)

    const count = proxy.seen.length
    const bypass = await b24(getAll(tlsPortal.webhookUrl, ["--ca", caFile]), { HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1" })
    expect(bypass.code).toBe(0)
    expect(ids(bypass.stdout).length).toBe(deals)
    expect(proxy.seen.length).toBe(count)
  })

  it("HTTP_PROXY (lower case too) and --proxy carry plain-http requests, each one seen by the proxy", async () => {
    const before = proxy.seen.length
    const requestsBefore = plainPortal.stats().httpRequests
    const run = await b24(getAll(plainPortal.webhookUrl), { http_proxy: proxy.url })
    expect(run.code).toBe(0)
    expect(ids(run.stdout).length).toBe(deals)
    const forwarded = proxy.seen.slice(before)
    // the portal was reached only through the proxy: absolute-form requests to it, or tunnels to its port
    const port = new URL(plainPortal.webhookUrl).port
    expect(plainPortal.stats().httpRequests).toBeGreaterThan(requestsBefore)
    expect(forwarded.length).toBeGreaterThan(0)
    expect(forwarded.every((line) => line === `CONNECT 127.0.0.1:${port}` || line.includes(`127.0.0.1:${port}/rest/`))).toBe(true)

    const flagBefore = proxy.seen.length
    const flag = await b24(getAll(plainPortal.webhookUrl, ["--proxy", proxy.url]))
    expect(flag.code).toBe(0)
    expect(ids(flag.stdout).length).toBe(deals)
    expect(proxy.seen.length).toBeGreaterThan(flagBefore)
  })
})

describe("the library's bundled HTTP client and a self-hosted portal", () => {
  const idsOfRows = (rows: ReadonlyArray<unknown>) => rows.map((row) => (row as { readonly ID: string }).ID)

  it("createClient with network.ca reads every deal; without it the certificate is refused at once, no retry", async () => {
    const trusted = createClient({ webhook: tlsPortal.webhookUrl, limits: "off", network: { ca: readFileSync(caFile, "utf8") } })
    const rows = await trusted.getAll("crm.deal.list", { select: ["ID"] })
    await trusted.close()
    expect(new Set(idsOfRows(rows)).size).toBe(deals)
    const before = tlsPortal.stats().httpRequests
    const untrusted = createClient({ webhook: tlsPortal.webhookUrl, limits: "off" })
    const error: unknown = await untrusted.getAll("crm.deal.list").then(
      () => undefined,
      (failure: unknown) => failure
    )
    await untrusted.close()
    expect(error).toMatchObject({ _tag: "HttpError", reason: "Transport" })
    // the handshake fails, so the portal never counts a request, and none is retried
    expect(tlsPortal.stats().httpRequests).toBe(before)
  })

  it("Bitrix.layerFetch takes network (a proxy here); Bitrix.layer refuses it, since its HttpClient is the user's", async () => {
    const before = proxy.seen.length
    const rows = await Effect.runPromise(
      Bitrix.getAll("crm.deal.list", { select: ["ID"] }).pipe(
        Effect.provide(Bitrix.layerFetch({ webhook: tlsPortal.webhookUrl, limits: "off", network: { ca: readFileSync(caFile, "utf8"), proxy: proxy.url } }))
      )
    )
    expect(new Set(idsOfRows(rows)).size).toBe(deals)
    expect(proxy.seen.length).toBeGreaterThan(before)
    const refused = await Effect.runPromise(
      Effect.either(
        Bitrix.getAll("crm.deal.list").pipe(
          Effect.provide(
            Bitrix.layer({ webhook: tlsPortal.webhookUrl, network: { dangerouslyAcceptAnyCertificate: true } } as Bitrix.Options).pipe(
              Layer.provide(FetchHttpClient.layer)
            )
          )
        )
      )
    )
    expect(Either.isLeft(refused) && refused.left._tag).toBe("ValidationError")
  })
})
