import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import ts from "typescript"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningFakePortal, startFakePortal } from "../src/testing/index.js"

const root = Path.resolve(import.meta.dirname, "..")
const readme = Fs.readFileSync(Path.join(root, "README.md"), "utf8")

/** Every ```ts block of the README with the example file named in the comment just above it. */
const blocks = [...readme.matchAll(/(?:<!-- example: (?<file>[^ ]+) -->\n)?```ts\n(?<code>[\s\S]*?)```/g)].map((match) => ({
  file: match.groups?.["file"],
  code: match.groups?.["code"] ?? ""
}))

describe("README examples", () => {
  it("every TypeScript block is an example file, word for word", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4)
    for (const block of blocks) {
      expect(block.file, `a \`\`\`ts block without an example comment:\n${block.code.slice(0, 200)}`).toBeDefined()
      expect(block.code).toBe(Fs.readFileSync(Path.join(root, block.file!), "utf8"))
    }
  })

  it("the examples (and the whole project) type-check", async () => {
    const tsc = Path.join(root, "node_modules", "typescript", "bin", "tsc")
    const result = await promisify(execFile)(process.execPath, [tsc, "--noEmit", "-p", root], { cwd: root }).then(
      () => ({ ok: true, output: "" }),
      (error: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${error.stdout ?? ""}${error.stderr ?? ""}` })
    )
    expect(result.output).toBe("")
    expect(result.ok).toBe(true)
  }, 180_000)
})

describe("README sections", () => {
  it("has every section a newcomer needs, in reading order", () => {
    const headings = [...readme.matchAll(/^##+ (.+)$/gm)].map((match) => match[1])
    const wanted = [
      "The two commands",
      "Install",
      "With Effect",
      "With Promises",
      "The verbs",
      "List strategies",
      "Benchmark",
      "The `b24` command",
      "Testing your code with the fake portal",
      "Configuration",
      "Errors",
      "Observability",
      "Compared with other clients"
    ]
    expect(headings.filter((heading) => wanted.includes(heading ?? ""))).toEqual(wanted)
    // the two commands are the first commands of the README
    expect(readme.indexOf("npm ci && npm run demo")).toBeLessThan(readme.indexOf("npm install"))
    // every verb, the CLI's subcommands and the configuration the issue names are described
    for (const name of ["`getAll", "`stream`", "`getByID", "`call(", "`callEither", "`callRaw", "`callBatch", "`slow(", "`withRetry"]) {
      expect(readme).toContain(name)
    }
    for (const name of ["b24 get-all", "b24 get-by-id", "b24 call", "b24 batch", "b24 portal", "--plan", "--slow", "--quiet", "--verbose"]) {
      expect(readme).toContain(name)
    }
    for (const name of ["`limits`", "`retry`", "`timeout`", "`oauth`", "Bitrix.slow"]) expect(readme).toContain(name)
  })

  it("links only to files that exist", () => {
    for (const [, target] of readme.matchAll(/\]\(((?!https?:|#)[^)]+)\)/g)) {
      expect(Fs.existsSync(Path.join(root, target ?? "")), target).toBe(true)
    }
  })
})

/** Runs a README example with tsx, connected to `webhook` by BITRIX24_WEBHOOK, as a user would run it. */
const runExample = (file: string, webhook: string) =>
  promisify(execFile)(process.execPath, ["--import", "tsx", Path.join(root, file)], {
    cwd: root,
    env: { ...process.env, BITRIX24_WEBHOOK: webhook },
    timeout: 60_000
  })

describe("README examples run against the fake portal", () => {
  let portal: RunningFakePortal
  beforeAll(async () => {
    portal = await startFakePortal({ seed: { "crm.deal": 1200 }, limits: "standard", costModel: "zero" })
  })
  afterAll(async () => {
    await portal.close()
  })

  it("the Effect example exports the deals and adds three leads", async () => {
    const { stdout } = await runExample("examples/readme/quick-effect.ts", portal.webhookUrl)
    expect(stdout).toMatch(/deals: 1200,\s+leads: \[ \d+, \d+, \d+ \]/)
  })

  it("the Promise example counts the won deals", async () => {
    const { stdout } = await runExample("examples/readme/quick-promise.ts", portal.webhookUrl)
    expect(Number(stdout.trim())).toBeGreaterThan(0)
  })

  it("the testing example passes as a test of its own", async () => {
    // a config of its own: the project's vitest config only collects test/
    const configDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "b24-readme-"))
    const config = Path.join(configDir, "vitest.config.mjs")
    Fs.writeFileSync(config, 'export default { test: { include: ["examples/readme/testing.ts"] } }\n')
    const vitest = Path.join(root, "node_modules", "vitest", "vitest.mjs")
    const { stdout } = await promisify(execFile)(process.execPath, [vitest, "run", "--config", config, "--root", root], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
      timeout: 120_000
    }).finally(() => Fs.rmSync(configDir, { recursive: true, force: true }))
    expect(stdout.replace(/\u001b\[[0-9;]*m/g, "")).toMatch(/Tests +1 passed \(1\)/)
  }, 120_000)

  it("the observability example prints the span tree, the metrics and debug logs, never the webhook code", async () => {
    // a portal of its own: the examples before it filled the shared one's bucket, and a new process cannot know
    // that (it would meet 503s, which this test does not count as ok)
    const portal = await startFakePortal({ seed: { "crm.deal": 1200 }, limits: "standard", costModel: "zero" })
    try {
      const requestsBefore = portal.stats().httpRequests
      const { stderr, stdout } = await runExample("examples/readme/observability.ts", portal.webhookUrl)
      expect(stderr).toBe("")
      // one span per program, per exchange (method, batch size) and per attempt, and the strategy on the list span
      expect(stdout).toMatch(/^span Bitrix\.getAll [\d.]+ms bitrix\.method=crm\.deal\.list$/m)
      expect(stdout).toMatch(/^  span Bitrix\.stream [\d.]+ms bitrix\.method=crm\.deal\.list bitrix\.strategy=auto bitrix\.strategy\.chosen=\w+$/m)
      expect(stdout).toMatch(/^ {4}span bitrix\.exchange [\d.]+ms bitrix\.method=batch bitrix\.batch\.size=\d+$/m)
      expect(stdout).toMatch(/^ {6}span bitrix\.attempt [\d.]+ms bitrix\.method=batch bitrix\.attempt=1$/m)
      expect(stdout).toMatch(/^ {8}span bitrix\.transport [\d.]+ms bitrix\.method=batch$/m)
      // the counters with their tags, as many as the portal saw
      const rows = /^metric bitrix_rows_total\{method=crm\.deal\.list,strategy=\w+\} (\d+)$/m.exec(stdout)
      expect(Number(rows?.[1])).toBe(1200)
      const requests = [...stdout.matchAll(/^metric bitrix_requests_total\{method=[\w.]+,outcome=ok\} (\d+)$/gm)]
      expect(requests.reduce((sum, match) => sum + Number(match[1]), 0)).toBe(portal.stats().httpRequests - requestsBefore)
      // debug logs of each request and answer
      expect(stdout).toMatch(/level=DEBUG .*message="bitrix: batch" bitrix\.params=/)
      expect(stdout).toMatch(/level=DEBUG .*message="bitrix: batch answered" bitrix\.attempt=1 bitrix\.result=/)
      expect(stdout).toMatch(/^1200 deals$/m)
      const code = portal.webhookUrl.split("/").at(-2) ?? ""
      expect(code.length).toBeGreaterThan(8)
      expect(stdout).not.toContain(code)
    } finally {
      await portal.close()
    }
  })
})

/** Exported declarations of a source file that have no JSDoc comment (`/** … *\/`) just above them. */
const undocumentedExports = (file: string): ReadonlyArray<string> => {
  const text = Fs.readFileSync(file, "utf8")
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true)
  const documented = (node: ts.Node) =>
    (ts.getLeadingCommentRanges(text, node.getFullStart()) ?? []).some((range) => text.startsWith("/**", range.pos))
  const nameOf = (node: ts.Statement) =>
    ts.isVariableStatement(node)
      ? node.declarationList.declarations.map((declaration) => declaration.name.getText(source)).join(", ")
      : ((node as { readonly name?: ts.Node }).name?.getText(source) ?? node.getText(source).slice(0, 40))
  const missing: Array<string> = []
  for (const [index, statement] of source.statements.entries()) {
    // the implementation of an overloaded function is not visible to callers: its overloads carry the docs
    const previous = source.statements[index - 1]
    if (
      ts.isFunctionDeclaration(statement) &&
      previous !== undefined &&
      ts.isFunctionDeclaration(previous) &&
      previous.body === undefined &&
      previous.name?.text === statement.name?.text
    ) {
      continue
    }
    const exported =
      (ts.isExportDeclaration(statement) && statement.moduleSpecifier !== undefined) ||
      (ts.canHaveModifiers(statement) && (ts.getModifiers(statement) ?? []).some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword))
    if (exported && !documented(statement)) {
      missing.push(`${Path.relative(root, file)}:${source.getLineAndCharacterOfPosition(statement.getStart(source)).line + 1} ${nameOf(statement)}`)
    }
  }
  return missing
}

const sourceFiles = (dir: string): ReadonlyArray<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(Path.join(dir, entry.name)) : entry.name.endsWith(".ts") ? [Path.join(dir, entry.name)] : []
  )

describe("JSDoc", () => {
  it("documents every export of src (the CLI and the testing module included), each overload too", () => {
    const files = sourceFiles(Path.join(root, "src"))
    expect(files.some((file) => file.includes(`${Path.sep}cli${Path.sep}`))).toBe(true)
    expect(files.flatMap(undocumentedExports)).toEqual([])
  })
})
