/**
 * The client's verbs as Promises, for code that does not use Effect. Promises reject with the same typed errors
 * as the Effect programs (`_tag` intact: `HttpError`, `BitrixApiError`, `ValidationError`, …).
 *
 * ```ts
 * import { createClient } from "effect-bitrix24/promise"
 * const client = createClient({ webhook: process.env.BITRIX24_WEBHOOK! })
 * const deals = await client.getAll("crm.deal.list", { select: ["ID", "TITLE"] })
 * await client.close()
 * ```
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Bitrix from "./Bitrix.js"
import type { ValidationError } from "./BitrixError.js"
import type * as Envelope from "./Envelope.js"
import * as ProgressReporter from "./ProgressReporter.js"

/**
 * Options of `createClient`: those of `Bitrix.layer`, plus `progress` (a terminal bar on stderr when `true`, or
 * your own reporter).
 *
 * @since 0.1.0
 * @category Models
 */
export type ClientOptions = Bitrix.Options & {
  readonly progress?: boolean | ProgressReporter.Service
}

/**
 * The verbs of `Bitrix`, returning Promises.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Client {
  readonly call: {
    (method: string, items: ReadonlyArray<Bitrix.Params>): Promise<ReadonlyArray<unknown>>
    (method: string, params?: Bitrix.Params): Promise<unknown>
  }
  readonly callEither: (
    method: string,
    items: ReadonlyArray<Bitrix.Params>
  ) => Promise<ReadonlyArray<{ readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: Bitrix.ItemError }>>
  readonly callRaw: (method: string, params?: unknown) => Promise<Envelope.Success>
  readonly callBatch: (batch: Parameters<typeof Bitrix.callBatch>[0]) => Promise<Readonly<Record<string, unknown>>>
  readonly getByID: (
    method: string,
    ids: ReadonlyArray<string | number>,
    options?: Parameters<typeof Bitrix.getByID>[2]
  ) => Promise<ReadonlyMap<string | number, unknown>>
  /** Every row of a list method; `options` as for `Bitrix.getAll` (`strategy`, `limit`, `concurrency`). */
  readonly getAll: (
    method: string,
    params?: Bitrix.Params,
    options?: Parameters<typeof Bitrix.getAll>[2]
  ) => Promise<ReadonlyArray<unknown>>
  /** Runs `body` with a lower ceiling for the requests it makes through `client`. */
  readonly slow: <A>(
    options: { readonly maxConcurrent?: number; readonly requestsPerSecond?: number },
    body: (client: Client) => Promise<A>
  ) => Promise<A>
  /** Releases the client's resources. */
  readonly close: () => Promise<void>
}

const progressLayer = (progress: ClientOptions["progress"]) =>
  progress === undefined || progress === false
    ? Layer.empty
    : progress === true
      ? ProgressReporter.layerTerminal()
      : Layer.succeed(ProgressReporter.ProgressReporter, progress)

/**
 * Creates a client over the platform's `fetch`. Call `close()` when done.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const createClient = (options: ClientOptions): Client => {
  const layer = Layer.merge(Bitrix.layer(options), progressLayer(options.progress)).pipe(Layer.provide(FetchHttpClient.layer))
  const runtime = ManagedRuntime.make(layer)
  type Wrap = <A, E>(effect: Effect.Effect<A, E, Bitrix.Services>) => Effect.Effect<A, E | ValidationError, Bitrix.Services>
  const make = (wrap: Wrap): Client => {
    const run = <A, E>(effect: Effect.Effect<A, E, Bitrix.Services>): Promise<A> =>
      runtime.runPromiseExit(wrap(effect)).then((exit) =>
        // Reject with the typed error itself (not a FiberFailure), so `_tag` can be inspected
        Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause))
      )
    const call = ((method: string, paramsOrItems?: Bitrix.Params | ReadonlyArray<Bitrix.Params>) =>
      Array.isArray(paramsOrItems)
        ? run(Bitrix.call(method, paramsOrItems as ReadonlyArray<Bitrix.Params>))
        : run(Bitrix.call(method, paramsOrItems as Bitrix.Params | undefined))) as Client["call"]
    return {
      call,
      callEither: (method, items) =>
        run(Bitrix.callEither(method, items)).then((outcomes) =>
          outcomes.map((outcome) =>
            outcome._tag === "Right" ? { ok: true as const, value: outcome.right } : { ok: false as const, error: outcome.left }
          )
        ),
      callRaw: (method, params) => run(Bitrix.callRaw(method, params)),
      callBatch: (batch) => run(Bitrix.callBatch(batch)),
      getByID: (method, ids, getOptions) => run(Bitrix.getByID(method, ids, getOptions)),
      getAll: (method, params, getAllOptions) => run(Bitrix.getAll(method, params, getAllOptions)),
      slow: (slowOptions, body) =>
        body(make((effect) => Bitrix.slow(wrap(effect), slowOptions))),
      close: () => runtime.dispose()
    }
  }
  return make((effect) => effect)
}
