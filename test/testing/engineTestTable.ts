/**
 * A tiny method table for the protocol-engine tests, so they do not depend on the real entity tables:
 * `crm.deal.list` (offset pages of 50, `filter[>ID]`, `start=-1`), `crm.deal.get`, `crm.deal.add`, `echo`
 * (returns its params), `slow` (costs `ms`), `boom` (throws) and `fail` (ERROR_ARGUMENT).
 */
import type { MutationRule } from "../../src/testing/Options.js"
import type { MethodOutcome, MethodTable } from "../../src/testing/internal/types.js"

export interface TestTable extends MethodTable {
  /** Params each call received, in order. */
  readonly calls: Array<{ readonly method: string; readonly params: unknown; readonly nowMs: number }>
  readonly mutations: Array<MutationRule>
}

const record = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {}

export const makeTestTable = (options: { readonly rows?: number; readonly callMs?: number } = {}): TestTable => {
  let rows = Array.from({ length: options.rows ?? 120 }, (_, i) => ({ ID: String(i + 1), TITLE: `Deal ${i + 1}` }))
  const callMs = options.callMs ?? 0
  const calls: TestTable["calls"] = []
  const mutations: Array<MutationRule> = []
  let served = 0
  const writes: Record<string, number> = {}
  const call = (method: string, params: unknown, ctx: { nowMs: number }): MethodOutcome | undefined => {
    calls.push({ method, params, nowMs: ctx.nowMs })
    const p = record(params)
    switch (method) {
      case "crm.deal.list": {
        const filter = record(p["filter"])
        const after = Number(filter[">ID"] ?? 0)
        const start = Number(p["start"] ?? 0)
        const matching = rows.filter((row) => Number(row.ID) > after)
        const page = start < 0 ? matching.slice(0, 50) : matching.slice(start, start + 50)
        served += page.length
        const outcome: MethodOutcome = {
          _tag: "Ok",
          result: page,
          costMs: callMs,
          rows: page.length,
          ...(start >= 0 ? { total: matching.length } : {}),
          ...(start >= 0 && start + page.length < matching.length ? { next: start + page.length } : {})
        }
        return outcome
      }
      case "crm.deal.get": {
        const id = p["ID"] ?? p["id"]
        if (id === undefined || !(Number(id) > 0)) {
          return { _tag: "Error", status: 400, error: "", description: "ID is not defined or invalid.", costMs: callMs }
        }
        const row = rows.find((r) => r.ID === String(id))
        return row === undefined
          ? { _tag: "Error", status: 400, error: "", description: "Not found", costMs: callMs }
          : { _tag: "Ok", result: row, costMs: callMs }
      }
      case "crm.deal.add": {
        const id = String(rows.length + 1)
        rows = [...rows, { ID: id, TITLE: String(record(p["fields"])["TITLE"] ?? "") }]
        writes[method] = (writes[method] ?? 0) + 1
        return { _tag: "Ok", result: Number(id), costMs: callMs }
      }
      case "echo":
        return { _tag: "Ok", result: params, costMs: callMs }
      case "slow":
        return { _tag: "Ok", result: true, costMs: Number(p["ms"] ?? 0) }
      case "fail":
        return {
          _tag: "Error",
          status: 400,
          error: "ERROR_ARGUMENT",
          description: "The filter is not an array.",
          extra: { argument: "filter" },
          costMs: callMs
        }
      case "boom":
        throw new Error("kaboom")
      default:
        return undefined
    }
  }
  return {
    calls,
    mutations,
    call,
    has: (method) => ["crm.deal.list", "crm.deal.get", "crm.deal.add", "echo", "slow", "fail", "boom"].includes(method),
    isWrite: (method) => method.endsWith(".add"),
    mutate: (rule) => {
      mutations.push(rule)
    },
    rowsServed: () => served,
    writesPerformed: () => ({ ...writes })
  }
}
