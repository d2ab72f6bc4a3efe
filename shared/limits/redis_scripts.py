"""The Lua scripts of `RedisLedger`, one per operation (the key layout is in `shared.limits.redis_ledger`).

Each script sweeps what has aged out of the counters it touches (window entries older than the window,
holds past their expiry) before it reads them, so the ledger needs no background job. Only plain string,
hash and sorted-set commands and PEXPIRE are used (Memorystore compatible); time comes in ARGV.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["SCRIPTS", "Script"]

# Shared by the scripts: integers are formatted with %d (Lua's default %.14g would turn a large integer
# into an exponent), and sweeps work in chunks so no single call unpacks thousands of arguments.
_LUA_COMMON = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local function int(x) return string.format('%d', x) end
local function drop(h, z, prefix, total_field, cutoff)
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', int(cutoff))
  if #old == 0 then return end
  local freed = 0
  for i = 1, #old, 500 do
    local fields = {}
    for j = i, math.min(i + 499, #old) do fields[#fields + 1] = prefix .. old[j] end
    local values = redis.call('HMGET', h, unpack(fields))
    for k = 1, #fields do
      if values[k] then freed = freed + tonumber(values[k]) end
    end
    redis.call('HDEL', h, unpack(fields))
  end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', int(cutoff))
  if freed ~= 0 then redis.call('HINCRBY', h, total_field, int(-freed)) end
end
local function used(kind, a, b)
  if kind == 'w' then
    drop(b, a, 'r:', 'sum', now - window)
    return tonumber(redis.call('HGET', b, 'sum') or '0')
  end
  drop(a, b, 'h:', 'pending', now)
  local v = redis.call('HMGET', a, 'spent', 'pending')
  return tonumber(v[1] or '0') + tonumber(v[2] or '0')
end
"""

# KEYS: state, then two per check (window: zset, hash; budget: hash, zset).
# ARGV: now, window, request id, hold expiry, state ttl, then per check: kind, limit, amount, ttl, reset.
_RESERVE = (
    _LUA_COMMON
    + """
local rid = ARGV[3]
local expires = tonumber(ARGV[4])
local n = (#KEYS - 1) / 2
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
local after = {}
for i = 1, n do
  local base = 5 + (i - 1) * 5
  local kind, limit, amount = ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local a, b = KEYS[2 * i], KEYS[2 * i + 1]
  local u = used(kind, a, b)
  if u + amount > limit then
    local reset = tonumber(ARGV[base + 5])
    if kind == 'w' then
      local need = u + amount - limit
      reset = window
      if need <= u then
        local entries = redis.call('ZRANGE', a, 0, -1, 'WITHSCORES')
        local freed = 0
        for j = 1, #entries, 2 do
          freed = freed + tonumber(redis.call('HGET', b, 'r:' .. entries[j]) or '0')
          if freed >= need then
            reset = tonumber(entries[j + 1]) + window - now
            break
          end
        end
      end
    end
    return {0, i, u, reset}
  end
  after[i] = u + amount
end
for i = 1, n do
  local base = 5 + (i - 1) * 5
  local kind, amount, ttl = ARGV[base + 1], ARGV[base + 3], ARGV[base + 4]
  local a, b = KEYS[2 * i], KEYS[2 * i + 1]
  if kind == 'w' then
    redis.call('ZADD', a, int(now), rid)
    redis.call('HSET', b, 'r:' .. rid, amount)
    redis.call('HINCRBY', b, 'sum', amount)
  else
    redis.call('HSET', a, 'h:' .. rid, amount)
    redis.call('HINCRBY', a, 'pending', amount)
    redis.call('ZADD', b, int(expires), rid)
  end
  redis.call('PEXPIRE', a, ttl)
  redis.call('PEXPIRE', b, ttl)
end
redis.call('SET', KEYS[1], 'held', 'PX', ARGV[5])
local out = {1}
for i = 1, n do out[i + 1] = after[i] end
return out
"""
)

# KEYS: state, then two per check. ARGV: now, window, request id, "settled" | "released", tokens, cost,
# state ttl, then per check: kind ("q" requests, "t" tokens, "b" budget), ttl.
_FINISH = (
    _LUA_COMMON
    + """
local rid, outcome, tokens, cost = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local state = redis.call('GET', KEYS[1])
if state == 'settled' or state == 'released' then return 0 end
local n = (#KEYS - 1) / 2
for i = 1, n do
  local kind, ttl = ARGV[7 + 2 * i - 1], ARGV[7 + 2 * i]
  local a, b = KEYS[2 * i], KEYS[2 * i + 1]
  if kind == 'b' then
    local held = redis.call('HGET', a, 'h:' .. rid)
    if held then
      redis.call('HDEL', a, 'h:' .. rid)
      redis.call('HINCRBY', a, 'pending', int(-tonumber(held)))
      redis.call('ZREM', b, rid)
    end
    if outcome == 'settled' then
      redis.call('HINCRBY', a, 'spent', cost)
      redis.call('PEXPIRE', a, ttl)
    end
  else
    local amount = redis.call('HGET', b, 'r:' .. rid)
    if amount then
      if outcome == 'released' then
        redis.call('HDEL', b, 'r:' .. rid)
        redis.call('HINCRBY', b, 'sum', int(-tonumber(amount)))
        redis.call('ZREM', a, rid)
      elseif kind == 't' then
        redis.call('HSET', b, 'r:' .. rid, int(tokens))
        redis.call('HINCRBY', b, 'sum', int(tokens - tonumber(amount)))
      end
    end
  end
end
redis.call('SET', KEYS[1], outcome, 'PX', ARGV[7])
return 1
"""
)

# KEYS: two per check. ARGV: now, window, then per check: kind. Returns the usage per check.
_USAGE = (
    _LUA_COMMON
    + """
local out = {}
for i = 1, #KEYS / 2 do out[i] = used(ARGV[2 + i], KEYS[2 * i - 1], KEYS[2 * i]) end
return out
"""
)

# KEYS: budget hashes. ARGV: now, window, then per key: spend to add, ttl. Local spend after an outage.
_CREDIT = (
    _LUA_COMMON
    + """
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'spent', ARGV[1 + 2 * i])
  redis.call('PEXPIRE', KEYS[i], ARGV[2 + 2 * i])
end
return #KEYS
"""
)


@dataclass(frozen=True, slots=True)
class Script:
    source: str
    sha: str


def _script(source: str) -> Script:
    return Script(source, hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest())


SCRIPTS = {
    "reserve": _script(_RESERVE),
    "finish": _script(_FINISH),
    "usage": _script(_USAGE),
    "credit": _script(_CREDIT),
}
