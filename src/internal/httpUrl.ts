/**
 * Checking and normalising the addresses the client talks to: the inbound webhook URL (which holds a secret),
 * the OAuth app's REST endpoint and the token server. Pure functions: they return the normalised address or
 * a `ValidationError` that never repeats the secret.
 */
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { ValidationError } from "../BitrixError.js"

/** The example every webhook suggestion points at; the code is never shown. */
const webhookExample = "https://your-portal.bitrix24.com/rest/1/***/"

/** A checked inbound webhook: the base URL every method name is appended to. */
export interface WebhookEndpoint {
  /** `https://host/rest/{userId}/{code}/`, trailing slash included. Holds the secret code. */
  readonly base: Redacted.Redacted<string>
  /** The secret part of the URL, kept to scrub it from anything the server echoes back. */
  readonly code: Redacted.Redacted<string>
  /** The same URL with the code masked, safe for messages: `https://host/rest/1/***\/`. */
  readonly display: string
}

const webhookError = (detail: string, suggestion: string) =>
  Either.left(new ValidationError({ path: "webhook", detail, suggestion }))

/** A bare `portal.bitrix24.com/rest/…` without a scheme, which `new URL` refuses. */
const looksLikeHostWithoutScheme = (input: string): boolean => /^[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?\//i.test(input)

const parseUrl = (input: string): URL | undefined => {
  try {
    return new URL(input)
  } catch {
    return undefined
  }
}

const userIdPattern = /^\d+$/
/** Webhook codes are short alphanumeric strings; `_` and `-` are let through for self-hosted and fake portals. */
const codePattern = /^[A-Za-z0-9_-]+$/

/**
 * Checks an inbound webhook URL (`https://PORTAL/rest/USER_ID/CODE/`) and normalises it to end with a slash.
 * A method name or `.json` pasted after the code is refused with the corrected address as suggestion.
 */
export const parseWebhook = (input: string): Either.Either<WebhookEndpoint, ValidationError> => {
  const trimmed = input.trim()
  if (trimmed === "") {
    return webhookError("the webhook URL is empty", `Pass the inbound webhook URL from the portal, e.g. ${webhookExample}`)
  }
  const url = parseUrl(trimmed)
  if (url === undefined) {
    return webhookError(
      "it is not a URL",
      looksLikeHostWithoutScheme(trimmed)
        ? `Add "https://" in front of the address, e.g. ${webhookExample}`
        : `Copy the whole inbound webhook URL from the portal, e.g. ${webhookExample}`
    )
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return webhookError(`the scheme must be https or http, not "${url.protocol.slice(0, 20)}"`, `Use ${webhookExample}`)
  }
  if (url.hostname === "") {
    return webhookError("the URL has no host", `Use ${webhookExample}`)
  }
  const origin = `${url.protocol}//${url.host}`
  const masked = (userId: string) => `${origin}/rest/${userId}/***/`
  if (url.username !== "" || url.password !== "") {
    return webhookError("the URL must not carry a user name or password", `Use ${masked("{userId}")}`)
  }
  const segments = url.pathname.split("/").filter((segment) => segment !== "")
  if (segments[0] !== "rest") {
    return webhookError("the path must be /rest/{userId}/{code}/", `Use ${masked("{userId}")}`)
  }
  const [userId, codeSegment, ...extra] = segments.slice(1)
  if (userId === undefined || codeSegment === undefined) {
    // the portal answers a URL without the user ID segment with "Method not found!" (b24pysdk PR #3)
    return webhookError(
      "the path must be /rest/{userId}/{code}/: the user ID or the code is missing",
      `Copy the whole URL from the portal's webhook page, e.g. ${webhookExample}`
    )
  }
  if (!userIdPattern.test(userId)) {
    return webhookError("the segment after /rest/ must be the numeric user ID", `Use ${masked("{userId}")}`)
  }
  const display = masked(userId)
  const dot = codeSegment.indexOf(".")
  if (dot >= 0) {
    // `.json` glued to the code: the portal would read it as part of the secret
    const suffix = codeSegment.slice(dot)
    return webhookError(
      `the code is followed by "${suffix.slice(0, 40)}", which does not belong in the webhook URL`,
      `Remove it and use ${display}; the client appends method names itself.`
    )
  }
  if (!codePattern.test(codeSegment)) {
    return webhookError("the code segment holds characters a webhook code never has", `Use ${display}`)
  }
  if (extra.length > 0) {
    const pasted = extra.join("/").slice(0, 80)
    return webhookError(
      `the URL ends with "${pasted}" after the code; a method name or ".json" does not belong in the webhook URL`,
      `Use ${display}; the client appends method names itself.`
    )
  }
  if (url.search !== "" || url.hash !== "") {
    return webhookError("the URL must not have a query string or fragment", `Use ${display}`)
  }
  return Either.right({
    base: Redacted.make(`${origin}/rest/${userId}/${codeSegment}/`),
    code: Redacted.make(codeSegment),
    display
  })
}

/**
 * Checks a plain http(s) address that holds no secret (the OAuth `client_endpoint`, the token server) and
 * returns it with a trailing slash. `path` names the option in the error.
 */
export const parseServiceUrl = (path: string, input: string, example: string): Either.Either<string, ValidationError> => {
  const url = parseUrl(input.trim())
  if (url === undefined) {
    return Either.left(new ValidationError({ path, detail: "it is not a URL", suggestion: `Use e.g. ${example}` }))
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return Either.left(
      new ValidationError({
        path,
        detail: `the scheme must be https or http, not "${url.protocol.slice(0, 20)}"`,
        suggestion: `Use e.g. ${example}`
      })
    )
  }
  if (url.hostname === "" || url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    return Either.left(
      new ValidationError({
        path,
        detail: "the URL must have a host and no credentials, query string or fragment",
        suggestion: `Use e.g. ${example}`
      })
    )
  }
  const pathname = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`
  return Either.right(`${url.protocol}//${url.host}${pathname}`)
}
