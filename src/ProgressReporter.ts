/**
 * Progress of long programs (exports, bulk calls). The library reports; layers decide what is shown.
 * (Contract; the implementation lands in this file.)
 *
 * @since 0.1.0
 */
import { Context, Effect } from "effect"

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
  /** The task ended. */
  readonly finish: (label: string) => Effect.Effect<void>
}

/**
 * A reference with a silent default, so library programs do not grow a requirement.
 *
 * @since 0.1.0
 * @category Context
 */
export class ProgressReporter extends Context.Reference<ProgressReporter>()("effect-bitrix24/ProgressReporter", {
  defaultValue: (): Service => ({
    start: () => Effect.void,
    advance: () => Effect.void,
    setTotal: () => Effect.void,
    finish: () => Effect.void
  })
}) {}
