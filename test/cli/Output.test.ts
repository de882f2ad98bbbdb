import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import fc from "fast-check"
import { drainRows } from "../../src/cli/Output.js"

describe("drainRows (get-by-id's output)", () => {
  it("hands on every row once, in order, in chunks of at most chunkSize, and lets each go as it is handed on", () =>
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer(), fc.string(), fc.constant(null)), { maxLength: 260 }), fc.integer({ min: 1, max: 60 }), (rows, chunkSize) => {
        const given = [...rows]
        const seen: Array<unknown> = []
        const sizes: Array<number> = []
        Effect.runSync(
          Stream.runForEachChunk(drainRows(given, chunkSize), (chunk) =>
            Effect.sync(() => {
              seen.push(...Chunk.toReadonlyArray(chunk))
              sizes.push(Chunk.size(chunk))
              // the rows handed on so far are gone from the array; the others are still there, untouched
              expect(given.slice(0, seen.length).every((row) => row === undefined)).toBe(true)
              expect(given.slice(seen.length)).toEqual(rows.slice(seen.length))
            })
          )
        )
        expect(seen).toEqual(rows)
        // full chunks of chunkSize, then the remainder: arithmetic on the length
        expect(sizes).toEqual([
          ...Array.from({ length: Math.floor(rows.length / chunkSize) }, () => chunkSize),
          ...(rows.length % chunkSize === 0 ? [] : [rows.length % chunkSize])
        ])
      })
    ))
})
