import { Effect } from "effect"
import { Bitrix } from "effect-bitrix24"

const program = Effect.gen(function* () {
  // every deal, exported at the portal's limit (keyset ranges chosen automatically)
  const deals = yield* Bitrix.getAll("crm.deal.list", { select: ["ID", "TITLE", "STAGE_ID"] })
  // one call per item, batched 50 to a request, results in input order
  const ids = yield* Bitrix.call(
    "crm.lead.add",
    deals.slice(0, 3).map((deal) => ({ fields: { TITLE: `Follow-up ${(deal as { TITLE: string }).TITLE}` } }))
  )
  return { deals: deals.length, leads: ids }
})

const webhook = process.env["BITRIX24_WEBHOOK"] ?? "https://example.bitrix24.com/rest/1/secret/"
Effect.runPromise(program.pipe(Effect.provide(Bitrix.layerFetch({ webhook })))).then(console.log, console.error)
