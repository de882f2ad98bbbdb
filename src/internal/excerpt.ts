/**
 * Bounded excerpts of values for errors: enough to recognise what arrived, never a whole table.
 */

/** How much of an unexpected value an error keeps, in characters of its JSON. */
export const excerptLength = 500

/** A bounded JSON excerpt of a value (`excerptLength` characters at most); values JSON cannot write are described. */
export const excerptOf = (value: unknown, length: number = excerptLength): string => {
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  return text.length > length ? `${text.slice(0, length - 1)}…` : text
}
