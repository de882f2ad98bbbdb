/**
 * The leaky bucket seen from the answers: a bound that needs no assumption about delays, for this process's own
 * requests.
 *
 * The bucket's arithmetic on starts (`limiterBucket.ts`) is free of 503s while every request reaches the portal
 * within `arrivalJitterMs` of when the others do. A stall longer than that (an event loop busy for seconds with
 * thousands of fibers, a connection pool that holds requests back, a proxy that buffers) breaks the assumption: the
 * starts were spaced, the arrivals are not. One fact holds whatever happens on the way: the portal counted a request
 * at some moment between its start and its answer. So:
 *
 * - a request in flight may still arrive at any moment: it counts as arriving now, undrained;
 * - an answered request arrived at the latest when its answer came: its drain is credited from then on.
 *
 * Placing every arrival at the latest moment it could have happened (capped at now) can only raise the counter the
 * portal holds now: any stretch `[a, now]` then holds at least as many arrivals as it really did. A start is let go
 * when that counter has a free slot; the wait computed with the requests in flight counted at now is a lower bound
 * (they can only arrive later, which drains later), so the gate sleeps it and looks again.
 *
 * When answers come within `arrivalJitterMs` of their starts this is never stricter than the arithmetic on starts,
 * so it costs nothing in the common case; when they come late, the next starts wait for them.
 */
import type { BucketShape } from "./limiterBucket.js"

/** A request this limiter let go: when its answer (or failure) came, `undefined` while in flight. */
export interface Flight {
  answeredAtMs: number | undefined
}

const epsilon = 1e-6

const drainMs = (shape: BucketShape): number => 1000 / shape.requestsPerSecond

const poolStarts = (shape: BucketShape): number => Math.max(1, Math.floor(shape.poolSize + epsilon))

/** When the bucket holding `flights`, each arrived at its latest possible moment (capped at `nowMs`), is empty. */
const emptyAtMs = (flights: ReadonlyArray<Flight>, shape: BucketShape, nowMs: number): number => {
  const arrivals = flights
    .map((flight) => (flight.answeredAtMs === undefined ? nowMs : Math.min(flight.answeredAtMs, nowMs)))
    .sort((a, b) => a - b)
  let empty = Number.NEGATIVE_INFINITY
  for (const arrival of arrivals) empty = Math.max(empty, arrival) + drainMs(shape)
  return empty
}

/** The portal's counter at `nowMs` if every request of `flights` arrived as late as it could have. */
export const flightLevel = (flights: ReadonlyArray<Flight>, shape: BucketShape, nowMs: number): number =>
  Math.max(0, (emptyAtMs(flights, shape, nowMs) - nowMs) / drainMs(shape))

/**
 * How long a new start must wait at least, in whole ms, so the counter above has a free slot when it arrives
 * (0: go now). A lower bound while requests are in flight: look again after it.
 */
export const flightWaitMs = (flights: ReadonlyArray<Flight>, shape: BucketShape, nowMs: number): number => {
  const freeAtMs = emptyAtMs(flights, shape, nowMs) - (poolStarts(shape) - 1) * drainMs(shape)
  return Math.max(0, Math.ceil(freeAtMs - nowMs - epsilon))
}

/**
 * The flights that can still matter at `nowMs`: every one in flight, and the answered ones whose drain may not have
 * finished (`n` requests drain within `n` drain times of the last answer among them).
 */
export const liveFlights = (flights: ReadonlyArray<Flight>, shape: BucketShape, nowMs: number): Array<Flight> => {
  const horizonMs = flights.length * drainMs(shape)
  return flights.filter((flight) => flight.answeredAtMs === undefined || flight.answeredAtMs + horizonMs > nowMs)
}
