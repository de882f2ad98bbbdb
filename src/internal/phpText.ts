/**
 * How PHP writes text into a query string: `urlencode` (RFC 1738) and plain decimal numbers.
 */

/** Text PHP's `urlencode` leaves as it is. */
const plain = /^[A-Za-z0-9_.-]*$/

const encodeText = (text: string): string =>
  encodeURIComponent(text)
    // encodeURIComponent keeps these five; PHP's urlencode does not
    .replace(/[!'()*~]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
    // RFC 1738 (PHP_QUERY_RFC1738, http_build_query's default): space is `+`
    .replace(/%20/g, "+")

// Keys (`filter[>ID]`, `select[0]`) and references repeat in every command of a batch: their encodings are kept,
// up to a bound (the cache starts over when full, so arbitrary values cannot grow it without limit)
const cacheLimit = 4096
const cacheableLength = 64
const cache = new Map<string, string>()

/**
 * PHP's `urlencode`: everything but `A-Z a-z 0-9 - _ .` percent-encoded as UTF-8, a space as `+`.
 * Throws `URIError` on a lone surrogate (callers go through {@link encode}, which reports it).
 */
export const urlencode = (text: string): string => {
  if (plain.test(text)) return text
  if (text.length > cacheableLength) return encodeText(text)
  const known = cache.get(text)
  if (known !== undefined) return known
  const encoded = encodeText(text)
  if (cache.size >= cacheLimit) cache.clear()
  cache.set(text, encoded)
  return encoded
}

/**
 * A finite number in plain decimal notation: JavaScript writes `1e21` and `1e-7` in exponent form, which PHP
 * methods expecting digits may not read as a number.
 */
export const decimal = (value: number): string => {
  if (Object.is(value, -0)) return "0"
  const text = String(value)
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text)
  if (match === null) return text
  const [, sign = "", head = "", tail = "", exponent = "0"] = match
  const digits = head + tail
  const pointAt = head.length + Number(exponent)
  if (pointAt <= 0) return `${sign}0.${"0".repeat(-pointAt)}${digits}`
  if (pointAt >= digits.length) return `${sign}${digits}${"0".repeat(pointAt - digits.length)}`
  return `${sign}${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`
}
