/**
 * The `HttpClient` of the bundled layers (`layerFetch`, `createClient`, `b24`): undici's `request` API (the
 * package's own dependency) over a dispatcher configured for the portal: a company CA, an explicit opt-out of
 * certificate checks, a proxy from the options or from `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { rootCertificates } from "node:tls"
import type { Dispatcher } from "undici"
import * as UndiciHttpClient from "./undiciHttpClient.js"

/** How the bundled layers reach the portal. */
export interface NetworkOptions {
  /**
   * PEM text of the certificate authority (or authorities) that signed a self-hosted portal's certificate. It is
   * trusted besides the public roots (the OAuth token endpoint keeps working).
   */
  readonly ca?: string
  /**
   * Accept any certificate, expired, self-signed or for another host: the connection is encrypted but anyone on
   * the path can read and change it, webhook code included. For a portal on a private network you trust.
   */
  readonly dangerouslyAcceptAnyCertificate?: boolean
  /**
   * A proxy URL for every request (`http://proxy:3128`), or `false` to ignore the proxy variables. By default
   * `HTTPS_PROXY` / `HTTP_PROXY` (or their lower-case forms) and `NO_PROXY` are honoured, as curl and npm do.
   */
  readonly proxy?: string | false
}

/** The variables read for proxies, as `process.env` holds them. */
export type ProxyEnv = Readonly<Record<string, string | undefined>>

const envValue = (env: ProxyEnv, name: string): string | undefined => {
  const value = env[name.toLowerCase()] ?? env[name]
  return value === undefined || value.trim() === "" ? undefined : value.trim()
}

/** Whether the options or the environment name a proxy. */
const proxied = (options: NetworkOptions, env: ProxyEnv): boolean =>
  typeof options.proxy === "string" ||
  (options.proxy !== false && (envValue(env, "HTTPS_PROXY") !== undefined || envValue(env, "HTTP_PROXY") !== undefined))

/**
 * The bundled `HttpClient` for `options`: undici's `request` over an agent of the layer's own (closed with the
 * layer), a proxy agent where the options or the environment name a proxy, with the CA or the opt-out of
 * certificate checks where asked for. undici is loaded when the layer is built.
 */
export const layerHttpClient = (options: NetworkOptions = {}, env: ProxyEnv = process.env): Layer.Layer<HttpClient.HttpClient> =>
  Layer.scoped(
    HttpClient.HttpClient,
    Effect.gen(function* () {
      const undici = yield* Effect.promise(() => import("undici"))
      const tls = {
        ...(options.ca === undefined ? {} : { ca: [...rootCertificates, options.ca] }),
        ...(options.dangerouslyAcceptAnyCertificate === true ? { rejectUnauthorized: false } : {})
      }
      const dispatcher = yield* Effect.acquireRelease(
        Effect.sync((): Dispatcher => {
          if (typeof options.proxy === "string") return new undici.ProxyAgent({ uri: options.proxy, connect: tls, requestTls: tls })
          if (!proxied(options, env)) return new undici.Agent({ connect: tls })
          // a proxy from the environment (`proxy: false` went to the plain agent above)
          const httpProxy = envValue(env, "HTTP_PROXY")
          const httpsProxy = envValue(env, "HTTPS_PROXY")
          const noProxy = envValue(env, "NO_PROXY")
          return new undici.EnvHttpProxyAgent({
            connect: tls,
            requestTls: tls,
            // explicit values, so only `env` decides (an empty string is "no proxy" to undici)
            httpProxy: httpProxy ?? "",
            httpsProxy: httpsProxy ?? httpProxy ?? "",
            noProxy: noProxy ?? ""
          })
        }),
        (agent) => Effect.promise(() => agent.close())
      )
      return UndiciHttpClient.make(dispatcher)
    })
  )
