// The abgate dashboard: a page over the admin API. Every read and action is an API call with
// the token the person signed in with; what the page offers follows the token's role. Text
// from the API is only ever set as textContent; the one inserted markup is the chart's SVG,
// which the gateway draws (gateway/dashboard/chart.py) with every string escaped.
"use strict";

const ROLES = { viewer: 1, experimenter: 2, admin: 3 };
// Production in a deployment that has none yet (its searches answer 503 until one is set).
const NO_PRODUCTION = "none yet: register a version and set it (Models)";
const state = { token: sessionStorage.getItem("abgate-token") || "", who: null, timer: null };
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const e = data && data.error ? data.error : { message: String(data) };
    const where = e.where ? ` (${e.where})` : "";
    const err = new Error(`${response.status}: ${e.message}${where}`);
    err.status = response.status;
    throw err;
  }
  return data;
}

const may = (role) => state.who && ROLES[state.who.role] >= ROLES[role];
const pct = (v) => (v === null || v === undefined ? "∞" : `${(v * 100).toFixed(2)}%`);
const num = (v, d = 4) => (v === null || v === undefined ? "–" : Number(v).toPrecision(d));
const when = (ts) => (ts ? new Date(ts * 1000).toLocaleString() : "–");

// A duration as a person reads it: "45 s", "12 min 5 s", "3 h 20 min", "2 d 4 h".
function duration(seconds) {
  let rest = Math.max(0, Math.round(seconds));
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]]) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n || parts.length) parts.push([n, unit]);
  }
  const [first, second] = parts;
  if (!first) return "0 s";
  return second && second[0] ? `${first.join(" ")} ${second.join(" ")}` : first.join(" ");
}

function table(headers, rows, attrs = {}) {
  return el("table", attrs,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

// A page drawn again in place (its 3 s refresh, or after an action) keeps what the person
// typed or chose in its fields, where they were typing, and the last action's result.
function show(...nodes) {
  const view = $("#view");
  const same = view.dataset.page === location.hash;
  const kept = same ? [...view.querySelectorAll("input[id], select[id]")]
    .filter((f) => f.type !== "number" || f.value !== f.defaultValue)
    .map((f) => [f.id, f.value]) : [];
  const focused = same && document.activeElement && view.contains(document.activeElement)
    ? document.activeElement.id : "";
  const result = same && $("#action-result") ? $("#action-result").cloneNode(true) : null;
  view.replaceChildren(...nodes);
  view.dataset.page = location.hash;
  for (const [id, value] of kept) {
    const field = document.getElementById(id);
    if (field && (field.tagName !== "SELECT" || [...field.options].some((o) => o.value === value))) field.value = value;
  }
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  const slot = $("#action-result");
  if (result && slot && !slot.textContent) slot.replaceWith(result);
}

function message(text, ok) {
  const node = $("#action-result");
  if (node) { node.textContent = text; node.className = ok ? "ok" : "error"; }
}

async function act(method, path, body, after) {
  try {
    const answer = await api(method, path, body);
    // A change the approval policy holds is answered 202 with its request: nothing changed yet.
    const held = answer && answer.approval && answer.approval.status === "pending";
    message(held ? `${method} ${path}: not applied yet: it waits for another admin's approval `
      + `(${answer.approval.id}, see Approvals)` : `${method} ${path}: done`, true);
    const reason = $("#reason");
    if (reason) reason.value = "";  // said for this action: the next one needs its own
    if (after) await after();
  } catch (e) {
    message(e.message, false);
  }
}

// The reason field of a page's actions: what is typed there is sent as the action's reason
// (and lands in the audit trail). The API says which actions require one; the page asks for
// it before sending those.
function reasonInput(placeholder = "reason (audited)") {
  return el("input", { id: "reason", class: "reason", placeholder, size: 40 });
}

// An action taking its reason from `input`: `required` ones are not sent without one.
function reasoned(input, required, method, path, body, after) {
  return () => {
    const reason = input.value.trim();
    if (required && !reason) {
      message(`Say why first: ${method} ${path} needs a reason (it goes in the audit trail).`, false);
      input.focus();
      return undefined;
    }
    return act(method, path, reason ? { ...body, reason } : body, after);
  };
}

// --- views -------------------------------------------------------------------------------

async function experimentsView() {
  const data = await api("GET", "/v1/experiments");
  const rows = data.experiments.map((e) => el("tr", { "data-key": e.key },
    el("td", {}, el("a", { href: `#/experiments/${encodeURIComponent(e.key)}` }, e.key)),
    el("td", {}, e.kind || "ab"),
    el("td", {}, el("span", { class: `badge ${e.status}` }, e.status)),
    el("td", {}, e.outcome || ""),
    el("td", { class: "num" }, e.coverage),
    el("td", {}, e.variants.map((v) => `${v.name}=${v.model_version} (${v.weight})`).join(", ")),
  ));
  show(
    el("h1", {}, "Experiments"),
    el("p", {}, `Production: `, el("code", {}, data.production ?? NO_PRODUCTION),
      data.frozen ? el("span", { class: "badge fail" }, " frozen") : "",
      ` · config version ${data.version}`),
    table(["key", "kind", "status", "outcome", "coverage", "variants"], rows, { id: "experiments" }),
  );
}

// One label per arm: its name, the version it serves where that differs from the name, and
// "(control)" on the first arm unless its name already says so.
function armLabel(variant, index) {
  const label = variant.model_version === variant.name ? variant.name
    : `${variant.name} · ${variant.model_version}`;
  return index === 0 && variant.name !== "control" ? `${label} (control)` : label;
}

function armsTable(exp, evaluation) {
  const arms = {};
  for (const a of (evaluation && evaluation.arms) || []) arms[a.variant] = a;
  const units = (evaluation && evaluation.units) || {};
  const rows = exp.variants.map((v, i) => {
    const a = arms[v.name];
    return el("tr", { "data-variant": v.name },
      el("td", { class: "arm" }, armLabel(v, i)),
      el("td", { class: "num" }, v.weight),
      el("td", { class: "num users" }, units[v.name] ?? (exp.stats && exp.stats[v.name] ? exp.stats[v.name].users : 0)),
      el("td", { class: "num" }, a ? (a.scale === "relative" ? pct(a.estimate) : num(a.estimate)) : "–"),
      el("td", { class: "num" }, a ? `[${a.scale === "relative" ? pct(a.ci_low) : num(a.ci_low)}, ${a.scale === "relative" ? pct(a.ci_high) : num(a.ci_high)}]` : "–"),
      el("td", { class: "num" }, a ? num(a.p_value, 3) : "–"),
      el("td", {}, a && a.significant ? el("span", { class: "sig" }, "significant") : ""),
    );
  });
  const effect = exp.interleaving ? "preference over the control" : "lift";
  return table(["arm", "weight", "users", effect, "always-valid interval", "p", ""], rows, { id: "arms" });
}

function interleavingPanel(evaluation) {
  const report = evaluation && evaluation.interleaving;
  if (!report) return "";
  const rows = report.pairs.map((p) => el("tr", { "data-pair": `${p.a}/${p.b}` },
    el("td", {}, `${p.a} vs ${p.b}`),
    el("td", { class: "num" }, p.positive), el("td", { class: "num" }, p.negative),
    el("td", { class: "num" }, `${p.won} – ${p.lost}`),
    el("td", { class: "num" }, num(p.p_adjusted, 3)),
    el("td", {}, p.significant ? el("span", { class: "sig" }, "significant") : "")));
  return el("div", { id: "interleaving" },
    el("h2", {}, "Interleaving"),
    el("p", { id: "order" }, "Most preferred first: ", el("b", {}, report.order.join(" > "))),
    el("p", { id: "competitive" }, `${report.searches} interleaved searches · ${report.settled} users settled · ${report.slots} slots · competitive `,
      report.competitive_share === null ? "–" : pct(report.competitive_share)),
    table(["pair", "users preferring the first", "users preferring the second", "searches won – lost",
      "p (sign test, Holm)", ""], rows, { id: "pairs" }));
}

function guardrailList(evaluation) {
  const items = [];
  for (const a of (evaluation && evaluation.arms) || []) {
    for (const g of a.guardrails || []) {
      items.push(el("li", {}, `${a.variant} · ${g.metric}: ${pct(g.estimate)} (margin ${g.margin}) `,
        el("span", { class: `badge ${g.breached ? "fail" : "pass"}` }, g.breached ? "breached" : "holds")));
    }
  }
  return items.length ? el("ul", { id: "guardrails" }, items) : el("p", {}, "No guardrails.");
}

// --- results: every metric of every arm (the evaluation's "metrics"), time to decision, health

// Numbers as the CLI writes them (gateway/cli_results.py): a share as a percentage with one
// decimal, currency with two, anything else with three significant figures; counts grouped.
const finite = (v) => typeof v === "number" && Number.isFinite(v);
const grouped = (n) => (finite(n) ? String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, " ") : "–");
function valueText(v, unit) {
  if (!finite(v)) return "–";
  if (unit === "share") return `${(v * 100).toFixed(1)} %`;
  if (unit === "currency") return v.toFixed(2);
  return Number(v.toPrecision(3)).toString();
}
// A lift, or an interval end, in the lift's scale: relative in %, a share's absolute in
// percentage points, else in the metric's unit; an end not finite yet is ∞.
function signed(v, relative, unit, end) {
  if (v === null || v === undefined) return end < 0 ? "−∞" : "∞";
  if (!finite(v)) return "–";
  const sign = v >= 0 ? "+" : "−";
  const a = Math.abs(v);
  if (relative || unit === "share") return `${sign}${(a * 100).toFixed(1)}`;
  if (unit === "currency") return `${sign}${a.toFixed(2)}`;
  return `${sign}${Number(a.toPrecision(3))}`;
}
const liftUnit = (relative, unit) => (relative ? " %" : unit === "share" ? " pp" : "");
const pText = (p) => (!finite(p) ? "–" : p < 0.001 ? "<0.001" : p.toFixed(3));

function testText(lift, unit) {
  const relative = lift.scale !== "absolute";
  if (!finite(lift.margin)) return lift.test || "–";
  const margin = relative || unit === "share" ? `${Number((lift.margin * 100).toPrecision(3))}${relative ? " %" : " pp"}` : lift.margin;
  return `${lift.test} (margin ${margin})`;
}

function resultsTable(evaluation) {
  const metrics = (evaluation && evaluation.metrics) || [];
  if (!metrics.length) return "";
  const rows = [];
  for (const m of metrics) {
    const lifts = {};
    for (const l of m.lifts || []) lifts[l.variant] = l;
    const lower = m.direction === "lower";
    (m.arms || []).forEach((a, i) => {
      const l = lifts[a.variant];
      const relative = l && l.scale !== "absolute";
      const suffix = l ? liftUnit(relative, m.unit) : "";
      rows.push(el("tr", { "data-metric": m.metric, "data-variant": a.variant, class: i === 0 ? "first" : "" },
        el("td", { class: "metric" }, i === 0 ? m.label || m.metric : ""),
        el("td", { class: "role" }, i === 0 ? el("span", { class: `badge role-${m.role}` }, m.role) : ""),
        el("td", { class: `direction ${lower ? "lower" : "higher"}` }, i === 0 ? (lower ? "↓ lower is better" : "↑ higher is better") : ""),
        el("td", { class: "arm" }, a.variant),
        el("td", { class: "num value" }, valueText(a.value, m.unit)),
        el("td", { class: "num n" }, grouped(a.n)),
        el("td", { class: "num lift" }, l && finite(l.lift) ? `${signed(l.lift, relative, m.unit, 0)}${suffix}` : "–"),
        el("td", { class: "num interval" }, l && finite(l.lift) ? `[${signed(l.ci_low, relative, m.unit, -1)}, ${signed(l.ci_high, relative, m.unit, 1)}]${suffix}` : "–"),
        el("td", { class: "num p" }, l ? pText(l.p_value) : "–"),
        el("td", { class: "test" }, l ? testText(l, m.unit) : "–"),
        el("td", { class: "significance" }, l && l.harm ? el("span", { class: "harm" }, "✗ harm")
          : l && l.significant ? el("span", { class: "sig" }, "✓ significant") : ""),
      ));
    });
  }
  return el("div", {}, el("h2", {}, "Results"),
    table(["metric", "role", "better", "arm", "value", "n", "lift", "always-valid interval", "p", "test", ""], rows, { id: "results" }));
}

// --- the search funnel (the evaluation's "funnel"): search → click → add-to-cart → purchase

// What a step's conversion is over: the step it starts from, counted (as the CLI names it).
const FUNNEL_OVER = { search: "searches", click: "clicks", "add-to-cart": "add-to-carts" };
const funnelOver = (step) => {
  const start = String(step).split("→")[0].trim();
  return FUNNEL_OVER[start] || `${start}s`;
};

// A lift and its interval cells, as the results table writes them (a conversion is a share).
function liftCells(l, unit, variant) {
  const relative = l && l.scale !== "absolute";
  const suffix = l ? liftUnit(relative, unit) : "";
  const defined = l && finite(l.lift);
  return [
    el("td", { class: "num lift", "data-variant": variant }, defined ? `${signed(l.lift, relative, unit, 0)}${suffix}` : "–"),
    el("td", { class: "num interval", "data-variant": variant }, defined ? `[${signed(l.ci_low, relative, unit, -1)}, ${signed(l.ci_high, relative, unit, 1)}]${suffix}` : "–"),
    el("td", { class: "significance", "data-variant": variant }, l && l.harm ? el("span", { class: "harm" }, "✗ harm")
      : l && l.significant ? el("span", { class: "sig" }, "✓ significant") : ""),
  ];
}

// One row per step: each arm's conversion from the step before (a bar, the share, what it is
// over), then each treatment's lift with its two-sided always-valid interval.
function funnelSection(evaluation) {
  const steps = (evaluation && evaluation.funnel) || [];
  if (!steps.length) return "";
  const arms = (steps[0].arms || []).map((a) => a.variant);
  const treatments = arms.slice(1);
  const rows = steps.map((s) => {
    const byArm = {};
    for (const a of s.arms || []) byArm[a.variant] = a;
    const lifts = {};
    for (const l of s.lifts || []) lifts[l.variant] = l;
    const top = Math.max(1, ...(s.arms || []).map((a) => (finite(a.value) ? a.value : 0)));
    return el("tr", { "data-step": s.step, "data-metric": s.metric },
      el("td", { class: "step" }, s.step),
      arms.map((v) => {
        const a = byArm[v] || {};
        return el("td", { class: "conversion", "data-variant": v },
          finite(a.value) ? el("meter", { class: "bar", min: "0", max: String(top), value: String(a.value) }) : "",
          " ", el("span", { class: "value" }, valueText(a.value, "share")),
          el("small", { class: "over" }, ` of ${grouped(a.n)} ${funnelOver(s.step)}`));
      }),
      treatments.flatMap((v) => liftCells(lifts[v], "share", v)));
  });
  const headers = ["step", ...arms.map((v) => `${v}: conversion`),
    ...treatments.flatMap((v) => [`${v}: lift`, "always-valid interval (two-sided)", ""])];
  return el("div", { id: "funnel" }, el("h2", {}, "Funnel"),
    el("p", {}, el("small", {}, "Each step's conversion from the one before, per arm; a treatment's lift over the control.")),
    table(headers, rows, { id: "funnel-table" }));
}

// Users still needed before the success test can conclude at the planned effect, and the days
// that takes at the current rate; or why it is not known.
function timeToDecision(exp, evaluation) {
  if (!evaluation || (exp.kind && exp.kind !== "ab")) return "";
  const t = evaluation.time_to_decision;
  if (!t || !finite(t.units_needed)) return el("p", { id: "time-to-decision" }, el("b", {}, "Time to decision: "), "not known yet (no test planned: too few users so far).");
  const planned = ` (${grouped(t.units)} of about ${grouped(t.units_to_conclude || t.tuning_units)} to conclude${finite(t.effect) ? ` at a ${Number((t.effect * 100).toPrecision(3))} % effect` : ""})`;
  if (finite(t.units_needed) && t.units_needed <= 0) {
    return el("p", { id: "time-to-decision" }, el("b", {}, "Time to decision: "), `enough users for the planned test${planned}.`);
  }
  return el("p", { id: "time-to-decision" }, el("b", {}, "Time to decision: "), "about ",
    el("span", { class: "units-needed" }, grouped(t.units_needed)), ` more users needed${planned}`,
    finite(t.days_left) && finite(t.units_per_day)
      ? [", ~", el("span", { class: "days-left" }, Number(t.days_left.toPrecision(2)).toString()), ` days at the current rate (${grouped(t.units_per_day)} users a day).`]
      : "; days unknown (no traffic rate yet).");
}

// Each arm's requests, errors, scoring time, and a treatment's latency test against control.
function opsTable(evaluation) {
  const ops = (evaluation && evaluation.ops) || [];
  if (!ops.length) return "";
  const ms = (v) => (finite(v) ? v.toFixed(1) : "–");
  const rows = ops.map((o) => {
    const t = o.latency;
    const test = t && finite(t.quantile) ? [`p${Number((t.quantile * 100).toPrecision(3))} ×${num(t.ratio, 3)} [${num(t.ci_low, 3)}, ${t.ci_high === null ? "∞" : num(t.ci_high, 3)}]${finite(t.margin) ? ` margin ×${num(t.margin, 3)}` : ""} `,
      el("span", { class: `badge ${t.breached ? "fail" : "pass"}` }, t.breached ? "breached" : "holds")] : "–";
    return el("tr", { "data-variant": o.variant },
      el("td", {}, o.variant), el("td", { class: "num requests" }, grouped(o.requests)),
      el("td", { class: "num errors" }, grouped(o.errors)),
      el("td", { class: "num error-rate" }, finite(o.error_rate) ? `${(o.error_rate * 100).toFixed(2)} %` : "–"),
      el("td", { class: "num p50" }, ms(o.p50_ms)), el("td", { class: "num p99" }, ms(o.p99_ms)),
      el("td", { class: "latency-test" }, test));
  });
  return el("div", {}, el("h3", {}, "Operational health"),
    table(["arm", "requests", "errors", "error rate", "p50 ms", "p99 ms", "latency test"], rows, { id: "ops" }));
}

// --- alerts and segments (the evaluation's "alerts"; GET /v1/experiments/{key}/segments) -----

const ALERT_KINDS = { segment: "segment", segment_srm: "segment SRM", pre_exposure_bias: "pre-exposure bias",
  event_health: "event health" };

// What the evaluation found that an experimenter should look at before acting, strong ones
// first; the ones a promotion waits for are marked. Nothing here is acted on by itself.
function alertsPanel(evaluation) {
  const alerts = [...((evaluation && evaluation.alerts) || [])]
    .sort((a, b) => (a.level !== "strong") - (b.level !== "strong") || !a.blocks - !b.blocks);
  if (!alerts.length) return "";
  return el("div", { id: "alerts", class: "panel alerts" }, el("h3", {}, `Alerts (${alerts.length})`),
    el("ul", {}, alerts.map((a) => el("li", { class: `alert ${a.level}`, "data-kind": a.kind,
      "data-dimension": a.dimension || "", "data-value": a.value || "", "data-variant": a.variant || "" },
    el("span", { class: `badge level ${a.level}` }, a.level), " ",
    el("span", { class: "kind" }, ALERT_KINDS[a.kind] || a.kind), ": ",
    el("span", { class: "message" }, a.message),
    a.blocks ? [" ", el("span", { class: "badge blocks" }, "blocks promotion")] : ""))));
}

// The level of the strongest alert on a segment (its dimension and value; its metric and
// treatment where the alert names them), or "".
function segmentAlert(alerts, s, variant) {
  const levels = (alerts || []).filter((a) => a.dimension === s.dimension && a.value === s.value
    && (!a.metric || a.metric === s.metric) && (!a.variant || a.variant === variant)).map((a) => a.level);
  return levels.includes("strong") ? "strong" : levels[0] || "";
}

// The drill-down the page shows, per experiment: the metric and dimension last chosen there.
const segmentChoice = (key) => (state.segments && state.segments[key]) || { metric: "", dimension: "" };

async function segmentsDrilldown(key, exp, evaluation) {
  if (!evaluation || (exp.kind && exp.kind !== "ab")) return null;
  const choice = segmentChoice(key);
  const query = new URLSearchParams();
  if (choice.metric) query.set("metric", choice.metric);
  if (choice.dimension) query.set("dimension", choice.dimension);
  try {
    return await api("GET", `/v1/experiments/${encodeURIComponent(key)}/segments${query.toString() ? `?${query}` : ""}`);
  } catch (e) {
    if (e.status === 401) throw e;
    return { error: e.message };
  }
}

// A dimension and a metric selector (the choice fetches the drill-down again) and one row per
// segment and treatment: users and value per arm, the lift there with its always-valid
// interval, the lift in the rest of the dimension, the p of their difference, the segment's
// SRM p, and the alert on it.
function segmentsSection(key, evaluation, drill, reload) {
  if (!drill) return "";
  const choice = segmentChoice(key);
  const choose = (field) => (ev) => {
    state.segments = { ...(state.segments || {}), [key]: { ...segmentChoice(key), [field]: ev.target.value } };
    clearTimeout(state.timer);
    reload();
  };
  const metrics = (evaluation.metrics || []).map((m) => [m.metric, m.label || m.metric]);
  const metric = drill.metric || choice.metric || evaluation.metric;
  if (metric && !metrics.some(([name]) => name === metric)) metrics.unshift([metric, metric]);
  const dimensions = [...(drill.dimensions || [])];
  if (choice.dimension && !dimensions.includes(choice.dimension)) dimensions.push(choice.dimension);
  const option = (value, label, chosen) => {
    const o = el("option", { value }, label);
    o.selected = value === chosen;
    return o;
  };
  const selectors = el("p", { class: "segment-choice" },
    el("label", { for: "segment-dimension" }, "Dimension "),
    el("select", { id: "segment-dimension", onchange: choose("dimension") },
      option("", "every dimension", choice.dimension), dimensions.map((d) => option(d, d, choice.dimension))),
    " ", el("label", { for: "segment-metric" }, "metric "),
    el("select", { id: "segment-metric", onchange: choose("metric") },
      metrics.map(([name, label]) => option(name, label, metric))));
  const heading = el("h2", {}, "Segments");
  if (drill.error) return el("div", { id: "segments" }, heading, selectors, el("p", { class: "error", id: "segments-error" }, drill.error));
  const m = (evaluation.metrics || []).find((x) => x.metric === drill.metric) || {};
  const unit = m.unit || "";
  const alerts = drill.alerts || [];
  const rows = [];
  for (const s of drill.segments || []) {
    const rest = {};
    for (const l of s.rest_lifts || []) rest[l.variant] = l;
    const users = Object.entries(s.users || {}).map(([arm, n]) => `${arm} ${grouped(n)}`).join(" · ");
    const values = (s.arms || []).map((a) => `${a.variant} ${valueText(a.value, unit)}`).join(" · ");
    for (const l of s.lifts || []) {
      const relative = l.scale !== "absolute";
      const suffix = liftUnit(relative, unit);
      const interval = (x) => (x && finite(x.lift) ? `[${signed(x.ci_low, relative, unit, -1)}, ${signed(x.ci_high, relative, unit, 1)}]${suffix}` : "–");
      const other = rest[l.variant];
      const level = segmentAlert(alerts, s, l.variant);
      rows.push(el("tr", { "data-dimension": s.dimension, "data-value": s.value, "data-variant": l.variant, class: level ? `alerted ${level}` : "" },
        el("td", { class: "segment" }, `${s.dimension} = ${s.value}`),
        el("td", { class: "num users" }, users),
        el("td", { class: "num values" }, values),
        el("td", { class: "arm" }, l.variant),
        el("td", { class: "num lift" }, finite(l.lift) ? `${signed(l.lift, relative, unit, 0)}${suffix}` : "–"),
        el("td", { class: "num interval" }, interval(l)),
        el("td", { class: "num rest" }, other && finite(other.lift) ? `${signed(other.lift, relative, unit, 0)}${suffix} ${interval(other)}` : "–"),
        el("td", { class: "num differs" }, pText((s.differs_p || {})[l.variant])),
        el("td", { class: "num srm" }, pText(s.srm_p_value)),
        el("td", { class: "alert" }, level ? el("span", { class: `badge level ${level}` }, `⚠ ${level}`) : "")));
    }
  }
  return el("div", { id: "segments" }, heading, selectors,
    rows.length ? table(["segment", "users", "value", "arm", "lift", "always-valid interval", "rest of the dimension",
      "differs p", "SRM p", "alert"], rows, { id: "segment-table" })
      : el("p", { id: "segments-empty" }, (drill.dimensions || []).length
        ? "No segment has users yet."
        : "No segments in this phase: the deployment's dimensions (abgate segments show) count the users first exposed after they were declared (abgate segments set)."));
}

function actionsPanel(exp, reload) {
  if (!may("experimenter")) return el("p", {}, el("small", {}, `Signed in as a viewer: no actions.`));
  const path = `/v1/experiments/${encodeURIComponent(exp.key)}`;
  const reason = reasonInput("reason (audited; required to pause, resume, stop, promote)");
  const coverage = el("input", { id: "coverage", type: "number", step: "0.05", min: "0", max: "1", value: exp.coverage });
  const button = (id, label, required, method, verb, body = {}) => el("button",
    { id, onclick: reasoned(reason, required, method, `${path}${verb}`, body, reload) }, label);
  const buttons = [];
  if (exp.status === "draft") buttons.push(button("start", "Start", false, "POST", "/start"));
  if (exp.status === "running") buttons.push(button("pause", "Pause", true, "POST", "/pause"));
  if (exp.status === "paused") buttons.push(button("resume", "Resume", true, "POST", "/resume"));
  if (exp.status === "running" || exp.status === "paused") {
    buttons.push(button("stop", "Stop", true, "POST", "/stop"));
    if (may("admin")) buttons.push(button("promote", "Promote the treatment", true, "POST", "/promote"));
  }
  if (exp.status === "running") {
    buttons.push(coverage, el("button", { id: "ramp", onclick: () => reasoned(reason, false, "PATCH", path,
      { coverage: Number(coverage.value) }, reload)() }, "Set coverage"));
  }
  if (exp.status === "concluded") buttons.push(button("archive", "Archive", false, "POST", "/archive"));
  if (!buttons.length) return "";
  return el("div", { class: "panel actions" }, el("h3", {}, "Actions"), reason, buttons,
    el("p", { id: "action-result" }));
}

// While paused: since when, and how long it has been paused in all (the time that does not
// count toward its runtime); after a pause, the total.
function pausedNote(exp) {
  const now = Date.now() / 1000;
  const total = (exp.paused_s || 0) + (exp.paused_at ? Math.max(0, now - exp.paused_at) : 0);
  if (exp.status === "paused" && exp.paused_at) {
    return el("p", { id: "paused" }, `Paused since ${when(exp.paused_at)}: everyone gets production, `
      + `its statistics are kept. Paused ${duration(total)} in all (not counted as runtime).`);
  }
  return total > 0 ? el("p", { id: "paused" }, el("small", {}, `Paused ${duration(total)} in all (not counted as runtime).`)) : "";
}

async function experimentView(key) {
  // Draws may overlap (the 3 s refresh, a choice of segments): only the latest one is shown.
  const turn = state.draws = (state.draws || 0) + 1;
  const path = `/v1/experiments/${encodeURIComponent(key)}`;
  const subject = encodeURIComponent(`experiment:${key}`);
  const [exp, shadows, audit] = await Promise.all([
    api("GET", path), api("GET", "/v1/shadow"), api("GET", `/v1/audit?count=30&subject=${subject}`),
  ]);
  const chart = el("div", { id: "chart" }, "loading the chart …");
  const evaluation = exp.last_evaluation;
  const decision = evaluation ? evaluation.decision : null;
  const reload = () => experimentView(key);
  const drill = await segmentsDrilldown(key, exp, evaluation);
  if (turn !== state.draws) return;
  const versions = new Set(exp.variants.map((v) => v.model_version));
  const shadowRows = (shadows.shadows || []).filter((s) => versions.has(s.version)).map((s) => el("tr", {},
    el("td", {}, s.version), el("td", { class: "num" }, s.share),
    el("td", { class: "num" }, s.searches ?? "–"),
    el("td", { class: "num" }, s.overlap_at_10 !== undefined ? num(s.overlap_at_10, 3) : "–")));
  const phaseList = (exp.phases && exp.phases.length) ? exp.phases
    : [{ weights: exp.variants.map((v) => v.weight), started_at: null }];
  const phases = phaseList.map((p, i) => el("tr", {},
    el("td", {}, i), el("td", {}, (p.weights || []).join(" / ")),
    el("td", {}, p.started_at ? when(p.started_at) : "at the start")));
  const ramp = (exp.ramp || []).map((s, i) => el("tr", { class: i === exp.ramp_step ? "current" : "" },
    el("td", {}, i + 1), el("td", { class: "num" }, s.coverage), el("td", { class: "num" }, s.hold_s ?? "–"),
    el("td", {}, i === exp.ramp_step ? "← current" : "")));
  show(
    el("h1", {}, exp.key, " ", el("span", { class: `badge ${exp.status}`, id: "status" }, exp.status),
      exp.outcome && exp.outcome !== "none" ? el("span", { class: "badge", id: "outcome" }, exp.outcome) : ""),
    pausedNote(exp),
    alertsPanel(evaluation),
    el("p", {}, exp.description || "", " ", el("small", {},
      `primary metric ${exp.primary_metric} · α ${exp.alpha} · ${exp.method} · coverage ${exp.coverage} · phase ${exp.phase ?? 0}`)),
    el("h2", {}, exp.interleaving ? "Users' preference over time" : "Lift over time"),
    chart,
    armsTable(exp, evaluation),
    resultsTable(evaluation),
    funnelSection(evaluation),
    segmentsSection(key, evaluation, drill, reload),
    timeToDecision(exp, evaluation),
    opsTable(evaluation),
    interleavingPanel(evaluation),
    el("div", { class: "grid" },
      el("div", {},
        el("h3", {}, "Decision"),
        decision ? el("p", { id: "decision" }, el("b", {}, decision.action),
          decision.winner ? ` → ${decision.winner}` : "",
          decision.rule ? el("small", { id: "decision-rule" }, ` (rule: ${decision.rule})`) : "") : el("p", {}, "Not evaluated yet."),
        decision && decision.blocked_by.length ? el("p", { id: "blocked" }, "Blocked by: ", decision.blocked_by.join(", ")) : "",
        decision ? el("ul", {}, decision.reasons.map((x) => el("li", {}, x))) : "",
        el("p", { id: "srm" }, "SRM p-value: ", evaluation ? num(evaluation.srm_p_value, 3) : "–",
          evaluation && evaluation.cuped ? ` · CUPED (variance −${pct(evaluation.variance_reduction)})` : ""),
        // With every metric in the results table, the guardrails are its rows.
        evaluation && evaluation.metrics && evaluation.metrics.length ? ""
          : [el("h3", {}, "Guardrails"), guardrailList(evaluation)]),
      el("div", {},
        el("h3", {}, "Phases"), table(["phase", "weights", "started"], phases),
        ramp.length ? el("h3", {}, "Ramp") : "", ramp.length ? table(["step", "coverage", "hold s", ""], ramp) : "",
        el("h3", {}, "Shadow"), shadowRows.length ? table(["version", "share", "searches", "overlap@10"], shadowRows) : el("p", {}, "No shadow on these versions."))),
    actionsPanel(exp, reload),
    el("h3", {}, "Audit trail ", el("a", { href: `#/audit?subject=${subject}` }, el("small", {}, "(all)"))),
    table(["when", "who", "what"], (audit.entries || []).map((e) => el("tr", {},
      el("td", {}, when(e.ts)), el("td", {}, e.actor), el("td", {}, e.reason))), { id: "experiment-audit" }),
  );
  try {
    const svg = await api("GET", `${path}/chart.svg`);
    chart.innerHTML = svg;  // drawn and escaped by the gateway
  } catch (e) {
    chart.textContent = e.message;
  }
  schedule(() => experimentView(key));
}

// A version's gates as they stand: "overridden" where they failed and an admin let it take
// traffic anyway (with who and why), else the card's state; retired over either.
function gateState(m) {
  if (m.retired) return { label: "retired", badge: "retired" };
  if (m.state === "failed" && m.override) {
    const o = m.override;
    const by = o.actor ? ` by ${o.actor}${o.reason ? `: ${o.reason}` : ""}` : "";
    return { label: "overridden", badge: "overridden", note: `gates failed, overridden${by}` };
  }
  return { label: m.state, badge: { passed: "pass", failed: "fail" }[m.state] || "" };
}

async function modelsView() {
  const data = await api("GET", "/v1/models");
  const reload = () => modelsView();
  const reason = reasonInput("reason (audited; required to override gates)");
  const path = (m, verb = "") => `/v1/models/${encodeURIComponent(m.version)}${verb}`;
  const rows = data.models.map((m) => {
    const gate = gateState(m);
    const inUse = m.in_use_by || [];
    return el("tr", { "data-version": m.version },
      el("td", {}, m.version),
      el("td", {}, el("span", { class: `badge state ${gate.badge}` }, gate.label),
        gate.note ? el("div", {}, el("small", { class: "override-note" }, gate.note)) : ""),
      el("td", {}, ((m.gates && m.gates.results) || []).map((g) => el("div", { class: "gate" },
        el("span", { class: `badge ${g.passed ? "pass" : "fail"}` }, g.gate), " ", g.detail || ""))),
      el("td", { class: "in-use" }, inUse.join(", ")),
      el("td", {}, m.parent || ""),
      el("td", {}, (m.loaded_by || []).length),
      el("td", {}, m.registered_by || ""),
      el("td", {},
        // Only a version nothing uses may be retired (the API refuses the others, 409).
        may("experimenter") && !m.retired && !inUse.length
          ? el("button", { class: "retire", onclick: reasoned(reason, false, "DELETE", path(m), {}, reload) }, "Retire") : "",
        may("admin") && m.state === "failed" && !m.override && !m.retired
          ? el("button", { class: "override", onclick: reasoned(reason, true, "POST", path(m, "/override"), {}, reload) }, "Override gates") : ""),
    );
  });
  show(el("h1", {}, "Model versions"),
    may("experimenter") ? el("div", { class: "panel actions" },
      el("label", { for: "reason" }, "Why (for a retire or an override): "), reason, el("p", { id: "action-result" })) : "",
    table(["version", "state", "gates", "in use by", "parent", "loaded by", "registered by", ""], rows, { id: "models" }));
}

// The deployment's holdout (GET /v1/holdout): its baseline, share and since when, the
// production moves since it began, and per metric the holdout's and the rest's values with the
// rest's cumulative lift and its always-valid interval.
function holdoutPanel(view) {
  const heading = el("h2", {}, "Holdout");
  const h = view && view.holdout;
  if (!h) {
    return el("div", { id: "holdout", class: "panel" }, heading, el("p", { id: "holdout-none" },
      "No holdout: every user gets production (abgate holdout set VERSION --share S --reason R begins one)."));
  }
  const status = h.ended_at ? `ended ${when(h.ended_at)}` : h.ends_at ? `running, ends ${when(h.ends_at)}` : "running, no planned end";
  const about = el("p", { id: "holdout-about" }, el("span", { class: "share" }, `${Number((h.share * 100).toPrecision(3))} %`),
    " of users kept on ", el("code", { class: "version" }, h.version), " since ",
    el("span", { class: "since" }, when(h.started_at)), ` · ${status}`);
  const r = view.report;
  if (!r) return el("div", { id: "holdout", class: "panel" }, heading, about, el("p", { id: "holdout-pending" }, "No report yet: the worker makes one each pass."));
  const users = r.users || {};
  const rows = (r.metrics || []).map((m) => {
    const arms = {};
    for (const a of m.arms || []) arms[a.variant] = a;
    const lower = m.direction === "lower";
    const [change, interval, verdict] = liftCells(m.lift, m.unit, "rest");
    const arm = (name) => el("td", { class: `num ${name}`, "data-n": (arms[name] || {}).n ?? "" },
      valueText((arms[name] || {}).value, m.unit), el("small", {}, ` (n ${grouped((arms[name] || {}).n)})`));
    return el("tr", { "data-metric": m.metric },
      el("td", { class: "metric" }, m.label || m.metric),
      el("td", { class: `direction ${lower ? "lower" : "higher"}` }, lower ? "↓ lower is better" : "↑ higher is better"),
      arm("holdout"), arm("rest"),
      change, interval, el("td", { class: "num p" }, pText(m.lift && m.lift.p_value)), verdict);
  });
  const moves = (r.promotions || []).map((p) => el("tr", {},
    el("td", {}, when(p.ts)), el("td", {}, p.from || "–"), el("td", {}, p.to || "–"), el("td", {}, p.actor),
    el("td", {}, p.experiment || ""), el("td", {}, p.reason)));
  return el("div", { id: "holdout", class: "panel" }, heading, about,
    el("p", { id: "holdout-summary" }, el("b", {}, r.summary)),
    el("p", {}, el("small", { id: "holdout-users" }, `users: holdout ${grouped(users.holdout)}, rest ${grouped(users.rest)}`
      + ` · production now ${r.current ?? "none"} · ${r.method} at α ${r.alpha} (valid at every look)`)),
    table(["metric", "better", "holdout", "rest", "lift of the rest", "always-valid interval", "p", ""], rows, { id: "holdout-metrics" }),
    el("h3", {}, `Production moves since it began (${moves.length})`),
    moves.length ? table(["when", "from", "to", "who", "experiment", "why"], moves, { id: "holdout-promotions" }) : "");
}

async function productionView() {
  const [data, holdout] = await Promise.all([api("GET", "/v1/production"), api("GET", "/v1/holdout")]);
  const reload = () => productionView();
  const reason = reasonInput("reason (audited; required to roll back or freeze)");
  // Roll back to any version that was production before (default: the previous one).
  const earlier = [...new Set(data.history.flatMap((h) => [h.from, h.to]))]
    .filter((v) => v && v !== data.production);
  const to = el("select", { id: "rollback-to" }, el("option", { value: "" }, "the previous one"),
    earlier.map((v) => el("option", { value: v }, v)));
  const rollback = () => reasoned(reason, true, "POST", "/v1/production/rollback",
    to.value ? { to: to.value } : {}, reload)();
  const actions = may("admin") ? el("div", { class: "panel actions" }, el("h3", {}, "Actions"), reason,
    el("button", { id: "rollback", onclick: rollback }, "Roll back to"), to, " ",
    data.frozen
      ? el("button", { id: "unfreeze", onclick: reasoned(reason, false, "DELETE", "/v1/freeze", {}, reload) }, "Unfreeze")
      : el("button", { id: "freeze", onclick: reasoned(reason, true, "POST", "/v1/freeze", {}, reload) }, "Freeze"),
    el("p", { id: "action-result" })) : "";
  show(el("h1", {}, "Production: ", el("code", { id: "production" }, data.production ?? NO_PRODUCTION),
      data.frozen ? el("span", { class: "badge fail" }, " frozen") : ""),
    actions,
    el("h3", {}, "History"),
    table(["when", "from", "to", "who", "why", "experiment"], data.history.map((h) => el("tr", {},
      el("td", {}, when(h.ts)), el("td", {}, h.from || "–"), el("td", {}, h.to), el("td", {}, h.actor),
      el("td", {}, h.reason), el("td", {}, h.experiment || "")))),
    holdoutPanel(holdout));
}

// Changes held for a second admin: the pending ones (an admin approves or rejects another's,
// withdraws their own), then the recent decided ones.
async function approvalsView() {
  const data = await api("GET", "/v1/approvals");
  const reload = () => approvalsView();
  const reason = reasonInput("reason (audited; required to reject)");
  const path = (r, verb) => `/v1/approvals/${encodeURIComponent(r.id)}/${verb}`;
  const mine = (r) => state.who && r.requested_by === state.who.name;
  const pending = data.pending.map((r) => el("tr", { "data-id": r.id },
    el("td", {}, el("code", {}, r.id)), el("td", { class: "summary" }, r.summary),
    el("td", {}, r.requested_by), el("td", {}, when(r.requested_at)), el("td", {}, r.reason),
    el("td", {}, el("small", {}, r.rule)), el("td", {}, when(r.expires_at)),
    el("td", {},
      may("admin") && !mine(r)
        ? el("button", { class: "approve", onclick: reasoned(reason, false, "POST", path(r, "approve"), {}, reload) }, "Approve") : "",
      may("admin")
        ? el("button", { class: "reject", onclick: reasoned(reason, true, "POST", path(r, "reject"), {}, reload) }, mine(r) ? "Withdraw" : "Reject") : "")));
  const recent = data.recent.map((r) => el("tr", { "data-id": r.id },
    el("td", {}, el("code", {}, r.id)), el("td", {}, el("span", { class: `badge approval-${r.status}` }, r.status)),
    el("td", {}, r.summary), el("td", {}, r.requested_by), el("td", {}, r.decided_by || "–"),
    el("td", {}, when(r.decided_at)), el("td", {}, r.error || r.decision_reason || "")));
  show(el("h1", {}, "Approvals"),
    el("p", {}, el("small", {}, "Changes the approval policy holds for a second admin (abgate approval-policy show).")),
    may("admin") ? el("div", { class: "panel actions" }, el("label", { for: "reason" }, "Why: "), reason,
      el("p", { id: "action-result" })) : "",
    el("h3", {}, `Pending (${data.pending.length})`),
    data.pending.length ? table(["id", "what", "asked by", "asked", "why", "rule", "expires", ""], pending, { id: "approvals-pending" })
      : el("p", { id: "approvals-none" }, "Nothing waits for approval."),
    el("h3", {}, "Recent"),
    table(["id", "status", "what", "asked by", "decided by", "decided", "why"], recent, { id: "approvals-recent" }));
  schedule(reload);
}

// The audit page's filter lives in the address (#/audit?subject=…&actor=…&within=…), so a
// filtered trail can be linked to; `within` (seconds back from now) becomes the API's `since`.
const WITHIN = [["", "any time"], ["900", "the last 15 minutes"], ["3600", "the last hour"],
  ["86400", "the last day"], ["604800", "the last week"]];

async function auditView(query) {
  const wanted = new URLSearchParams(query);
  const params = new URLSearchParams({ count: "200" });
  for (const name of ["subject", "actor"]) if (wanted.get(name)) params.set(name, wanted.get(name));
  if (wanted.get("within")) params.set("since", String(Math.floor(Date.now() / 1000 - Number(wanted.get("within")))));
  const field = (name, placeholder) => el("input", { id: `audit-${name}`, name, placeholder, size: 28,
    value: wanted.get(name) || "" });
  const subject = field("subject", "subject: experiment:KEY, model:V, production, experiment:");
  const actor = field("actor", "who (token name)");
  const within = el("select", { id: "audit-within" }, WITHIN.map(([value, label]) => {
    const option = el("option", { value }, label);
    option.selected = value === (wanted.get("within") || "");
    return option;
  }));
  const filter = el("form", { id: "audit-filter", class: "panel" }, "Show ", subject, " by ", actor, " in ", within,
    " ", el("button", { id: "audit-apply", type: "submit" }, "Filter"), " ",
    el("a", { href: "#/audit", id: "audit-clear" }, "clear"));
  filter.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = new URLSearchParams();
    for (const [name, input] of [["subject", subject], ["actor", actor], ["within", within]]) {
      if (input.value.trim()) next.set(name, input.value.trim());
    }
    const hash = `#/audit${next.toString() ? `?${next}` : ""}`;
    if (location.hash === hash) route(); else location.hash = hash;
  });
  let data;
  try {
    data = await api("GET", `/v1/audit?${params}`);
  } catch (e) {
    if (e.status === 401) throw e;
    show(el("h1", {}, "Audit trail"), filter, el("p", { class: "error", id: "audit-error" }, e.message));
    return;
  }
  const chip = (s) => el("a", { class: "subject", href: `#/audit?subject=${encodeURIComponent(s)}` }, s);
  show(el("h1", {}, "Audit trail"), filter,
    data.scan_limited ? el("p", {}, el("small", {}, "Only the newest entries were searched: narrow the time to see older ones.")) : "",
    data.entries.length ? "" : el("p", { id: "audit-empty" }, "No entries match."),
    table(["when", "who", "subject", "what", "config version"],
      data.entries.map((e) => el("tr", {}, el("td", {}, when(e.ts)), el("td", { class: "actor" }, e.actor),
        el("td", { class: "subjects" }, (e.subjects || []).map(chip)),
        el("td", {}, e.reason), el("td", {}, e.version ?? ""))), { id: "audit" }));
}

// --- routing, sign-in --------------------------------------------------------------------

function schedule(fn) {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => { if (document.visibilityState === "visible") fn().catch(() => {}); else schedule(fn); }, 3000);
}

async function route() {
  clearTimeout(state.timer);
  state.draws = (state.draws || 0) + 1;  // an experiment page still loading is not drawn over this one
  const hash = location.hash.replace(/^#/, "") || "/";
  try {
    if (hash.startsWith("/experiments/")) await experimentView(decodeURIComponent(hash.slice(13)));
    else if (hash === "/models") await modelsView();
    else if (hash === "/production") await productionView();
    else if (hash === "/approvals") await approvalsView();
    else if (hash === "/audit" || hash.startsWith("/audit?")) await auditView(hash.slice(7));
    else await experimentsView();
  } catch (e) {
    if (e.status === 401) return signOut("The token was refused: sign in again.");
    show(el("p", { class: "error", id: "view-error" }, e.message));
  }
}

async function signIn(token) {
  state.token = token;
  try {
    state.who = await api("GET", "/v1/whoami");
  } catch (e) {
    return signOut(e.status === 401 ? "Unknown or revoked token." : e.message);
  }
  sessionStorage.setItem("abgate-token", token);
  $("#login").hidden = true;
  $("#nav").hidden = false;
  $("#sign-out").hidden = false;
  $("#who").textContent = `${state.who.name} (${state.who.role})`;
  await route();
}

function signOut(why) {
  clearTimeout(state.timer);
  sessionStorage.removeItem("abgate-token");
  Object.assign(state, { token: "", who: null });
  $("#login").hidden = false;
  $("#nav").hidden = true;
  $("#sign-out").hidden = true;
  $("#who").textContent = "";
  $("#login-error").textContent = why || "";
  show();
}

$("#login").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("#token").value.trim()); });
$("#sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", () => { if (state.who) route(); });
if (state.token) signIn(state.token); else signOut();
