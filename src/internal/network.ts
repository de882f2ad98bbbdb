/**
 * The `HttpClient` of the bundled layers (`layerFetch`, `createClient`, `b24`): the platform's fetch client, and
 * when a portal needs more than the public trust store and a direct connection (a company CA, an explicit
 * opt-out of certificate checks, a proxy from the options or from `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`)
 * the same client over an undici dispatcher configured for it. undici is loaded only then.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { rootCertificates } from "node:tls"

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

/** Whether the options or the environment ask for anything the platform's fetch cannot do. */
export const needsDispatcher = (options: NetworkOptions, env: ProxyEnv): boolean =>
  options.ca !== undefined ||
  options.dangerouslyAcceptAnyCertificate === true ||
  typeof options.proxy === "string" ||
  (options.proxy !== false && (envValue(env, "HTTPS_PROXY") !== undefined || envValue(env, "HTTP_PROXY") !== undefined))

/**
 * The fetch `HttpClient` for `options`: `FetchHttpClient.layer` as it is when nothing special is asked for,
 * else the same client over an undici dispatcher (closed with the layer).
 */
export const layerHttpClient = (options: NetworkOptions = {}, env: ProxyEnv = process.env): Layer.Layer<HttpClient.HttpClient> => {
  if (!needsDispatcher(options, env)) return FetchHttpClient.layer
  return Layer.unwrapScoped(
    Effect.gen(function* () {
      const undici = yield* Effect.promise(() => import("undici"))
      const tls = {
        ...(options.ca === undefined ? {} : { ca: [...rootCertificates, options.ca] }),
        ...(options.dangerouslyAcceptAnyCertificate === true ? { rejectUnauthorized: false } : {})
      }
      const dispatcher = yield* Effect.acquireRelease(
        Effect.sync(() => {
          if (typeof options.proxy === "string") return new undici.ProxyAgent({ uri: options.proxy, connect: tls, requestTls: tls })
          const httpProxy = options.proxy === false ? undefined : envValue(env, "HTTP_PROXY")
          const httpsProxy = options.proxy === false ? undefined : envValue(env, "HTTPS_PROXY")
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
      // undici's own fetch with its own dispatcher: Node 20's global fetch bundles an older undici
      const fetch: typeof globalThis.fetch = (input, init) =>
        undici.fetch(input instanceof Request ? input.url : input, { ...init, dispatcher } as Parameters<typeof undici.fetch>[1]) as Promise<Response>
      return FetchHttpClient.layer.pipe(Layer.provide(Layer.succeed(FetchHttpClient.Fetch, fetch)))
    })
  )
}
