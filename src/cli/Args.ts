/**
 * The command line of `b24`, parsed with `node:util`'s `parseArgs` and described once: each subcommand's
 * options, their value names and one-line descriptions give both the parser's table and the `--help` text
 * (a line per option and a few examples, no colour). Pure, and free of Effect, so `b24 --help` answers without
 * loading the library.
 *
 * @since 0.1.0
 */
import { parseArgs } from "node:util"

/**
 * One option: `--name VALUE` (a string, or a number or a choice checked after parsing) or a `--flag`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface OptionSpec {
  readonly name: string
  readonly short?: string
  /** The value's placeholder in the help text; absent for a boolean flag. */
  readonly value?: string
  readonly kind?: "text" | "integer" | "number"
  readonly choices?: ReadonlyArray<string>
  readonly required?: boolean
  readonly description: string
}

/**
 * One subcommand: its positional argument (if any), options, and examples for the help text.
 *
 * @since 0.1.0
 * @category Models
 */
export interface CommandSpec {
  readonly name: string
  readonly summary: string
  readonly positional?: { readonly name: string; readonly description: string }
  readonly options: ReadonlyArray<OptionSpec>
  /** Options shared with other commands, listed under their own heading. */
  readonly shared?: ReadonlyArray<OptionSpec>
  readonly examples: ReadonlyArray<string>
}

/**
 * What a command line holds once parsed: strings, numbers and flags by option name, and the positional.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Parsed {
  readonly positional: string | undefined
  readonly values: Readonly<Record<string, string | number | boolean | undefined>>
  readonly help: boolean
}

/**
 * A command line that cannot be run: the message, and the command whose help to point at.
 *
 * @since 0.1.0
 * @category Models
 */
export interface UsageError {
  readonly _tag: "UsageError"
  readonly message: string
}

/**
 * A parse: the command line, or why it cannot be run.
 *
 * @since 0.1.0
 * @category Models
 */
export type ParseResult = { readonly _tag: "Parsed"; readonly parsed: Parsed } | UsageError

const usageError = (message: string): UsageError => ({ _tag: "UsageError", message })

const wholeNumber = /^[+-]?\d+$/
const decimal = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

const allOptions = (spec: CommandSpec): ReadonlyArray<OptionSpec> => [...spec.options, ...(spec.shared ?? [])]

/**
 * Parses the arguments after the subcommand's name against its spec.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseCommand = (spec: CommandSpec, args: ReadonlyArray<string>): ParseResult => {
  const table: Record<string, { type: "string" | "boolean"; short?: string }> = { help: { type: "boolean", short: "h" } }
  for (const option of allOptions(spec)) {
    table[option.name] = {
      type: option.value === undefined ? "boolean" : "string",
      ...(option.short === undefined ? {} : { short: option.short })
    }
  }
  let parsed: { values: Record<string, string | boolean | Array<string | boolean> | undefined>; positionals: Array<string> }
  try {
    parsed = parseArgs({ args: [...args], options: table, allowPositionals: true, strict: true })
  } catch (error) {
    return usageError(error instanceof Error ? error.message.replace(/\. To specify a positional argument.*$/s, "") : String(error))
  }
  if (parsed.values["help"] === true) return { _tag: "Parsed", parsed: { positional: undefined, values: {}, help: true } }
  const expected = spec.positional === undefined ? 0 : 1
  if (parsed.positionals.length > expected) {
    return usageError(`unexpected argument "${parsed.positionals[expected]}"`)
  }
  if (spec.positional !== undefined && parsed.positionals.length === 0) {
    return usageError(`missing <${spec.positional.name}> (${spec.positional.description})`)
  }
  const values: Record<string, string | number | boolean | undefined> = {}
  for (const option of allOptions(spec)) {
    const raw = parsed.values[option.name]
    if (typeof raw !== "string") {
      if (option.required === true) return usageError(`missing --${option.name} ${option.value ?? ""}`.trimEnd())
      values[option.name] = raw === true ? true : option.value === undefined ? false : undefined
      continue
    }
    if (option.choices !== undefined && !option.choices.includes(raw)) {
      return usageError(`--${option.name} expects one of ${option.choices.join(", ")}, got "${raw}"`)
    }
    if (option.kind === "integer" || option.kind === "number") {
      const text = raw.trim()
      if (!(option.kind === "integer" ? wholeNumber : decimal).test(text)) {
        return usageError(`--${option.name} expects ${option.kind === "integer" ? "a whole number" : "a number"}, got "${raw}"`)
      }
      values[option.name] = Number(text)
      continue
    }
    values[option.name] = raw
  }
  return { _tag: "Parsed", parsed: { positional: parsed.positionals[0], values, help: false } }
}

const optionLines = (options: ReadonlyArray<OptionSpec>): ReadonlyArray<string> => {
  const heads = options.map(
    (option) => `${option.short === undefined ? "    " : `-${option.short}, `}--${option.name}${option.value === undefined ? "" : ` ${option.value}`}`
  )
  const width = Math.max(...heads.map((head) => head.length)) + 2
  return options.map((option, index) => `  ${(heads[index] ?? "").padEnd(width)}${option.description}`)
}

/**
 * The help text of one subcommand.
 *
 * @since 0.1.0
 * @category Help
 */
export const commandHelp = (spec: CommandSpec): string =>
  [
    `b24 ${spec.name}: ${spec.summary}`,
    "",
    `Usage: b24 ${spec.name}${spec.positional === undefined ? "" : ` <${spec.positional.name}>`} [options]`,
    ...(spec.options.length === 0 ? [] : ["", "Options:", ...optionLines(spec.options)]),
    ...(spec.shared === undefined ? [] : ["", "Connection and pace:", ...optionLines(spec.shared)]),
    "",
    "Examples:",
    ...spec.examples.map((example) => `  ${example}`),
    ""
  ].join("\n")
