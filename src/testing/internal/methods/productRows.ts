/** crm.item.productrow.list: the product rows of the owners named in the filter. */
import { crmTableName, entityTypeOfOwnerCode, productRowEntity, productRowsOf } from "../entityCrm.js"
import { asPhpArray, isRecord, toId, type Row } from "../entityModel.js"
import { listRequest, type Handlers, type MethodContext } from "./context.js"
import { d7 } from "./families.js"
import { isItemType } from "./tables.js"

/** `crm.item.productrow.list`, derived from the owners. */
export const productRowMethods = (ctx: MethodContext): Handlers => ({
  "crm.item.productrow.list": (p) => {
    const request = listRequest(p)
    const filter = asPhpArray(request.filter ?? {})
    if (filter === undefined) return ctx.fail(400, "ERROR_ARGUMENT", "The filter is not an array.", { argument: "filter" })
    const pick = (name: string): unknown => filter[`=${name}`] ?? filter[name] ?? filter[`@${name}`]
    const ownerCode = pick("ownerType")
    const ownerIds = pick("ownerId")
    const type = typeof ownerCode === "string" ? entityTypeOfOwnerCode(ownerCode) : undefined
    if (ownerCode === undefined || ownerIds === undefined) {
      return ctx.fail(400, "ERROR_ARGUMENT", "Filter must contain both ownerType and ownerId", { argument: "filter" })
    }
    const owners = type === undefined || !isItemType(type) ? undefined : ctx.tables.find(crmTableName(type))
    const rows: Array<Row> = []
    const idList = Array.isArray(ownerIds) || isRecord(ownerIds) ? Object.values(ownerIds) : [ownerIds]
    for (const raw of idList) {
      const ownerId = toId(raw)
      if (owners !== undefined && type !== undefined && ownerId !== undefined && owners.positionOf(ownerId) >= 0) {
        rows.push(...productRowsOf(ctx.seedNumber, type, ownerId))
      }
    }
    return ctx.list(ctx.tables.ofRows(productRowEntity, rows), d7("productRows"), request)
  }
})
