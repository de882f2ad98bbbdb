/**
 * One HTTP exchange with the portal: request in, decoded envelope (or a typed failure) out.
 *
 * The transport never knows about batches, limits or retries; auth is applied here.
 *
 * @since 0.1.0
 */
import { Context, type Effect } from "effect"
import type { BitrixApiError, HttpError } from "./BitrixError.js"
import type * as Envelope from "./Envelope.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /**
   * POSTs `params` as JSON to `<endpoint><method>` (webhook) or `<endpoint><method>` with `auth` (OAuth),
   * and decodes the envelope. A 200 whose body holds `error` fails with `BitrixApiError`.
   * `params` is an object, or an array for the old positional methods.
   */
  readonly send: (method: string, params: unknown) => Effect.Effect<Envelope.Success, HttpError | BitrixApiError>
}

/**
 * @since 0.1.0
 * @category Context
 */
export class Transport extends Context.Tag("effect-bitrix24/Transport")<Transport, Service>() {}
