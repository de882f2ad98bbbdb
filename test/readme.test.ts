import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

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
