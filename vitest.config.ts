import { defineConfig } from "vitest/config"
import SlowestFirst from "./test/support/sequencer.js"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/support/setup.ts"],
    // Three files at once on 2 cores: many of them wait on child processes, servers and real timers rather than
    // the CPU (vitest's default on 2 cores is one file at a time)
    maxWorkers: 3,
    minWorkers: 1,
    // the slowest files first (test/support/sequencer.ts): without vitest's cache of the last run's durations, as
    // in a fresh clone, it would start them by file size
    sequence: { sequencer: SlowestFirst },
    // Generous: the TestClock-driven tests step through thousands of fibers, which takes minutes of CPU on a 2-core
    // machine running another suite beside this one; no assertion depends on wall time
    testTimeout: 300_000,
    hookTimeout: 300_000
  }
})
