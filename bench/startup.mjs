// Start-up figures of the package, as a user meets them: `b24 --help`, `b24 portal` until its webhook line,
// and `import("effect-bitrix24")` (wall time and modules loaded). Median of 5 runs each, plain `node`.
//
//   node bench/startup.mjs [--bin PATH] [--entry SPECIFIER_OR_PATH] [--node-arg ARG]...
//
// Defaults: the compiled bin and entry of this checkout (`npm run build` first). The "before" figures in
// bench/RESULTS.md came from the same script pointed at the TypeScript bin (`--bin bin/b24.js`) and at
// `src/index.ts` through tsx (`--node-arg --import=tsx`).
import { spawn } from "node:child_process"
import { writeFileSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: {
    bin: { type: "string", default: "dist/cli/bin.js" },
    entry: { type: "string", default: "dist/index.js" },
    "node-arg": { type: "string", multiple: true, default: [] },
    runs: { type: "string", default: "5" }
  }
})
const runs = Number(values.runs)
const nodeArgs = values["node-arg"]
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Runs node with args; resolves with ms from spawn until `until(stdout)` is true (or the exit). */
const timeRun = (args, until) =>
  new Promise((done, fail) => {
    const started = process.hrtime.bigint()
    const child = spawn(process.execPath, [...nodeArgs, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let finished = false
    const finish = () => {
      if (finished) return
      finished = true
      done(Number(process.hrtime.bigint() - started) / 1e6)
      child.kill("SIGTERM")
    }
    child.stdout.on("data", (chunk) => {
      out += chunk
      if (until !== undefined && until(out)) finish()
    })
    child.on("error", fail)
    child.on("close", (code) => {
      if (until === undefined && code === 0) finish()
      else if (!finished) fail(new Error(`node ${args.join(" ")} exited ${code} before it was ready`))
    })
  })

const measure = async (label, args, until) => {
  const times = []
  for (let i = 0; i < runs; i++) times.push(await timeRun(args, until))
  console.log(`${label}: median ${median(times).toFixed(0)} ms (${times.map((t) => t.toFixed(0)).join(", ")})`)
}

const bin = resolve(values.bin)
await measure("b24 --help", [bin, "--help"])
await measure("b24 portal (to the webhook line)", [bin, "portal", "--port", "0"], (out) => out.includes("webhook:"))

const dir = mkdtempSync(join(tmpdir(), "b24-startup-"))
try {
  const entry = values.entry.startsWith(".") || values.entry.startsWith("/") || values.entry.includes("/") && !values.entry.startsWith("effect-bitrix24")
    ? pathToFileURL(resolve(values.entry)).href
    : values.entry
  const importScript = join(dir, "import.mjs")
  writeFileSync(importScript, `await import(${JSON.stringify(entry)})\n`)
  await measure(`import("${values.entry}")`, [importScript])
  // modules loaded: a load hook on its own thread counts each module Node loads (ESM and CommonJS through ESM)
  const hook = join(dir, "hook.mjs")
  writeFileSync(
    hook,
    `let port\nexport const initialize = (data) => { port = data.port }\n` +
      `export const load = async (url, context, next) => { port.postMessage(url); return next(url, context) }\n`
  )
  const counter = join(dir, "count.mjs")
  writeFileSync(
    counter,
    `import { register } from "node:module"\nimport { MessageChannel } from "node:worker_threads"\n` +
      `const { port1, port2 } = new MessageChannel()\nconst urls = new Set()\nport1.on("message", (url) => urls.add(url))\n` +
      `register(${JSON.stringify(pathToFileURL(hook).href)}, { data: { port: port2 }, transferList: [port2] })\n` +
      `await import(${JSON.stringify(entry)})\nawait new Promise((r) => setTimeout(r, 200))\nport1.close()\n` +
      `const own = [...urls].filter((u) => !u.includes("/node_modules/") && u.startsWith("file:")).length\n` +
      `const pkgs = new Set([...urls].flatMap((u) => { const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(u); return m ? [m[1]] : [] }))\n` +
      `console.log(JSON.stringify({ modules: urls.size, own, packages: [...pkgs].sort() }))\n`
  )
  const counted = await new Promise((done, fail) => {
    const child = spawn(process.execPath, [...nodeArgs, counter], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.on("close", (code) => (code === 0 ? done(JSON.parse(out.trim().split("\n").pop())) : fail(new Error(`count exited ${code}`))))
  })
  console.log(`import("${values.entry}") loads ${counted.modules} modules (${counted.own} outside node_modules); packages: ${counted.packages.join(", ")}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
