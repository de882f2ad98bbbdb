import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { runPortalCli } from "../../src/testing/cli.js"
import {
  defaultPort,
  parseCostModel,
  parseFaults,
  parseLimits,
  parseMutations,
  parsePortalArgs,
  parseSeed,
  type PortalArgs,
  usage
} from "../../src/testing/cliOptions.js"
import type { FakePortalOptions } from "../../src/testing/Options.js"

const serveOptions = (argv: ReadonlyArray<string>): FakePortalOptions => {
  const parsed = parsePortalArgs(argv)
  if (Either.isLeft(parsed)) throw new Error(`unexpected parse error: ${parsed.left.message}`)
  const args: PortalArgs = parsed.right
  if (args._tag !== "Serve") throw new Error("expected Serve")
  return args.options
}

const errorOf = (argv: ReadonlyArray<string>): { readonly flag: string | undefined; readonly message: string } => {
  const parsed = parsePortalArgs(argv)
  if (Either.isRight(parsed)) throw new Error(`expected a parse error for ${argv.join(" ")}`)
  return parsed.left
}

describe("parsePortalArgs", () => {
  it("parses the documented example command line", () => {
    const options = serveOptions([
      "--port",
      "8124",
      "--seed",
      "crm.deal=100000,crm.lead=20000",
      "--limits",
      "standard",
      "--time-scale",
      "10"
    ])
    expect(options).toEqual({
      port: 8124,
      seed: { "crm.deal": 100000, "crm.lead": 20000 },
      limits: "standard",
      timeScale: 10
    })
  })

  it("defaults to the fixed port on loopback", () => {
    const parsed = parsePortalArgs([])
    expect(parsed).toEqual(Either.right({ _tag: "Serve", host: "127.0.0.1", options: { port: defaultPort } }))
  })

  it("parses every other flag", () => {
    const options = serveOptions([
      "--seed-number=7",
      "--limits=pool=10,rps=1,operating=3",
      "--cost-model=base=5,narrowRow=0.1,countRowMs=0.001",
      "--faults=html502:0.05,drop:0.01,error503@3+7,hang@5/crm.deal.list+crm.lead.list",
      "--mutations=crm.deal:every=10,add=5,delete=2;crm.lead:every=3",
      "--batch-billing=batch",
      "--max-url-length=4000",
      "--webhook=7/secretcode",
      "--token-lifetime=60"
    ])
    expect(options).toEqual({
      port: defaultPort,
      seedNumber: 7,
      limits: { poolSize: 10, requestsPerSecond: 1, operatingLimitSeconds: 3, operatingWindowSeconds: 600 },
      costModel: { baseMs: 5, narrowRowMs: 0.1, countRowMs: 0.001 },
      faults: [
        { kind: "html502", probability: 0.05 },
        { kind: "drop", probability: 0.01 },
        { kind: "error503", onRequests: [3, 7] },
        { kind: "hang", onRequests: [5], methods: ["crm.deal.list", "crm.lead.list"] }
      ],
      mutations: [
        { entity: "crm.deal", everyRequests: 10, add: 5, delete: 2 },
        { entity: "crm.lead", everyRequests: 3 }
      ],
      batchBilling: "batch",
      maxUrlLength: 4000,
      webhook: { userId: 7, code: "secretcode" },
      oauth: {
        clientId: expect.any(String),
        clientSecret: expect.any(String),
        accessTokenLifetimeSeconds: 60
      }
    })
  })

  it("parses --report-time and the docsCount cost preset", () => {
    expect(serveOptions(["--time-scale", "10", "--report-time", "portal", "--cost-model", "docsCount"])).toEqual({
      port: defaultPort,
      timeScale: 10,
      reportTime: "portal",
      costModel: "docsCount"
    })
    expect(serveOptions(["--report-time=real"]).reportTime).toBe("real")
    expect(parseCostModel("docsCount")).toEqual(Either.right("docsCount"))
  })

  it("--oauth enables the app with its default token lifetime", () => {
    const options = serveOptions(["--oauth"])
    expect(options.oauth?.clientId).toMatch(/^local\./)
    expect(options.oauth).not.toHaveProperty("accessTokenLifetimeSeconds")
  })

  it("--help wins over everything else", () => {
    expect(parsePortalArgs(["--seed", "crm.deal=5", "--help"])).toEqual(Either.right({ _tag: "Help" }))
    expect(parsePortalArgs(["-h"])).toEqual(Either.right({ _tag: "Help" }))
  })

  it("the help text lists every flag", () => {
    for (const flag of [
      "--port",
      "--host",
      "--seed",
      "--seed-number",
      "--limits",
      "--time-scale",
      "--report-time",
      "--cost-model",
      "--faults",
      "--mutations",
      "--batch-billing",
      "--max-url-length",
      "--webhook",
      "--oauth",
      "--token-lifetime",
      "--help"
    ]) {
      expect(usage).toContain(`  ${flag} `)
    }
  })

  it.each([
    [["--bogus"], undefined, /bogus/],
    [["stray"], undefined, /stray/],
    [["--port", "70000"], "--port", /0\.\.65535/],
    [["--port", "80x"], "--port", /whole number/],
    [["--seed", "crm.deal"], "--seed", /key=value/],
    [["--seed", "crm.deal=-3"], "--seed", /crm\.deal/],
    [["--limits", "premium"], "--limits", /key=value|unknown/],
    [["--limits", "pool=0"], "--limits", /poolSize must be a positive number/],
    [["--limits", "burst=5"], "--limits", /unknown key "burst"/],
    [["--time-scale", "0"], "--time-scale", /> 0/],
    [["--cost-model", "fast"], "--cost-model", /key=value/],
    [["--cost-model", "base=-1"], "--cost-model", /base/],
    [["--faults", "explode:0.1"], "--faults", /unknown fault kind "explode"/],
    [["--faults", "drop:2"], "--faults", /between 0 and 1/],
    [["--faults", "drop"], "--faults", /needs a probability/],
    [["--mutations", "crm.deal:add=5"], "--mutations", /every=N/],
    [["--batch-billing", "both"], "--batch-billing", /commands or batch/],
    [["--report-time", "wall"], "--report-time", /real or portal/],
    [["--max-url-length", "0"], "--max-url-length", />= 1/],
    [["--webhook", "abc"], "--webhook", /USER_ID\/CODE/]
  ] as const)("rejects %j with a clear message", (argv, flag, message) => {
    const error = errorOf(argv)
    expect(error.flag).toBe(flag)
    expect(error.message).toMatch(message)
  })

  it("the small parsers accept the documented forms", () => {
    expect(parseSeed("crm.item:1032=500, tasks.task=2000")).toEqual(Either.right({ "crm.item:1032": 500, "tasks.task": 2000 }))
    expect(parseLimits("enterprise")).toEqual(Either.right("enterprise"))
    expect(parseLimits("off")).toEqual(Either.right("off"))
    expect(parseCostModel("zero")).toEqual(Either.right("zero"))
    expect(parseFaults("malformedJson:1,expireToken@2")).toEqual(
      Either.right([
        { kind: "malformedJson", probability: 1 },
        { kind: "expireToken", onRequests: [2] }
      ])
    )
    expect(parseMutations("tasks.task:every=1,delete=1")).toEqual(
      Either.right([{ entity: "tasks.task", everyRequests: 1, delete: 1 }])
    )
    expect(parseMutations("crm.deal:every=10,add=5,update=3,delete=2")).toEqual(
      Either.right([{ entity: "crm.deal", everyRequests: 10, add: 5, update: 3, delete: 2 }])
    )
    expect(serveOptions(["--latency", "60"]).latency).toEqual({ roundTripMs: 60 })
    expect(serveOptions(["--latency", "60,jitter=20"]).latency).toEqual({ roundTripMs: 60, jitterMs: 20 })
    expect(errorOf(["--latency", "soon"]).message).toMatch(/--latency: the round trip must be a number of ms >= 0, got "soon"/)
    expect(errorOf(["--latency", "60,spread=5"]).message).toMatch(/unknown key "spread"; use jitter/)
    expect(errorOf(["--latency", "60,jitter=-1"]).message).toMatch(/jitter must be a number of ms >= 0/)
  })
})

describe("runPortalCli", () => {
  const collect = () => {
    const out: Array<string> = []
    const err: Array<string> = []
    return { out, err, io: { out: (line: string) => void out.push(line), err: (line: string) => void err.push(line) } }
  }

  it("prints the help and exits 0", async () => {
    const { out, io } = collect()
    const code = await runPortalCli(["--help"], { ...io, stopSignal: Promise.resolve() })
    expect(code).toBe(0)
    expect(out.join("\n")).toContain("--cost-model")
  })

  it("rejects bad options with exit code 2 and the usage on stderr", async () => {
    const { out, err, io } = collect()
    const code = await runPortalCli(["--limits", "pool=x"], { ...io, stopSignal: Promise.resolve() })
    expect(code).toBe(2)
    expect(out).toEqual([])
    expect(err[0]).toMatch(/^error: --limits: pool must be a number/)
    expect(err.join("\n")).toContain("Usage:")
  })

  it("serves until stopped, printing the webhook first and the OAuth app when asked", async () => {
    const { out, err, io } = collect()
    let stop: () => void = () => undefined
    const stopSignal = new Promise<void>((resolve) => (stop = resolve))
    const running = runPortalCli(["--port", "0", "--seed", "crm.lead=60", "--oauth"], { ...io, stopSignal })
    while (!out.some((line) => line.startsWith("serving"))) await new Promise((resolve) => setTimeout(resolve, 5))
    const webhook = /^webhook: (http:\/\/127\.0\.0\.1:\d+\/rest\/\d+\/[^/]+\/)$/.exec(out[0] ?? "")?.[1]
    expect(webhook).toBeDefined()
    expect(out).toContain("seed: crm.lead=60 (seed number 1)")
    expect(out.some((line) => /^oauth access_token: \S+$/.test(line))).toBe(true)
    const response = await fetch(`${webhook}crm.lead.list.json?start=50`)
    const body: unknown = await response.json()
    expect(response.status).toBe(200)
    expect(body).toMatchObject({ total: 60 })
    stop()
    expect(await running).toBe(0)
    expect(err.join("\n")).toMatch(/stopped after 1 requests/)
  })
})

describe("npm run portal", () => {
  it("prints `webhook: <url>` as the first line of stdout and stops on SIGTERM", async () => {
    const root = fileURLToPath(new URL("../..", import.meta.url))
    const child = spawn(process.execPath, ["--import", "tsx", "src/testing/cli.ts", "--port", "0", "--limits", "off"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const lines = createInterface({ input: child.stdout })
    const first = await new Promise<string>((resolve, reject) => {
      lines.once("line", resolve)
      child.once("exit", (code) => reject(new Error(`portal exited early with ${code}`)))
    })
    expect(first).toMatch(/^webhook: http:\/\/127\.0\.0\.1:\d+\/rest\/\d+\/\S+\/$/)
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
    child.kill("SIGTERM")
    expect(await exited).toBe(0)
  })

  it("takes --cost-model docsCount and reports wall-clock time under --time-scale unless --report-time portal", async () => {
    const root = fileURLToPath(new URL("../..", import.meta.url))
    /** `time` of one counted 50-row narrow page of 10,000 deals, from `npm run portal` with `extra` flags. */
    const countedPage = async (extra: ReadonlyArray<string>) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "src/testing/cli.ts", "--port", "0", "--limits", "off", "--seed", "crm.deal=10000", "--cost-model", "docsCount", "--time-scale", "10", ...extra],
        { cwd: root, stdio: ["ignore", "pipe", "pipe"] }
      )
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
      try {
        const first = await new Promise<string>((resolve, reject) => {
          createInterface({ input: child.stdout }).once("line", resolve)
          child.once("exit", (code) => reject(new Error(`portal exited early with ${code}`)))
        })
        const sentAtMs = Date.now()
        const response = await fetch(`${first.slice("webhook: ".length)}crm.deal.list.json?select[]=ID&start=0`)
        const body = (await response.json()) as { readonly time: { readonly start: number; readonly processing: number } }
        return { sentAtMs, receivedAtMs: Date.now(), time: body.time }
      } finally {
        child.kill("SIGTERM")
        await exited
      }
    }
    // base 5 + 50 rows × 0.1 + the COUNT of 10,000 rows × 0.0209 = 219 portal ms, 21.9 real ms at time scale 10
    const real = await countedPage([])
    expect(real.time.processing).toBeCloseTo(0.0219, 9)
    // stamped on the wall clock: between the send and the answer (whole ms either side)
    expect(real.time.start * 1000).toBeGreaterThanOrEqual(real.sentAtMs - 1)
    expect(real.time.start * 1000).toBeLessThanOrEqual(real.receivedAtMs + 1)
    const portal = await countedPage(["--report-time", "portal"])
    expect(portal.time.processing).toBeCloseTo(0.219, 9)
  }, 120_000)
})
