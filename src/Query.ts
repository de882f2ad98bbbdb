/**
 * PHP `http_build_query` encoding for the command strings of a `batch` call.
 *
 * The portal reads each command as `parse_url` + `parse_str` (`CRestProvider::methodsBatch`), so nested params
 * travel as `filter%5B%3EID%5D=5&select%5B0%5D=ID`, keys and values percent-encoded exactly as PHP's
 * `urlencode` does (RFC 1738: a space is `+`, only `A-Z a-z 0-9 - _ .` stay as they are).
 *
 * What cannot travel is refused with a `ValidationError` naming the offending path, never dropped silently:
 * `null`, `undefined`, functions, symbols, NaN and the infinities, and empty arrays or objects (PHP leaves
 * them out of the query, so `filter: { "@ID": [] }` would reach the portal as no filter at all and widen the
 * query to every row).
 *
 * `$result[...]` references: the portal substitutes them in the values *after* `parse_str` has decoded them
 * (`CRestUtil::ParseBatchQuery` runs `parse_str`, then `processBatchStructure`), so a reference is encoded like
 * any other string (`%24result%5Bc0%5D%5B49%5D%5BID%5D`) and arrives intact. That is the simplest correct
 * encoding: nothing is written raw. Build references with {@link reference}; a plain string that looks like
 * one is substituted by the portal just the same (the portal offers no escape for it).
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { ValidationError } from "./BitrixError.js"
import { decimal, urlencode } from "./internal/phpText.js"

/**
 * @since 0.1.0
 * @category Symbols
 */
export const ReferenceTypeId: unique symbol = Symbol.for("effect-bitrix24/Query/Reference")

/**
 * @since 0.1.0
 * @category Symbols
 */
export type ReferenceTypeId = typeof ReferenceTypeId

/**
 * Which map of an earlier command's output a reference reads (`$result`, `$next`, `$total`, `$time`, `$error`).
 *
 * @since 0.1.0
 * @category Models
 */
export type ReferenceSource = "result" | "next" | "total" | "time" | "error"

/**
 * A batch reference to the output of an earlier command, e.g. `$result[c0][49][ID]`, so one batch can chain
 * keyset pages or use an ID created by an earlier command.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Reference {
  readonly [ReferenceTypeId]: ReferenceTypeId
  /** The expression as the portal reads it: `$result[c0][49][ID]`. */
  readonly expression: string
}

/**
 * Builds a reference to an earlier command's output: `reference("result", "c0", 49, "ID")` is
 * `$result[c0][49][ID]`. When the portal cannot walk the whole path it uses the deepest value it found
 * (the whole `c0` result when `c0` returned fewer than 50 rows), so guard keyset chains accordingly.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const reference = (
  source: ReferenceSource,
  label: string,
  ...path: ReadonlyArray<string | number>
): Reference => ({
  [ReferenceTypeId]: ReferenceTypeId,
  expression: `$${source}[${label}]${path.map((segment) => `[${segment}]`).join("")}`
})

/**
 * Whether a value is a batch {@link Reference}.
 *
 * @since 0.1.0
 * @category Guards
 */
export const isReference = (value: unknown): value is Reference =>
  typeof value === "object" && value !== null && ReferenceTypeId in value

// The portal's substitution regex is `\$(result|next|total|time|error)([^\s]*)` walked as `[key]` segments:
// whitespace ends the expression and a bracket inside a segment splits it.
const referencePattern = /^\$(result|next|total|time|error)(\[[^[\]\s]+\])+$/

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** `params.fields.TITLE`, `params.select[0]`, `params.filter[">ID"]`: a readable path for error messages. */
const childPath = (path: string, key: string | number): string =>
  typeof key === "number" ? `${path}[${key}]` : identifier.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`

const describe = (value: unknown): string => {
  if (value === null) return "null"
  if (Array.isArray(value)) return "an array"
  if (value instanceof Map) return "a Map"
  if (value instanceof Set) return "a Set"
  if (typeof value === "number") return String(value)
  return typeof value === "object" ? "an object" : `a ${typeof value}`
}

const fail = (path: string, detail: string, suggestion: string) => new ValidationError({ path, detail, suggestion })

const callRawHint = "null cannot travel in a batch query string; use callRaw"

/** Where a value sits, as a readable path (computed only for an error). */
type Where = Pending | string | (() => string)

const pathText = (where: Where): string =>
  typeof where === "string" ? where : typeof where === "function" ? where() : pathOf(where)

/** One scalar as its query-string text, or the reason it cannot travel. */
const scalarText = (value: unknown, where: Where): string | ValidationError => {
  switch (typeof value) {
    case "string":
      return value
    case "number":
      return Number.isFinite(value)
        ? decimal(value)
        : fail(pathText(where), `${value} is not a finite number`, "Send a finite number, or leave the key out.")
    case "bigint":
      return value.toString()
    case "boolean":
      // CRM flag fields (OPENED, IS_RETURN_CUSTOMER, …) expect "Y"/"N"; PHP's own 1/0 would not read as a flag.
      // Methods that filter booleans as 1/0 (crm.item.list user fields) need the number passed explicitly.
      return value ? "Y" : "N"
    case "undefined":
      return fail(pathText(where), "the value is undefined", `Leave the key out; to send an empty value, ${callRawHint}.`)
    case "function":
    case "symbol":
      return fail(pathText(where), `${describe(value)} cannot be sent`, "Pass data only: strings, numbers, booleans, dates, arrays, objects.")
    default:
      return fail(pathText(where), "null cannot be sent", callRawHint)
  }
}

/**
 * A value waiting to be encoded under its raw PHP key, with its bracket depth. Its readable path (for errors only)
 * is worked out from its parent when a problem needs it, not for every value.
 */
interface Pending {
  readonly value: unknown
  readonly key: string
  readonly depth: number
  readonly parent: Pending | undefined
  /** The key under the parent; the root's readable path when there is no parent. */
  readonly name: string | number
}

const pathOf = (pending: Pending): string =>
  pending.parent === undefined ? String(pending.name) : childPath(pathOf(pending.parent), pending.name)

// Well inside PHP's max_input_nesting_level (64); also stops self-referencing params
const maxDepth = 32

/**
 * Appends `key=value` pairs for `value` under the raw PHP key `key` (`filter[>ID]`); returns the first problem.
 * Iterative over a work stack so deeply nested params cannot overflow the call stack.
 */
const appendPairs = (
  root: { readonly value: unknown; readonly key: string; readonly path: string },
  pairs: Array<string>
): ValidationError | undefined => {
  const stack: Array<Pending> = [{ value: root.value, key: root.key, depth: 0, parent: undefined, name: root.path }]
  while (stack.length > 0) {
    const pending = stack.pop()!
    const { depth, key, value } = pending
    if (typeof value === "object" && value !== null) {
      if (isReference(value)) {
        if (!referencePattern.test(value.expression)) {
          return fail(
            pathOf(pending),
            `${JSON.stringify(value.expression)} is not a reference the portal can resolve`,
            "Labels and path segments must be non-empty, without spaces or brackets."
          )
        }
        const pair = encodePair(key, value.expression, pending)
        if (typeof pair !== "string") return pair
        pairs.push(pair)
        continue
      }
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) return fail(pathOf(pending), "the date is invalid", "Pass a valid Date or an ISO string.")
        const pair = encodePair(key, value.toISOString(), pending)
        if (typeof pair !== "string") return pair
        pairs.push(pair)
        continue
      }
      if (value instanceof Map || value instanceof Set) {
        return fail(pathOf(pending), `${describe(value)} has no query-string form`, "Convert it to a plain object or an array.")
      }
      if (depth >= maxDepth) {
        return fail(
          pathOf(pending),
          `the params nest deeper than ${maxDepth} levels (or refer to themselves)`,
          "PHP drops variables nested past max_input_nesting_level; flatten the structure."
        )
      }
      const keys: ReadonlyArray<string | number> = Array.isArray(value) ? Array.from(value, (_, index) => index) : Object.keys(value)
      if (keys.length === 0) {
        return fail(
          pathOf(pending),
          `${describe(value)} is empty, and PHP's http_build_query leaves empty arrays out, so the key would not reach the portal (an empty filter list widens the query)`,
          "Leave the key out, or send a non-empty value."
        )
      }
      const children: Array<Pending> = []
      for (const childKey of keys) {
        const child: Pending = { value: (value as Record<string | number, unknown>)[childKey], key: `${key}[${childKey}]`, depth: depth + 1, parent: pending, name: childKey }
        if (typeof childKey === "string") {
          const problem = checkKey(childKey, child, false)
          if (problem !== undefined) return problem
        }
        children.push(child)
      }
      // the stack pops from the end: push in reverse so pairs keep the input's key order
      for (let index = children.length - 1; index >= 0; index--) stack.push(children[index]!)
      continue
    }
    const text = scalarText(value, pending)
    if (typeof text !== "string") return text
    const pair = encodePair(key, text, pending)
    if (typeof pair !== "string") return pair
    pairs.push(pair)
  }
  return undefined
}

/** One `key=value` pair; `encodeURIComponent` throws on a lone UTF-16 surrogate, reported at its path. */
const encodePair = (key: string, text: string, where: Where): string | ValidationError => {
  try {
    return `${urlencode(key)}=${urlencode(text)}`
  } catch (error) {
    if (error instanceof URIError) {
      return fail(pathText(where), "a string holds a lone UTF-16 surrogate and has no UTF-8 form", "Fix the text: it is not valid Unicode.")
    }
    throw error
  }
}

/** A key PHP's parse_str would read back differently is refused rather than sent mangled. */
const checkKey = (key: string, where: Where, topLevel: boolean): ValidationError | undefined => {
  if (key === "") return fail(pathText(where), "a key is empty", "parse_str would read an empty key as an append or drop it; name the key.")
  if (key.includes("[") || key.includes("]")) {
    return fail(pathText(where), `the key ${JSON.stringify(key)} contains a bracket`, "parse_str reads brackets in a key as nesting; rename the key.")
  }
  if (topLevel && /[. ]/.test(key)) {
    return fail(
      pathText(where),
      `the key ${JSON.stringify(key)} contains "." or " "`,
      'parse_str turns "." and " " in top-level names into "_"; use callRaw to send such a key as JSON.'
    )
  }
  return undefined
}

/**
 * Encodes the params of one batch command as PHP's `http_build_query` would (RFC 1738), with booleans as
 * `Y`/`N`, numbers in decimal, dates as ISO strings and {@link Reference}s as their expression. `undefined`
 * params (a method without params) give `""`. `path` names the params in errors (`items[3]`).
 *
 * @since 0.1.0
 * @category Encoding
 */
export const encode = (params: unknown, path: string = "params"): Either.Either<string, ValidationError> => {
  if (params === undefined) return Either.right("")
  if (typeof params !== "object" || params === null || params instanceof Date || isReference(params)) {
    return Either.left(
      fail(path, `expected an object (or a positional array) of parameters, got ${describe(params)}`, "Wrap the value under its parameter name, e.g. { id: 5 }.")
    )
  }
  if (params instanceof Map || params instanceof Set) {
    return Either.left(fail(path, `${describe(params)} has no query-string form`, "Convert it to a plain object."))
  }
  const pairs: Array<string> = []
  const keys: ReadonlyArray<string | number> = Array.isArray(params) ? Array.from(params, (_, index) => index) : Object.keys(params)
  for (const key of keys) {
    const value = (params as Record<string | number, unknown>)[key]
    const name = String(key)
    const where = () => childPath(path, key)
    const keyProblem = checkKey(name, where, true)
    if (keyProblem !== undefined) return Either.left(keyProblem)
    // a scalar at the top (`{ ID: 5 }`, the items of most bulk calls) needs no work stack
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
      const text = scalarText(value, where)
      const pair = typeof text === "string" ? encodePair(name, text, where) : text
      if (typeof pair !== "string") return Either.left(pair)
      pairs.push(pair)
      continue
    }
    const problem = appendPairs({ value, key: name, path: where() }, pairs)
    if (problem !== undefined) return Either.left(problem)
  }
  return Either.right(pairs.join("&"))
}
