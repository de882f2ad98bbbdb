/**
 * The `batch` method as [CORE] `CRestProvider::methodsBatch` and `CRestUtil::processBatchElement` run it:
 * commands in order, at most 50, `halt`, the five result maps and `$result[...]` substitution.
 */
import { errorEnvelope as errorEntry } from "./engineHttp.js"
import { changeKeyCaseUpper, isNumeric, parseStr, PhpArray, type PhpKey, phpBool, phpIndex, phpNumberToString } from "./php.js"

/** `CRestUtil::BATCH_MAX_LENGTH`. */
export const batchMaxLength = 50

/** What earlier commands produced, keyed by command label: the `$arResult` the substitution walks. */
export interface BatchOutputs {
  readonly result: PhpArray
  readonly next: PhpArray
  readonly total: PhpArray
  readonly time: PhpArray
  readonly error: PhpArray
}

/** One command's outcome, as the engine reports it. */
export type CommandOutcome =
  | {
      readonly _tag: "Ok"
      readonly result: unknown
      readonly next?: number | undefined
      readonly total?: number | undefined
      readonly time: unknown
    }
  /** `entry` is the `{error, error_description, ...}` array filed under `result_error`. */
  | { readonly _tag: "Error"; readonly entry: PhpArray }

/** Runs one command (method lower-cased already, params substituted). */
export type CommandRunner = (method: string, params: PhpArray, label: PhpKey) => CommandOutcome

const referencePattern = /\$(result|next|total|time|error)([^\s]*)/gi
const segmentPattern = /\[([^\]]+)\]/g
const outputNames = new Set(["result", "next", "total", "time", "error"])

/**
 * Walks `[a][b]…` through `$arResult[name]`. The name is matched case-insensitively by the regex but looked up
 * as typed (so `$RESULT[...]` finds nothing); a missing segment stops the walk at the deepest value found.
 */
const walkReference = (outputs: BatchOutputs, name: string, segments: ReadonlyArray<string>): unknown => {
  let current: unknown = outputNames.has(name) ? outputs[name as keyof BatchOutputs] : null
  for (const segment of segments) {
    const next = phpIndex(current, segment)
    if (!next.found) break
    current = next.value
  }
  return current
}

/**
 * `CRestUtil::processBatchElement` on one parsed value (the newest core): a reference that is the whole value
 * is replaced by what it resolves to, keeping its type; an embedded reference is replaced only when it resolves
 * to a string or a number (numbers as PHP prints them), otherwise the text stays as it was.
 */
export const substituteValue = (value: string, outputs: BatchOutputs): unknown => {
  let current: unknown = value
  for (const match of value.matchAll(referencePattern)) {
    const segments = [...match[2]!.matchAll(segmentPattern)].map((segment) => segment[1]!)
    if (segments.length === 0) continue
    const resolved = walkReference(outputs, match[1]!, segments)
    if (match[0] === current) {
      current = resolved
      continue
    }
    if (typeof current !== "string") continue
    const text = typeof resolved === "number" && isNumeric(resolved) ? phpNumberToString(resolved) : resolved
    if (typeof text !== "string") continue
    current = current.split(match[0]).join(text)
  }
  return current
}

/**
 * `CRestUtil::processBatchStructure`: substitutes every value at any depth. (The core runs keys through the same
 * function, but parse_str never leaves a complete `[...]` segment in a key, so keys pass unchanged.)
 */
export const substituteParams = (params: PhpArray, outputs: BatchOutputs): PhpArray => {
  const result = new PhpArray()
  for (const [key, value] of params.entries()) {
    if (value instanceof PhpArray) result.set(key, substituteParams(value, outputs))
    else result.set(key, typeof value === "string" ? substituteValue(value, outputs) : value)
  }
  return result
}

/** `parse_url` of a command: the path is the method, the query (without a `#fragment`) its parameters. */
export const splitCommand = (command: string): { readonly method: string; readonly query: string } => {
  const withoutFragment = command.split("#")[0]!
  const question = withoutFragment.indexOf("?")
  return question < 0
    ? { method: withoutFragment, query: "" }
    : { method: withoutFragment.slice(0, question), query: withoutFragment.slice(question + 1) }
}

/** Methods a batch refuses: file transfer, and a nested batch (rest >= 24.0.0). */
const notAllowedInBatch = new Set(["batch", "download", "upload"])

/** The methods named by a batch's commands (lower-cased), for fault filters and counters. */
export const commandMethods = (params: PhpArray): Array<string> => {
  const cmd = changeKeyCaseUpper(params).get("CMD")
  if (!(cmd instanceof PhpArray)) return []
  return cmd
    .values()
    .slice(0, batchMaxLength)
    .filter((command): command is string => typeof command === "string")
    .map((command) => splitCommand(command).method.toLowerCase())
}

/**
 * Runs a batch and returns its `result`: the five maps `result`, `result_error`, `result_total`, `result_next`,
 * `result_time`, in that order, as PHP arrays (so keys 0..n-1 come out as lists and empty maps as `[]`).
 */
export const runBatch = (params: PhpArray, run: CommandRunner): PhpArray => {
  const query = changeKeyCaseUpper(params)
  // PHP (bool): the string "false" is true; only "", "0", 0 and null are false.
  const halt = phpBool(query.get("HALT"))
  const outputs: BatchOutputs = {
    result: new PhpArray(),
    next: new PhpArray(),
    total: new PhpArray(),
    time: new PhpArray(),
    error: new PhpArray()
  }
  const cmd = query.get("CMD")
  if (cmd instanceof PhpArray) {
    let count = 0
    for (const [label, command] of cmd.entries()) {
      let outcome: CommandOutcome
      // The count includes skipped non-string commands: the 51st entry fails whatever it is.
      if (count++ < batchMaxLength) {
        if (typeof command !== "string") continue
        const { method, query: commandQuery } = splitCommand(command)
        const commandParams = commandQuery === "" ? new PhpArray() : substituteParams(parseStr(commandQuery), outputs)
        outcome = notAllowedInBatch.has(method.toLowerCase())
          ? { _tag: "Error", entry: errorEntry("ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage") }
          : run(method.toLowerCase(), commandParams, label)
      } else {
        outcome = { _tag: "Error", entry: errorEntry("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded") }
      }
      if (outcome._tag === "Ok") {
        outputs.result.set(label, outcome.result)
        if (outcome.next !== undefined) outputs.next.set(label, outcome.next)
        if (outcome.total !== undefined) outputs.total.set(label, outcome.total)
        outputs.time.set(label, outcome.time)
      } else {
        outputs.error.set(label, outcome.entry)
        if (halt) break
      }
    }
  }
  return PhpArray.from([
    ["result", outputs.result],
    ["result_error", outputs.error],
    ["result_total", outputs.total],
    ["result_next", outputs.next],
    ["result_time", outputs.time]
  ])
}
