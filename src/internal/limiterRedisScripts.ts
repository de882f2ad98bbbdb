/**
 * The limiter store's operations as Lua scripts for Redis: the same arithmetic as `limiterBucket.ts` and
 * `limiterOperating.ts` (the pure functions are the reference; `test/limiter/redisStore.test.ts` compares them on
 * the same inputs), each run atomically by Redis.
 *
 * Every script takes `ARGV[1]` = the clock (`redis`: read `TIME` inside the script; `caller`: trust `ARGV[2]`) and
 * `ARGV[2]` = the caller's `nowMs`. Numbers travel as decimal text: JavaScript's `String(n)` is read back exactly by
 * `tonumber`, and the scripts answer with `%.17g`, which `Number()` reads back exactly, so no float is rounded on
 * the way (Redis would truncate a Lua number in a reply to an integer). State is stored with `cmsgpack`, which keeps
 * doubles exact.
 */

const prelude = `
local eps = 1e-6
local function now_ms()
  if ARGV[1] == 'redis' then
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return tonumber(ARGV[2])
end
local function fmt(x) return string.format('%.17g', x) end
`

const bucketPrelude = `${prelude}
local function pool_starts(pool) return math.max(1, math.floor(pool + eps)) end
local function load_history(key)
  local raw = redis.call('GET', key)
  if not raw then return {} end
  return cmsgpack.unpack(raw)
end
-- liveHistory: the empty times that still matter; none once the newest is J in the past
local function live_history(hist, pool, jitter, now)
  local n = #hist
  if n == 0 or hist[n] + jitter <= now then return {} end
  local p = pool_starts(pool)
  if n > p then
    local out = {}
    for i = n - p + 1, n do out[#out + 1] = hist[i] end
    return out
  end
  return hist
end
-- kept until the newest empty time is J in the past (then the bucket is idle and nothing in it matters)
local function save_history(key, hist, jitter, now)
  local n = #hist
  if n == 0 then
    redis.call('DEL', key)
    return
  end
  redis.call('SET', key, cmsgpack.pack(hist))
  redis.call('PEXPIRE', key, math.max(1000, math.ceil(hist[n] + jitter - now) + 1000))
end
-- planners' claims (limiterClaims.ts), in KEYS[2]: { [claimant] = { starts, expiresAtMs } }
local function load_claims(key)
  local raw = redis.call('GET', key)
  if not raw then return {} end
  return cmsgpack.unpack(raw)
end
-- liveClaims
local function live_claims(claims, now)
  local live = {}
  for holder, claim in pairs(claims) do
    if claim[2] > now then live[holder] = claim end
  end
  return live
end
-- othersClaimed (a claim holding no start adds nothing)
local function others_claimed(claims, claimant, now)
  local total = 0
  for holder, claim in pairs(live_claims(claims, now)) do
    if holder ~= claimant then total = total + claim[1] end
  end
  return total
end
-- kept until the latest claim lapses
local function save_claims(key, claims, now)
  local latest = nil
  for _, claim in pairs(claims) do
    if latest == nil or claim[2] > latest then latest = claim[2] end
  end
  if latest == nil then
    redis.call('DEL', key)
    return
  end
  redis.call('SET', key, cmsgpack.pack(claims))
  redis.call('PEXPIRE', key, math.max(1, math.ceil(latest - now)))
end
local now = now_ms()
local pool = tonumber(ARGV[3])
local rps = tonumber(ARGV[4])
local jitter = tonumber(ARGV[5])
local claimant = ARGV[6]
local p = pool_starts(pool)
local hist = live_history(load_history(KEYS[1]), pool, jitter, now)
local n = #hist
-- Bucket.drainedLevel
local function drained_level()
  local free = p - n
  for i = 1, n do
    if hist[i] + jitter <= now + eps then free = free + 1 end
  end
  return p - free
end
`

/**
 * `Bucket.reserveStart`: KEYS[1] the bucket, KEYS[2] its claims; ARGV[3..5] pool, rate, jitter; ARGV[6] the claimant
 * ('' for none), whose claim the start uses (`Claims.consumeClaim`). Answers `{ delayMs }`.
 */
export const reserveBucketStart = `${bucketPrelude}
local bound = now
if n >= p then bound = hist[n - p + 1] + jitter end
local delay = math.max(0, math.ceil(bound - now - eps))
local start = now + delay
local newest = hist[n]
if newest == nil then newest = start end
local empty_at = math.max(newest, start) + 1000 / rps
local kept = {}
local from = 1
if n >= p then from = n - p + 2 end
for i = from, n do kept[#kept + 1] = hist[i] end
kept[#kept + 1] = empty_at
save_history(KEYS[1], kept, jitter, now)
if claimant ~= '' then
  local claims = live_claims(load_claims(KEYS[2]), now)
  local held = claims[claimant]
  if held ~= nil then
    if held[1] > 0 then
      held[1] = held[1] - 1
      save_claims(KEYS[2], claims, now)
    end
  end
end
return fmt(delay)
`

/** `Bucket.drainedLevel` plus the claims of everyone but ARGV[6] (`Claims.othersClaimed`): read only. */
export const bucketLevel = `${bucketPrelude}
return fmt(drained_level() + others_claimed(load_claims(KEYS[2]), claimant, now))
`

/**
 * `Claims.claimStarts`: ARGV[6] the claimant, ARGV[7] the starts wanted ('-1': all that are free; '0' releases),
 * ARGV[8] the claim's lifetime in ms. Answers `{ grant, other planners }`.
 */
export const claimBucketStarts = `${bucketPrelude}
local claims = live_claims(load_claims(KEYS[2]), now)
local free = math.max(0, p - drained_level() - others_claimed(claims, claimant, now))
local wanted = tonumber(ARGV[7])
if wanted < 0 then wanted = math.huge else wanted = math.max(0, math.floor(wanted + eps)) end
local granted = math.min(wanted, free)
local others = 0
for holder, _ in pairs(claims) do
  if holder ~= claimant then others = others + 1 end
end
claims[claimant] = nil
if wanted > 0 then claims[claimant] = { granted, now + tonumber(ARGV[8]) } end
save_claims(KEYS[2], claims, now)
return { fmt(granted), fmt(others) }
`

/** `Bucket.fillBucket`. */
export const fillBucket = `${bucketPrelude}
local missing = p - n
local full = {}
local drain = 1000 / rps
for index = 0, p - 1 do
  local known = -math.huge
  if index >= missing then known = hist[index - missing + 1] end
  full[index + 1] = math.max(known, now - jitter + (index + 1) * drain)
end
save_history(KEYS[1], full, jitter, now)
return 'ok'
`

/**
 * A method's budget in Redis: `{ total|false, resetAtMs|false, reportedAtMs|false, blockedUntilMs|false,
 * spends (flat: at, seconds, at, seconds…), recentCosts }`; times on the store's clock.
 */
const budgetPrelude = `${prelude}
local function load_budget(key)
  local raw = redis.call('GET', key)
  if not raw then return nil end
  return cmsgpack.unpack(raw)
end
local function empty_budget() return { false, false, false, false, {}, {} } end
-- Operating.prune
local function prune(b, now, window)
  local spends = {}
  local old = b[5]
  for i = 1, #old, 2 do
    if old[i] + window > now then
      spends[#spends + 1] = old[i]
      spends[#spends + 1] = old[i + 1]
    end
  end
  local blocked = b[4]
  if blocked ~= false and not (blocked > now) then blocked = false end
  return { b[1], b[2], b[3], blocked, spends, b[6] }
end
-- kept while anything in it can matter: a spend in the window, a block, a report until its reset
local function save_budget(key, b, now, window)
  redis.call('SET', key, cmsgpack.pack(b))
  local ttl = window
  if b[4] ~= false then ttl = math.max(ttl, b[4] - now) end
  if b[2] ~= false then ttl = math.max(ttl, b[2] + 1000 - now) end
  redis.call('PEXPIRE', key, math.max(1000, math.ceil(ttl) + 1000))
end
local function opt(x) if x == false then return '' end return fmt(x) end
local function reply(b)
  local spends = {}
  for i = 1, #b[5] do spends[i] = fmt(b[5][i]) end
  local recent = {}
  for i = 1, #b[6] do recent[i] = fmt(b[6][i]) end
  return { opt(b[1]), opt(b[2]), opt(b[3]), opt(b[4]), spends, recent }
end
local now = now_ms()
`

/** Answers with the store's now first, then one budget per key, pruned (and written back pruned). ARGV[3] window. */
export const methodBudgets = `${budgetPrelude}
local window = tonumber(ARGV[3])
local out = { fmt(now) }
for i = 1, #KEYS do
  local b = load_budget(KEYS[i])
  if b == nil then
    out[#out + 1] = reply(empty_budget())
  else
    local pruned = prune(b, now, window)
    save_budget(KEYS[i], pruned, now, window)
    out[#out + 1] = reply(pruned)
  end
end
return out
`

/**
 * `Operating.recordTimes` for each key in turn (a key may repeat); ARGV[3] window, then per key four values:
 * operating ('' when absent), operating_reset_at in seconds (''), the call's cost (''), '1' when it counts locally.
 */
export const recordOperating = `${budgetPrelude}
local window = tonumber(ARGV[3])
for i = 1, #KEYS do
  local base = 3 + (i - 1) * 4
  local operating = ARGV[base + 1]
  local reset = ARGV[base + 2]
  local cost = ARGV[base + 3]
  local counts = ARGV[base + 4] == '1'
  local b = prune(load_budget(KEYS[i]) or empty_budget(), now, window)
  if operating ~= '' then
    local o = tonumber(operating)
    -- Operating.holdsLarger: until its reset, a larger total held outweighs an answer that arrived out of order
    local keep = b[1] ~= false and b[2] ~= false and now < b[2] + 1000 and b[1] > o
    if not keep then
      b[1] = o
      if reset ~= '' then b[2] = tonumber(reset) * 1000 else b[2] = false end
      b[3] = now
    end
  end
  if cost ~= '' then
    local c = tonumber(cost)
    if counts and c > 0.1 then
      b[5][#b[5] + 1] = now
      b[5][#b[5] + 1] = c
    end
    local recent = b[6]
    recent[#recent + 1] = c
    if #recent > 10 then
      local last = {}
      for j = #recent - 9, #recent do last[#last + 1] = recent[j] end
      b[6] = last
    end
  end
  save_budget(KEYS[i], b, now, window)
end
return 'ok'
`

/**
 * Holds the method until ARGV[3] (on the caller's clock, carried over as a duration from the caller's now); a later
 * block wins. ARGV[4] the window, for the key's expiry.
 */
export const blockMethod = `${budgetPrelude}
local until_ms = tonumber(ARGV[3]) + (now - tonumber(ARGV[2]))
local window = tonumber(ARGV[4])
local b = load_budget(KEYS[1]) or empty_budget()
local current = b[4]
if current == false then current = 0 end
b[4] = math.max(until_ms, current)
save_budget(KEYS[1], b, now, window)
return 'ok'
`
