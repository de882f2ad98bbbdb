/**
 * Credentials of the fake portal: the inbound webhook and the OAuth app with its rotating token pairs, plus the
 * seeded generator every other random choice of the engine comes from.
 */

/** mulberry32: a small seeded generator, so faults, tokens and mutations repeat run after run. */
export const makeRandom = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

/** A token in the portal's style: 32 lower-case letters and digits. */
export const makeToken = (random: () => number, length = 32, alphabet = tokenAlphabet): string => {
  let token = ""
  for (let i = 0; i < length; i++) token += alphabet[Math.floor(random() * alphabet.length)]
  return token
}

/** What a presented access token turned out to be. */
export type TokenCheck =
  | { readonly _tag: "Valid"; readonly userId: number }
  | { readonly _tag: "Expired" }
  | { readonly _tag: "Unknown" }

/** What a refresh request turned out to be. */
export type RefreshOutcome =
  | { readonly _tag: "Refreshed"; readonly accessToken: string; readonly refreshToken: string; readonly expiresAtMs: number }
  | { readonly _tag: "InvalidClient" }
  | { readonly _tag: "InvalidGrant" }

/**
 * The OAuth app's tokens. Access tokens live `lifetimeSeconds` of portal time and stay valid until then even
 * after a refresh; every refresh spends its refresh token and issues a new pair, as oauth.bitrix.info does.
 */
export class OAuthTokens {
  private readonly accessTokens = new Map<string, { expiresAtMs: number; userId: number }>()
  private readonly refreshTokens = new Map<string, { userId: number }>()
  /** The pair issued at start, so tests can call the portal at once. */
  readonly initialAccessToken: string
  readonly initialRefreshToken: string

  constructor(
    readonly clientId: string,
    readonly clientSecret: string,
    readonly lifetimeSeconds: number,
    private readonly random: () => number,
    readonly userId: number,
    nowMs: number
  ) {
    const pair = this.issue(nowMs)
    this.initialAccessToken = pair.accessToken
    this.initialRefreshToken = pair.refreshToken
  }

  private issue(nowMs: number): { accessToken: string; refreshToken: string; expiresAtMs: number } {
    const accessToken = makeToken(this.random)
    const refreshToken = makeToken(this.random)
    const expiresAtMs = nowMs + this.lifetimeSeconds * 1000
    this.accessTokens.set(accessToken, { expiresAtMs, userId: this.userId })
    this.refreshTokens.set(refreshToken, { userId: this.userId })
    return { accessToken, refreshToken, expiresAtMs }
  }

  /** [CORE] OAuth\Auth: a token is expired when `expires <= time()`. */
  check(token: string, nowMs: number): TokenCheck {
    const entry = this.accessTokens.get(token)
    if (entry === undefined) return { _tag: "Unknown" }
    return entry.expiresAtMs <= nowMs ? { _tag: "Expired" } : { _tag: "Valid", userId: entry.userId }
  }

  /** Makes a known access token expire now (the `expireToken` fault); answers whether it was known. */
  expire(token: string, nowMs: number): boolean {
    const entry = this.accessTokens.get(token)
    if (entry === undefined) return false
    entry.expiresAtMs = Math.min(entry.expiresAtMs, nowMs)
    return true
  }

  /** The refresh grant: client checked first (invalid_client), then the refresh token (invalid_grant). */
  refresh(clientId: unknown, clientSecret: unknown, refreshToken: unknown, nowMs: number): RefreshOutcome {
    if (clientId !== this.clientId || clientSecret !== this.clientSecret) return { _tag: "InvalidClient" }
    if (typeof refreshToken !== "string" || !this.refreshTokens.has(refreshToken)) return { _tag: "InvalidGrant" }
    this.refreshTokens.delete(refreshToken)
    return { _tag: "Refreshed", ...this.issue(nowMs) }
  }
}
