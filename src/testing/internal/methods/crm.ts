/** Classic CRM: crm.deal / crm.lead / crm.contact / crm.company, their `*.fields` and `*.userfield.add`, contact items. */
import { linkedContacts } from "../entityCrm.js"
import { isRecord, param, toId, userField, type FieldDef } from "../entityModel.js"
import type { EntityTable } from "../entityTable.js"
import { fullFields, printNative } from "../listQuery.js"
import type { MethodOutcome } from "../types.js"
import { fieldsParam, listRequest, ok, type Handler, type Handlers, type MethodContext, type Params } from "./context.js"
import { classic } from "./families.js"
import type { FixedTableName } from "./tables.js"

const classicTables: ReadonlyArray<FixedTableName> = ["crm.deal", "crm.lead", "crm.contact", "crm.company"]

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

/** A label given as a string or as a per-language array (the first string in it). */
const labelOf = (value: unknown): string | undefined =>
  typeof value === "string" ? value : isRecord(value) ? Object.values(value).find((entry): entry is string => typeof entry === "string") : undefined

/** The classic CRM entities (deal, lead, contact, company): list, get, add, update, delete, fields, userfield.add, contact items. */
export const crmMethods = (ctx: MethodContext): Handlers => {
  const { tables, fail, getCost, writeCost, deleteCost, recordWrite } = ctx
  const handlers: Record<string, Handler> = {}
  /** IDs of user fields created through `*.userfield.add` (the seeded ones stand below). */
  let userFieldIds = 1000

  /** The row the `id` parameter names, or the classic refusal. */
  const locate = (t: EntityTable, p: Params): { readonly id: number; readonly pos: number } | MethodOutcome => {
    const id = toId(param(p, "id"))
    if (id === undefined) return fail(400, "", "ID is not defined or invalid.")
    const pos = t.positionOf(id)
    return pos < 0 ? fail(400, "", "Not found") : { id, pos }
  }
  const byUpper = (t: EntityTable) => (name: string): FieldDef | undefined => t.def.byUpper.get(name)

  for (const tableName of classicTables) {
    const table = (): EntityTable => tables.fixed(tableName)
    handlers[`${tableName}.list`] = (p) => ctx.list(table(), classic, listRequest(p))
    handlers[`${tableName}.get`] = (p) => {
      const t = table()
      const found = locate(t, p)
      if ("_tag" in found) return found
      const row = t.rowAt(found.pos)
      return ok(printNative(t, classic, row, fullFields(t, row), true), getCost)
    }
    handlers[`${tableName}.add`] = (p, call) => {
      const t = table()
      const fields = fieldsParam(p)
      const id = t.insert((newId) => ctx.applyFields(t, t.def.generate(t.env, newId), fields, byUpper(t), call, true))
      recordWrite(`${tableName}.add`)
      return ok(id, writeCost)
    }
    handlers[`${tableName}.update`] = (p, call) => {
      const t = table()
      const found = locate(t, p)
      if ("_tag" in found) return found
      t.replace(found.pos, ctx.applyFields(t, t.rowAt(found.pos), fieldsParam(p), byUpper(t), call, false))
      recordWrite(`${tableName}.update`)
      return ok(true, writeCost)
    }
    handlers[`${tableName}.delete`] = (p) => {
      const t = table()
      const found = locate(t, p)
      if ("_tag" in found) return found
      t.remove(found.pos)
      recordWrite(`${tableName}.delete`)
      return ok(true, deleteCost)
    }
    // crm.deal.userfield.add: FIELD_NAME without the prefix gets UF_CRM_; answers the new field's ID
    handlers[`${tableName}.userfield.add`] = (p) => {
      const t = table()
      const given = fieldsParam(p)
      const rawName = typeof given.FIELD_NAME === "string" ? given.FIELD_NAME.trim().toUpperCase() : ""
      if (!/^[A-Z0-9_]+$/.test(rawName)) return fail(400, "ERROR_CORE", "FIELD_NAME is required: letters, digits and _")
      const upper = rawName.startsWith("UF_CRM_") ? rawName : `UF_CRM_${rawName}`
      if (t.def.byUpper.has(upper)) return fail(400, "ERROR_CORE", `The field ${upper} already exists`)
      const type = typeof given.USER_TYPE_ID === "string" && given.USER_TYPE_ID !== "" ? given.USER_TYPE_ID : "string"
      const label = labelOf(given.EDIT_FORM_LABEL) ?? labelOf(given.LIST_COLUMN_LABEL) ?? upper
      const multiple = given.MULTIPLE === "Y" || given.MULTIPLE === true
      const base = userField(upper, type, label)
      t.addField(multiple ? { ...base, isMultiple: true, kind: "list" } : base)
      recordWrite(`${tableName}.userfield.add`)
      userFieldIds += 1
      return ok(userFieldIds, writeCost)
    }
    handlers[`${tableName}.fields`] = () => {
      const t = table()
      return ok(Object.fromEntries(t.def.fields.map((f) => [f.upper, fieldMeta(f)])), getCost)
    }
  }

  const contactItems = (ownerTable: FixedTableName, usePrimary: boolean): Handler => (p) => {
    const t = tables.fixed(ownerTable)
    const found = locate(t, p)
    if ("_tag" in found) return found
    const primary = usePrimary ? t.rowAt(found.pos).CONTACT_ID : undefined
    const contacts = tables.fixed("crm.contact")
    const items = linkedContacts(ctx.seedNumber, ownerTable, found.id, typeof primary === "number" ? primary : undefined, (h) => contacts.pickSeeded(h))
    return ok(items, getCost)
  }
  handlers["crm.deal.contact.items.get"] = contactItems("crm.deal", true)
  handlers["crm.company.contact.items.get"] = contactItems("crm.company", false)

  return handlers
}
