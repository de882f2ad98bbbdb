/**
 * What `b24` accepts, as data: every subcommand's options and examples, the top-level help, the version and the
 * environment variables read. Free of Effect, so `b24 --help` and `b24 --version` answer without loading the
 * library (see `bin.ts`).
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import type * as ListStrategy from "../ListStrategy.js"
import type * as Args from "./Args.js"

/**
 * The names of the variables `b24` reads.
 *
 * @since 0.1.0
 * @category Constants
 */
export const envNames = {
  webhook: "BITRIX24_WEBHOOK",
  accessToken: "BITRIX24_ACCESS_TOKEN",
  refreshToken: "BITRIX24_REFRESH_TOKEN",
  clientId: "BITRIX24_CLIENT_ID",
  clientSecret: "BITRIX24_CLIENT_SECRET",
  restUrl: "BITRIX24_REST_URL",
  tokenUrl: "BITRIX24_TOKEN_URL",
  plan: "BITRIX24_PLAN",
  limits: "BITRIX24_LIMITS",
  slow: "BITRIX24_SLOW",
  batchSize: "BITRIX24_BATCH_SIZE",
  maxConcurrent: "BITRIX24_MAX_CONCURRENT",
  bucketHeadroom: "BITRIX24_BUCKET_HEADROOM",
  timeout: "BITRIX24_TIMEOUT",
  caFile: "BITRIX24_CA_FILE",
  limiter: "BITRIX24_LIMITER_URL"
} as const

/**
 * The output formats of rows.
 *
 * @since 0.1.0
 * @category Models
 */
export type RowFormat = "ndjson" | "csv" | "json"

/**
 * Every format, for option choices and messages.
 *
 * @since 0.1.0
 * @category Constants
 */
export const rowFormats: ReadonlyArray<RowFormat> = ["ndjson", "csv", "json"]

/**
 * The list strategies `--strategy` accepts.
 *
 * @since 0.1.0
 * @category Constants
 */
export const strategies: ReadonlyArray<ListStrategy.Strategy> = ["auto", "offset", "keyset", "keysetBatch", "ranges"]

/**
 * The connection and pace options of every portal command.
 *
 * @since 0.1.0
 * @category Constants
 */
export const sharedOptions: ReadonlyArray<Args.OptionSpec> = [
  {
    name: "webhook",
    value: "URL",
    description: `inbound webhook URL (https://portal/rest/1/CODE/); default $${envNames.webhook}, else the OAuth variables`
  },
  {
    name: "plan",
    value: "PLAN",
    choices: ["standard", "enterprise"],
    description: `limits of the portal's plan: standard (50 requests, 2/s) or enterprise (250, 5/s); $${envNames.plan}`
  },
  {
    name: "limits",
    value: "SPEC",
    description: `explicit limits, e.g. pool=50,rps=2,operating=480,window=600, or off; overrides --plan; $${envNames.limits}`
  },
  { name: "slow", value: "N", kind: "number", description: `at most N requests per second; $${envNames.slow}` },
  { name: "batch-size", value: "N", kind: "integer", description: `commands per batch, 1-50 (default 50); $${envNames.batchSize}` },
  { name: "max-concurrent", value: "N", kind: "integer", description: `at most N requests in flight; $${envNames.maxConcurrent}` },
  {
    name: "bucket-headroom",
    value: "N",
    kind: "integer",
    description: `bucket slots left unused, for other apps on the same address (default 2); $${envNames.bucketHeadroom}`
  },
  { name: "timeout", value: "SECONDS", kind: "number", description: `per request (default 60); $${envNames.timeout}` },
  {
    name: "limiter",
    value: "URL",
    description: `where the portal's limits are shared: file:PATH (default: a file for this machine's runs), redis://host:port (every machine), memory; $${envNames.limiter}`
  },
  { name: "ca", value: "FILE", description: `PEM file of the CA that signed a self-hosted portal's certificate; $${envNames.caFile}` },
  { name: "insecure", short: "k", description: "accept any TLS certificate (encrypted, but not checked: anyone on the path can read the webhook code)" },
  { name: "proxy", value: "URL", description: "send requests through this proxy; default $HTTPS_PROXY / $HTTP_PROXY, except hosts in $NO_PROXY" },
  { name: "tokens-out", value: "FILE", description: "OAuth: write refreshed tokens to FILE (mode 600); the old refresh token is spent" },
  { name: "quiet", short: "q", description: "no progress and no summary" },
  { name: "verbose", short: "v", description: "after an error, also print the request that failed (secrets redacted)" },
  { name: "debug", description: "debug log lines: strategy choice, limiter waits, each request" }
]

const outOption: Args.OptionSpec = { name: "out", short: "o", value: "FILE", description: "output file; stdout when absent or -" }

const formatOption: Args.OptionSpec = {
  name: "format",
  value: "FORMAT",
  choices: rowFormats,
  description: "ndjson (default), csv or json; guessed from the --out extension when absent"
}

const methodArg = { name: "method", description: "a Bitrix method, e.g. crm.deal.list" }

/**
 * `b24 get-all`.
 *
 * @since 0.1.0
 * @category Commands
 */
export const getAll: Args.CommandSpec = {
  name: "get-all",
  summary: "export every row of a list method, streamed to a file or stdout as rows arrive",
  positional: methodArg,
  options: [
    { name: "select", value: "FIELDS", description: "fields, comma-separated, e.g. ID,TITLE" },
    { name: "filter", value: "JSON", description: 'filter object, e.g. {">ID":100}; @FILE reads it from a file' },
    { name: "order", value: "JSON", description: 'order object, e.g. {"ID":"ASC"}; @FILE reads it from a file' },
    { name: "strategy", value: "NAME", choices: strategies, description: `how the list is read: ${strategies.join(", ")} (default auto)` },
    { name: "limit", value: "N", kind: "integer", description: "at most N rows" },
    formatOption,
    outOption
  ],
  shared: sharedOptions,
  examples: [
    "b24 get-all crm.deal.list --select ID,TITLE,STAGE_ID --out deals.csv",
    `b24 get-all crm.contact.list --filter '{">DATE_MODIFY":"2026-01-01"}' > contacts.ndjson`,
    "b24 get-all tasks.task.list --limit 1000 --format json --out tasks.json"
  ]
}

/**
 * `b24 get-by-id`.
 *
 * @since 0.1.0
 * @category Commands
 */
export const getById: Args.CommandSpec = {
  name: "get-by-id",
  summary: "call a method once per ID (batched), writing the results in the order of the IDs",
  positional: methodArg,
  options: [
    { name: "ids", value: "FILE", required: true, description: "file with one ID a line; - reads stdin" },
    { name: "id-field", value: "NAME", description: "name of the ID parameter (default ID)" },
    { name: "params", value: "JSON", description: "further params for every call; @FILE reads them from a file" },
    formatOption,
    outOption
  ],
  shared: sharedOptions,
  examples: ["b24 get-by-id crm.deal.get --ids ids.txt --out deals.ndjson", "cut -f1 ids.tsv | b24 get-by-id crm.contact.get --ids -"]
}

/**
 * `b24 call`.
 *
 * @since 0.1.0
 * @category Commands
 */
export const call: Args.CommandSpec = {
  name: "call",
  summary: "call a method once (--params) or once per item (--items: one result line per item, in order; exit 3 if any failed)",
  positional: methodArg,
  options: [
    { name: "params", value: "JSON", description: "params of one call; @FILE reads them from a file" },
    { name: "items", value: "FILE", description: "NDJSON, one object of params a line (- reads stdin): one call per item, batched" },
    outOption
  ],
  shared: sharedOptions,
  examples: [
    `b24 call crm.deal.get --params '{"ID":42}'`,
    "b24 call crm.deal.update --items updates.ndjson --out results.ndjson"
  ]
}

/**
 * `b24 batch`.
 *
 * @since 0.1.0
 * @category Commands
 */
export const batch: Args.CommandSpec = {
  name: "batch",
  summary: "run the portal's batch as given: up to 50 labelled commands, results by label",
  options: [
    { name: "cmd", value: "JSON", required: true, description: 'commands by label, e.g. {"a":"crm.deal.get?id=1"}; @FILE reads a file' },
    { name: "halt", description: "stop at the first failed command" },
    outOption
  ],
  shared: sharedOptions,
  examples: [`b24 batch --cmd '{"deal":"crm.deal.get?id=1","contacts":"crm.deal.contact.items.get?id=1"}'`, "b24 batch --cmd @commands.json --halt"]
}

/**
 * `b24 sync`: several entities (more than one positional: `sync.ts` parses them).
 *
 * @since 0.1.0
 * @category Commands
 */
export const sync: Args.CommandSpec = {
  name: "sync",
  summary: "copy CRM entities into SQLite or Postgres, then keep them in sync: changed rows only, deletions marked",
  positional: {
    name: "entity...",
    description: "one or more of crm.deal, crm.contact, crm.company, crm.lead, crm.item:<entityTypeId> (a smart process, e.g. crm.item:1032)"
  },
  options: [
    { name: "to", value: "URL", required: true, description: "the database: sqlite:FILE (created when missing) or postgres://user:password@host/db" },
    { name: "json", description: "print the summary as one JSON line on stdout" },
    { name: "full", description: "read every row again instead of only the rows changed since the last run" },
    { name: "overlap", value: "MINUTES", kind: "number", description: "how far before the last run's start to look back (default 5)" },
    { name: "deletions-every", value: "N", kind: "integer", description: "look for deleted rows every N runs (default 1: every run; 0: never)" },
    { name: "chunk-size", value: "N", kind: "integer", description: "rows a transaction (default 1000)" }
  ],
  shared: sharedOptions,
  examples: [
    "b24 sync crm.deal crm.contact crm.company crm.lead --to sqlite:crm.db",
    "b24 sync crm.deal --to postgres://bi:secret@db.example.com/crm --json",
    "b24 sync crm.deal crm.item:1032 --to sqlite:crm.db",
    "*/15 * * * * cd /srv/crm && b24 sync crm.deal crm.contact --to sqlite:crm.db --quiet   # crontab"
  ]
}

/**
 * `b24 estimate`: one request for the size of a list, then what an export of it would take.
 *
 * @since 0.1.0
 * @category Commands
 */
export const estimate: Args.CommandSpec = {
  name: "estimate",
  summary: "count a list's rows in one request and print the least time and requests an export takes at the limits",
  positional: methodArg,
  options: [
    { name: "select", value: "FIELDS", description: "fields the export would ask for: up to 5 named ones cost narrow rows; none, more, * or UF_* cost wide rows" },
    { name: "filter", value: "JSON", description: 'filter object, e.g. {">ID":100}; @FILE reads it from a file' },
    { name: "order", value: "JSON", description: "order object the export would ask for: it decides the strategy auto picks" },
    { name: "json", description: "print the estimate as one JSON line on stdout" }
  ],
  shared: sharedOptions,
  examples: [
    "b24 estimate crm.deal.list --select ID,TITLE,STAGE_ID",
    `b24 estimate crm.contact.list --filter '{">DATE_MODIFY":"2026-01-01"}' --plan enterprise --json`
  ]
}

/**
 * The package's version, read from its package.json (two folders up from both `src/cli` and `dist/cli`).
 *
 * @since 0.1.0
 * @category Constants
 */
export const version: string = (() => {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"))
    return typeof pkg === "object" && pkg !== null && "version" in pkg && typeof pkg.version === "string" ? pkg.version : "unknown"
  } catch {
    return "unknown"
  }
})()

/**
 * The top-level help text: the commands, the connection variables and the exit codes.
 *
 * @since 0.1.0
 * @category Help
 */
export const help = [
  "b24: bulk Bitrix24 REST from the shell, at the portal's limits",
  "",
  "Usage: b24 <command> [options]",
  "",
  "Commands:",
  ...[getAll, getById, call, batch, sync, estimate, { name: "portal", summary: "serve the fake portal of effect-bitrix24/testing on loopback" }].map(
    (spec) => `  ${spec.name.padEnd(11)}${spec.summary}`
  ),
  "",
  `Connection: --webhook or $${envNames.webhook}; or an OAuth app through $${envNames.accessToken}, $${envNames.refreshToken},`,
  `$${envNames.clientId}, $${envNames.clientSecret}, $${envNames.restUrl} (and $${envNames.tokenUrl}).`,
  "Exit codes: 0 done, 1 failed, 2 bad input, 3 some items failed, 4 another sync holds the database, 130 interrupted.",
  "",
  "Run 'b24 <command> --help' for a command's options.  -V, --version prints the version.",
  ""
].join("\n")

/**
 * The subcommands that talk to a portal, by name.
 *
 * @since 0.1.0
 * @category Commands
 */
export const portalCommands: ReadonlyArray<Args.CommandSpec> = [getAll, getById, call, batch, sync, estimate]

/**
 * What `b24` prints for a command line that asks only for help or the version (`--help`, `-V`,
 * `get-all --help`), or `undefined` when it asks for work.
 *
 * @since 0.1.0
 * @category Help
 */
export const quickAnswer = (args: ReadonlyArray<string>, commandHelp: (spec: Args.CommandSpec) => string): string | undefined => {
  const [first, second, ...rest] = args
  if (rest.length > 0) return undefined
  if (second === undefined && (first === "--help" || first === "-h" || first === "help")) return help
  if (second === undefined && (first === "--version" || first === "-V")) return `${version}\n`
  const spec = portalCommands.find(({ name }) => name === first)
  return spec !== undefined && (second === "--help" || second === "-h") ? commandHelp(spec) : undefined
}
