import { describe, expect, it } from "@effect/vitest"
import {
  BitrixApiError,
  BulkCallError,
  HttpError,
  ItemRefused,
  ItemSucceeded,
  KeysetUnsupportedError,
  NotRunError,
  UnexpectedResultError,
  ValidationError
} from "../../src/BitrixError.js"
import {
  detailLines,
  errorLine,
  ExitCode,
  exitCodeOf,
  FileError,
  ItemsFailedError,
  logLine,
  redactValue,
  requestLine,
  summaryLine
} from "../../src/cli/Report.js"
import type { LimiterStats } from "../../src/RateLimiter.js"

const idle: LimiterStats = {
  started: 4,
  inFlight: 0,
  concurrencyCeiling: 50,
  bucketWaits: 0,
  bucketWaitMs: 0,
  operatingWaits: 0,
  operatingWaitMs: 0,
  throttled: 0,
  serverErrors: 0,
  methodBlocks: 0
}

const redactSecret = (text: string) => text.split("s3cr3t").join("***")

describe("exit codes", () => {
  it("2 for bad input, 3 for failed items, 1 for the rest", () => {
    expect(exitCodeOf(new ValidationError({ path: "--filter", detail: "x" }))).toBe(ExitCode.usage)
    expect(exitCodeOf(new ItemsFailedError({ method: "m.a", noun: "items", failed: 1, total: 2, failures: '#0 "" x' }))).toBe(ExitCode.itemsFailed)
    expect(exitCodeOf(new BitrixApiError({ code: "X", description: "y", status: 400, method: "m.a" }))).toBe(ExitCode.failure)
    expect(exitCodeOf(new UnexpectedResultError({ method: "m.list", detail: "the result is not a list of rows" }))).toBe(ExitCode.failure)
    expect(exitCodeOf(new KeysetUnsupportedError({ method: "m.list", reason: "FilterIgnored", detail: "x" }))).toBe(ExitCode.failure)
    expect(exitCodeOf(new NotRunError({ method: "m.a", commandLabel: "c0", reason: "halt" }))).toBe(ExitCode.failure)
    expect(exitCodeOf(new FileError({ path: "a", action: "read", detail: "ENOENT" }))).toBe(ExitCode.failure)
    expect(ExitCode.interrupted).toBe(130)
  })
})

describe("errorLine", () => {
  it("is one line with the portal's code and words", () => {
    const line = errorLine(
      new BitrixApiError({ code: "INVALID_CREDENTIALS", description: "Invalid request credentials", status: 401, method: "crm.deal.list" })
    )
    expect(line).toBe('b24: error: crm.deal.list: "INVALID_CREDENTIALS" Invalid request credentials (HTTP 401)')
  })

  it("flattens an HTML body to one line, caps it, and scrubs secrets", () => {
    const body = `<html>\n<head><title>502 Bad Gateway</title></head>\n${"<p>filler</p>\n".repeat(200)}s3cr3t</html>`
    const line = errorLine(
      new HttpError({ reason: "Status", method: "crm.deal.list", status: 502, detail: "unexpected s3cr3t", bodyExcerpt: body }),
      redactSecret
    )
    expect(line).not.toContain("\n")
    expect(line).not.toContain("s3cr3t")
    expect(line).toContain("502 Bad Gateway")
    expect(line.length).toBeLessThanOrEqual(620)
  })
})

describe("verbose lines", () => {
  it("shows the request with the webhook code masked and secret params redacted", () => {
    const line = requestLine(
      { endpoint: "https://portal.example/rest/1/s3cr3t/", method: "crm.deal.list", params: { filter: { ">ID": 5 }, auth: "token" } },
      redactSecret
    )
    expect(line).toBe('b24: request: POST https://portal.example/rest/1/***/crm.deal.list {"filter":{">ID":5},"auth":"***"}')
  })

  it("lists each failed item of a bulk call with its input", () => {
    const error = new BulkCallError({
      method: "crm.deal.update",
      outcomes: [
        new ItemSucceeded({ index: 0, commandLabel: "c0", result: true }),
        new ItemRefused({ index: 1, commandLabel: "c1", code: "", description: "Not found", status: 200, item: { ID: 9, password: "pw" } })
      ]
    })
    expect(detailLines(error, redactSecret)).toEqual(['b24: failed item #1 [c1]: "" Not found; input {"ID":9,"password":"***"}'])
  })

  it("shows the portal's raw answer of a portal error, and the excerpt of an unexpected result", () => {
    const refused = new BitrixApiError({
      code: "",
      description: "Not found",
      status: 400,
      method: "crm.deal.get",
      raw: { error: "", error_description: "Not found" }
    })
    expect(detailLines(refused, redactSecret)).toEqual(['b24: portal answer: {"error":"","error_description":"Not found"}'])
    const unexpected = new UnexpectedResultError({ method: "crm.deal.list", detail: "the result is not a list of rows", excerpt: '{"s3cr3t":1}' })
    expect(detailLines(unexpected, redactSecret)).toEqual(['b24: result: {"***":1}'])
  })

  it("redacts nested values and keys", () => {
    expect(redactValue({ a: ["x s3cr3t"], refresh_token: "r" }, redactSecret)).toEqual({ a: ["x ***"], refresh_token: "***" })
  })
})

describe("summaryLine", () => {
  it("reports rows, rate, requests and no waits", () => {
    expect(summaryLine({ status: "done", count: 5000, noun: "rows", wallMs: 1520, stats: idle })).toBe(
      "b24: done: 5000 rows in 1.52s (3289/s); 4 requests; throttled waits: none"
    )
  })

  it("reports throttled waits and refusals, and an interruption", () => {
    const stats: LimiterStats = {
      ...idle,
      started: 1,
      bucketWaits: 3,
      bucketWaitMs: 1500,
      operatingWaits: 1,
      operatingWaitMs: 10_000,
      throttled: 2,
      methodBlocks: 1
    }
    expect(summaryLine({ status: "interrupted", count: 120, noun: "rows", wallMs: 65_000, stats })).toBe(
      "b24: interrupted: 120 rows in 1m05s (2/s); 1 request; throttled waits: 4 (12s: bucket 3, operating budget 1); " +
        "2 refused with 503, 1 method blocks (429)"
    )
  })
})

describe("logLine", () => {
  it("shows progress plainly, prefixes warnings, and adds annotations to debug lines", () => {
    expect(logLine("INFO", "crm.deal.list: 50/100", [["progress", "crm.deal.list"]])).toBe("b24: crm.deal.list: 50/100")
    expect(logLine("WARN", "careful")).toBe("b24: warning: careful")
    expect(
      logLine("DEBUG", "rate limiter: waiting for the leaky bucket", [
        ["methods", "crm.deal.list"],
        ["waitMs", 480]
      ])
    ).toBe("b24: debug: rate limiter: waiting for the leaky bucket (methods=crm.deal.list waitMs=480)")
  })
})
