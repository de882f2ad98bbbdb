/**
 * Turning one HTTP answer of the portal (status + body text) into a decoded envelope or a typed failure, and
 * keeping secrets out of every failure. Pure functions; the transport supplies the effects around them.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { BitrixApiError, HttpError, UnexpectedResultError } from "../BitrixError.js"
import * as Envelope from "../Envelope.js"

/** How much of a body an error keeps: enough to read an HTML error page's title and first lines. */
export const excerptLength = 500

/** Replaces every secret in a text with `***`. */
export type Redact = (text: string) => string

/**
 * A redactor for a set of secrets, including their URL-encoded spelling (a proxy may echo the request path).
 * Empty secrets are ignored; longer secrets are replaced first so one secret inside another leaks nothing.
 */
export const makeRedact = (secrets: Iterable<string>): Redact => {
  const spellings = new Set<string>()
  for (const secret of secrets) {
    if (secret === "") continue
    spellings.add(secret)
    spellings.add(encodeURIComponent(secret))
  }
  const ordered = [...spellings].sort((a, b) => b.length - a.length)
  return (text) => ordered.reduce((scrubbed, secret) => scrubbed.split(secret).join("***"), text)
}

/** Applies a redactor to every string (keys included) of a decoded JSON value. */
export const redactJson = (value: unknown, redact: Redact): unknown => {
  if (typeof value === "string") return redact(value)
  if (Array.isArray(value)) return value.map((entry) => redactJson(entry, redact))
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [redact(key), redactJson(entry, redact)]))
  }
  return value
}

/**
 * Words for an unknown failure cause, following `cause` chains: undici hides `ECONNREFUSED` one level down
 * under "fetch failed" (a user's fetch client), and the retry policy looks for it.
 */
export const describeCause = (cause: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = cause
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    if (current instanceof Error) {
      const code = (current as { readonly code?: unknown }).code
      parts.push(`${current.name}: ${current.message}${typeof code === "string" && !current.message.includes(code) ? ` (${code})` : ""}`)
      current = (current as { readonly cause?: unknown }).cause
    } else {
      parts.push(String(current))
      current = undefined
    }
  }
  return parts.length === 0 ? "no details" : parts.join(" <- ")
}

const decodeJson = Schema.decodeUnknownEither(Schema.parseJson())
const decodeSuccess = Schema.decodeUnknownEither(Envelope.Success)
const decodeFailure = Schema.decodeUnknownEither(Envelope.Failure)

/** REST 3.0 nests the error: `{"error":{"code":"BITRIX_REST_V3_EXCEPTION_…","message":"…"}}`. */
const NestedFailure = Schema.Struct({
  error: Schema.Struct({
    code: Schema.Union(Schema.String, Schema.Number),
    message: Schema.optional(Schema.String)
  })
})
const decodeNestedFailure = Schema.decodeUnknownEither(NestedFailure)

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** What arrived: the status and the whole body as text. */
export interface RawAnswer {
  /** The Bitrix method (or `oauth.token`) the request was for. */
  readonly method: string
  readonly status: number
  readonly contentType: string | undefined
  readonly body: string
}

/** How a successful body is decoded, and what to say when it does not fit. */
export interface SuccessShape<A> {
  readonly decode: (json: unknown) => Either.Either<A, unknown>
  readonly mismatch: string
}

/** The portal's single-call envelope. */
export const envelopeShape: SuccessShape<Envelope.Success> = {
  decode: decodeSuccess,
  mismatch: "the JSON body is not a Bitrix envelope (no `result`, or malformed `next` / `total` / `time`)"
}

/**
 * Classifies one answer:
 * - a body that is not JSON (an HTML 502/504 page from a proxy, a 414 from the front server) → `HttpError` "Decode";
 * - JSON holding `error`, whatever the status (a method that returns an error array goes out as 200) →
 *   `BitrixApiError` with the code exactly as sent (`""` and numbers kept) and the whole body as `raw`;
 * - 2xx JSON without `error` → the body decoded with `shape`, or `UnexpectedResultError` when it does not fit it
 *   (a JSON answer that is not what the endpoint promises: no envelope, no tokens);
 * - any other status → `HttpError` "Status".
 * Every text taken from the body passes through `redact`, since servers echo request paths.
 */
export const interpretAnswer = <A>(
  answer: RawAnswer,
  redact: Redact,
  shape: SuccessShape<A>
): Either.Either<A, HttpError | BitrixApiError | UnexpectedResultError> => {
  const excerpt = () => redact(answer.body.slice(0, excerptLength * 2)).slice(0, excerptLength)
  const httpError = (reason: "Decode" | "Status", detail: string) =>
    new HttpError({ reason, method: answer.method, status: answer.status, bodyExcerpt: excerpt(), detail })
  const json = decodeJson(answer.body)
  if (Either.isLeft(json)) {
    const type = answer.contentType === undefined || answer.contentType === "" ? "no content type" : answer.contentType
    return Either.left(
      httpError("Decode", `the body is not JSON (${redact(type).slice(0, 100)}, ${answer.body.length} characters)`)
    )
  }
  const body = json.right
  if (isRecord(body) && "error" in body && body.error !== null && body.error !== undefined) {
    const apiError = (code: string | number, description: string) =>
      new BitrixApiError({
        code: typeof code === "string" ? redact(code) : code,
        description: redact(description),
        status: answer.status,
        method: answer.method,
        raw: redactJson(body, redact)
      })
    const failure = decodeFailure(body)
    if (Either.isRight(failure)) return Either.left(apiError(failure.right.error, failure.right.error_description ?? ""))
    const nested = decodeNestedFailure(body)
    if (Either.isRight(nested)) return Either.left(apiError(nested.right.error.code, nested.right.error.message ?? ""))
    return Either.left(httpError("Decode", "the body has an `error` key of an unknown shape"))
  }
  if (answer.status < 200 || answer.status >= 300) {
    return Either.left(httpError("Status", `unexpected HTTP status ${answer.status} with a JSON body that holds no error`))
  }
  const success = shape.decode(body)
  return Either.isLeft(success)
    ? Either.left(new UnexpectedResultError({ method: answer.method, detail: shape.mismatch, excerpt: excerpt() }))
    : Either.right(success.right)
}

/**
 * Masks the token fields of a token-server answer (`"access_token":"…"`, `"refresh_token":"…"`), so an
 * excerpt of a half-broken answer cannot carry fresh tokens into an error.
 */
export const redactTokenFields: Redact = (text) =>
  text.replace(/("(?:access_token|refresh_token)"\s*:\s*")(?:[^"\\]|\\.)*"/g, '$1***"')
