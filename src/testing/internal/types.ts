/**
 * The contract between the fake portal's protocol engine (routing, auth, batch, limits) and its method
 * table (entities, lists, filters, costs).
 */
import type { MutationRule } from "../Options.js"

/** What a method handler knows about the call. */
export interface CallContext {
  /** Portal time, epoch milliseconds. */
  readonly nowMs: number
  /** The user the webhook or token belongs to. */
  readonly userId: number
}

/** What a method handler produced; `costMs` is simulated server time in portal milliseconds. */
export type MethodOutcome =
  | {
      readonly _tag: "Ok"
      readonly result: unknown
      readonly next?: number
      readonly total?: number
      readonly costMs: number
      /** Rows returned by a list call (for the counters). */
      readonly rows?: number
    }
  | {
      readonly _tag: "Error"
      readonly status: number
      readonly error: string | number
      readonly description: string
      /** Extra top-level keys, e.g. `argument` of ERROR_ARGUMENT. */
      readonly extra?: Readonly<Record<string, unknown>>
      readonly costMs: number
    }

/** The methods of the fake portal. */
export interface MethodTable {
  /**
   * Runs `method` (lower-cased, without `.json`) with `params` as parsed: strings from a query string or form
   * body, JSON values from a JSON body, or an array for positional methods. `undefined` = unknown method.
   */
  readonly call: (method: string, params: unknown, ctx: CallContext) => MethodOutcome | undefined
  /** Whether the method writes (add/update/delete/set...). */
  readonly isWrite: (method: string) => boolean
  /** Applies a mutation rule once (rows added and deleted while a client reads). */
  readonly mutate: (rule: MutationRule, random: () => number) => void
  /** Rows served by list calls so far. */
  readonly rowsServed: () => number
  /** Writes actually performed, per method (to prove a client never duplicated one). */
  readonly writesPerformed: () => Readonly<Record<string, number>>
}
