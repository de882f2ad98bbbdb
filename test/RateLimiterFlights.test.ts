/**
 * The gate on answers (`internal/limiterFlights.ts`): a request counts in the portal's bucket from its answer at the
 * latest, and as undrained while in flight. Expected values by hand from the standard plan (pool 50, 2 per second,
 * so one request drains in 500 ms).
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { type Flight, flightLevel, flightWaitMs, liveFlights } from "../src/internal/limiterFlights.js"

const standard = { poolSize: 50, requestsPerSecond: 2, arrivalJitterMs: 1000 }
const inFlight = (count: number): Array<Flight> => Array.from({ length: count }, () => ({ answeredAtMs: undefined }))
const answered = (count: number, atMs: number): Array<Flight> =>
  Array.from({ length: count }, () => ({ answeredAtMs: atMs }))

describe("the gate on answers", () => {
  it("an idle limiter lets a request go at once", () => {
    expect(flightWaitMs([], standard, 10_000)).toBe(0)
    expect(flightLevel([], standard, 10_000)).toBe(0)
  })

  it("49 requests in flight leave the 50th slot; 50 in flight hold the next one until an answer has drained", () => {
    expect(flightWaitMs(inFlight(49), standard, 0)).toBe(0)
    expect(flightLevel(inFlight(50), standard, 0)).toBe(50)
    // Counted at now, 50 arrivals empty the bucket at 25 s; 49 remain at 500 ms (a lower bound: look again then)
    expect(flightWaitMs(inFlight(50), standard, 0)).toBe(500)
  })

  it("answered requests drain from their answer on, however long ago they started", () => {
    expect(flightLevel(answered(50, 1000), standard, 1000)).toBe(50)
    expect(flightWaitMs(answered(50, 1000), standard, 1000)).toBe(500)
    // One second after the answers, 2 have drained
    expect(flightLevel(answered(50, 1000), standard, 2000)).toBe(48)
    expect(flightWaitMs(answered(50, 1000), standard, 2000)).toBe(0)
    // An answer that came 250 ms ago has drained half a request: the next slot in 250 ms
    expect(flightWaitMs([...answered(1, 750), ...inFlight(49)], standard, 1000)).toBe(250)
  })

  it("headroom shrinks the pool the gate keeps to", () => {
    expect(flightWaitMs(inFlight(47), { ...standard, poolSize: 48 }, 0)).toBe(0)
    expect(flightWaitMs(inFlight(48), { ...standard, poolSize: 48 }, 0)).toBe(500)
  })

  it("pruning keeps every request in flight and drops only answers whose drain is over", () => {
    const flights = [...inFlight(2), ...answered(3, 0), ...answered(1, 3000)]
    // 6 requests drain within 3 s of the last answer among them: at 3,000 ms the answers at 0 no longer count
    const live = liveFlights(flights, standard, 3000)
    expect(live.filter((flight) => flight.answeredAtMs === undefined)).toHaveLength(2)
    expect(live.filter((flight) => flight.answeredAtMs === 0)).toHaveLength(0)
    expect(live.filter((flight) => flight.answeredAtMs === 3000)).toHaveLength(1)
    expect(liveFlights(flights, standard, 2999)).toHaveLength(6)
  })

  it("property: pruning never changes the wait, and the wait ends where the level first has a free slot", () => {
    const flightArb = fc.option(fc.integer({ min: 0, max: 60_000 }), { nil: undefined })
    fc.assert(
      fc.property(fc.array(flightArb, { maxLength: 120 }), fc.integer({ min: 0, max: 90_000 }), (answers, nowMs) => {
        const flights = answers.map((answeredAtMs) => ({
          answeredAtMs: answeredAtMs === undefined ? undefined : Math.min(answeredAtMs, nowMs)
        }))
        const waitMs = flightWaitMs(flights, standard, nowMs)
        expect(flightWaitMs(liveFlights(flights, standard, nowMs), standard, nowMs)).toBe(waitMs)
        // With the flights in flight counted at now (a lower bound), the level after the wait has a free slot
        const frozen = flights.map((flight) => ({ answeredAtMs: flight.answeredAtMs ?? nowMs }))
        expect(flightLevel(frozen, standard, nowMs + waitMs)).toBeLessThanOrEqual(standard.poolSize - 1 + 1e-6)
        if (waitMs > 0) expect(flightLevel(frozen, standard, nowMs + waitMs - 1)).toBeGreaterThan(standard.poolSize - 1)
      })
    )
  })
})
