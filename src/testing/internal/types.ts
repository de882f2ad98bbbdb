/**
 * The contract between the fake portal's protocol engine (routing, auth, batch, limits) and its method
 * table (entities, lists, filters, costs).
 */
import type { MutationRule } from "../Options.js"

/** What a method handler knows about the call. */
export interface CallContext {
  /** Now, epoch milliseconds, in the clock the answers report (`reportTime`): rows written are stamped with it. */
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
  /** Whether the method exists (lower-cased name), without running it: the portal looks it up before auth. */
  readonly has: (method: string) => boolean
  /** Whether the method writes (add/update/delete/set...). */
  readonly isWrite: (method: string) => boolean
  /**
   * Applies a mutation rule once (rows added, updated and deleted while a client reads); added and updated rows
   * are stamped with `nowMs` (the reported clock; without it they keep the generated dates).
   */
  readonly mutate: (rule: MutationRule, random: () => number, nowMs?: number) => void
  /** Rows served by list calls so far. */
  readonly rowsServed: () => number
  /** Writes actually performed, per method (to prove a client never duplicated one). */
  readonly writesPerformed: () => Readonly<Record<string, number>>
}

/** One HTTP request as the portal's front server sees it. */
export interface PortalRequest {
  /** `GET`, `POST`, … */
  readonly httpMethod: string
  /** Path and query, e.g. `/rest/1/abc/crm.deal.list.json?start=0`; a full URL is accepted too. */
  readonly url: string
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>
  /** Raw body as text ("" for none). */
  readonly body: string
  /** Source address; the leaky bucket takes it into account with the webhook or app. */
  readonly clientIp?: string
}

/** What the portal does with a request. `delayMs` is real time to wait before answering (cost / timeScale). */
export type PortalOutcome =
  | {
      readonly _tag: "Response"
      readonly status: number
      readonly headers: Readonly<Record<string, string>>
      readonly body: string
      readonly delayMs: number
    }
  /** The connection is closed without a response, after `delayMs`. */
  | { readonly _tag: "Drop"; readonly delayMs: number }
  /** No response ever comes. */
  | { readonly _tag: "Hang" }

/** Counters for tests and benchmarks. Times are portal seconds. */
export interface PortalStats {
  /** HTTP requests received (every one, including refused ones). */
  readonly httpRequests: number
  /** Per top-level method (`batch` included), HTTP requests received. */
  readonly requestsByMethod: Readonly<Record<string, number>>
  /** Per method, commands run inside batches. */
  readonly batchCommandsByMethod: Readonly<Record<string, number>>
  readonly rejected503: number
  readonly rejected429: number
  readonly rejected414: number
  /** Operating time billed per method. */
  readonly operatingSecondsByMethod: Readonly<Record<string, number>>
  readonly rowsServed: number
  readonly faultsInjected: Readonly<Record<string, number>>
  /** Writes the portal actually performed, per method. */
  readonly writesPerformed: Readonly<Record<string, number>>
  /** Portal time elapsed since the engine started, in seconds. */
  readonly portalSecondsElapsed: number
}
