/**
 * A first-in-first-out gate with a resizable capacity: the concurrency ceiling of the limiter and the
 * per-program `slow` semaphores. Shrinking below the permits in use is allowed: nobody enters until enough
 * holders leave. (Effect's semaphore can shrink too, but a newcomer may overtake a waiter, and the ceiling
 * must not starve anyone.)
 */
import * as Effect from "effect/Effect"

/** A FIFO gate; `acquire` waits interruptibly, `release` hands the slot to the longest waiter. */
export interface Gate {
  readonly acquire: Effect.Effect<void>
  readonly release: Effect.Effect<void>
  readonly resize: (capacity: number) => Effect.Effect<void>
  /** Current capacity and holders, read without waiting. */
  readonly unsafeSnapshot: () => { readonly capacity: number; readonly taken: number; readonly waiting: number }
}

interface Waiter {
  granted: boolean
  readonly resume: (effect: Effect.Effect<void>) => void
}

/** Makes a gate with `capacity` slots (`Infinity` for a gate that never waits). */
export const unsafeMakeGate = (initialCapacity: number): Gate => {
  let capacity = initialCapacity
  let taken = 0
  const waiters: Array<Waiter> = []

  const grantWaiting = () => {
    while (waiters.length > 0 && taken < capacity) {
      const waiter = waiters.shift()!
      taken++
      waiter.granted = true
      waiter.resume(Effect.void)
    }
  }

  const acquire = Effect.async<void>((resume) => {
    if (waiters.length === 0 && taken < capacity) {
      taken++
      resume(Effect.void)
      return
    }
    const waiter: Waiter = { granted: false, resume }
    waiters.push(waiter)
    // Interrupted while queued: leave the queue; interrupted right after the grant: give the slot back.
    return Effect.sync(() => {
      const index = waiters.indexOf(waiter)
      if (index >= 0) waiters.splice(index, 1)
      else if (waiter.granted) {
        taken--
        grantWaiting()
      }
    })
  })

  const release = Effect.sync(() => {
    taken--
    grantWaiting()
  })

  const resize = (next: number) =>
    Effect.sync(() => {
      capacity = next
      grantWaiting()
    })

  return {
    acquire,
    release,
    resize,
    unsafeSnapshot: () => ({ capacity, taken, waiting: waiters.length })
  }
}
