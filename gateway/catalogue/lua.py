"""The Lua that keeps an arm's sums, generated from the catalogue (:mod:`.quantities`), as
:mod:`gateway.keys` generates the key suffixes: the worker's scripts
(:mod:`gateway.worker.aggregates`) decide *which* event counts for which user and arm; how an
event moves each quantity and which sums follow are this prelude's.

- ``unit_values(ukey)``: the user's raw values (as the unit hash keeps them) and capped ones
  (as they enter the sums), by quantity name;
- ``increments(trigger, v, position, first_click, cents, pre_p, pre_r)``: each quantity's
  increment for one event (the catalogue's ``on`` expressions);
- ``guard_ok(stats, arm, v, d)``: false when a guarded square's sum would pass ``MAX_SUM``
  (read only: call it while checking, before the first write);
- ``arms_of(variant, segs)``: the arm and the user's segments of it (``variant|device=mobile``,
  :mod:`gateway.config.segments`): every sum is kept for each, so segments add up like shards;
- ``apply(stats, arms, ukey, raw, v, d)``: writes the increments: each quantity's raw value on
  the unit, and on each arm's sums its capped change, its square's change (b² − a²) and each
  cross's change ((b − a) · the other quantity's current value). Moves one after another keep
  every cross exact (Σ x·y after both moves is b_x · b_y whatever their order).
"""

from __future__ import annotations

from gateway.catalogue.quantities import CAPPED, TRIGGERS, USERS, Catalogue


def _lua_str(value: str) -> str:
    if "'" in value or "\\" in value or "\n" in value:
        raise ValueError(f"catalogue name {value!r}: not a plain Lua string")
    return f"'{value}'"


def _table(entries: dict[str, str]) -> str:
    return "{" + ", ".join(f"[{_lua_str(k)}] = {v}" for k, v in entries.items()) + "}"


def lua_prelude(catalogue: Catalogue) -> str:
    """Lua ``local`` definitions for the scripts, derived from ``catalogue``."""
    qs = catalogue.quantities
    names = "{" + ", ".join(_lua_str(q.name) for q in qs) + "}"
    fields = "{" + ", ".join(_lua_str(q.field) for q in qs) + "}"
    field_of = _table({q.name: _lua_str(q.field) for q in qs})
    caps = _table({q.name: str(q.cap) for q in qs if q.cap is not None})
    squares = _table({q.name: _lua_str(q.square) for q in qs if q.square})
    guarded = "{" + ", ".join(_lua_str(q.name) for q in qs if q.guarded) + "}"
    crosses = _table(
        {
            q.name: "{"
            + ", ".join(
                f"{{{_lua_str(s)}, {_lua_str(o)}}}" for s, o in catalogue.crosses_of(q.name)
            )
            + "}"
            for q in qs
            if catalogue.crosses_of(q.name)
        }
    )
    branches = []
    for trigger in TRIGGERS:
        moved = [(q.name, q.on[trigger]) for q in qs if trigger in q.on]
        if moved:
            lines = "".join(f"    d[{_lua_str(n)}] = ({expr})\n" for n, expr in moved)
            branches.append(f"trigger == {_lua_str(trigger)} then\n{lines}")
    chain = "  if " + "  elseif ".join(branches) + "  end\n"
    return f"""local SUM_USERS, SUM_CAPPED = {_lua_str(USERS)}, {_lua_str(CAPPED)}
local Q_NAMES = {names}
local Q_FIELDS = {fields}
local Q_FIELD = {field_of}
local Q_CAP = {caps}
local Q_SQ = {squares}
local Q_GUARDED = {guarded}
local Q_CROSS = {crosses}
local function capped(q, x)
  local cap = Q_CAP[q]
  if cap and x > cap then return cap end
  return x
end
local function unit_values(ukey)
  local got = redis.call('HMGET', ukey, unpack(Q_FIELDS))
  local raw, v = {{}}, {{}}
  for i, q in ipairs(Q_NAMES) do
    local x = tonumber(got[i] or '0') or 0
    raw[q] = x
    v[q] = capped(q, x)
  end
  return raw, v
end
local function increments(trigger, v, position, first_click, cents, pre_p, pre_r)
  local d = {{}}
{chain}  return d
end
local function guard_ok(stats, arm, v, d)
  for _, q in ipairs(Q_GUARDED) do
    local inc = d[q]
    if inc and inc ~= 0 then
      local a = v[q]
      local b = capped(q, a + inc)
      local sq = tonumber(redis.call('HGET', stats, arm .. ':' .. Q_SQ[q]) or '0')
      if sq + b * b - a * a > MAX_SUM then return false end
    end
  end
  return true
end
local function arms_of(variant, segs)
  local arms = {{variant}}
  if segs and segs ~= '' then
    for seg in string.gmatch(segs, '[^|]+') do arms[#arms + 1] = variant .. '|' .. seg end
  end
  return arms
end
local function apply(stats, arms, ukey, raw, v, d)
  for _, q in ipairs(Q_NAMES) do
    local inc = d[q]
    if inc and inc ~= 0 then
      local after = raw[q] + inc
      local a, b = v[q], capped(q, after)
      raw[q], v[q] = after, b
      redis.call('HSET', ukey, Q_FIELD[q], after)
      if b ~= a then
        for _, arm in ipairs(arms) do
          redis.call('HINCRBY', stats, arm .. ':' .. q, b - a)
          if Q_SQ[q] then redis.call('HINCRBY', stats, arm .. ':' .. Q_SQ[q], b * b - a * a) end
          for _, c in ipairs(Q_CROSS[q] or {{}}) do
            local change = (b - a) * v[c[2]]
            if change ~= 0 then redis.call('HINCRBY', stats, arm .. ':' .. c[1], change) end
          end
        end
      end
    end
  end
end
"""
