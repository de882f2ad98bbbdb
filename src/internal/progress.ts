/**
 * The progress reporters' arithmetic and text, pure: a task's figures (rate, elapsed, ETA), progress lines and
 * bars, and the outcome of a program's exit.
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import type { Outcome } from "../ProgressReporter.js"

/**
 * The outcome of a program's exit, for `finish`.
 */
export const outcomeOf = (exit: Exit.Exit<unknown, unknown>): Outcome =>
  Exit.isSuccess(exit) ? "done" : Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "failed"

/**
 * The state of one task as a reporter sees it.
 */
export interface TaskState {
  readonly label: string
  readonly done: number
  readonly total: number | undefined
  /** Clock time of `start`, epoch ms. */
  readonly startedAt: number
  /** Clock time of the last progress line, epoch ms. */
  readonly reportedAt: number
}

/**
 * Rate, elapsed time and ETA of a task at `now` (Clock ms).
 */
export interface TaskFigures {
  readonly done: number
  readonly total: number | undefined
  /** Items per second since the start (0 before any time has passed). */
  readonly rate: number
  readonly elapsedMs: number
  /** `undefined` when the total or the rate is unknown. */
  readonly etaMs: number | undefined
}

/**
 * Figures of a task at `now`; pure, so reporters and tests agree.
 */
export const figures = (task: TaskState, now: number): TaskFigures => {
  const elapsedMs = Math.max(0, now - task.startedAt)
  const rate = elapsedMs > 0 ? (task.done * 1000) / elapsedMs : 0
  const remaining = task.total === undefined ? undefined : Math.max(0, task.total - task.done)
  const etaMs = remaining === undefined ? undefined : remaining === 0 ? 0 : rate > 0 ? (remaining / rate) * 1000 : undefined
  return { done: task.done, total: task.total, rate, elapsedMs, etaMs }
}

/**
 * `42s`, `3m05s`, `1h02m`: short durations for progress lines.
 */
export const formatDuration = (ms: number): string => {
  const seconds = Math.round(ms / 1000)
  if (seconds < 60) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, "0")}s`
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`
}

/** A rate with as many decimals as it needs to be read. */
export const formatRate = (rate: number): string => (rate >= 100 ? rate.toFixed(0) : rate >= 10 ? rate.toFixed(1) : rate.toFixed(2))

/**
 * `crm.deal.list: 1200/7531 (15.9%) | 240/s | elapsed 5s | ETA 26s` — one progress line.
 */
export const formatLine = (label: string, f: TaskFigures): string => {
  const total = f.total === undefined ? "?" : String(f.total)
  const percent = f.total === undefined || f.total === 0 ? "" : ` (${((f.done / f.total) * 100).toFixed(1)}%)`
  const eta = f.etaMs === undefined ? "?" : formatDuration(f.etaMs)
  return `${label}: ${f.done}/${total}${percent} | ${formatRate(f.rate)}/s | elapsed ${formatDuration(f.elapsedMs)} | ETA ${eta}`
}

const barWidth = 30

/** The bar glyphs: filled in proportion to the total, empty while the total is unknown. */
const barOf = (f: TaskFigures): string => {
  const filled = f.total === undefined || f.total <= 0 ? 0 : Math.round(Math.min(1, f.done / f.total) * barWidth)
  return "=".repeat(filled) + "-".repeat(barWidth - filled)
}

/**
 * `crm.deal.list [=========---------------------] 3/10 (30.0%) | 1.50/s | elapsed 2s | ETA 5s` — one bar line.
 * Drawn from Clock-based figures, so cli-progress's own timers only repaint.
 */
export const formatBar = (label: string, f: TaskFigures): string =>
  formatLine(label, f).replace(`${label}: `, `${label} [${barOf(f)}] `)

