"""Per-user aggregates and per-variant sufficient statistics in Redis, updated by atomic Lua scripts.

Each script de-duplicates by ``event_id`` inside the same atomic step as the
update, so a redelivered or replayed event changes nothing. Per variant the
stats hash keeps integer sums over users, so the worker turns them into
means and variances exactly (no ``sum_sq - sum**2 / n`` in floating point):
``users``; ``converters``; ``revenue_cents`` and ``revenue_cents_sq`` (per-user
revenue in cents and its square); ``searches``, ``searches_sq``, ``clicks``,
``clicks_sq`` and ``clicks_x_searches`` (per-user counts, their squares and
cross-product: the click-through rate's delta method); ``carts``. When a
user's value moves from a to a + d, its square's sum moves by 2·a·d + d².
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
  local s = redis.call('HINCRBY', ukey, 'searches', 1)
  local c = tonumber(redis.call('HGET', ukey, 'clicks') or '0')
  redis.call('HINCRBY', stats, first .. ':searches', 1)
  redis.call('HINCRBY', stats, first .. ':searches_sq', 2 * s - 1)
  if c > 0 then redis.call('HINCRBY', stats, first .. ':clicks_x_searches', c) end
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
      local c = redis.call('HINCRBY', ukey, 'clicks', 1)
      local s = tonumber(redis.call('HGET', ukey, 'searches') or '0')
      redis.call('HINCRBY', stats, variant .. ':clicks', 1)
      redis.call('HINCRBY', stats, variant .. ':clicks_sq', 2 * c - 1)
      redis.call('HINCRBY', stats, variant .. ':clicks_x_searches', s)
    elseif kind == 'add_to_cart' then
      redis.call('HINCRBY', stats, variant .. ':carts', 1)
    elseif kind == 'purchase' then
      if redis.call('HSETNX', ukey, 'converted', 1) == 1 then
        redis.call('HINCRBY', stats, variant .. ':converters', 1)
      end
      local cents = math.floor(value * 100 + 0.5)
      local before = tonumber(redis.call('HGET', ukey, 'revenue_cents') or '0')
      redis.call('HINCRBY', ukey, 'revenue_cents', cents)
      redis.call('HINCRBY', stats, variant .. ':revenue_cents', cents)
      redis.call('HINCRBY', stats, variant .. ':revenue_cents_sq', 2 * before * cents + cents * cents)
    end
  end
end
return 1
""".replace("SEEN_TTL", str(SEEN_TTL_S))

STAT_FIELDS: Final = (
    "users",
    "converters",
    "revenue_cents",
    "revenue_cents_sq",
    "searches",
    "searches_sq",
    "clicks",
    "clicks_sq",
    "clicks_x_searches",
    "carts",
)


async def read_variant_stats(
    redis: Redis, keys: Keys, experiment: str
) -> dict[str, dict[str, int]]:
    """``{variant: {field: integer sum}}`` from the experiment's stats hash."""
    raw: dict[Any, Any] = await redis.hgetall(keys.stats(experiment))
    out: dict[str, dict[str, int]] = {}
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else str(field)
        variant, _, stat = name.rpartition(":")
        out.setdefault(variant, dict.fromkeys(STAT_FIELDS, 0))[stat] = int(value)
    return out
