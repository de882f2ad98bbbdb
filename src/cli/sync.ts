/**
 * `b24 sync crm.deal crm.contact crm.item:1032 … --to sqlite:crm.db`: the `Sync` module from the shell. Its command line takes
 * several entities (the other commands take one positional), so it is split here before `Args` parses the
 * options; the job then runs like every portal command's (connection, limits, progress bar, summary, Ctrl-C).
 *
 * Exit codes: 0 done, 1 failed (portal, network, database), 2 bad input (nothing opened, nothing sent),
 * 4 another sync holds the database, 130 interrupted (the transaction under way is rolled back).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import { parseArgs } from "node:util"
import type * as Bitrix from "../Bitrix.js"
import { ValidationError } from "../BitrixError.js"
import * as Sync from "../Sync.js"
import * as SyncOptions from "../internal/sync/options.js"
import * as Args from "./Args.js"
import { printError } from "./Output.js"
import type { CliError } from "./Report.js"
import * as Spec from "./Spec.js"

/**
 * The exit code of a run refused because another sync holds the database (cron can tell it from a failure).
 *
 * @since 0.1.0
 * @category Constants
 */
export const lockedExitCode = 4

/**
 * Failures of a sync the other commands do not have.
 *
 * @since 0.1.0
 * @category Errors
 */
export type SyncCliError = Sync.SinkError | Sync.SyncLockedError

/**
 * The command line split into the entities and the options, parsed against `Spec.sync`. The entities travel as
 * the positional, separated by spaces.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parse = (args: ReadonlyArray<string>): Args.ParseResult => {
  const table: Record<string, { type: "string" | "boolean"; short?: string }> = { help: { type: "boolean", short: "h" } }
  for (const option of [...Spec.sync.options, ...(Spec.sync.shared ?? [])]) {
    table[option.name] = { type: option.value === undefined ? "boolean" : "string", ...(option.short === undefined ? {} : { short: option.short }) }
  }
  const { positional: _positional, ...withoutPositional } = Spec.sync
  let tokens: ReadonlyArray<{ readonly kind: string; readonly index: number }>
  try {
    tokens = parseArgs({ args: [...args], options: table, allowPositionals: true, strict: false, tokens: true }).tokens
  } catch {
    return Args.parseCommand(withoutPositional, args)
  }
  const positionalIndexes = new Set(tokens.filter((token) => token.kind === "positional").map((token) => token.index))
  const entities = args.filter((_, index) => positionalIndexes.has(index))
  const parsed = Args.parseCommand(withoutPositional, args.filter((_, index) => !positionalIndexes.has(index)))
  if (parsed._tag === "UsageError" || parsed.parsed.help) return parsed
  if (entities.length === 0) {
    return { _tag: "UsageError", message: `missing <entity> (one or more of ${Sync.entities.join(", ")}, crm.item:<entityTypeId>)` }
  }
  return { _tag: "Parsed", parsed: { ...parsed.parsed, positional: entities.join(" ") } }
}

type Values = Args.Parsed["values"]

/** What the job needs from main.ts: the same shape as every portal command's job. */
interface Job {
  readonly noun: string
  readonly request: { readonly method: string; readonly params?: unknown }
  readonly work: (count: Ref.Ref<number>) => Effect.Effect<void, CliError | SyncCliError, Bitrix.Services>
}

const entityLine = (entity: Sync.EntitySummary): string =>
  `b24: ${entity.entity} → ${entity.table}: ${entity.mode}, ${entity.inserted} inserted, ${entity.updated} updated, ` +
  `${entity.markedDeleted} marked deleted${entity.deletionPass ? "" : " (no deletion pass this run)"}` +
  (entity.columnsAdded.length === 0 ? "" : `; new columns: ${entity.columnsAdded.join(", ")}`)

/**
 * The job of `b24 sync`: the entities, checked; the sync run into the database `--to` names; a line per entity on
 * stderr (not with `--quiet`) and, with `--json`, the summary as one JSON line on stdout.
 *
 * @since 0.1.0
 * @category Commands
 */
export const job = (positional: string, values: Values): Effect.Effect<Job, CliError> =>
  Effect.gen(function* () {
    const entities: Array<Sync.Entity> = []
    for (const name of positional.split(" ").filter((part) => part !== "")) {
      const entity = SyncOptions.decodeEntity(name)
      if (entity._tag === "Left") return yield* Effect.fail(entity.left)
      if (!entities.includes(entity.right)) entities.push(entity.right)
    }
    const to = typeof values["to"] === "string" ? values["to"] : ""
    const target = SyncOptions.parseTarget(to)
    if (target._tag === "Left") return yield* Effect.fail(target.left)
    const overlap = typeof values["overlap"] === "number" ? values["overlap"] : undefined
    if (overlap !== undefined && !(overlap >= 0)) {
      return yield* Effect.fail(new ValidationError({ path: "--overlap", detail: `must be a number of minutes >= 0, got ${overlap}` }))
    }
    const deletionsEvery = typeof values["deletions-every"] === "number" ? values["deletions-every"] : undefined
    const chunkSize = typeof values["chunk-size"] === "number" ? values["chunk-size"] : undefined
    const options: Sync.Options = {
      entities,
      ...(overlap === undefined ? {} : { overlap: overlap * 60_000 }),
      ...(deletionsEvery === undefined ? {} : { deletionsEvery }),
      ...(chunkSize === undefined ? {} : { chunkSize }),
      ...(values["full"] === true ? { full: true } : {})
    }
    // options are checked now, before the database is opened or a request sent
    const decoded = SyncOptions.decodeOptions(options)
    if (decoded._tag === "Left") return yield* Effect.fail(decoded.left)
    const database = target.right._tag === "Sqlite" ? `sqlite:${target.right.filename}` : target.right.database
    const quiet = values["quiet"] === true
    return {
      noun: "rows written",
      request: { method: "sync", params: { entities, to: database } },
      work: (count) =>
        Sync.run(options).pipe(
          Effect.provide(Sync.layer(to)),
          Effect.tap((summary) =>
            Effect.gen(function* () {
              yield* Ref.set(count, summary.inserted + summary.updated + summary.markedDeleted)
              if (!quiet) for (const entity of summary.entities) yield* printError(entityLine(entity))
              if (values["json"] === true) {
                const line = JSON.stringify({
                  status: "done",
                  database,
                  inserted: summary.inserted,
                  updated: summary.updated,
                  markedDeleted: summary.markedDeleted,
                  requests: summary.requests,
                  throttled503: summary.throttled503,
                  blocked429: summary.blocked429,
                  wallMs: summary.wallMs,
                  entities: summary.entities
                })
                yield* Effect.sync(() => void process.stdout.write(`${line}\n`))
              }
            })
          ),
          Effect.asVoid
        )
    } satisfies Job
  })
