import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/support/setup.ts"],
    // Generous: the TestClock-driven tests step through thousands of fibers, which takes minutes of CPU on a 2-core
    // machine running another suite beside this one; no assertion depends on wall time
    testTimeout: 300_000,
    hookTimeout: 300_000
  }
})
