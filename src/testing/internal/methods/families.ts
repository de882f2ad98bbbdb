/**
 * The list families: what differs between method families on the shared list machinery (`listQuery.ts`):
 * wrapper key, ID spelling in filters and rows, value style, paging, default order.
 */
import type { ListFamily } from "../listQuery.js"

/** Classic methods (`crm.deal.list`, `user.get`, …): UPPER names, string values, legacy paging. */
export const classic: ListFamily = {
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

/** D7 methods: camelCase names, native values, rows under `wrapper`. */
export const d7 = (wrapper: string): ListFamily => ({
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

/** crm.item for `entityTypeId`: camelCase keys, raw numbers, results under `items`. */
export const crmItemFamily = (entityTypeId: number): ListFamily => ({
  ...d7("items"),
  errors: "crmItem",
  // Full items carry their type (fixture crm_item_add)
  decorate: (_row, printed, selectedAll) => {
    if (selectedAll) printed.entityTypeId = entityTypeId
  }
})

/** Tasks printed whole (`tasks.task.get` / `add`): camelCase keys with string values. */
export const taskFullFamily: ListFamily = {
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
export const tasksFamily: ListFamily = {
  ...taskFullFamily,
  wrapper: "tasks",
  // List rows always carry `group`, and `subStatus` next to `status` (fixture get_all_tasks)
  decorate: (row, printed) => {
    if (!("group" in printed)) printed.group = row.GROUP ?? []
    if ("status" in printed) printed.subStatus = String(row.SUB_STATUS ?? row.STATUS ?? "")
  }
}

/** `user.get`: classic paging, `*` also selects user fields. */
export const userFamily: ListFamily = { ...classic, starIncludesUserFields: true }

/** `crm.category.list`: every row in one answer. */
export const categoriesFamily: ListFamily = { ...d7("categories"), paging: "all" }

/** `crm.stagehistory.list`: UPPER_SNAKE keys in and out, values as strings. */
export const stageHistoryFamily: ListFamily = { ...d7("items"), input: "upper", output: "upper", values: "strings" }

/** `socialnetwork.api.workgroup.list`: select in either case, values as strings. */
export const workgroupFamily: ListFamily = { ...d7("workgroups"), input: "upper", selectEitherCase: true, values: "strings" }

/** `task.elapseditem.getlist`: classic paging. */
export const elapsedFamily: ListFamily = classic
