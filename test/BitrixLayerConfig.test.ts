import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Config, ConfigProvider, Effect, Either, Layer, Schedule } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import * as Bitrix from "../src/Bitrix.js"
import * as Transport from "../src/Transport.js"
import { type RunningFakePortal, startFakePortal } from "../src/testing/index.js"

const running: Array<RunningFakePortal> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((portal) => portal.close()))
})

const withEnv = (values: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values))))

describe("Bitrix.layerConfig", () => {
  it("reads the webhook from BITRIX24_WEBHOOK", async () => {
    const portal = await startFakePortal({ seed: { "crm.deal": 3 }, limits: "off", costModel: "zero" })
    running.push(portal)
    const deal = await Effect.runPromise(
      Bitrix.call("crm.deal.get", { ID: 1 }).pipe(
        Effect.provide(
          Bitrix.layerConfig({ webhook: Config.redacted("BITRIX24_WEBHOOK"), limits: Config.succeed("off") }).pipe(
            Layer.provide(withEnv({ BITRIX24_WEBHOOK: portal.webhookUrl }))
          )
        )
      )
    )
    expect((deal as { readonly ID: string }).ID).toBe("1")
  })

  it("reads every option from config (Config.Wrap), and checks what it read like any other option", async () => {
    const portal = await startFakePortal({ seed: { "crm.deal": 120 }, limits: "off", costModel: "zero" })
    running.push(portal)
    const options = {
      webhook: Config.redacted("HOOK"),
      limits: Config.literal("standard", "enterprise", "off")("PLAN"),
      batchSize: Config.integer("BATCH")
    }
    const run = (values: Record<string, string>) =>
      Effect.runPromise(
        Effect.either(
          Bitrix.getAll("crm.deal.list", { select: ["ID"] }).pipe(
            Effect.provide(Bitrix.layerConfig(options).pipe(Layer.provide(withEnv(values))))
          )
        )
      )
    const rows = await run({ HOOK: portal.webhookUrl, PLAN: "off", BATCH: "7" })
    expect(Either.isRight(rows) && rows.right.length).toBe(120)
    const badPlan = await run({ HOOK: portal.webhookUrl, PLAN: "gold", BATCH: "7" })
    expect(Either.isLeft(badPlan) && badPlan.left._tag).toBe("ConfigError")
    // a value config reads well but the client refuses: the same ValidationError as in code
    const badBatch = await run({ HOOK: portal.webhookUrl, PLAN: "off", BATCH: "51" })
    expect(Either.isLeft(badBatch) && badBatch.left).toMatchObject({ _tag: "ValidationError", path: "options.batchSize" })
  })

  it("fails to build without the value (ConfigError) or with a malformed one (ValidationError, no secret)", async () => {
    const build = (values: Record<string, string>) =>
      Effect.runPromise(
        Effect.either(Layer.build(Bitrix.layerConfig().pipe(Layer.provide(withEnv(values)))).pipe(Effect.scoped))
      )
    const missing = await build({})
    expect(Either.isLeft(missing) && missing.left._tag).toBe("ConfigError")
    expect(String(Either.isLeft(missing) && missing.left)).toContain("BITRIX24_WEBHOOK")
    const malformed = await build({ BITRIX24_WEBHOOK: "https://x.bitrix24.com/rest/1/s3cr3tc0de/crm.deal.list" })
    expect(Either.isLeft(malformed) && malformed.left._tag).toBe("ValidationError")
    expect(JSON.stringify(Either.flip(malformed))).not.toContain("s3cr3tc0de")
  })
})

describe("each service owns its settings", () => {
  it("layerServices refuses the transport's settings (retry, timeout, the connection) and says where they go", async () => {
    const build = (options: unknown) =>
      Effect.runPromise(
        Effect.either(Layer.build(Bitrix.layerServices(options as Bitrix.ServiceOptions)).pipe(Effect.scoped))
      )
    for (const [options, path] of [
      [{ retry: Schedule.recurs(1) }, "options.retry"],
      [{ timeout: "5 seconds" }, "options.timeout"],
      [{ webhook: "https://x.bitrix24.com/rest/1/abc/" }, "webhook"]
    ] as const) {
      const built = await build(options)
      expect(Either.isLeft(built) && built.left).toMatchObject({ _tag: "ValidationError", path })
      expect(Either.isLeft(built) && built.left.message).toMatch(/transport/)
    }
  })

  it("Bitrix.layer hands the retry schedule to the transport, and withRetry replaces it for one program", async () => {
    const portal = await startFakePortal({ seed: { "crm.deal": 3 }, limits: "off", costModel: "zero" })
    running.push(portal)
    const scheduleOf = (layer: Layer.Layer<Bitrix.Services, unknown>, wrap = false) =>
      Effect.runPromise(
        Effect.flatMap(Transport.Transport, (transport) => Effect.succeed(transport.retry)).pipe(
          (program) => (wrap ? program.pipe(Bitrix.withRetry(replacement)) : program),
          Effect.provide(layer)
        )
      )
    const mine = Schedule.recurs(3)
    const replacement = Schedule.recurs(1)
    const layer = Bitrix.layer({ webhook: portal.webhookUrl, limits: "off", retry: mine }).pipe(Layer.provide(FetchHttpClient.layer))
    expect(await scheduleOf(layer)).toBe(mine)
    expect(await scheduleOf(layer, true)).toBe(replacement)
    expect(await scheduleOf(Bitrix.layerFetch({ webhook: portal.webhookUrl, limits: "off" }))).toBe(Transport.defaultRetry)
  })
})
