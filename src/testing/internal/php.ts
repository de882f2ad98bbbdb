/**
 * The PHP behaviour a Bitrix24 portal inherits from its language: `parse_str`, PHP arrays (ordered maps whose
 * integer-like keys are integers), `json_encode` with the flags Bitrix uses, `json_decode` into arrays, the
 * `(bool)` and `(string)` casts, and `array_merge` / `array_replace`. The fake portal is only faithful where
 * it copies these rules, so they live here as small pure functions.
 */

/** A PHP array key: decimal integer strings become integers, as in PHP. */
export type PhpKey = string | number

const integerKeyPattern = /^(0|-?[1-9][0-9]*)$/

/** PHP turns keys like `"7"` (but not `"07"`, `"-0"` or `" 7"`) into the integer 7. */
export const normalizeKey = (key: PhpKey): PhpKey => {
  if (typeof key === "number") return Number.isFinite(key) ? Math.trunc(key) : 0
  if (integerKeyPattern.test(key)) {
    const n = Number(key)
    if (Number.isSafeInteger(n)) return n
  }
  return key
}

/**
 * A PHP array: an ordered map. Unlike a JS object it keeps integer-like keys in insertion order, which the
 * portal's batch maps depend on (`cmd` keyed "2","4","8","0" comes back in that order).
 */
export class PhpArray {
  private readonly map = new Map<PhpKey, unknown>()
  private nextIndex = 0

  /** Builds an array from entries, normalising keys (later duplicates overwrite in place). */
  static from(entries: Iterable<readonly [PhpKey, unknown]>): PhpArray {
    const array = new PhpArray()
    for (const [key, value] of entries) array.set(key, value)
    return array
  }

  /** Builds a list (keys 0..n-1). */
  static list(values: Iterable<unknown>): PhpArray {
    const array = new PhpArray()
    for (const value of values) array.push(value)
    return array
  }

  get size(): number {
    return this.map.size
  }

  has(key: PhpKey): boolean {
    return this.map.has(normalizeKey(key))
  }

  get(key: PhpKey): unknown {
    return this.map.get(normalizeKey(key))
  }

  /** `$a[$key] = $value`: an existing key keeps its position. */
  set(key: PhpKey, value: unknown): void {
    const k = normalizeKey(key)
    this.map.set(k, value)
    if (typeof k === "number" && k >= this.nextIndex) this.nextIndex = k + 1
  }

  /** `$a[] = $value`. */
  push(value: unknown): void {
    this.map.set(this.nextIndex, value)
    this.nextIndex++
  }

  delete(key: PhpKey): void {
    this.map.delete(normalizeKey(key))
  }

  keys(): Array<PhpKey> {
    return [...this.map.keys()]
  }

  entries(): Array<[PhpKey, unknown]> {
    return [...this.map.entries()]
  }

  values(): Array<unknown> {
    return [...this.map.values()]
  }

  /** PHP's json_encode writes a list exactly when the keys are 0..n-1 in order (an empty array too). */
  isList(): boolean {
    let expected = 0
    for (const key of this.map.keys()) {
      if (key !== expected) return false
      expected++
    }
    return true
  }
}

/** Whether a value is a plain JS object (not an array, not a PhpArray). */
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof PhpArray)

// ---------------------------------------------------------------------------------------------------------------
// parse_str

/** PHP ini defaults that shape parse_str and the POST parser. */
export interface ParseLimits {
  /** `max_input_vars`: variables after this many are dropped. Default 1000. */
  readonly maxInputVars?: number
  /** `max_input_nesting_level`: deeper variables are dropped entirely. Default 64. */
  readonly maxNestingLevel?: number
}

const hexValue = (code: number): number =>
  code >= 48 && code <= 57 ? code - 48 : code >= 65 && code <= 70 ? code - 55 : code >= 97 && code <= 102 ? code - 87 : -1

const utf8Decoder = new TextDecoder("utf-8")
const utf8Encoder = new TextEncoder()

/** PHP `urldecode`: `+` is a space, `%XX` a byte; a `%` not followed by two hex digits stays as it is. */
export const urlDecode = (text: string): string => {
  if (!text.includes("%") && !text.includes("+")) return text
  const source = utf8Encoder.encode(text)
  const bytes = new Uint8Array(source.length)
  let length = 0
  for (let i = 0; i < source.length; i++) {
    const byte = source[i]!
    if (byte === 43) {
      bytes[length++] = 32
    } else if (byte === 37 && i + 2 < source.length) {
      const high = hexValue(source[i + 1]!)
      const low = hexValue(source[i + 2]!)
      if (high >= 0 && low >= 0) {
        bytes[length++] = high * 16 + low
        i += 2
      } else {
        bytes[length++] = byte
      }
    } else {
      bytes[length++] = byte
    }
  }
  return utf8Decoder.decode(bytes.subarray(0, length))
}

/**
 * Files one variable into `target` the way PHP's `php_register_variable_ex` does: leading spaces dropped,
 * ` ` and `.` in the top-level name become `_`, `a[b][c]` nests, `a[]` appends, text after a closing `]` that
 * does not open another `[` is ignored, and a top-level `[` without `]` becomes `_`.
 */
export const registerVariable = (target: PhpArray, rawName: string, value: unknown, maxNestingLevel = 64): void => {
  let name = rawName
  while (name.startsWith(" ")) name = name.slice(1)
  let base = ""
  let position = 0
  let isArray = false
  for (; position < name.length; position++) {
    const char = name[position]!
    if (char === " " || char === ".") base += "_"
    else if (char === "[") {
      isArray = true
      break
    } else base += char
  }
  if (base.length === 0) return
  if (!isArray) {
    target.set(base, value)
    return
  }
  // Collect the bracketed indexes; `null` stands for `[]` (append).
  const indexes: Array<string | null> = []
  let cursor = position // at '['
  for (;;) {
    const start = cursor + 1
    if (name[start] === "]") {
      indexes.push(null)
      cursor = start
    } else {
      const close = name.indexOf("]", start)
      if (close < 0) {
        if (indexes.length === 0) {
          // PHP: not an index; the '[' and the ' ', '.', '[' after it become '_' in the variable name.
          base = base + "_" + name.slice(start).replace(/[ .[]/g, "_")
          target.set(base, value)
          return
        }
        break // a nested unterminated index: the rest is ignored
      }
      indexes.push(name.slice(start, close))
      cursor = close
    }
    if (name[cursor + 1] === "[") cursor = cursor + 1
    else break
  }
  if (indexes.length + 1 > maxNestingLevel) {
    // PHP drops the whole top-level variable when the nesting is too deep.
    target.delete(base)
    return
  }
  let container = target
  let key: string | null = base
  for (const index of indexes) {
    let child: unknown
    if (key === null) {
      child = new PhpArray()
      container.push(child)
    } else {
      child = container.get(key)
      if (!(child instanceof PhpArray)) {
        child = new PhpArray()
        container.set(key, child)
      }
    }
    container = child as PhpArray
    key = index
  }
  if (key === null) container.push(value)
  else container.set(key, value)
}

/**
 * PHP `parse_str`: `&`-separated pairs, names and values URL-decoded, bracket nesting, every value a string,
 * a repeated key overwrites the earlier one, and at most `max_input_vars` variables.
 */
export const parseStr = (query: string, limits: ParseLimits = {}): PhpArray => {
  const maxInputVars = limits.maxInputVars ?? 1000
  const maxNestingLevel = limits.maxNestingLevel ?? 64
  const result = new PhpArray()
  let count = 0
  for (const pair of query.split("&")) {
    if (pair === "") continue
    if (++count > maxInputVars) break
    const equals = pair.indexOf("=")
    const name = urlDecode(equals < 0 ? pair : pair.slice(0, equals))
    const value = equals < 0 ? "" : urlDecode(pair.slice(equals + 1))
    registerVariable(result, name, value, maxNestingLevel)
  }
  return result
}

/**
 * The text fields of a `multipart/form-data` body, filed like PHP's `$_POST` (file parts go to `$_FILES`, so
 * they are skipped here).
 */
export const parseMultipart = (body: string, contentType: string, limits: ParseLimits = {}): PhpArray => {
  const result = new PhpArray()
  const boundaryMatch = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType)
  const boundary = boundaryMatch?.[1] ?? boundaryMatch?.[2]?.trim()
  if (boundary === undefined || boundary === "") return result
  const maxInputVars = limits.maxInputVars ?? 1000
  let count = 0
  for (const part of body.split("--" + boundary).slice(1)) {
    if (part.startsWith("--")) break
    const headerEnd = part.indexOf("\r\n\r\n")
    const separatorLength = headerEnd >= 0 ? 4 : 2
    const end = headerEnd >= 0 ? headerEnd : part.indexOf("\n\n")
    if (end < 0) continue
    const headers = part.slice(0, end)
    let content = part.slice(end + separatorLength)
    if (content.endsWith("\r\n")) content = content.slice(0, -2)
    else if (content.endsWith("\n")) content = content.slice(0, -1)
    const disposition = /content-disposition:[^\n]*?\bname="([^"]*)"/i.exec(headers)
    if (disposition === null || /\bfilename=/i.test(headers)) continue
    if (++count > maxInputVars) break
    registerVariable(result, disposition[1]!, content, limits.maxNestingLevel ?? 64)
  }
  return result
}

// ---------------------------------------------------------------------------------------------------------------
// Array functions and casts

/** PHP `array_merge`: string keys of later arrays overwrite, integer keys are renumbered from 0. */
export const arrayMerge = (...arrays: ReadonlyArray<PhpArray>): PhpArray => {
  const result = new PhpArray()
  for (const array of arrays) {
    for (const [key, value] of array.entries()) {
      if (typeof key === "number") result.push(value)
      else result.set(key, value)
    }
  }
  return result
}

/** PHP `array_replace`: later arrays overwrite keys (in place) and append new ones, keys kept as they are. */
export const arrayReplace = (...arrays: ReadonlyArray<PhpArray>): PhpArray => {
  const result = new PhpArray()
  for (const array of arrays) for (const [key, value] of array.entries()) result.set(key, value)
  return result
}

/** PHP `array_change_key_case(..., CASE_UPPER)`: a later key that collides overwrites the earlier value. */
export const changeKeyCaseUpper = (array: PhpArray): PhpArray => {
  const result = new PhpArray()
  for (const [key, value] of array.entries()) result.set(typeof key === "string" ? key.toUpperCase() : key, value)
  return result
}

/** PHP `(bool)`: `""`, `"0"`, `0`, `0.0`, `null`, `false` and an empty array are false; `"false"` is TRUE. */
export const phpBool = (value: unknown): boolean => {
  if (value === null || value === undefined) return false
  if (typeof value === "boolean") return value
  if (typeof value === "number") return value !== 0
  if (typeof value === "string") return value !== "" && value !== "0"
  if (value instanceof PhpArray) return value.size > 0
  if (Array.isArray(value)) return value.length > 0
  if (isPlainObject(value)) return Object.keys(value).length > 0
  return true
}

/** PHP `is_numeric`. */
export const isNumeric = (value: unknown): boolean => {
  if (typeof value === "number") return Number.isFinite(value)
  if (typeof value !== "string") return false
  return /^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$/.test(value)
}

/** PHP's `(string)` of a number: integers as digits, floats as `%.14G` (`precision` 14, `1.0E+25` style). */
export const phpNumberToString = (value: number): string => {
  if (Number.isNaN(value)) return "NAN"
  if (!Number.isFinite(value)) return value > 0 ? "INF" : "-INF"
  if (Number.isSafeInteger(value)) return String(value)
  const [mantissa, exponentText] = value.toExponential(13).split("e")
  const exponent = Number(exponentText)
  if (exponent < -4 || exponent >= 14) {
    const digits = mantissa!.replace(/0+$/, "").replace(/\.$/, ".0")
    return `${digits}E${exponent >= 0 ? "+" : "-"}${Math.abs(exponent)}`
  }
  return String(Number(value.toPrecision(14)))
}

/**
 * A PHP array (at any depth, inside plain values too) as plain JS: lists become arrays, other arrays objects.
 * Objects lose the order of integer-like keys, which is why the engine keeps PhpArray until this point.
 */
export const toPlain = (value: unknown): unknown => {
  if (value instanceof PhpArray) {
    if (value.isList()) return value.values().map(toPlain)
    const object: Record<string, unknown> = {}
    for (const [key, item] of value.entries()) defineKey(object, String(key), toPlain(item))
    return object
  }
  if (Array.isArray(value)) return value.map(toPlain)
  if (isPlainObject(value)) {
    const object: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) defineKey(object, key, toPlain(item))
    return object
  }
  return value
}

const defineKey = (object: Record<string, unknown>, key: string, value: unknown): void => {
  // A "__proto__" key from the wire must stay data, not change the object's prototype.
  if (key === "__proto__") Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true })
  else object[key] = value
}

/** The entries of any PHP-array-like value (PhpArray, JS array, plain object), or `undefined` for scalars. */
export const arrayEntries = (value: unknown): Array<[PhpKey, unknown]> | undefined => {
  if (value instanceof PhpArray) return value.entries()
  if (Array.isArray(value)) return value.map((item, index) => [index, item])
  if (isPlainObject(value)) {
    const entries: Array<[PhpKey, unknown]> = []
    for (const [key, item] of Object.entries(value)) if (item !== undefined) entries.push([normalizeKey(key), item])
    return entries
  }
  return undefined
}

/**
 * PHP `isset($container[$key])` followed by the read: `null` counts as not set; strings answer integer offsets
 * with one character.
 */
export const phpIndex = (container: unknown, key: string): { readonly found: true; readonly value: unknown } | { readonly found: false } => {
  let value: unknown
  if (container instanceof PhpArray) value = container.get(key)
  else if (Array.isArray(container)) {
    const index = normalizeKey(key)
    value = typeof index === "number" && index >= 0 ? container[index] : undefined
  } else if (isPlainObject(container)) {
    const index = normalizeKey(key)
    value = Object.prototype.hasOwnProperty.call(container, String(index)) ? container[String(index)] : undefined
  } else if (typeof container === "string") {
    const index = normalizeKey(key)
    if (typeof index === "number") {
      const position = index < 0 ? container.length + index : index
      value = position >= 0 && position < container.length ? container[position] : undefined
    }
  }
  return value === undefined || value === null ? { found: false } : { found: true, value }
}

// ---------------------------------------------------------------------------------------------------------------
// json_encode

/** Thrown when PHP's json_encode would fail (NaN, INF); Bitrix then answers WRONG_ENCODING. */
export class JsonEncodeError extends Error {}

const hex4 = (code: number): string => code.toString(16).padStart(4, "0")

/** PHP's spelling of the characters the HEX flags and the default slash escaping rewrite. */
const asciiEscapes: ReadonlyArray<string | undefined> = (() => {
  const table: Array<string | undefined> = []
  table[0x2f] = "\\/"
  table[0x3c] = "\\u003C"
  table[0x3e] = "\\u003E"
  table[0x26] = "\\u0026"
  table[0x27] = "\\u0027"
  return table
})()

/** `\uxxxx` for code units from 0x80, built on first use. */
const unicodeEscapes: Array<string | undefined> = []

/**
 * Turns JSON text written by `JSON.stringify` into what PHP's json_encode with Bitrix's flags writes: inside
 * strings `\"` becomes `\u0022`, `/` `\/`, `< > & '` `\u003C` …, and every non-ASCII code unit `\uxxxx`
 * (PHP leaves DEL raw). These characters never occur outside strings, so the whole text can be scanned.
 */
export const phpEscapeJson = (json: string): string =>
  // one native pass: an escape pair (only \" changes; a \uXXXX's digits are plain ASCII) or a character to rewrite.
  // The result is built by the engine from slices of `json`: a large non-ASCII value costs about its own size, where
  // appending to a string a character at a time cost tens of bytes per character
  json.replace(phpEscapePattern, phpEscapeOne)

const phpEscapePattern = /\\[\s\S]|[/<>&'\u0080-\uffff]/g

const phpEscapeOne = (match: string): string => {
  if (match.length === 2) return match === '\\"' ? "\\u0022" : match
  const code = match.charCodeAt(0)
  if (code < 0x80) return asciiEscapes[code]!
  let escape = unicodeEscapes[code]
  if (escape === undefined) {
    escape = "\\u" + hex4(code)
    unicodeEscapes[code] = escape
  }
  return escape
}

/**
 * A PHP string as `json_encode(..., JSON_HEX_TAG|JSON_HEX_AMP|JSON_HEX_APOS|JSON_HEX_QUOT)` writes it: every
 * non-ASCII character as `\uxxxx` (lower-case hex), `/` as `\/`, and `< > & ' "` as `\u003C` … `\u0022`.
 */
export const encodeString = (text: string): string => phpEscapeJson(JSON.stringify(text))

/** Row keys repeat thousands of times per response: encode each once. */
const encodedKeys = new Map<string, string>()
const encodeKey = (key: string): string => {
  let encoded = encodedKeys.get(key)
  if (encoded === undefined) {
    encoded = encodeString(key)
    if (encodedKeys.size < 10_000) encodedKeys.set(key, encoded)
  }
  return encoded
}

/** A number as PHP's json_encode writes it (serialize_precision -1: the shortest round-trip form). */
export const encodeNumber = (value: number): string => {
  if (!Number.isFinite(value)) throw new JsonEncodeError("Inf and NaN cannot be JSON encoded")
  if (Object.is(value, -0)) return "-0.0"
  const text = String(value)
  const exponent = text.indexOf("e")
  if (exponent < 0) return text
  // PHP writes 1.0e+25 where JS writes 1e+25.
  const mantissa = text.slice(0, exponent)
  return (mantissa.includes(".") ? mantissa : mantissa + ".0") + text.slice(exponent)
}

/**
 * PHP `json_encode` with Bitrix's flags over PhpArray and plain JS values: an empty array is `[]`, an array with
 * keys 0..n-1 in order is a list, any other array an object in insertion order (plain JS objects in their own
 * key order). `undefined` object members are left out.
 */
export const jsonEncode = (value: unknown): string => encodeValue(value, true)

/** The hand-written encoder alone, without the native fast path: the reference the fast path must match. */
export const jsonEncodeByHand = (value: unknown): string => encodeValue(value, false)

const encodeValue = (value: unknown, tryNative: boolean): string => {
  if (value === null || value === undefined) return "null"
  if (typeof value === "boolean") return value ? "true" : "false"
  if (typeof value === "number") return encodeNumber(value)
  if (typeof value === "bigint") return value.toString()
  if (typeof value === "string") return encodeString(value)
  if (value instanceof PhpArray) {
    const entries = value.entries()
    if (value.isList()) return "[" + entries.map(([, item]) => jsonEncode(item)).join(",") + "]"
    return "{" + entries.map(([key, item]) => encodeKey(String(key)) + ":" + jsonEncode(item)).join(",") + "}"
  }
  if (typeof value !== "object") return encodeString(String(value))
  // Method results are plain JS trees of thousands of rows: let the native encoder do the work when it can.
  const native = tryNative ? encodeNative(value) : undefined
  if (native !== undefined) return native
  if (Array.isArray(value)) return "[" + value.map((item) => encodeValue(item, false)).join(",") + "]"
  const object = value as Record<string, unknown>
  const keys = Object.keys(object).filter((key) => object[key] !== undefined)
  // JS puts integer-like keys first in ascending order, so keys "0".."n-1" at their positions mean a PHP list.
  if (keys.every((key, i) => key === String(i))) return "[" + keys.map((key) => encodeValue(object[key], false)).join(",") + "]"
  return "{" + keys.map((key) => encodeKey(key) + ":" + encodeValue(object[key], false)).join(",") + "}"
}

/** Set by the replacer when a value needs the hand-written encoder (PhpArray, exponent numbers, -0, NaN…). */
let nativeFailed = false

/** Applies PHP's array rules inside JSON.stringify: empty or 0..n-1-keyed objects become lists. */
const phpArrayReplacer = (_key: string, value: unknown): unknown => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value
    case "number":
      // JS and PHP agree on every number except -0, non-finite ones and the exponent forms.
      if (!Number.isFinite(value) || Object.is(value, -0) || Math.abs(value) >= 1e21 || (value !== 0 && Math.abs(value) < 1e-6)) {
        nativeFailed = true
      }
      return value
    case "object": {
      if (value === null || Array.isArray(value)) return value
      if (value instanceof PhpArray) {
        nativeFailed = true
        return null
      }
      const object = value as Record<string, unknown>
      let index = 0
      for (const key in object) {
        if (object[key] === undefined) continue
        if (key !== String(index)) return value
        index++
      }
      return Object.values(object).filter((item) => item !== undefined)
    }
    default:
      if (value !== undefined) nativeFailed = true
      return value === undefined ? undefined : null
  }
}

/**
 * Whether `JSON.stringify` alone writes `value` as PHP would: no PhpArray, no object PHP would turn into a list
 * (empty, or keys 0..n-1), no `undefined` members, no number PHP writes differently. A walk is several times
 * cheaper than a replacer called for every value of thousands of rows.
 */
const isPlainJson = (value: unknown, depth: number): boolean => {
  if (depth > 64) return false
  switch (typeof value) {
    case "string":
    case "boolean":
      return true
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0) && Math.abs(value) < 1e21 && (value === 0 || Math.abs(value) >= 1e-6)
    case "object": {
      if (value === null) return true
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length; index++) if (!isPlainJson(value[index], depth + 1)) return false
        return true
      }
      if (value instanceof PhpArray) return false
      const object = value as Record<string, unknown>
      let first = true
      for (const key in object) {
        // JS lists integer-like keys first, so a first key "0" is the only way 0..n-1 keys can start
        if (first && key === "0") return false
        first = false
        if (!isPlainJson(object[key], depth + 1)) return false
      }
      return !first
    }
    default:
      return false
  }
}

const encodeNative = (value: object): string | undefined => {
  if (isPlainJson(value, 0)) return phpEscapeJson(JSON.stringify(value))
  nativeFailed = false
  let text: string | undefined
  try {
    text = JSON.stringify(value, phpArrayReplacer) as string | undefined
  } catch {
    return undefined
  }
  if (nativeFailed || text === undefined) return undefined
  return phpEscapeJson(text)
}

// ---------------------------------------------------------------------------------------------------------------
// json_decode

/** Thrown by `jsonDecode` on invalid JSON. */
export class JsonDecodeError extends Error {}

/** The one-character escapes of a JSON string (`\\u` aside). */
const simpleEscapes = '"\\/bfnrt'

/**
 * PHP `json_decode($text, true)`: objects and lists become PhpArray (object key order kept, integer-like keys
 * as integers; a duplicate key overwrites in place), depth at most 512.
 */
export const jsonDecode = (text: string): unknown => {
  let position = 0
  const fail = (message: string): never => {
    throw new JsonDecodeError(`${message} at ${position}`)
  }
  const skipWhitespace = () => {
    while (position < text.length) {
      const char = text[position]
      if (char === " " || char === "\t" || char === "\n" || char === "\r") position++
      else break
    }
  }
  /**
   * A string token, scanned without building anything: a string without escapes is a slice of the body, one with
   * escapes is decoded by the platform's `JSON.parse` (the grammar checked here is JSON's), so a large value costs
   * about its own size. Built a character at a time, it cost ~32 bytes of heap per body byte (a chain of string
   * pieces), enough for a body under the front server's limit to exhaust a test process's heap.
   */
  const parseString = (): string => {
    const open = position
    position++ // opening quote
    let escaped = false
    for (;;) {
      if (position >= text.length) fail("Unterminated string")
      const code = text.charCodeAt(position)
      if (code === 34) break // "
      if (code === 92) {
        // a backslash: an escape
        escaped = true
        const escape = text[position + 1]
        if (escape === "u") {
          for (let digit = position + 2; digit < position + 6; digit++) {
            if (hexValue(text.charCodeAt(digit)) < 0) fail("Bad unicode escape")
          }
          position += 6
        } else {
          position += 2
          if (escape === undefined || !simpleEscapes.includes(escape)) fail("Bad escape")
        }
      } else if (code < 0x20) {
        fail("Control character in string")
      } else {
        position++
      }
    }
    position++ // closing quote
    return escaped ? (JSON.parse(text.slice(open, position)) as string) : text.slice(open + 1, position - 1)
  }
  const parseValue = (depth: number): unknown => {
    if (depth > 512) fail("Maximum depth exceeded")
    skipWhitespace()
    const char = text[position]
    if (char === "{") {
      position++
      const object = new PhpArray()
      skipWhitespace()
      if (text[position] === "}") {
        position++
        return object
      }
      for (;;) {
        skipWhitespace()
        if (text[position] !== '"') fail("Expected a key")
        const key = parseString()
        skipWhitespace()
        if (text[position] !== ":") fail("Expected ':'")
        position++
        object.set(key, parseValue(depth + 1))
        skipWhitespace()
        if (text[position] === ",") {
          position++
          continue
        }
        if (text[position] === "}") {
          position++
          return object
        }
        fail("Expected ',' or '}'")
      }
    }
    if (char === "[") {
      position++
      const list = new PhpArray()
      skipWhitespace()
      if (text[position] === "]") {
        position++
        return list
      }
      for (;;) {
        list.push(parseValue(depth + 1))
        skipWhitespace()
        if (text[position] === ",") {
          position++
          continue
        }
        if (text[position] === "]") {
          position++
          return list
        }
        fail("Expected ',' or ']'")
      }
    }
    if (char === '"') return parseString()
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(position, position + 400))
    if (literal === null) return fail("Unexpected token")
    position += literal[0].length
    if (literal[0] === "true") return true
    if (literal[0] === "false") return false
    if (literal[0] === "null") return null
    return Number(literal[0])
  }
  const value = parseValue(1)
  skipWhitespace()
  if (position !== text.length) fail("Trailing data")
  return value
}

// ---------------------------------------------------------------------------------------------------------------
// XML transport

const xmlSpecialChars = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#039;")

const xmlScalar = (value: unknown): string => {
  if (value === null || value === undefined || value === false) return ""
  if (value === true) return "1"
  if (typeof value === "number") return phpNumberToString(value)
  return xmlSpecialChars(String(value))
}

/** Bitrix's `outputXml`: each key an element, integer keys as `<item>`, no XML declaration. */
export const xmlEncode = (value: unknown): string => {
  const entries = arrayEntries(value)
  if (entries === undefined) return xmlScalar(value)
  let out = ""
  for (const [key, item] of entries) {
    const tag = typeof key === "number" ? "item" : key
    out += `<${tag}>` + (arrayEntries(item) === undefined ? xmlScalar(item) : xmlEncode(item)) + `</${tag}>`
  }
  return out
}
