/** Social network: socialnetwork.api.workgroup.list. */
import { listRequest, type Handlers, type MethodContext } from "./context.js"
import { workgroupFamily } from "./families.js"

/** `socialnetwork.api.workgroup.list`. */
export const workgroupMethods = (ctx: MethodContext): Handlers => ({
  "socialnetwork.api.workgroup.list": (p) => ctx.list(ctx.tables.fixed("socialnetwork.api.workgroup"), workgroupFamily, listRequest(p))
})
