/**
 * Where `b24` connects and how fast it may go: the webhook or OAuth app from flags and environment variables,
 * and the limit preset or numbers. Pure: the environment is passed in, nothing is read or sent here.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type * as Auth from "../Auth.js"
import type { Limits } from "../BitrixConfig.js"
import { ValidationError } from "../BitrixError.js"
import { makeRedact } from "../internal/httpResponse.js"
import { parseWebhook } from "../internal/httpUrl.js"
import { parseEither as parseStoreUrl } from "../internal/limiterStoreUrl.js"
import { parseLimits, parseNumber } from "../internal/optionText.js"
import { envNames } from "./Spec.js"

/**
 * Environment variables, as `process.env` holds them.
 *
 * @since 0.1.0
 * @category Models
 */
export type Env = Readonly<Record<string, string | undefined>>

/**
 * A checked connection: what to hand to `Bitrix.layer`, the endpoint as it may be shown (webhook code masked),
 * and the secrets to scrub from anything printed.
 *
 * @since 0.1.0
 * @category Models
 */
export type Connection =
  | {
      readonly _tag: "Webhook"
      readonly webhook: Redacted.Redacted<string>
      /** `https://host/rest/1/***\/`. */
      readonly endpoint: string
      readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
    }
  | {
      readonly _tag: "OAuth"
      readonly oauth: Omit<Auth.OAuthOptions, "onTokens">
      /** The REST URL, which holds no secret. */
      readonly endpoint: string
      readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
    }

const present = (value: string | undefined): value is string => value !== undefined && value.trim() !== ""

const oauthKeys = ["accessToken", "refreshToken", "clientId", "clientSecret", "restUrl"] as const

/**
 * The connection from `--webhook`, else `BITRIX24_WEBHOOK`, else the OAuth variables (all five of
 * `BITRIX24_ACCESS_TOKEN`, `BITRIX24_REFRESH_TOKEN`, `BITRIX24_CLIENT_ID`, `BITRIX24_CLIENT_SECRET`,
 * `BITRIX24_REST_URL`; `BITRIX24_TOKEN_URL` optional). Fails with a `ValidationError` that never repeats a secret.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const resolveConnection = (webhookFlag: string | undefined, env: Env): Either.Either<Connection, ValidationError> => {
  const webhookText = present(webhookFlag) ? webhookFlag : env[envNames.webhook]
  const fromFlag = present(webhookFlag)
  if (present(webhookText)) {
    return Either.map(
      Either.mapLeft(
        parseWebhook(webhookText),
        (error) => new ValidationError({ ...error, path: fromFlag ? "--webhook" : envNames.webhook })
      ),
      (endpoint): Connection => ({ _tag: "Webhook", webhook: endpoint.base, endpoint: endpoint.display, secrets: [endpoint.code] })
    )
  }
  const given = oauthKeys.filter((key) => present(env[envNames[key]]))
  if (given.length === 0) {
    return Either.left(
      new ValidationError({
        path: "connection",
        detail: "no portal to talk to",
        suggestion:
          `Pass --webhook https://your-portal.bitrix24.com/rest/1/***/ or set ${envNames.webhook}; for an OAuth app set ` +
          oauthKeys.map((key) => envNames[key]).join(", ") +
          "."
      })
    )
  }
  const missing = oauthKeys.filter((key) => !present(env[envNames[key]]))
  if (missing.length > 0) {
    return Either.left(
      new ValidationError({
        path: "connection",
        detail: `an OAuth connection needs ${missing.map((key) => envNames[key]).join(", ")} as well`,
        suggestion: `Set them, or use a webhook (--webhook or ${envNames.webhook}).`
      })
    )
  }
  const read = (key: (typeof oauthKeys)[number]): string => (env[envNames[key]] ?? "").trim()
  const tokenUrl = env[envNames.tokenUrl]
  const accessToken = Redacted.make(read("accessToken"))
  const refreshToken = Redacted.make(read("refreshToken"))
  const clientSecret = Redacted.make(read("clientSecret"))
  return Either.right({
    _tag: "OAuth",
    oauth: {
      restUrl: read("restUrl"),
      accessToken,
      refreshToken,
      clientId: read("clientId"),
      clientSecret,
      ...(present(tokenUrl) ? { tokenUrl: tokenUrl.trim() } : {})
    },
    endpoint: read("restUrl").endsWith("/") ? read("restUrl") : `${read("restUrl")}/`,
    secrets: [accessToken, refreshToken, clientSecret]
  })
}

/**
 * A function replacing the connection's secrets (and their URL-encoded spelling) with `***`.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const redactorOf = (secrets: ReadonlyArray<Redacted.Redacted<string>>): ((text: string) => string) =>
  makeRedact(secrets.map((secret) => Redacted.value(secret)))

/**
 * The limits the client keeps to: `--limits` when given (a preset or `pool=50,rps=2,operating=480,window=600`,
 * the same syntax as the fake portal's, so a time-scaled portal can be matched), else the `--plan` preset,
 * else the standard plan.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const resolveLimits = (
  planFlag: "standard" | "enterprise" | undefined,
  limitsFlag: string | undefined,
  env: Env = {}
): Either.Either<Limits, ValidationError> => {
  const limits = limitsFlag ?? (present(env[envNames.limits]) ? env[envNames.limits] : undefined)
  const planText = planFlag ?? (present(env[envNames.plan]) ? env[envNames.plan]?.trim() : undefined)
  if (planText !== undefined && planText !== "standard" && planText !== "enterprise") {
    return Either.left(
      new ValidationError({
        path: envNames.plan,
        detail: `expected standard or enterprise, got ${JSON.stringify(planText)}`,
        suggestion: `Set ${envNames.plan} to standard or enterprise, or pass --plan.`
      })
    )
  }
  const plan = planText
  if (limits !== undefined) {
    return Either.mapLeft(
      parseLimits(limits),
      (error) =>
        new ValidationError({
          path: "--limits",
          detail: error.message.replace(/^--limits:?\s*/, ""),
          suggestion: "Use standard, enterprise, off or pool=50,rps=2,operating=480,window=600."
        })
    )
  }
  return Either.right(plan ?? "standard")
}

/**
 * The client's pace and size options, each from its flag or else its `BITRIX24_*` variable.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Tuning {
  readonly slow?: number
  readonly batchSize?: number
  readonly maxConcurrent?: number
  readonly bucketHeadroom?: number
  /** Seconds per request. */
  readonly timeout?: number
}

const tuningKeys = ["slow", "batchSize", "maxConcurrent", "bucketHeadroom", "timeout"] as const

const flagOf: Readonly<Record<(typeof tuningKeys)[number], string>> = {
  slow: "--slow",
  batchSize: "--batch-size",
  maxConcurrent: "--max-concurrent",
  bucketHeadroom: "--bucket-headroom",
  timeout: "--timeout"
}

/**
 * Fills each option the command line left out from its environment variable; a variable that is not a number is
 * a `ValidationError` naming it. Ranges are checked by the client's own option decoding.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const resolveTuning = (flags: Tuning, env: Env): Either.Either<Tuning, ValidationError> => {
  const tuning: { -readonly [K in keyof Tuning]: Tuning[K] } = {}
  for (const key of tuningKeys) {
    const flag = flags[key]
    if (flag !== undefined) {
      tuning[key] = flag
      continue
    }
    const text = env[envNames[key]]
    if (text === undefined || text.trim() === "") continue
    const value = parseNumber(text)
    if (value === undefined) {
      return Either.left(
        new ValidationError({
          path: envNames[key],
          detail: `expected a number, got ${JSON.stringify(text)}`,
          suggestion: `Set ${envNames[key]} to a number, or pass ${flagOf[key]}.`
        })
      )
    }
    tuning[key] = value
  }
  return Either.right(tuning)
}

/**
 * Where the limiter keeps the portal's limits: `--limiter`, else `BITRIX24_LIMITER_URL`, else `file:` (the default
 * file of this machine, so consecutive and parallel runs share the bucket). `memory`, `file:PATH` or `redis://…`.
 * The URL may hold a Redis password: it is kept `Redacted`, and messages never repeat it.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const resolveLimiterStore = (
  flag: string | undefined,
  env: Env
): Either.Either<Redacted.Redacted<string>, ValidationError> => {
  const fromFlag = present(flag)
  const fromEnv = env[envNames.limiter]
  const text = fromFlag ? flag : present(fromEnv) ? fromEnv : "file:"
  return Either.map(parseStoreUrl(text.trim(), fromFlag ? "--limiter" : envNames.limiter), () => Redacted.make(text.trim()))
}
