/**
 * Option text shared by the `b24` command line and the fake portal's: whole-string numbers, `key=value`
 * lists and the `--limits` spelling. Pure; errors name the flag at fault.
 */
import * as Either from "effect/Either"
import { type Limits, type LimitNumbers, presets } from "../BitrixConfig.js"
import { checkLimits } from "./options.js"

/** A command line that cannot be served, with the flag at fault. */
export interface PortalArgsError {
  readonly _tag: "PortalArgsError"
  /** The flag at fault, e.g. `--limits`; `undefined` for a problem with the command line as a whole. */
  readonly flag: string | undefined
  readonly message: string
}

/** A failed parse of `flag`'s text. */
export const fail = (flag: string | undefined, message: string): Either.Either<never, PortalArgsError> =>
  Either.left({ _tag: "PortalArgsError", flag, message })

/** A whole-string decimal number; `Number("")` is 0 and `Number(" 1 ")` is 1, neither is a number the user typed. */
export const parseNumber = (text: string): number | undefined => {
  const trimmed = text.trim()
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) return undefined
  return Number(trimmed)
}

/** Splits `a=1,b=2` into pairs; every item must have exactly one `=`. */
export const parsePairs = (flag: string, text: string): Either.Either<ReadonlyArray<readonly [string, string]>, PortalArgsError> => {
  const pairs: Array<readonly [string, string]> = []
  for (const item of text.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const at = item.indexOf("=")
    if (at <= 0 || at === item.length - 1) return fail(flag, `${flag}: "${item}" is not key=value`)
    pairs.push([item.slice(0, at).trim(), item.slice(at + 1).trim()])
  }
  return pairs.length === 0 ? fail(flag, `${flag} expects key=value pairs, got "${text}"`) : Either.right(pairs)
}

const limitKeys: Readonly<Record<string, keyof LimitNumbers>> = {
  pool: "poolSize",
  rps: "requestsPerSecond",
  operating: "operatingLimitSeconds",
  window: "operatingWindowSeconds"
}

/**
 * Parses `--limits`: a preset name or `pool=50,rps=2,operating=480,window=600`, unset keys taking the
 * standard plan's values.
 */
export const parseLimits = (text: string): Either.Either<Limits, PortalArgsError> => {
  const preset = text.trim()
  if (preset === "standard" || preset === "enterprise" || preset === "off") return Either.right(preset)
  return Either.flatMap(parsePairs("--limits", text), (pairs) => {
    const numbers: Record<keyof LimitNumbers, number> = { ...presets.standard }
    for (const [key, value] of pairs) {
      const field = limitKeys[key]
      if (field === undefined) {
        return fail("--limits", `--limits: unknown key "${key}"; use standard, enterprise, off or pool=,rps=,operating=,window=`)
      }
      const number = parseNumber(value)
      if (number === undefined) return fail("--limits", `--limits: ${key} must be a number, got "${value}"`)
      numbers[field] = number
    }
    const problem = checkLimits(numbers)
    return problem === undefined ? Either.right(numbers) : fail("--limits", `--limits: ${problem}`)
  })
}
