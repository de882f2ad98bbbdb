/**
 * How a whole list is read. Offset pages make the portal COUNT the table and scan the offset on every page;
 * keyset paging by ID with `start: -1` does neither. The strategies, from plain to fastest:
 *
 * - `offset`: the first page, then every remaining `start` page in parallel batches (fast_bitrix24's way).
 *   Works with any order. Offset pages shift when rows are deleted or added while they are read, so the export is
 *   then verified by an ID-only keyset pass (2,500 IDs a request): rows the filter matches that the pages missed
 *   are read by `@ID` and come after the others, in ID order. Rows are dropped by ID when a page repeats them.
 * - `keyset`: one page a request: `order ID ASC`, `filter >ID` the last ID seen, `start: -1`.
 * - `keysetBatch`: 50 keyset pages chained inside one batch by `$result[prev][…][49][ID]`: 2,500 rows a request.
 * - `ranges`: the ID span split into disjoint ranges, each walked by `keysetBatch`, in parallel.
 * - `auto` (default): `ranges` or `keysetBatch` when keyset is possible (ID order), else `offset`. The first page,
 *   the last page (ID descending) and the COUNT go out together; the rows between the end pages are split into as
 *   many requests as the bucket allows now (this export's share of it, when other exports plan beside it on the
 *   same limiter or store), each as short as that allows. Each range's chain has room for three
 *   standard deviations of the rows its ID width may hold (at the spread of the gaps between IDs), so its short
 *   page very likely falls inside the one request: an export the free starts carry takes two dependent round trips
 *   (one when the end pages meet), and a range that spills is finished by a short follow-up chain.
 *
 * After a chain's short page the later commands' `$result[prev][49][ID]` does not resolve and the portal would
 * answer each with a page of rows from the start of the table. Where it provably cuts nothing, a ranged chain's
 * command also carries `<ID = "1$result[prev][49][ID]"`: resolved, "1" before the ID is a bound above the range;
 * unresolved, the text reads as 1, so the command finds no rows and costs the portal a call, not a page.
 *
 * Keyset walks check every page: the IDs must rise strictly from the cursor and stay within the bounds, or the walk
 * fails with a `KeysetUnsupportedError` instead of looping or repeating rows (a method known to take no `order`
 * object fails so before any request); `maxPages` caps the pages read.
 *
 * @since 0.1.0
 */
import type * as Stream from "effect/Stream"
import type * as Bitrix from "./Bitrix.js"
import type {
  BitrixApiError,
  HttpError,
  IncompleteListError,
  KeysetUnsupportedError,
  NotRunError,
  RateLimiterStoreError,
  UnexpectedResultError,
  UnknownOutcomeError,
  ValidationError
} from "./BitrixError.js"
import * as Internal from "./internal/list/stream.js"

/**
 * How an export pages through a list (see the module's description): `auto` (default), `offset`, `keyset`,
 * `keysetBatch`, `ranges`.
 *
 * @since 0.1.0
 * @category Models
 */
export type Strategy = "auto" | "offset" | "keyset" | "keysetBatch" | "ranges"

/**
 * The options of a list export (`getAll`, `stream`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** Default `"auto"`. */
  readonly strategy?: Strategy
  /** At most this many rows are returned, and no more requests are sent than they need. */
  readonly limit?: number
  /** Requests of one export in flight at once (the limiter still paces them). Default 50. */
  readonly concurrency?: number
  /**
   * The most pages of rows (50 rows each) the export reads, as the official SDKs bound their walks: an export that
   * needs more fails with `IncompleteListError` rather than end short. Under `ranges` the short last page of each
   * range counts as a page; the ID-only pass that verifies an `offset` export has its own ceiling of the same
   * size. Default: no ceiling.
   */
  readonly maxPages?: number
}

/**
 * Every failure of a list export (`getAll`, `stream`): bad input, the exchanges' failures, a well-formed answer the
 * export cannot use, a list the portal cannot page by keyset, a command it did not run, an export that cannot be
 * proven complete.
 *
 * @since 0.1.0
 * @category Models
 */
export type ListError =
  | ValidationError
  | HttpError
  | BitrixApiError
  | NotRunError
  | UnexpectedResultError
  | KeysetUnsupportedError
  | IncompleteListError
  | UnknownOutcomeError
  | RateLimiterStoreError

/**
 * Every row of a list method as a stream with backpressure: requests are sent as the stream is pulled, a
 * `Stream.take(n)` stops them early, and interruption cancels the requests in flight.
 *
 * @since 0.1.0
 * @category Streams
 */
export const stream = (
  method: string,
  params: Readonly<Record<string, unknown>> = {},
  options: Options = {}
): Stream.Stream<unknown, ListError, Bitrix.Services> => Internal.stream(method, params, options)
