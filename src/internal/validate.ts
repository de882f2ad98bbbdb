/**
 * Input checks run before any request. Each returns the first problem as a ValidationError, so bad input never
 * reaches the portal (whose answers to it are often silent: a mistyped filter key widens the query).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { ValidationError } from "../BitrixError.js"
import { decodeGetByIDOptions } from "./options.js"

const methodPattern = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/i
/** The portal's methods whose names have no dot. */
const dotlessMethods = new Set(["profile", "methods", "scope", "events"])

/** A plain object (not null, not an array): the shape params, filters and batch commands must have. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Where a method name stands: the method of a verb (`batch` has its own verb, `callBatch`), or the method of a
 * command inside a batch (the portal refuses a nested `batch`: ERROR_BATCH_METHOD_NOT_ALLOWED).
 */
export type MethodPlace = "verb" | "batchCommand"

/**
 * A method name, checked: it must be dotted words (`crm.deal.list`) or one of the portal's dotless
 * methods, so a webhook URL, a `.json` suffix or a query (`?` `#` `&` `=`, which `parse_url` would split a batch
 * command at) never pass; and never `batch` (see `MethodPlace`).
 */
export const methodName = (name: unknown, path = "method", place: MethodPlace = "verb"): Either.Either<string, ValidationError> => {
  if (typeof name !== "string" || name.trim() === "") {
    return Either.left(new ValidationError({ path, detail: "the method name is empty", suggestion: 'Pass a name like "crm.deal.list".' }))
  }
  if (name.toLowerCase() === "batch") {
    return Either.left(place === "verb"
      ? new ValidationError({
          path,
          detail: "batch cannot be called through call",
          suggestion: "Use callBatch({ halt, cmd }) for the portal's batch, or call(method, items) for auto-batching."
        })
      : new ValidationError({
          path,
          detail: "a batch cannot contain another batch",
          suggestion: "Put the inner batch's commands into this one (at most 50)."
        }))
  }
  if (!methodPattern.test(name) && !dotlessMethods.has(name.toLowerCase())) {
    return Either.left(
      new ValidationError({
        path,
        detail: `${JSON.stringify(name)} is not a Bitrix method name`,
        suggestion: 'Method names are dotted words such as "crm.deal.list", without the webhook URL or ".json".'
      })
    )
  }
  return Either.right(name)
}

/** A verb's method name (see `methodName`): dotted words (`crm.deal.list`), not `batch` (which has its own verb). */
export const method = (name: unknown): Effect.Effect<string, ValidationError> => Effect.suspend(() => methodName(name))

/** Command labels the portal and PHP read as written: a letter or `_`, then letters, digits and `_`. */
const labelPattern = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * A batch command label, checked. Labels travel as `cmd` keys and inside `$result[label][…]`
 * references: the portal's reference pattern stops at spaces and brackets; PHP turns keys 0..n-1 into a list and
 * JavaScript moves integer-like keys of `cmd` to the front (changing the order the commands run in); and
 * `__proto__` would not stay an own key of a plain object.
 */
export const commandLabel = (label: string, path: string): Either.Either<string, ValidationError> => {
  const detail =
    label === ""
      ? "a command label is empty"
      : /^\d+$/.test(label)
        ? `the label ${JSON.stringify(label)} is all digits`
        : label === "__proto__"
          ? `the label ${JSON.stringify(label)} is reserved`
          : labelPattern.test(label)
            ? undefined
            : `the label ${JSON.stringify(label)} must start with a letter or _ and hold only letters, digits and _`
  return detail === undefined
    ? Either.right(label)
    : Either.left(
        new ValidationError({
          path,
          detail,
          suggestion: "Use names like c1, deal_1; numeric labels turn the portal's result maps into lists."
        })
      )
}

/** The number of commands of one caller-built batch, checked: at most `max` (the portal runs 50). */
export const batchLength = (count: number, max: number, path: string): Either.Either<number, ValidationError> =>
  count <= max
    ? Either.right(count)
    : Either.left(
        new ValidationError({
          path,
          detail: `${count} commands; the portal runs at most ${max} in one batch`,
          suggestion: "Split the batch (references cannot cross batches), or use call(method, items), which batches for you."
        })
      )

/** Keys whose value the portal reads as a structure; a wrong type is silently ignored by some methods. */
const structuredKeys: ReadonlyArray<{ readonly key: string; readonly kind: "object" | "array"; readonly hint: string }> = [
  { key: "filter", kind: "object", hint: 'e.g. filter: { ">ID": 5, STAGE_ID: "WON" }' },
  { key: "order", kind: "object", hint: 'e.g. order: { ID: "ASC" }' },
  { key: "select", kind: "array", hint: 'e.g. select: ["ID", "TITLE"]' },
  { key: "fields", kind: "object", hint: 'e.g. fields: { TITLE: "New deal" }' }
]

/**
 * The problem with the params of one call, if any: not an object; `filter` / `order` / `fields` not objects, `select`
 * not an array of strings; upper- and lower-case twins of one key (the portal reads one of them, the other would be
 * dropped). `path` is worked out only for a problem (a bulk call checks 100,000 items).
 */
const paramsProblem = (value: unknown, path: () => string): ValidationError | undefined => {
  if (value === undefined) return undefined
  if (!isRecord(value)) {
    return new ValidationError({
      path: path(),
      detail: `expected an object of parameters, got ${describe(value)}`,
      suggestion: "Positional parameters (arrays) are only accepted by callRaw."
    })
  }
  const keys = Object.keys(value)
  // one key cannot have a twin, and is a structured key only if spelled as one (the common `{ ID: 5 }` item)
  let seen: Map<string, string> | undefined
  if (keys.length > 1) {
    seen = new Map<string, string>()
    for (const key of keys) {
      const folded = key.toLowerCase()
      const twin = seen.get(folded)
      if (twin !== undefined) {
        return new ValidationError({
          path: `${path()}.${key}`,
          detail: `both ${JSON.stringify(twin)} and ${JSON.stringify(key)} are given; the portal reads only one of them`,
          suggestion: `Keep one spelling of ${JSON.stringify(folded)}.`
        })
      }
      seen.set(folded, key)
    }
  }
  for (const { key, kind, hint } of structuredKeys) {
    const actual = seen === undefined ? (keys[0]?.toLowerCase() === key ? keys[0] : undefined) : seen.get(key)
    if (actual === undefined) continue
    const entry = value[actual]
    const ok =
      kind === "object"
        ? isRecord(entry)
        : Array.isArray(entry) && entry.every((field) => typeof field === "string" && field !== "")
    if (!ok) {
      return new ValidationError({
        path: `${path()}.${actual}`,
        detail:
          kind === "object"
            ? `${actual} must be an object, got ${describe(entry)}`
            : `${actual} must be an array of field names, got ${describe(entry)}`,
        suggestion: hint
      })
    }
  }
  return undefined
}

/**
 * Checks the params of one call: an object; `filter` / `order` / `fields` objects, `select` an array of strings;
 * no upper- and lower-case twins of one key (the portal reads one of them, the other would be dropped).
 */
export const params = (value: unknown, path = "params") =>
  Effect.suspend((): Effect.Effect<Record<string, unknown>, ValidationError> => {
    const problem = paramsProblem(value, () => path)
    return problem !== undefined ? Effect.fail(problem) : Effect.succeed(isRecord(value) ? value : {})
  })

/** A list of items for a bulk call: an array of parameter objects. */
export const items = (value: unknown) =>
  Effect.suspend((): Effect.Effect<ReadonlyArray<Record<string, unknown>>, ValidationError> => {
    if (!Array.isArray(value)) {
      return Effect.fail(new ValidationError({ path: "items", detail: `expected an array, got ${describe(value)}` }))
    }
    const checked: Array<Record<string, unknown>> = new Array(value.length)
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index]
      const problem = paramsProblem(item, () => `items[${index}]`)
      if (problem !== undefined) return Effect.fail(problem)
      checked[index] = isRecord(item) ? item : {}
    }
    return Effect.succeed(checked)
  })

/** Short description of a value's type for messages (never the value itself: it may hold personal data). */
export const describe = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : typeof value

/**
 * Which wire a value travels on:
 * - `json`: a JSON body (`call` with params, `callRaw`): `null` travels, a bigint or a batch reference does not;
 * - `query`: the query string of a batch command (bulk `call`, `callEither`, `callBatch`, `getByID`): a bigint and
 *   a batch reference travel, `null` does not;
 * - `both`: a list export, whose params travel as JSON and inside batches (`getAll`, `stream`).
 */
export type Wire = "json" | "query" | "both"

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** `params.filter.ASSIGNED_BY_ID`, `params.select[0]`, `params.filter[">ID"]`: a readable path for messages. */
export const childPath = (path: string, key: string | number): string =>
  typeof key === "number" ? `${path}[${key}]` : identifier.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`

const referenceTypeId = Symbol.for("effect-bitrix24/Query/Reference")
const loneSurrogate = /[\uD800-\uDFFF]/u
/** Deeper than any Bitrix parameter needs; far inside PHP's `json_decode` depth of 512. */
const maxWireDepth = 64
const dataOnly = "Pass data only: strings, numbers, booleans, null, dates, arrays and plain objects."

const refuse = (path: string, detail: string, suggestion: string) => new ValidationError({ path, detail, suggestion })

/**
 * Finds the first value in `value` that `wire` cannot carry as it is, and names its path: `undefined` and array
 * holes (JSON drops the key, widening a filter), functions and symbols (dropped), symbol keys (dropped), NaN and
 * the infinities (JSON sends `null`), invalid dates, bigints on JSON (`JSON.stringify` throws), `null` in a batch
 * query string, cycles, lone surrogates (not UTF-8), and objects that are not plain data (a `Map` travels as `{}`).
 */
export const wireProblem = (value: unknown, path: string, wire: Wire): ValidationError | undefined => {
  // the objects on the way down, for cycles (an array: the depth is at most 64)
  const ancestors: Array<object> = []
  const visit = (current: unknown, where: Where, depth: number): ValidationError | undefined => {
    switch (typeof current) {
      case "string":
        return loneSurrogate.test(current)
          ? refuse(pathOf(where), "the string holds a lone UTF-16 surrogate, which has no UTF-8 form", "Repair or drop the broken character.")
          : undefined
      case "boolean":
        return undefined
      case "number":
        return Number.isFinite(current)
          ? undefined
          : refuse(pathOf(where), `${current} is not a finite number (JSON would send null)`, "Send a finite number, or leave the key out.")
      case "bigint":
        return wire === "query"
          ? undefined
          : refuse(pathOf(where), "a bigint cannot be sent as JSON", "Pass it as a string (String(value)) or a number.")
      case "undefined":
        return refuse(
          pathOf(where),
          "the value is undefined, and JSON drops the key (an unset filter value would widen the query)",
          "Leave the key out, or check the variable that should have set it."
        )
      case "function":
      case "symbol":
        return refuse(pathOf(where), `a ${typeof current} cannot be sent`, dataOnly)
    }
    if (current === null) {
      return wire === "json"
        ? undefined
        : refuse(
            pathOf(where),
            "null cannot travel in a batch query string",
            wire === "both"
              ? "Leave the key out; list exports send their params in batches. Use callRaw for one page with null."
              : "Leave the key out, or send this call alone with callRaw."
          )
    }
    const object = current as object
    if (referenceTypeId in object) {
      return wire === "query"
        ? undefined
        : refuse(pathOf(where), "a batch reference only resolves inside a batch", "Use it in callBatch or a bulk call, or pass the value itself.")
    }
    if (object instanceof Date) {
      return Number.isNaN(object.getTime()) ? refuse(pathOf(where), "the date is invalid", "Pass a valid Date or an ISO string.") : undefined
    }
    const prototype: unknown = Object.getPrototypeOf(object)
    const isArray = Array.isArray(object)
    if (!isArray && prototype !== Object.prototype && prototype !== null) {
      const name = (object as { readonly constructor?: { readonly name?: unknown } }).constructor?.name
      return refuse(
        pathOf(where),
        `${typeof name === "string" && name !== "" ? `a ${name}` : "an object that is not plain data"} cannot be sent as it is`,
        "Convert it to a plain object, an array, a string or a number."
      )
    }
    if (ancestors.includes(object)) return refuse(pathOf(where), "the params refer to themselves (a cycle)", "Pass a tree of plain data.")
    if (depth >= maxWireDepth) {
      return refuse(pathOf(where), `the params nest deeper than ${maxWireDepth} levels`, "Flatten the structure.")
    }
    if (Object.getOwnPropertySymbols(object).some((key) => Object.prototype.propertyIsEnumerable.call(object, key))) {
      return refuse(pathOf(where), "an object with symbol keys cannot be sent (JSON drops them)", dataOnly)
    }
    ancestors.push(object)
    try {
      if (isArray) {
        const array = object as ReadonlyArray<unknown>
        for (let index = 0; index < array.length; index++) {
          const problem = visit(array[index], { parent: where, key: index }, depth + 1)
          if (problem !== undefined) return problem
        }
        return undefined
      }
      for (const key of Object.keys(object)) {
        const problem = visit((object as Record<string, unknown>)[key], { parent: where, key }, depth + 1)
        if (problem !== undefined) return problem
      }
      return undefined
    } finally {
      ancestors.pop()
    }
  }
  return visit(value, path, 0)
}

/** Where a value sits: the root's path, or a key under its parent; the readable path is built only for an error. */
type Where = string | { readonly parent: Where; readonly key: string | number }

const pathOf = (where: Where): string => (typeof where === "string" ? where : childPath(pathOf(where.parent), where.key))

/**
 * Fails with a `ValidationError` naming the first value `wire` cannot carry (see {@link wireProblem}), before
 * anything is sent.
 */
export const wire = (value: unknown, path: string, wire: Wire): Effect.Effect<void, ValidationError> =>
  Effect.suspend(() => {
    const problem = wireProblem(value, path, wire)
    return problem === undefined ? Effect.void : Effect.fail(problem)
  })

/** The problem with an options argument: not `undefined` nor a plain object, or a key not in `known`. */
export const optionsProblem = (value: unknown, path: string, known?: ReadonlyArray<string>): ValidationError | undefined => {
  if (value === undefined) return undefined
  if (!isRecord(value)) return new ValidationError({ path, detail: `expected an object of options, got ${describe(value)}` })
  if (known === undefined) return undefined
  const unknown = Object.keys(value).find((key) => !known.includes(key))
  return unknown === undefined
    ? undefined
    : new ValidationError({
        path: childPath(path, unknown),
        detail: `${JSON.stringify(unknown)} is not an option here`,
        suggestion: `The options are ${known.join(", ")}.`
      })
}

/** Fails unless `value` is `undefined` or a plain object whose keys are all in `known`. */
export const optionsObject = (value: unknown, path: string, known?: ReadonlyArray<string>): Effect.Effect<void, ValidationError> =>
  Effect.suspend(() => {
    const problem = optionsProblem(value, path, known)
    return problem === undefined ? Effect.void : Effect.fail(problem)
  })

/** The items of a bulk call travel in batch query strings: each is checked as such (`items[3].filter.X`). */
export const wireItems = (items: ReadonlyArray<unknown>): Effect.Effect<void, ValidationError> =>
  Effect.suspend(() => {
    for (let index = 0; index < items.length; index++) {
      const problem = wireProblem(items[index], `items[${index}]`, "query")
      if (problem !== undefined) return Effect.fail(problem)
    }
    return Effect.void
  })

/**
 * The argument of `callBatch`: `{ halt?: boolean, cmd: { label: "method?query" | { method, params? } } }`, with
 * every command's params checked for the batch query string.
 */
export const batch = (value: unknown): Effect.Effect<void, ValidationError> =>
  Effect.gen(function* () {
    if (!isRecord(value)) {
      return yield* Effect.fail(
        new ValidationError({
          path: "batch",
          detail: `expected { halt?, cmd }, got ${describe(value)}`,
          suggestion: 'e.g. callBatch({ cmd: { one: "crm.deal.get?ID=1" } })'
        })
      )
    }
    yield* optionsObject(value, "batch", ["halt", "cmd"])
    if (value["halt"] !== undefined && typeof value["halt"] !== "boolean") {
      return yield* Effect.fail(
        new ValidationError({ path: "halt", detail: `must be true or false, got ${describe(value["halt"])}` })
      )
    }
    const cmd = value["cmd"]
    if (!isRecord(cmd)) {
      return yield* Effect.fail(
        new ValidationError({
          path: "cmd",
          detail: `expected an object of labelled commands, got ${describe(cmd)}`,
          suggestion: 'e.g. cmd: { one: "crm.deal.get?ID=1", two: { method: "crm.deal.get", params: { ID: 2 } } }'
        })
      )
    }
    for (const [label, command] of Object.entries(cmd)) {
      const path = childPath("cmd", label)
      if (typeof command === "string") continue
      if (!isRecord(command)) {
        return yield* Effect.fail(
          new ValidationError({
            path,
            detail: `a command must be "method?query" or { method, params }, got ${describe(command)}`
          })
        )
      }
      yield* optionsObject(command, path, ["method", "params"])
      yield* wire(command["params"], `${path}.params`, "query")
    }
  })

/** The options of `getByID`: `{ idField?: non-empty string, params?: object }`. */
export const getByIDOptions = (value: unknown): Effect.Effect<void, ValidationError> =>
  Effect.suspend(() => Either.match(decodeGetByIDOptions(value), { onLeft: Effect.fail, onRight: () => Effect.void }))
