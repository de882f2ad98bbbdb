/** Universal lists: lists.element.add (an element code is unique). */
import { asPhpArray, param, toId } from "../entityModel.js"
import { ok, type Handlers, type MethodContext } from "./context.js"

/** `lists.element.add`. */
export const listMethods = (ctx: MethodContext): Handlers => {
  const { tables, fail, recordWrite } = ctx
  const listCodes = new Set<string>()
  return {
    "lists.element.add": (p, call) => {
      const iblockType = param(p, "IBLOCK_TYPE_ID")
      const iblock = param(p, "IBLOCK_ID") ?? param(p, "IBLOCK_CODE")
      const code = param(p, "ELEMENT_CODE")
      for (const [name, value] of [["IBLOCK_TYPE_ID", iblockType], ["IBLOCK_ID", iblock], ["ELEMENT_CODE", code]] as const) {
        if (value === undefined || value === "") return fail(400, "ERROR_REQUIRED_PARAMETERS_MISSING", `Required parameter "${name}" is missing`)
      }
      const codeText = String(code)
      if (listCodes.has(codeText)) return fail(400, "ERROR_ELEMENT_ALREADY_EXISTS", "Element with this code already exists")
      const t = tables.fixed("lists.element")
      const fields = asPhpArray(param(p, "FIELDS")) ?? {}
      const id = t.insert((newId) => ({
        ...t.def.generate(t.env, newId),
        IBLOCK_TYPE_ID: String(iblockType),
        IBLOCK_ID: toId(iblock) ?? 0,
        CODE: codeText,
        NAME: typeof fields.NAME === "string" ? fields.NAME : codeText,
        DATE_CREATE: call.nowMs,
        CREATED_BY: call.userId,
        FIELDS: fields
      }))
      listCodes.add(codeText)
      recordWrite("lists.element.add")
      return ok(id, ctx.writeCost)
    }
  }
}
