/**
 * Who the client is to the portal: an inbound webhook (a URL holding a secret code) or an OAuth app (an
 * access token in each request, refreshed each time the portal says it expired, one refresh for all the requests
 * in flight).
 *
 * Every secret (webhook code, tokens, client secret) is kept `Redacted`, and `redact` scrubs them from any
 * text a server echoes back, so none reaches an error, a log line or a span.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { BitrixApiError, HttpError, type UnexpectedResultError, ValidationError } from "./BitrixError.js"
import {
  describeCause,
  interpretAnswer,
  makeRedact,
  type Redact,
  redactTokenFields,
  type SuccessShape
} from "./internal/httpResponse.js"
import { parseServiceUrl, parseWebhook } from "./internal/httpUrl.js"

/**
 * Settings of an OAuth app, as the app received them on install or from its last refresh.
 *
 * @since 0.1.0
 * @category Models
 */
export interface OAuthOptions {
  /** The portal's `client_endpoint`, e.g. `https://your-portal.bitrix24.com/rest/`. */
  readonly restUrl: string
  readonly accessToken: string | Redacted.Redacted<string>
  readonly refreshToken: string | Redacted.Redacted<string>
  readonly clientId: string
  readonly clientSecret: string | Redacted.Redacted<string>
  /** The token server; `https://oauth.bitrix.info/oauth/token/` unless the portal is self-hosted. */
  readonly tokenUrl?: string
  /**
   * Called with every rotated pair: the portal returns a new refresh token each time and the old one is
   * spent, so store it here or the app loses access after the next restart.
   */
  readonly onTokens?: (tokens: Tokens) => void | Promise<void>
}

/**
 * How the client authenticates: an inbound webhook URL, or an OAuth app.
 *
 * @since 0.1.0
 * @category Models
 */
export type AuthOptions =
  | { readonly webhook: string | Redacted.Redacted<string> }
  | { readonly oauth: OAuthOptions }

/**
 * The token server's answer to a refresh, decoded; the tokens inside stay `Redacted`.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const TokenResponse = Schema.Struct({
  access_token: Schema.Redacted(Schema.NonEmptyString),
  refresh_token: Schema.Redacted(Schema.NonEmptyString),
  /** Lifetime of the access token in seconds (3600 on the cloud). */
  expires_in: Schema.optional(Schema.Number),
  /** Expiry of the access token as unix seconds. */
  expires: Schema.optional(Schema.Number),
  client_endpoint: Schema.optional(Schema.String),
  server_endpoint: Schema.optional(Schema.String),
  domain: Schema.optional(Schema.String),
  member_id: Schema.optional(Schema.String),
  scope: Schema.optional(Schema.String),
  status: Schema.optional(Schema.String),
  user_id: Schema.optional(Schema.Number)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type TokenResponse = typeof TokenResponse.Type

/**
 * A rotated token pair, as handed to `onTokens`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Tokens {
  readonly accessToken: Redacted.Redacted<string>
  readonly refreshToken: Redacted.Redacted<string>
  /** When the access token expires, in epoch milliseconds (read through `Clock`). */
  readonly expiresAt: number
  /** Every field of the token server's answer, decoded. */
  readonly raw: TokenResponse
}

/**
 * A request's parameters with the credentials applied.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Authorized {
  /** The JSON body to send: the params, plus `auth` for OAuth when they are an object. */
  readonly body: unknown
  /** The access token used (none for webhooks); hand it to `refresh` if the portal calls it expired. */
  readonly token: Option.Option<Redacted.Redacted<string>>
  /**
   * A token to send as `Authorization: Bearer` instead: positional params are a JSON list, which has no
   * room for an `auth` key.
   */
  readonly bearerToken: Option.Option<Redacted.Redacted<string>>
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly kind: "webhook" | "oauth"
  /** The full URL of a method. For webhooks it holds the secret code: never log or show it. */
  readonly endpoint: (method: string) => string
  /** Applies the current credentials to a request's params. */
  readonly authorize: (params: unknown) => Effect.Effect<Authorized>
  /** The access token in use; none for webhooks. */
  readonly currentToken: Effect.Effect<Option.Option<Redacted.Redacted<string>>>
  /**
   * Rotates the tokens after the portal refused `staleAccessToken`. Concurrent callers share one refresh;
   * a caller whose token was already rotated returns at once. Webhooks have nothing to refresh.
   */
  readonly refresh: (staleAccessToken: Redacted.Redacted<string>) => Effect.Effect<void, HttpError | BitrixApiError | UnexpectedResultError>
  /** Replaces every secret this service has held with `***`, for texts a server echoed back. */
  readonly redact: (text: string) => string
}

/**
 * @since 0.1.0
 * @category Context
 */
export class Auth extends Context.Tag("effect-bitrix24/Auth")<Auth, Service>() {}

/**
 * The Bitrix token server used by cloud portals.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultTokenUrl = "https://oauth.bitrix.info/oauth/token/"

/** The token server answers in well under a second; a minute covers a slow network without hanging callers. */
const tokenRequestTimeout = Duration.seconds(60)

/** The method name token-server failures carry, so callers can tell them from portal errors. */
const tokenMethod = "oauth.token"

const reveal = (secret: string | Redacted.Redacted<string>): string =>
  Redacted.isRedacted(secret) ? Redacted.value(secret) : secret

const toRedacted = (secret: string | Redacted.Redacted<string>): Redacted.Redacted<string> =>
  Redacted.isRedacted(secret) ? secret : Redacted.make(secret)

/** Encodes the method name into the URL path; Bitrix method names are dotted words, so this is a no-op for them. */
const methodPath = (method: string): string => encodeURIComponent(method)

const makeWebhook = (webhook: string | Redacted.Redacted<string>): Either.Either<Service, ValidationError> =>
  Either.map(parseWebhook(reveal(webhook)), (parsed): Service => {
    const base = Redacted.value(parsed.base)
    const redact = makeRedact([Redacted.value(parsed.code)])
    return {
      kind: "webhook",
      endpoint: (method) => `${base}${methodPath(method)}`,
      authorize: (params) => Effect.succeed({ body: params ?? {}, token: Option.none(), bearerToken: Option.none() }),
      currentToken: Effect.succeed(Option.none()),
      refresh: () => Effect.void,
      redact
    }
  })

const nonEmptySecret = (path: string, value: string | Redacted.Redacted<string>) =>
  reveal(value).trim() === ""
    ? Either.left(new ValidationError({ path, detail: "it is empty", suggestion: "Pass the value the portal gave the app" }))
    : Either.right(toRedacted(value))

interface CheckedOAuth {
  readonly restUrl: string
  readonly tokenUrl: string
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly accessToken: Redacted.Redacted<string>
  readonly refreshToken: Redacted.Redacted<string>
}

const checkOAuth = (options: OAuthOptions): Either.Either<CheckedOAuth, ValidationError> =>
  Either.all({
    restUrl: parseServiceUrl("oauth.restUrl", options.restUrl, "https://your-portal.bitrix24.com/rest/"),
    tokenUrl: parseServiceUrl("oauth.tokenUrl", options.tokenUrl ?? defaultTokenUrl, defaultTokenUrl),
    clientId:
      options.clientId.trim() === ""
        ? Either.left(
            new ValidationError({ path: "oauth.clientId", detail: "it is empty", suggestion: "Pass the app's client_id" })
          )
        : Either.right(options.clientId.trim()),
    clientSecret: nonEmptySecret("oauth.clientSecret", options.clientSecret),
    accessToken: nonEmptySecret("oauth.accessToken", options.accessToken),
    refreshToken: nonEmptySecret("oauth.refreshToken", options.refreshToken)
  })

const tokenShape: SuccessShape<TokenResponse> = {
  decode: Schema.decodeUnknownEither(TokenResponse),
  mismatch: "the token server's answer lacks a usable access_token / refresh_token"
}

interface TokenPair {
  readonly accessToken: Redacted.Redacted<string>
  readonly refreshToken: Redacted.Redacted<string>
}

interface RefreshState {
  readonly tokens: TokenPair
  /** The refresh under way, shared by every caller that arrives while it runs. */
  readonly inFlight: Deferred.Deferred<void, HttpError | BitrixApiError | UnexpectedResultError> | undefined
}

type RefreshRole =
  | { readonly _tag: "AlreadyRotated" }
  | { readonly _tag: "Join"; readonly refresh: Deferred.Deferred<void, HttpError | BitrixApiError | UnexpectedResultError> }
  | { readonly _tag: "Lead" }

const makeOAuth = (checked: CheckedOAuth, onTokens: OAuthOptions["onTokens"]) =>
  Effect.gen(function* () {
    // refreshes run in the client's scope: closing the client stops one under way, and its waiters fail
    const scope = yield* Effect.scope
    // the token URL carries the client secret and the refresh token: keep the platform's span (url.full) off it
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerDisabledWhen(() => true))
    // every secret ever held, spent tokens included, so an echo of an old one is scrubbed as well
    const secrets = new Set([checked.clientSecret, checked.accessToken, checked.refreshToken].map(Redacted.value))
    let redactSecrets: Redact = makeRedact(secrets)
    const redact: Redact = (text) => redactSecrets(text)
    const remember = (pair: TokenPair) => {
      secrets.add(Redacted.value(pair.accessToken))
      secrets.add(Redacted.value(pair.refreshToken))
      redactSecrets = makeRedact(secrets)
    }
    const state = yield* Ref.make<RefreshState>({
      tokens: { accessToken: checked.accessToken, refreshToken: checked.refreshToken },
      inFlight: undefined
    })

    const timeoutError = () =>
      new HttpError({
        reason: "Timeout",
        method: tokenMethod,
        detail: `no answer from the token server within ${Duration.format(tokenRequestTimeout)}`
      })

    /** `GET tokenUrl?grant_type=refresh_token&client_id=…&client_secret=…&refresh_token=…` (notes §1.4). */
    const requestTokens = (refreshToken: Redacted.Redacted<string>) =>
      Effect.gen(function* () {
        const request = HttpClientRequest.get(checked.tokenUrl).pipe(
          HttpClientRequest.setUrlParams({
            grant_type: "refresh_token",
            client_id: checked.clientId,
            client_secret: Redacted.value(checked.clientSecret),
            refresh_token: Redacted.value(refreshToken)
          }),
          HttpClientRequest.acceptJson
        )
        const response = yield* client.execute(request)
        const body = yield* response.text
        return { status: response.status, contentType: response.headers["content-type"], body }
      }).pipe(
        Effect.mapError(
          (error) =>
            new HttpError({
              reason: "Transport",
              method: tokenMethod,
              detail: redactTokenFields(redact(`${error.reason}: ${describeCause(error.cause)}`)).slice(0, 500)
            })
        ),
        Effect.timeoutFail({ duration: tokenRequestTimeout, onTimeout: timeoutError }),
        Effect.flatMap((answer) =>
          interpretAnswer({ method: tokenMethod, ...answer }, (text) => redactTokenFields(redact(text)), tokenShape)
        ),
        Effect.flatMap((raw) =>
          Effect.map(Clock.currentTimeMillis, (now): Tokens => ({
            accessToken: raw.access_token,
            refreshToken: raw.refresh_token,
            // Bitrix sends expires_in (3600) and expires (unix seconds); prefer the relative one against our clock
            expiresAt:
              raw.expires_in !== undefined ? now + raw.expires_in * 1000 : raw.expires !== undefined ? raw.expires * 1000 : now + 3_600_000,
            raw
          }))
        )
      )

    const notify = (tokens: Tokens) =>
      onTokens === undefined
        ? Effect.void
        : Effect.tryPromise(async () => {
            await onTokens(tokens)
          }).pipe(
            // the tokens are rotated already and the old refresh token is spent: report, do not fail the call
            Effect.catchAll((error) =>
              Effect.logWarning(`onTokens callback failed: ${redact(describeCause(error.error)).slice(0, 300)}`)
            )
          )

    const runRefresh = (shared: Deferred.Deferred<void, HttpError | BitrixApiError | UnexpectedResultError>) =>
      Effect.gen(function* () {
        const { tokens } = yield* Ref.get(state)
        const exit = yield* Effect.exit(requestTokens(tokens.refreshToken))
        if (Exit.isSuccess(exit)) {
          const rotated = exit.value
          remember(rotated)
          yield* Ref.set(state, { tokens: { accessToken: rotated.accessToken, refreshToken: rotated.refreshToken }, inFlight: undefined })
          yield* Effect.logDebug("bitrix.auth: OAuth tokens rotated").pipe(
            Effect.annotateLogs({ "bitrix.token.expiresAt": new Date(rotated.expiresAt).toISOString() })
          )
          yield* notify(rotated)
        } else {
          yield* Ref.update(state, (current) => ({ ...current, inFlight: undefined }))
        }
        yield* Deferred.done(shared, Exit.asVoid(exit))
      }).pipe(
        // stopped before it finished (the client is closing): free the slot and fail the waiters, never leave them hanging
        Effect.onInterrupt(() =>
          Effect.zipRight(
            Ref.update(state, (current) => (current.inFlight === shared ? { ...current, inFlight: undefined } : current)),
            Deferred.fail(
              shared,
              new HttpError({
                reason: "Transport",
                method: tokenMethod,
                detail: "the token refresh was stopped before it finished: the client is closing"
              })
            )
          )
        )
      )

    const refresh = (staleAccessToken: Redacted.Redacted<string>) =>
      Effect.gen(function* () {
        const candidate = yield* Deferred.make<void, HttpError | BitrixApiError | UnexpectedResultError>()
        const role = yield* Ref.modify(state, (current): readonly [RefreshRole, RefreshState] => {
          if (Redacted.value(current.tokens.accessToken) !== Redacted.value(staleAccessToken)) {
            return [{ _tag: "AlreadyRotated" }, current]
          }
          if (current.inFlight !== undefined) return [{ _tag: "Join", refresh: current.inFlight }, current]
          return [{ _tag: "Lead" }, { ...current, inFlight: candidate }]
        })
        switch (role._tag) {
          case "AlreadyRotated":
            return
          case "Join":
            return yield* Deferred.await(role.refresh)
          case "Lead":
            // run in the client's scope, so the refresh finishes for everyone even if the caller that started it is
            // interrupted, and stops with the client
            yield* Effect.forkIn(runRefresh(candidate), scope)
            return yield* Deferred.await(candidate)
        }
      }).pipe(Effect.withSpan("bitrix.auth.refresh"))

    const currentToken = Effect.map(Ref.get(state), (current) => Option.some(current.tokens.accessToken))

    const authorize = (params: unknown) =>
      Effect.map(Ref.get(state), (current): Authorized => {
        const token = current.tokens.accessToken
        if (params === undefined || params === null) {
          return { body: { auth: Redacted.value(token) }, token: Option.some(token), bearerToken: Option.none() }
        }
        if (typeof params === "object" && !Array.isArray(params)) {
          // OAuth apps pass the token as the `auth` key of the JSON body (notes §1.1)
          return { body: { ...params, auth: Redacted.value(token) }, token: Option.some(token), bearerToken: Option.none() }
        }
        return { body: params, token: Option.some(token), bearerToken: Option.some(token) }
      })

    const service: Service = {
      kind: "oauth",
      endpoint: (method) => `${checked.restUrl}${methodPath(method)}`,
      authorize,
      currentToken,
      refresh,
      redact
    }
    return service
  })

/**
 * Builds the service from options; a malformed webhook URL or empty OAuth setting is a `ValidationError`
 * found before any request. Token refreshes run in the scope: closing it stops one under way, and the requests
 * waiting for it fail with an `HttpError` instead of waiting forever.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: AuthOptions): Effect.Effect<Service, ValidationError, HttpClient.HttpClient | Scope.Scope> =>
  "webhook" in options
    ? Either.match(makeWebhook(options.webhook), { onLeft: Effect.fail, onRight: Effect.succeed })
    : Effect.flatMap(
        Either.match(checkOAuth(options.oauth), { onLeft: Effect.fail, onRight: Effect.succeed }),
        (checked) => makeOAuth(checked, options.oauth.onTokens)
      )

/**
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: AuthOptions): Layer.Layer<Auth, ValidationError, HttpClient.HttpClient> =>
  Layer.scoped(Auth, make(options))
