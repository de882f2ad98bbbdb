/**
 * The HTTP edge of the fake portal: reading a `PortalRequest` the way Bitrix's front server and
 * `CRestUtil::getRequestData` do, and writing responses the way `CRestServer` and nginx do.
 */
import {
  arrayMerge,
  arrayReplace,
  jsonDecode,
  JsonEncodeError,
  jsonEncode,
  parseMultipart,
  parseStr,
  PhpArray,
  xmlEncode
} from "./php.js"
import type { PortalOutcome, PortalRequest } from "./types.js"

/** A request URL taken apart; `pathAndQuery` is what the front server measures for 414. */
export interface RequestTarget {
  /** e.g. `https://portal.example`, from an absolute URL or the Host header. */
  readonly origin: string
  /** Percent-decoded path. */
  readonly pathname: string
  /** The raw query string, without `?`. */
  readonly query: string
  readonly pathAndQuery: string
}

const safeDecode = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** Splits a path-and-query or absolute URL without normalising it (the raw text is what PHP parses). */
export const parseTarget = (url: string, host: string | undefined, defaultOrigin: string): RequestTarget => {
  let raw = url
  let origin = host !== undefined && host !== "" ? `http://${host}` : defaultOrigin
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(raw)
  if (absolute !== null) {
    origin = absolute[0]
    raw = raw.slice(absolute[0].length)
  }
  raw = raw.split("#")[0]!
  if (!raw.startsWith("/")) raw = "/" + raw
  const question = raw.indexOf("?")
  const rawPath = question < 0 ? raw : raw.slice(0, question)
  return {
    origin,
    pathname: safeDecode(rawPath),
    query: question < 0 ? "" : raw.slice(question + 1),
    pathAndQuery: raw
  }
}

/** Where a `/rest/` request goes. */
export interface RestRoute {
  /** Lower-cased, without `.json` / `.xml`. */
  readonly method: string
  readonly transport: "json" | "xml"
  /** Set for `/rest/{userId}/{code}/{method}`. */
  readonly webhook?: { readonly userId: string; readonly code: string }
}

/**
 * The `rest.server` templates `#method#[/]` and `#aplogin#/#ap#/#method#[/]`. Any other number of segments
 * leaves a method name with slashes in it, which no method has (so: 404 "Method not found!").
 */
export const parseRestPath = (pathname: string): RestRoute => {
  let rest = pathname.slice("/rest/".length)
  if (rest.endsWith("/")) rest = rest.slice(0, -1)
  const segments = rest.split("/")
  const rawMethod = segments.length === 3 ? segments[2]! : rest
  let method = rawMethod.toLowerCase()
  let transport: "json" | "xml" = "json"
  if (method.endsWith(".json")) method = method.slice(0, -5)
  else if (method.endsWith(".xml")) {
    method = method.slice(0, -4)
    transport = "xml"
  }
  return segments.length === 3
    ? { method, transport, webhook: { userId: segments[0]!, code: segments[1]! } }
    : { method, transport }
}

/**
 * `CRestUtil::getRequestData`: the query (plus form fields PHP parsed into `$_POST`) as `array_merge` builds the
 * request; a POST without form fields has its raw body read instead, JSON-decoded for exactly
 * `application/json` (parameters after `;` ignored; invalid JSON = no params) and `parse_str`-ed otherwise,
 * then laid over the query with `array_replace` (body keys win).
 */
export const requestParams = (request: PortalRequest, query: string): PhpArray => {
  const queryParams = parseStr(query)
  if (request.httpMethod.toUpperCase() !== "POST") return arrayMerge(queryParams)
  const fullContentType = request.headers["content-type"] ?? ""
  // PHP picks its POST parser case-insensitively...
  const mediaType = fullContentType.split(";")[0]!.trim().toLowerCase()
  let post = new PhpArray()
  if (mediaType === "application/x-www-form-urlencoded") post = parseStr(request.body)
  else if (mediaType === "multipart/form-data") post = parseMultipart(request.body, fullContentType)
  if (post.size > 0) return arrayMerge(queryParams, post)
  // ...but Bitrix compares the trimmed type with 'application/json' exactly.
  const bitrixType = fullContentType.replace(/;.*$/, "").trim()
  const raw = request.body.trim()
  let body = new PhpArray()
  if (bitrixType === "application/json") {
    try {
      const decoded = jsonDecode(raw)
      if (decoded instanceof PhpArray) body = decoded
    } catch {
      // Invalid JSON silently becomes "no params".
    }
  } else if (raw !== "") body = parseStr(raw)
  return arrayReplace(arrayMerge(queryParams), body)
}

/** Headers `CRestServer` and the cloud send with every REST answer. */
export const restHeaders = (transport: "json" | "xml", processingSeconds: number, clientId?: string): Record<string, string> => {
  const headers: Record<string, string> = {
    "content-type": transport === "json" ? "application/json; charset=utf-8" : "text/xml; charset=utf-8",
    "access-control-allow-origin": "*",
    "access-control-allow-headers": "origin, content-type, accept",
    "x-content-type-options": "nosniff",
    "x-bitrix-rest-time": processingSeconds.toFixed(10)
  }
  if (clientId !== undefined) headers["x-bitrix-rest-application"] = clientId
  return headers
}

/** `CRestServer::outputJson` / `outputXml`; an unencodable value gives Bitrix's WRONG_ENCODING body. */
export const encodeBody = (envelope: PhpArray, transport: "json" | "xml"): string => {
  if (transport === "xml") return "<response>" + xmlEncode(envelope) + "</response>"
  try {
    return jsonEncode(envelope)
  } catch (error) {
    if (error instanceof JsonEncodeError) return '{"error":"WRONG_ENCODING","error_description":"Wrong request encoding"}'
    throw error
  }
}

/** An error envelope: `error`, `error_description`, then any extra keys (e.g. `argument`); never a `time`. */
export const errorEnvelope = (error: string | number, description: string, extra?: Readonly<Record<string, unknown>>): PhpArray => {
  const envelope = PhpArray.from([
    ["error", error],
    ["error_description", description]
  ])
  if (extra !== undefined) for (const [key, value] of Object.entries(extra)) envelope.set(key, value)
  return envelope
}

/** A JSON response (the token endpoint and plain faults). */
export const jsonResponse = (status: number, body: unknown, delayMs = 0): PortalOutcome => ({
  _tag: "Response",
  status,
  headers: { "content-type": "application/json" },
  body: jsonEncode(body),
  delayMs
})

/** The reason phrases nginx prints. */
const nginxTitles: Readonly<Record<number, string>> = {
  400: "Bad Request",
  404: "Not Found",
  413: "Request Entity Too Large",
  414: "Request-URI Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Temporarily Unavailable",
  504: "Gateway Time-out"
}

/** An nginx error page: what the front server answers for 400, 413, 414, 502 and 504. */
export const nginxPage = (status: number): PortalOutcome => {
  const title = `${status} ${nginxTitles[status] ?? "Error"}`
  return {
    _tag: "Response",
    status,
    headers: { "content-type": "text/html", server: "nginx" },
    body: `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
    delayMs: 0
  }
}

/**
 * An nginx error page as raw HTTP/1.1 bytes, for a request node:http could not parse (so there is no response
 * object to answer with); the connection is closed after it, as nginx does.
 */
export const rawNginxPage = (status: number): string => {
  const page = nginxPage(status)
  const body = page._tag === "Response" ? page.body : ""
  return (
    `HTTP/1.1 ${status} ${nginxTitles[status] ?? "Error"}\r\nServer: nginx\r\nContent-Type: text/html\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  )
}
