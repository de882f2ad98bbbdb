/**
 * The `b24` command: bulk exports and calls against a Bitrix24 portal from the shell, and the fake portal.
 *
 * ```sh
 * b24 get-all crm.deal.list --select ID,TITLE --out deals.csv --webhook https://portal/rest/1/***\/
 * b24 get-by-id crm.deal.get --ids ids.txt
 * b24 call crm.deal.add --items deals.ndjson
 * b24 batch --cmd '{"a":"crm.deal.get?id=1"}'
 * b24 portal --seed crm.deal=10000
 * ```
 *
 * The command line is parsed by `Args` (node's `parseArgs`, no framework: `b24 --help` starts in a blink); every
 * piece it maps to (inputs, formats, connection, summary and error lines) is a pure module next to this one.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as Bitrix from "../Bitrix.js"
import { ValidationError } from "../BitrixError.js"
import type * as ListStrategy from "../ListStrategy.js"
import * as ProgressReporter from "../ProgressReporter.js"
import { RateLimiter } from "../RateLimiter.js"
import { layerHttpClient, type NetworkOptions } from "../internal/network.js"
import { outcomeOf } from "../internal/progress.js"
import * as Args from "./Args.js"
import * as Spec from "./Spec.js"
import * as EstimateCommand from "./estimate.js"
import * as SyncCommand from "./sync.js"
import { type Connection, type Env, redactorOf, resolveConnection, resolveLimiterStore, resolveLimits, resolveTuning, type Tuning } from "./Connection.js"
import { columnsFromSelect, columnsOfRows, itemLine, makeRowWriter, ndjsonLine, resolveFormat } from "./Format.js"
import * as Inputs from "./Inputs.js"
import { drainRows, openSink, printError, readInput, readOptionText, writePrivateFile } from "./Output.js"
import {
  type CliError,
  defectLine,
  detailLines,
  errorLine,
  errorParts,
  ExitCode,
  exitCodeOf,
  ItemsFailedError,
  listFailures,
  logLine,
  oneLine,
  outcomeParts,
  requestLine,
  summaryLine
} from "./Report.js"

/**
 * A command ended with this exit code; its error line (if any) is already printed.
 *
 * @since 0.1.0
 * @category Errors
 */
export class CliExit extends Data.TaggedError("CliExit")<{ readonly code: number }> {}

// ---------------------------------------------------------------------------------------------------------------
// Options shared by every portal command
// ---------------------------------------------------------------------------------------------------------------

interface Shared extends Tuning {
  readonly webhook: string | undefined
  readonly ca: string | undefined
  readonly insecure: boolean
  readonly proxy: string | undefined
  readonly plan: "standard" | "enterprise" | undefined
  readonly limits: string | undefined
  readonly tokensOut: string | undefined
  readonly limiter: string | undefined
  readonly quiet: boolean
  readonly verbose: boolean
  readonly debug: boolean
}

type Values = Args.Parsed["values"]

const text = (values: Values, name: string): string | undefined => {
  const value = values[name]
  return typeof value === "string" ? value : undefined
}

const number = (values: Values, name: string): number | undefined => {
  const value = values[name]
  return typeof value === "number" ? value : undefined
}

/** The entries whose value is a number (exact optional properties leave the others out, not undefined). */
const definedNumbers = (entries: Readonly<Record<string, number | undefined>>): Record<string, number> =>
  Object.fromEntries(Object.entries(entries).filter((entry): entry is [string, number] => entry[1] !== undefined))

const sharedOf = (values: Values): Shared => {
  const plan = text(values, "plan")
  return {
    webhook: text(values, "webhook"),
    ca: text(values, "ca"),
    insecure: values["insecure"] === true,
    proxy: text(values, "proxy"),
    plan: plan === "standard" || plan === "enterprise" ? plan : undefined,
    limits: text(values, "limits"),
    ...definedNumbers({
      slow: number(values, "slow"),
      batchSize: number(values, "batch-size"),
      maxConcurrent: number(values, "max-concurrent"),
      bucketHeadroom: number(values, "bucket-headroom"),
      timeout: number(values, "timeout")
    }),
    tokensOut: text(values, "tokens-out"),
    limiter: text(values, "limiter"),
    quiet: values["quiet"] === true,
    verbose: values["verbose"] === true,
    debug: values["debug"] === true
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Running one job: connection, limits, progress, summary, errors
// ---------------------------------------------------------------------------------------------------------------

type Services = Bitrix.Services

/** What a command does once connected, and how to describe it in the summary and after an error. */
interface Job {
  /** What the summary counts: `rows`, `items`, `commands`, `calls`. */
  readonly noun: string
  /** The request shown by `--verbose` after an error. */
  readonly request: { readonly method: string; readonly params?: unknown }
  readonly work: (count: Ref.Ref<number>) => Effect.Effect<void, CliError | SyncCommand.SyncCliError, Services>
}

const fromEither = <A, E>(either: Either.Either<A, E>): Effect.Effect<A, E> =>
  Either.isRight(either) ? Effect.succeed(either.right) : Effect.fail(either.left)


/** Log lines go to stderr (stdout may carry the export) in the CLI's own short form. */
const stderrLogger = Logger.make(({ annotations, logLevel, message }) => {
  const parts = Array.isArray(message) ? message : [message]
  const text = parts.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" ")
  process.stderr.write(`${logLine(logLevel.label, text, [...HashMap.toEntries(annotations)])}\n`)
})

const withLogging = (shared: Shared) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Logger.withMinimumLogLevel(shared.debug ? LogLevel.Debug : shared.quiet ? LogLevel.Warning : LogLevel.Info),
    Effect.provide(Logger.replace(Logger.defaultLogger, stderrLogger))
  )

/** Prints the error line (and with `--verbose` the request and details) and ends with the error's exit code. */
const reportFailure = (error: CliError | SyncCommand.SyncCliError, redact: (text: string) => string, verbose: boolean, request: string | undefined) =>
  Effect.gen(function* () {
    if (error._tag === "SinkError" || error._tag === "SyncLockedError") {
      yield* printError(`b24: error: ${oneLine(redact(error.message))}`)
      return yield* Effect.fail(new CliExit({ code: error._tag === "SyncLockedError" ? SyncCommand.lockedExitCode : ExitCode.failure }))
    }
    yield* printError(errorLine(error, redact))
    if (verbose) {
      if (request !== undefined && error._tag !== "ValidationError" && error._tag !== "FileError") yield* printError(request)
      for (const line of detailLines(error, redact)) yield* printError(line)
    }
    return yield* Effect.fail(new CliExit({ code: exitCodeOf(error) }))
  })

const clientOptions = (
  connection: Connection,
  shared: Shared,
  settings: { readonly limits: Bitrix.Options["limits"] & {}; readonly tuning: Tuning; readonly limiterStore: Redacted.Redacted<string> },
  onRotated: () => void
): Bitrix.Options => {
  const { batchSize, bucketHeadroom, maxConcurrent, timeout } = settings.tuning
  const common = {
    limits: settings.limits,
    limiterStore: settings.limiterStore,
    ...(batchSize === undefined ? {} : { batchSize }),
    ...(bucketHeadroom === undefined ? {} : { bucketHeadroom }),
    ...(maxConcurrent === undefined ? {} : { maxConcurrent }),
    ...(timeout === undefined ? {} : { timeout: Duration.seconds(timeout) })
  }
  if (connection._tag === "Webhook") return { webhook: connection.webhook, ...common }
  const tokensOut = shared.tokensOut
  return {
    ...common,
    oauth: {
      ...connection.oauth,
      onTokens: (tokens) => {
        onRotated()
        if (tokensOut !== undefined) {
          writePrivateFile(
            tokensOut,
            `${JSON.stringify(
              {
                access_token: Redacted.value(tokens.accessToken),
                refresh_token: Redacted.value(tokens.refreshToken),
                expires_at: new Date(tokens.expiresAt).toISOString()
              },
              null,
              2
            )}\n`
          )
        }
      }
    }
  }
}

/**
 * Runs a job against the portal: resolves the connection and limits, provides the client, progress and
 * logging, prints the summary (also after an error or Ctrl-C) and turns a failure into its one line.
 */
const runJob = (env: Env, shared: Shared, job: Job): Effect.Effect<void, CliExit> =>
  Effect.gen(function* () {
    const setup = Either.all({
      connection: resolveConnection(shared.webhook, env),
      limits: resolveLimits(shared.plan, shared.limits, env),
      tuning: resolveTuning(shared, env),
      limiterStore: resolveLimiterStore(shared.limiter, env)
    })
    if (Either.isLeft(setup)) return yield* reportFailure(setup.left, (text) => text, shared.verbose, undefined)
    const { connection, limiterStore, limits, tuning } = setup.right
    const redact = redactorOf(connection.secrets)
    const request = requestLine({ endpoint: connection.endpoint, ...job.request }, redact)
    let rotated = false
    const caFile = shared.ca ?? (env[Spec.envNames.caFile]?.trim() || undefined)
    const ca = caFile === undefined ? undefined : yield* readInput(caFile).pipe(Effect.catchAll((error) => reportFailure(error, redact, shared.verbose, undefined)))
    if (shared.insecure) {
      yield* printError("b24: warning: --insecure: the portal's TLS certificate is not checked; anyone on the path can read and change the traffic")
    }
    const network: NetworkOptions = {
      ...(ca === undefined ? {} : { ca }),
      ...(shared.insecure ? { dangerouslyAcceptAnyCertificate: true } : {}),
      ...(shared.proxy === undefined ? {} : { proxy: shared.proxy })
    }
    const client = Bitrix.layer(clientOptions(connection, shared, { limits, tuning, limiterStore }, () => void (rotated = true))).pipe(
      Layer.provide(layerHttpClient(network, env))
    )
    // retries are shown as they happen (by the reporter) and counted by what they met for the summary
    const retries = new Map<string, number>()
    const progress = Layer.effect(
      ProgressReporter.ProgressReporter,
      Effect.map(ProgressReporter.ProgressReporter, (reporter) => ({
        ...reporter,
        retrying: (retry: ProgressReporter.Retry) =>
          Effect.zipRight(
            Effect.sync(() => void retries.set(retry.reason, (retries.get(retry.reason) ?? 0) + 1)),
            reporter.retrying?.(retry) ?? Effect.void
          )
      }))
    ).pipe(Layer.provide(shared.quiet ? ProgressReporter.layerSilent : ProgressReporter.layerTerminal()))
    const count = yield* Ref.make(0)
    const startedAt = yield* Clock.currentTimeMillis
    const slow = tuning.slow

    const connected = Effect.gen(function* () {
      const limiter = yield* RateLimiter
      const work = slow === undefined ? job.work(count) : Bitrix.slow(job.work(count), { requestsPerSecond: slow })
      yield* work.pipe(
        // the progress bars stop (final frame drawn) before the summary is printed below them
        Effect.provide(progress),
        Effect.onExit((exit) =>
          shared.quiet
            ? Effect.void
            : Effect.gen(function* () {
                const stats = yield* limiter.stats
                // input refused before any request: the error line says it all
                if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) && stats.started === 0) return
                const now = yield* Clock.currentTimeMillis
                const counted = yield* Ref.get(count)
                yield* printError(summaryLine({ status: outcomeOf(exit), count: counted, noun: job.noun, wallMs: now - startedAt, stats, retries }))
              })
        )
      )
    })

    yield* connected.pipe(
      Effect.provide(client),
      Effect.ensuring(
        Effect.suspend(() =>
          rotated && shared.tokensOut === undefined
            ? printError(
                `b24: warning: the OAuth tokens were refreshed, so ${Spec.envNames.refreshToken} is spent; ` +
                  "pass --tokens-out FILE to keep the new pair"
              )
            : Effect.void
        )
      ),
      Effect.catchAll((error) => reportFailure(error, redact, shared.verbose, request))
    )
  }).pipe(withLogging(shared))

/** Input problems found before connecting, reported like any other error. */
const inputFailure = (shared: Shared) => (error: CliError) => reportFailure(error, (text) => text, shared.verbose, undefined)

const jsonOption = (flag: string, text: string | undefined) =>
  text === undefined
    ? Effect.succeed(undefined)
    : Effect.flatMap(readOptionText(text), (content) => fromEither(Inputs.parseJsonObject(flag, content)))

// ---------------------------------------------------------------------------------------------------------------
// Writing rows
// ---------------------------------------------------------------------------------------------------------------

/**
 * Writes `rows` chunk by chunk to the output in `format`; the closing text (a JSON array's `]`) is written
 * even when the stream fails or is interrupted, so the file stays valid.
 */
const writeRows = <E, R>(
  rows: Stream.Stream<unknown, E, R>,
  output: { readonly out: string | undefined; readonly format: Spec.RowFormat; readonly columns: ReadonlyArray<string> | undefined },
  count: Ref.Ref<number>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sink = yield* openSink(output.out)
      const writer = makeRowWriter(output.format, output.columns === undefined ? {} : { columns: output.columns })
      yield* sink.write(writer.begin())
      yield* Effect.addFinalizer(() => Effect.ignore(sink.write(writer.end())))
      yield* Stream.runForEachChunk(rows, (chunk) =>
        Effect.gen(function* () {
          const written = writer.rows(Chunk.toReadonlyArray(chunk))
          yield* sink.write(written.text)
          yield* Ref.update(count, (n) => n + Chunk.size(chunk))
          if (written.droppedFields.length > 0) {
            yield* Effect.logWarning(
              `CSV: field(s) ${written.droppedFields.join(", ")} are not in the header (taken from --select or the first row) and are left out; ` +
                "pass --select to choose the columns"
            )
          }
        })
      )
    })
  )

// ---------------------------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------------------------

/** A portal subcommand: its command line, and the job it builds from the parsed values. */
interface PortalCommand {
  readonly spec: Args.CommandSpec
  /** A command line `Args.parseCommand` cannot read alone (several positionals). */
  readonly parse?: (args: ReadonlyArray<string>) => Args.ParseResult
  readonly job: (method: string, values: Values, env: Env) => Effect.Effect<Job, CliError>
}

const getAllCommand: PortalCommand = {
  spec: Spec.getAll,
  job: (method, values) =>
    Effect.gen(function* () {
      const selectText = text(values, "select")
      const select = selectText === undefined ? undefined : yield* fromEither(Inputs.parseSelect(selectText))
      const filter = yield* jsonOption("--filter", text(values, "filter"))
      const order = yield* jsonOption("--order", text(values, "order"))
      const params = Inputs.listParams({ select, filter, order })
      const strategy = Spec.strategies.find((name) => name === text(values, "strategy"))
      const limit = number(values, "limit")
      const listOptions: ListStrategy.Options = {
        ...(strategy === undefined ? {} : { strategy }),
        ...(limit === undefined ? {} : { limit })
      }
      const out = text(values, "out")
      const format = resolveFormat(Spec.rowFormats.find((name) => name === text(values, "format")), out)
      return {
        noun: "rows",
        request: { method, params },
        work: (count) => writeRows(Bitrix.stream(method, params, listOptions), { out, format, columns: columnsFromSelect(select) }, count)
      } satisfies Job
    })
}

const getByIdCommand: PortalCommand = {
  spec: Spec.getById,
  job: (method, values) =>
    Effect.gen(function* () {
      const idsPath = text(values, "ids") ?? "-"
      const source = idsPath === "-" ? "stdin" : idsPath
      const ids = yield* Effect.flatMap(readInput(idsPath), (content) => fromEither(Inputs.parseIds(source, content)))
      const params = yield* jsonOption("--params", text(values, "params"))
      const idField = text(values, "id-field")
      const out = text(values, "out")
      const format = resolveFormat(Spec.rowFormats.find((name) => name === text(values, "format")), out)
      const options = { ...(idField === undefined ? {} : { idField }), ...(params === undefined ? {} : { params }) }
      return {
        noun: "rows",
        request: { method, params: { ...params, [idField ?? "ID"]: ids.length === 1 ? ids[0] : `<${ids.length} IDs>` } },
        work: (count) =>
          Bitrix.getByID(method, ids, options).pipe(
            Effect.map((results) => ({ rows: [...results.values()], failure: undefined })),
            // some IDs failed: the others are still written, then the error line names the failed IDs
            Effect.catchTag("BulkCallError", (error) => {
              const failures = error.outcomes.flatMap((outcome) =>
                outcome._tag === "Succeeded" ? [] : [{ name: `ID ${ids[outcome.index] ?? "?"}`, ...outcomeParts(outcome) }]
              )
              return Effect.succeed({
                rows: error.partialResults.filter((row) => row !== undefined),
                failure: new ItemsFailedError({ method, noun: "IDs", failed: failures.length, total: ids.length, failures: listFailures(failures) })
              })
            }),
            Effect.flatMap(({ failure, rows }) => {
              // every row is here before the first is written (and let go): the CSV header holds every field of every row
              const columns = format === "csv" ? columnsOfRows(rows) : undefined
              return writeRows(drainRows(rows), { out, format, columns }, count).pipe(
                Effect.zipRight(failure === undefined ? Effect.void : Effect.fail(failure))
              )
            })
          )
      } satisfies Job
    })
}

const callCommand: PortalCommand = {
  spec: Spec.call,
  job: (method, values) =>
    Effect.gen(function* () {
      const out = text(values, "out")
      const itemsPath = text(values, "items")
      if (itemsPath !== undefined && text(values, "params") !== undefined) {
        return yield* Effect.fail(
          new ValidationError({
            path: "--items",
            detail: "--items and --params exclude each other",
            suggestion: "Put the params in each item's line."
          })
        )
      }
      if (itemsPath !== undefined) {
        const source = itemsPath === "-" ? "stdin" : itemsPath
        const items = yield* Effect.flatMap(readInput(itemsPath), (content) => fromEither(Inputs.parseItems(source, content)))
        return {
          noun: "items",
          request: { method, params: items.length === 1 ? items[0] : `<${items.length} items>` },
          work: (count) =>
            Effect.scoped(
              Effect.gen(function* () {
                // a copy this program may empty as it writes (the lines in chunks, each outcome let go once written)
                const outcomes: Array<Either.Either<unknown, CliError> | undefined> = [...(yield* Bitrix.callEither(method, items))]
                const total = outcomes.length
                const failures = outcomes.flatMap((outcome, index) =>
                  outcome !== undefined && Either.isLeft(outcome) ? [{ name: `#${index}`, ...errorParts(outcome.left) }] : []
                )
                const sink = yield* openSink(out)
                let index = 0
                yield* Stream.runForEachChunk(drainRows(outcomes), (chunk) => {
                  let lines = ""
                  for (const outcome of chunk) lines += itemLine(index++, outcome)
                  return sink.write(lines)
                })
                yield* Ref.set(count, total)
                if (failures.length > 0) {
                  return yield* Effect.fail(
                    new ItemsFailedError({ method, noun: "items", failed: failures.length, total, failures: listFailures(failures) })
                  )
                }
              })
            )
        } satisfies Job
      }
      const params = (yield* jsonOption("--params", text(values, "params"))) ?? {}
      return {
        noun: "calls",
        request: { method, params },
        work: (count) =>
          Effect.scoped(
            Effect.gen(function* () {
              const result = yield* Bitrix.call(method, params)
              const sink = yield* openSink(out)
              yield* sink.write(ndjsonLine(result))
              yield* Ref.set(count, 1)
            })
          )
      } satisfies Job
    })
}

const batchCommand: PortalCommand = {
  spec: Spec.batch,
  job: (_method, values) =>
    Effect.gen(function* () {
      const cmd = yield* Effect.flatMap(readOptionText(text(values, "cmd") ?? ""), (content) => fromEither(Inputs.parseBatchCommands(content)))
      const out = text(values, "out")
      const halt = values["halt"] === true
      return {
        noun: "commands",
        request: { method: "batch", params: { halt: halt ? 1 : 0, cmd } },
        work: (count) =>
          Effect.scoped(
            Effect.gen(function* () {
              const outcome = yield* Effect.either(Bitrix.callBatch({ halt, cmd }))
              const sink = yield* openSink(out)
              if (Either.isRight(outcome)) {
                yield* sink.write(ndjsonLine(outcome.right))
                return yield* Ref.set(count, Object.keys(cmd).length)
              }
              if (outcome.left._tag !== "BulkCallError") return yield* Effect.fail(outcome.left)
              // every command's outcome is written before the error line: results by label, errors by label
              const labels = Object.keys(cmd)
              const result: Record<string, unknown> = {}
              const error: Record<string, { readonly code: string | number; readonly description: string }> = {}
              const failures: Array<{ readonly name: string; readonly code: string | number; readonly description: string }> = []
              for (const item of outcome.left.outcomes) {
                const label = item.commandLabel === "" ? (labels[item.index] ?? String(item.index)) : item.commandLabel
                if (item._tag === "Succeeded") {
                  result[label] = item.result === undefined ? null : item.result
                } else {
                  error[label] = outcomeParts(item)
                  failures.push({ name: `[${label}]`, ...outcomeParts(item) })
                }
              }
              yield* sink.write(ndjsonLine({ result, error }))
              yield* Ref.set(count, labels.length - failures.length)
              return yield* Effect.fail(
                new ItemsFailedError({ method: "batch", noun: "commands", failed: failures.length, total: labels.length, failures: listFailures(failures) })
              )
            })
          )
      } satisfies Job
    })
}

const syncCommand: PortalCommand = { spec: Spec.sync, parse: SyncCommand.parse, job: SyncCommand.job }

const estimateCommand: PortalCommand = { spec: Spec.estimate, job: EstimateCommand.job }

const portalCommands: ReadonlyArray<PortalCommand> = [getAllCommand, getByIdCommand, callCommand, batchCommand, syncCommand, estimateCommand]

const usageFailure = (message: string, command: string | undefined) =>
  Effect.as(
    printError(`b24: ${message}\nRun 'b24${command === undefined ? "" : ` ${command}`} --help' for usage.`),
    ExitCode.usage
  )

/**
 * Runs `b24` with a full `process.argv`-style command line and resolves to the exit code; errors are printed
 * (one line each) rather than failed, and Ctrl-C interrupts (exit code 130 from `runCli`).
 *
 * @since 0.1.0
 * @category Running
 */
export const run = (argv: ReadonlyArray<string>, env: Env): Effect.Effect<number> => {
  const args = argv.slice(2)
  const quick = Spec.quickAnswer(args, Args.commandHelp)
  if (quick !== undefined) return Effect.as(Effect.sync(() => void process.stdout.write(quick)), ExitCode.ok)
  const [name, ...rest] = args
  if (name === undefined) return Effect.as(printError(Spec.help), ExitCode.usage)
  const command = portalCommands.find(({ spec }) => spec.name === name)
  if (command === undefined) return usageFailure(`unknown command "${name}"`, undefined)
  const parsed = command.parse?.(rest) ?? Args.parseCommand(command.spec, rest)
  if (parsed._tag === "UsageError") return usageFailure(parsed.message, name)
  if (parsed.parsed.help) return Effect.as(Effect.sync(() => void process.stdout.write(Args.commandHelp(command.spec))), ExitCode.ok)
  const { positional, values } = parsed.parsed
  const shared = sharedOf(values)
  return command.job(positional ?? "", values, env).pipe(
    Effect.catchAll(inputFailure(shared)),
    Effect.flatMap((job) => runJob(env, shared, job)),
    Effect.as(ExitCode.ok),
    Effect.catchAll((error) => Effect.succeed(error.code)),
    Effect.catchAllDefect((defect) =>
      Effect.as(printError(defectLine(defect instanceof Error ? (defect.stack ?? defect.message) : String(defect))), ExitCode.failure)
    )
  )
}

const runPortal = (args: ReadonlyArray<string>): void => {
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve)
    process.once("SIGTERM", resolve)
  })
  // loaded only for this subcommand: the portal engine is not needed to talk to a real portal
  import("../testing/cli.js")
    .then(({ runPortalCli }) =>
      runPortalCli(args, {
        out: (line) => void process.stdout.write(`${line}\n`),
        err: (line) => void process.stderr.write(`${line}\n`),
        stopSignal,
        program: "b24 portal"
      })
    )
    .then(
      (code) => process.exit(code),
      (error: unknown) => {
        process.stderr.write(`${defectLine(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`)
        process.exit(ExitCode.failure)
      }
    )
}

/**
 * The entry point of the `b24` bin: runs the command line and exits with its code; the first Ctrl-C
 * (SIGINT or SIGTERM) interrupts the command, which ends with exit code 130.
 *
 * @since 0.1.0
 * @category Running
 */
export const runCli = (argv: ReadonlyArray<string> = process.argv, env: Env = process.env): void => {
  if (argv[2] === "portal") return runPortal(argv.slice(3))
  const fiber = Effect.runFork(run(argv, env))
  const interrupt = () => {
    process.off("SIGINT", interrupt)
    process.off("SIGTERM", interrupt)
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.on("SIGINT", interrupt)
  process.on("SIGTERM", interrupt)
  fiber.addObserver((exit) => {
    process.off("SIGINT", interrupt)
    process.off("SIGTERM", interrupt)
    // stdout and stderr are written synchronously to files and pipes (Linux), so nothing is cut off here
    process.exit(Exit.isSuccess(exit) ? exit.value : Cause.isInterruptedOnly(exit.cause) ? ExitCode.interrupted : ExitCode.failure)
  })
}
