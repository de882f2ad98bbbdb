/**
 * `npm run portal -- [options]`: a fake Bitrix24 portal on loopback for trying a client, curl or a benchmark
 * against realistic limits. Prints `webhook: <url>` as its first line, so scripts can read the URL from it.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { describeOptions, parsePortalArgs, usageOf } from "./cliOptions.js"
import { oauthAppOf, serve, serveOptionsOf } from "./FakePortalHttp.js"
import { PortalEngine } from "./internal/engine.js"

/**
 * Runs the CLI with `argv` (without the `node script` prefix); resolves with the exit code once the server has
 * stopped, or at once for `--help` and bad options.
 *
 * @since 0.1.0
 * @category Running
 */
export const runPortalCli = async (
  argv: ReadonlyArray<string>,
  io: {
    readonly out: (line: string) => void
    readonly err: (line: string) => void
    /** Resolves when the server should stop (SIGINT/SIGTERM in the real CLI). */
    readonly stopSignal: Promise<unknown>
    /** How the command is typed, for the usage line (default `npm run portal --`). */
    readonly program?: string
  }
): Promise<number> => {
  const usage = usageOf(io.program ?? "npm run portal --")
  const parsed = parsePortalArgs(argv)
  if (Either.isLeft(parsed)) {
    io.err(`error: ${parsed.left.message}`)
    io.err("")
    io.err(usage)
    return 2
  }
  if (parsed.right._tag === "Help") {
    io.out(usage)
    return 0
  }
  const { host, options } = parsed.right
  let engine: PortalEngine
  try {
    engine = new PortalEngine(options, Date.now())
  } catch (error) {
    io.err(`error: ${error instanceof Error ? error.message : String(error)}`)
    return 2
  }
  let server: Awaited<ReturnType<typeof serve>>
  try {
    server = await serve(engine, { ...serveOptionsOf(options), host, port: options.port ?? 0 })
  } catch (error) {
    io.err(`error: cannot listen on ${host}:${options.port ?? 0}: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
  // Scripts read the URL from the first line, so it comes before anything else.
  io.out(`webhook: ${server.url}${engine.webhookPath}`)
  for (const line of describeOptions(options)) io.out(line)
  const oauth = oauthAppOf(engine, server.url)
  if (oauth !== undefined) {
    io.out(`oauth client_id: ${oauth.clientId}`)
    io.out(`oauth client_secret: ${oauth.clientSecret}`)
    io.out(`oauth access_token: ${oauth.accessToken}`)
    io.out(`oauth refresh_token: ${oauth.refreshToken}`)
    io.out(`oauth token url: ${oauth.tokenUrl}`)
    io.out(`oauth rest url: ${oauth.restUrl}`)
  }
  io.out("serving; stop with Ctrl+C")
  await io.stopSignal
  await server.close()
  const stats = engine.stats()
  io.err(
    `stopped after ${stats.httpRequests} requests (503: ${stats.rejected503}, 429: ${stats.rejected429}, 414: ${stats.rejected414}), ` +
      `${stats.rowsServed} rows served`
  )
  return 0
}

const isMain = (): boolean => {
  const entry = process.argv[1]
  return entry !== undefined && /[\\/]testing[\\/]cli\.(ts|js)$/.test(entry)
}

if (isMain()) {
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve)
    process.once("SIGTERM", resolve)
  })
  runPortalCli(process.argv.slice(2), {
    out: (line) => process.stdout.write(line + "\n"),
    err: (line) => process.stderr.write(line + "\n"),
    stopSignal
  }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exit(1)
    }
  )
}
