/**
 * Starting a worker thread of the library from the compiled package and from the TypeScript sources alike.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { pathToFileURL } from "node:url"
import { Worker, type WorkerOptions } from "node:worker_threads"

/**
 * Starts the worker module `name` (without extension) that sits beside the module at `here` (its
 * `import.meta.url`). From the compiled library it is `<name>.js`. From the TypeScript sources (tests, `tsx`) a
 * worker inherits no loader on Node 20, so it registers tsx (a dev dependency of the sources) before importing
 * `<name>.ts`.
 */
export const startWorker = (here: string, name: string, options: Pick<WorkerOptions, "workerData"> = {}): Worker => {
  if (!here.endsWith(".ts")) return new Worker(new URL(`./${name}.js`, here), options)
  const entry = new URL(`./${name}.ts`, here).href
  const loader = [
    `import(${JSON.stringify(tsxApiUrl(here))})`,
    `  .then((api) => { api.register(); return import(${JSON.stringify(entry)}) })`,
    "  .catch((error) => { throw error })"
  ].join("\n")
  return new Worker(loader, { ...options, eval: true })
}

/**
 * The ESM build of `tsx/esm/api`, found from `here` as an `import` would (the CommonJS build does not register
 * from an evaluated worker script, and vitest's modules have no `import.meta.resolve`).
 */
const tsxApiUrl = (here: string): string => {
  const manifestPath = createRequire(here).resolve("tsx/package.json")
  const manifest: unknown = JSON.parse(readFileSync(manifestPath, "utf8"))
  const entry = pick(pick(pick(manifest, "exports"), "./esm/api"), "import")
  const file = typeof entry === "string" ? entry : pick(entry, "default")
  if (typeof file !== "string") throw new Error(`cannot find tsx/esm/api in ${manifestPath}`)
  return pathToFileURL(join(dirname(manifestPath), file)).href
}

const pick = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined
