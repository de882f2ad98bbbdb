/**
 * A `Clock` that runs `timeScale` times faster than the wall clock, anchored where the fake portal's engine
 * is anchored, so the client reads the same portal time the portal bills in (`operating_reset_at`, windows,
 * retry backoffs, the 60 s request timeout) and sleeps `ms / timeScale` real milliseconds.
 */
import { Clock, Duration, Effect } from "effect"

/** Portal time at a real instant: anchor + (real − anchor) × timeScale, as the engine computes it. */
export const portalMillis = (anchorMs: number, timeScale: number, realMs: number): number =>
  anchorMs + (realMs - anchorMs) * timeScale

/** The scaled clock. With `timeScale` 1 it behaves as the default clock. */
export const make = (anchorMs: number, timeScale: number): Clock.Clock => {
  const unsafeCurrentTimeMillis = () => portalMillis(anchorMs, timeScale, Date.now())
  const unsafeCurrentTimeNanos = () => BigInt(Math.round(unsafeCurrentTimeMillis() * 1e6))
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis,
    unsafeCurrentTimeNanos,
    currentTimeMillis: Effect.sync(unsafeCurrentTimeMillis),
    currentTimeNanos: Effect.sync(unsafeCurrentTimeNanos),
    sleep: (duration: Duration.Duration) =>
      Effect.async<void>((resume) => {
        const realMs = Math.max(0, Duration.toMillis(duration) / timeScale)
        // An infinite sleep never wakes (setTimeout would fire at once for it)
        if (!Number.isFinite(realMs)) return Effect.void
        const timer = setTimeout(() => resume(Effect.void), realMs)
        return Effect.sync(() => clearTimeout(timer))
      })
  }
}
