/** D7 CRM items: crm.item.* over any item type (1–4, 7, 31, smart processes) and crm.category.list. */
import { categoryEntity, categoryRows, crmTableName } from "../entityCrm.js"
import { param, toId, type Row } from "../entityModel.js"
import type { EntityTable } from "../entityTable.js"
import type { CallContext, MethodOutcome } from "../types.js"
import { fieldsParam, listRequest, ok, positionOfId, printWhole, type Handler, type Handlers, type MethodContext, type Params } from "./context.js"
import { categoriesFamily, crmItemFamily } from "./families.js"
import { isItemType } from "./tables.js"

/** `crm.item.*` (smart processes and the classic types through crm.item) and `crm.category.list`. */
export const crmItemMethods = (ctx: MethodContext): Handlers => {
  const { tables, fail, getCost, writeCost, deleteCost, recordWrite } = ctx

  /** Runs `run` on the table of the `entityTypeId` parameter, or refuses an unknown type. */
  const withItemTable = (run: (table: EntityTable, type: number, p: Params, call: CallContext) => MethodOutcome): Handler => (p, call) => {
    const raw = param(p, "entityTypeId")
    if (raw === undefined) return fail(400, "", "Could not find value for parameter {entityTypeId}")
    const type = toId(raw)
    const table = type !== undefined && isItemType(type) ? tables.find(crmTableName(type)) : undefined
    if (type === undefined || table === undefined) return fail(400, "NOT_FOUND", "Smart process not found")
    return run(table, type, p, call)
  }
  const printItem = (table: EntityTable, type: number, row: Row) => ({ item: printWhole(table, crmItemFamily(type), row) })
  const findItem = (table: EntityTable, p: Params): number | MethodOutcome => {
    const pos = positionOfId(table, toId(param(p, "id")))
    return pos < 0 ? fail(400, "NOT_FOUND", "Element not found") : pos
  }
  const byCamel = (table: EntityTable) => (name: string) => table.def.byCamel.get(name)

  const categoryTables = new Map<number, EntityTable>()

  return {
    "crm.item.list": withItemTable((table, type, p) => ctx.list(table, crmItemFamily(type), listRequest(p))),
    "crm.item.get": withItemTable((table, type, p) => {
      const pos = findItem(table, p)
      return typeof pos !== "number" ? pos : ok(printItem(table, type, table.rowAt(pos)), getCost)
    }),
    "crm.item.add": withItemTable((table, type, p, call) => {
      const fields = fieldsParam(p)
      const id = table.insert((newId) => ctx.applyFields(table, table.def.generate(table.env, newId), fields, byCamel(table), call, true))
      recordWrite("crm.item.add")
      return ok(printItem(table, type, table.rowAt(table.positionOf(id))), writeCost)
    }),
    "crm.item.update": withItemTable((table, type, p, call) => {
      const pos = findItem(table, p)
      if (typeof pos !== "number") return pos
      table.replace(pos, ctx.applyFields(table, table.rowAt(pos), fieldsParam(p), byCamel(table), call, false))
      recordWrite("crm.item.update")
      return ok(printItem(table, type, table.rowAt(pos)), writeCost)
    }),
    "crm.item.delete": withItemTable((table, _type, p) => {
      const pos = findItem(table, p)
      if (typeof pos !== "number") return pos
      table.remove(pos)
      recordWrite("crm.item.delete")
      // PHP's empty array
      return ok([], deleteCost)
    }),
    "crm.item.fields": withItemTable((table) =>
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
    ),
    "crm.category.list": withItemTable((_table, type, p) => {
      let categories = categoryTables.get(type)
      if (categories === undefined) {
        categories = tables.ofRows(categoryEntity, categoryRows(type))
        categoryTables.set(type, categories)
      }
      const request = listRequest(p)
      // Categories come in their SORT order unless asked otherwise
      const order = request.order === undefined || request.order === null || request.order === "" ? { sort: "ASC" } : request.order
      return ctx.list(categories, categoriesFamily, { ...request, order })
    })
  }
}
