/**
 * Input checks run before any request. Each returns the first problem as a ValidationError, so bad input never
 * reaches the portal (whose answers to it are often silent: a mistyped filter key widens the query).
 */
import * as Effect from "effect/Effect"
import { ValidationError } from "../BitrixError.js"

const methodPattern = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/i

/** A plain object (not null, not an array): the shape params, filters and batch commands must have. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A Bitrix method name: dotted words (`crm.deal.list`), not `batch` (which has its own verb). */
export const method = (name: unknown, options: { readonly allowBatch?: boolean } = {}) =>
  Effect.suspend(() => {
    if (typeof name !== "string" || name.trim() === "") {
      return Effect.fail(
        new ValidationError({ path: "method", detail: "the method name is empty", suggestion: 'Pass a name like "crm.deal.list".' })
      )
    }
    if (name.toLowerCase() === "batch" && options.allowBatch !== true) {
      return Effect.fail(
        new ValidationError({
          path: "method",
          detail: "batch cannot be called through call",
          suggestion: "Use callBatch({ halt, cmd }) for the portal's batch, or call(method, items) for auto-batching."
        })
      )
    }
    if (!methodPattern.test(name) && name.toLowerCase() !== "batch") {
      return Effect.fail(
        new ValidationError({
          path: "method",
          detail: `${JSON.stringify(name)} is not a Bitrix method name`,
          suggestion: 'Method names are dotted words such as "crm.deal.list", without the webhook URL or ".json".'
        })
      )
    }
    return Effect.succeed(name)
  })

/** Keys whose value the portal reads as a structure; a wrong type is silently ignored by some methods. */
const structuredKeys: ReadonlyArray<{ readonly key: string; readonly kind: "object" | "array"; readonly hint: string }> = [
  { key: "filter", kind: "object", hint: 'e.g. filter: { ">ID": 5, STAGE_ID: "WON" }' },
  { key: "order", kind: "object", hint: 'e.g. order: { ID: "ASC" }' },
  { key: "select", kind: "array", hint: 'e.g. select: ["ID", "TITLE"]' },
  { key: "fields", kind: "object", hint: 'e.g. fields: { TITLE: "New deal" }' }
]

/**
 * Checks the params of one call: an object; `filter` / `order` / `fields` objects, `select` an array of strings;
 * no upper- and lower-case twins of one key (the portal reads one of them, the other would be dropped).
 */
export const params = (value: unknown, path = "params") =>
  Effect.suspend((): Effect.Effect<Record<string, unknown>, ValidationError> => {
    if (value === undefined) return Effect.succeed({})
    if (!isRecord(value)) {
      return Effect.fail(
        new ValidationError({
          path,
          detail: `expected an object of parameters, got ${describe(value)}`,
          suggestion: "Positional parameters (arrays) are only accepted by callRaw."
        })
      )
    }
    const seen = new Map<string, string>()
    for (const key of Object.keys(value)) {
      const folded = key.toLowerCase()
      const twin = seen.get(folded)
      if (twin !== undefined) {
        return Effect.fail(
          new ValidationError({
            path: `${path}.${key}`,
            detail: `both ${JSON.stringify(twin)} and ${JSON.stringify(key)} are given; the portal reads only one of them`,
            suggestion: `Keep one spelling of ${JSON.stringify(folded)}.`
          })
        )
      }
      seen.set(folded, key)
    }
    for (const { key, kind, hint } of structuredKeys) {
      const actual = seen.get(key)
      if (actual === undefined) continue
      const entry = value[actual]
      const ok =
        kind === "object"
          ? isRecord(entry)
          : Array.isArray(entry) && entry.every((field) => typeof field === "string" && field !== "")
      if (!ok) {
        return Effect.fail(
          new ValidationError({
            path: `${path}.${actual}`,
            detail:
              kind === "object"
                ? `${actual} must be an object, got ${describe(entry)}`
                : `${actual} must be an array of field names, got ${describe(entry)}`,
            suggestion: hint
          })
        )
      }
    }
    return Effect.succeed(value)
  })

/** A list of items for a bulk call: an array of parameter objects. */
export const items = (value: unknown) =>
  Effect.suspend((): Effect.Effect<ReadonlyArray<Record<string, unknown>>, ValidationError> => {
    if (!Array.isArray(value)) {
      return Effect.fail(new ValidationError({ path: "items", detail: `expected an array, got ${describe(value)}` }))
    }
    return Effect.forEach(value, (item, index) => params(item, `items[${index}]`))
  })

/** Short description of a value's type for messages (never the value itself: it may hold personal data). */
export const describe = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : typeof value
