import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, TestClock } from "effect"
import { Writable } from "node:stream"
import * as Progress from "../src/internal/progress.js"
import * as ProgressReporter from "../src/ProgressReporter.js"

/** A logger that keeps each line with its `progress` annotation. */
const captureLogs = () => {
  const lines: Array<{ readonly label: unknown; readonly text: string }> = []
  const logger = Logger.make(({ annotations, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    const label = [...annotations].find(([key]) => key === "progress")?.[1]
    lines.push({ label, text })
  })
  return { lines, layer: Logger.add(logger) }
}

/** A writable stream that records what is written; a TTY when asked. */
const fakeStream = (isTTY: boolean) => {
  const chunks: Array<string> = []
  const stream = Object.assign(
    new Writable({
      write(chunk, _encoding, callback) {
        chunks.push(String(chunk))
        callback()
      }
    }),
    { isTTY, columns: 160 }
  )
  return { stream, output: () => chunks.join("") }
}

const reporter = ProgressReporter.ProgressReporter

describe("ProgressReporter", () => {
  it.effect("is silent by default and with layerSilent", () =>
    Effect.gen(function* () {
      expect(yield* reporter).toBe(ProgressReporter.silent)
      expect(yield* Effect.provide(reporter, ProgressReporter.layerSilent)).toBe(ProgressReporter.silent)
    })
  )

  it.effect("makeTest records start / advance / setTotal / finish in order", () =>
    Effect.gen(function* () {
      const recorder = yield* ProgressReporter.makeTest
      yield* Effect.gen(function* () {
        const progress = yield* reporter
        yield* progress.start("crm.deal.list")
        yield* progress.setTotal("crm.deal.list", 120)
        yield* progress.advance("crm.deal.list", 50)
        yield* progress.start("crm.lead.add", 3)
        yield* progress.advance("crm.deal.list", 70)
        yield* progress.finish("crm.deal.list")
      }).pipe(Effect.provide(recorder.layer))
      expect(yield* recorder.events).toEqual([
        { _tag: "Start", label: "crm.deal.list" },
        { _tag: "SetTotal", label: "crm.deal.list", total: 120 },
        { _tag: "Advance", label: "crm.deal.list", n: 50 },
        { _tag: "Start", label: "crm.lead.add", total: 3 },
        { _tag: "Advance", label: "crm.deal.list", n: 70 },
        { _tag: "Finish", label: "crm.deal.list" }
      ])
    })
  )

  it.effect("layerLog logs start and finish, and at most one progress line per second per label", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const progress = yield* reporter
      yield* progress.start("deals", 10)
      yield* progress.advance("deals", 1)
      yield* TestClock.adjust("500 millis")
      yield* progress.advance("deals", 1)
      expect(logs.lines.map((line) => line.text)).toEqual(["deals: started, 10 to do"])
      yield* TestClock.adjust("600 millis")
      yield* progress.advance("deals", 1)
      yield* progress.advance("deals", 1)
      yield* progress.start("leads")
      yield* progress.advance("leads", 5)
      yield* TestClock.adjust("1 second")
      yield* progress.advance("leads", 5)
      yield* progress.setTotal("deals", 8)
      yield* progress.finish("deals")
      expect(logs.lines.map((line) => line.text)).toEqual([
        "deals: started, 10 to do",
        // 3 done after 1.1 s: 2.73/s, 7 left
        "deals: 3/10 (30.0%) | 2.73/s | elapsed 1s | ETA 3s",
        "leads: started",
        "leads: 10/? | 10.0/s | elapsed 1s | ETA ?",
        "deals: 4/8 (50.0%) | 1.90/s | elapsed 2s | ETA 2s",
        "deals: finished, 4 done in 2s (1.90/s)"
      ])
      expect(logs.lines.map((line) => line.label)).toEqual(["deals", "deals", "leads", "leads", "deals", "deals"])
    }).pipe(Effect.provide(ProgressReporter.layerLog), Effect.provide(logs.layer))
  })

  it.effect("makeLog takes another interval", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const progress = yield* ProgressReporter.makeLog({ interval: "10 seconds" })
      yield* progress.start("deals", 100)
      yield* TestClock.adjust("9 seconds")
      yield* progress.advance("deals", 10)
      yield* TestClock.adjust("1 second")
      yield* progress.advance("deals", 10)
      expect(logs.lines.map((line) => line.text)).toEqual([
        "deals: started, 100 to do",
        "deals: 20/100 (20.0%) | 2.00/s | elapsed 10s | ETA 40s"
      ])
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("layerTerminal falls back to log lines when the stream is not a TTY, and writes nothing to it", () => {
    const logs = captureLogs()
    const { output, stream } = fakeStream(false)
    return Effect.gen(function* () {
      const progress = yield* reporter
      yield* progress.start("deals", 4)
      yield* TestClock.adjust("2 seconds")
      yield* progress.advance("deals", 4)
      yield* progress.finish("deals")
    }).pipe(
      Effect.provide(ProgressReporter.layerTerminal({ stream })),
      Effect.provide(logs.layer),
      Effect.tap(() =>
        Effect.sync(() => {
          expect(logs.lines.map((line) => line.text)).toEqual([
            "deals: started, 4 to do",
            "deals: 4/4 (100.0%) | 2.00/s | elapsed 2s | ETA 0s",
            "deals: finished, 4 done in 2s (2.00/s)"
          ])
          expect(output()).toBe("")
        })
      )
    )
  })

  it.effect("layerTerminal draws one bar per label on a TTY and stops the bars when its scope closes", () => {
    const logs = captureLogs()
    const { output, stream } = fakeStream(true)
    return Effect.gen(function* () {
      const progress = yield* reporter
      yield* progress.start("crm.deal.list", 10)
      yield* progress.start("crm.lead.add")
      yield* TestClock.adjust("2 seconds")
      yield* progress.advance("crm.deal.list", 3)
      yield* progress.advance("crm.lead.add", 7)
      yield* progress.finish("crm.lead.add")
    }).pipe(
      Effect.provide(ProgressReporter.layerTerminal({ stream })),
      Effect.provide(logs.layer),
      Effect.tap(() =>
        Effect.sync(() => {
          const text = output()
          // the final frame, drawn by stop() on release
          expect(text).toContain(`crm.deal.list [${"=".repeat(9)}${"-".repeat(21)}] 3/10 (30.0%) | 1.50/s | elapsed 2s | ETA 5s`)
          // an unknown total draws an empty bar
          expect(text).toContain(`crm.lead.add [${"-".repeat(30)}] 7/? | 3.50/s | elapsed 2s | ETA ?`)
          // the cursor hidden while drawing is shown again: the bars were stopped
          expect(text.lastIndexOf("\x1B[?25h")).toBeGreaterThan(text.lastIndexOf("\x1B[?25l"))
          expect(logs.lines).toEqual([])
        })
      )
    )
  })
})

describe("ProgressReporter formatting", () => {
  it("figures: rate, elapsed and ETA from the clock", () => {
    const task = { label: "x", done: 50, total: 200, startedAt: 1_000, reportedAt: 1_000 }
    expect(Progress.figures(task, 11_000)).toEqual({ done: 50, total: 200, rate: 5, elapsedMs: 10_000, etaMs: 30_000 })
    expect(Progress.figures({ ...task, total: undefined }, 11_000).etaMs).toBeUndefined()
    expect(Progress.figures(task, 1_000)).toMatchObject({ rate: 0, etaMs: undefined })
  })

  it("formatDuration: seconds, minutes, hours", () => {
    expect(Progress.formatDuration(42_400)).toBe("42s")
    expect(Progress.formatDuration(185_000)).toBe("3m05s")
    expect(Progress.formatDuration(3_720_000)).toBe("1h02m")
  })
})
