import { describe, expect, it } from "@effect/vitest"
import { LeakyBucket, OperatingWindow, RequestOperating } from "../../src/testing/internal/engineLimits.js"

describe("LeakyBucket", () => {
  it("admits exactly poolSize at once, then one per 1/rps second", () => {
    const bucket = new LeakyBucket(50, 2)
    for (let i = 0; i < 50; i++) expect(bucket.admit("k", 0)).toBe(true)
    expect(bucket.admit("k", 0)).toBe(false)
    expect(bucket.admit("k", 499)).toBe(false)
    for (let t = 500; t <= 60_000; t += 500) expect(bucket.admit("k", t)).toBe(true)
    expect(bucket.admit("other", 60_000)).toBe(true)
  })

  it("does not count refused requests", () => {
    const bucket = new LeakyBucket(2, 1)
    bucket.admit("k", 0)
    bucket.admit("k", 0)
    for (let i = 0; i < 10; i++) expect(bucket.admit("k", 500)).toBe(false)
    expect(bucket.level("k", 1000)).toBeCloseTo(1)
    expect(bucket.admit("k", 1000)).toBe(true)
  })
})

describe("OperatingWindow", () => {
  it("keeps each bucket from its first call until that call + window, and reports the oldest expiry", () => {
    const window = new OperatingWindow(480, 600)
    window.bill("m", 10, 5_000)
    window.bill("m", 5, 50_000) // same 60 s bucket
    window.bill("m", 20, 70_000)
    expect(window.usedSeconds("m", 70_000)).toBe(35)
    expect(window.resetAtSeconds("m", 70_000)).toBe(605)
    expect(window.usedSeconds("m", 604_999)).toBe(35)
    expect(window.usedSeconds("m", 605_000)).toBe(20)
    expect(window.resetAtSeconds("m", 605_000)).toBe(670)
    expect(window.usedSeconds("m", 670_000)).toBe(0)
    expect(window.resetAtSeconds("m", 700_500)).toBe(1300)
  })

  it("bills a request's calls of one key only when their sum passes 0.1 s", () => {
    const request = new RequestOperating()
    request.add("a", 0.1)
    request.add("b", 0.06)
    expect(request.counted("b")).toBe(0)
    request.add("b", 0.06)
    expect(request.counted("b")).toBeCloseTo(0.12)
    expect(request.billable().map(([key]) => key)).toEqual(["b"])
  })
})
