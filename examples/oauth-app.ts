/**
 * A local OAuth app: calls the portal with an access token, and when the portal says `expired_token` the client
 * refreshes once (for every request in flight) and stores the rotated pair, because each refresh spends the old
 * refresh token.
 *
 *   BITRIX24_REST_URL=https://portal.bitrix24.com/rest/ BITRIX24_CLIENT_ID=… BITRIX24_CLIENT_SECRET=… \
 *   npx tsx examples/oauth-app.ts tokens.json
 *
 * tokens.json holds {"accessToken": "…", "refreshToken": "…"} and is rewritten after every refresh.
 */
import * as Fs from "node:fs"
import { Redacted } from "effect"
import { createClient } from "effect-bitrix24/promise"

const tokensFile = process.argv[2] ?? "tokens.json"
const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`Set ${name}`)
  return value
}
const stored = JSON.parse(Fs.readFileSync(tokensFile, "utf8")) as { accessToken: string; refreshToken: string }

const client = createClient({
  oauth: {
    restUrl: env("BITRIX24_REST_URL"),
    clientId: env("BITRIX24_CLIENT_ID"),
    clientSecret: env("BITRIX24_CLIENT_SECRET"),
    accessToken: stored.accessToken,
    refreshToken: stored.refreshToken,
    ...(process.env["BITRIX24_TOKEN_URL"] === undefined ? {} : { tokenUrl: process.env["BITRIX24_TOKEN_URL"] }),
    onTokens: (tokens) => {
      const next = { accessToken: Redacted.value(tokens.accessToken), refreshToken: Redacted.value(tokens.refreshToken) }
      Fs.writeFileSync(tokensFile, JSON.stringify(next))
    }
  }
})

try {
  const me = (await client.call("user.current")) as { ID: string }
  const deals = await client.getAll("crm.deal.list", { select: ["ID"] })
  console.log(`user ${me.ID} sees ${deals.length} deals`)
} finally {
  await client.close()
}
