"""Per-user aggregates and per-variant sufficient statistics in Redis, updated by atomic Lua scripts.

These scripts decide which event counts, for which user, arm and phase; which sums an arm
keeps and how each event moves them is the metric catalogue's (:mod:`gateway.catalogue`: its
quantities' update rules, squares and cross-products become the scripts' ``unit_values``,
``increments`` and ``apply``), so a new metric is an entry there, not a change here. The sums
named below are the catalogue's.

Each script de-duplicates inside the same atomic step as the update — a search's
exposure by its ``search_id``, an outcome by its ``event_id`` within its search
(:meth:`gateway.keys.ShardKeys.seen`) — so a redelivered or replayed event changes
nothing.

An outcome counts only for the search it names and the user that search was made for (a
different user is ``WRONG_USER``); a click or add-to-cart only on an item the search showed
(``NOT_ON_PAGE``: the exposure keeps the page's item ids on the search hash). Both go to the
dead-letter stream with the reason.

A purchase may also come without a search id (at checkout, of items bought in the same
session or later). The exposure script keeps on each unit the times of the user's first and
last exposure in the phase (``t0``, ``t1``: the exposures' own times) and, per user, an index
naming the latest phase they were exposed in of each experiment (``ShardKeys.exposed``); a
purchase at checkout counts, in each running experiment whose attribution window
(``attribution_window_s``, passed in by the consumer) reaches back from the purchase's time to
that phase's last exposure, for the user's arm in that phase: the same per-user sums as a
purchase on a search (converters, revenue and its products), de-duplicated by event id per
user (``ShardKeys.seen_checkout``), under the same daily cap. An exposure after the purchase
does not attribute it; when later searches were applied first, the phase's first exposure
stands in for the last one before the purchase (if it too is after the purchase or outside
the window, the purchase is not attributed: conservative, never a guess). One that no window
covers is first answered ``NO_EXPOSURE`` with nothing changed — its buyer's exposure may be a
flush behind, so the consumer holds it (``RetrySchedule.checkout_give_up_s``) — and on its
last try ``UNATTRIBUTED``: kept in the user's activity and daily cap, counted by the consumer,
counted for no arm. So: clicks and add-to-carts count only through the search they
name (on its page); purchases through their search, or at checkout through the window.

What one user weighs is capped (:class:`EventCaps`): past a cap an event is acknowledged and
counted as ``capped`` for its arm, nothing more. Per variant the stats hash keeps integer sums
over users, so the worker turns them into means and variances exactly (no
``sum_sq - sum**2 / n`` in floating point): ``users``; ``converters``; ``revenue_cents`` and ``revenue_cents_sq`` (per-user
revenue in cents and its square); ``searches``, ``searches_sq``, ``clicks``,
``clicks_sq`` and ``clicks_x_searches`` (per-user counts, their squares and
cross-product: the click-through rate's delta method); ``carts``;
``revenue_x_searches`` (revenue per search's delta method). When a user's value
moves from a to b, its square's sum moves by b² − a².

CUPED's covariate (Deng et al. 2013) is each user's activity before their first
exposure to the experiment's phase: a per-user activity hash, over all
experiments, counts purchases and revenue as outcomes arrive; at a user's first
exposure the script copies it onto the unit (capped: 1 000 purchases, 100 000
in whole units of revenue) and adds it, its square and, as the metric grows,
its product with the metric (``converters_x_pre``, ``revenue_x_pre``) to the
variant's sums.

Click metrics for rankers, per user and summed like the others (each with its square and
its product with the user's searches, for the delta method): ``clicked_searches`` (searches
with at least one click: one minus abandonment), ``rr`` (the reciprocal rank 1/(position+1)
of each search's first click), ``dcg`` (each click at position p < 10 adds 1/log2(p+2): a
click-based DCG@10 per search), per-user ``carts``, and ``rrc``, the reciprocal rank of every
click (where clicks land: a ratio over clicks, with ``rrc_x_clicks``); rr, dcg and rrc in
thousandths, winsorised per user like revenue. Positions are those the events carry (0 first).

An interleaved search (:mod:`gateway.interleave`) keeps its page on the search hash
(``_il:<experiment>``: each slot's item, team and whether it was competitive) and the
experiment's hash (``Keys.interleaving``) counts searches, slots and competitive slots. An
outcome on an item of the page counts for its team (``team:<t>:<type>``); one of the page's
credit type also updates, for each pair of teams (a, b) with that team, the search's verdict
(more credited events for a: won; for b: lost; else tied) and the user's net verdicts in the
pair (``pw:a-b`` on the user's unit). A purchase at checkout carries no page, so it credits no
team (it still counts in the interleaved arm's per-user sums). ``a-b:users`` counts users
with at least one verdict search in the pair. Every event of the page's user marks their last activity; once settled
(:data:`SETTLE_LUA`), a user counts once as positive (``a-b:pos``) or negative (``a-b:neg``)
in each pair: the sign test's counts, per user, so that a heavy user counts once.

Every number a script computes stays an exact integer: a purchase is at most
100 000 in cents, a user's revenue enters the statistics winsorised at
900 000 (so its square is below 2**53, where Lua's doubles are exact), and a
script refuses an event that would carry a sum past what Redis's 64-bit
integers hold. Each script reads and checks everything before its first
write, so an event it refuses (``INVALID``, ``OVERFLOW``) changes nothing;
the worker moves such an entry to the dead-letter stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from gateway.catalogue.lua import lua_prelude
from gateway.catalogue.quantities import CATALOGUE, USER_VALUE_CAP, Catalogue
from gateway.config.model import MAX_ATTRIBUTION_WINDOW_S
from gateway.config.parse import MAX_MULTILEAVED
from gateway.keys import lua_key_constants
from gateway.schema import MAX_PURCHASE_VALUE

SEEN_TTL_S: Final = 7 * 24 * 3600
SEARCH_TTL_S: Final = 24 * 3600
ACTIVITY_TTL_S: Final = 90 * 24 * 3600
PRE_PURCHASES_CAP: Final = 1_000
PRE_REVENUE_CAP: Final = 100_000  # whole units; its square is 1e10, so sums stay exact
MAX_TEAMS: Final = MAX_MULTILEAVED
# Reciprocal rank and DCG gains are kept in thousandths (exact integers in the sums).
CLICK_METRIC_SCALE: Final = 1000
DCG_K: Final = 10
# Between the ids of a page kept for the on-page check: item ids are printable, so a SKU may
# hold a comma but never the unit separator (pages kept by older workers used ",").
PAGE_SEPARATOR: Final = "\x1f"

# Script results. Every script checks all it reads before its first write, so an
# entry it refuses changes nothing (Redis does not roll a script back on error).
APPLIED: Final = 1
CAPPED: Final = 2  # outcome only: past a per-user cap (EventCaps): counted as capped, no more
# a purchase at checkout that no running experiment's attribution window covers: kept in the
# user's activity (and purchase cap), counted for no arm
UNATTRIBUTED: Final = 3
DUPLICATE: Final = 0
NO_EXPOSURE: Final = -1  # outcome only: its search's exposure is not known (yet)
INVALID: Final = -2  # a value no gateway would have accepted
OVERFLOW: Final = -3  # an integer sum would leave the exact range
WRONG_USER: Final = -4  # outcome only: its user is not the user of the search it names
NOT_ON_PAGE: Final = -5  # a click or add-to-cart on an item the search did not show

# One purchase: at most MAX_PURCHASE_VALUE (gateway.schema) in cents.
MAX_PURCHASE_CENTS: Final = round(MAX_PURCHASE_VALUE * 100)
# Per-user revenue enters the statistics capped here (winsorised): squares of
# capped values stay below 2**53, where Lua's doubles hold integers exactly.
# The uncapped total is kept on the unit.
USER_REVENUE_CAP_CENTS: Final = USER_VALUE_CAP
# Per-variant sums are Redis 64-bit integers; a script refuses to pass this.
MAX_SUM: Final = 9_000_000_000_000_000_000

# KEYS[1]: the user's shard tag (gateway.keys.ShardKeys.tag): every key the script touches
# starts with it, so the call runs on the shard's one slot. ARGV: event_id, search_id, user_id,
# the interleaved page ('' or "stats_id|teams|credit|item:team:competitive,..."), the page's
# items, the exposure's time (unix s; 0: unknown), the search's segments ("dim=value|...": the
# user's in each phase they are first exposed in; "=*" is set here: shopper new or returning),
# then experiment/variant pairs.
_EXPOSURE_LUA = """
local function now() local t = redis.call('TIME') return tonumber(t[1]) + tonumber(t[2]) / 1e6 end
local function phase(stats_id) return tonumber(string.match(stats_id, '@(%d+)$') or '0') end
local renew = false
local p = KEYS[1]
local eid, sid, user, page, items = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ts = tonumber(ARGV[6])
local segs = ARGV[7] or ''
if (#ARGV - 7) % 2 ~= 0 or user == '' or sid == '' or eid == '' then return INVALID end
if ts == nil or ts ~= ts or ts < 0 then return INVALID end
if string.find(segs, '[:%s]') then return INVALID end
local seen = p .. K_SEEN .. sid
if redis.call('EXISTS', seen) == 1 then return DUPLICATE end
-- read and check everything first
local plan = {}
local assigned = {}
local xkey = p .. K_EXPOSED .. user
for i = 8, #ARGV, 2 do
  local exp, variant = ARGV[i], ARGV[i + 1]
  if exp == '' or string.sub(exp, 1, 1) == '_' or variant == '' then return INVALID end
  assigned[exp] = true
  local ukey = p .. K_UNIT .. exp .. ':' .. user
  local more = redis.call('HMGET', ukey, 'variant', 't0', 't1', 'xr', 'segs')
  local first = more[1] or false
  local raw, v = unit_values(ukey)
  -- When the user was first and last exposed in this phase, and (on their first exposure in
  -- it) the phase their exposure index names for the experiment: a purchase at checkout is
  -- attributed from them (OUTCOME_LUA). A phase's stats id is "key" or "key@n".
  local t0, t1 = tonumber(more[2] or ''), tonumber(more[3] or '')
  -- the index lives while the user is exposed: its time to live is renewed on the first
  -- exposure of each day (the day this unit last renewed it: 'xr')
  local renews = ts > 0 and tostring(math.floor(ts / 86400)) ~= more[4]
  local key = string.match(exp, '^[^@]+')
  local indexed
  if ts > 0 and not t1 then indexed = redis.call('HGET', xkey, key) or '' end
  plan[#plan + 1] = {exp, variant, ukey, first, raw, v, t0, t1, key, indexed, renews, more[5]}
end
local pre_p, pre_r = 0, 0
local activity = redis.call('HMGET', p .. K_ACTIVITY .. user, 'purchases', 'revenue_cents')
pre_p = math.min(tonumber(activity[1] or '0'), PRE_P_CAP)
pre_r = math.min(math.floor(tonumber(activity[2] or '0') / 100), PRE_R_CAP)
local il_exp, il_meta, il_slots, il_competitive, il_unit, il_settled
if page ~= '' then
  local teams, credit, items
  il_exp, teams, credit, items = string.match(page, '^([^|]+)|(%d+)|([%a_]+)|(.*)$')
  if not il_exp or not assigned[il_exp] then return INVALID end
  teams = tonumber(teams)
  if teams < 2 or teams > MAX_TEAMS then return INVALID end
  il_meta = teams .. '|' .. credit .. '|' .. items
  il_unit = p .. K_UNIT .. il_exp .. ':' .. user
  il_settled = redis.call('HGET', il_unit, 'settled')
  il_slots, il_competitive = 0, 0
  for item, team, competitive in string.gmatch(items, '(%d+):(%d+):([01])') do
    if tonumber(team) >= teams then return INVALID end
    il_slots = il_slots + 1
    il_competitive = il_competitive + tonumber(competitive)
  end
end
-- then write
redis.call('SET', seen, 1, 'EX', SEEN_TTL)
local skey = p .. K_SEARCH .. sid
redis.call('HSET', skey, '_user', user)
if items ~= '' then redis.call('HSET', skey, '_items', items) end  -- the page: SEP id SEP ... id SEP
redis.call('EXPIRE', skey, SEARCH_TTL)
for _, step in ipairs(plan) do
  local exp, variant, ukey, first, raw, v = step[1], step[2], step[3], step[4], step[5], step[6]
  local stats = p .. K_STATS .. exp
  redis.call('HSET', skey, exp, variant)
  local unit_segs = step[12]
  if not first then
    -- the user's segments in this phase: this search's (the shopper's from their history)
    unit_segs = string.gsub(segs, '=%*', pre_p > 0 and '=returning' or '=new')
    redis.call('HSET', ukey, 'variant', variant)
    if unit_segs ~= '' then redis.call('HSET', ukey, 'segs', unit_segs) end
    for _, arm in ipairs(arms_of(variant, unit_segs)) do
      redis.call('HINCRBY', stats, arm .. ':' .. SUM_USERS, 1)
    end
    apply(stats, arms_of(variant, unit_segs), ukey, raw, v,
      increments('first_exposure', v, 0, false, 0, pre_p, pre_r))
    first = variant
  end
  local t0, t1, key, indexed = step[7], step[8], step[9], step[10]
  local fields = {}
  if ts > 0 and (not t0 or ts < t0) then fields[#fields + 1] = 't0' fields[#fields + 1] = ARGV[6] end
  if ts > 0 and (not t1 or ts > t1) then fields[#fields + 1] = 't1' fields[#fields + 1] = ARGV[6] end
  if step[11] then
    fields[#fields + 1] = 'xr'
    fields[#fields + 1] = math.floor(ts / 86400)
    renew = true
  end
  if #fields > 0 then redis.call('HSET', ukey, unpack(fields)) end
  apply(stats, arms_of(first, unit_segs), ukey, raw, v,
    increments('exposure', v, 0, false, 0, pre_p, pre_r))
  -- the exposure index names the user's latest phase of each experiment (a late exposure
  -- of an earlier phase does not move it back)
  if indexed and (indexed == '' or phase(exp) >= phase(indexed)) then
    redis.call('HSET', xkey, key, exp)
  end
end
if renew then redis.call('EXPIRE', xkey, EXPOSED_TTL) end
if il_exp then
  redis.call('HSET', skey, '_il:' .. il_exp, il_meta)
  local ilkey = p .. K_IL .. il_exp
  redis.call('HINCRBY', ilkey, 'searches', 1)
  redis.call('HINCRBY', ilkey, 'slots', il_slots)
  redis.call('HINCRBY', ilkey, 'competitive', il_competitive)
  if not il_settled then  -- the user's last activity, for settling (SETTLE_LUA)
    redis.call('ZADD', ilkey .. ':active', now(), user)
  end
end
return APPLIED
"""

# KEYS[1]: the user's shard tag. ARGV: event_id, search_id ('' for a purchase at checkout),
# type, value, item_id, position, user_id, the cap on events of one type per search, the cap on
# a user's purchases per day, the event's time (unix s), and the running experiments'
# attribution windows ("key=seconds,...": read for a purchase at checkout only).
_OUTCOME_LUA = """
local p = KEYS[1]
local eid, sid, kind = ARGV[1], ARGV[2], ARGV[3]
local value = tonumber(ARGV[4])
local item = ARGV[5] or ''
local position = tonumber(ARGV[6] or '0')
local claimed = ARGV[7] or ''
local cap_search, cap_day = tonumber(ARGV[8]), tonumber(ARGV[9])
if cap_search == nil or cap_day == nil then return INVALID end
if position == nil or position < 0 or position ~= math.floor(position) then return INVALID end
local function now() local t = redis.call('TIME') return tonumber(t[1]) + tonumber(t[2]) / 1e6 end
local function sign(x) if x > 0 then return 1 elseif x < 0 then return -1 else return 0 end end
if kind ~= 'click' and kind ~= 'add_to_cart' and kind ~= 'purchase' then return INVALID end
if value == nil or value ~= value or value < 0 then return INVALID end
local cents = math.floor(value * 100 + 0.5)
if cents > MAX_CENTS then return INVALID end
local checkout = sid == ''
local seen, skey, user
local fields, own = {}, {}
local exps = {}  -- the experiment phases (stats ids) the event counts for
local stale = {}  -- checkout: index entries of concluded experiments whose units are gone
if checkout then
  -- A purchase at checkout names no search: it counts, in each running experiment, for the
  -- user's arm in the phase of their latest exposure, if that exposure is at most the
  -- experiment's attribution window before the purchase (and not after it). When later
  -- searches of the user were applied first, the phase's first exposure stands in for it.
  if kind ~= 'purchase' or claimed == '' then return INVALID end
  local ts = tonumber(ARGV[10] or '')
  if ts == nil or ts ~= ts then return INVALID end
  user = claimed
  seen = p .. K_SEEN .. ':' .. #user .. ':' .. user .. ':' .. eid
  if redis.call('EXISTS', seen) == 1 then return DUPLICATE end
  local open = {}
  for key, window in string.gmatch(ARGV[11] or '', '([^,=]+)=(%d+)') do
    open[key] = tonumber(window)
  end
  local index = redis.call('HGETALL', p .. K_EXPOSED .. user)
  for i = 1, #index, 2 do
    local exp, window = index[i + 1], open[index[i]]
    local unit = redis.call('HMGET', p .. K_UNIT .. exp .. ':' .. user, 'variant', 't0', 't1')
    local first, last = tonumber(unit[2] or ''), tonumber(unit[3] or '')
    if window and unit[1] and first and last then
      local at
      if last <= ts then at = last elseif first <= ts then at = first end
      if at and ts - at <= window then exps[#exps + 1] = exp end
    elseif not window and not unit[1] then
      stale[#stale + 1] = index[i]  -- a concluded experiment whose user keys have expired
    end
  end
  -- Covered by no window yet: the user's exposure may still be on its way (gateways flush on
  -- their own, and the worker reads exposures and outcomes side by side). Changed nothing; the
  -- consumer holds it and tries again, and its last try (ARGV[12] = '1') settles it.
  if #exps == 0 and (ARGV[12] or '') ~= '1' then return NO_EXPOSURE end
else
  seen = p .. K_SEEN .. sid .. ':' .. eid
  if redis.call('EXISTS', seen) == 1 then return DUPLICATE end
  skey = p .. K_SEARCH .. sid
  fields = redis.call('HGETALL', skey)
  if #fields == 0 then return NO_EXPOSURE end
  for i = 1, #fields, 2 do
    own[fields[i]] = fields[i + 1]
    if fields[i] == '_user' then user = fields[i + 1] end
    if string.sub(fields[i], 1, 1) ~= '_' then exps[#exps + 1] = fields[i] end
  end
  if not user then return INVALID end
  if claimed ~= user then return WRONG_USER end
  if (kind == 'click' or kind == 'add_to_cart') and own['_items']
      and not string.find(own['_items'], string.sub(own['_items'], 1, 1) .. item
                          .. string.sub(own['_items'], 1, 1), 1, true) then
    return NOT_ON_PAGE
  end
end
-- What one user can weigh: events of a type per search, purchases per (Redis's) day. An event
-- past a cap is de-duplicated as usual and counted as capped in each experiment, nothing else.
local akey = p .. K_ACTIVITY .. user
local day, purchases_today = 0, 0
local capped = not checkout and tonumber(own['_n:' .. kind] or '0') >= cap_search
if kind == 'purchase' then
  day = math.floor(tonumber(redis.call('TIME')[1]) / 86400)
  local a = redis.call('HMGET', akey, 'pday', 'pn')
  if tonumber(a[1] or '-1') == day then purchases_today = tonumber(a[2] or '0') end
  if purchases_today >= cap_day then capped = true end
end
if capped then
  redis.call('SET', seen, 1, 'EX', SEEN_TTL)
  for _, exp in ipairs(exps) do
    local variant = redis.call('HGET', p .. K_UNIT .. exp .. ':' .. user, 'variant')
    if variant then redis.call('HINCRBY', p .. K_STATS .. exp, variant .. ':' .. SUM_CAPPED, 1) end
  end
  return CAPPED
end
-- read and check everything first
local plan = {}
-- Interleaved pages: the event counts for the team whose slot shows its item; an event of
-- the page's credit type may change the search's verdict in each pair with that team.
local il_plan = {}
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 4) == '_il:' then
    local exp = string.sub(fields[i], 5)
    local teams, credit, items = string.match(fields[i + 1], '^(%d+)|([%a_]+)|(.*)$')
    teams = tonumber(teams)
    local team
    for shown, t in string.gmatch(items, '(%d+):(%d+):[01]') do
      if shown == item then team = tonumber(t) break end
    end
    if team then
      local step = {ilkey = p .. K_IL .. exp, team = team}
      step.settled = redis.call('HGET', p .. K_UNIT .. exp .. ':' .. user, 'settled')
      if kind == credit then
        local ukey = p .. K_UNIT .. exp .. ':' .. user
        local before = {}
        for t = 1, teams do before[t] = 0 end
        local t = 1
        for c in string.gmatch(own['_ic:' .. exp] or '', '%d+') do
          before[t] = tonumber(c)
          t = t + 1
        end
        local after = {}
        for t = 1, teams do after[t] = before[t] end
        after[team + 1] = after[team + 1] + 1
        step.ukey, step.field, step.counts = ukey, '_ic:' .. exp, table.concat(after, ',')
        step.pairs = {}
        for a = 0, teams - 2 do
          for b = a + 1, teams - 1 do
            if a == team or b == team then
              local pair = a .. '-' .. b
              step.pairs[#step.pairs + 1] = {
                pair = pair,
                old = sign(before[a + 1] - before[b + 1]),
                new = sign(after[a + 1] - after[b + 1]),
                first = before[a + 1] + before[b + 1] == 0,
                net = tonumber(redis.call('HGET', ukey, 'pw:' .. pair) or '0'),
                verdicts = tonumber(redis.call('HGET', ukey, 'pv:' .. pair) or '0'),
              }
            end
          end
        end
      end
      il_plan[#il_plan + 1] = step
    end
  end
end
local first_click = kind == 'click' and not own['_clicked']
for _, exp in ipairs(exps) do
  local ukey = p .. K_UNIT .. exp .. ':' .. user
  local stats = p .. K_STATS .. exp
  local unit = redis.call('HMGET', ukey, 'variant', 'segs')
  local variant = unit[1]
  if not variant then return INVALID end
  local raw, v = unit_values(ukey)
  -- how this event moves the user's values (gateway.catalogue: their update rules)
  local d = increments(kind, v, position, first_click, cents, 0, 0)
  if not guard_ok(stats, variant, v, d) then return OVERFLOW end
  plan[#plan + 1] = {
    ukey = ukey, stats = stats, arms = arms_of(variant, unit[2]), raw = raw, v = v, d = d,
  }
end
-- then write
redis.call('SET', seen, 1, 'EX', SEEN_TTL)
if checkout then
  if #stale > 0 then redis.call('HDEL', p .. K_EXPOSED .. user, unpack(stale)) end
else
  redis.call('HINCRBY', skey, '_n:' .. kind, 1)
end
if kind == 'click' and not own['_clicked'] then redis.call('HSET', skey, '_clicked', 1) end
if kind == 'purchase' then
  redis.call('HSET', akey, 'pday', day, 'pn', purchases_today + 1)
  redis.call('HINCRBY', akey, 'purchases', 1)
  redis.call('HINCRBY', akey, 'revenue_cents', cents)
  redis.call('EXPIRE', akey, ACTIVITY_TTL)
end
for _, step in ipairs(plan) do
  apply(step.stats, step.arms, step.ukey, step.raw, step.v, step.d)
end
for _, step in ipairs(il_plan) do
  local ilkey = step.ilkey
  redis.call('HINCRBY', ilkey, 'team:' .. step.team .. ':' .. kind, 1)
  if not step.settled then redis.call('ZADD', ilkey .. ':active', now(), user) end
  if step.pairs then
    redis.call('HSET', skey, step.field, step.counts)
    for _, q in ipairs(step.pairs) do
      local pair = q.pair
      if q.first then  -- the search's first credited event for either team of the pair
        redis.call('HSET', step.ukey, 'pv:' .. pair, q.verdicts + 1)
        redis.call('HINCRBY', ilkey, pair .. ':verdict_searches', 1)
        if q.verdicts == 0 then redis.call('HINCRBY', ilkey, pair .. ':users', 1) end
      end
      if q.new ~= q.old then
        if q.old ~= 0 then redis.call('HINCRBY', ilkey, pair .. (q.old > 0 and ':won' or ':lost'), -1) end
        if q.new ~= 0 then redis.call('HINCRBY', ilkey, pair .. (q.new > 0 and ':won' or ':lost'), 1) end
        local net = q.net + q.new - q.old
        redis.call('HSET', step.ukey, 'pw:' .. pair, net)
      end
    end
  end
end
if checkout and #plan == 0 then return UNATTRIBUTED end
return APPLIED
"""


# A user's vote in the sign test is cast once their searches are over: once they have been
# inactive in the experiment for settle_s (Redis's clock), their net verdicts in each pair
# count as a positive or negative user, once, and their later activity is ignored. Under the
# null hypothesis each settled user's sign is a fair coin whatever came before (team draft's
# labels are fresh coin flips, and settling depends on time, not on labels), so the sign
# test is exact; counting users' signs as they stand would not be (a later search can move a
# user back, and the mixture likelihood ratio of the counts is then a submartingale).
# KEYS[1]: a shard tag. ARGV: experiment (stats id), teams, settle_s, at most this many users.
_SETTLE_LUA = """
local p = KEYS[1]
local exp, teams = ARGV[1], tonumber(ARGV[2])
local settle, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) + tonumber(t[2]) / 1e6 - settle
local ilkey = p .. K_IL .. exp
local active = ilkey .. ':active'
local users = redis.call('ZRANGEBYSCORE', active, '-inf', cutoff, 'LIMIT', 0, limit)
for _, user in ipairs(users) do
  local ukey = p .. K_UNIT .. exp .. ':' .. user
  for a = 0, teams - 2 do
    for b = a + 1, teams - 1 do
      local pair = a .. '-' .. b
      local net = tonumber(redis.call('HGET', ukey, 'pw:' .. pair) or '0')
      if net > 0 then redis.call('HINCRBY', ilkey, pair .. ':pos', 1) end
      if net < 0 then redis.call('HINCRBY', ilkey, pair .. ':neg', 1) end
    end
  end
  redis.call('HSET', ukey, 'settled', 1)
  redis.call('ZREM', active, user)
  redis.call('HINCRBY', ilkey, 'settled', 1)
end
return #users
"""


def _lua(
    script: str,
    seen_ttl_s: int = SEEN_TTL_S,
    search_ttl_s: int = SEARCH_TTL_S,
    catalogue: Catalogue = CATALOGUE,
) -> str:
    constants = {
        "SEEN_TTL": seen_ttl_s,
        "SEARCH_TTL": search_ttl_s,
        "APPLIED": APPLIED,
        "CAPPED": CAPPED,
        "UNATTRIBUTED": UNATTRIBUTED,
        # a day more than the longest window: the index's time to live is renewed daily
        "EXPOSED_TTL": MAX_ATTRIBUTION_WINDOW_S + 86400,
        "WRONG_USER": WRONG_USER,
        "NOT_ON_PAGE": NOT_ON_PAGE,
        "DUPLICATE": DUPLICATE,
        "NO_EXPOSURE": NO_EXPOSURE,
        "INVALID": INVALID,
        "OVERFLOW": OVERFLOW,
        "MAX_CENTS": MAX_PURCHASE_CENTS,
        "MAX_SUM": MAX_SUM,
        "CAP": USER_REVENUE_CAP_CENTS,
        "ACTIVITY_TTL": ACTIVITY_TTL_S,
        "PRE_P_CAP": PRE_PURCHASES_CAP,
        "PRE_R_CAP": PRE_REVENUE_CAP,
        "MAX_TEAMS": MAX_TEAMS,
        "SCALE": CLICK_METRIC_SCALE,
        "DCG_K": DCG_K,
    }
    body = re.sub(
        r"\b[A-Z_]{3,}\b",
        lambda m: str(constants.get(m.group(0), m.group(0))),
        lua_prelude(catalogue) + script,
    )
    return lua_key_constants() + body


@dataclass(frozen=True)
class EventCaps:
    """What one user can weigh in the statistics, so that one forged or bot user cannot swing
    a test: events of each type per search, and purchases per day (Redis's clock, UTC days).
    An event past a cap is not counted; it is counted as ``capped`` for its arm."""

    per_search: int = 20
    purchases_per_day: int = 20


@dataclass(frozen=True)
class EventTtls:
    """How long the worker keeps what joins and de-duplicates events: an event id (a replay
    or retry later than ``seen_s`` would count again) and a search (an outcome arriving later
    than ``search_s`` after its search is an orphan). Redis memory in steady state is about
    the traffic of these windows."""

    seen_s: int = SEEN_TTL_S
    search_s: int = SEARCH_TTL_S

    def exposure_lua(self, catalogue: Catalogue = CATALOGUE) -> str:
        return _lua(_EXPOSURE_LUA, self.seen_s, self.search_s, catalogue)

    def outcome_lua(self, catalogue: Catalogue = CATALOGUE) -> str:
        return _lua(_OUTCOME_LUA, self.seen_s, self.search_s, catalogue)


SETTLE_LUA: Final = _lua(_SETTLE_LUA)
