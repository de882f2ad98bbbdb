/**
 * The sync's options: entity names (classic entities and `crm.item:<entityTypeId>`), the run's options checked
 * with their defaults, and the database URL of `--to` / `Sync.layer`.
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { ValidationError } from "../../BitrixError.js"
import type { ClassicEntity, Entity } from "../../Sync.js"

/**
 * The classic entities `run` accepts; smart processes are named `crm.item:<entityTypeId>` besides them.
 */
export const entities: ReadonlyArray<ClassicEntity> = ["crm.deal", "crm.contact", "crm.company", "crm.lead"]

/** `crm.item:` then an entityTypeId: a whole number from 1, no leading zero, within PHP's int32. */
const smartProcessPattern = /^crm\.item:([1-9]\d{0,9})$/

const maxEntityTypeId = 2_147_483_647

/** What is wrong with an entity name, in a sentence. */
const entityProblem = (actual: unknown): string =>
  typeof actual === "string" && /^crm\.item(:|$)/i.test(actual)
    ? `${JSON.stringify(actual)} names no smart process: the entityTypeId after crm.item: must be a whole number from 1`
    : `unknown entity ${JSON.stringify(actual)}`

const entitySuggestion = `Use ${entities.join(", ")} or crm.item:<entityTypeId> (e.g. crm.item:1032).`

/**
 * An entity's name: one of {@link entities}, or `crm.item:<entityTypeId>` with a whole entityTypeId from 1.
 */
export const EntitySchema: Schema.Schema<Entity> = Schema.Union(
  Schema.Literal(...entities),
  Schema.TemplateLiteral(Schema.Literal("crm.item:"), Schema.Number).pipe(
    Schema.filter((name) => {
      const match = smartProcessPattern.exec(name)
      return match !== null && Number(match[1]) <= maxEntityTypeId
    })
  )
).annotations({
  identifier: "Entity",
  message: (issue) => ({ message: entityProblem(issue.actual), override: true })
})

/**
 * Checks one entity's name (the CLI's positional, a config value): a `ValidationError` says what is wrong.
 */
export const decodeEntity = (name: unknown): Either.Either<Entity, ValidationError> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(EntitySchema)(name),
    () => new ValidationError({ path: "entity", detail: entityProblem(name), suggestion: entitySuggestion })
  )

/**
 * The entityTypeId of a smart process entity (`crm.item:1032` → 1032), or `undefined` for a classic one.
 */
export const entityTypeIdOf = (entity: Entity): number | undefined => {
  const match = smartProcessPattern.exec(entity)
  return match === null ? undefined : Number(match[1])
}

const OptionsSchema = Schema.Struct({
  entities: Schema.NonEmptyArray(EntitySchema),
  overlap: Schema.optional(Schema.Unknown),
  deletionsEvery: Schema.optional(Schema.Int.pipe(Schema.greaterThanOrEqualTo(0))),
  chunkSize: Schema.optional(Schema.Int.pipe(Schema.between(1, 10_000))),
  full: Schema.optional(Schema.Boolean)
})

/**
 * Options checked, with their defaults.
 */
export interface ResolvedOptions {
  readonly entities: ReadonlyArray<Entity>
  readonly overlapMs: number
  readonly deletionsEvery: number
  readonly chunkSize: number
  readonly full: boolean
}

/**
 * Checks the options (a `ValidationError` names the first bad one) and fills in the defaults.
 */
export const decodeOptions = (options: unknown): Either.Either<ResolvedOptions, ValidationError> => {
  const given = typeof options === "object" && options !== null ? (options as { readonly entities?: unknown }).entities : undefined
  if (Array.isArray(given) && given.length === 0) {
    return Either.left(new ValidationError({ path: "Sync.options.entities", detail: "the list is empty", suggestion: entitySuggestion }))
  }
  const decoded = Schema.decodeUnknownEither(OptionsSchema, { onExcessProperty: "error", errors: "first" })(options)
  if (Either.isLeft(decoded)) {
    const [first] = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
    const where = first === undefined ? "" : first.path.map((key) => (typeof key === "number" ? `[${key}]` : `.${String(key)}`)).join("")
    return Either.left(
      new ValidationError({
        path: `Sync.options${where}`,
        detail: first?.message ?? decoded.left.message,
        suggestion:
          `entities is a non-empty list of ${entities.join(", ")} or crm.item:<entityTypeId>; deletionsEvery a whole number >= 0; ` +
          "chunkSize 1..10000."
      })
    )
  }
  const value = decoded.right
  const duplicate = value.entities.find((entity, index) => value.entities.indexOf(entity) !== index)
  if (duplicate !== undefined) {
    return Either.left(new ValidationError({ path: "Sync.options.entities", detail: `${duplicate} is listed twice` }))
  }
  let overlapMs = 5 * 60_000
  if (value.overlap !== undefined) {
    const duration = Duration.decodeUnknown(value.overlap)
    if (Option.isNone(duration) || !Duration.isFinite(duration.value)) {
      return Either.left(
        new ValidationError({
          path: "Sync.options.overlap",
          detail: `expected a duration such as "5 minutes" or a number of milliseconds, got ${JSON.stringify(value.overlap)}`
        })
      )
    }
    overlapMs = Duration.toMillis(duration.value)
  }
  return Either.right({
    entities: value.entities,
    overlapMs,
    deletionsEvery: value.deletionsEvery ?? 1,
    chunkSize: value.chunkSize ?? 1000,
    full: value.full ?? false
  })
}

/**
 * A parsed `--to` target.
 */
export type Target =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string>; readonly database: string }

/**
 * Parses a database URL: `sqlite:crm.db` (a file, created when missing), `sqlite:/abs/path.db`, or
 * `postgres://user:password@host:5432/database` (`postgresql://` too).
 */
export const parseTarget = (to: string): Either.Either<Target, ValidationError> => {
  const bad = (detail: string) =>
    Either.left(
      new ValidationError({
        path: "to",
        detail,
        suggestion: "Use sqlite:FILE (e.g. sqlite:crm.db) or postgres://user:password@host:5432/database."
      })
    )
  if (typeof to !== "string" || to.trim() === "") return bad("no database given")
  const text = to.trim()
  if (/^sqlite:/i.test(text)) {
    const filename = text.replace(/^sqlite:(\/\/(?=\/))?/i, "")
    if (filename === "" || filename === "//") return bad(`${JSON.stringify(text)} names no file`)
    if (filename === ":memory:") return bad("an in-memory database would be lost at the end of the run")
    return Either.right({ _tag: "Sqlite", filename })
  }
  if (/^postgres(ql)?:\/\//i.test(text)) {
    let url: URL
    try {
      url = new URL(text)
    } catch {
      return bad(`${JSON.stringify(redactUrl(text))} is not a URL`)
    }
    if (url.hostname === "") return bad(`${JSON.stringify(redactUrl(text))} names no host`)
    return Either.right({ _tag: "Postgres", url: Redacted.make(text), database: redactUrl(text) })
  }
  return bad(`${JSON.stringify(redactUrl(text))} is neither sqlite: nor postgres://`)
}

/** A URL with its password replaced by `***`. */
const redactUrl = (text: string): string => text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, "$1***@")
