#!/usr/bin/env node
// The `b24` command. The package ships TypeScript sources, so tsx compiles them on the fly, in this process
// (no child process: Ctrl-C reaches the command directly, and its exit code is this process's).

// The dependencies are plain JavaScript: loaded before tsx's loader hooks exist, their hundreds of files skip
// the hooks, which roughly halves the start-up. A package missing from this list still loads, only slower.
await Promise.all([
  import("effect"),
  import("@effect/platform"),
  import("@effect/cli"),
  import("@effect/platform-node/NodeContext"),
  import("@effect/platform-node/NodeRuntime"),
  import("cli-progress")
])

const { register } = await import("tsx/esm/api")
register()
const { runCli } = await import("../src/cli/main.ts")
runCli(process.argv)
