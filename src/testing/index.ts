/**
 * `effect-bitrix24/testing`: a fake Bitrix24 portal with the real portal's limits, batch rules and quirks, for
 * tests and benchmarks of any Bitrix24 client (Effect or not).
 *
 * @since 0.1.0
 */
import * as FakePortalHttp from "./FakePortalHttp.js"
import { PortalEngine } from "./internal/engine.js"
import type { PortalStats } from "./internal/types.js"
import type { FakePortalOptions } from "./Options.js"

/**
 * The in-process portal: engine, `HttpClient` without sockets, `Transport` layer.
 *
 * @since 0.1.0
 */
export * as FakePortal from "./FakePortal.js"

/**
 * The portal served over HTTP on loopback, as a scoped layer or a plain server.
 *
 * @since 0.1.0
 */
export * as FakePortalHttp from "./FakePortalHttp.js"


/**
 * @since 0.1.0
 */
export type {
  CostModel,
  CostNumbers,
  FakePortalOptions,
  FaultRule,
  MutationRule
} from "./Options.js"

/**
 * @since 0.1.0
 */
export type { PortalStats } from "./internal/types.js"

/**
 * A portal started with `startFakePortal`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunningFakePortal {
  /** e.g. `http://127.0.0.1:41234/rest/1/<code>/`; append `crm.deal.list.json`. */
  readonly webhookUrl: string
  /** e.g. `http://127.0.0.1:41234`. */
  readonly baseUrl: string
  /** Set when started with `options.oauth`: the app's credentials, first token pair and absolute URLs. */
  readonly oauth?: FakePortalHttp.OAuthApp
  /** The counters so far. */
  readonly stats: () => PortalStats
  /** Stops the server, closing every open connection (hung requests included). */
  readonly close: () => Promise<void>
}

/**
 * Starts a fake portal on loopback (`options.port`, default any free port) for code that does not use Effect,
 * e.g. `const portal = await startFakePortal({ seed: { "crm.deal": 1000 } })` in a Jest or vitest hook.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const startFakePortal = async (options: FakePortalOptions = {}): Promise<RunningFakePortal> => {
  const engine = new PortalEngine(options, Date.now())
  const server = await FakePortalHttp.serve(engine, { ...FakePortalHttp.serveOptionsOf(options), port: options.port ?? 0 })
  const oauth = FakePortalHttp.oauthAppOf(engine, server.url)
  return {
    webhookUrl: server.url + engine.webhookPath,
    baseUrl: server.url,
    ...(oauth !== undefined ? { oauth } : {}),
    stats: () => engine.stats(Date.now()),
    close: server.close
  }
}
