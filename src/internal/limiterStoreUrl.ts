/**
 * The limiter store a URL names (`--limiter`, `BITRIX24_LIMITER_URL`, the `limiterStore` option): `memory`,
 * `file:PATH` (`file:` alone for the default path), `redis://…` or `rediss://…`.
 */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { ValidationError } from "../BitrixError.js"

/** What a store URL names. */
export type StoreTarget =
  | { readonly _tag: "Memory" }
  | { readonly _tag: "File"; readonly path: string | undefined }
  | { readonly _tag: "Redis"; readonly url: Redacted.Redacted<string> }

/** The forms, for messages. */
export const forms = "memory, file:PATH (file: for the default file) or redis://[:password@]host[:port][/db] (rediss:// for TLS)"

/** Reads a store URL; the message never repeats the URL, which may hold a password. */
export const parseEither = (url: string | Redacted.Redacted<string>, path = "limiterStore"): Either.Either<StoreTarget, ValidationError> => {
  const text = (Redacted.isRedacted(url) ? Redacted.value(url) : url).trim()
  if (text === "memory") return Either.right({ _tag: "Memory" })
  if (text.startsWith("file:")) {
    const rest = text.slice("file:".length)
    // file:///abs/path and file:relative both work; an empty path means the default file
    const filePath = rest.startsWith("//") ? decodeURIComponent(new URL(text).pathname) : rest
    return Either.right({ _tag: "File", path: filePath === "" ? undefined : filePath })
  }
  if (/^rediss?:\/\//i.test(text)) {
    try {
      const parsed = new URL(text)
      if (parsed.hostname === "") throw new Error("no host")
    } catch {
      return Either.left(
        new ValidationError({ path, detail: "is not a readable Redis URL", suggestion: `Use ${forms}.` })
      )
    }
    return Either.right({ _tag: "Redis", url: Redacted.make(text) })
  }
  return Either.left(
    new ValidationError({
      path,
      detail: `must name a limiter store, got ${text.length <= 24 && !/[@:]/.test(text) ? JSON.stringify(text) : "another string"}`,
      suggestion: `Use ${forms}.`
    })
  )
}

/** {@link parseEither} as an effect. */
export const parse = (url: string | Redacted.Redacted<string>, path?: string): Effect.Effect<StoreTarget, ValidationError> =>
  Effect.suspend(() => parseEither(url, path))

/**
 * The limiter's identity for a connection: the portal's host (the bucket's and budgets' key) and a fingerprint of
 * the credential (the first 16 hex digits of a SHA-256), so a shared store never holds the webhook code or a token.
 */
export const identityOf = (
  connection:
    | { readonly webhook: string | Redacted.Redacted<string> }
    | { readonly oauth: { readonly restUrl: string; readonly clientId: string } }
): { readonly key: string; readonly credential: string } => {
  const fingerprint = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16)
  const hostOf = (url: string) => {
    try {
      return new URL(url).host.toLowerCase()
    } catch {
      return "default"
    }
  }
  if ("webhook" in connection) {
    const url = Redacted.isRedacted(connection.webhook) ? Redacted.value(connection.webhook) : connection.webhook
    const trimmed = url.trim()
    return { key: hostOf(trimmed), credential: `webhook-${fingerprint(`webhook:${trimmed.replace(/\/+$/, "")}`)}` }
  }
  return { key: hostOf(connection.oauth.restUrl), credential: `app-${fingerprint(`oauth:${connection.oauth.clientId}`)}` }
}
