/** CRM reference data and history: crm.status.entity.items, crm.dealcategory.stage.list, crm.stagehistory.list. */
import { dealCategories, dealStages } from "../seed.js"
import { statusEntries } from "../entityCrm.js"
import { param, toId } from "../entityModel.js"
import { listRequest, ok, type Handlers, type MethodContext } from "./context.js"
import { stageHistoryFamily } from "./families.js"

/** Reference lists: `crm.status.entity.items`, `crm.dealcategory.stage.list`, `crm.stagehistory.list`. */
export const crmReferenceMethods = (ctx: MethodContext): Handlers => ({
  "crm.status.entity.items": (p) => {
    const entityId = param(p, "entityId")
    return ok(typeof entityId === "string" ? statusEntries(entityId) ?? [] : [], ctx.getCost)
  },
  "crm.dealcategory.stage.list": (p) => {
    const raw = param(p, "id")
    const id = raw === undefined || raw === "" ? 0 : Number(raw)
    const known = dealCategories.some((c) => c.id === id)
    return ok(known ? dealStages(id).map(({ NAME, SORT, STATUS_ID }) => ({ NAME, SORT, STATUS_ID })) : [], ctx.getCost)
  },
  "crm.stagehistory.list": (p) => {
    const type = toId(param(p, "entityTypeId")) ?? 0
    const table = ctx.tables.find(`crm.stagehistory:${type}`)
    if (table === undefined) return ctx.fail(400, "ERROR_ARGUMENT", "Entity type is not supported", { argument: "entityTypeId" })
    return ctx.list(table, stageHistoryFamily, listRequest(p))
  }
})
