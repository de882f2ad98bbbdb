import { createClient } from "effect-bitrix24/promise"

const client = createClient({ webhook: process.env["BITRIX24_WEBHOOK"] ?? "https://example.bitrix24.com/rest/1/secret/" })
// cancel: give up after a minute (or call controller.abort() from a Cancel button)
const signal = AbortSignal.timeout(60_000)
try {
  const deals = await client.getAll("crm.deal.list", { select: ["ID", "TITLE"], filter: { STAGE_ID: "WON" } }, {
    signal,
    onProgress: ({ done, total, rate }) => process.stderr.write(`\r${done}/${total ?? "?"} deals, ${rate.toFixed(0)}/s`)
  })
  console.log(deals.length)
  // one row at a time, requested as the loop asks for them; break stops the requests
  for await (const deal of client.stream("crm.deal.list", { select: ["ID", "TITLE"] }, { signal })) {
    if ((deal as { readonly TITLE?: string }).TITLE?.includes("Acme")) break
  }
} catch (error) {
  // the same typed errors as the Effect API: error._tag is "BitrixApiError", "HttpError", "ValidationError", …,
  // or "AbortedError" when the signal fired (error.rows: the rows received so far)
  console.error(error)
} finally {
  // stops whatever still runs (those calls reject with "ClientClosedError"), then frees the client
  await client.close()
}
