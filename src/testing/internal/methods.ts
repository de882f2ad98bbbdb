/**
 * The fake portal's method table: every REST method the fake portal knows, over deterministic seeded
 * tables. The protocol engine (routing, auth, batch, limits, PHP parsing) calls it through `MethodTable`.
 *
 * This module assembles the method families of `methods/` (one module each: classic CRM, crm.item, product
 * rows, CRM reference data, catalog, workgroups, tasks, lists, users) over one set of tables
 * (`methods/tables.ts`) and one `MethodContext`. All list methods share one machinery (`listQuery.ts`); what
 * differs per method family is a `ListFamily` value (`methods/families.ts`).
 */
import type { CostNumbers, MutationRule } from "../Options.js"
import { asPhpArray } from "./entityModel.js"
import { errorOutcome, runList } from "./listQuery.js"
import { catalogMethods } from "./methods/catalog.js"
import type { Handler, Handlers, MethodContext } from "./methods/context.js"
import { crmMethods } from "./methods/crm.js"
import { crmItemMethods } from "./methods/crmItem.js"
import { crmReferenceMethods } from "./methods/crmReference.js"
import { listMethods } from "./methods/lists.js"
import { productRowMethods } from "./methods/productRows.js"
import { fieldWriter, mutateTable } from "./methods/rows.js"
import { makeTables } from "./methods/tables.js"
import { taskMethods } from "./methods/tasks.js"
import { userMethods } from "./methods/users.js"
import { workgroupMethods } from "./methods/workgroups.js"
import type { MethodOutcome, MethodTable } from "./types.js"

/** The cost models: the default (calibrated), the docs' COUNT, and zero. */
export { defaultCost, docsCountCost, zeroCost } from "./methods/cost.js"

const families: ReadonlyArray<(ctx: MethodContext) => Handlers> = [
  crmMethods,
  crmItemMethods,
  productRowMethods,
  crmReferenceMethods,
  catalogMethods,
  workgroupMethods,
  taskMethods,
  listMethods,
  userMethods
]

const readVerbs = new Set(["list", "get", "getlist", "fields", "current", "items", "search", "count", "info"])

/**
 * Builds the method table over seeded tables. Tables named in `seed` are generated now (a million rows
 * take well under a second: only IDs and typed-array columns are materialised); others on first use.
 */
export const makeMethodTable = (options: {
  readonly seed: Readonly<Record<string, number>>
  readonly seedNumber: number
  readonly cost: CostNumbers
}): MethodTable => {
  const { seedNumber, cost } = options
  const tables = makeTables(options.seed, seedNumber)
  let rowsServed = 0
  const writes: Record<string, number> = {}

  const ctx: MethodContext = {
    seedNumber,
    tables,
    getCost: cost.baseMs + cost.getMs,
    writeCost: cost.baseMs + cost.writeMs,
    deleteCost: cost.baseMs + cost.deleteMs,
    fail: (status, error, description, extra) => errorOutcome(status, error, description, cost.baseMs, extra),
    list: (table, family, request) => runList(table, family, request, cost),
    recordWrite: (method) => {
      writes[method] = (writes[method] ?? 0) + 1
    },
    applyFields: fieldWriter(seedNumber)
  }

  const handlers = new Map<string, Handler>()
  for (const family of families) {
    for (const [method, handler] of Object.entries(family(ctx))) {
      if (handlers.has(method)) throw new Error(`fake portal: method ${method} is defined by two method families`)
      handlers.set(method, handler)
    }
  }

  return {
    call: (method, params, call) => {
      const handler = handlers.get(method.toLowerCase())
      if (handler === undefined) return undefined
      const record = asPhpArray(params) ?? {}
      let outcome: MethodOutcome
      try {
        outcome = handler(record, call)
      } catch (error) {
        // Never throw: an unexpected failure is the core's generic error
        outcome = errorOutcome(400, "ERROR_CORE", error instanceof Error ? error.message : String(error), cost.baseMs)
      }
      if (outcome._tag === "Ok" && outcome.rows !== undefined) rowsServed += outcome.rows
      return outcome
    },
    has: (method) => handlers.has(method.toLowerCase()),
    isWrite: (method) => {
      const name = method.toLowerCase()
      if (name === "batch") return false
      const verb = name.slice(name.lastIndexOf(".") + 1)
      return !readVerbs.has(verb)
    },
    mutate: (rule: MutationRule, randomNumber: () => number, nowMs?: number) => {
      const table = tables.find(rule.entity)
      if (table !== undefined) mutateTable(table, rule, randomNumber, nowMs)
    },
    rowsServed: () => rowsServed,
    writesPerformed: () => ({ ...writes })
  }
}
