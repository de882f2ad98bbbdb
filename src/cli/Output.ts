/**
 * The files and streams of `b24`: where output goes (a file or stdout), where inputs come from (a file, stdin,
 * or `@file` for a JSON option), and stderr lines. The only module of the CLI that touches the file system.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { text as readStreamText } from "node:stream/consumers"
import { FileError } from "./Report.js"

/**
 * Where output text goes. Every `write` hands over whole lines, written synchronously to a file, so an
 * interruption between writes leaves no partial line.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Sink {
  readonly write: (text: string) => Effect.Effect<void, FileError>
}

const describeError = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** stdout, waiting for `drain` when the reader is slower than the export. */
const stdoutSink: Sink = {
  write: (text) =>
    text === ""
      ? Effect.void
      : Effect.async<void, FileError>((resume) => {
          const flushed = process.stdout.write(text, (error) => {
            if (error !== undefined && error !== null) {
              resume(Effect.fail(new FileError({ path: "stdout", action: "write", detail: describeError(error) })))
            } else if (!flushed) {
              resume(Effect.void)
            }
          })
          if (flushed) resume(Effect.void)
        })
}

/**
 * Opens the output: a file (created or truncated; closed when the scope ends, also on Ctrl-C) or stdout for
 * `undefined` and `-`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const openSink = (path: string | undefined): Effect.Effect<Sink, FileError, Scope.Scope> => {
  if (path === undefined || path === "-") return Effect.succeed(stdoutSink)
  return Effect.acquireRelease(
    Effect.try({
      try: () => fs.openSync(path, "w"),
      catch: (error) => new FileError({ path, action: "write", detail: describeError(error) })
    }),
    (fd) => Effect.sync(() => fs.closeSync(fd))
  ).pipe(
    Effect.map(
      (fd): Sink => ({
        write: (text) =>
          Effect.try({
            try: () => {
              const bytes = Buffer.from(text, "utf8")
              let offset = 0
              while (offset < bytes.length) offset += fs.writeSync(fd, bytes, offset)
            },
            catch: (error) => new FileError({ path, action: "write", detail: describeError(error) })
          })
      })
    )
  )
}

/**
 * The whole text of an input: a file, or stdin for `-`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const readInput = (path: string): Effect.Effect<string, FileError> =>
  path === "-"
    ? Effect.tryPromise({
        try: () => readStreamText(process.stdin),
        catch: (error) => new FileError({ path: "stdin", action: "read", detail: describeError(error) })
      })
    : Effect.tryPromise({
        try: () => fs.promises.readFile(path, "utf8"),
        catch: (error) => new FileError({ path, action: "read", detail: describeError(error) })
      })

/**
 * The text of a JSON option: as typed, or the contents of a file for `@path` (long filters, batch commands).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const readOptionText = (text: string): Effect.Effect<string, FileError> =>
  text.startsWith("@") ? readInput(text.slice(1)) : Effect.succeed(text)

/**
 * One line on stderr.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const printError = (line: string): Effect.Effect<void> => Effect.sync(() => void process.stderr.write(`${line}\n`))

/**
 * Writes a file readable only by its owner (rotated OAuth tokens).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const writePrivateFile = (path: string, text: string): void => {
  fs.writeFileSync(path, text, { mode: 0o600 })
  fs.chmodSync(path, 0o600)
}

/**
 * Collected rows as a stream of small chunks (`chunkSize` rows), each row let go by the array as it is handed on: a
 * written row does not stay in memory for the rest of the write, and no chunk's text is large (one chunk of
 * thousands of wide rows is a string of megabytes, which V8 allocates outside the young generation).
 *
 * @since 0.1.0
 * @category Constructors
 */
export const drainRows = <A>(rows: Array<A | undefined>, chunkSize = 50): Stream.Stream<A> =>
  Stream.fromIteratorSucceed(
    (function* () {
      for (let index = 0; index < rows.length; index++) {
        // every slot holds a row until this loop reaches it
        const row = rows[index] as A
        rows[index] = undefined
        yield row
      }
    })(),
    chunkSize
  )
