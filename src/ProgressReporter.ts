/**
 * Progress of long programs (exports, bulk calls). The library reports; layers decide what is shown:
 * nothing (the default), a terminal bar per task, throttled log lines, or recorded events for tests.
 *
 * @since 0.1.0
 */
import type { SingleBar } from "cli-progress"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import { figures, formatBar, formatDuration, formatLine, formatRate, type TaskState } from "./internal/progress.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** A task begins; `total` when known (rows announced by the portal, items of a bulk call). */
  readonly start: (label: string, total?: number) => Effect.Effect<void>
  /** `n` more rows or items of the task are done. */
  readonly advance: (label: string, n: number) => Effect.Effect<void>
  /** The total became known or changed. */
  readonly setTotal: (label: string, total: number) => Effect.Effect<void>
  /** The task ended: `done` (the default), or stopped by a failure or an interruption. */
  readonly finish: (label: string, outcome?: Outcome) => Effect.Effect<void>
  /** A request failed and will be sent again after `delayMs` (optional: reporters without it are not told). */
  readonly retrying?: (retry: Retry) => Effect.Effect<void>
}

/**
 * A request about to be sent again.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Retry {
  readonly method: string
  /** The try that failed: 1 for the first. */
  readonly attempt: number
  /** How many tries the retry policy allows in all, when it is known (the default policy: 9). */
  readonly tries?: number
  /** What it met, e.g. `connection refused`, `HTTP 502`, `503 QUERY_LIMIT_EXCEEDED …`. */
  readonly reason: string
  readonly delayMs: number
}

/** The line a reporter shows for a retry. */
const retryLine = (retry: Retry): string =>
  `${retry.method}: try ${retry.attempt}${retry.tries === undefined ? "" : ` of ${retry.tries}`} failed (${retry.reason}); ` +
  `trying again in ${formatDuration(retry.delayMs)}`

/**
 * How a task ended.
 *
 * @since 0.1.0
 * @category Models
 */
export type Outcome = "done" | "failed" | "interrupted"

/**
 * Reports nothing: the library's default, so programs never print unless asked to.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const silent: Service = {
  start: () => Effect.void,
  advance: () => Effect.void,
  setTotal: () => Effect.void,
  finish: () => Effect.void
}

/**
 * A reference with a silent default, so library programs do not grow a requirement.
 *
 * @since 0.1.0
 * @category Context
 */
export class ProgressReporter extends Context.Reference<ProgressReporter>()("effect-bitrix24/ProgressReporter", {
  defaultValue: (): Service => silent
}) {}

/**
 * Silence, provided explicitly (e.g. to switch off a reporter set further out).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerSilent: Layer.Layer<ProgressReporter> = Layer.succeed(ProgressReporter, silent)

// ---------------------------------------------------------------------------------------------------------------
// Task state and its text, shared by the log and terminal reporters
// ---------------------------------------------------------------------------------------------------------------

type Tasks = ReadonlyMap<string, TaskState>

const withTask = (tasks: Tasks, task: TaskState): Tasks => new Map(tasks).set(task.label, task)

/** A task reported before `start` (or after `finish`) starts now, so no progress is lost. */
const existing = (tasks: Tasks, label: string, now: number): TaskState =>
  tasks.get(label) ?? { label, done: 0, total: undefined, startedAt: now, reportedAt: now }

// ---------------------------------------------------------------------------------------------------------------
// Log lines
// ---------------------------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category Models
 */
export interface LogOptions {
  /** At most one progress line per task in this interval (default 1 second); start and finish always log. */
  readonly interval?: Duration.DurationInput
}

/**
 * A reporter writing `Effect.logInfo` lines (annotated with the task label): one at start, at most one per
 * interval per task while it runs, one at finish. Fits CI logs and any non-TTY output.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeLog = (options: LogOptions = {}): Effect.Effect<Service> =>
  Effect.gen(function* () {
    const intervalMs = Duration.toMillis(options.interval ?? Duration.seconds(1))
    const tasks = yield* Ref.make<Tasks>(new Map())
    const log = (label: string, message: string) => Effect.logInfo(message).pipe(Effect.annotateLogs("progress", label))

    /** Applies `update` at the current time; logs a progress line when the task's interval has passed. */
    const progress = (label: string, update: (task: TaskState) => TaskState) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(tasks, (current): readonly [string | undefined, Tasks] => {
          const task = update(existing(current, label, now))
          if (now - task.reportedAt < intervalMs) return [undefined, withTask(current, task)]
          return [formatLine(label, figures(task, now)), withTask(current, { ...task, reportedAt: now })]
        })
      ).pipe(Effect.flatMap((line) => (line === undefined ? Effect.void : log(label, line))))

    return {
      start: (label, total) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.update(tasks, (current) => withTask(current, { label, done: 0, total, startedAt: now, reportedAt: now }))
        ).pipe(Effect.zipRight(log(label, `${label}: started${total === undefined ? "" : `, ${total} to do`}`))),
      advance: (label, n) => progress(label, (task) => ({ ...task, done: task.done + n })),
      setTotal: (label, total) => progress(label, (task) => ({ ...task, total })),
      retrying: (retry) => Effect.logWarning(retryLine(retry)).pipe(Effect.annotateLogs("progress", retry.method)),
      // only a task that finished says so: a failure or an interruption is the program's own to report, once
      finish: (label, outcome = "done") =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.modify(tasks, (current): readonly [TaskState, Tasks] => {
            const next = new Map(current)
            next.delete(label)
            return [existing(current, label, now), next]
          }).pipe(
            Effect.flatMap((task) => {
              if (outcome !== "done") return Effect.void
              const f = figures(task, now)
              return log(label, `${label}: finished, ${f.done} done in ${formatDuration(f.elapsedMs)} (${formatRate(f.rate)}/s)`)
            })
          )
        )
    }
  })

/**
 * Progress as throttled log lines (see {@link makeLog}), at most one per second per task.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerLog: Layer.Layer<ProgressReporter> = Layer.effect(ProgressReporter, makeLog())

// ---------------------------------------------------------------------------------------------------------------
// Terminal bars
// ---------------------------------------------------------------------------------------------------------------

/**
 * Where the terminal reporter draws: `process.stderr` unless given.
 *
 * @since 0.1.0
 * @category Models
 */
export interface TerminalOptions {
  readonly stream?: NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number }
}

/** One cli-progress bar per task on a TTY stream, stopped (final frame drawn, cursor restored) with the scope. */
const makeBars = (stream: NonNullable<TerminalOptions["stream"]>): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function* () {
    const bars = new Map<string, SingleBar>()
    const tasks = yield* Ref.make<Tasks>(new Map())
    const payloadOf = (task: TaskState, now: number) => ({ line: formatBar(task.label, figures(task, now)) })

    // loaded here, not at the top: importing the library must not load the terminal bar's dependency
    const { MultiBar } = yield* Effect.promise(() => import("cli-progress"))
    const multiBar = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new MultiBar({
            stream,
            // our own line: cli-progress's tokens would read Date.now and fill the bar for an unknown total
            format: (_options, _params, payload: { readonly line?: unknown }) =>
              typeof payload.line === "string" ? payload.line : "",
            hideCursor: true,
            clearOnComplete: false
          })
      ),
      (multiBar) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.flatMap(Ref.get(tasks), (current) =>
            Effect.sync(() => {
              // the final frame shows the figures as of the release
              for (const task of current.values()) bars.get(task.label)?.update(task.done, payloadOf(task, now))
              multiBar.stop()
            })
          )
        )
    )

    const draw = (task: TaskState, now: number) =>
      Effect.sync(() => {
        const payload = payloadOf(task, now)
        const bar = bars.get(task.label)
        if (bar === undefined) {
          bars.set(task.label, multiBar.create(task.total ?? 0, task.done, payload))
        } else {
          bar.setTotal(task.total ?? 0)
          bar.update(task.done, payload)
        }
      })

    const change = (label: string, update: (task: TaskState | undefined, now: number) => TaskState) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(tasks, (current): readonly [TaskState, Tasks] => {
          const task = update(current.get(label), now)
          return [task, withTask(current, task)]
        }).pipe(Effect.flatMap((task) => draw(task, now)))
      )

    return {
      start: (label, total) => change(label, (_, now) => ({ label, done: 0, total, startedAt: now, reportedAt: now })),
      // above the bars, which are redrawn below it
      retrying: (retry) => Effect.sync(() => multiBar.log(`${retryLine(retry)}\n`)),
      advance: (label, n) =>
        change(label, (task, now) => {
          const current = task ?? { label, done: 0, total: undefined, startedAt: now, reportedAt: now }
          return { ...current, done: current.done + n }
        }),
      setTotal: (label, total) =>
        change(label, (task, now) => ({ ...(task ?? { label, done: 0, startedAt: now, reportedAt: now }), total })),
      // the bar stays on screen with its final figures, frozen at the finish
      finish: (label) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.modify(tasks, (current): readonly [TaskState, Tasks] => {
            const task = existing(current, label, now)
            const next = new Map(current)
            next.delete(label)
            return [task, next]
          }).pipe(
            Effect.flatMap((task) => draw(task, now)),
            Effect.zipRight(Effect.sync(() => bars.get(label)?.stop()))
          )
        )
    }
  })

/**
 * Progress bars on a terminal: one cli-progress bar per task on `stream` (default `process.stderr`) with items
 * done / total, rate, elapsed time and ETA. cli-progress garbles non-TTY output, so when the stream is not a
 * TTY (CI, a redirect to a file) this falls back to {@link layerLog}'s lines. The bars stop when the layer's
 * scope closes.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerTerminal = (options: TerminalOptions = {}): Layer.Layer<ProgressReporter> =>
  Layer.scoped(
    ProgressReporter,
    Effect.suspend(() => {
      const stream = options.stream ?? process.stderr
      return stream.isTTY === true ? makeBars(stream) : makeLog()
    })
  )

// ---------------------------------------------------------------------------------------------------------------
// Recorded events, for tests
// ---------------------------------------------------------------------------------------------------------------

/**
 * One call a reporter received.
 *
 * @since 0.1.0
 * @category Models
 */
export type Event =
  | { readonly _tag: "Start"; readonly label: string; readonly total?: number }
  | { readonly _tag: "Advance"; readonly label: string; readonly n: number }
  | { readonly _tag: "SetTotal"; readonly label: string; readonly total: number }
  | { readonly _tag: "Finish"; readonly label: string; readonly outcome?: "failed" | "interrupted" }
  | ({ readonly _tag: "Retry" } & Retry)

/**
 * A reporter that records every call, in order: `layer` to provide, `events` to read them back.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeTest: Effect.Effect<{
  readonly layer: Layer.Layer<ProgressReporter>
  readonly events: Effect.Effect<ReadonlyArray<Event>>
}> = Effect.gen(function* () {
  const events = yield* Ref.make<ReadonlyArray<Event>>([])
  const record = (event: Event) => Ref.update(events, (recorded) => [...recorded, event])
  const service: Service = {
    start: (label, total) => record(total === undefined ? { _tag: "Start", label } : { _tag: "Start", label, total }),
    advance: (label, n) => record({ _tag: "Advance", label, n }),
    setTotal: (label, total) => record({ _tag: "SetTotal", label, total }),
    finish: (label, outcome) => record(outcome === undefined || outcome === "done" ? { _tag: "Finish", label } : { _tag: "Finish", label, outcome }),
    retrying: (retry) => record({ _tag: "Retry", ...retry })
  }
  return { layer: Layer.succeed(ProgressReporter, service), events: Ref.get(events) }
})
