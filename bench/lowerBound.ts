/**
 * The benchmark's lower bound: the arithmetic lives in src/internal/bound.ts (shared with `b24 estimate`), re-exported
 * here under the names the bench has always used; `strategyFloor`, which only picks a run's time scale and cap, stays
 * with the bench.
 */
import type { LimitNumbers } from "../src/BitrixConfig.js"
import {
  type Bound,
  commandsPerBatch,
  leakyBucketSeconds,
  listWork,
  operatingWaitSeconds,
  pageSize,
  requestMs
} from "../src/internal/bound.js"
import type { CostNumbers } from "../src/testing/index.js"

export {
  type Bound,
  commandsPerBatch,
  itemWork,
  listWork,
  lowerBound,
  minimalFixSeconds,
  pageSize,
  singleCallsBound,
  type Work
} from "../src/internal/bound.js"

/**
 * A rough floor of one strategy's own time, only to pick a time scale and a cap that keep hopeless runs
 * short: `keyset` walks one page a request in sequence, `keysetBatch` one full batch at a time, `offset`
 * pays COUNT and the offset scan on every page.
 */
export const strategyFloor = (
  cost: CostNumbers,
  limits: LimitNumbers,
  strategy: string,
  list: { readonly rows: number; readonly wide: boolean; readonly tableSize: number },
  bound: Bound
): number => {
  const work = listWork(cost, list.rows, list.wide)
  switch (strategy) {
    case "keyset":
      return Math.max(bound.seconds, leakyBucketSeconds(limits, work.units), (work.units * work.unitMs) / 1000)
    case "keysetBatch": {
      const requests = Math.ceil(work.units / commandsPerBatch)
      return Math.max(bound.seconds, leakyBucketSeconds(limits, requests), (requests * requestMs(cost, work, commandsPerBatch)) / 1000)
    }
    case "offset": {
      let seconds = 0
      let longestBatchMs = 0
      let batchMs = 0
      for (let page = 0; page < work.units; page++) {
        const pageMs = work.unitMs + cost.countRowMs * list.tableSize + cost.offsetRowMs * page * pageSize
        seconds += pageMs / 1000
        batchMs += pageMs
        if ((page + 1) % commandsPerBatch === 0 || page === work.units - 1) {
          longestBatchMs = Math.max(longestBatchMs, batchMs)
          batchMs = 0
        }
      }
      return Math.max(bound.seconds, operatingWaitSeconds(limits, seconds), longestBatchMs / 1000)
    }
    default:
      return bound.seconds
  }
}
