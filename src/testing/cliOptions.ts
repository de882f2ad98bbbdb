/**
 * The fake portal's command-line options, parsed without side effects, so `npm run portal` and the
 * `b24 portal` subcommand accept exactly the same flags and report the same errors.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { parseArgs } from "node:util"
import { type Limits, type LimitNumbers, resolveLimits } from "../BitrixConfig.js"
import * as OptionText from "../internal/optionText.js"
import type { CostModel, CostNumbers, FakePortalOptions, FaultRule, MutationRule } from "./Options.js"

/**
 * What the command line asks for: the help text, or a portal to serve.
 *
 * @since 0.1.0
 * @category Models
 */
export type PortalArgs =
  | { readonly _tag: "Help" }
  | {
      readonly _tag: "Serve"
      /** Interface to listen on; loopback unless asked otherwise, because the portal has no real security. */
      readonly host: string
      readonly options: FakePortalOptions
    }

/**
 * A command line that cannot be served, with the flag at fault.
 *
 * @since 0.1.0
 * @category Models
 */
export type PortalArgsError = OptionText.PortalArgsError

/**
 * Port used when `--port` is not given; fixed rather than random so a printed webhook stays valid across runs.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultPort = 8124

/**
 * Host used when `--host` is not given.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultHost = "127.0.0.1"

/**
 * The help text listing every flag, shown by `--help` and after a parse error, for the command as `program`
 * types it (`npm run portal --`, `b24 portal`).
 *
 * @since 0.1.0
 * @category Constants
 */
export const usageOf = (program: string): string => `Usage: ${program} [options]

Serves a fake Bitrix24 portal over HTTP on loopback until SIGINT/SIGTERM. The first line printed is
"webhook: <url>"; append a method name to it, e.g. <url>crm.deal.list.json?start=0.

Options:
  --port N                 TCP port (default ${defaultPort}; 0 = any free port)
  --host ADDR              interface to listen on (default ${defaultHost})
  --seed LIST              rows per entity, e.g. crm.deal=100000,crm.lead=20000,crm.item:1032=500
  --seed-number N          seed of the deterministic data generator (default 1)
  --limits SPEC            standard (50 req, 2/s, 480 s per 600 s) | enterprise (250, 5/s) | off |
                           pool=50,rps=2,operating=480,window=600 (unset keys take the standard values)
  --time-scale X           run costs, bucket drain and windows X times faster (default 1)
  --report-time CLOCK      real (default: stamps and spans of answers in wall-clock time, for a client on the
                           wall clock) | portal (in portal time, for a client whose clock runs X times faster)
  --cost-model SPEC        default | docsCount (the COUNT behind total as the Bitrix24 docs measured it, 40x the
                           default) | zero | base=5,narrowRow=0.1,wideRow=2,offsetRow=0.0015,
                           countRow=0.0005,write=40,delete=20,get=5 (milliseconds; unset keys keep defaults)
  --faults LIST            kind[:probability][@n+n...][/method+method...], comma-separated, e.g.
                           html502:0.05,drop:0.01,error503@3+7,hang@5/crm.deal.list
                           kinds: error500 error500After html502 html504 error503 drop hang malformedJson
                           expireToken
  --mutations LIST         entity:every=N[,add=N][,update=N][,delete=N]; separate several rules with ';', e.g.
                           "crm.deal:every=10,add=5,update=3,delete=2"
  --latency SPEC           a network in front of the portal: round trip in ms, optionally with jitter, e.g.
                           60 or 60,jitter=20 (each leg takes half the round trip plus 0..jitter/2)
  --batch-billing MODE     commands (each batch command bills its method; default) | batch (the batch bills itself)
  --max-url-length N       GET URLs longer than N get a 414 HTML page (default 8192)
  --max-body-bytes N       request bodies over N bytes get a 413 HTML page (default 8388608, 8 MiB)
  --webhook USER/CODE      webhook user ID and code (default 1 and a code derived from the seed number)
  --oauth                  enable an OAuth app and print its client id, secret and tokens
  --token-lifetime S       OAuth access token lifetime in seconds (default 3600; implies --oauth)
  --help                   show this text
`

/**
 * The help text as `npm run portal` shows it.
 *
 * @since 0.1.0
 * @category Constants
 */
export const usage: string = usageOf("npm run portal --")

const { fail, parseNumber, parsePairs } = OptionText

const parseNonNegativeInt = (flag: string, text: string): Either.Either<number, PortalArgsError> => {
  const value = parseNumber(text)
  return value !== undefined && Number.isInteger(value) && value >= 0
    ? Either.right(value)
    : fail(flag, `${flag} expects a whole number >= 0, got "${text}"`)
}

const parsePositive = (flag: string, text: string): Either.Either<number, PortalArgsError> => {
  const value = parseNumber(text)
  return value !== undefined && value > 0 ? Either.right(value) : fail(flag, `${flag} expects a number > 0, got "${text}"`)
}

/**
 * Parses `--seed crm.deal=100000,crm.lead=20000` into rows per entity.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseSeed = (text: string): Either.Either<Readonly<Record<string, number>>, PortalArgsError> =>
  Either.flatMap(parsePairs("--seed", text), (pairs) => {
    const seed: Record<string, number> = {}
    for (const [entity, count] of pairs) {
      const rows = parseNumber(count)
      if (rows === undefined || !Number.isInteger(rows) || rows < 0) {
        return fail("--seed", `--seed: the row count of ${entity} must be a whole number >= 0, got "${count}"`)
      }
      seed[entity] = rows
    }
    return Either.right(seed)
  })

/**
 * Parses `--limits`: a preset name or `pool=50,rps=2,operating=480,window=600`, unset keys taking the
 * standard plan's values.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseLimits: (text: string) => Either.Either<Limits, PortalArgsError> = OptionText.parseLimits

const costKeys: Readonly<Record<string, keyof CostNumbers>> = {
  base: "baseMs",
  narrowRow: "narrowRowMs",
  wideRow: "wideRowMs",
  offsetRow: "offsetRowMs",
  countRow: "countRowMs",
  write: "writeMs",
  delete: "deleteMs",
  get: "getMs"
}

/**
 * Parses `--cost-model`: a preset (`default`, `docsCount`, `zero`) or milliseconds per cost item
 * (`base=5,narrowRow=0.1,...`).
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseCostModel = (text: string): Either.Either<CostModel, PortalArgsError> => {
  const name = text.trim()
  if (name === "default" || name === "zero" || name === "docsCount") return Either.right(name)
  return Either.flatMap(parsePairs("--cost-model", text), (pairs) => {
    const numbers: Partial<Record<keyof CostNumbers, number>> = {}
    for (const [key, value] of pairs) {
      const field = costKeys[key] ?? (Object.values(costKeys).includes(key as keyof CostNumbers) ? (key as keyof CostNumbers) : undefined)
      if (field === undefined) {
        return fail("--cost-model", `--cost-model: unknown key "${key}"; known: ${Object.keys(costKeys).join(", ")}`)
      }
      const number = parseNumber(value)
      if (number === undefined || number < 0) {
        return fail("--cost-model", `--cost-model: ${key} must be a number of milliseconds >= 0, got "${value}"`)
      }
      numbers[field] = number
    }
    return Either.right(numbers)
  })
}

const faultKinds: ReadonlyArray<FaultRule["kind"]> = [
  "error500",
  "error500After",
  "html502",
  "html504",
  "error503",
  "drop",
  "hang",
  "malformedJson",
  "expireToken"
]

const isFaultKind = (text: string): text is FaultRule["kind"] => (faultKinds as ReadonlyArray<string>).includes(text)

/** One `kind[:probability][@n+n...][/method+method...]` item. */
const parseFault = (item: string): Either.Either<FaultRule, PortalArgsError> => {
  const match = /^([A-Za-z0-9]+)(?::([^@/]+))?(?:@([^/]+))?(?:\/(.+))?$/.exec(item)
  if (match === null) return fail("--faults", `--faults: "${item}" is not kind[:probability][@n+n][/method+method]`)
  const [, kind = "", probabilityText, requestsText, methodsText] = match
  if (!isFaultKind(kind)) return fail("--faults", `--faults: unknown fault kind "${kind}"; known: ${faultKinds.join(", ")}`)
  let rule: FaultRule = { kind }
  if (probabilityText !== undefined) {
    const probability = parseNumber(probabilityText)
    if (probability === undefined || probability < 0 || probability > 1) {
      return fail("--faults", `--faults: the probability of ${kind} must be between 0 and 1, got "${probabilityText}"`)
    }
    rule = { ...rule, probability }
  }
  if (requestsText !== undefined) {
    const requests: Array<number> = []
    for (const part of requestsText.split("+")) {
      const number = parseNumber(part)
      if (number === undefined || !Number.isInteger(number) || number < 1) {
        return fail("--faults", `--faults: request numbers of ${kind} must be whole numbers >= 1, got "${part}"`)
      }
      requests.push(number)
    }
    rule = { ...rule, onRequests: requests }
  }
  if (methodsText !== undefined) {
    rule = { ...rule, methods: methodsText.split("+").map((method) => method.trim().toLowerCase()) }
  }
  if (rule.probability === undefined && rule.onRequests === undefined) {
    return fail("--faults", `--faults: ${kind} needs a probability (${kind}:0.05) or request numbers (${kind}@3+7)`)
  }
  return Either.right(rule)
}

/**
 * Parses `--faults html502:0.05,drop:0.01,error503@3+7,hang@5/crm.deal.list`.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseFaults = (text: string): Either.Either<ReadonlyArray<FaultRule>, PortalArgsError> =>
  Either.all(
    text
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "")
      .map(parseFault)
  )

/**
 * Parses `--mutations "crm.deal:every=10,add=5,delete=2;crm.lead:every=3,add=1"`.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseMutations = (text: string): Either.Either<ReadonlyArray<MutationRule>, PortalArgsError> =>
  Either.all(
    text
      .split(";")
      .map((item) => item.trim())
      .filter((item) => item !== "")
      .map((item): Either.Either<MutationRule, PortalArgsError> => {
        const colon = item.indexOf(":")
        if (colon <= 0) return fail("--mutations", `--mutations: "${item}" is not entity:every=N[,add=N][,update=N][,delete=N]`)
        const entity = item.slice(0, colon).trim()
        return Either.flatMap(parsePairs("--mutations", item.slice(colon + 1)), (pairs) => {
          const counts: Record<string, number> = {}
          for (const [key, value] of pairs) {
            if (key !== "every" && key !== "add" && key !== "update" && key !== "delete") {
              return fail("--mutations", `--mutations: unknown key "${key}"; use every, add, update, delete`)
            }
            const number = parseNumber(value)
            if (number === undefined || !Number.isInteger(number) || number < 0) {
              return fail("--mutations", `--mutations: ${key} must be a whole number >= 0, got "${value}"`)
            }
            counts[key] = number
          }
          const every = counts["every"]
          if (every === undefined || every < 1) return fail("--mutations", `--mutations: ${entity} needs every=N with N >= 1`)
          let rule: MutationRule = { entity, everyRequests: every }
          if (counts["add"] !== undefined) rule = { ...rule, add: counts["add"] }
          if (counts["update"] !== undefined) rule = { ...rule, update: counts["update"] }
          if (counts["delete"] !== undefined) rule = { ...rule, delete: counts["delete"] }
          return Either.right(rule)
        })
      })
  )

/**
 * Parses `--webhook 1/abc123`.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseWebhook = (
  text: string
): Either.Either<{ readonly userId: number; readonly code: string }, PortalArgsError> => {
  const match = /^(\d+)\/([A-Za-z0-9_-]+)$/.exec(text.trim())
  if (match === null || match[1] === undefined || match[2] === undefined) {
    return fail("--webhook", `--webhook expects USER_ID/CODE (letters, digits, _ and -), got "${text}"`)
  }
  const userId = Number(match[1])
  return userId >= 1 ? Either.right({ userId, code: match[2] }) : fail("--webhook", "--webhook: USER_ID must be >= 1")
}

/**
 * Deterministic OAuth app credentials for `--oauth`, so a restarted portal accepts the same client id.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultOAuthApp = { clientId: "local.fakeportal000000.00000001", clientSecret: "fakeportalsecret0000000000000000000000000000" }

const flagSpec = {
  port: { type: "string" },
  host: { type: "string" },
  seed: { type: "string" },
  "seed-number": { type: "string" },
  limits: { type: "string" },
  "time-scale": { type: "string" },
  "report-time": { type: "string" },
  "cost-model": { type: "string" },
  faults: { type: "string" },
  mutations: { type: "string" },
  "batch-billing": { type: "string" },
  "max-url-length": { type: "string" },
  "max-body-bytes": { type: "string" },
  latency: { type: "string" },
  webhook: { type: "string" },
  oauth: { type: "boolean" },
  "token-lifetime": { type: "string" },
  help: { type: "boolean", short: "h" }
} as const

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * Parses the portal's command line (without the `node script` prefix) into options for `FakePortalOptions`,
 * or the first problem found.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parsePortalArgs = (argv: ReadonlyArray<string>): Either.Either<PortalArgs, PortalArgsError> => {
  let values: ReturnType<typeof parseArgs<{ options: typeof flagSpec; strict: true; allowPositionals: false }>>["values"]
  try {
    values = parseArgs({ args: [...argv], options: flagSpec, strict: true, allowPositionals: false }).values
  } catch (error) {
    // node:util parseArgs throws for unknown flags, missing values and stray positionals.
    return fail(undefined, error instanceof Error ? error.message : String(error))
  }
  if (values.help === true) return Either.right({ _tag: "Help" })

  const options: Mutable<FakePortalOptions> = { port: defaultPort }
  const steps: Array<() => Either.Either<void, PortalArgsError>> = [
    () => (values.port === undefined ? Either.void : Either.map(parsePortNumber(values.port), (port) => void (options.port = port))),
    () => (values.seed === undefined ? Either.void : Either.map(parseSeed(values.seed), (seed) => void (options.seed = seed))),
    () =>
      values["seed-number"] === undefined
        ? Either.void
        : Either.map(parseNonNegativeInt("--seed-number", values["seed-number"]), (n) => void (options.seedNumber = n)),
    () => (values.limits === undefined ? Either.void : Either.map(parseLimits(values.limits), (limits) => void (options.limits = limits))),
    () =>
      values["time-scale"] === undefined
        ? Either.void
        : Either.map(parsePositive("--time-scale", values["time-scale"]), (scale) => void (options.timeScale = scale)),
    () => {
      const clock = values["report-time"]
      if (clock === undefined) return Either.void
      if (clock !== "real" && clock !== "portal") return fail("--report-time", `--report-time expects real or portal, got "${clock}"`)
      options.reportTime = clock
      return Either.void
    },
    () =>
      values["cost-model"] === undefined
        ? Either.void
        : Either.map(parseCostModel(values["cost-model"]), (model) => void (options.costModel = model)),
    () => (values.faults === undefined ? Either.void : Either.map(parseFaults(values.faults), (faults) => void (options.faults = faults))),
    () =>
      values.mutations === undefined
        ? Either.void
        : Either.map(parseMutations(values.mutations), (mutations) => void (options.mutations = mutations)),
    () => {
      const billing = values["batch-billing"]
      if (billing === undefined) return Either.void
      if (billing !== "commands" && billing !== "batch") {
        return fail("--batch-billing", `--batch-billing expects commands or batch, got "${billing}"`)
      }
      options.batchBilling = billing
      return Either.void
    },
    () =>
      values["max-url-length"] === undefined
        ? Either.void
        : Either.flatMap(parseNonNegativeInt("--max-url-length", values["max-url-length"]), (length) =>
            length < 1 ? fail("--max-url-length", "--max-url-length must be >= 1") : Either.right(void (options.maxUrlLength = length))
          ),
    () =>
      values["max-body-bytes"] === undefined
        ? Either.void
        : Either.flatMap(parseNonNegativeInt("--max-body-bytes", values["max-body-bytes"]), (bytes) =>
            bytes < 1 ? fail("--max-body-bytes", "--max-body-bytes must be >= 1") : Either.right(void (options.maxBodyBytes = bytes))
          ),
    () => (values.latency === undefined ? Either.void : Either.map(parseLatency(values.latency), (latency) => void (options.latency = latency))),
    () => (values.webhook === undefined ? Either.void : Either.map(parseWebhook(values.webhook), (webhook) => void (options.webhook = webhook))),
    () => {
      const lifetimeText = values["token-lifetime"]
      if (values.oauth !== true && lifetimeText === undefined) return Either.void
      if (lifetimeText === undefined) {
        options.oauth = defaultOAuthApp
        return Either.void
      }
      return Either.map(parsePositive("--token-lifetime", lifetimeText), (seconds) => {
        options.oauth = { ...defaultOAuthApp, accessTokenLifetimeSeconds: seconds }
      })
    }
  ]
  for (const step of steps) {
    const outcome = step()
    if (Either.isLeft(outcome)) return Either.left(outcome.left)
  }
  return Either.right({ _tag: "Serve", host: values.host ?? defaultHost, options })
}

/**
 * Parses `--latency`: a round trip in ms, optionally `,jitter=MS`.
 *
 * @since 0.1.0
 * @category Parsing
 */
export const parseLatency = (text: string): Either.Either<NonNullable<FakePortalOptions["latency"]>, PortalArgsError> => {
  const [roundTrip = "", ...rest] = text.split(",")
  const roundTripMs = parseNumber(roundTrip.trim())
  if (roundTripMs === undefined || roundTripMs < 0) {
    return fail("--latency", `--latency: the round trip must be a number of ms >= 0, got "${roundTrip.trim()}"`)
  }
  if (rest.length === 0) return Either.right({ roundTripMs })
  return Either.flatMap(parsePairs("--latency", rest.join(",")), (pairs) => {
    let latency: NonNullable<FakePortalOptions["latency"]> = { roundTripMs }
    for (const [key, value] of pairs) {
      const number = parseNumber(value)
      if (key !== "jitter") return fail("--latency", `--latency: unknown key "${key}"; use jitter`)
      if (number === undefined || number < 0) return fail("--latency", `--latency: jitter must be a number of ms >= 0, got "${value}"`)
      latency = { ...latency, jitterMs: number }
    }
    return Either.right(latency)
  })
}

const parsePortNumber = (text: string): Either.Either<number, PortalArgsError> =>
  Either.flatMap(parseNonNegativeInt("--port", text), (port) =>
    port <= 65535 ? Either.right(port) : fail("--port", `--port must be 0..65535, got ${port}`)
  )

/**
 * One line per option that differs from the defaults, for the CLI's startup summary.
 *
 * @since 0.1.0
 * @category Formatting
 */
export const describeOptions = (options: FakePortalOptions): ReadonlyArray<string> => {
  const lines: Array<string> = []
  const seed = options.seed ?? {}
  lines.push(
    `seed: ${Object.keys(seed).length === 0 ? "(none)" : Object.entries(seed).map(([entity, rows]) => `${entity}=${rows}`).join(", ")}` +
      ` (seed number ${options.seedNumber ?? 1})`
  )
  lines.push(`limits: ${describeLimits(options.limits ?? "standard")}`)
  lines.push(`time scale: ${options.timeScale ?? 1}`)
  if (options.reportTime === "portal") lines.push("report time: portal (stamps and spans in portal time)")
  const cost = options.costModel ?? "default"
  lines.push(
    `cost model: ${typeof cost === "string" ? cost : `default with ${Object.entries(cost).map(([key, value]) => `${key}=${value}`).join(", ")}`}`
  )
  lines.push(`batch billing: ${options.batchBilling ?? "commands"}`)
  lines.push(`max GET URL length: ${options.maxUrlLength ?? 8192}`)
  if (options.faults !== undefined && options.faults.length > 0) {
    lines.push(`faults: ${options.faults.map(describeFault).join(", ")}`)
  }
  if (options.mutations !== undefined && options.mutations.length > 0) {
    lines.push(
      `mutations: ${options.mutations
        .map((rule) => `${rule.entity} every ${rule.everyRequests} lists +${rule.add ?? 0} ~${rule.update ?? 0} -${rule.delete ?? 0}`)
        .join("; ")}`
    )
  }
  if (options.latency !== undefined) {
    lines.push(`latency: ${options.latency.roundTripMs} ms round trip, jitter ${options.latency.jitterMs ?? 0} ms`)
  }
  return lines
}

const describeLimits = (limits: Limits): string => {
  const numbers = resolveLimits(limits)
  if (numbers === undefined) return "off"
  return typeof limits === "string" ? `${limits} (${describeLimitNumbers(numbers)})` : describeLimitNumbers(numbers)
}

const describeLimitNumbers = (limits: LimitNumbers): string =>
  `bucket ${limits.poolSize}, drains ${limits.requestsPerSecond}/s; operating ${limits.operatingLimitSeconds} s per ${limits.operatingWindowSeconds} s`

const describeFault = (rule: FaultRule): string =>
  rule.kind +
  (rule.probability !== undefined ? `:${rule.probability}` : "") +
  (rule.onRequests !== undefined ? `@${rule.onRequests.join("+")}` : "") +
  (rule.methods !== undefined ? `/${rule.methods.join("+")}` : "")
