/** Catalog: catalog.document.element.list (the rows of inventory documents). */
import { listRequest, type Handlers, type MethodContext } from "./context.js"
import { d7 } from "./families.js"

/** `catalog.document.element.list`. */
export const catalogMethods = (ctx: MethodContext): Handlers => ({
  "catalog.document.element.list": (p) => ctx.list(ctx.tables.fixed("catalog.document.element"), d7("documentElements"), listRequest(p))
})
