/**
 * The inputs of `b24` commands, from the text the user typed or piped: JSON options, the select list, an ID
 * list, NDJSON items and batch commands. Pure: each returns the value or a `ValidationError` naming the flag
 * (and the line, for files), so bad input stops the command before any request (exit code 2).
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import type { BatchCommand, Params } from "../Bitrix.js"
import { ValidationError } from "../BitrixError.js"

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const describe = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : `a ${typeof value}`

const parseJson = (path: string, text: string): Either.Either<unknown, ValidationError> => {
  try {
    return Either.right(JSON.parse(text) as unknown)
  } catch (error) {
    return Either.left(
      new ValidationError({
        path,
        detail: `not valid JSON (${error instanceof Error ? error.message : String(error)})`,
        suggestion: `Quote it for the shell, e.g. ${path} '{">ID": 100}'.`
      })
    )
  }
}

/**
 * A JSON object given to a flag such as `--filter`, `--order` or `--params`.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseJsonObject = (flag: string, text: string): Either.Either<Params, ValidationError> =>
  Either.flatMap(parseJson(flag, text), (value) =>
    isRecord(value)
      ? Either.right(value)
      : Either.left(new ValidationError({ path: flag, detail: `expected a JSON object, got ${describe(value)}` }))
  )

/**
 * `--select ID,TITLE` as a list of field names (spaces around names ignored, empty names dropped).
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseSelect = (text: string): Either.Either<ReadonlyArray<string>, ValidationError> => {
  const fields = text
    .split(",")
    .map((field) => field.trim())
    .filter((field) => field !== "")
  return fields.length === 0
    ? Either.left(new ValidationError({ path: "--select", detail: "no field names", suggestion: "Use e.g. --select ID,TITLE." }))
    : Either.right(fields)
}

/**
 * The params of a list export: `select`, `filter` and `order` when given.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const listParams = (parts: {
  readonly select: ReadonlyArray<string> | undefined
  readonly filter: Params | undefined
  readonly order: Params | undefined
}): Params => ({
  ...(parts.select === undefined ? {} : { select: parts.select }),
  ...(parts.filter === undefined ? {} : { filter: parts.filter }),
  ...(parts.order === undefined ? {} : { order: parts.order })
})

/** Lines of a text file with their 1-based numbers, blank lines (and a final newline) skipped. */
const numberedLines = (text: string): ReadonlyArray<readonly [number, string]> =>
  text
    .split(/\r?\n/)
    .map((line, index) => [index + 1, line.trim()] as const)
    .filter(([, line]) => line !== "")

/**
 * One ID a line (blank lines skipped), as given: the portal takes `"42"` and `42` alike.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseIds = (source: string, text: string): Either.Either<ReadonlyArray<string>, ValidationError> => {
  const ids: Array<string> = []
  for (const [number, line] of numberedLines(text)) {
    if (/[\s,;]/.test(line)) {
      return Either.left(
        new ValidationError({
          path: `${source}:${number}`,
          detail: `"${line.slice(0, 60)}" is not one ID`,
          suggestion: "Put one ID on each line."
        })
      )
    }
    ids.push(line)
  }
  return ids.length === 0
    ? Either.left(new ValidationError({ path: source, detail: "no IDs", suggestion: "Put one ID on each line." }))
    : Either.right(ids)
}

/**
 * NDJSON items of a bulk call: one JSON object of params a line (blank lines skipped).
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseItems = (source: string, text: string): Either.Either<ReadonlyArray<Params>, ValidationError> => {
  const items: Array<Params> = []
  for (const [number, line] of numberedLines(text)) {
    const parsed = parseJsonObject(`${source}:${number}`, line)
    if (Either.isLeft(parsed)) {
      return Either.left(
        new ValidationError({ ...parsed.left, suggestion: "Put one JSON object of params on each line, e.g. {\"fields\":{\"TITLE\":\"A\"}}." })
      )
    }
    items.push(parsed.right)
  }
  return items.length === 0
    ? Either.left(new ValidationError({ path: source, detail: "no items", suggestion: "Put one JSON object of params on each line." }))
    : Either.right(items)
}

/**
 * `--cmd '{"a":"crm.deal.get?id=1","b":{"method":"crm.deal.list","params":{"select":["ID"]}}}'`: batch commands
 * by label, each a `method?query` string or a method with params.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseBatchCommands = (text: string): Either.Either<Readonly<Record<string, BatchCommand>>, ValidationError> =>
  Either.flatMap(parseJsonObject("--cmd", text), (record) => {
    const commands: Record<string, BatchCommand> = {}
    for (const [label, command] of Object.entries(record)) {
      if (typeof command === "string") {
        commands[label] = command
      } else if (isRecord(command) && typeof command["method"] === "string") {
        const params = command["params"]
        if (params !== undefined && !isRecord(params)) {
          return Either.left(
            new ValidationError({ path: `--cmd.${label}.params`, detail: `expected a JSON object, got ${describe(params)}` })
          )
        }
        commands[label] = params === undefined ? { method: command["method"] } : { method: command["method"], params }
      } else {
        return Either.left(
          new ValidationError({
            path: `--cmd.${label}`,
            detail: `expected "method?query" or {"method": …, "params": {…}}, got ${describe(command)}`
          })
        )
      }
    }
    return Object.keys(commands).length === 0
      ? Either.left(new ValidationError({ path: "--cmd", detail: "no commands" }))
      : Either.right(commands)
  })
