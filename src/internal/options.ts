/**
 * The options of `createClient` and of every layer, decoded by one Schema: the messages users see for bad options
 * (the option's path, what it must be, a suggestion, never a secret), and which entry point takes which option.
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as AST from "effect/SchemaAST"
import * as Schema from "effect/Schema"
import { resolveLimits } from "../BitrixConfig.js"
import { ValidationError } from "../BitrixError.js"
import * as StoreUrl from "./limiterStoreUrl.js"

/** What a field must be, phrased to follow "must be": read by {@link decodeOptions} for its messages. */
const ExpectedId: unique symbol = Symbol.for("effect-bitrix24/BitrixConfig/Expected")
/** What to do about a bad value. */
const SuggestionId: unique symbol = Symbol.for("effect-bitrix24/BitrixConfig/Suggestion")
/** A field whose value may be a secret: messages name its type, never its value. */
const SecretId: unique symbol = Symbol.for("effect-bitrix24/BitrixConfig/Secret")

const described = <S extends Schema.Schema.Any>(
  schema: S,
  expected: string,
  suggestion?: string,
  secret = false
): S =>
  schema.annotations({
    [ExpectedId]: expected,
    ...(suggestion === undefined ? {} : { [SuggestionId]: suggestion }),
    ...(secret ? { [SecretId]: true } : {})
  }) as S

const positiveNumber = Schema.Number.pipe(Schema.filter((value) => Number.isFinite(value) && value > 0))
const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  Schema.Number.pipe(Schema.filter((value) => Number.isInteger(value) && value >= min && value <= max))

/** Commands per batch: the portal runs at most 50 (`CRestUtil::BATCH_MAX_LENGTH`). */
const batchSizeSchema = described(
  wholeNumber(1, 50),
  "a whole number from 1 to 50",
  "The portal runs at most 50 commands per batch; leave batchSize out for 50."
)

const limitsText = `"standard", "enterprise", "off" or { poolSize, requestsPerSecond, operatingLimitSeconds, operatingWindowSeconds }`

const LimitNumbersSchema = Schema.Struct({
  poolSize: described(positiveNumber, "a positive number", "The portal's bucket holds 50 requests (Enterprise 250)."),
  requestsPerSecond: described(positiveNumber, "a positive number", "The bucket drains 2 requests per second (Enterprise 5)."),
  operatingLimitSeconds: described(positiveNumber, "a positive number", "The portal allows 480 s per method in its window."),
  operatingWindowSeconds: described(positiveNumber, "a positive number", "The portal's operating window is 600 s.")
})

const LimitsSchema = described(
  Schema.Union(Schema.Literal("standard", "enterprise", "off"), LimitNumbersSchema),
  limitsText,
  'Use a preset ("standard" for most plans) or explicit numbers.'
)

const SecretSchema = (name: string, suggestion: string) =>
  described(
    Schema.Union(Schema.String, Schema.RedactedFromSelf(Schema.String)),
    `${name}: a string or a Redacted string`,
    suggestion,
    true
  )

const functionSchema = <F>(name: string) =>
  Schema.declare((value: unknown): value is F => typeof value === "function", { identifier: name })

const isProgressReporter = (value: unknown): boolean =>
  typeof value === "object" &&
  value !== null &&
  ["start", "advance", "setTotal", "finish"].every((key) => typeof (value as Record<string, unknown>)[key] === "function")

/**
 * Every option of `createClient` and of the layers (`Bitrix.layer`, `layerFetch`, `layerServices`,
 * `layerConfig`): one Schema, so each entry point checks the same things with the same messages. Unknown keys
 * are refused (a misspelt option would otherwise be ignored silently). The webhook URL's form and the OAuth
 * values' emptiness are checked by `Auth`, which knows how to word them without revealing the secret.
 */
export const OptionsSchema = Schema.Struct({
  limits: Schema.optional(LimitsSchema),
  batchSize: Schema.optional(batchSizeSchema),
  retry: Schema.optional(
    described(
      Schema.declare((value: unknown): value is Schedule.Schedule<unknown, unknown> => Schedule.isSchedule(value), {
        identifier: "Schedule"
      }),
      "a Schedule",
      'e.g. Schedule.exponential("500 millis").pipe(Schedule.intersect(Schedule.recurs(5)))'
    )
  ),
  maxConcurrent: Schema.optional(
    described(wholeNumber(1), "a whole number >= 1", "It caps the requests in flight; leave it out for the limits' own ceiling.")
  ),
  bucketHeadroom: Schema.optional(
    described(wholeNumber(0), "a whole number >= 0", "Bucket slots left unused; the default is 2.")
  ),
  timeout: Schema.optional(
    described(
      Schema.declare(
        (value: unknown): value is Duration.DurationInput =>
          Option.match(Duration.decodeUnknown(value), { onNone: () => false, onSome: (duration) => Duration.greaterThan(duration, Duration.zero) }),
        { identifier: "DurationInput" }
      ),
      "a positive duration",
      'e.g. "30 seconds", Duration.seconds(30) or 30000 (milliseconds).'
    )
  ),
  webhook: Schema.optionalWith(
    SecretSchema("the inbound webhook URL", "Is the variable that holds it set? e.g. https://your-portal.bitrix24.com/rest/1/<code>/"),
    { exact: true }
  ),
  oauth: Schema.optionalWith(
    described(
      Schema.Struct({
        restUrl: described(Schema.String, "the portal's client_endpoint, a string", "e.g. https://your-portal.bitrix24.com/rest/"),
        accessToken: SecretSchema("the access token", "Pass the access_token the app received."),
        refreshToken: SecretSchema("the refresh token", "Pass the refresh_token the app received."),
        clientId: described(Schema.String, "the app's client_id, a string"),
        clientSecret: SecretSchema("the app's client_secret", "Pass the client_secret of the app."),
        tokenUrl: Schema.optional(described(Schema.String, "the token server's URL, a string")),
        onTokens: Schema.optional(described(functionSchema<(tokens: never) => unknown>("Function"), "a function"))
      }),
      "an object { restUrl, accessToken, refreshToken, clientId, clientSecret }"
    ),
    { exact: true }
  ),
  network: Schema.optional(
    described(
      Schema.Struct({
        ca: Schema.optional(described(Schema.String, "PEM text, a string", "Read the CA file: fs.readFileSync(path, \"utf8\").")),
        dangerouslyAcceptAnyCertificate: Schema.optional(described(Schema.Boolean, "true or false")),
        proxy: Schema.optional(
          described(Schema.Union(Schema.String, Schema.Literal(false)), "a proxy URL, or false to ignore HTTPS_PROXY / HTTP_PROXY")
        )
      }),
      "an object { ca?, dangerouslyAcceptAnyCertificate?, proxy? }"
    )
  ),
  limiterStore: Schema.optional(
    described(
      Schema.Union(
        Schema.String.pipe(Schema.filter((url) => Either.isRight(StoreUrl.parseEither(url)))),
        Schema.RedactedFromSelf(Schema.String).pipe(Schema.filter((url) => Either.isRight(StoreUrl.parseEither(url)))),
        Schema.declare((value: unknown): value is Layer.Layer<never, unknown> => Layer.isLayer(value), { identifier: "Layer" })
      ),
      `a limiter store: ${StoreUrl.forms}, or a RateLimiterStore layer`,
      "Processes that share a portal share its limits through one store: redis://… across machines, file:PATH on one.",
      true
    )
  ),
  limiterEgress: Schema.optional(
    described(
      Schema.String.pipe(Schema.filter((label) => label.trim() !== "")),
      "a non-empty string",
      "One label per address the requests leave from: the portal keeps one bucket per source address."
    )
  ),
  progress: Schema.optional(
    described(
      Schema.Union(
        Schema.Boolean,
        Schema.declare((value: unknown): value is ProgressService => isProgressReporter(value), { identifier: "ProgressReporter" })
      ),
      "true, false or a ProgressReporter { start, advance, setTotal, finish }"
    )
  )
})

/** The shape `progress` must have (the `ProgressReporter.Service` interface, without importing it here). */
interface ProgressService {
  readonly start: (...args: never) => unknown
  readonly advance: (...args: never) => unknown
  readonly setTotal: (...args: never) => unknown
  readonly finish: (...args: never) => unknown
}

/**
 * Options as decoded by {@link OptionsSchema}.
 */
export type DecodedOptions = typeof OptionsSchema.Type

/**
 * Which entry point decodes: `client` (`createClient`: a connection required, `network` and `progress` allowed),
 * `fetch` (`layerFetch`, `layerConfig`: a connection required, `network` allowed), `layer` (`Bitrix.layer`: a
 * connection required; the `HttpClient` is the caller's), `services` (`layerServices`: the services but the
 * transport, so neither a connection nor the transport's `timeout` and `retry`).
 */
export type OptionsEntry = "client" | "fetch" | "layer" | "services"

const optionKeys = Object.keys(OptionsSchema.fields)
const decodeEither = Schema.decodeUnknownEither(OptionsSchema, { onExcessProperty: "error", errors: "first" })

/** Shows a bad value in a message: numbers and short strings as they are, other values by their type only. */
const show = (value: unknown, secret: boolean): string => {
  if (secret || value === null || value === undefined) return value === null ? "null" : secret ? describeType(value) : "undefined"
  if (typeof value === "number") return String(value)
  // a URL or a long string may hold a secret pasted in the wrong place: name its type only
  if (typeof value === "string") return value.length <= 24 && !/[/:@]/.test(value) ? JSON.stringify(value) : "a string"
  if (typeof value === "boolean") return String(value)
  return describeType(value)
}

const describeType = (value: unknown): string =>
  value === undefined
    ? "undefined"
    : value === null
      ? "null"
      : Array.isArray(value)
        ? "an array"
        : typeof value === "object"
          ? "an object"
          : typeof value === "string"
            ? "a string"
            : `a ${typeof value}`

interface Problem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly expected: string | undefined
  readonly suggestion: string | undefined
  readonly secret: boolean
  readonly actual: unknown
  readonly missing: boolean
  readonly unexpected: boolean
}

/** Walks to the first leaf of a parse issue, keeping the path and the innermost field's annotations. */
const firstProblem = (issue: ParseResult.ParseIssue, outer: Problem): Problem => {
  const annotated = (ast: AST.AST, actual: unknown): Problem => {
    const expected = AST.getAnnotation<string>(ast, ExpectedId)
    if (Option.isNone(expected)) return outer
    return {
      ...outer,
      expected: expected.value,
      suggestion: Option.getOrUndefined(AST.getAnnotation<string>(ast, SuggestionId)),
      secret: outer.secret || Option.isSome(AST.getAnnotation<boolean>(ast, SecretId)),
      actual
    }
  }
  switch (issue._tag) {
    case "Pointer": {
      const segments = Array.isArray(issue.path) ? (issue.path as ReadonlyArray<PropertyKey>) : [issue.path as PropertyKey]
      return firstProblem(issue.issue, { ...outer, path: [...outer.path, ...segments], expected: undefined, suggestion: undefined, actual: undefined })
    }
    case "Composite": {
      const here = annotated(issue.ast, issue.actual)
      const issues: ReadonlyArray<ParseResult.ParseIssue> = Array.isArray(issue.issues)
        ? (issue.issues as ReadonlyArray<ParseResult.ParseIssue>)
        : [issue.issues as ParseResult.ParseIssue]
      if (issue.ast._tag === "Union") {
        // the alternative that got furthest names the field at fault (limits: { poolSize: 0 }); when none got
        // past the value itself, the union's own words say more than one alternative's
        const better = (best: Problem, next: Problem) =>
          next.path.length > best.path.length || (next.path.length === best.path.length && best.expected === undefined)
            ? next
            : best
        return issues.map((inner) => firstProblem(inner, here)).reduce(better, here)
      }
      return firstProblem(issues[0]!, here)
    }
    case "Refinement":
    case "Transformation": {
      const here = annotated(issue.ast, issue.actual)
      return here.expected !== undefined ? here : firstProblem(issue.issue, here)
    }
    case "Type":
    case "Forbidden":
      return annotated(issue.ast, issue.actual)
    case "Missing":
      return { ...annotated(issue.ast.type, undefined), missing: true }
    case "Unexpected":
      return { ...outer, unexpected: true, actual: issue.actual }
  }
}

/** Where a set of options sits for its messages: the root of the paths, its keys, an example of the whole. */
interface Root {
  readonly path: string
  readonly keys: ReadonlyArray<string>
  readonly example: string
}

const clientRoot: Root = { path: "options", keys: optionKeys, example: "e.g. { webhook: process.env.BITRIX24_WEBHOOK }" }

const toValidationError = (issue: ParseResult.ParseIssue, input: unknown, root: Root): ValidationError => {
  const problem = firstProblem(issue, {
    path: [],
    expected: undefined,
    suggestion: undefined,
    secret: false,
    actual: input,
    missing: false,
    unexpected: false
  })
  const path = [root.path, ...problem.path.map(String)].filter((segment) => segment !== "").join(".")
  if (problem.path.length === 0 && (typeof input !== "object" || input === null || Array.isArray(input))) {
    return new ValidationError({
      path: root.path === "" ? "options" : root.path,
      detail: `expected an object of options, got ${describeType(input)}`,
      suggestion: root.example
    })
  }
  if (problem.unexpected) {
    const key = String(problem.path[problem.path.length - 1])
    return new ValidationError({
      path,
      detail: `${JSON.stringify(key)} is not an option`,
      suggestion: problem.path.length === 1 ? `The options are ${root.keys.join(", ")}.` : "Check its spelling."
    })
  }
  const detail = problem.missing
    ? `is missing; it must be ${problem.expected ?? "given"}`
    : `must be ${problem.expected ?? "valid"}, got ${show(problem.actual, problem.secret)}`
  return new ValidationError({ path, detail, ...(problem.suggestion === undefined ? {} : { suggestion: problem.suggestion }) })
}

/** The connection settings are named without `options.`, as `Auth` names them (`webhook`, `oauth.clientId`). */
const connectionPath = (error: ValidationError): ValidationError =>
  /^options\.(webhook|oauth)(\.|$)/.test(error.path) ? new ValidationError({ ...error, path: error.path.slice("options.".length) }) : error

/**
 * Decodes the options of one entry point with {@link OptionsSchema}; the first problem becomes a
 * `ValidationError` with the path of the option (`options.batchSize`, `options.limits.poolSize`, `webhook`), what
 * it must be, and a suggestion. Secrets are never shown. Never throws.
 */
export const decodeOptions = (input: unknown, entry: OptionsEntry): Either.Either<DecodedOptions, ValidationError> => {
  const decoded = decodeEither(input)
  if (Either.isLeft(decoded)) return Either.left(connectionPath(toValidationError(decoded.left.issue, input, clientRoot)))
  const options = decoded.right
  const has = (key: "webhook" | "oauth") => Object.prototype.hasOwnProperty.call(options, key)
  if (entry !== "services") {
    if (!has("webhook") && !has("oauth")) {
      return Either.left(
        new ValidationError({
          path: "webhook",
          detail: "neither webhook nor oauth is given",
          suggestion: "Pass { webhook: process.env.BITRIX24_WEBHOOK } or { oauth: { … } }."
        })
      )
    }
    if (has("webhook") && has("oauth")) {
      return Either.left(
        new ValidationError({ path: "oauth", detail: "both webhook and oauth are given", suggestion: "Pass one of them." })
      )
    }
  }
  if (entry === "services" && (has("webhook") || has("oauth"))) {
    return Either.left(
      new ValidationError({
        path: has("webhook") ? "webhook" : "oauth",
        detail: "the connection is a setting of the transport, which layerServices does not provide",
        suggestion: "Use Bitrix.layer or layerFetch for the whole client, or provide a Transport beside layerServices."
      })
    )
  }
  if (entry === "services") {
    for (const key of ["retry", "timeout"] as const) {
      if (options[key] !== undefined) {
        return Either.left(
          new ValidationError({
            path: `options.${key}`,
            detail: `${key} is a setting of the transport, which layerServices does not provide`,
            suggestion:
              key === "retry"
                ? "Pass it to Bitrix.layer or Transport.layer, or run the program with Bitrix.withRetry(schedule)."
                : "Pass it to Bitrix.layer or Transport.layer."
          })
        )
      }
    }
  }
  if ((entry === "layer" || entry === "services") && options.network !== undefined) {
    return Either.left(
      new ValidationError({
        path: "options.network",
        detail: "network configures the bundled HTTP client of layerFetch, layerConfig and createClient",
        suggestion: "With Bitrix.layer you provide the HttpClient: set its CA and proxy there, or use layerFetch."
      })
    )
  }
  if (entry !== "client" && options.progress !== undefined) {
    return Either.left(
      new ValidationError({
        path: "options.progress",
        detail: "progress is an option of createClient",
        suggestion: "Provide a ProgressReporter layer (ProgressReporter.layerTerminal()) with the program."
      })
    )
  }
  const limits = resolveLimits(options.limits ?? "standard")
  if (limits !== undefined && options.bucketHeadroom !== undefined && options.bucketHeadroom >= limits.poolSize) {
    return Either.left(
      new ValidationError({
        path: "options.bucketHeadroom",
        detail: `must be less than the bucket size ${limits.poolSize}, got ${options.bucketHeadroom}`,
        suggestion: "Headroom is the few slots left unused for jitter and other apps; the default is 2."
      })
    )
  }
  return Either.right(options)
}

/** Checks explicit limit numbers (as `options.limits`); returns a description of the first problem, or `undefined`. */
export const checkLimits = (limits: unknown): string | undefined => {
  const decoded = decodeOptions({ limits }, "services")
  return Either.isLeft(decoded) ? `${decoded.left.path.replace(/^options\./, "")} ${decoded.left.detail}` : undefined
}

/**
 * A decoder of a smaller set of options (`slow`'s, a list export's) with the same messages as the client's: the
 * option's path under `root` (`slow.maxConcurrent`), what it must be (the fields' `expected` annotations), a
 * suggestion. `undefined` decodes as no options; unknown keys are refused.
 */
export const structDecoder = <A, I>(
  schema: Schema.Schema<A, I, never> & { readonly fields: Schema.Struct.Fields },
  root: string,
  example: string
): ((input: unknown) => Either.Either<A, ValidationError>) => {
  const decode = Schema.decodeUnknownEither(schema, { onExcessProperty: "error", errors: "first" })
  const where: Root = { path: root, keys: Object.keys(schema.fields), example }
  return (input) => {
    const decoded = decode(input === undefined ? {} : input)
    return Either.isLeft(decoded) ? Either.left(toValidationError(decoded.left.issue, input, where)) : Either.right(decoded.right)
  }
}

/** A positive finite number, for option schemas (`described` gives it its words). */
export const positive = (expected: string, suggestion?: string) => described(positiveNumber, expected, suggestion)

/** A whole number in `min..max`, for option schemas. */
export const whole = (min: number, max: number, expected: string, suggestion?: string) =>
  described(wholeNumber(min, max), expected, suggestion)

const strategies = ["auto", "offset", "keyset", "keysetBatch", "ranges"] as const

/** The options of a list export (`getAll`, `stream`, `ListStrategy.stream`): `ListStrategy.Options`. */
export const decodeListOptions = structDecoder(
  Schema.Struct({
    strategy: Schema.optionalWith(
      described(Schema.Literal(...strategies), `one of ${strategies.join(", ")}`, '"auto" (the default) picks the fastest the method allows.'),
      { exact: true }
    ),
    limit: Schema.optionalWith(whole(0, Number.MAX_SAFE_INTEGER, "a whole number >= 0", "At most this many rows are returned."), {
      exact: true
    }),
    concurrency: Schema.optionalWith(whole(1, Number.MAX_SAFE_INTEGER, "a whole number >= 1", "Requests of one export in flight at once; default 50."), {
      exact: true
    }),
    maxPages: Schema.optionalWith(whole(1, Number.MAX_SAFE_INTEGER, "a whole number >= 1", "The most pages of 50 rows the export reads."), {
      exact: true
    })
  }),
  "options",
  'e.g. { strategy: "auto", limit: 1000 }'
)

/** The options of `getByID`: `{ idField?: a non-empty field name, params?: an object }` (params are checked as params). */
export const decodeGetByIDOptions = structDecoder(
  Schema.Struct({
    idField: Schema.optionalWith(
      described(Schema.String.pipe(Schema.filter((name) => name.trim() !== "")), "a non-empty field name", 'e.g. idField: "ID" (the default) or "id".'),
      { exact: true }
    ),
    params: Schema.optionalWith(Schema.Unknown, { exact: true })
  }),
  "options",
  'e.g. { idField: "ID", params: { select: ["ID", "TITLE"] } }'
)

/** The options of the batch planner (`BatchPlanner.make`): `{ batchSize?: 1..50 }`, named `batchSize` in messages. */
export const decodePlannerOptions = structDecoder(
  Schema.Struct({ batchSize: Schema.optionalWith(batchSizeSchema, { exact: true }) }),
  "",
  "e.g. { batchSize: 25 }"
)
