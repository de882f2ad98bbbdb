/**
 * The network in the benchmark's model: a round trip between the client and the portal, and the dependent waves a
 * piece of work cannot do without, each of which costs one round trip on top of what the limits allow.
 */
import type { Bound } from "./lowerBound.js"
import type { Scenario } from "./scenarios.js"

/**
 * The round trip the bench puts in front of the fake portal, in portal ms: 60 ms, a portal in a neighbouring
 * region's data centre. Measured round trips between European cities and Frankfurt (where Bitrix24's European
 * cloud runs) are about 10–40 ms, Moscow–Frankfurt about 40–50 ms, across the Atlantic 80–100 ms; on loopback a
 * wave costs almost nothing, which hid the cost of every wave a strategy adds.
 */
export const defaultLatencyMs = 60

/**
 * The fewest dependent waves of requests any client needs for the work: a list export of more rows than the two
 * end pages hold (100) must learn where the rows are before it reads them all in parallel (2 waves), a smaller one
 * can read them in one; independent items (adds, gets, single calls) go out in one wave.
 */
export const minimumWaves = (kind: Scenario["kind"], count: number): number =>
  kind === "list" || kind === "overhead" ? (count <= 100 ? 1 : 2) : 1

/** `bound` with `waves` round trips of `latencyMs` (portal ms) added to its time. */
export const withRoundTrips = (bound: Bound, waves: number, latencyMs: number): Bound =>
  latencyMs <= 0 ? bound : { ...bound, seconds: bound.seconds + (waves * latencyMs) / 1000 }
