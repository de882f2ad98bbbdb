#!/usr/bin/env node
/**
 * The `b24` executable: compiled JavaScript, no TypeScript loader at run time. `--help` and `--version` are
 * answered from the command descriptions alone; the library is loaded only for work.
 *
 * @since 0.1.0
 */
import { commandHelp } from "./Args.js"
import { quickAnswer } from "./Spec.js"

const quick = quickAnswer(process.argv.slice(2), commandHelp)
if (quick !== undefined) {
  process.stdout.write(quick)
} else {
  const { runCli } = await import("./main.js")
  runCli(process.argv)
}
