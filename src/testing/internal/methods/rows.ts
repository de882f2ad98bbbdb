/** Writing rows: fields given to add/update methods, and the changes a mutation rule makes while a client reads. */
import type { MutationRule } from "../../Options.js"
import { dealStageId } from "../seed.js"
import { dealEntity } from "../entityCrm.js"
import { coerceForField, type FieldDef, type Row } from "../entityModel.js"
import { deriveTaskFields, taskEntity } from "../entityOther.js"
import type { EntityTable } from "../entityTable.js"
import type { CallContext } from "../types.js"

/** Date fields a write stamps (the entities spell them differently), and those only a creation stamps. */
const modifiedDates = ["DATE_MODIFY", "UPDATED_TIME", "CHANGED_DATE"]
const createdDates = ["DATE_CREATE", "CREATED_TIME", "CREATED_DATE"]

/**
 * A native row from `base` plus written `fields` (unknown and read-only fields ignored, names resolved by
 * `resolve`), stamped with the time and user of `ctx`; `creating` also applies the entity's creation defaults.
 */
export type FieldWriter = (
  table: EntityTable,
  base: Row,
  fields: Readonly<Record<string, unknown>>,
  resolve: (name: string) => FieldDef | undefined,
  ctx: CallContext,
  creating: boolean
) => Row

/** The `FieldWriter` of a portal seeded with `seedNumber` (tasks derive fields from it). */
export const fieldWriter = (seedNumber: number): FieldWriter => (table, base, fields, resolve, ctx, creating) => {
  const row: Row = creating ? { ...base, ...table.def.creationDefaults } : { ...base }
  const given = new Set<string>()
  for (const [key, value] of Object.entries(fields)) {
    const f = resolve(key)
    if (f !== undefined && !f.isReadOnly) {
      row[f.upper] = coerceForField(f, value)
      given.add(f.upper)
    }
  }
  // A new deal in another pipeline starts in that pipeline's first stage
  if (creating && table.def.name === dealEntity.name && given.has("CATEGORY_ID") && !given.has("STAGE_ID")) {
    row.STAGE_ID = dealStageId(typeof row.CATEGORY_ID === "number" ? row.CATEGORY_ID : 0, "NEW")
  }
  const stamp = (upper: string, value: unknown): void => {
    if (table.def.byUpper.has(upper)) row[upper] = value
  }
  for (const upper of [...modifiedDates, "ACTIVITY_DATE"]) stamp(upper, ctx.nowMs)
  for (const upper of ["MODIFY_BY_ID", "UPDATED_BY", "CHANGED_BY"]) stamp(upper, ctx.userId)
  if (creating) {
    for (const upper of createdDates) stamp(upper, ctx.nowMs)
    for (const upper of ["CREATED_BY_ID", "CREATED_BY"]) stamp(upper, ctx.userId)
  }
  if (table.def.name === taskEntity.name) deriveTaskFields(seedNumber, row)
  return row
}

/**
 * Applies a mutation rule once to `table`: rows added, updated (TITLE marked) and deleted at random positions.
 * With `nowMs`, added and updated rows carry the time of the write, as on a real portal (a sync's DATE_MODIFY
 * window must see them); without it they keep the generated dates.
 */
export const mutateTable = (table: EntityTable, rule: MutationRule, randomNumber: () => number, nowMs?: number): void => {
  const stamped = (row: Row, creating: boolean): Row => {
    if (nowMs === undefined) return row
    const out: Row = { ...row }
    const stamps = creating ? [...modifiedDates, ...createdDates] : modifiedDates
    for (const upper of stamps) if (table.def.byUpper.has(upper)) out[upper] = nowMs
    if (table.def.byUpper.has("MOVED_TIME") && creating) out.MOVED_TIME = nowMs
    return out
  }
  const randomLivePosition = (): number => {
    let pos = Math.min(table.length - 1, Math.floor(randomNumber() * table.length))
    while (!table.isAlive(pos)) pos = (pos + 1) % table.length
    return pos
  }
  for (let i = 0; i < (rule.add ?? 0); i++) {
    if (nowMs === undefined) table.insert()
    else table.insert((id) => stamped(table.def.generate(table.env, id), true))
  }
  for (let i = 0; i < (rule.update ?? 0) && table.size > 0; i++) {
    const pos = randomLivePosition()
    const row = table.rowAt(pos)
    const changed: Row = { ...row, ...(table.def.byUpper.has("TITLE") ? { TITLE: `${String(row.TITLE ?? "")} (изм.)`.slice(-250) } : {}) }
    table.replace(pos, stamped(changed, false))
  }
  for (let i = 0; i < (rule.delete ?? 0) && table.size > 0; i++) table.remove(randomLivePosition())
}
