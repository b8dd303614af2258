"""Per-user aggregates and per-variant sufficient statistics in Redis, updated by atomic Lua scripts.

Each script de-duplicates by ``event_id`` inside the same atomic step as the
update, so a redelivered or replayed event changes nothing. Per variant the
stats hash keeps: ``users``, ``converters``, ``revenue`` and ``revenue_sq`` (sum
of per-user revenue and of its square), ``searches``, ``clicks``, ``carts``.
"""

from __future__ import annotations

from typing import Any, Final

from redis.asyncio import Redis

from gateway.control.store import Keys

SEEN_TTL_S: Final = 7 * 24 * 3600
SEARCH_TTL_S: Final = 24 * 3600

# KEYS: none (single Redis). ARGV: prefix, event_id, search_id, user_id, then experiment/variant pairs.
EXPOSURE_LUA: Final = """
local p, eid, sid, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if not redis.call('SET', p .. ':seen:' .. eid, 1, 'NX', 'EX', SEEN_TTL) then return 0 end
local skey = p .. ':search:' .. sid
redis.call('HSET', skey, '_user', user)
redis.call('EXPIRE', skey, SEARCH_TTL)
for i = 5, #ARGV, 2 do
  local exp, variant = ARGV[i], ARGV[i + 1]
  redis.call('HSET', skey, exp, variant)
  local ukey = p .. ':unit:' .. exp .. ':' .. user
  local stats = p .. ':stats:' .. exp
  local first = redis.call('HGET', ukey, 'variant')
  if not first then
    redis.call('HSET', ukey, 'variant', variant)
    redis.call('HINCRBY', stats, variant .. ':users', 1)
    first = variant
  end
  redis.call('HINCRBY', ukey, 'searches', 1)
  redis.call('HINCRBY', stats, first .. ':searches', 1)
end
return 1
""".replace("SEEN_TTL", str(SEEN_TTL_S)).replace("SEARCH_TTL", str(SEARCH_TTL_S))

# ARGV: prefix, event_id, search_id, type, value. Returns -1 when the exposure is not known yet.
OUTCOME_LUA: Final = """
local p, eid, sid, kind, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local seen = p .. ':seen:' .. eid
if redis.call('EXISTS', seen) == 1 then return 0 end
local skey = p .. ':search:' .. sid
local fields = redis.call('HGETALL', skey)
if #fields == 0 then return -1 end
redis.call('SET', seen, 1, 'EX', SEEN_TTL)
local user = redis.call('HGET', skey, '_user')
for i = 1, #fields, 2 do
  local exp = fields[i]
  if exp ~= '_user' then
    local ukey = p .. ':unit:' .. exp .. ':' .. user
    local stats = p .. ':stats:' .. exp
    local variant = redis.call('HGET', ukey, 'variant')
    if kind == 'click' then
      redis.call('HINCRBY', ukey, 'clicks', 1)
      redis.call('HINCRBY', stats, variant .. ':clicks', 1)
    elseif kind == 'add_to_cart' then
      redis.call('HINCRBY', stats, variant .. ':carts', 1)
    elseif kind == 'purchase' then
      if redis.call('HSETNX', ukey, 'converted', 1) == 1 then
        redis.call('HINCRBY', stats, variant .. ':converters', 1)
      end
      local before = tonumber(redis.call('HGET', ukey, 'revenue') or '0')
      redis.call('HINCRBYFLOAT', ukey, 'revenue', value)
      redis.call('HINCRBYFLOAT', stats, variant .. ':revenue', value)
      redis.call('HINCRBYFLOAT', stats, variant .. ':revenue_sq', 2 * before * value + value * value)
    end
  end
end
return 1
""".replace("SEEN_TTL", str(SEEN_TTL_S))

STAT_FIELDS: Final = ("users", "converters", "revenue", "revenue_sq", "searches", "clicks", "carts")


async def read_variant_stats(
    redis: Redis, keys: Keys, experiment: str
) -> dict[str, dict[str, float]]:
    """``{variant: {field: value}}`` from the experiment's stats hash."""
    raw: dict[Any, Any] = await redis.hgetall(keys.stats(experiment))
    out: dict[str, dict[str, float]] = {}
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else str(field)
        variant, _, stat = name.rpartition(":")
        out.setdefault(variant, dict.fromkeys(STAT_FIELDS, 0.0))[stat] = float(value)
    return out
