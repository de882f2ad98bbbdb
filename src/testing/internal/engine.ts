/**
 * The fake portal's protocol engine: everything between an HTTP request and the method table. Routing,
 * webhook and OAuth auth, the token endpoint, batch, the leaky bucket, the operating-time window, time blocks,
 * 414, injected faults and counters. Plain, synchronous and deterministic: time comes in as an argument and
 * every random choice from a generator seeded by `seedNumber`.
 */
import { type LimitNumbers, resolveLimits } from "../../BitrixConfig.js"
import type { CostNumbers, FakePortalOptions, FaultRule, MutationRule } from "../Options.js"
import { makeRandom, makeToken, OAuthTokens } from "./engineAuth.js"
import { type CommandOutcome, commandMethods, runBatch } from "./engineBatch.js"
import {
  encodeBody,
  errorEnvelope,
  jsonResponse,
  nginxPage,
  parseRestPath,
  parseTarget,
  requestParams,
  type RequestTarget,
  restHeaders,
  type RestRoute
} from "./engineHttp.js"
import { LeakyBucket, OperatingWindow, RequestOperating } from "./engineLimits.js"
import { defaultCost, docsCountCost, makeMethodTable, zeroCost } from "./methods.js"
import { PhpArray, toPlain } from "./php.js"
import type { MethodOutcome, MethodTable, PortalOutcome, PortalRequest, PortalStats } from "./types.js"

/** The address the in-process forms of the fake portal pretend to live at. */
export const defaultPortalOrigin = "https://fake-portal.bitrix24.test"

/** The OAuth app of an engine, with the token pair issued at start. */
export interface OAuthInfo {
  readonly clientId: string
  readonly clientSecret: string
  readonly accessToken: string
  readonly refreshToken: string
  readonly tokenPath: "/oauth/token/"
  readonly restPath: "/rest/"
}

/** Resolves the cost model option to numbers. */
export const resolveCost = (model: FakePortalOptions["costModel"]): CostNumbers => {
  switch (model) {
    case undefined:
    case "default":
      return defaultCost
    case "zero":
      return zeroCost
    case "docsCount":
      return docsCountCost
    default:
      return { ...defaultCost, ...model }
  }
}

/** Who is calling: the unit the leaky bucket and the operating window are kept per. */
interface AuthEntity {
  readonly key: string
  readonly userId: number
  readonly clientId?: string
}

/** What running a REST request produced, before encoding. */
interface RestResult {
  readonly status: number
  readonly envelope: PhpArray
  /** Simulated server time of the whole request, portal ms. */
  readonly costMs: number
}

const operationTimeLimit = (): PhpArray =>
  errorEnvelope("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")

const methodNotFound = (): PhpArray => errorEnvelope("ERROR_METHOD_NOT_FOUND", "Method not found!")

const isoSeconds = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19) + "+00:00"

const round6 = (seconds: number): number => Math.round(seconds * 1e6) / 1e6

const increment = (counter: Record<string, number>, key: string, by = 1): void => {
  counter[key] = (counter[key] ?? 0) + by
}

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * The entity a list call reads, for mutation rules: `crm.deal.list` reads `crm.deal`; with an `entityTypeId`
 * parameter also `crm.item:1032`.
 */
const listEntity = (method: string, params: unknown): { readonly base: string; readonly typed?: string } | undefined => {
  const match = /^(.+)\.(list|getlist)$/.exec(method)
  if (match === null) return undefined
  if (typeof params === "object" && params !== null && !Array.isArray(params)) {
    for (const [key, value] of Object.entries(params)) {
      if (key.toLowerCase() === "entitytypeid" && (typeof value === "string" || typeof value === "number")) {
        return { base: match[1]!, typed: `${match[1]}:${value}` }
      }
    }
  }
  return { base: match[1]! }
}

/**
 * The protocol engine. `handle` answers one request at a given real time; the caller waits `delayMs` before
 * sending the answer. State changes (writes, limits, counters) take effect when `handle` is called.
 */
export class PortalEngine {
  /** e.g. `/rest/1/<code>/`: the webhook base path; append a method name. */
  readonly webhookPath: string
  /** The OAuth app when `options.oauth` is set. */
  readonly oauth: OAuthInfo | undefined
  readonly methodTable: MethodTable
  readonly cost: CostNumbers
  readonly limits: LimitNumbers | undefined
  readonly timeScale: number
  readonly batchBilling: "commands" | "batch"
  /** Which clock the answers' stamps and durations are in (see `FakePortalOptions.reportTime`). */
  readonly reportTime: "real" | "portal"

  private readonly webhookUserId: number
  private readonly webhookCode: string
  private readonly startRealMs: number
  private readonly portalStartMs: number
  private lastRealNowMs: number
  private readonly maxUrlLength: number
  private readonly bucket: LeakyBucket | undefined
  private readonly operating: OperatingWindow | undefined
  private readonly tokens: OAuthTokens | undefined
  private readonly faults: ReadonlyArray<FaultRule>
  private readonly mutations: ReadonlyArray<MutationRule>
  private readonly mutationCounts = new Map<MutationRule, number>()
  private readonly faultRandom: () => number
  private readonly mutationRandom: () => number

  private httpRequests = 0
  private rejected503 = 0
  private rejected429 = 0
  private rejected414 = 0
  private readonly requestsByMethod: Record<string, number> = {}
  private readonly batchCommandsByMethod: Record<string, number> = {}
  private readonly operatingSecondsByMethod: Record<string, number> = {}
  private readonly faultsInjected: Record<string, number> = {}

  constructor(options: FakePortalOptions, startRealMs: number, methodTable?: MethodTable) {
    const seedNumber = options.seedNumber ?? 1
    this.cost = resolveCost(options.costModel)
    this.methodTable = methodTable ?? makeMethodTable({ seed: options.seed ?? {}, seedNumber, cost: this.cost })
    this.limits = resolveLimits(options.limits ?? "standard")
    this.timeScale = options.timeScale !== undefined && options.timeScale > 0 ? options.timeScale : 1
    this.batchBilling = options.batchBilling ?? "commands"
    this.reportTime = options.reportTime ?? "real"
    this.maxUrlLength = options.maxUrlLength ?? 8192
    this.startRealMs = startRealMs
    this.portalStartMs = startRealMs
    this.lastRealNowMs = startRealMs
    this.bucket = this.limits === undefined ? undefined : new LeakyBucket(this.limits.poolSize, this.limits.requestsPerSecond)
    this.operating =
      this.limits === undefined ? undefined : new OperatingWindow(this.limits.operatingLimitSeconds, this.limits.operatingWindowSeconds)
    this.faults = options.faults ?? []
    this.mutations = options.mutations ?? []
    // Separate streams, so adding a fault rule does not change the generated tokens or mutations.
    this.faultRandom = makeRandom(seedNumber * 7919 + 1)
    this.mutationRandom = makeRandom(seedNumber * 104729 + 2)
    const credentialRandom = makeRandom(seedNumber * 15485863 + 3)
    this.webhookUserId = options.webhook?.userId ?? 1
    this.webhookCode = options.webhook?.code ?? makeToken(credentialRandom, 16)
    this.webhookPath = `/rest/${this.webhookUserId}/${this.webhookCode}/`
    if (options.oauth === undefined) {
      this.tokens = undefined
      this.oauth = undefined
    } else {
      this.tokens = new OAuthTokens(
        options.oauth.clientId,
        options.oauth.clientSecret,
        options.oauth.accessTokenLifetimeSeconds ?? 3600,
        credentialRandom,
        this.webhookUserId,
        this.portalStartMs
      )
      this.oauth = {
        clientId: options.oauth.clientId,
        clientSecret: options.oauth.clientSecret,
        accessToken: this.tokens.initialAccessToken,
        refreshToken: this.tokens.initialRefreshToken,
        tokenPath: "/oauth/token/",
        restPath: "/rest/"
      }
    }
  }

  /** Portal time: start + (real now − real start) × timeScale. */
  portalNowMs(realNowMs: number): number {
    return this.portalStartMs + (realNowMs - this.startRealMs) * this.timeScale
  }

  /**
   * A portal instant as the answers report it: itself with `reportTime: "portal"`; by default the real instant it
   * corresponds to (start + (portal − start) / timeScale), so a client on the wall clock that waits until a stamp
   * (`operating_reset_at`, a token's `expires`) waits the right real time.
   */
  reportedMs(portalMs: number): number {
    return this.reportTime === "portal" ? portalMs : this.startRealMs + (portalMs - this.portalStartMs) / this.timeScale
  }

  /** A span of portal seconds as the answers report it: real seconds (÷ timeScale) by default, portal seconds with `reportTime: "portal"`. */
  reportedSeconds(portalSeconds: number): number {
    return this.reportTime === "portal" ? portalSeconds : portalSeconds / this.timeScale
  }

  /** Answers one request. Never throws: an engine bug becomes a 500 ERROR_CORE answer. */
  handle(request: PortalRequest, realNowMs: number): PortalOutcome {
    this.lastRealNowMs = Math.max(this.lastRealNowMs, realNowMs)
    const nowMs = this.portalNowMs(realNowMs)
    const requestNumber = ++this.httpRequests
    try {
      return this.dispatch(request, nowMs, requestNumber)
    } catch (error) {
      return {
        _tag: "Response",
        status: 500,
        headers: restHeaders("json", 0),
        body: encodeBody(errorEnvelope("ERROR_CORE", `Fake portal failure: ${errorMessage(error)}`), "json"),
        delayMs: 0
      }
    }
  }

  /**
   * Counters; times in portal seconds up to `realNowMs` (default: the latest request seen). `rejected503` counts
   * leaky-bucket refusals only (an injected `error503` is in `faultsInjected`); `rejected429` counts
   * OPERATION_TIME_LIMIT answers, batch commands included; `operatingSecondsByMethod` is what the operating
   * window counted (also with limits off); 401s and token requests are in `httpRequests` only.
   */
  stats(realNowMs?: number): PortalStats {
    const nowMs = this.portalNowMs(realNowMs ?? this.lastRealNowMs)
    return {
      httpRequests: this.httpRequests,
      requestsByMethod: { ...this.requestsByMethod },
      batchCommandsByMethod: { ...this.batchCommandsByMethod },
      rejected503: this.rejected503,
      rejected429: this.rejected429,
      rejected414: this.rejected414,
      operatingSecondsByMethod: { ...this.operatingSecondsByMethod },
      rowsServed: this.methodTable.rowsServed(),
      faultsInjected: { ...this.faultsInjected },
      writesPerformed: { ...this.methodTable.writesPerformed() },
      portalSecondsElapsed: (nowMs - this.portalStartMs) / 1000
    }
  }

  private dispatch(request: PortalRequest, nowMs: number, requestNumber: number): PortalOutcome {
    const target = parseTarget(request.url, request.headers["host"], defaultPortalOrigin)
    // The front server refuses a long GET line before PHP sees anything.
    if (request.httpMethod.toUpperCase() === "GET" && target.pathAndQuery.length > this.maxUrlLength) {
      this.rejected414++
      return nginxPage(414)
    }
    if (/^\/oauth\/token\/?$/.test(target.pathname)) return this.tokenEndpoint(request, target, nowMs)
    if (!target.pathname.startsWith("/rest/")) return nginxPage(404)
    return this.rest(request, target, nowMs, requestNumber)
  }

  // -------------------------------------------------------------------------------------------------------------
  // OAuth

  /** oauth.bitrix.info's refresh grant: a new pair every time; the spent refresh token is gone. */
  private tokenEndpoint(request: PortalRequest, target: RequestTarget, nowMs: number): PortalOutcome {
    const params = requestParams(request, target.query)
    if (this.tokens === undefined) return jsonResponse(401, { error: "invalid_client", error_description: "Application not found" })
    if (params.get("grant_type") !== "refresh_token") {
      return jsonResponse(400, { error: "invalid_request", error_description: "Unsupported grant_type" })
    }
    const outcome = this.tokens.refresh(params.get("client_id"), params.get("client_secret"), params.get("refresh_token"), nowMs)
    switch (outcome._tag) {
      case "InvalidClient":
        return jsonResponse(401, { error: "invalid_client", error_description: "Invalid client credentials" })
      case "InvalidGrant":
        return jsonResponse(400, { error: "invalid_grant", error_description: "Invalid refresh token" })
      case "Refreshed":
        return jsonResponse(200, {
          access_token: outcome.accessToken,
          client_endpoint: `${target.origin}/rest/`,
          domain: "oauth.bitrix.info",
          expires: Math.floor(this.reportedMs(outcome.expiresAtMs) / 1000),
          // whole seconds, rounded down so a client refreshing after it is never late
          expires_in: Math.floor(this.reportedSeconds(this.tokens.lifetimeSeconds)),
          member_id: "fa4e0ec0a1d3b7c5e2f9186d0b3c4a57",
          refresh_token: outcome.refreshToken,
          scope: "crm,task,user,lists,catalog,sonet_group,entity,im",
          server_endpoint: "https://oauth.bitrix.info/rest/",
          status: "L",
          user_id: this.tokens.userId
        })
    }
  }

  /** [CORE] OAuth\Auth::getAuthKey: the `auth` param, then `access_token`, then `Authorization: Bearer`. */
  private presentedToken(request: PortalRequest, params: PhpArray): string | undefined {
    const auth = params.get("auth")
    if (typeof auth === "string" && auth !== "") return auth
    const accessToken = params.get("access_token")
    if (typeof accessToken === "string" && accessToken !== "") return accessToken
    const header = /^Bearer\s+(\S+)/i.exec(request.headers["authorization"] ?? "")
    return header?.[1]
  }

  private authenticate(
    route: RestRoute,
    presented: string | undefined,
    nowMs: number
  ): { readonly _tag: "Ok"; readonly entity: AuthEntity } | { readonly _tag: "Refused"; readonly envelope: PhpArray } {
    if (route.webhook !== undefined) {
      const { userId, code } = route.webhook
      if (!/^\d+$/.test(userId) || Number(userId) !== this.webhookUserId || code !== this.webhookCode) {
        return { _tag: "Refused", envelope: errorEnvelope("INVALID_CREDENTIALS", "Invalid request credentials") }
      }
      return { _tag: "Ok", entity: { key: `webhook:${this.webhookUserId}:${this.webhookCode}`, userId: this.webhookUserId } }
    }
    if (presented === undefined) return { _tag: "Refused", envelope: errorEnvelope("NO_AUTH_FOUND", "Wrong authorization data") }
    const check = this.tokens?.check(presented, nowMs) ?? { _tag: "Unknown" as const }
    switch (check._tag) {
      case "Unknown":
        return { _tag: "Refused", envelope: errorEnvelope("invalid_token", "Unable to get application by token") }
      case "Expired":
        return { _tag: "Refused", envelope: errorEnvelope("expired_token", "The access token provided has expired.") }
      case "Valid":
        return { _tag: "Ok", entity: { key: `app:${this.tokens!.clientId}`, userId: check.userId, clientId: this.tokens!.clientId } }
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // REST

  private rest(request: PortalRequest, target: RequestTarget, nowMs: number, requestNumber: number): PortalOutcome {
    const route = parseRestPath(target.pathname)
    const params = requestParams(request, target.query)
    const method = route.method
    increment(this.requestsByMethod, method)

    const fault = this.pickFault(requestNumber, method === "batch" ? ["batch", ...commandMethods(params)] : [method])
    const refusal = fault === undefined ? undefined : this.faultBeforeProcessing(fault.kind, route.transport)
    if (fault !== undefined && refusal !== undefined) {
      increment(this.faultsInjected, fault.kind)
      return refusal
    }

    // CRestServer::process finds the method before it checks credentials: an unknown one is a 404 whatever the
    // auth (so is a webhook URL missing a segment, whose "method" keeps a slash).
    if (method !== "batch" && !this.methodTable.has(method)) return this.restResponse(404, methodNotFound(), route.transport, 0, 0)

    const presented = route.webhook === undefined ? this.presentedToken(request, params) : undefined
    if (fault?.kind === "expireToken" && presented !== undefined && this.tokens?.expire(presented, nowMs) === true) {
      increment(this.faultsInjected, fault.kind)
    }
    const auth = this.authenticate(route, presented, nowMs)
    if (auth._tag === "Refused") return this.restResponse(401, auth.envelope, route.transport, 0, 0)
    if (route.webhook === undefined) {
      // parameters_clear: the token never reaches the method.
      params.delete("auth")
      params.delete("access_token")
    }

    // The bucket is kept per portal and source address: every webhook and app calling from one address shares it
    const bucketKey = request.clientIp ?? "127.0.0.1"
    if (this.bucket !== undefined && !this.bucket.admit(bucketKey, nowMs)) {
      this.rejected503++
      return this.restResponse(503, errorEnvelope("QUERY_LIMIT_EXCEEDED", "Too many requests"), route.transport, 0, 0)
    }

    const operating = new RequestOperating()
    const result =
      method === "batch"
        ? this.runBatchRequest(params, auth.entity, nowMs, operating)
        : this.runSingle(method, params, auth.entity, nowMs, operating)
    this.bill(operating, nowMs)

    const response = this.restResponse(
      result.status,
      result.envelope,
      route.transport,
      this.reportedSeconds(result.costMs / 1000),
      result.costMs / this.timeScale,
      auth.entity.clientId
    )
    if (fault?.kind === "drop") {
      increment(this.faultsInjected, fault.kind)
      // The method ran (a write happened) but the client never learns it.
      return { _tag: "Drop", delayMs: response._tag === "Response" ? response.delayMs : 0 }
    }
    if (fault?.kind === "error500After") {
      increment(this.faultsInjected, fault.kind)
      // The method ran (a write happened), then the portal or a proxy answers 500: the client cannot know.
      return jsonResponse(
        500,
        { error: "INTERNAL_SERVER_ERROR", error_description: "Internal server error" },
        response._tag === "Response" ? response.delayMs : 0
      )
    }
    if (fault?.kind === "malformedJson" && response._tag === "Response") {
      increment(this.faultsInjected, fault.kind)
      return { ...response, body: response.body.slice(0, Math.max(1, Math.floor(response.body.length / 2))) }
    }
    return response
  }

  private restResponse(
    status: number,
    envelope: PhpArray,
    transport: "json" | "xml",
    processingSeconds: number,
    delayMs: number,
    clientId?: string
  ): PortalOutcome {
    return {
      _tag: "Response",
      status,
      headers: restHeaders(transport, processingSeconds, clientId),
      body: encodeBody(envelope, transport),
      delayMs
    }
  }

  /** The answer of a fault that strikes before the portal processes anything (so no write happens). */
  private faultBeforeProcessing(kind: FaultRule["kind"], transport: "json" | "xml"): PortalOutcome | undefined {
    switch (kind) {
      case "error500":
        return jsonResponse(500, { error: "INTERNAL_SERVER_ERROR", error_description: "Internal server error" })
      case "error503":
        return this.restResponse(503, errorEnvelope("QUERY_LIMIT_EXCEEDED", "Too many requests"), transport, 0, 0)
      case "html502":
        return nginxPage(502)
      case "html504":
        return nginxPage(504)
      case "hang":
        return { _tag: "Hang" }
      default:
        return undefined
    }
  }

  /** The first rule that fires for this request: listed request numbers, or the seeded probability. */
  private pickFault(requestNumber: number, methods: ReadonlyArray<string>): FaultRule | undefined {
    for (const rule of this.faults) {
      if (rule.methods !== undefined) {
        const wanted = rule.methods.map((name) => name.toLowerCase())
        if (!methods.some((name) => wanted.includes(name))) continue
      }
      if (rule.onRequests?.includes(requestNumber) === true) return rule
      if (rule.probability !== undefined && rule.probability > 0 && this.faultRandom() < rule.probability) return rule
    }
    return undefined
  }

  // -------------------------------------------------------------------------------------------------------------
  // Calls and limits

  private operatingKey(entity: AuthEntity, method: string): string {
    return `${entity.key}\u0000${method}`
  }

  /** [CORE] LoadLimiter::is, checked before a call: blocked once the method's sum is over the limit. */
  private blocked(key: string, nowMs: number, operating: RequestOperating): boolean {
    if (this.operating === undefined) return false
    return this.operating.usedSeconds(key, nowMs) + operating.counted(key) > this.operating.limitSeconds
  }

  /** The window's verdict on the request's calls: each key billed when its sum passed 0.1 s. */
  private bill(operating: RequestOperating, nowMs: number): void {
    for (const [key, seconds] of operating.billable()) {
      increment(this.operatingSecondsByMethod, key.slice(key.indexOf("\u0000") + 1), seconds)
      this.operating?.bill(key, seconds, nowMs)
    }
  }

  /**
   * The `time` block: float unix seconds, ISO dates, and with limits on `operating_reset_at` + `operating`; stamps and
   * spans in the clock of `reportTime` (`duration` is `finish − start`, so `processing` is in the same units).
   */
  private timeBlock(startMs: number, costMs: number, key: string, nowMs: number, operating: RequestOperating): Record<string, unknown> {
    const startReportedMs = this.reportedMs(startMs)
    const finishReportedMs = this.reportedMs(startMs + costMs)
    const start = round6(startReportedMs / 1000)
    const finish = round6(finishReportedMs / 1000)
    const block: Record<string, unknown> = {
      start,
      finish,
      duration: finish - start,
      processing: this.reportedSeconds(costMs / 1000),
      date_start: isoSeconds(startReportedMs),
      date_finish: isoSeconds(finishReportedMs)
    }
    if (this.operating !== undefined) {
      const resetAtMs = this.reportedMs(this.operating.resetAtMs(key, nowMs))
      // [CORE] gives whole unix seconds. Portal time: rounded down, as before. Real time: rounded up, so a wall-clock
      // client that waits until it is never early (one real second is timeScale portal seconds)
      block["operating_reset_at"] = this.reportTime === "portal" ? Math.floor(resetAtMs / 1000) : Math.ceil(resetAtMs / 1000 - 1e-9)
      block["operating"] = this.reportedSeconds(this.operating.usedSeconds(key, nowMs) + operating.counted(key))
    }
    return block
  }

  /** Runs a method of the table; an exception inside it becomes ERROR_CORE rather than a crash. */
  private callMethod(method: string, params: unknown, entity: AuthEntity, nowMs: number): MethodOutcome | undefined {
    let outcome: MethodOutcome | undefined
    try {
      // rows written now carry the reported clock, the one the client compares DATE_MODIFY with
      outcome = this.methodTable.call(method, params, { nowMs: this.reportedMs(nowMs), userId: entity.userId })
    } catch (error) {
      return { _tag: "Error", status: 500, error: "ERROR_CORE", description: errorMessage(error), costMs: 0 }
    }
    if (outcome !== undefined) this.afterListCall(method, params, nowMs)
    return outcome
  }

  /** Mutation rules: after every N list calls on an entity, rows are added, updated and deleted, stamped `nowMs`. */
  private afterListCall(method: string, params: unknown, nowMs: number): void {
    if (this.mutations.length === 0) return
    const entity = listEntity(method, params)
    if (entity === undefined) return
    for (const rule of this.mutations) {
      if (rule.everyRequests <= 0 || (rule.entity !== entity.base && rule.entity !== entity.typed)) continue
      const count = (this.mutationCounts.get(rule) ?? 0) + 1
      this.mutationCounts.set(rule, count)
      if (count % rule.everyRequests === 0) this.methodTable.mutate(rule, this.mutationRandom, this.reportedMs(nowMs))
    }
  }

  private runSingle(method: string, params: PhpArray, entity: AuthEntity, nowMs: number, operating: RequestOperating): RestResult {
    const key = this.operatingKey(entity, method)
    if (this.blocked(key, nowMs, operating)) {
      this.rejected429++
      return { status: 429, envelope: operationTimeLimit(), costMs: 0 }
    }
    const outcome = this.callMethod(method, toPlain(params), entity, nowMs)
    if (outcome === undefined) return { status: 404, envelope: methodNotFound(), costMs: 0 }
    operating.add(key, outcome.costMs / 1000)
    if (outcome._tag === "Error") {
      return { status: outcome.status, envelope: errorEnvelope(outcome.error, outcome.description, outcome.extra), costMs: outcome.costMs }
    }
    const envelope = PhpArray.from([["result", outcome.result]])
    // CRestServer::processCall lifts next and total to the top level, next first.
    if (outcome.next !== undefined) envelope.set("next", outcome.next)
    if (outcome.total !== undefined) envelope.set("total", outcome.total)
    envelope.set("time", this.timeBlock(nowMs, outcome.costMs, key, nowMs, operating))
    return { status: 200, envelope, costMs: outcome.costMs }
  }

  private runBatchRequest(params: PhpArray, entity: AuthEntity, nowMs: number, operating: RequestOperating): RestResult {
    const batchKey = this.operatingKey(entity, "batch")
    const billBatch = this.batchBilling === "batch"
    if (billBatch && this.blocked(batchKey, nowMs, operating)) {
      this.rejected429++
      return { status: 429, envelope: operationTimeLimit(), costMs: 0 }
    }
    let cursorMs = nowMs
    const commandTimes: Array<Record<string, unknown>> = []
    const run = (method: string, commandParams: PhpArray): CommandOutcome => {
      const key = this.operatingKey(entity, method)
      if (!billBatch && this.blocked(key, nowMs, operating)) {
        this.rejected429++
        return { _tag: "Error", entry: operationTimeLimit() }
      }
      increment(this.batchCommandsByMethod, method)
      const startMs = cursorMs
      const outcome = this.callMethod(method, toPlain(commandParams), entity, startMs)
      if (outcome === undefined) return { _tag: "Error", entry: errorEnvelope("ERROR_METHOD_NOT_FOUND", "Method not found!") }
      cursorMs += outcome.costMs
      if (!billBatch) operating.add(key, outcome.costMs / 1000)
      if (outcome._tag === "Error") return { _tag: "Error", entry: errorEnvelope(outcome.error, outcome.description, outcome.extra) }
      const time = this.timeBlock(startMs, outcome.costMs, billBatch ? batchKey : key, nowMs, operating)
      commandTimes.push(time)
      return { _tag: "Ok", result: outcome.result, next: outcome.next, total: outcome.total, time }
    }
    const result = runBatch(params, run)
    const costMs = cursorMs - nowMs + this.cost.baseMs
    if (billBatch) operating.add(batchKey, costMs / 1000)
    const time = this.timeBlock(nowMs, costMs, batchKey, nowMs, operating)
    if (billBatch && this.operating !== undefined) {
      // b24jssdk PR #539: billed to `batch`, every sub-result carries the batch's cumulative operating.
      for (const commandTime of commandTimes) {
        commandTime["operating"] = time["operating"]
        commandTime["operating_reset_at"] = time["operating_reset_at"]
      }
    }
    return { status: 200, envelope: PhpArray.from([["result", result], ["time", time]]), costMs }
  }
}
