import { createClient } from "effect-bitrix24/promise"

const client = createClient({ webhook: process.env["BITRIX24_WEBHOOK"] ?? "https://example.bitrix24.com/rest/1/secret/" })
try {
  const deals = await client.getAll("crm.deal.list", { select: ["ID", "TITLE"], filter: { STAGE_ID: "WON" } })
  console.log(deals.length)
} catch (error) {
  // the same typed errors as the Effect API: error._tag is "BitrixApiError", "HttpError", "ValidationError", …
  console.error(error)
} finally {
  await client.close()
}
