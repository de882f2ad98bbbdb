/**
 * Moves every deal of one stage to another, in bulk: one `crm.deal.update` per deal, batched 50 to a request and
 * sent in parallel within the limits. Items that fail are reported with the portal's words; the rest are done.
 *
 *   BITRIX24_WEBHOOK=… npx tsx examples/bulk-update.ts NEW PREPARATION
 */
import { Effect, Either } from "effect"
import { Bitrix } from "effect-bitrix24"

const [from = "NEW", to = "PREPARATION"] = process.argv.slice(2)

const program = Effect.gen(function* () {
  const deals = yield* Bitrix.getAll("crm.deal.list", { select: ["ID"], filter: { STAGE_ID: from } })
  const ids = deals.map((deal) => (deal as { ID: string }).ID)
  const outcomes = yield* Bitrix.callEither(
    "crm.deal.update",
    ids.map((ID) => ({ ID, fields: { STAGE_ID: to } }))
  )
  const failed = outcomes.flatMap((outcome, index) => (Either.isLeft(outcome) ? [`${ids[index]}: ${outcome.left.message}`] : []))
  return { updated: outcomes.length - failed.length, failed }
})

const webhook = process.env["BITRIX24_WEBHOOK"]
if (webhook === undefined) throw new Error("Set BITRIX24_WEBHOOK to your inbound webhook URL")
const { updated, failed } = await Effect.runPromise(program.pipe(Effect.provide(Bitrix.layerFetch({ webhook }))))
console.log(`${updated} deals moved from ${from} to ${to}`)
for (const line of failed) console.log(`failed ${line}`)
