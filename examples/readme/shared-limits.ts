import { Bitrix } from "effect-bitrix24"
import { createClient } from "effect-bitrix24/promise"

const webhook = process.env["BITRIX24_WEBHOOK"] ?? "https://portal.bitrix24.com/rest/1/code/"

// every machine shares one Redis (npm install ioredis)
export const fleet = Bitrix.layerFetch({ webhook, limiterStore: "redis://redis.internal:6379" })
// the processes of one machine share a file
export const oneHost = Bitrix.layerFetch({ webhook, limiterStore: "file:/var/lib/app/limiter.json" })
// the same for Promise code
export const client = () => createClient({ webhook, limiterStore: "redis://redis.internal:6379" })
