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
 * The command tree is built here with `@effect/cli`; every piece it maps to (inputs, formats, connection,
 * summary and error lines) is a pure module next to this one.
 *
 * @since 0.1.0
 */
import { Args, Command, Options, ValidationError as CliValidationError } from "@effect/cli"
import { FetchHttpClient } from "@effect/platform"
import type { Teardown } from "@effect/platform/Runtime"
// subpath imports: the package's index would load its workers, sockets and cluster modules too
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import {
  Cause,
  Chunk,
  Clock,
  Data,
  Effect,
  Either,
  Exit,
  HashMap,
  Layer,
  Logger,
  LogLevel,
  Option,
  Redacted,
  Ref,
  Stream
} from "effect"
import * as Bitrix from "../Bitrix.js"
import { ValidationError } from "../BitrixError.js"
import type * as ListStrategy from "../ListStrategy.js"
import * as ProgressReporter from "../ProgressReporter.js"
import { RateLimiter } from "../RateLimiter.js"
import { type Connection, type Env, envNames, redactorOf, resolveConnection, resolveLimits } from "./Connection.js"
import { columnsFromSelect, itemLine, makeRowWriter, ndjsonLine, resolveFormat, type RowFormat, rowFormats } from "./Format.js"
import * as Inputs from "./Inputs.js"
import { openSink, printError, readInput, readOptionText, writePrivateFile } from "./Output.js"
import {
  type CliError,
  defectLine,
  detailLines,
  errorLine,
  errorParts,
  ExitCode,
  exitCodeOf,
  ItemsFailedError,
  logLine,
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

const sharedOptions = {
  webhook: Options.text("webhook").pipe(
    Options.withDescription(`Inbound webhook URL (https://portal/rest/1/CODE/); default ${envNames.webhook}, else the OAuth variables.`),
    Options.optional
  ),
  plan: Options.choice("plan", ["standard", "enterprise"]).pipe(
    Options.withDescription("Limit preset of the portal's plan: standard (50 requests, 2/s) or enterprise (250, 5/s)."),
    Options.optional
  ),
  limits: Options.text("limits").pipe(
    Options.withDescription("Explicit limits, e.g. pool=50,rps=2,operating=480,window=600, or off; overrides --plan."),
    Options.optional
  ),
  slow: Options.float("slow").pipe(Options.withDescription("At most N requests per second."), Options.optional),
  tokensOut: Options.text("tokens-out").pipe(
    Options.withDescription("OAuth: write refreshed tokens to this file (mode 600); the old refresh token is spent."),
    Options.optional
  ),
  quiet: Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("No progress and no summary.")),
  verbose: Options.boolean("verbose").pipe(
    Options.withAlias("v"),
    Options.withDescription("After an error, also print the request that failed (secrets redacted).")
  ),
  debug: Options.boolean("debug").pipe(Options.withDescription("Debug log lines: strategy choice, limiter waits, each request."))
}

type Shared = {
  readonly [K in keyof typeof sharedOptions]: (typeof sharedOptions)[K] extends Options.Options<infer A> ? A : never
}

const outOption = Options.text("out").pipe(
  Options.withAlias("o"),
  Options.withDescription("Output file; stdout when absent or -."),
  Options.optional
)

const formatOption = Options.choice("format", rowFormats).pipe(
  Options.withDescription("ndjson (default), csv or json; guessed from the --out extension when absent."),
  Options.optional
)

const methodArg = Args.text({ name: "method" }).pipe(Args.withDescription("Bitrix method, e.g. crm.deal.list."))

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
  readonly work: (count: Ref.Ref<number>) => Effect.Effect<void, CliError, Services>
}

const fromEither = <A, E>(either: Either.Either<A, E>): Effect.Effect<A, E> =>
  Either.isRight(either) ? Effect.succeed(either.right) : Effect.fail(either.left)

const optionalValue = <A>(option: Option.Option<A>): A | undefined => Option.getOrUndefined(option)

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
const reportFailure = (error: CliError, redact: (text: string) => string, verbose: boolean, request: string | undefined) =>
  Effect.gen(function* () {
    yield* printError(errorLine(error, redact))
    if (verbose) {
      if (request !== undefined && error._tag !== "ValidationError" && error._tag !== "FileError") yield* printError(request)
      for (const line of detailLines(error, redact)) yield* printError(line)
    }
    return yield* Effect.fail(new CliExit({ code: exitCodeOf(error) }))
  })

const statusOf = (exit: Exit.Exit<unknown, unknown>): "done" | "failed" | "interrupted" =>
  Exit.isSuccess(exit) ? "done" : Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "failed"

const clientOptions = (
  connection: Connection,
  shared: Shared,
  limits: Bitrix.Options["limits"] & {},
  onRotated: () => void
): Bitrix.Options => {
  if (connection._tag === "Webhook") return { webhook: connection.webhook, limits }
  const tokensOut = optionalValue(shared.tokensOut)
  return {
    limits,
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
      connection: resolveConnection(optionalValue(shared.webhook), env),
      limits: resolveLimits(optionalValue(shared.plan), optionalValue(shared.limits))
    })
    if (Either.isLeft(setup)) return yield* reportFailure(setup.left, (text) => text, shared.verbose, undefined)
    const { connection, limits } = setup.right
    const redact = redactorOf(connection.secrets)
    const request = requestLine({ endpoint: connection.endpoint, ...job.request }, redact)
    let rotated = false
    const client = Bitrix.layer(clientOptions(connection, shared, limits, () => void (rotated = true))).pipe(
      Layer.provide(FetchHttpClient.layer)
    )
    const progress = shared.quiet ? ProgressReporter.layerSilent : ProgressReporter.layerTerminal()
    const count = yield* Ref.make(0)
    const startedAt = yield* Clock.currentTimeMillis
    const slow = optionalValue(shared.slow)

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
                yield* printError(summaryLine({ status: statusOf(exit), count: counted, noun: job.noun, wallMs: now - startedAt, stats }))
              })
        )
      )
    })

    yield* connected.pipe(
      Effect.provide(client),
      Effect.ensuring(
        Effect.suspend(() =>
          rotated && Option.isNone(shared.tokensOut)
            ? printError(
                `b24: warning: the OAuth tokens were refreshed, so ${envNames.refreshToken} is spent; ` +
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
  output: { readonly out: string | undefined; readonly format: RowFormat; readonly columns: ReadonlyArray<string> | undefined },
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

const strategies: ReadonlyArray<ListStrategy.Strategy> = ["auto", "offset", "keyset", "keysetBatch", "ranges"]

const getAllCommand = (env: Env) =>
  Command.make(
    "get-all",
    {
      ...sharedOptions,
      method: methodArg,
      select: Options.text("select").pipe(Options.withDescription("Fields, comma-separated, e.g. ID,TITLE."), Options.optional),
      filter: Options.text("filter").pipe(Options.withDescription('JSON object, e.g. {">ID":100}; @FILE reads it from a file.'), Options.optional),
      order: Options.text("order").pipe(Options.withDescription('JSON object, e.g. {"ID":"ASC"}; @FILE reads it from a file.'), Options.optional),
      strategy: Options.choice("strategy", strategies).pipe(Options.withDescription("How the list is read; auto picks the fastest that fits."), Options.optional),
      limit: Options.integer("limit").pipe(Options.withDescription("At most N rows."), Options.optional),
      format: formatOption,
      out: outOption
    },
    (config) =>
      Effect.gen(function* () {
        const selectText = optionalValue(config.select)
        const select = selectText === undefined ? undefined : yield* fromEither(Inputs.parseSelect(selectText))
        const filter = yield* jsonOption("--filter", optionalValue(config.filter))
        const order = yield* jsonOption("--order", optionalValue(config.order))
        const params = Inputs.listParams({ select, filter, order })
        const strategy = optionalValue(config.strategy)
        const limit = optionalValue(config.limit)
        const listOptions: ListStrategy.Options = {
          ...(strategy === undefined ? {} : { strategy }),
          ...(limit === undefined ? {} : { limit })
        }
        const out = optionalValue(config.out)
        const format = resolveFormat(optionalValue(config.format), out)
        return {
          noun: "rows",
          request: { method: config.method, params },
          work: (count) =>
            writeRows(Bitrix.stream(config.method, params, listOptions), { out, format, columns: columnsFromSelect(select) }, count)
        } satisfies Job
      }).pipe(
        Effect.catchAll(inputFailure(config)),
        Effect.flatMap((job) => runJob(env, config, job))
      )
  ).pipe(Command.withDescription("Export every row of a list method, streamed to a file or stdout as rows arrive."))

const getByIdCommand = (env: Env) =>
  Command.make(
    "get-by-id",
    {
      ...sharedOptions,
      method: methodArg,
      ids: Options.text("ids").pipe(Options.withDescription("File with one ID a line; - reads stdin.")),
      idField: Options.text("id-field").pipe(Options.withDescription("Name of the ID parameter (default ID)."), Options.optional),
      params: Options.text("params").pipe(Options.withDescription("JSON object of further params for every call."), Options.optional),
      format: formatOption,
      out: outOption
    },
    (config) =>
      Effect.gen(function* () {
        const source = config.ids === "-" ? "stdin" : config.ids
        const ids = yield* Effect.flatMap(readInput(config.ids), (text) => fromEither(Inputs.parseIds(source, text)))
        const params = yield* jsonOption("--params", optionalValue(config.params))
        const idField = optionalValue(config.idField)
        const out = optionalValue(config.out)
        const format = resolveFormat(optionalValue(config.format), out)
        const options = { ...(idField === undefined ? {} : { idField }), ...(params === undefined ? {} : { params }) }
        return {
          noun: "rows",
          request: { method: config.method, params: { ...params, [idField ?? "ID"]: ids.length === 1 ? ids[0] : `<${ids.length} IDs>` } },
          work: (count) =>
            Bitrix.getByID(config.method, ids, options).pipe(
              Effect.map((results) => ({ rows: [...results.values()], failure: undefined })),
              // some IDs failed: the others are still written, then the error line names the failed ones
              Effect.catchTag("BitrixApiError", (error) =>
                error.partialResults === undefined
                  ? Effect.fail(error)
                  : Effect.succeed({ rows: error.partialResults.filter((row) => row !== undefined), failure: error })
              ),
              Effect.flatMap(({ failure, rows }) =>
                writeRows(Stream.fromIterable(rows), { out, format, columns: undefined }, count).pipe(
                  Effect.zipRight(failure === undefined ? Effect.void : Effect.fail(failure))
                )
              )
            )
        } satisfies Job
      }).pipe(
        Effect.catchAll(inputFailure(config)),
        Effect.flatMap((job) => runJob(env, config, job))
      )
  ).pipe(Command.withDescription("Call a method once per ID (batched), writing the results in the order of the IDs."))

const callCommand = (env: Env) =>
  Command.make(
    "call",
    {
      ...sharedOptions,
      method: methodArg,
      params: Options.text("params").pipe(Options.withDescription("JSON object of params for one call; @FILE reads a file."), Options.optional),
      items: Options.text("items").pipe(
        Options.withDescription("NDJSON file, one object of params a line (- reads stdin): one call per item, batched."),
        Options.optional
      ),
      out: outOption
    },
    (config) =>
      Effect.gen(function* () {
        const out = optionalValue(config.out)
        const itemsPath = optionalValue(config.items)
        if (itemsPath !== undefined && Option.isSome(config.params)) {
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
          const items = yield* Effect.flatMap(readInput(itemsPath), (text) => fromEither(Inputs.parseItems(source, text)))
          return {
            noun: "items",
            request: { method: config.method, params: items.length === 1 ? items[0] : `<${items.length} items>` },
            work: (count) =>
              Effect.scoped(
                Effect.gen(function* () {
                  const outcomes = yield* Bitrix.callEither(config.method, items)
                  const sink = yield* openSink(out)
                  yield* sink.write(outcomes.map((outcome, index) => itemLine(index, outcome)).join(""))
                  yield* Ref.set(count, outcomes.length)
                  const failed = outcomes.filter(Either.isLeft)
                  const first = failed[0]
                  if (first !== undefined) {
                    const parts = errorParts(first.left)
                    return yield* Effect.fail(
                      new ItemsFailedError({
                        method: config.method,
                        failed: failed.length,
                        total: outcomes.length,
                        first: `${JSON.stringify(parts.code)} ${parts.description}`
                      })
                    )
                  }
                })
              )
          } satisfies Job
        }
        const params = (yield* jsonOption("--params", optionalValue(config.params))) ?? {}
        return {
          noun: "calls",
          request: { method: config.method, params },
          work: (count) =>
            Effect.scoped(
              Effect.gen(function* () {
                const result = yield* Bitrix.call(config.method, params)
                const sink = yield* openSink(out)
                yield* sink.write(ndjsonLine(result))
                yield* Ref.set(count, 1)
              })
            )
        } satisfies Job
      }).pipe(
        Effect.catchAll(inputFailure(config)),
        Effect.flatMap((job) => runJob(env, config, job))
      )
  ).pipe(
    Command.withDescription(
      "Call a method once (--params) or once per item (--items; one result line per item, in order, failures included; exit 3 if any failed)."
    )
  )

const batchCommand = (env: Env) =>
  Command.make(
    "batch",
    {
      ...sharedOptions,
      cmd: Options.text("cmd").pipe(
        Options.withDescription('JSON object of commands by label, e.g. {"a":"crm.deal.get?id=1"}; @FILE reads a file.')
      ),
      halt: Options.boolean("halt").pipe(Options.withDescription("Stop at the first failed command.")),
      out: outOption
    },
    (config) =>
      Effect.gen(function* () {
        const cmd = yield* Effect.flatMap(readOptionText(config.cmd), (text) => fromEither(Inputs.parseBatchCommands(text)))
        const out = optionalValue(config.out)
        return {
          noun: "commands",
          request: { method: "batch", params: { halt: config.halt ? 1 : 0, cmd } },
          work: (count) =>
            Effect.scoped(
              Effect.gen(function* () {
                const results = yield* Bitrix.callBatch({ halt: config.halt, cmd })
                const sink = yield* openSink(out)
                yield* sink.write(ndjsonLine(results))
                yield* Ref.set(count, Object.keys(cmd).length)
              })
            )
        } satisfies Job
      }).pipe(
        Effect.catchAll(inputFailure(config)),
        Effect.flatMap((job) => runJob(env, config, job))
      )
  ).pipe(Command.withDescription("Run the portal's batch as given: up to 50 labelled commands, results by label."))

/** Listed for `--help`; `runCli` hands `b24 portal …` to the fake portal's own parser before this tree sees it. */
const portalCommand = Command.make("portal", { args: Args.text({ name: "options" }).pipe(Args.repeated) }, () =>
  Effect.sync(() => void process.stdout.write("run `b24 portal --help` for the fake portal's options\n"))
).pipe(Command.withDescription("Serve the fake portal of effect-bitrix24/testing (same options as npm run portal; --help lists them)."))

/**
 * The whole `b24` command tree, with `env` as the environment the connection variables are read from.
 *
 * @since 0.1.0
 * @category Commands
 */
export const command = (env: Env) =>
  Command.make("b24").pipe(
    Command.withDescription(
      "Bulk Bitrix24 REST from the shell. Connection: --webhook or BITRIX24_WEBHOOK, or OAuth via BITRIX24_ACCESS_TOKEN, " +
        "BITRIX24_REFRESH_TOKEN, BITRIX24_CLIENT_ID, BITRIX24_CLIENT_SECRET, BITRIX24_REST_URL (BITRIX24_TOKEN_URL). " +
        "Exit codes: 0 done, 1 failed, 2 bad input, 3 some items failed, 130 interrupted."
    ),
    Command.withSubcommands([getAllCommand(env), getByIdCommand(env), callCommand(env), batchCommand(env), portalCommand])
  )

/**
 * Runs `b24` with a full `process.argv`-style command line and resolves to the exit code; errors are printed
 * (one line each) rather than failed, and Ctrl-C interrupts (exit code 130 from `runCli`).
 *
 * @since 0.1.0
 * @category Running
 */
export const run = (argv: ReadonlyArray<string>, env: Env): Effect.Effect<number, never, NodeContext.NodeContext> =>
  Command.run(command(env), { name: "b24", version: "0.1.0" })(argv).pipe(
    Effect.as(ExitCode.ok),
    Effect.catchAll((error) =>
      error instanceof CliExit
        ? Effect.succeed(error.code)
        : CliValidationError.isValidationError(error)
          ? // @effect/cli has printed the problem and the usage already
            Effect.succeed(ExitCode.usage)
          : Effect.as(printError(defectLine(String(error))), ExitCode.failure)
    ),
    Effect.catchAllDefect((defect) =>
      Effect.as(printError(defectLine(defect instanceof Error ? (defect.stack ?? defect.message) : String(defect))), ExitCode.failure)
    )
  )

/** The exit code of the main fiber: the code it returned, 130 after Ctrl-C, 1 for anything unexpected. */
const teardown: Teardown = (exit, onExit) => {
  if (Exit.isSuccess(exit)) {
    const code: unknown = exit.value
    onExit(typeof code === "number" ? code : ExitCode.ok)
  } else {
    onExit(Cause.isInterruptedOnly(exit.cause) ? ExitCode.interrupted : ExitCode.failure)
  }
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
        stopSignal
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
 * The entry point of `bin/b24.js`: runs the command line and exits with its code.
 *
 * @since 0.1.0
 * @category Running
 */
export const runCli = (argv: ReadonlyArray<string> = process.argv, env: Env = process.env): void => {
  if (argv[2] === "portal") return runPortal(argv.slice(3))
  NodeRuntime.runMain(run(argv, env).pipe(Effect.provide(NodeContext.layer)), { disableErrorReporting: true, disablePrettyLogger: true, teardown })
}
