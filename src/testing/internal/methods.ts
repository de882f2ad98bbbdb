/**
 * The fake portal's method table: every REST method the fake portal knows, over deterministic seeded
 * tables. The protocol engine (routing, auth, batch, limits, PHP parsing) calls it through `MethodTable`.
 *
 * All list methods share one machinery (`listQuery.ts`); what differs per method family (wrapper key, ID
 * spelling in filters and rows, value style, paging, default order) is a `ListFamily` value below.
 */
import type { CostNumbers, MutationRule } from "../Options.js"
import { createdStepMs, dealCategories, dealStageId, dealStages, epochOfSeedData, hashString, idsWithGaps } from "../Seed.js"
import {
  categoryEntity,
  categoryRows,
  companyEntity,
  contactEntity,
  crmTableName,
  dealEntity,
  entityTypeOfOwnerCode,
  leadEntity,
  linkedContacts,
  productRowEntity,
  productRowsOf,
  smartProcessEntity,
  stageHistoryEntity,
  statusEntries
} from "./entityCrm.js"
import {
  asPhpArray,
  coerceForField,
  isRecord,
  param,
  toId,
  type EntityDef,
  type FieldDef,
  type GenEnv,
  type Refs,
  type Row,
  userField
} from "./entityModel.js"
import {
  deriveTaskFields,
  documentElementEntity,
  elapsedItemEntity,
  elapsedItemsOf,
  listElementEntity,
  taskEntity,
  userEntity,
  userFieldsDictionary,
  workgroupEntity
} from "./entityOther.js"
import { EntityTable } from "./entityTable.js"
import { splitFilterKey } from "./filter.js"
import { errorOutcome, fullFields, printNative, runList, type ListFamily, type ListRequest } from "./listQuery.js"
import type { CallContext, MethodOutcome, MethodTable } from "./types.js"

/**
 * The default cost model, in milliseconds of portal time. Sources and reasoning:
 *
 * - `baseMs` 5: a `crm.lead.get` inside a batch took 4.5–4.7 ms (fixture call_several_success, `duration` of
 *   order1/order2); every call pays it, batch commands included.
 * - `narrowRowMs` 0.1 and `wideRowMs` 2: fast_bitrix24 measured about 16–18k rows/s for `select ID,STAGE_ID`
 *   with parallel batches, i.e. well under a millisecond per narrow row, while `select *` with user fields
 *   joins many tables and is an order of magnitude slower per row.
 * - `offsetRowMs` 0.0015 per skipped row: offset pages get slower with the offset (fixture
 *   crm_lead_list_several_pages_success: per-command durations grow from about 17 ms near start 100 to about
 *   45 ms near start 7,000, with MySQL reading and discarding the skipped rows).
 * - `countRowMs` 0.0005 per table row: the COUNT behind `total` is proportional to the table; the docs
 *   (settings/performance/huge-data.md) measure 49.9 s per page with the count against 0.097 s without it on
 *   2.4 M rows. Our figure is far milder (1.2 s per page at 2.4 M rows) but keeps the shape: keyset paging with
 *   `start=-1` avoids a cost that grows with the table.
 * - `writeMs` 40 and `deleteMs` 20: adds in the fixtures took 26–95 ms (crm_contact_add_batch,
 *   lists_element_add_batch, crm_item_add); deletes are cheaper.
 * - `getMs` 5: single reads took 5–30 ms; with `baseMs` a get costs 10 ms.
 */
export const defaultCost: CostNumbers = {
  baseMs: 5,
  narrowRowMs: 0.1,
  wideRowMs: 2,
  offsetRowMs: 0.0015,
  countRowMs: 0.0005,
  writeMs: 40,
  deleteMs: 20,
  getMs: 5
}

/** A cost model where every call is free (tests that must not depend on timing). */
export const zeroCost: CostNumbers = {
  baseMs: 0,
  narrowRowMs: 0,
  wideRowMs: 0,
  offsetRowMs: 0,
  countRowMs: 0,
  writeMs: 0,
  deleteMs: 0,
  getMs: 0
}

// ---------------------------------------------------------------------------------------------------------
// Method families
// ---------------------------------------------------------------------------------------------------------

const classic: ListFamily = {
  wrapper: undefined,
  input: "upper",
  selectEitherCase: false,
  output: "upper",
  values: "strings",
  emptyDate: "",
  paging: "legacy",
  defaultDescending: false,
  errors: "classic",
  starIncludesUserFields: false
}

const d7 = (wrapper: string): ListFamily => ({
  wrapper,
  input: "camel",
  selectEitherCase: false,
  output: "camel",
  values: "native",
  emptyDate: null,
  paging: "d7",
  defaultDescending: false,
  errors: "d7",
  starIncludesUserFields: true
})

const crmItemFamily = (entityTypeId: number): ListFamily => ({
  ...d7("items"),
  errors: "crmItem",
  // Full items carry their type (fixture crm_item_add)
  decorate: (_row, printed, selectedAll) => {
    if (selectedAll) printed.entityTypeId = entityTypeId
  }
})

/** Tasks printed whole (`tasks.task.get` / `add`): camelCase keys with string values. */
const taskFullFamily: ListFamily = {
  wrapper: undefined,
  input: "upper",
  selectEitherCase: true,
  output: "camel",
  values: "strings",
  emptyDate: null,
  paging: "legacy",
  defaultDescending: true,
  errors: "classic",
  starIncludesUserFields: true
}

/** tasks.task.list: filter and order by UPPER names, rows camelCase with string values, newest first. */
const tasksFamily: ListFamily = {
  ...taskFullFamily,
  wrapper: "tasks",
  // List rows always carry `group`, and `subStatus` next to `status` (fixture get_all_tasks)
  decorate: (row, printed) => {
    if (!("group" in printed)) printed.group = row.GROUP ?? []
    if ("status" in printed) printed.subStatus = String(row.SUB_STATUS ?? row.STATUS ?? "")
  }
}

const userFamily: ListFamily = { ...classic, starIncludesUserFields: true }

const categoriesFamily: ListFamily = { ...d7("categories"), paging: "all" }

const stageHistoryFamily: ListFamily = { ...d7("items"), input: "upper", output: "upper", values: "strings" }

const workgroupFamily: ListFamily = { ...d7("workgroups"), input: "upper", selectEitherCase: true, values: "strings" }

const elapsedFamily: ListFamily = classic

// ---------------------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------------------

const fixedDefs: Readonly<Record<string, EntityDef>> = {
  user: userEntity,
  "crm.deal": dealEntity,
  "crm.lead": leadEntity,
  "crm.contact": contactEntity,
  "crm.company": companyEntity,
  "tasks.task": taskEntity,
  "socialnetwork.api.workgroup": workgroupEntity,
  "catalog.document.element": documentElementEntity,
  "lists.element": listElementEntity
}

/** Entity types crm.item serves besides 1–4: quotes (7), smart invoices (31) and every smart process (>= 128). */
const isItemType = (entityTypeId: number): boolean =>
  (entityTypeId >= 1 && entityTypeId <= 4) || entityTypeId === 7 || entityTypeId === 31 || entityTypeId >= 128

/** The canonical table name of a seed key or mutation entity (`crm.item:2` is the deal table). */
const canonicalName = (name: string): string => {
  const item = /^crm\.item:(\d+)$/.exec(name)
  if (item !== null) return crmTableName(Number(item[1]))
  if (name === "crm.stagehistory") return "crm.stagehistory:2"
  return name
}

const definitionOf = (name: string): EntityDef | undefined => {
  const fixed = fixedDefs[name]
  if (fixed !== undefined) return fixed
  const item = /^crm\.item:(\d+)$/.exec(name)
  if (item !== null) return smartProcessEntity(Number(item[1]))
  const history = /^crm\.stagehistory:(\d+)$/.exec(name)
  if (history !== null) {
    const type = Number(history[1])
    return type === 1 || type === 2 || type >= 128 ? stageHistoryEntity(type) : undefined
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------------------

type Handler = (params: Readonly<Record<string, unknown>>, ctx: CallContext) => MethodOutcome

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
  const seedCounts = new Map<string, number>()
  for (const [key, count] of Object.entries(options.seed)) {
    const name = canonicalName(key)
    const n = Number.isFinite(count) && count > 0 ? Math.floor(count) : 0
    if (!seedCounts.has(name) || key === name) seedCounts.set(name, n)
  }
  const tables = new Map<string, EntityTable>()
  let rowsServed = 0
  const writes: Record<string, number> = {}

  // Generators call this several times per row: resolve each name once
  const refTables = new Map<string, EntityTable | undefined>()
  const refs: Refs = {
    pick: (entityName, hash) => {
      let table = refTables.get(entityName)
      if (table === undefined && !refTables.has(entityName)) {
        table = tableOf(entityName)
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
      return Math.min(2 * (tableOf(crmTableName(Number(history[1])))?.seededCount ?? 0), 10_000)
    }
    return 0
  }

  function tableOf(name: string): EntityTable | undefined {
    const canonical = canonicalName(name)
    const existing = tables.get(canonical)
    if (existing !== undefined) return existing
    const def = definitionOf(canonical)
    if (def === undefined) return undefined
    let count = seedCounts.get(canonical) ?? defaultCount(canonical)
    if (canonical === "user") count = Math.max(1, count)
    const env = envFor(canonical, count)
    const table = new EntityTable(def, env, idsWithGaps(seedNumber, env.salt, count))
    tables.set(canonical, table)
    return table
  }

  /** A small table over given rows (categories, product rows of an owner, elapsed items of a task). */
  const tableOfRows = (def: EntityDef, rows: ReadonlyArray<Row>): EntityTable => {
    const sorted = [...rows].sort((a, b) => Number(a.ID) - Number(b.ID))
    const table = new EntityTable(def, envFor(def.name, rows.length), Int32Array.from(sorted, (row) => Number(row.ID)))
    for (const row of sorted) table.stored.set(Number(row.ID), row)
    return table
  }

  const recordWrite = (method: string): void => {
    writes[method] = (writes[method] ?? 0) + 1
  }

  const ok = (result: unknown, costMs: number): MethodOutcome => ({ _tag: "Ok", result, costMs })
  const getCost = cost.baseMs + cost.getMs
  const writeCost = cost.baseMs + cost.writeMs
  const deleteCost = cost.baseMs + cost.deleteMs

  const listRequest = (p: Readonly<Record<string, unknown>>): ListRequest => ({
    filter: param(p, "filter"),
    order: param(p, "order"),
    select: param(p, "select"),
    start: param(p, "start")
  })

  /** A native row from a row plus written fields (unknown and read-only fields ignored), stamped for `ctx`. */
  const applyFields = (
    table: EntityTable,
    base: Row,
    fields: Readonly<Record<string, unknown>>,
    resolve: (name: string) => FieldDef | undefined,
    ctx: CallContext,
    creating: boolean
  ): Row => {
    const row: Row = creating ? { ...base, ...table.def.creationDefaults } : { ...base }
    const given = new Set<string>()
    for (const [key, value] of Object.entries(fields)) {
      const f = resolve(key)
      if (f !== undefined && !f.isReadOnly) {
        row[f.upper] = coerceForField(f, value)
        given.add(f.upper)
      }
    }
    // A new deal in another pipeline starts in that pipeline's first stage
    if (creating && table.def.name === dealEntity.name && given.has("CATEGORY_ID") && !given.has("STAGE_ID")) {
      row.STAGE_ID = dealStageId(typeof row.CATEGORY_ID === "number" ? row.CATEGORY_ID : 0, "NEW")
    }
    const has = (upper: string): boolean => table.def.byUpper.has(upper)
    const stamp = (upper: string, value: unknown): void => {
      if (has(upper)) row[upper] = value
    }
    for (const upper of ["DATE_MODIFY", "UPDATED_TIME", "CHANGED_DATE", "ACTIVITY_DATE"]) stamp(upper, ctx.nowMs)
    for (const upper of ["MODIFY_BY_ID", "UPDATED_BY", "CHANGED_BY"]) stamp(upper, ctx.userId)
    if (creating) {
      for (const upper of ["DATE_CREATE", "CREATED_TIME", "CREATED_DATE"]) stamp(upper, ctx.nowMs)
      for (const upper of ["CREATED_BY_ID", "CREATED_BY"]) stamp(upper, ctx.userId)
    }
    if (table.def.name === taskEntity.name) deriveTaskFields(seedNumber, row)
    return row
  }

  const eitherCase = (table: EntityTable, primary: "upper" | "camel") => (name: string): FieldDef | undefined =>
    primary === "upper"
      ? table.def.byUpper.get(name) ?? table.def.byCamel.get(name)
      : table.def.byCamel.get(name) ?? table.def.byUpper.get(name)

  const fieldsParam = (p: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> =>
    asPhpArray(param(p, "fields")) ?? {}

  /** `*.fields` metadata of one field, keys in the order real portals send them. */
  const fieldMeta = (f: FieldDef): Record<string, unknown> => ({
    type: f.type,
    isRequired: f.isRequired,
    isReadOnly: f.isReadOnly,
    isImmutable: f.isImmutable,
    isMultiple: f.isMultiple,
    isDynamic: f.isDynamic,
    ...(f.isDeprecated ? { isDeprecated: true } : {}),
    ...(f.statusType !== undefined ? { statusType: f.statusType } : {}),
    title: f.title,
    ...(f.label !== undefined ? { listLabel: f.label, formLabel: f.label, filterLabel: f.label } : {}),
    ...(f.settings !== undefined ? { settings: f.settings } : {})
  })

  const handlers = new Map<string, Handler>()
  /** IDs of user fields created through `*.userfield.add` (the seeded ones stand below). */
  let userFieldIds = 1000

  // ----- classic CRM: crm.deal / crm.lead / crm.contact / crm.company -----
  for (const entityName of ["deal", "lead", "contact", "company"] as const) {
    const tableName = `crm.${entityName}`
    const table = (): EntityTable => tableOf(tableName) as EntityTable
    handlers.set(`${tableName}.list`, (p) => runList(table(), classic, listRequest(p), cost))
    handlers.set(`${tableName}.get`, (p) => {
      const t = table()
      const id = toId(param(p, "id"))
      if (id === undefined) return errorOutcome(400, "", "ID is not defined or invalid.", cost.baseMs)
      const pos = t.positionOf(id)
      if (pos < 0) return errorOutcome(400, "", "Not found", cost.baseMs)
      const row = t.rowAt(pos)
      return ok(printNative(t, classic, row, fullFields(t, row), true), getCost)
    })
    handlers.set(`${tableName}.add`, (p, ctx) => {
      const t = table()
      const fields = fieldsParam(p)
      const id = t.insert((newId) => applyFields(t, t.def.generate(t.env, newId), fields, (n) => t.def.byUpper.get(n), ctx, true))
      recordWrite(`${tableName}.add`)
      return ok(id, writeCost)
    })
    handlers.set(`${tableName}.update`, (p, ctx) => {
      const t = table()
      const id = toId(param(p, "id"))
      if (id === undefined) return errorOutcome(400, "", "ID is not defined or invalid.", cost.baseMs)
      const pos = t.positionOf(id)
      if (pos < 0) return errorOutcome(400, "", "Not found", cost.baseMs)
      t.replace(pos, applyFields(t, t.rowAt(pos), fieldsParam(p), (n) => t.def.byUpper.get(n), ctx, false))
      recordWrite(`${tableName}.update`)
      return ok(true, writeCost)
    })
    handlers.set(`${tableName}.delete`, (p) => {
      const t = table()
      const id = toId(param(p, "id"))
      if (id === undefined) return errorOutcome(400, "", "ID is not defined or invalid.", cost.baseMs)
      const pos = t.positionOf(id)
      if (pos < 0) return errorOutcome(400, "", "Not found", cost.baseMs)
      t.remove(pos)
      recordWrite(`${tableName}.delete`)
      return ok(true, deleteCost)
    })
    // crm.deal.userfield.add: FIELD_NAME without the prefix gets UF_CRM_; answers the new field's ID
    handlers.set(`${tableName}.userfield.add`, (p) => {
      const t = table()
      const given = fieldsParam(p)
      const rawName = typeof given.FIELD_NAME === "string" ? given.FIELD_NAME.trim().toUpperCase() : ""
      if (!/^[A-Z0-9_]+$/.test(rawName)) return errorOutcome(400, "ERROR_CORE", "FIELD_NAME is required: letters, digits and _", cost.baseMs)
      const upper = rawName.startsWith("UF_CRM_") ? rawName : `UF_CRM_${rawName}`
      if (t.def.byUpper.has(upper)) return errorOutcome(400, "ERROR_CORE", `The field ${upper} already exists`, cost.baseMs)
      const type = typeof given.USER_TYPE_ID === "string" && given.USER_TYPE_ID !== "" ? given.USER_TYPE_ID : "string"
      const labelOf = (value: unknown): string | undefined =>
        typeof value === "string" ? value : isRecord(value) ? (Object.values(value).find((entry) => typeof entry === "string") as string | undefined) : undefined
      const label = labelOf(given.EDIT_FORM_LABEL) ?? labelOf(given.LIST_COLUMN_LABEL) ?? upper
      const multiple = given.MULTIPLE === "Y" || given.MULTIPLE === true
      const base = userField(upper, type, label)
      t.addField(multiple ? { ...base, isMultiple: true, kind: "list" } : base)
      recordWrite(`${tableName}.userfield.add`)
      userFieldIds += 1
      return ok(userFieldIds, writeCost)
    })
    handlers.set(`${tableName}.fields`, () => {
      const t = table()
      return ok(Object.fromEntries(t.def.fields.map((f) => [f.upper, fieldMeta(f)])), getCost)
    })
  }

  const contactItems = (ownerTable: string, usePrimary: boolean): Handler => (p) => {
    const t = tableOf(ownerTable) as EntityTable
    const id = toId(param(p, "id"))
    if (id === undefined) return errorOutcome(400, "", "ID is not defined or invalid.", cost.baseMs)
    const pos = t.positionOf(id)
    if (pos < 0) return errorOutcome(400, "", "Not found", cost.baseMs)
    const primary = usePrimary ? t.rowAt(pos).CONTACT_ID : undefined
    const contacts = tableOf("crm.contact") as EntityTable
    const items = linkedContacts(seedNumber, ownerTable, id, typeof primary === "number" ? primary : undefined, (h) => contacts.pickSeeded(h))
    return ok(items, getCost)
  }
  handlers.set("crm.deal.contact.items.get", contactItems("crm.deal", true))
  handlers.set("crm.company.contact.items.get", contactItems("crm.company", false))

  // ----- crm.item.* (D7) -----
  const itemTable = (p: Readonly<Record<string, unknown>>): { readonly table: EntityTable; readonly type: number } | MethodOutcome => {
    const raw = param(p, "entityTypeId")
    if (raw === undefined) return errorOutcome(400, "", "Could not find value for parameter {entityTypeId}", cost.baseMs)
    const type = toId(raw)
    const table = type !== undefined && isItemType(type) ? tableOf(crmTableName(type)) : undefined
    if (type === undefined || table === undefined) return errorOutcome(400, "NOT_FOUND", "Smart process not found", cost.baseMs)
    return { table, type }
  }
  const withItemTable = (run: (table: EntityTable, type: number, p: Readonly<Record<string, unknown>>, ctx: CallContext) => MethodOutcome): Handler =>
  (p, ctx) => {
    const found = itemTable(p)
    return "_tag" in found ? found : run(found.table, found.type, p, ctx)
  }
  const printItem = (table: EntityTable, type: number, row: Row) =>
    printNative(table, crmItemFamily(type), row, table.def.fields.filter((f) => !f.explicitOnly), true)
  const findItem = (table: EntityTable, p: Readonly<Record<string, unknown>>): number | MethodOutcome => {
    const id = toId(param(p, "id"))
    const pos = id === undefined ? -1 : table.positionOf(id)
    return pos < 0 ? errorOutcome(400, "NOT_FOUND", "Element not found", cost.baseMs) : pos
  }
  handlers.set("crm.item.list", withItemTable((table, type, p) => runList(table, crmItemFamily(type), listRequest(p), cost)))
  handlers.set(
    "crm.item.get",
    withItemTable((table, type, p) => {
      const pos = findItem(table, p)
      return typeof pos !== "number" ? pos : ok({ item: printItem(table, type, table.rowAt(pos)) }, getCost)
    })
  )
  handlers.set(
    "crm.item.add",
    withItemTable((table, type, p, ctx) => {
      const fields = fieldsParam(p)
      const id = table.insert((newId) =>
        applyFields(table, table.def.generate(table.env, newId), fields, (n) => table.def.byCamel.get(n), ctx, true)
      )
      recordWrite("crm.item.add")
      return ok({ item: printItem(table, type, table.rowAt(table.positionOf(id))) }, writeCost)
    })
  )
  handlers.set(
    "crm.item.update",
    withItemTable((table, type, p, ctx) => {
      const pos = findItem(table, p)
      if (typeof pos !== "number") return pos
      table.replace(pos, applyFields(table, table.rowAt(pos), fieldsParam(p), (n) => table.def.byCamel.get(n), ctx, false))
      recordWrite("crm.item.update")
      return ok({ item: printItem(table, type, table.rowAt(pos)) }, writeCost)
    })
  )
  handlers.set(
    "crm.item.delete",
    withItemTable((table, _type, p) => {
      const pos = findItem(table, p)
      if (typeof pos !== "number") return pos
      table.remove(pos)
      recordWrite("crm.item.delete")
      // PHP's empty array
      return ok([], deleteCost)
    })
  )
  handlers.set(
    "crm.item.fields",
    withItemTable((table) =>
      ok(
        {
          fields: Object.fromEntries(
            table.def.fields
              .filter((f) => f.type !== "crm_multifield")
              .map((f) => {
                const { type, isRequired, isReadOnly, isImmutable, isMultiple, isDynamic, title } = f
                return [f.camel, { type, isRequired, isReadOnly, isImmutable, isMultiple, isDynamic, title, upperName: f.upper }]
              })
          )
        },
        getCost
      )
    )
  )

  // ----- crm reference data -----
  const categoryTables = new Map<number, EntityTable>()
  handlers.set(
    "crm.category.list",
    withItemTable((_table, type, p) => {
      let categories = categoryTables.get(type)
      if (categories === undefined) {
        categories = tableOfRows(categoryEntity, categoryRows(type))
        categoryTables.set(type, categories)
      }
      const request = listRequest(p)
      // Categories come in their SORT order unless asked otherwise
      const order = request.order === undefined || request.order === null || request.order === "" ? { sort: "ASC" } : request.order
      return runList(categories, categoriesFamily, { ...request, order }, cost)
    })
  )
  handlers.set("crm.status.entity.items", (p) => {
    const entityId = param(p, "entityId")
    return ok(typeof entityId === "string" ? statusEntries(entityId) ?? [] : [], getCost)
  })
  handlers.set("crm.dealcategory.stage.list", (p) => {
    const raw = param(p, "id")
    const id = raw === undefined || raw === "" ? 0 : Number(raw)
    const known = dealCategories.some((c) => c.id === id)
    return ok(known ? dealStages(id).map(({ NAME, SORT, STATUS_ID }) => ({ NAME, SORT, STATUS_ID })) : [], getCost)
  })

  // ----- crm.item.productrow.list: rows of the owners named in the filter -----
  handlers.set("crm.item.productrow.list", (p) => {
    const request = listRequest(p)
    const filter = asPhpArray(request.filter ?? {})
    if (filter === undefined) return errorOutcome(400, "ERROR_ARGUMENT", "The filter is not an array.", cost.baseMs, { argument: "filter" })
    const pick = (name: string): unknown => filter[`=${name}`] ?? filter[name] ?? filter[`@${name}`]
    const ownerCode = pick("ownerType")
    const ownerIds = pick("ownerId")
    const type = typeof ownerCode === "string" ? entityTypeOfOwnerCode(ownerCode) : undefined
    if (ownerCode === undefined || ownerIds === undefined) {
      return errorOutcome(400, "ERROR_ARGUMENT", "Filter must contain both ownerType and ownerId", cost.baseMs, { argument: "filter" })
    }
    const owners = type === undefined || !isItemType(type) ? undefined : tableOf(crmTableName(type))
    const rows: Array<Row> = []
    const idList = Array.isArray(ownerIds) || isRecord(ownerIds) ? Object.values(ownerIds) : [ownerIds]
    for (const raw of idList) {
      const ownerId = toId(raw)
      if (owners !== undefined && type !== undefined && ownerId !== undefined && owners.positionOf(ownerId) >= 0) {
        rows.push(...productRowsOf(seedNumber, type, ownerId))
      }
    }
    return runList(tableOfRows(productRowEntity, rows), d7("productRows"), request, cost)
  })

  // ----- crm.stagehistory.list -----
  handlers.set("crm.stagehistory.list", (p) => {
    const type = toId(param(p, "entityTypeId")) ?? 0
    const table = tableOf(`crm.stagehistory:${type}`)
    if (table === undefined) return errorOutcome(400, "ERROR_ARGUMENT", "Entity type is not supported", cost.baseMs, { argument: "entityTypeId" })
    return runList(table, stageHistoryFamily, listRequest(p), cost)
  })

  // ----- other list methods -----
  handlers.set("catalog.document.element.list", (p) =>
    runList(tableOf("catalog.document.element") as EntityTable, d7("documentElements"), listRequest(p), cost))
  handlers.set("socialnetwork.api.workgroup.list", (p) =>
    runList(tableOf("socialnetwork.api.workgroup") as EntityTable, workgroupFamily, listRequest(p), cost))

  // ----- tasks -----
  const tasks = (): EntityTable => tableOf("tasks.task") as EntityTable
  const taskId = (p: Readonly<Record<string, unknown>>): number | undefined => toId(param(p, "taskId") ?? param(p, "id"))
  const taskNotFound = (): MethodOutcome =>
    errorOutcome(400, "ERROR_CORE", "TASKS_ERROR_EXCEPTION_#8; Task not found or not accessible; 8/TE/TASK_NOT_FOUND_OR_NOT_ACCESSIBLE", cost.baseMs)
  const printTask = (t: EntityTable, row: Row) =>
    printNative(t, taskFullFamily, row, t.def.fields.filter((f) => !f.explicitOnly), true)
  handlers.set("tasks.task.list", (p) => runList(tasks(), tasksFamily, listRequest(p), cost))
  handlers.set("tasks.task.get", (p) => {
    const t = tasks()
    const id = taskId(p)
    const pos = id === undefined ? -1 : t.positionOf(id)
    return pos < 0 ? taskNotFound() : ok({ task: printTask(t, t.rowAt(pos)) }, getCost)
  })
  handlers.set("tasks.task.add", (p, ctx) => {
    const t = tasks()
    const fields = fieldsParam(p)
    const id = t.insert((newId) => applyFields(t, t.def.generate(t.env, newId), fields, eitherCase(t, "upper"), ctx, true))
    recordWrite("tasks.task.add")
    return ok({ task: printTask(t, t.rowAt(t.positionOf(id))) }, writeCost)
  })
  handlers.set("tasks.task.update", (p, ctx) => {
    const t = tasks()
    const id = taskId(p)
    const pos = id === undefined ? -1 : t.positionOf(id)
    if (pos < 0) return taskNotFound()
    t.replace(pos, applyFields(t, t.rowAt(pos), fieldsParam(p), eitherCase(t, "upper"), ctx, false))
    recordWrite("tasks.task.update")
    return ok({ task: printTask(t, t.rowAt(pos)) }, writeCost)
  })
  handlers.set("tasks.task.delete", (p) => {
    const t = tasks()
    const id = taskId(p)
    const pos = id === undefined ? -1 : t.positionOf(id)
    if (pos < 0) return taskNotFound()
    t.remove(pos)
    recordWrite("tasks.task.delete")
    return ok({ task: true }, deleteCost)
  })

  // ----- task.elapseditem.getlist: positional [taskId, order?, filter?] -----
  handlers.set("task.elapseditem.getlist", (p) => {
    const taskIdValue = p["0"] ?? param(p, "TASKID")
    const id = toId(taskIdValue)
    if (id === undefined) {
      return errorOutcome(
        400,
        "ERROR_CORE",
        "TASKS_ERROR_EXCEPTION_#256; Param #0 (taskId) for method ctaskelapseditem::getlist() expected to be of type \"integer\", but given something else.; 256/TE/WRONG_ARGUMENTS",
        cost.baseMs
      )
    }
    const t = tasks()
    const pos = t.positionOf(id)
    if (pos < 0) return taskNotFound()
    const created = t.rowAt(pos).CREATED_DATE
    const users = tableOf("user") as EntityTable
    const items = elapsedItemsOf(seedNumber, id, typeof created === "number" ? created : epochOfSeedData, (h) => users.pickSeeded(h) ?? 1)
    const request: ListRequest = {
      order: p["1"] ?? param(p, "ORDER"),
      filter: p["2"] ?? param(p, "FILTER"),
      select: p["3"] ?? param(p, "SELECT"),
      start: undefined
    }
    return runList(tableOfRows(elapsedItemEntity, items), elapsedFamily, request, cost)
  })

  // ----- lists.element.add -----
  const listCodes = new Set<string>()
  handlers.set("lists.element.add", (p, ctx) => {
    const iblockType = param(p, "IBLOCK_TYPE_ID")
    const iblock = param(p, "IBLOCK_ID") ?? param(p, "IBLOCK_CODE")
    const code = param(p, "ELEMENT_CODE")
    for (const [name, value] of [["IBLOCK_TYPE_ID", iblockType], ["IBLOCK_ID", iblock], ["ELEMENT_CODE", code]] as const) {
      if (value === undefined || value === "") {
        return errorOutcome(400, "ERROR_REQUIRED_PARAMETERS_MISSING", `Required parameter "${name}" is missing`, cost.baseMs)
      }
    }
    const codeText = String(code)
    if (listCodes.has(codeText)) return errorOutcome(400, "ERROR_ELEMENT_ALREADY_EXISTS", "Element with this code already exists", cost.baseMs)
    const t = tableOf("lists.element") as EntityTable
    const fields = asPhpArray(param(p, "FIELDS")) ?? {}
    const id = t.insert((newId) => ({
      ...t.def.generate(t.env, newId),
      IBLOCK_TYPE_ID: String(iblockType),
      IBLOCK_ID: toId(iblock) ?? 0,
      CODE: codeText,
      NAME: typeof fields.NAME === "string" ? fields.NAME : codeText,
      DATE_CREATE: ctx.nowMs,
      CREATED_BY: ctx.userId,
      FIELDS: fields
    }))
    listCodes.add(codeText)
    recordWrite("lists.element.add")
    return ok(id, writeCost)
  })

  // ----- users -----
  const userReserved = new Set(["SORT", "ORDER", "FILTER", "START", "SELECT", "ADMIN_MODE", "AUTH", "ACCESS_TOKEN", "NAME_SEARCH", "USER_TYPE_FILTER"])
  handlers.set("user.get", (p) => {
    const users = tableOf("user") as EntityTable
    let filter = param(p, "FILTER")
    if (filter === undefined) {
      // user.get also takes filter fields at the top level ({"ID": 5, "ACTIVE": true})
      const topLevel: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(p)) {
        if (userReserved.has(key.toUpperCase())) continue
        if (users.def.byUpper.has(splitFilterKey(key).name)) topLevel[key] = value
      }
      filter = topLevel
    }
    const sort = param(p, "sort")
    const orderRaw = param(p, "order")
    // user.get takes `sort` and `order` as two strings ([D], [PY])
    const order = isRecord(orderRaw) || Array.isArray(orderRaw)
      ? orderRaw
      : typeof sort === "string" && sort !== ""
      ? { [sort.toUpperCase()]: typeof orderRaw === "string" && orderRaw !== "" ? orderRaw : "ASC" }
      : typeof orderRaw === "string" && orderRaw !== ""
      ? { ID: orderRaw }
      : undefined
    return runList(users, userFamily, { filter, order, select: param(p, "select"), start: param(p, "start") }, cost)
  })
  handlers.set("user.current", (_p, ctx) => {
    const users = tableOf("user") as EntityTable
    const pos = users.positionOf(ctx.userId)
    const row = pos >= 0 ? users.rowAt(pos) : users.def.generate(users.env, ctx.userId)
    return ok(printNative(users, userFamily, row, users.def.fields, true), getCost)
  })
  handlers.set("user.fields", () => ok(userFieldsDictionary, getCost))

  // Tables named in the seed are generated up front, so the first request does not pay for them
  tableOf("user")
  for (const name of seedCounts.keys()) tableOf(name)

  return {
    call: (method, params, ctx) => {
      const handler = handlers.get(method.toLowerCase())
      if (handler === undefined) return undefined
      const record = asPhpArray(params) ?? {}
      let outcome: MethodOutcome
      try {
        outcome = handler(record, ctx)
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
      const table = tableOf(rule.entity)
      if (table === undefined) return
      // A row written on a real portal carries the time of the write: a sync's DATE_MODIFY window must see it
      const stamped = (row: Row, creating: boolean): Row => {
        if (nowMs === undefined) return row
        const out: Row = { ...row }
        const stamps = creating
          ? ["DATE_MODIFY", "UPDATED_TIME", "CHANGED_DATE", "DATE_CREATE", "CREATED_TIME", "CREATED_DATE"]
          : ["DATE_MODIFY", "UPDATED_TIME", "CHANGED_DATE"]
        for (const upper of stamps) if (table.def.byUpper.has(upper)) out[upper] = nowMs
        if (table.def.byUpper.has("MOVED_TIME") && creating) out.MOVED_TIME = nowMs
        return out
      }
      for (let i = 0; i < (rule.add ?? 0); i++) {
        if (nowMs === undefined) table.insert()
        else table.insert((id) => stamped(table.def.generate(table.env, id), true))
      }
      for (let i = 0; i < (rule.update ?? 0) && table.size > 0; i++) {
        let pos = Math.min(table.length - 1, Math.floor(randomNumber() * table.length))
        while (!table.isAlive(pos)) pos = (pos + 1) % table.length
        const row = table.rowAt(pos)
        const changed: Row = { ...row, ...(table.def.byUpper.has("TITLE") ? { TITLE: `${String(row.TITLE ?? "")} (изм.)`.slice(-250) } : {}) }
        table.replace(pos, stamped(changed, false))
      }
      for (let i = 0; i < (rule.delete ?? 0) && table.size > 0; i++) {
        let pos = Math.min(table.length - 1, Math.floor(randomNumber() * table.length))
        while (!table.isAlive(pos)) pos = (pos + 1) % table.length
        table.remove(pos)
      }
    },
    rowsServed: () => rowsServed,
    writesPerformed: () => ({ ...writes })
  }
}
