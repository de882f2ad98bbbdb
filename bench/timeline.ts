/**
 * A picture per run: an SVG timeline drawn from a portal trace (`BENCH_PORTAL_TRACE=<file>`, see `portalProcess.ts`).
 *
 *   npx tsx bench/timeline.ts <trace.json> <out.svg> [--title T] [--pool 50 --rate 2 --limit 480 --window 600]
 *                                                     [--rows N --bound S]
 *
 * Four panels over the run's portal seconds (0 = the first request):
 *   - requests in flight, from each request's arrival and answer;
 *   - the leaky bucket's level against its pool, simulated from the arrivals: +1 per arrival (refused ones
 *     included, so it shows the demand the portal saw), draining `rate` per second; 503s are marked on top;
 *   - the busiest method's operating time against its limit: the billed seconds in the live buckets of the
 *     operating window, as the engine keeps them (ten buckets of window/10 aligned to the portal epoch, each living
 *     from its first call for one window); 429s are marked on top;
 *   - rows per second returned (at the answers), against the bound's average rate (`rows / bound seconds`, dashed).
 *
 * The limits come from the flags, else from the trace, else the standard plan's. Plain SVG, no dependencies.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type { PortalTrace, TraceRequest } from "./portalProtocol.js"

/** A point of a series: portal seconds, value. Step functions repeat the instant of a step (two points). */
export type Point = readonly [number, number]

export interface TimelineOptions {
  /** The run's name, e.g. `narrow-5k/auto`; the figures are appended. */
  readonly title?: string
  /** Leaky bucket pool size (default: the trace's limits, else 50). */
  readonly poolSize?: number
  /** Leaky bucket drain, requests per second (default: the trace's, else 2). */
  readonly requestsPerSecond?: number
  /** Operating seconds a method may use per window (default: the trace's, else 480). */
  readonly operatingLimitSeconds?: number
  /** Operating window, seconds (default: the trace's, else 600). */
  readonly operatingWindowSeconds?: number
  /** Rows the bound is for (default: the rows the trace returned); with `boundSeconds` draws the bound's rate. */
  readonly rows?: number
  /** The lower bound of the run, portal seconds. */
  readonly boundSeconds?: number
  readonly width?: number
  readonly height?: number
}

const standard = { poolSize: 50, requestsPerSecond: 2, operatingLimitSeconds: 480, operatingWindowSeconds: 600 }

// ---------------------------------------------------------------------------------------------------------------
// Reading a trace

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const finite = (value: unknown, what: string): number => {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`trace: ${what} is not a number`)
  return value
}

const parseRequest = (raw: unknown, index: number): TraceRequest => {
  const what = `requests[${index}]`
  if (!isRecord(raw)) throw new Error(`trace: ${what} is not an object`)
  const status = raw["status"]
  if (typeof status !== "number" && status !== "Drop" && status !== "Hang") throw new Error(`trace: ${what}.status is invalid`)
  const answeredAt = raw["answeredAt"] === null ? null : finite(raw["answeredAt"], `${what}.answeredAt`)
  const billedRaw = raw["billed"]
  let billed: Record<string, number> | undefined
  if (billedRaw !== undefined) {
    if (!isRecord(billedRaw)) throw new Error(`trace: ${what}.billed is not an object`)
    billed = {}
    for (const [method, seconds] of Object.entries(billedRaw)) billed[method] = finite(seconds, `${what}.billed.${method}`)
  }
  const blocked = raw["blocked"] === undefined ? undefined : finite(raw["blocked"], `${what}.blocked`)
  return {
    at: finite(raw["at"], `${what}.at`),
    answeredAt,
    method: typeof raw["method"] === "string" ? raw["method"] : "",
    status,
    rows: raw["rows"] === undefined ? 0 : finite(raw["rows"], `${what}.rows`),
    ...(billed === undefined ? {} : { billed }),
    ...(blocked === undefined ? {} : { blocked })
  }
}

/** Parses and checks a trace as `portalProcess.ts` writes it. */
export const parseTrace = (text: string): PortalTrace => {
  const raw: unknown = JSON.parse(text)
  if (!isRecord(raw) || raw["version"] !== 1 || !Array.isArray(raw["requests"])) {
    throw new Error("trace: not a version 1 portal trace (BENCH_PORTAL_TRACE of bench/portalProcess.ts)")
  }
  const limitsRaw = raw["limits"]
  const limits = isRecord(limitsRaw)
    ? {
        poolSize: finite(limitsRaw["poolSize"], "limits.poolSize"),
        requestsPerSecond: finite(limitsRaw["requestsPerSecond"], "limits.requestsPerSecond"),
        operatingLimitSeconds: finite(limitsRaw["operatingLimitSeconds"], "limits.operatingLimitSeconds"),
        operatingWindowSeconds: finite(limitsRaw["operatingWindowSeconds"], "limits.operatingWindowSeconds")
      }
    : null
  return {
    version: 1,
    portalEpochMs: raw["portalEpochMs"] === undefined ? 0 : finite(raw["portalEpochMs"], "portalEpochMs"),
    timeScale: raw["timeScale"] === undefined ? 1 : finite(raw["timeScale"], "timeScale"),
    limits,
    batchBilling: raw["batchBilling"] === "batch" ? "batch" : "commands",
    requests: raw["requests"].map(parseRequest)
  }
}

/** Reads a trace file. */
export const readTrace = (path: string): PortalTrace => parseTrace(readFileSync(path, "utf8"))

// ---------------------------------------------------------------------------------------------------------------
// The series

/** Drops a point equal to the one before it. */
const compact = (points: ReadonlyArray<Point>): Array<Point> => {
  const out: Array<Point> = []
  for (const point of points) {
    const last = out.at(-1)
    if (last === undefined || last[0] !== point[0] || last[1] !== point[1]) out.push(point)
  }
  return out
}

/**
 * The leaky bucket's level from the arrival stamps: +1 per arrival, draining `perSecond` per second, never below 0
 * and not capped at the pool (a refused arrival counts too). Arrivals at one instant make one step. The series
 * starts at the first arrival (level 0) and ends when the bucket is empty again.
 */
export const bucketLevels = (arrivals: ReadonlyArray<number>, perSecond: number): Array<Point> => {
  const sorted = [...arrivals].sort((a, b) => a - b)
  const points: Array<Point> = []
  let level = 0
  let last: number | undefined
  for (let index = 0; index < sorted.length; ) {
    const at = sorted[index]!
    let count = 0
    while (index < sorted.length && sorted[index] === at) {
      count++
      index++
    }
    if (last === undefined) points.push([at, 0])
    else {
      const emptyAt = perSecond > 0 ? last + level / perSecond : Infinity
      if (emptyAt < at) {
        points.push([emptyAt, 0], [at, 0])
        level = 0
      } else {
        level = Math.max(0, level - (at - last) * perSecond)
        points.push([at, level])
      }
    }
    level += count
    points.push([at, level])
    last = at
  }
  if (last !== undefined && level > 0 && perSecond > 0) points.push([last + level / perSecond, 0])
  return compact(points)
}

/**
 * Requests in flight: +1 at each arrival, −1 at each answer (a request without one stays in flight). One step per
 * instant; starts at the first arrival.
 */
export const inFlight = (requests: ReadonlyArray<Pick<TraceRequest, "at" | "answeredAt">>): Array<Point> => {
  const events: Array<readonly [number, number]> = []
  for (const request of requests) {
    events.push([request.at, 1])
    if (request.answeredAt !== null) events.push([Math.max(request.at, request.answeredAt), -1])
  }
  events.sort((a, b) => a[0] - b[0])
  const points: Array<Point> = []
  let level = 0
  for (let index = 0; index < events.length; ) {
    const at = events[index]![0]
    const before = level
    while (index < events.length && events[index]![0] === at) level += events[index++]![1]
    points.push([at, before], [at, level])
  }
  return compact(points)
}

/** Operating seconds billed at an instant (a request's `billed` for one method, at its arrival). */
export interface Bill {
  readonly at: number
  readonly seconds: number
}

/**
 * A method's operating time in use, as the engine's window keeps it (`engineLimits.ts` OperatingWindow, after
 * [CORE] LoadLimiter): ten buckets of `windowSeconds / 10`, indexed by portal epoch time (`epochMs` is the epoch ms of
 * `at` = 0); a bill goes into the live bucket of its index, or opens one at its instant; a bucket lives from its
 * first bill until that + `windowSeconds`. The series is the sum of the live buckets, a step at every bill and expiry.
 */
export const operatingUsage = (bills: ReadonlyArray<Bill>, windowSeconds: number, epochMs = 0): Array<Point> => {
  const sorted = [...bills].sort((a, b) => a.at - b.at)
  const bucketMs = (windowSeconds * 1000) / 10
  const buckets: Array<{ readonly index: number; readonly first: number; seconds: number }> = []
  const used = () => buckets.reduce((sum, bucket) => sum + bucket.seconds, 0)
  const points: Array<Point> = []
  const expireUntil = (at: number) => {
    while (buckets.length > 0 && buckets[0]!.first + windowSeconds <= at) {
      const gone = buckets[0]!.first + windowSeconds
      points.push([gone, used()])
      buckets.shift()
      points.push([gone, used()])
    }
  }
  for (const bill of sorted) {
    if (points.length === 0) points.push([bill.at, 0])
    expireUntil(bill.at)
    const index = Math.floor((epochMs + bill.at * 1000) / bucketMs)
    points.push([bill.at, used()])
    const current = buckets.find((bucket) => bucket.index === index)
    if (current !== undefined) current.seconds += bill.seconds
    else buckets.push({ index, first: bill.at, seconds: bill.seconds })
    points.push([bill.at, used()])
  }
  expireUntil(Infinity)
  return compact(points)
}

/**
 * Rows per second returned: the rows of each answer counted at its answer, in bins of `binSeconds` from `start`
 * up to `end`, each bin's rows / `binSeconds`; a step series.
 */
export const rowsPerSecond = (
  returns: ReadonlyArray<{ readonly at: number; readonly rows: number }>,
  start: number,
  end: number,
  binSeconds: number
): Array<Point> => {
  const bins = Math.max(1, Math.ceil((end - start) / binSeconds - 1e-9))
  const rows = new Array<number>(bins).fill(0)
  for (const returned of returns) {
    const bin = Math.min(bins - 1, Math.max(0, Math.floor((returned.at - start) / binSeconds)))
    rows[bin]! += returned.rows
  }
  const points: Array<Point> = []
  rows.forEach((count, bin) => {
    points.push([start + bin * binSeconds, count / binSeconds], [start + (bin + 1) * binSeconds, count / binSeconds])
  })
  return compact(points)
}

/** The largest value of a series (0 for none). */
export const peak = (points: ReadonlyArray<Point>): number => points.reduce((max, point) => Math.max(max, point[1]), 0)

/** 1, 2 or 5 × a power of ten, at least `raw`. */
const niceStep = (raw: number): number => {
  if (!(raw > 0)) return 1
  const power = 10 ** Math.floor(Math.log10(raw))
  for (const factor of [1, 2, 5, 10]) if (factor * power >= raw - 1e-12) return factor * power
  return 10 * power
}

/** The bin of the rows panel: about 80 bins over the run, 1/2/5 × 10^k seconds. */
export const binSecondsFor = (durationSeconds: number): number => niceStep(durationSeconds / 80)

/** The figures of a trace. */
export interface TraceSummary {
  /** First arrival and last arrival or answer, portal seconds since the anchor. */
  readonly start: number
  readonly end: number
  readonly requests: number
  /** Requests answered 503 (leaky bucket). */
  readonly rejected503: number
  /** OPERATION_TIME_LIMIT refusals, blocked batch commands included (as the engine counts them). */
  readonly rejected429: number
  /** Rows in answers that reached the client. */
  readonly rowsReturned: number
  /** Operating seconds billed, per method. */
  readonly billedByMethod: Readonly<Record<string, number>>
}

export const summarize = (trace: PortalTrace): TraceSummary => {
  let start = Infinity
  let end = -Infinity
  let rejected503 = 0
  let rejected429 = 0
  let rowsReturned = 0
  const billedByMethod: Record<string, number> = {}
  for (const request of trace.requests) {
    start = Math.min(start, request.at)
    end = Math.max(end, request.at, request.answeredAt ?? request.at)
    if (request.status === 503) rejected503++
    rejected429 += request.blocked ?? (request.status === 429 ? 1 : 0)
    if (returned(request)) rowsReturned += request.rows
    for (const [method, seconds] of Object.entries(request.billed ?? {})) billedByMethod[method] = (billedByMethod[method] ?? 0) + seconds
  }
  if (trace.requests.length === 0) {
    start = 0
    end = 0
  }
  return { start, end, requests: trace.requests.length, rejected503, rejected429, rowsReturned, billedByMethod }
}

/** Whether the client got the request's answer (and its rows). */
const returned = (request: TraceRequest): boolean => request.answeredAt !== null && request.status !== "Drop"

/** The method whose operating usage peaks highest (then: bills most), with its series; undefined when nothing was billed. */
export const busiestMethod = (
  trace: PortalTrace,
  windowSeconds: number
): { readonly method: string; readonly usage: Array<Point>; readonly peak: number; readonly billed: number } | undefined => {
  const bills = new Map<string, Array<Bill>>()
  for (const request of trace.requests) {
    for (const [method, seconds] of Object.entries(request.billed ?? {})) {
      const list = bills.get(method) ?? []
      list.push({ at: request.at, seconds })
      bills.set(method, list)
    }
  }
  let best: { readonly method: string; readonly usage: Array<Point>; readonly peak: number; readonly billed: number } | undefined
  for (const [method, list] of bills) {
    const usage = operatingUsage(list, windowSeconds, trace.portalEpochMs)
    const candidate = { method, usage, peak: peak(usage), billed: list.reduce((sum, bill) => sum + bill.seconds, 0) }
    if (best === undefined || candidate.peak > best.peak || (candidate.peak === best.peak && candidate.billed > best.billed)) best = candidate
  }
  return best
}

// ---------------------------------------------------------------------------------------------------------------
// Drawing

const escapeXml = (text: string) =>
  text.replace(/[&<>"']/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[char] ?? char)

const num = (value: number) => (Math.round(value * 10) / 10).toString()

/** A tick label: 1,500 → 1.5k; 12 → 12; 0.5 → 0.5. */
const tickLabel = (value: number) => {
  const abs = Math.abs(value)
  if (abs >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`
  if (abs >= 1e4) return `${Number((value / 1e3).toPrecision(3))}k`
  return Number(value.toPrecision(4)).toString()
}

/** A figure for a label: whole numbers above 100, else three significant digits. */
const figure = (value: number) => (Math.abs(value) >= 100 ? Math.round(value).toLocaleString("en-US") : Number(value.toPrecision(3)).toString())

/**
 * Keeps a series within [t0, t1]: the points inside, and a point interpolated where it crosses each end. Step
 * series (two points at each step's instant) stay steps.
 */
const clip = (points: ReadonlyArray<Point>, t0: number, t1: number): Array<Point> => {
  const out: Array<Point> = []
  const at = (a: Point, b: Point, t: number): Point => [t, b[0] === a[0] ? b[1] : a[1] + ((b[1] - a[1]) * (t - a[0])) / (b[0] - a[0])]
  for (let index = 0; index < points.length; index++) {
    const point = points[index]!
    const next = points[index + 1]
    const previous = points[index - 1]
    if (point[0] < t0) {
      if (next !== undefined && next[0] > t0) out.push(at(point, next, t0))
      continue
    }
    if (point[0] > t1) {
      if (previous !== undefined && previous[0] < t1) out.push(at(previous, point, t1))
      break
    }
    out.push(point)
  }
  return out
}

/**
 * Pixel coordinates of a series, at most four points per pixel column (first, lowest, highest, last, in order), so a
 * run of a hundred thousand requests stays a small file and draws the same envelope.
 */
const polylinePoints = (points: ReadonlyArray<Point>, x: (t: number) => number, y: (v: number) => number): string => {
  const out: Array<string> = []
  let column: Array<readonly [number, number]> = []
  const flush = () => {
    if (column.length <= 4) {
      for (const [px, py] of column) out.push(`${num(px)},${num(py)}`)
    } else {
      const first = column[0]!
      const last = column.at(-1)!
      let low = 1
      let high = 1
      for (let index = 1; index < column.length - 1; index++) {
        if (column[index]![1] > column[low]![1]) low = index
        if (column[index]![1] < column[high]![1]) high = index
      }
      const middle = [low, high].sort((a, b) => a - b).map((index) => column[index]!)
      for (const [px, py] of [first, ...middle, last]) out.push(`${num(px)},${num(py)}`)
    }
    column = []
  }
  let currentColumn = NaN
  for (const [t, v] of points) {
    const px = x(t)
    const py = y(v)
    const pixel = Math.round(px)
    if (pixel !== currentColumn) {
      flush()
      currentColumn = pixel
    }
    column.push([px, py])
  }
  flush()
  return out.join(" ")
}

interface Series {
  readonly points: ReadonlyArray<Point>
  readonly color: string
  readonly dash?: string
  readonly width?: number
}

interface Panel {
  readonly id: string
  readonly label: string
  readonly yLabel: string
  readonly series: ReadonlyArray<Series>
  /** Horizontal reference lines (pool, limit, bound rate). */
  readonly references: ReadonlyArray<{ readonly value: number; readonly color: string; readonly dash: string }>
  /** Instants marked by short ticks at the top of the panel (503s, 429s). */
  readonly marks?: { readonly times: ReadonlyArray<number>; readonly color: string }
}

interface LegendEntry {
  readonly label: string
  readonly color: string
  readonly dash?: string
  /** A short vertical tick rather than a line. */
  readonly tick?: boolean
}

/**
 * The SVG timeline of one run's trace (see the module's comment). `options` override the trace's limits and give
 * the bound's rate.
 */
export const renderTimeline = (trace: PortalTrace, options: TimelineOptions = {}): string => {
  const width = options.width ?? 900
  const height = options.height ?? 600
  const limits = trace.limits ?? standard
  const pool = options.poolSize ?? limits.poolSize
  const rate = options.requestsPerSecond ?? limits.requestsPerSecond
  const limit = options.operatingLimitSeconds ?? limits.operatingLimitSeconds
  const windowSeconds = options.operatingWindowSeconds ?? limits.operatingWindowSeconds
  const summary = summarize(trace)
  const t0 = summary.start
  const t1 = summary.end > t0 ? summary.end : t0 + 1
  const duration = summary.end - summary.start

  // the series
  const flight = inFlight(trace.requests)
  const bucket = bucketLevels(
    trace.requests.map((request) => request.at),
    rate
  )
  const busiest = busiestMethod(trace, windowSeconds)
  const binSeconds = binSecondsFor(t1 - t0)
  const rows = rowsPerSecond(
    trace.requests.filter(returned).map((request) => ({ at: request.answeredAt ?? request.at, rows: request.rows })),
    t0,
    t1,
    binSeconds
  )
  const boundRows = options.rows ?? summary.rowsReturned
  const boundRate = options.boundSeconds !== undefined && options.boundSeconds > 0 ? boundRows / options.boundSeconds : undefined
  const meanRate = duration > 0 ? summary.rowsReturned / duration : 0
  const times503 = trace.requests.filter((request) => request.status === 503).map((request) => request.at)
  const times429 = trace.requests.filter((request) => (request.blocked ?? (request.status === 429 ? 1 : 0)) > 0).map((request) => request.at)

  const colors = { flight: "#1f77b4", bucket: "#2ca02c", operating: "#9467bd", rows: "#17becf", reference: "#555555", r503: "#d62728", r429: "#ff7f0e" }
  const limitsNote = trace.limits === null && options.poolSize === undefined ? " (portal limits off)" : ""
  const panels: ReadonlyArray<Panel> = [
    {
      id: "in-flight",
      label: `requests in flight (peak ${figure(peak(flight))})`,
      yLabel: "in flight",
      series: [{ points: flight, color: colors.flight }],
      references: []
    },
    {
      id: "bucket",
      label: `leaky bucket level (peak ${figure(peak(bucket))}, pool ${figure(pool)})${limitsNote}`,
      yLabel: "requests",
      series: [{ points: bucket, color: colors.bucket }],
      references: [{ value: pool, color: colors.reference, dash: "6 4" }],
      marks: { times: times503, color: colors.r503 }
    },
    {
      id: "operating",
      label:
        busiest === undefined
          ? `operating time: nothing billed (limit ${figure(limit)} s per ${figure(windowSeconds)} s)`
          : `operating time of ${busiest.method} (peak ${figure(busiest.peak)} s of ${figure(limit)} s per ${figure(windowSeconds)} s; ${figure(busiest.billed)} s billed)`,
      yLabel: "seconds",
      series: busiest === undefined ? [] : [{ points: busiest.usage, color: colors.operating }],
      references: [{ value: limit, color: colors.reference, dash: "6 4" }],
      marks: { times: times429, color: colors.r429 }
    },
    {
      id: "rows",
      label: `rows/s returned (${figure(binSeconds)} s bins; mean ${figure(meanRate)}${boundRate === undefined ? "" : `, bound ${figure(boundRate)}`})`,
      yLabel: "rows/s",
      series: [{ points: rows, color: colors.rows }],
      references: boundRate === undefined ? [] : [{ value: boundRate, color: "#000000", dash: "8 4" }]
    }
  ]
  const legend: ReadonlyArray<LegendEntry> = [
    { label: "requests in flight", color: colors.flight },
    { label: `bucket level (+1 per arrival, −${figure(rate)}/s)`, color: colors.bucket },
    { label: `pool ${figure(pool)} / operating limit ${figure(limit)} s`, color: colors.reference, dash: "6 4" },
    { label: "503 (bucket)", color: colors.r503, tick: true },
    { label: busiest === undefined ? "operating s used" : `operating s used, ${busiest.method}`, color: colors.operating },
    { label: "429 (operating)", color: colors.r429, tick: true },
    { label: "rows/s returned", color: colors.rows },
    ...(boundRate === undefined ? [] : [{ label: `bound's average ${figure(boundRate)} rows/s`, color: "#000000", dash: "8 4" }])
  ]

  const title = `${options.title ?? "portal trace"}: ${figure(duration)} portal s, ${summary.requests.toLocaleString("en-US")} requests, ${summary.rejected503.toLocaleString("en-US")} 503s, ${summary.rejected429.toLocaleString("en-US")} 429s`

  // layout
  const left = 64
  const right = 16
  const plotWidth = width - left - right
  const out: Array<string> = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}</title>`,
    `<desc>${escapeXml(
      `start ${figure(summary.start)} s after the portal's anchor; rows returned ${summary.rowsReturned}; time scale ${trace.timeScale}; batch billing ${trace.batchBilling}; bucket ${figure(pool)} requests draining ${figure(rate)}/s; operating limit ${figure(limit)} s per ${figure(windowSeconds)} s`
    )}</desc>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text id="title" x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`
  )

  // legend, wrapped
  out.push(`<g id="legend">`)
  let legendX = left
  let legendY = 42
  for (const entry of legend) {
    const entryWidth = 28 + entry.label.length * 6 + 16
    if (legendX + entryWidth > width - right && legendX > left) {
      legendX = left
      legendY += 16
    }
    const swatch = entry.tick
      ? `<line x1="${legendX + 12}" y1="${legendY - 8}" x2="${legendX + 12}" y2="${legendY + 2}" stroke="${entry.color}" stroke-width="2"/>`
      : `<line x1="${legendX}" y1="${legendY - 3}" x2="${legendX + 24}" y2="${legendY - 3}" stroke="${entry.color}" stroke-width="2"${entry.dash === undefined ? "" : ` stroke-dasharray="${entry.dash}"`}/>`
    out.push(`<g class="legend-entry">${swatch}<text x="${legendX + 28}" y="${legendY}">${escapeXml(entry.label)}</text></g>`)
    legendX += entryWidth
  }
  out.push(`</g>`)

  const top = legendY + 14
  const axisBottom = height - 44
  const gap = 14
  const panelHeight = (axisBottom - top - gap * (panels.length - 1)) / panels.length
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * plotWidth

  // time ticks (seconds since the first request)
  const timeStep = niceStep((t1 - t0) / 9)
  const timeTicks: Array<number> = []
  for (let tick = 0; tick <= t1 - t0 + 1e-9; tick += timeStep) timeTicks.push(tick)

  panels.forEach((panel, index) => {
    const panelTop = top + index * (panelHeight + gap)
    const panelBottom = panelTop + panelHeight
    const clipped = panel.series.map((series) => ({ ...series, points: clip(series.points, t0, t1) }))
    const highest = Math.max(1e-9, ...clipped.map((series) => peak(series.points)), ...panel.references.map((reference) => reference.value))
    const valueStep = niceStep((highest * 1.05) / 3)
    const yMax = Math.ceil((highest * 1.05) / valueStep - 1e-9) * valueStep
    // the label sits in the top 14 px; the values below it
    const plotTop = panelTop + 14
    const y = (value: number) => panelBottom - (value / yMax) * (panelBottom - plotTop)
    out.push(`<g id="panel-${panel.id}">`)
    out.push(`<rect x="${left}" y="${num(panelTop)}" width="${plotWidth}" height="${num(panelHeight)}" fill="#fafafa" stroke="#cccccc"/>`)
    for (let value = 0; value <= yMax + 1e-9; value += valueStep) {
      out.push(
        `<line x1="${left}" y1="${num(y(value))}" x2="${left + plotWidth}" y2="${num(y(value))}" stroke="#e4e4e4"/>`,
        `<text x="${left - 4}" y="${num(y(value) + 3.5)}" text-anchor="end" font-size="10">${escapeXml(tickLabel(value))}</text>`
      )
    }
    for (const tick of timeTicks) {
      out.push(`<line x1="${num(x(t0 + tick))}" y1="${num(panelTop)}" x2="${num(x(t0 + tick))}" y2="${num(panelBottom)}" stroke="#eeeeee"/>`)
    }
    for (const reference of panel.references) {
      out.push(
        `<line class="reference" x1="${left}" y1="${num(y(reference.value))}" x2="${left + plotWidth}" y2="${num(y(reference.value))}" stroke="${reference.color}" stroke-dasharray="${reference.dash}" stroke-width="1.5"/>`
      )
    }
    for (const series of clipped) {
      if (series.points.length === 0) continue
      out.push(
        `<polyline fill="none" stroke="${series.color}" stroke-width="${series.width ?? 1.5}" stroke-linejoin="round"${series.dash === undefined ? "" : ` stroke-dasharray="${series.dash}"`} points="${polylinePoints(series.points, x, y)}"/>`
      )
    }
    if (panel.marks !== undefined && panel.marks.times.length > 0) {
      const columns = [...new Set(panel.marks.times.filter((t) => t >= t0 && t <= t1).map((t) => Math.round(x(t))))]
      out.push(`<path class="marks" d="${columns.map((px) => `M${px} ${num(plotTop)}v8`).join("")}" stroke="${panel.marks.color}" stroke-width="1.5"/>`)
    }
    out.push(`<text x="${left + 6}" y="${num(panelTop + 11)}" font-size="11">${escapeXml(panel.label)}</text>`)
    const middle = (panelTop + panelBottom) / 2
    out.push(`<text x="16" y="${num(middle)}" text-anchor="middle" transform="rotate(-90 16 ${num(middle)})" font-size="11">${escapeXml(panel.yLabel)}</text>`)
    out.push(`</g>`)
  })

  // the time axis
  out.push(`<g id="time-axis">`)
  out.push(`<line x1="${left}" y1="${num(axisBottom)}" x2="${left + plotWidth}" y2="${num(axisBottom)}" stroke="#333333"/>`)
  for (const tick of timeTicks) {
    out.push(
      `<line x1="${num(x(t0 + tick))}" y1="${num(axisBottom)}" x2="${num(x(t0 + tick))}" y2="${num(axisBottom + 4)}" stroke="#333333"/>`,
      `<text x="${num(x(t0 + tick))}" y="${num(axisBottom + 16)}" text-anchor="middle" font-size="10">${escapeXml(tickLabel(tick))}</text>`
    )
  }
  out.push(
    `<text x="${left + plotWidth / 2}" y="${height - 8}" text-anchor="middle">portal seconds since the first request</text>`,
    `</g>`,
    `</svg>`
  )
  return out.join("\n") + "\n"
}

// ---------------------------------------------------------------------------------------------------------------
// CLI

const usage =
  "usage: npx tsx bench/timeline.ts <trace.json> <out.svg> [--title T] [--pool 50 --rate 2 --limit 480 --window 600] [--rows N --bound S]"

interface Cli {
  readonly tracePath: string
  readonly outPath: string
  readonly options: TimelineOptions
}

export const parseCli = (argv: ReadonlyArray<string>): Cli => {
  const positional: Array<string> = []
  const options: { -readonly [K in keyof TimelineOptions]: TimelineOptions[K] } = {}
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!
    const value = () => {
      const next = argv[++index]
      if (next === undefined) throw new Error(`${arg} needs a value\n${usage}`)
      return next
    }
    const positive = () => {
      const number = Number(value())
      if (!Number.isFinite(number) || number <= 0) throw new Error(`${arg} must be a number > 0\n${usage}`)
      return number
    }
    switch (arg) {
      case "--title":
        options.title = value()
        break
      case "--pool":
        options.poolSize = positive()
        break
      case "--rate":
        options.requestsPerSecond = positive()
        break
      case "--limit":
        options.operatingLimitSeconds = positive()
        break
      case "--window":
        options.operatingWindowSeconds = positive()
        break
      case "--rows":
        options.rows = positive()
        break
      case "--bound":
        options.boundSeconds = positive()
        break
      default:
        if (arg.startsWith("--")) throw new Error(`unknown option ${arg}\n${usage}`)
        positional.push(arg)
    }
  }
  if (positional.length !== 2) throw new Error(usage)
  return { tracePath: positional[0]!, outPath: positional[1]!, options }
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  try {
    if (process.argv.includes("--help")) {
      console.log(usage)
    } else {
      const cli = parseCli(process.argv.slice(2))
      const trace = readTrace(cli.tracePath)
      writeFileSync(cli.outPath, renderTimeline(trace, cli.options))
      const summary = summarize(trace)
      console.log(
        `timeline: wrote ${cli.outPath} (${summary.requests} requests over ${figure(summary.end - summary.start)} portal s, ${summary.rejected503} 503s, ${summary.rejected429} 429s, ${summary.rowsReturned} rows)`
      )
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    process.exitCode = 1
  }
}
