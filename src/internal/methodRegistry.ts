/**
 * What the client knows about list methods, per method family: how rows are wrapped, how the ID is spelled
 * in filters and in rows, and whether an `order` may be injected. One registry, so `getAll` and the list
 * strategies never disagree.
 */

/** How a list method takes its ordering. */
export type OrderStyle =
  /** `order: { ID: "ASC" }` (most methods). */
  | "orderObject"
  /** `sort: "ID", order: "ASC"` as two strings (user.get, department.get). */
  | "sortAndOrderStrings"
  /** Breaks or is ignored with an injected order: leave the user's params alone. */
  | "none"

/** A list method family. */
export interface ListMethodInfo {
  /** Key the rows sit under (`items`, `tasks`, …), or `undefined` for a plain array. */
  readonly wrapper: string | undefined
  /** ID spelling in `filter` / `order`. */
  readonly filterIdKey: string
  /** ID spelling in the rows. */
  readonly rowIdKey: string
  readonly orderStyle: OrderStyle
}

const classic: ListMethodInfo = { wrapper: undefined, filterIdKey: "ID", rowIdKey: "ID", orderStyle: "orderObject" }

/** Methods whose wrapper or ID spelling differs from the classic CRM shape. */
const known: Readonly<Record<string, ListMethodInfo>> = {
  "crm.item.list": { wrapper: "items", filterIdKey: "id", rowIdKey: "id", orderStyle: "orderObject" },
  "crm.type.list": { wrapper: "types", filterIdKey: "id", rowIdKey: "id", orderStyle: "orderObject" },
  "crm.category.list": { wrapper: "categories", filterIdKey: "id", rowIdKey: "id", orderStyle: "orderObject" },
  "crm.stagehistory.list": { wrapper: "items", filterIdKey: "ID", rowIdKey: "ID", orderStyle: "orderObject" },
  "crm.item.productrow.list": { wrapper: "productRows", filterIdKey: "id", rowIdKey: "id", orderStyle: "orderObject" },
  // Task methods filter and order by ID but return `id` (b24jssdk idKey/cursorIdKey)
  "tasks.task.list": { wrapper: "tasks", filterIdKey: "ID", rowIdKey: "id", orderStyle: "orderObject" },
  "socialnetwork.api.workgroup.list": {
    wrapper: "workgroups",
    filterIdKey: "ID",
    rowIdKey: "id",
    orderStyle: "orderObject"
  },
  "catalog.document.element.list": {
    wrapper: "documentElements",
    filterIdKey: "id",
    rowIdKey: "id",
    orderStyle: "orderObject"
  },
  "userfieldconfig.list": { wrapper: "fields", filterIdKey: "id", rowIdKey: "id", orderStyle: "none" },
  // user.get and department.get take `sort` and `order` as two strings
  "user.get": { ...classic, orderStyle: "sortAndOrderStrings" },
  "department.get": { ...classic, orderStyle: "sortAndOrderStrings" },
  // fast_bitrix24's EXCLUDED_METHODS: an injected order breaks these
  "crm.address.list": { ...classic, orderStyle: "none" },
  "documentgenerator.template.list": { wrapper: "templates", filterIdKey: "id", rowIdKey: "id", orderStyle: "none" },
  "voximplant.statistic.get": { ...classic, orderStyle: "none" },
  "crm.deal.userfield.list": { ...classic, orderStyle: "none" },
  "task.elapseditem.getlist": { ...classic, orderStyle: "none" }
}

/**
 * The family of a list method. Unknown methods get the classic shape; `getAll` still unwraps a single-key
 * wrapper it finds on the first page.
 */
export const listMethodInfo = (method: string): ListMethodInfo => {
  const name = method.toLowerCase()
  const entry = known[name]
  if (entry !== undefined) return entry
  // catalog.* and sale.* lists wrap their rows in a plural camelCase key and use `id`
  if (/^(catalog|sale)\./.test(name)) return { wrapper: undefined, filterIdKey: "id", rowIdKey: "id", orderStyle: "orderObject" }
  return classic
}

/** Whether the registry knows the method (as opposed to the classic default). */
export const isKnownListMethod = (method: string): boolean => known[method.toLowerCase()] !== undefined

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Rows of a list response: a plain array, or the array under the family's wrapper, or under the only key of
 * a one-key object (fast_bitrix24's rule, for methods the registry does not know). `undefined` when the shape is
 * not a list at all.
 */
export const rowsOf = (method: string, result: unknown): ReadonlyArray<unknown> | undefined => {
  if (Array.isArray(result)) return result
  if (!isRecord(result)) return undefined
  const wrapper = listMethodInfo(method).wrapper
  if (wrapper !== undefined) {
    const rows = result[wrapper]
    if (Array.isArray(rows)) return rows
  }
  const keys = Object.keys(result)
  if (keys.length === 1) {
    const only = result[keys[0]!]
    if (Array.isArray(only)) return only
  }
  return undefined
}

/** The row's ID as a string, read with the family's spelling (falling back to the other case). */
export const rowId = (info: ListMethodInfo, row: unknown): string | undefined => {
  if (!isRecord(row)) return undefined
  const value = row[info.rowIdKey] ?? row[info.rowIdKey === "ID" ? "id" : "ID"]
  return typeof value === "string" || typeof value === "number" ? String(value) : undefined
}
