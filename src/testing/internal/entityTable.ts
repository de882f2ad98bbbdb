/**
 * Storage of one fake-portal table, built to hold a million rows cheaply: the IDs sit in a sorted typed
 * array (with gaps, like a real table), rows are generated on demand from `(seedNumber, table, id)`, only
 * rows written through the API are stored (a Map), deletions are a byte per row, and low-cardinality fields
 * the benchmarks filter on are dictionary-coded typed-array columns. Every write bumps `version`, which
 * invalidates the cached match lists of filtered offset pages.
 */
import { entity, type EntityDef, type FieldDef, type GenEnv, type Row } from "./entityModel.js"

/** A dictionary-coded column: `dictionary[codes[position]]` is the field's value at that position. */
export interface Column {
  readonly field: string
  readonly dictionary: Array<unknown>
  readonly index: Map<unknown, number>
  codes: Uint16Array
}

/** Most distinct values a column can code; a column that overflows is dropped and rows are read instead. */
const maxDictionary = 0xffff

/** The storage of one table. */
export class EntityTable {
  /** IDs by position, ascending; positions `>= length` are spare capacity. */
  ids: Int32Array
  length: number
  /** Rows present at seeding time; references from other tables only pick among these. */
  readonly seededCount: number
  deleted: Uint8Array | undefined = undefined
  deletedCount = 0
  /** Rows written through the API (add/update), complete, keyed by ID. */
  readonly stored = new Map<number, Row>()
  readonly columns = new Map<string, Column>()
  /** Bumped by every write; caches keyed on it. */
  version = 0
  private readonly cache = new Map<string, { readonly version: number; readonly positions: Int32Array }>()
  private lastPosition = -1
  private lastRow: Row | undefined = undefined

  /** The entity's definition; `addField` replaces it with one that has a new (user) field. */
  def: EntityDef

  constructor(def: EntityDef, readonly env: GenEnv, seededIds: Int32Array) {
    this.def = def
    this.ids = seededIds
    this.length = seededIds.length
    this.seededCount = seededIds.length
    for (const columnDef of def.columns) {
      const column: Column = { field: columnDef.field, dictionary: [], index: new Map(), codes: new Uint16Array(seededIds.length) }
      let ok = true
      for (let pos = 0; pos < seededIds.length && ok; pos++) {
        const code = codeOf(column, columnDef.valueOf(env, seededIds[pos] as number))
        if (code === undefined) ok = false
        else column.codes[pos] = code
      }
      if (ok) this.columns.set(columnDef.field, column)
    }
  }

  /** Rows not deleted. */
  get size(): number {
    return this.length - this.deletedCount
  }

  /** The largest ID ever used (0 for an empty table). */
  get maxId(): number {
    return this.length === 0 ? 0 : (this.ids[this.length - 1] as number)
  }

  isAlive(position: number): boolean {
    return this.deleted === undefined || this.deleted[position] === 0
  }

  /** First position whose ID is `>= id` (binary search). */
  lowerBound(id: number): number {
    let lo = 0
    let hi = this.length
    const ids = this.ids
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((ids[mid] as number) < id) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Position of a live row with this ID, or -1. */
  positionOf(id: number): number {
    const pos = this.lowerBound(id)
    return pos < this.length && this.ids[pos] === id && this.isAlive(pos) ? pos : -1
  }

  /** The native row at a position: stored if written through the API, else generated. */
  rowAt(position: number): Row {
    if (position === this.lastPosition && this.lastRow !== undefined) return this.lastRow
    const id = this.ids[position] as number
    const row = this.stored.get(id) ?? this.def.generate(this.env, id)
    this.lastPosition = position
    this.lastRow = row
    return row
  }

  /**
   * The given fields of a generated row read from the ID and the columns alone, or `undefined` when one of
   * them needs the whole row. Narrow keyset pages (`select: ["ID", "STAGE_ID"]`) then generate nothing.
   */
  partialRow(position: number, fields: ReadonlyArray<FieldDef>): Row | undefined {
    const id = this.ids[position] as number
    if (this.stored.has(id)) return undefined
    const row: Row = {}
    for (const field of fields) {
      if (field.upper === this.def.idField.upper) row[field.upper] = id
      else {
        const column = this.columns.get(field.upper)
        if (column === undefined) return undefined
        row[field.upper] = column.dictionary[column.codes[position] as number]
      }
    }
    return row
  }

  /**
   * Adds a field to this table's definition (a user field created through `crm.deal.userfield.add`): `*.fields`
   * lists it from now on, existing rows have no value for it (printed empty) until written.
   */
  addField(field: FieldDef): void {
    if (this.def.byUpper.has(field.upper)) return
    const def = this.def
    this.def = entity(def.name, [...def.fields, field], def.generate, {
      columns: def.columns,
      sparse: def.sparse,
      creationDefaults: def.creationDefaults
    })
    this.touch()
  }

  /** A seeded ID chosen by a hash (for references from other tables), or `undefined` when there is none. */
  pickSeeded(hash: number): number | undefined {
    return this.seededCount === 0 ? undefined : this.ids[(hash & 0x7fffffff) % this.seededCount]
  }

  /** Adds a row with the next highest ID: `row` as given, or generated (mutations). Returns the new ID. */
  insert(makeRow?: (id: number) => Row): number {
    const id = this.maxId + 1
    this.ensureCapacity(this.length + 1)
    const pos = this.length
    this.ids[pos] = id
    this.length++
    const row = makeRow?.(id)
    if (row !== undefined) this.stored.set(id, row)
    for (const columnDef of this.def.columns) {
      this.setColumn(columnDef.field, pos, row !== undefined ? row[columnDef.field] : columnDef.valueOf(this.env, id))
    }
    this.touch()
    return id
  }

  /** Replaces the row at a position with `row` (already merged and complete). */
  replace(position: number, row: Row): void {
    this.stored.set(this.ids[position] as number, row)
    for (const column of this.columns.values()) this.setColumn(column.field, position, row[column.field])
    this.touch()
  }

  /** Deletes the row at a position. */
  remove(position: number): void {
    if (!this.isAlive(position)) return
    if (this.deleted === undefined) this.deleted = new Uint8Array(this.ids.length)
    this.deleted[position] = 1
    this.deletedCount++
    this.stored.delete(this.ids[position] as number)
    this.touch()
  }

  /** A cached position list for `key`, recomputed when the table changed since it was built. */
  cached(key: string, compute: () => Int32Array): Int32Array {
    const hit = this.cache.get(key)
    if (hit !== undefined && hit.version === this.version) return hit.positions
    const positions = compute()
    // A handful of live queries at a time; the oldest entry goes first
    if (this.cache.size >= 16) {
      const oldest = this.cache.keys().next()
      if (oldest.done !== true) this.cache.delete(oldest.value)
    }
    this.cache.delete(key)
    this.cache.set(key, { version: this.version, positions })
    return positions
  }

  private touch(): void {
    this.version++
    this.lastPosition = -1
    this.lastRow = undefined
  }

  private setColumn(field: string, position: number, value: unknown): void {
    const column = this.columns.get(field)
    if (column === undefined) return
    const code = codeOf(column, value)
    if (code === undefined) this.columns.delete(field)
    else column.codes[position] = code
  }

  private ensureCapacity(needed: number): void {
    if (needed <= this.ids.length) return
    const capacity = Math.max(needed, Math.ceil(this.ids.length * 1.5) + 16)
    const ids = new Int32Array(capacity)
    ids.set(this.ids.subarray(0, this.length))
    this.ids = ids
    if (this.deleted !== undefined) {
      const deleted = new Uint8Array(capacity)
      deleted.set(this.deleted.subarray(0, this.length))
      this.deleted = deleted
    }
    for (const column of this.columns.values()) {
      const codes = new Uint16Array(capacity)
      codes.set(column.codes.subarray(0, this.length))
      column.codes = codes
    }
  }
}

/** The code of a value in a column's dictionary, adding it when new; `undefined` when the dictionary is full. */
const codeOf = (column: Column, value: unknown): number | undefined => {
  const existing = column.index.get(value)
  if (existing !== undefined) return existing
  if (column.dictionary.length >= maxDictionary) return undefined
  const code = column.dictionary.length
  column.dictionary.push(value)
  column.index.set(value, code)
  return code
}
