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
 * - `countRowMs` 0.0005 per table row (0.5 µs): the COUNT behind `total` is proportional to the table. The figure
 *   fits fast_bitrix24's published export of 41,537 leads in about 2.5 s (its `speed_tests/strategies.ipynb`: 831
 *   counted offset pages in 17 parallel batches), which leaves room for about 20 ms of COUNT per page; the docs'
 *   own measurement is 40 times dearer (see {@link docsCountCost}). It keeps the shape either way: keyset paging
 *   with `start=-1` avoids a cost that grows with the table.
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

/**
 * The default cost model with the COUNT behind `total` as the Bitrix24 docs measured it
 * (settings/performance/huge-data.md): 49.9 s for one counted page of 2,387,743 leads against 0.097 s for the same
 * page with `start=-1`, i.e. (49.9 − 0.097) s / 2,387,743 rows ≈ 20.9 µs per table row, 40 times the default's
 * 0.5 µs, which is fitted to fast_bitrix24's 41,537 leads in about 2.5 s (at 20.9 µs a counted page of those leads
 * would cost 0.87 s, and that export at least 40 s). The two sources disagree; this preset lets a strategy be tried
 * against the dearer one. Everything else as in {@link defaultCost}.
 */
export const docsCountCost: CostNumbers = {
  ...defaultCost,
  countRowMs: 0.0209
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
