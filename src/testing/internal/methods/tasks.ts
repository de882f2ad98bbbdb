/** Tasks: tasks.task.* and task.elapseditem.getlist (positional parameters). */
import { epochOfSeedData } from "../seed.js"
import { param, toId, type FieldDef } from "../entityModel.js"
import { elapsedItemEntity, elapsedItemsOf } from "../entityOther.js"
import type { EntityTable } from "../entityTable.js"
import type { ListRequest } from "../listQuery.js"
import type { MethodOutcome } from "../types.js"
import { fieldsParam, listRequest, ok, positionOfId, printWhole, type Handlers, type MethodContext, type Params } from "./context.js"
import { elapsedFamily, taskFullFamily, tasksFamily } from "./families.js"

/** Task fields are written by UPPER name or, failing that, camelCase. */
const upperOrCamel = (t: EntityTable) => (name: string): FieldDef | undefined => t.def.byUpper.get(name) ?? t.def.byCamel.get(name)

/** `tasks.task.*` and `task.elapseditem.getlist`. */
export const taskMethods = (ctx: MethodContext): Handlers => {
  const { tables, fail, getCost, writeCost, deleteCost, recordWrite } = ctx
  const tasks = (): EntityTable => tables.fixed("tasks.task")
  /** The position of the task the `taskId` (or `id`) parameter names, -1 for none. */
  const taskPosition = (t: EntityTable, p: Params): number => positionOfId(t, toId(param(p, "taskId") ?? param(p, "id")))
  const taskNotFound = (): MethodOutcome =>
    fail(400, "ERROR_CORE", "TASKS_ERROR_EXCEPTION_#8; Task not found or not accessible; 8/TE/TASK_NOT_FOUND_OR_NOT_ACCESSIBLE")
  const printTask = (t: EntityTable, pos: number) => ({ task: printWhole(t, taskFullFamily, t.rowAt(pos)) })

  return {
    "tasks.task.list": (p) => ctx.list(tasks(), tasksFamily, listRequest(p)),
    "tasks.task.get": (p) => {
      const t = tasks()
      const pos = taskPosition(t, p)
      return pos < 0 ? taskNotFound() : ok(printTask(t, pos), getCost)
    },
    "tasks.task.add": (p, call) => {
      const t = tasks()
      const fields = fieldsParam(p)
      const id = t.insert((newId) => ctx.applyFields(t, t.def.generate(t.env, newId), fields, upperOrCamel(t), call, true))
      recordWrite("tasks.task.add")
      return ok(printTask(t, t.positionOf(id)), writeCost)
    },
    "tasks.task.update": (p, call) => {
      const t = tasks()
      const pos = taskPosition(t, p)
      if (pos < 0) return taskNotFound()
      t.replace(pos, ctx.applyFields(t, t.rowAt(pos), fieldsParam(p), upperOrCamel(t), call, false))
      recordWrite("tasks.task.update")
      return ok(printTask(t, pos), writeCost)
    },
    "tasks.task.delete": (p) => {
      const t = tasks()
      const pos = taskPosition(t, p)
      if (pos < 0) return taskNotFound()
      t.remove(pos)
      recordWrite("tasks.task.delete")
      return ok({ task: true }, deleteCost)
    },
    // Positional: [taskId, order?, filter?, select?]
    "task.elapseditem.getlist": (p) => {
      const id = toId(p["0"] ?? param(p, "TASKID"))
      if (id === undefined) {
        return fail(
          400,
          "ERROR_CORE",
          "TASKS_ERROR_EXCEPTION_#256; Param #0 (taskId) for method ctaskelapseditem::getlist() expected to be of type \"integer\", but given something else.; 256/TE/WRONG_ARGUMENTS"
        )
      }
      const t = tasks()
      const pos = t.positionOf(id)
      if (pos < 0) return taskNotFound()
      const created = t.rowAt(pos).CREATED_DATE
      const users = tables.fixed("user")
      const items = elapsedItemsOf(ctx.seedNumber, id, typeof created === "number" ? created : epochOfSeedData, (h) => users.pickSeeded(h) ?? 1)
      const request: ListRequest = {
        order: p["1"] ?? param(p, "ORDER"),
        filter: p["2"] ?? param(p, "FILTER"),
        select: p["3"] ?? param(p, "SELECT"),
        start: undefined
      }
      return ctx.list(tables.ofRows(elapsedItemEntity, items), elapsedFamily, request)
    }
  }
}
