/** Users: user.get (filter fields also at the top level, `sort` + `order` strings), user.current, user.fields. */
import { isRecord, param } from "../entityModel.js"
import { userFieldsDictionary } from "../entityOther.js"
import { splitFilterKey } from "../filter.js"
import { printNative } from "../listQuery.js"
import { ok, type Handlers, type MethodContext } from "./context.js"
import { userFamily } from "./families.js"

/** Parameters of user.get that are not filter fields. */
const userReserved = new Set(["SORT", "ORDER", "FILTER", "START", "SELECT", "ADMIN_MODE", "AUTH", "ACCESS_TOKEN", "NAME_SEARCH", "USER_TYPE_FILTER"])

/** `user.get`, `user.current`, `user.fields`. */
export const userMethods = (ctx: MethodContext): Handlers => {
  const users = () => ctx.tables.fixed("user")
  return {
    "user.get": (p) => {
      const t = users()
      let filter = param(p, "FILTER")
      if (filter === undefined) {
        // user.get also takes filter fields at the top level ({"ID": 5, "ACTIVE": true})
        const topLevel: Record<string, unknown> = {}
        for (const [key, value] of Object.entries(p)) {
          if (userReserved.has(key.toUpperCase())) continue
          if (t.def.byUpper.has(splitFilterKey(key).name)) topLevel[key] = value
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
      return ctx.list(t, userFamily, { filter, order, select: param(p, "select"), start: param(p, "start") })
    },
    "user.current": (_p, call) => {
      const t = users()
      const pos = t.positionOf(call.userId)
      const row = pos >= 0 ? t.rowAt(pos) : t.def.generate(t.env, call.userId)
      return ok(printNative(t, userFamily, row, t.def.fields, true), ctx.getCost)
    },
    "user.fields": () => ok(userFieldsDictionary, ctx.getCost)
  }
}
