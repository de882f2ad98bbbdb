import { describe, expect, it } from "vitest"
import type { PortalTrace, TraceRequest } from "../../bench/portalProtocol.js"
import {
  binSecondsFor,
  bucketLevels,
  busiestMethod,
  inFlight,
  operatingUsage,
  parseCli,
  parseTrace,
  peak,
  renderTimeline,
  rowsPerSecond,
  summarize
} from "../../bench/timeline.js"

/**
 * A small XML well-formedness check: one root element, tags nested and closed in order, attributes quoted and not
 * repeated, `&` only in entities, no `<` in text or attribute values. Returns the element names in document order.
 */
const wellFormed = (xml: string): ReadonlyArray<string> => {
  const name = "[A-Za-z_][\\w.:-]*"
  const entity = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g
  const checkText = (text: string, where: string) => {
    if (text.includes("<")) throw new Error(`a bare < in ${where}`)
    if (text.replace(entity, "").includes("&")) throw new Error(`a bare & in ${where}: ${text.slice(0, 60)}`)
  }
  const tag = new RegExp(`^<(/?)(${name})((?:\\s+${name}\\s*=\\s*"[^"]*")*)\\s*(/?)>`)
  const attribute = new RegExp(`(${name})\\s*=\\s*"([^"]*)"`, "g")
  const stack: Array<string> = []
  const elements: Array<string> = []
  let roots = 0
  let index = 0
  while (index < xml.length) {
    const open = xml.indexOf("<", index)
    const text = xml.slice(index, open === -1 ? xml.length : open)
    if (stack.length === 0 && text.trim() !== "") throw new Error(`text outside the root: ${text.slice(0, 40)}`)
    checkText(text, "text")
    if (open === -1) break
    if (xml.startsWith("<!--", open)) {
      const end = xml.indexOf("-->", open)
      if (end === -1) throw new Error("an unclosed comment")
      index = end + 3
      continue
    }
    const match = tag.exec(xml.slice(open))
    if (match === null) throw new Error(`a malformed tag at ${open}: ${xml.slice(open, open + 60)}`)
    const [whole, closing, tagName, attributes, selfClosing] = match
    if (closing === "/") {
      if (attributes !== "" || selfClosing === "/") throw new Error(`a malformed end tag ${whole}`)
      const expected = stack.pop()
      if (expected !== tagName) throw new Error(`</${tagName}> closes <${expected}>`)
    } else {
      if (stack.length === 0 && ++roots > 1) throw new Error("more than one root element")
      const seen = new Set<string>()
      for (const [, attributeName, value] of attributes!.matchAll(attribute)) {
        if (seen.has(attributeName!)) throw new Error(`attribute ${attributeName} repeated in ${whole}`)
        seen.add(attributeName!)
        checkText(value!, `attribute ${attributeName}`)
      }
      elements.push(tagName!)
      if (selfClosing !== "/") stack.push(tagName!)
    }
    index = open + whole!.length
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(" > ")}`)
  if (roots !== 1) throw new Error("no root element")
  return elements
}

const request = (at: number, answeredAt: number | null, extra: Partial<TraceRequest> = {}): TraceRequest => ({
  at,
  answeredAt,
  method: "batch",
  status: 200,
  rows: 0,
  ...extra
})

const traceOf = (requests: ReadonlyArray<TraceRequest>, portalEpochMs = 0): PortalTrace => ({
  version: 1,
  portalEpochMs,
  timeScale: 1,
  limits: { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 },
  batchBilling: "commands",
  requests
})

describe("the well-formedness check", () => {
  it("refuses what is not XML", () => {
    expect(wellFormed('<svg a="1"><g/><text>x &amp; y</text></svg>')).toEqual(["svg", "g", "text"])
    expect(() => wellFormed("<svg><g></svg>")).toThrow(/closes/)
    expect(() => wellFormed('<svg a="1" a="2"/>')).toThrow(/repeated/)
    expect(() => wellFormed("<svg>a & b</svg>")).toThrow(/bare &/)
    expect(() => wellFormed("<svg><g>")).toThrow(/unclosed/)
    expect(() => wellFormed("<svg/><svg/>")).toThrow(/root/)
    expect(() => wellFormed("<svg a=1/>")).toThrow(/malformed/)
  })
})

describe("bucketLevels", () => {
  it("60 arrivals at t=0 peak at 60 and drain at 2/s to 0 at t=30", () => {
    const points = bucketLevels(new Array<number>(60).fill(0), 2)
    expect(points).toEqual([
      [0, 0],
      [0, 60],
      [30, 0]
    ])
    expect(peak(points)).toBe(60)
  })

  it("drains between arrivals: 50 at t=0, one at t=10 (50 − 20 = 30, +1), empty at 10 + 31/2", () => {
    const points = bucketLevels([...new Array<number>(50).fill(0), 10], 2)
    expect(points).toEqual([
      [0, 0],
      [0, 50],
      [10, 30],
      [10, 31],
      [25.5, 0]
    ])
  })

  it("stays at 0 while empty: arrivals at 0 and 5 are two separate teeth", () => {
    expect(bucketLevels([5, 0], 2)).toEqual([
      [0, 0],
      [0, 1],
      [0.5, 0],
      [5, 0],
      [5, 1],
      [5.5, 0]
    ])
  })

  it("one arrival every half second at 2/s holds the level: 1 → 0 at each next arrival → 1", () => {
    const points = bucketLevels([0, 0.5, 1], 2)
    expect(points).toEqual([
      [0, 0],
      [0, 1],
      [0.5, 0],
      [0.5, 1],
      [1, 0],
      [1, 1],
      [1.5, 0]
    ])
  })

  it("is empty without arrivals", () => {
    expect(bucketLevels([], 2)).toEqual([])
  })
})

describe("inFlight", () => {
  it("counts arrivals up and answers down, one step per instant; a hanging request stays", () => {
    const points = inFlight([request(0, 2), request(0, 1), request(1, 3), request(2.5, null)])
    expect(points).toEqual([
      [0, 0],
      [0, 2],
      // at t=1 one answer and one arrival: no change
      [1, 2],
      [2, 2],
      [2, 1],
      [2.5, 1],
      [2.5, 2],
      [3, 2],
      [3, 1]
    ])
    expect(peak(points)).toBe(2)
  })
})

describe("operatingUsage", () => {
  it("files bills into the window's buckets: the second bill of a 60 s bucket expires with the first", () => {
    // window 600 s → buckets of 60 s from the epoch; bills at 0 and 30 share bucket 0 (opened at 0), 90 opens bucket 1
    const points = operatingUsage(
      [
        { at: 0, seconds: 100 },
        { at: 30, seconds: 100 },
        { at: 90, seconds: 100 }
      ],
      600
    )
    expect(points).toEqual([
      [0, 0],
      [0, 100],
      [30, 100],
      [30, 200],
      [90, 200],
      [90, 300],
      [600, 300],
      [600, 100],
      [690, 100],
      [690, 0]
    ])
    expect(peak(points)).toBe(300)
  })

  it("aligns the buckets to the portal epoch: with t=0 at epoch 30 s, the bill at t=30 opens a new bucket", () => {
    const points = operatingUsage(
      [
        { at: 0, seconds: 100 },
        { at: 30, seconds: 50 }
      ],
      600,
      30_000
    )
    expect(points).toEqual([
      [0, 0],
      [0, 100],
      [30, 100],
      [30, 150],
      [600, 150],
      [600, 50],
      [630, 50],
      [630, 0]
    ])
  })

  it("frees an expired bucket before the next bill", () => {
    const points = operatingUsage(
      [
        { at: 0, seconds: 10 },
        { at: 700, seconds: 5 }
      ],
      600
    )
    expect(points).toEqual([
      [0, 0],
      [0, 10],
      [600, 10],
      [600, 0],
      [700, 0],
      [700, 5],
      [1300, 5],
      [1300, 0]
    ])
  })
})

describe("rowsPerSecond", () => {
  it("bins the rows at their answers: 100 in [0,1), 100 in [1,2), none in [2,3)", () => {
    const points = rowsPerSecond(
      [
        { at: 0.5, rows: 100 },
        { at: 1.5, rows: 50 },
        { at: 1.7, rows: 50 }
      ],
      0,
      3,
      1
    )
    expect(points).toEqual([
      [0, 100],
      [1, 100],
      [2, 100],
      [2, 0],
      [3, 0]
    ])
  })

  it("divides by the bin: 2,500 rows in a 0.5 s bin are 5,000 rows/s", () => {
    expect(rowsPerSecond([{ at: 0.2, rows: 2500 }], 0, 0.5, 0.5)).toEqual([
      [0, 5000],
      [0.5, 5000]
    ])
  })

  it("picks 1/2/5 × 10^k bins, about 80 over the run", () => {
    expect(binSecondsFor(80)).toBe(1)
    expect(binSecondsFor(100)).toBe(2)
    expect(binSecondsFor(12)).toBe(0.2)
    expect(binSecondsFor(1000)).toBe(20)
  })
})

describe("a trace", () => {
  const requests: ReadonlyArray<TraceRequest> = [
    ...Array.from({ length: 60 }, (_, index) =>
      index < 50
        ? request(0, 2, { rows: 50, billed: { "crm.deal.list": 1.5 } })
        : request(0, 0, { status: 503, method: "crm.deal.list" })
    ),
    request(20, 20.5, { status: 200, rows: 0, blocked: 3 }),
    request(21, 21.1, { status: 429, method: "crm.deal.list" }),
    request(22, 24, { rows: 10, billed: { "crm.deal.list": 0.2, "crm.contact.list": 0.5 } })
  ]
  const trace = traceOf(requests)

  it("sums the figures: 503s by status, 429s with blocked batch commands", () => {
    const summary = summarize(trace)
    expect(summary).toEqual({
      start: 0,
      end: 24,
      requests: 63,
      rejected503: 10,
      rejected429: 4,
      rowsReturned: 50 * 50 + 10,
      billedByMethod: { "crm.deal.list": 50 * 1.5 + 0.2, "crm.contact.list": 0.5 }
    })
  })

  it("finds the busiest method by its peak usage", () => {
    const busiest = busiestMethod(trace, 600)
    expect(busiest?.method).toBe("crm.deal.list")
    expect(busiest?.peak).toBeCloseTo(75.2, 9)
  })

  it("reads back what portalProcess.ts writes (a header, one request a line)", () => {
    const { requests: written, ...header } = trace
    const text = `${JSON.stringify(header).slice(0, -1)},"requests":[\n${written.map((r) => JSON.stringify(r)).join(",\n")}\n]}\n`
    expect(parseTrace(text)).toEqual(trace)
    expect(() => parseTrace(`{"version":2,"requests":[]}`)).toThrow(/version 1/)
    expect(() => parseTrace(`{"version":1,"requests":[{"at":"x","answeredAt":null,"status":200}]}`)).toThrow(/requests\[0\]\.at/)
  })

  it("renders well-formed SVG with the title, its figures, the legend and the four panels", () => {
    const svg = renderTimeline(trace, { title: "narrow-5k/auto <&>", rows: 2510, boundSeconds: 10 })
    const elements = wellFormed(svg)
    expect(elements[0]).toBe("svg")
    expect(svg).toContain('width="900" height="600"')
    expect(svg).toContain("<title>narrow-5k/auto &lt;&amp;&gt;: 24 portal s, 63 requests, 10 503s, 4 429s</title>")
    expect(svg).toMatch(/<text id="title"[^>]*>narrow-5k\/auto &lt;&amp;&gt;: 24 portal s, 63 requests, 10 503s, 4 429s<\/text>/)
    const legend = /<g id="legend">([\s\S]*?)\n<\/g>/.exec(svg)?.[1] ?? ""
    for (const label of [
      "requests in flight",
      "bucket level (+1 per arrival, −2/s)",
      "pool 50 / operating limit 480 s",
      "503 (bucket)",
      "operating s used, crm.deal.list",
      "429 (operating)",
      "rows/s returned",
      "bound&apos;s average 251 rows/s"
    ]) {
      expect(legend).toContain(`>${label}</text>`)
    }
    for (const panel of ["in-flight", "bucket", "operating", "rows"]) expect(svg).toContain(`<g id="panel-${panel}">`)
    expect(svg).toContain("leaky bucket level (peak 60, pool 50)")
    expect(svg).toContain("operating time of crm.deal.list (peak 75.2 s of 480 s per 600 s")
    expect(svg).toContain("portal seconds since the first request")
    // four series (in flight, bucket, operating, rows) and three references (pool, limit, bound)
    expect(elements.filter((element) => element === "polyline")).toHaveLength(4)
    expect(svg.match(/class="reference"/g)).toHaveLength(3)
  })

  it("draws the bucket's polyline up to 60 (above the pool line at 50)", () => {
    const svg = renderTimeline(traceOf(Array.from({ length: 60 }, () => request(0, 30))), {})
    const bucket = /<g id="panel-bucket">([\s\S]*?)<\/g>/.exec(svg)?.[1] ?? ""
    const pool = /class="reference" x1="[\d.]+" y1="([\d.]+)"/.exec(bucket)?.[1]
    const ys = (/<polyline[^>]* points="([^"]*)"/.exec(bucket)?.[1] ?? "").split(" ").map((pair) => Number(pair.split(",")[1]))
    expect(ys).toHaveLength(3)
    // the highest point (smallest y) is above the pool's line: 60 > 50
    expect(Math.min(...ys)).toBeLessThan(Number(pool))
  })

  it("renders an empty trace", () => {
    expect(wellFormed(renderTimeline(traceOf([]), { title: "empty" }))[0]).toBe("svg")
  })
})

describe("the command line", () => {
  it("reads the paths and the flags", () => {
    expect(
      parseCli(["t.json", "out.svg", "--title", "narrow-5k", "--pool", "250", "--rate", "5", "--limit", "420", "--window", "600", "--rows", "5000", "--bound", "12.5"])
    ).toEqual({
      tracePath: "t.json",
      outPath: "out.svg",
      options: {
        title: "narrow-5k",
        poolSize: 250,
        requestsPerSecond: 5,
        operatingLimitSeconds: 420,
        operatingWindowSeconds: 600,
        rows: 5000,
        boundSeconds: 12.5
      }
    })
    expect(() => parseCli(["t.json"])).toThrow(/usage/)
    expect(() => parseCli(["t.json", "o.svg", "--pool", "-1"])).toThrow(/--pool/)
    expect(() => parseCli(["t.json", "o.svg", "--colour", "red"])).toThrow(/unknown option/)
  })
})
