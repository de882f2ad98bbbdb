/**
 * The fake portal's tables, by name: the fixed entities (users, classic CRM, tasks, …) plus the tables whose
 * name carries a number (`crm.item:N` smart processes, `crm.stagehistory:N`). Tables named in the seed are
 * generated at once (a million rows take well under a second: only IDs and typed-array columns are
 * materialised); others on first use.
 */
import { createdStepMs, epochOfSeedData, hashString, idsWithGaps } from "../seed.js"
import {
  companyEntity,
  contactEntity,
  crmTableName,
  dealEntity,
  leadEntity,
  smartProcessEntity,
  stageHistoryEntity
} from "../entityCrm.js"
import type { EntityDef, GenEnv, Refs, Row } from "../entityModel.js"
import { documentElementEntity, listElementEntity, taskEntity, userEntity, workgroupEntity } from "../entityOther.js"
import { EntityTable } from "../entityTable.js"

/** The tables that always exist; `Tables.fixed` reaches them without a missing case. */
const fixedDefs = {
  user: userEntity,
  "crm.deal": dealEntity,
  "crm.lead": leadEntity,
  "crm.contact": contactEntity,
  "crm.company": companyEntity,
  "tasks.task": taskEntity,
  "socialnetwork.api.workgroup": workgroupEntity,
  "catalog.document.element": documentElementEntity,
  "lists.element": listElementEntity
} satisfies Readonly<Record<string, EntityDef>>

/** The name of a table that always exists (each is its own canonical name). */
export type FixedTableName = keyof typeof fixedDefs

const isFixedName = (name: string): name is FixedTableName => Object.hasOwn(fixedDefs, name)

/** Entity types crm.item serves besides 1–4: quotes (7), smart invoices (31) and every smart process (>= 128). */
export const isItemType = (entityTypeId: number): boolean =>
  (entityTypeId >= 1 && entityTypeId <= 4) || entityTypeId === 7 || entityTypeId === 31 || entityTypeId >= 128

/** The canonical table name of a seed key or mutation entity (`crm.item:2` is the deal table). */
const canonicalName = (name: string): string => {
  const item = /^crm\.item:(\d+)$/.exec(name)
  if (item !== null) return crmTableName(Number(item[1]))
  if (name === "crm.stagehistory") return "crm.stagehistory:2"
  return name
}

const definitionOf = (name: string): EntityDef | undefined => {
  if (isFixedName(name)) return fixedDefs[name]
  const item = /^crm\.item:(\d+)$/.exec(name)
  if (item !== null) return smartProcessEntity(Number(item[1]))
  const history = /^crm\.stagehistory:(\d+)$/.exec(name)
  if (history !== null) {
    const type = Number(history[1])
    return type === 1 || type === 2 || type >= 128 ? stageHistoryEntity(type) : undefined
  }
  return undefined
}

/** The tables of one fake portal. */
export interface Tables {
  /** A table that always exists. */
  readonly fixed: (name: FixedTableName) => EntityTable
  /** The table a seed key, mutation entity or computed name (`crm.item:N`) names, or `undefined` for none. */
  readonly find: (name: string) => EntityTable | undefined
  /** A small table over given rows (categories, product rows of an owner, elapsed items of a task). */
  readonly ofRows: (def: EntityDef, rows: ReadonlyArray<Row>) => EntityTable
}

/** The tables for `seed` (rows per table name or seed key), generating the seeded ones now. */
export const makeTables = (seed: Readonly<Record<string, number>>, seedNumber: number): Tables => {
  const seedCounts = new Map<string, number>()
  for (const [key, count] of Object.entries(seed)) {
    const name = canonicalName(key)
    const n = Number.isFinite(count) && count > 0 ? Math.floor(count) : 0
    if (!seedCounts.has(name) || key === name) seedCounts.set(name, n)
  }
  const tables = new Map<string, EntityTable>()

  // Generators call this several times per row: resolve each name once
  const refTables = new Map<string, EntityTable | undefined>()
  const refs: Refs = {
    pick: (entityName, hash) => {
      let table = refTables.get(entityName)
      if (table === undefined && !refTables.has(entityName)) {
        table = find(entityName)
        refTables.set(entityName, table)
      }
      return table?.pickSeeded(hash)
    }
  }

  const envFor = (name: string, count: number): GenEnv => ({
    seedNumber,
    salt: hashString(name),
    createdFromMs: epochOfSeedData,
    createdStepMs: createdStepMs(Math.max(count, 1000) * 2),
    refs
  })

  const defaultCount = (name: string): number => {
    if (name === "user") return 1
    const history = /^crm\.stagehistory:(\d+)$/.exec(name)
    if (history !== null) {
      // Two stage changes per owner on average, capped so an unseeded history stays small
      return Math.min(2 * (find(crmTableName(Number(history[1])))?.seededCount ?? 0), 10_000)
    }
    return 0
  }

  /** Generates the table `canonical` (not generated yet) of definition `def`. */
  const create = (canonical: string, def: EntityDef): EntityTable => {
    let count = seedCounts.get(canonical) ?? defaultCount(canonical)
    if (canonical === "user") count = Math.max(1, count)
    const env = envFor(canonical, count)
    const table = new EntityTable(def, env, idsWithGaps(seedNumber, env.salt, count))
    tables.set(canonical, table)
    return table
  }

  function find(name: string): EntityTable | undefined {
    const canonical = canonicalName(name)
    const existing = tables.get(canonical)
    if (existing !== undefined) return existing
    const def = definitionOf(canonical)
    return def === undefined ? undefined : create(canonical, def)
  }

  const fixed = (name: FixedTableName): EntityTable => tables.get(name) ?? create(name, fixedDefs[name])

  const ofRows = (def: EntityDef, rows: ReadonlyArray<Row>): EntityTable => {
    const sorted = [...rows].sort((a, b) => Number(a.ID) - Number(b.ID))
    const table = new EntityTable(def, envFor(def.name, rows.length), Int32Array.from(sorted, (row) => Number(row.ID)))
    for (const row of sorted) table.stored.set(Number(row.ID), row)
    return table
  }

  // Tables named in the seed are generated up front, so the first request does not pay for them
  fixed("user")
  for (const name of seedCounts.keys()) find(name)

  return { fixed, find, ofRows }
}
