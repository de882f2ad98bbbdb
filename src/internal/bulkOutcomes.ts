/**
 * Where a bulk call registers the view of its items' outcomes, for whoever stops it.
 */
import * as Context from "effect/Context"
import type { ItemOutcome } from "../BitrixError.js"

/**
 * What a bulk call hands whoever interrupts it. `outcomesSoFar()` gives one outcome per input item, in input order:
 * those that settled (succeeded, refused, not run), `Unknown` for items whose request was sent and had not been
 * answered, `NotRun` for items not sent (or refused and not sent again).
 */
export interface BulkOutcomesService {
  /** Called by `call(method, items)`, `callEither`, `getByID` and `callBatch` once they know their items. */
  readonly track: (outcomesSoFar: () => ReadonlyArray<ItemOutcome>) => void
}

/**
 * Where a bulk call registers the view of its items' outcomes, so code that interrupts it can still say, for every
 * item, what was done (the Promise client's `signal` and `close()` put them in `AbortedError` / `ClientClosedError`).
 * By default nobody listens.
 */
export class BulkOutcomes extends Context.Reference<BulkOutcomes>()("effect-bitrix24/BulkOutcomes", {
  defaultValue: (): BulkOutcomesService => ({ track: () => undefined })
}) {}
