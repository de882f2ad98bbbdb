/**
 * The order in which vitest starts the test files: the slowest first, so the three workers finish together.
 *
 * vitest orders by the durations it cached from the last run, and without a cache (a fresh clone, as in CI) by file
 * size, larger first. Size says little here: the slowest files wait on child processes, database servers or
 * thousands of TestClock steps, and some of them are short. In a fresh clone `RateLimiterJitter.test.ts` (2 min)
 * started after 4½ of the 7 minutes and ran alone at the end. The files below (every file over 10 s) start first,
 * longest first, by their time in a whole run on a 2-core machine (2026-12-03, seconds); every other file follows in
 * vitest's own order.
 */
import { relative } from "node:path"
import { BaseSequencer, type TestSpecification } from "vitest/node"

const slowFiles: Readonly<Record<string, number>> = {
  "test/sync/cli.test.ts": 142,
  "test/RateLimiterJitter.test.ts": 139,
  "test/sync/postgres.test.ts": 90,
  "test/ListWaves.test.ts": 85,
  "test/Bitrix.test.ts": 61,
  "test/readme.test.ts": 61,
  "test/package/package.test.ts": 60,
  "test/cli/b24.test.ts": 46,
  "test/limiter/multiProcess.test.ts": 45,
  "test/ListStrategy.test.ts": 40,
  "test/cli/main.test.ts": 33,
  "test/ListClaims.test.ts": 32,
  "test/sync/sqlite.test.ts": 26,
  "test/PromiseControl.test.ts": 22,
  "test/RateLimiter.test.ts": 22,
  "test/examples.test.ts": 22,
  "test/cli/network.test.ts": 18,
  "test/OperatingExport.test.ts": 17,
  "test/testing/FakePortalHttp.test.ts": 15,
  "test/ListIntegrity.test.ts": 15,
  "test/sync/writer.test.ts": 14,
  "test/testing/cli.test.ts": 14
}

export default class SlowestFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const inVitestOrder = await super.sort(files)
    const seconds = (file: TestSpecification) => slowFiles[relative(this.ctx.config.root, file.moduleId).split("\\").join("/")] ?? 0
    // a stable sort: the files not listed keep vitest's order behind the listed ones
    return [...inVitestOrder].sort((a, b) => seconds(b) - seconds(a))
  }
}
