/** The fake portal's cost models: simulated server time per call, in milliseconds of portal time. */
import type { CostNumbers } from "../../Options.js"

/**
 * The default cost model, in milliseconds of portal time. Sources and reasoning:
 *
 * - `baseMs` 5: a `crm.lead.get` inside a batch took 4.5–4.7 ms (fixture call_several_success, `duration` of
 *   order1/order2); every call pays it, batch commands included.
 * - `narrowRowMs` 0.1 and `wideRowMs` 2: fast_bitrix24 measured about 16–18k rows/s for `select ID,STAGE_ID`
 *   with parallel batches, i.e. well under a millisecond per narrow row, while `select *` with user fields
 *   joins many tables and is an order of magnitude slower per row.
 * - `offsetRowMs` 0.0015 per skipped row: offset pages get slower with the offset (fixture
 *   crm_lead_list_several_pages_success: per-command durations grow from about 17 ms near start 100 to about
 *   45 ms near start 7,000, with MySQL reading and discarding the skipped rows).
 * - `countRowMs` 0.0005 per table row: the COUNT behind `total` is proportional to the table; the docs
 *   (settings/performance/huge-data.md) measure 49.9 s per page with the count against 0.097 s without it on
 *   2.4 M rows. Our figure is far milder (1.2 s per page at 2.4 M rows) but keeps the shape: keyset paging with
 *   `start=-1` avoids a cost that grows with the table.
 * - `writeMs` 40 and `deleteMs` 20: adds in the fixtures took 26–95 ms (crm_contact_add_batch,
 *   lists_element_add_batch, crm_item_add); deletes are cheaper.
 * - `getMs` 5: single reads took 5–30 ms; with `baseMs` a get costs 10 ms.
 */
export const defaultCost: CostNumbers = {
  baseMs: 5,
  narrowRowMs: 0.1,
  wideRowMs: 2,
  offsetRowMs: 0.0015,
  countRowMs: 0.0005,
  writeMs: 40,
  deleteMs: 20,
  getMs: 5
}

/** A cost model where every call is free (tests that must not depend on timing). */
export const zeroCost: CostNumbers = {
  baseMs: 0,
  narrowRowMs: 0,
  wideRowMs: 0,
  offsetRowMs: 0,
  countRowMs: 0,
  writeMs: 0,
  deleteMs: 0,
  getMs: 0
}
