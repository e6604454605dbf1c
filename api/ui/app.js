// The recur dashboard: a small single-page app over the public REST API (/api/v1), nothing else. Pages are
// rendered from the API's answers; the parts that change are polled every 2 s, without a reload. With API keys
// set, the key is asked for once and kept for this browser tab only (sessionStorage), sent as a bearer token.
"use strict";

const API = "/api/v1";
const POLL_MS = 2000;
const KEY_STORAGE = "recur-api-key";
const main = document.getElementById("main");

// ---------- helpers ----------

const esc = (value) =>
  String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

/** An element from HTML whose interpolated values were escaped by `html`. */
function html(strings, ...values) {
  return strings.reduce((out, text, i) => {
    const value = values[i - 1];
    const part = value instanceof Raw ? value.text : Array.isArray(value) ? value.map((v) => (v instanceof Raw ? v.text : esc(v))).join("") : esc(value);
    return out + part + text;
  });
}
class Raw { constructor(text) { this.text = text; } }
const raw = (text) => new Raw(text);

const badge = (state) => raw(`<span class="badge ${esc(state)}">${esc(String(state ?? "-").replaceAll("_", " "))}</span>`);
const link = (href, text) => raw(`<a href="${esc(href)}" data-link>${esc(text)}</a>`);
const when = (instant) => (instant ? new Date(instant).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/:00Z$/, "Z") : "-");
const ago = (instant) => {
  if (!instant) return "-";
  const seconds = (Date.now() - new Date(instant).getTime()) / 1000;
  if (Math.abs(seconds) < 90) return `${seconds.toFixed(0)} s ago`;
  if (Math.abs(seconds) < 5400) return `${(seconds / 60).toFixed(0)} min ago`;
  return when(instant);
};
const duration = (ms) => (ms == null ? "-" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`);
const kindOf = (s) => (s.interval_seconds ? `every ${s.interval_seconds} s` : s.cron ? `cron ${s.cron} (${s.timezone})` : `once at ${when(s.run_at)}`);
const query = (params) => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") search.set(name, value);
  const text = search.toString();
  return text ? `?${text}` : "";
};

// ---------- the API ----------

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.field = body?.error?.field || null;
    this.code = body?.error?.code || null;
  }
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    banner.health = "The recur API is unreachable; retrying.";
    showBanner();
    throw new ApiError(0, { error: { message: "the recur API is unreachable" } });
  }
  const text = await response.text();
  const answer = text ? JSON.parse(text) : null;
  if (response.status === 401) {
    askForKey(key ? "That key was refused. Enter another API key." : null);
    throw new ApiError(401, answer);
  }
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}
const get = (path) => call("GET", path);

/** Every item of a listing, following its cursors, up to `max` items. */
async function collect(path, max) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(path + (path.includes("?") ? "&" : "?") + `limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return { items: items.slice(0, max), complete: !cursor };
}

// ---------- health, login ----------

/** What the banner says: the API's health first, then the last failed refresh of the page. */
const banner = { health: null, page: null };
function showBanner() {
  const element = document.getElementById("banner");
  const message = banner.health || banner.page;
  element.textContent = message || "";
  element.hidden = !message;
}

async function checkHealth() {
  try {
    const response = await fetch(`${API}/healthz`);
    const body = response.ok ? null : await response.json().catch(() => null);
    banner.health = response.ok ? null : `Redis is unavailable: ${body?.error?.message || response.status}`;
  } catch {
    banner.health = "The recur API is unreachable; retrying.";
  }
  showBanner();
}

function askForKey(message) {
  stopPolling();
  main.innerHTML = html`<section class="card login">
    <h1>API key</h1>
    <p>${message || "This recur API requires a key. It is kept for this browser tab only."}</p>
    <form id="login-form" class="fields">
      <label class="wide">Key <input type="password" name="key" id="api-key" autocomplete="current-password" required></label>
      <div><button class="primary" type="submit">Sign in</button></div>
    </form></section>`;
  const form = document.getElementById("login-form");
  document.getElementById("api-key").focus();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, form.key.value.trim());
    document.getElementById("logout").hidden = false;
    route();
  });
}

// ---------- routing and polling ----------

let poller = null;
function stopPolling() {
  if (poller) clearInterval(poller);
  poller = null;
}
/** Runs `refresh` now and every POLL_MS while the page is shown; errors show in the banner. */
async function poll(refresh) {
  stopPolling();
  const run = async () => {
    try {
      await refresh();
      banner.page = null;
    } catch (error) {
      if (error.status === 401) return stopPolling();
      banner.page = error.status === 0 ? null : `This page could not be refreshed: ${error.message}`;
    }
    showBanner();
  };
  await run();
  poller = setInterval(run, POLL_MS);
}

const routes = [
  [/^\/$/, "overview", overviewPage],
  [/^\/ui\/?$/, "overview", overviewPage],
  [/^\/ui\/schedules\/?$/, "schedules", schedulesPage],
  [/^\/ui\/schedules\/([^/]+)$/, "schedules", schedulePage],
  [/^\/ui\/executions\/?$/, "executions", executionsPage],
  [/^\/ui\/executions\/([^/]+)$/, "executions", executionPage],
  [/^\/ui\/workflows\/?$/, "workflows", workflowsPage],
  [/^\/ui\/workflows\/([^/]+)$/, "workflows", workflowPage],
];

async function route() {
  stopPolling();
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  for (const [pattern, section, page] of routes) {
    const match = path.match(pattern);
    if (!match) continue;
    for (const a of document.querySelectorAll("nav a")) {
      if (a.dataset.section === section) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    main.innerHTML = `<p class="muted">Loading…</p>`;
    try {
      await page(decodeURIComponent(match[1] || ""), params);
    } catch (error) {
      if (error.status === 401) return;
      main.innerHTML = html`<h1>${error.status === 404 ? "Not found" : "Something went wrong"}</h1><p>${error.message}</p>`;
    }
    return;
  }
  main.innerHTML = html`<h1>Not found</h1><p>No page at ${path}. ${link("/", "Back to the overview")}</p>`;
}

function navigate(href) {
  history.pushState(null, "", href);
  route();
  main.focus({ preventScroll: true });
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.metaKey || event.ctrlKey || event.shiftKey || a.target) return;
  event.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", route);

/** Shows `message` under a form; an error with a `field` goes next to that field when the form has it. */
function formMessage(form, error, ok) {
  for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
  const box = form.querySelector(".form-message");
  box.className = "form-message";
  box.textContent = "";
  if (!error) {
    box.classList.add("ok");
    box.textContent = ok || "Done.";
    return;
  }
  const slot = error.field && form.querySelector(`[data-error-for="${CSS.escape(error.field)}"]`);
  if (slot) slot.textContent = error.message;
  else {
    box.classList.add("error");
    box.textContent = error.message;
  }
}

// ---------- overview ----------

async function overviewPage() {
  main.innerHTML = html`<h1>Overview</h1>
    <div class="grid">
      <section class="card"><h2>Schedules</h2><div id="schedule-counts" class="counts"></div></section>
      <section class="card"><h2>Runs in the last hour</h2><div id="runs-chart"></div></section>
    </div>
    <section class="card"><h2>Needs attention</h2><div id="attention"></div></section>
    <section class="card"><h2>Queues</h2><div id="queues" class="table-wrap"></div></section>
    <section class="card"><h2>Workers</h2><div id="workers" class="table-wrap"></div></section>`;
  let tick = 0;
  await poll(async () => {
    const status = await get("/status");
    renderStatus(status);
    // The hour's history is heavier: every third poll.
    if (tick++ % 3 === 0) await renderHour(status);
  });
}

function renderStatus(status) {
  document.getElementById("schedule-counts").innerHTML = Object.entries(status.schedules)
    .map(([state, count]) => html`<a class="count" href="/ui/schedules?status=${state}" data-link><b>${count}</b>${state}</a>`)
    .join("");
  document.getElementById("queues").innerHTML = html`<table><thead><tr><th>queue</th><th class="num">ready</th><th class="num">delayed</th>
    <th class="num">running</th><th class="num">waiting for a handler</th><th class="num hide-narrow">expired leases</th></tr></thead><tbody>
    ${status.queues.map((q) => raw(html`<tr><td>${q.name}</td><td class="num">${q.ready}</td><td class="num">${q.delayed}</td><td class="num">${q.running}</td>
      <td class="num">${q.waiting_for_handler}</td><td class="num hide-narrow">${q.expired_leases}</td></tr>`))}
    </tbody></table>${status.queues.length ? "" : raw(`<p class="muted">No queue yet.</p>`)}`;
  document.getElementById("workers").innerHTML = status.workers.length
    ? html`<table><thead><tr><th>worker</th><th>last heartbeat</th><th class="num">concurrency</th><th>queues</th><th>handlers</th></tr></thead><tbody>
      ${status.workers.map((w) => raw(html`<tr><td>${w.id}</td><td>${ago(w.last_heartbeat_at)}</td><td class="num">${w.description.concurrency ?? "-"}</td>
        <td>${w.description.queues ?? "-"}</td><td>${w.description.handlers || "-"}</td></tr>`))}</tbody></table>`
    : html`<p class="muted">No live worker: nothing runs until one starts.</p>`;
}

async function renderHour(status) {
  const since = new Date(Date.now() - 3600_000).toISOString();
  const { items, complete } = await collect(`/executions?since=${encodeURIComponent(since)}`, 2000);
  const minutes = Array.from({ length: 60 }, () => ({ ok: 0, bad: 0 }));
  const lateness = [];
  const failing = new Map();
  for (const e of items) {
    const started = e.started_at ? new Date(e.started_at).getTime() : null;
    if (started === null) continue;
    const slot = 59 - Math.floor((Date.now() - started) / 60_000);
    if (slot >= 0 && slot < 60) minutes[slot][e.state === "failed" ? "bad" : "ok"] += 1;
    // Lateness is a regular occurrence's (`-n<repeat>-rc<retry>`): a backfill is late by design.
    if (/-n\d+-rc\d+$/.test(e.job_id)) lateness.push(Math.max(0, started - new Date(e.scheduled_for).getTime()));
    if (e.state === "failed" && !failing.has(e.schedule_id)) failing.set(e.schedule_id, e);
  }
  lateness.sort((a, b) => a - b);
  const pct = (p) => (lateness.length ? duration(lateness[Math.min(lateness.length - 1, Math.floor((lateness.length * p) / 100))]) : "-");
  const failed = items.filter((e) => e.state === "failed").length;
  const peak = Math.max(1, ...minutes.map((m) => m.ok + m.bad));
  const bars = minutes
    .map((m, i) => {
      const okHeight = (m.ok / peak) * 100, badHeight = (m.bad / peak) * 100;
      return `<rect class="ok" x="${i * 10}" y="${100 - okHeight - badHeight}" width="8" height="${okHeight}"><title>${m.ok} succeeded</title></rect>` +
        `<rect class="bad" x="${i * 10}" y="${100 - badHeight}" width="8" height="${badHeight}"><title>${m.bad} failed</title></rect>`;
    })
    .join("");
  document.getElementById("runs-chart").innerHTML = html`
    <svg class="chart" viewBox="0 0 600 100" preserveAspectRatio="none" role="img" aria-label="runs per minute over the last hour">${raw(bars)}</svg>
    <div class="axis"><span>60 min ago</span><span>runs per minute; failed in red</span><span>now</span></div>
    <p><span id="runs-total">${items.length}${complete ? "" : "+"}</span> runs, ${items.length ? ((failed / items.length) * 100).toFixed(1) : "0.0"} % failed;
    start lateness of scheduled runs p50 ${pct(50)}, p99 ${pct(99)}.</p>`;
  const dead = await get("/schedules?status=dead&limit=20");
  const rows = [
    ...dead.items.map((s) => raw(html`<li>${badge("dead")} ${link(`/ui/schedules/${s.id}`, s.name)} <span class="muted">${s.last_error || ""}</span></li>`)),
    ...[...failing.values()].map((e) => raw(html`<li>${badge("failed")} ${link(`/ui/executions/${e.id}`, e.id)} <span class="muted">${e.error || ""}</span></li>`)),
    ...status.waiting_for_handler.map((w) => raw(html`<li>${badge("waiting_for_handler")} ${w.job_id} <span class="muted">needs handler ${w.handler} on queue ${w.queue} since ${when(w.since)}</span></li>`)),
  ];
  document.getElementById("attention").innerHTML = rows.length ? html`<ul>${rows}</ul>` : html`<p class="muted">Nothing dead or failing in the last hour.</p>`;
}

// ---------- listings ----------

const PAGER = `<div class="pager"><button type="button" id="previous" disabled>Previous</button><button type="button" id="next" disabled>Next</button></div>`;

/** A `<select name>` of `values` (or `[value, label]` pairs) after "any", with `selected` chosen. */
function choice(name, values, selected) {
  const options = values.map((value) => {
    const [v, label] = Array.isArray(value) ? value : [value, value];
    return raw(html`<option value="${v}" ${v === selected ? "selected" : ""}>${label}</option>`);
  });
  return raw(html`<select name="${name}"><option value="">any</option>${options}</select>`);
}

/** A filtered listing: its filter form navigates (the filters live in the URL), the pager walks the cursors,
 * and the page shown is refreshed every POLL_MS; `render(page)` fills it in. */
async function listing(form, base, path, filters, render) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(`${base}${query(Object.fromEntries(new FormData(form)))}`);
  });
  const cursors = [null];
  const show = async () => {
    const page = await get(`${path}${query({ ...filters, limit: 50, cursor: cursors[cursors.length - 1] })}`);
    render(page);
    const next = document.getElementById("next");
    next.disabled = !page.next_cursor;
    next.onclick = () => { cursors.push(page.next_cursor); show(); };
    const previous = document.getElementById("previous");
    previous.disabled = cursors.length === 1;
    previous.onclick = () => { cursors.pop(); show(); };
  };
  await poll(show);
}

// ---------- schedules ----------

async function schedulesPage(_, params) {
  const workflows = await collect("/workflows", 1000);
  const filters = Object.fromEntries(["name", "status", "workflow_id", "queue"].map((n) => [n, params.get(n) || ""]));
  main.innerHTML = html`<h1>Schedules</h1>
    <form class="filters" id="schedule-filters" role="search">
      <label>Name contains <input name="name" type="search" value="${filters.name}"></label>
      <label>Status ${choice("status", ["active", "paused", "done", "dead"], filters.status)}</label>
      <label>Workflow ${choice("workflow_id", workflows.items.map((w) => [w.id, w.name]), filters.workflow_id)}</label>
      <label>Queue <input name="queue" value="${filters.queue}" size="10"></label>
      <button type="submit">Filter</button>
    </form>
    <div id="schedule-list" class="table-wrap"></div>${raw(PAGER)}`;
  const started = performance.now();
  await listing(document.getElementById("schedule-filters"), "/ui/schedules", "/schedules", filters, (page) => {
    document.getElementById("schedule-list").innerHTML = html`<table id="schedules"><thead><tr><th>name</th><th>status</th><th class="hide-narrow">when</th>
      <th>next run</th><th>last</th><th class="num hide-narrow">runs</th><th class="num hide-narrow">errors</th></tr></thead><tbody>
      ${page.items.map((s) => raw(html`<tr data-id="${s.id}"><td>${link(`/ui/schedules/${s.id}`, s.name)}</td><td>${badge(s.status)}</td>
        <td class="hide-narrow">${kindOf(s)}</td><td>${when(s.next_run_at)}</td><td>${s.last_status ? badge(s.last_status) : "-"}</td>
        <td class="num hide-narrow">${s.run_count}</td><td class="num hide-narrow">${s.error_count}</td></tr>`))}</tbody></table>
      ${page.items.length ? "" : raw(`<p class="muted">No schedule ${page.next_cursor ? "on this page; the next page may have some" : "matches"}.</p>`)}`;
    // Read by the benchmark: from the page's start, and from the start of the listing request, to its table.
    main.dataset.shownAtMs = performance.now().toFixed(1);
    main.dataset.renderedMs ??= (performance.now() - started).toFixed(1);
  });
}

const FIELDS = [
  ["name", "Name", "text"], ["description", "Description", "text"], ["interval_seconds", "Interval (s)", "number"],
  ["cron", "Cron", "text"], ["timezone", "Time zone", "text"], ["run_at", "Run at (RFC 3339)", "text"],
  ["start_at", "Start at", "text"], ["end_at", "End at", "text"], ["queue", "Queue", "text"],
  ["repeat_count", "Repeats (0: unbounded)", "number"], ["retry_max", "Retries", "number"], ["timeout_seconds", "Timeout (s)", "number"],
  ["jitter_seconds", "Jitter (s)", "number"], ["catchup_window_seconds", "Catch-up window (s)", "number"], ["alert_webhook", "Alert webhook", "text"],
];

async function schedulePage(id) {
  let schedule = await get(`/schedules/${encodeURIComponent(id)}`);
  main.innerHTML = html`<p>${link("/ui/schedules", "← Schedules")}</p>
    <h1 id="schedule-name"></h1>
    <div class="actions" id="schedule-actions"></div>
    <p id="action-message" class="form-message" aria-live="polite"></p>
    <div class="grid">
      <section class="card"><h2>Settings</h2><dl class="settings" id="settings"></dl></section>
      <section class="card"><h2>Next occurrences</h2>
        <form id="timeline-form" class="filters"><label>From (RFC 3339) <input name="from" id="timeline-from" placeholder="now"></label>
          <button type="submit">Show</button></form>
        <div id="timeline"></div></section>
    </div>
    <section class="card"><h2>Executions</h2><div id="schedule-executions" class="table-wrap"></div></section>
    <section class="card"><h2>Backfill</h2>
      <form id="backfill-form" class="fields">
        <label>From (RFC 3339) <input name="from" id="backfill-from" placeholder="2026-12-01T00:00:00Z" required><span class="field-error" data-error-for="from"></span></label>
        <label>To <input name="to" id="backfill-to" placeholder="2026-12-02T00:00:00Z" required><span class="field-error" data-error-for="to"></span></label>
        <div class="wide actions"><button type="button" id="backfill-preview">Preview</button><button class="primary" type="submit">Run backfill</button></div>
        <div class="wide" id="backfill-occurrences"></div>
        <p class="form-message wide" aria-live="polite"></p>
      </form></section>
    <section class="card"><h2>Edit</h2>
      <form id="edit-form" class="fields">
        ${FIELDS.map(([name, label, type]) => raw(html`<label>${label} <input name="${name}" type="${type}" data-field="${name}"><span class="field-error" data-error-for="${name}"></span></label>`))}
        <label>Overlap <select name="overlap">${["skip", "buffer_one", "allow"].map((o) => raw(html`<option>${o}</option>`))}</select><span class="field-error" data-error-for="overlap"></span></label>
        <label class="wide">Payload (JSON object) <textarea name="payload" rows="3"></textarea><span class="field-error" data-error-for="payload"></span></label>
        <div class="wide"><button class="primary" type="submit">Save changes</button></div>
        <p class="form-message wide" aria-live="polite"></p>
      </form></section>`;
  // The timeline counts from now, or from an instant the user picks (to see a DST change coming, say).
  let timelineFrom = "";
  const timeline = document.getElementById("timeline-form");
  timeline.addEventListener("submit", async (event) => {
    event.preventDefault();
    timelineFrom = timeline.elements.from.value.trim();
    try {
      const upcoming = await get(`/schedules/${schedule.id}/upcoming${query({ count: 12, from: timelineFrom })}`);
      renderTimeline(schedule, upcoming.occurrences);
    } catch (error) {
      document.getElementById("timeline").innerHTML = html`<p class="form-message error">${error.message}</p>`;
    }
  });
  const edit = document.getElementById("edit-form");
  const fill = () => {
    for (const [name] of FIELDS) edit.elements[name].value = schedule[name] ?? "";
    edit.elements.overlap.value = schedule.overlap;
    edit.elements.payload.value = JSON.stringify(schedule.payload);
  };
  fill();
  edit.addEventListener("submit", async (event) => {
    event.preventDefault();
    const patch = {};
    for (const [name, , type] of FIELDS) {
      const text = edit.elements[name].value.trim();
      const before = schedule[name] ?? "";
      if (text === String(before)) continue;
      patch[name] = text === "" ? null : type === "number" ? Number(text) : text;
    }
    if (edit.elements.overlap.value !== schedule.overlap) patch.overlap = edit.elements.overlap.value;
    try {
      const payload = JSON.parse(edit.elements.payload.value || "{}");
      if (JSON.stringify(payload) !== JSON.stringify(schedule.payload)) patch.payload = payload;
    } catch (error) {
      return formMessage(edit, { field: "payload", message: `not JSON: ${error.message}` });
    }
    try {
      schedule = await call("PATCH", `/schedules/${schedule.id}`, patch);
      fill();
      formMessage(edit, null, Object.keys(patch).length ? "Saved." : "Nothing changed.");
    } catch (error) {
      formMessage(edit, error);
    }
  });
  const backfill = document.getElementById("backfill-form");
  const range = () => ({ from: backfill.elements.from.value.trim(), to: backfill.elements.to.value.trim() });
  document.getElementById("backfill-preview").addEventListener("click", async () => {
    const { from, to } = range();
    try {
      const start = new Date(new Date(from).getTime() - 1).toISOString();
      const preview = await get(`/schedules/${schedule.id}/upcoming${query({ from: start, count: 1000 })}`);
      const inside = preview.occurrences.filter((o) => new Date(o) <= new Date(to));
      document.getElementById("backfill-occurrences").innerHTML = html`<p>${inside.length} occurrence(s) in the range:</p>
        <ul id="backfill-list">${inside.slice(0, 50).map((o) => raw(html`<li>${when(o)}</li>`))}</ul>${inside.length > 50 ? raw(`<p class="muted">and more</p>`) : ""}`;
      formMessage(backfill, null, "Preview only: nothing queued yet.");
    } catch (error) {
      formMessage(backfill, error);
    }
  });
  backfill.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const done = await call("POST", `/schedules/${schedule.id}/backfill`, range());
      formMessage(backfill, null, `${done.queued} run(s) queued, ${done.already_run} already ran.`);
    } catch (error) {
      formMessage(backfill, error);
    }
  });
  await poll(async () => {
    schedule = await get(`/schedules/${schedule.id}`);
    renderSchedule(schedule, await workflowName(schedule.workflow_id));
    const [upcoming, executions] = await Promise.all([
      get(`/schedules/${schedule.id}/upcoming${query({ count: 12, from: timelineFrom })}`),
      get(`/schedules/${schedule.id}/executions?limit=20`),
    ]);
    renderTimeline(schedule, upcoming.occurrences);
    document.getElementById("schedule-executions").innerHTML = executionTable(executions.items, false);
  });
}

function renderSchedule(s, workflow) {
  document.getElementById("schedule-name").innerHTML = html`${s.name} ${badge(s.status)}`;
  const actions = document.getElementById("schedule-actions");
  const buttons = [
    s.status === "active" && ["pause", "Pause", ""],
    s.status === "paused" && ["resume", "Resume", ""],
    ["trigger", "Trigger now", "primary"],
    (s.status === "done" || s.status === "dead") && ["restart", "Restart", ""],
    ["delete", "Delete", "danger"],
  ].filter(Boolean);
  const wanted = buttons.map(([action]) => action).join(",");
  if (actions.dataset.shown === wanted) return renderSettings(s, workflow);
  actions.dataset.shown = wanted;
  actions.innerHTML = buttons.map(([action, label, kind]) => html`<button type="button" class="${kind}" data-action="${action}">${label}</button>`).join("");
  for (const button of actions.querySelectorAll("button")) button.addEventListener("click", () => scheduleAction(s.id, button.dataset.action));
  renderSettings(s, workflow);
}

function renderSettings(s, workflow) {
  const rows = [
    ["id", s.id], ["when", kindOf(s)], ["workflow", link(`/ui/workflows/${s.workflow_id}`, workflow)], ["queue", s.queue],
    ["next run", when(s.next_run_at)], ["last run", when(s.last_run_at)], ["last status", s.last_status ? badge(s.last_status) : "-"],
    ["last error", s.last_error || "-"], ["runs / errors / missed", `${s.run_count} / ${s.error_count} / ${s.missed_count}`],
    ["repeats done", `${s.completed_repeats}${s.repeat_count ? ` of ${s.repeat_count}` : ""}`], ["retries", `${s.current_retry} of ${s.retry_max}`],
    ["overlap", s.overlap], ["start / end", `${when(s.start_at)} / ${when(s.end_at)}`],
  ];
  document.getElementById("settings").innerHTML = rows.map(([name, value]) => html`<dt>${name}</dt><dd>${value}</dd>`).join("");
}

/** The occurrences in the schedule's own time zone, with its UTC offset, so a DST shift shows where it falls. */
function renderTimeline(s, occurrences) {
  const zone = s.timezone || "UTC";
  const local = new Intl.DateTimeFormat("en-CA", { timeZone: zone, dateStyle: "short", timeStyle: "short", hourCycle: "h23" });
  const offset = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" });
  let previous = null;
  const items = occurrences.map((o) => {
    const date = new Date(o);
    const shift = offset.formatToParts(date).find((p) => p.type === "timeZoneName")?.value ?? "";
    const changed = previous !== null && shift !== previous;
    previous = shift;
    return raw(html`<li class="${changed ? "shift" : ""}"><span>${local.format(date)}<span class="offset">${zone} ${shift}${changed ? " (offset changes)" : ""}</span></span></li>`);
  });
  document.getElementById("timeline").innerHTML = occurrences.length
    ? html`<ol class="timeline" id="occurrences">${items}</ol>`
    : html`<p class="muted">No occurrence to come (${s.status}).</p>`;
}

async function scheduleAction(id, action) {
  const message = document.getElementById("action-message");
  if (action === "delete" && !confirm("Delete this schedule? Its pending job goes with it; its history stays until it expires.")) return;
  try {
    if (action === "delete") {
      await call("DELETE", `/schedules/${id}`);
      return navigate("/ui/schedules");
    }
    const answer = await call("POST", `/schedules/${id}/${action}`);
    message.className = "form-message ok";
    message.textContent = action === "trigger" ? `Triggered: job ${answer.job_id}${answer.waiting ? " (waits for the run under way)" : ""}.` : `Done: ${action}.`;
    document.getElementById("schedule-actions").dataset.shown = "";
  } catch (error) {
    message.className = "form-message error";
    message.textContent = error.message;
  }
}

// ---------- executions ----------

function executionTable(items, withSchedule) {
  if (!items.length) return html`<p class="muted">No execution yet.</p>`;
  return html`<table class="executions"><thead><tr><th>execution</th><th>state</th>${withSchedule ? raw(`<th class="hide-narrow">schedule</th>`) : ""}
    <th>scheduled for</th><th class="hide-narrow">started</th><th class="num">took</th><th class="hide-narrow">worker</th></tr></thead><tbody>
    ${items.map((e) => raw(html`<tr data-id="${e.id}"><td>${link(`/ui/executions/${e.id}`, e.id.replace(/^sched-[0-9a-f-]{36}-/, "…"))}</td><td>${badge(e.state)}</td>
      ${withSchedule ? raw(html`<td class="hide-narrow">${link(`/ui/schedules/${e.schedule_id}`, e.schedule_id.slice(-12))}</td>`) : ""}
      <td>${when(e.scheduled_for)}</td><td class="hide-narrow">${when(e.started_at)}</td><td class="num">${duration(e.duration_ms)}</td><td class="hide-narrow">${e.worker_id || "-"}</td></tr>`))}
    </tbody></table>`;
}

async function executionsPage(_, params) {
  const workflows = await collect("/workflows", 1000);
  const filters = Object.fromEntries(["state", "workflow_id", "schedule_id", "since"].map((n) => [n, params.get(n) || ""]));
  main.innerHTML = html`<h1>Executions</h1>
    <form class="filters" id="execution-filters">
      <label>State ${choice("state", ["running", "succeeded", "failed", "skipped", "cancelled"], filters.state)}</label>
      <label>Workflow ${choice("workflow_id", workflows.items.map((w) => [w.id, w.name]), filters.workflow_id)}</label>
      <label>Schedule id <input name="schedule_id" value="${filters.schedule_id}" size="36"></label>
      <label>Since (RFC 3339) <input name="since" value="${filters.since}" placeholder="2026-12-01T00:00:00Z"></label>
      <button type="submit">Filter</button>
    </form>
    <div id="execution-list" class="table-wrap"></div>${raw(PAGER)}`;
  await listing(document.getElementById("execution-filters"), "/ui/executions", "/executions", filters, (page) => {
    document.getElementById("execution-list").innerHTML = executionTable(page.items, true);
  });
}

/** A step's output: short ones shown, long ones collapsed. */
function output(value) {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return text.length > 600
    ? html`<details><summary>output (${text.length} characters)</summary><pre>${text}</pre></details>`
    : html`<pre>${text}</pre>`;
}

async function executionPage(id) {
  main.innerHTML = html`<p>${link("/ui/executions", "← Executions")}</p><h1 id="execution-title"></h1>
    <div class="actions" id="execution-actions"></div><p id="action-message" class="form-message" aria-live="polite"></p>
    <section class="card"><dl class="settings" id="execution-facts"></dl></section>
    <section class="card"><h2>Steps</h2><ol class="steps" id="steps"></ol></section>`;
  await poll(async () => {
    const e = await get(`/executions/${encodeURIComponent(id)}`);
    const [workflow, scheduled] = await Promise.all([workflowName(e.workflow_id), scheduleExists(e.schedule_id)]);
    document.getElementById("execution-title").innerHTML = html`${e.id} ${badge(e.state)}`;
    const actions = document.getElementById("execution-actions");
    const cancellable = ["running", "queued", "waiting_for_handler"].includes(e.state);
    if (!cancellable) actions.replaceChildren();
    if (cancellable && !actions.firstChild) {
      actions.innerHTML = `<button type="button" class="danger" id="cancel">Cancel</button>`;
      document.getElementById("cancel").addEventListener("click", async () => {
        const message = document.getElementById("action-message");
        try {
          const answer = await call("POST", `/executions/${encodeURIComponent(e.id)}/cancel`);
          message.className = "form-message ok";
          message.textContent = answer.cancelled_before_start
            ? "Cancelled before it started; it will not run."
            : "Cancel requested; the worker stops the current step.";
        } catch (error) {
          message.className = "form-message error";
          message.textContent = error.message;
        }
      });
    } else if (e.state !== "running") actions.innerHTML = "";
    const facts = [
      ["schedule", scheduled ? link(`/ui/schedules/${e.schedule_id}`, e.schedule_id) : "none (an ad-hoc run, or its schedule was deleted)"],
      ["workflow", link(`/ui/workflows/${e.workflow_id}`, `${workflow}${e.workflow_version ? ` v${e.workflow_version}` : ""}`)],
      ["attempt", e.attempt], ["scheduled for", when(e.scheduled_for)], ["started", when(e.started_at)], ["finished", when(e.finished_at)],
      ["took", duration(e.duration_ms)], ["worker", e.worker_id || "-"], ["error", e.error || "-"],
    ];
    document.getElementById("execution-facts").innerHTML = facts.map(([name, value]) => html`<dt>${name}</dt><dd>${value}</dd>`).join("");
    const open = new Set([...document.querySelectorAll("#steps details[open]")].map((d) => d.closest("li").dataset.index));
    document.getElementById("steps").innerHTML = e.steps.length
      ? e.steps.map((step, index) => html`<li class="${step.state}" data-index="${index}"><b>${index + 1}. ${step.name || step.kind}</b> <span class="muted">${step.kind}</span> ${badge(step.state)}
          <div class="muted">${when(step.started_at)} → ${when(step.finished_at)}</div>
          ${step.error ? raw(html`<pre class="step-error">${step.error}</pre>`) : ""}${raw(output(step.output))}</li>`).join("")
      : html`<li class="muted">No step has started${e.state === "queued" || e.state === "waiting_for_handler" ? ": it waits for a worker" : ""}.</li>`;
    for (const index of open) document.querySelector(`#steps li[data-index="${index}"] details`)?.setAttribute("open", "");
    if (!["queued", "waiting_for_handler", "running"].includes(e.state)) stopPolling();
  });
}

// Answers a page reads once per path: a workflow's name (pages name a workflow rather than show its id; a
// deleted one keeps its id), and whether a schedule exists (an ad-hoc run's `schedule_id` names none, so its
// page links nowhere).
const readOnce = new Map();
function remembered(path, answer, otherwise) {
  if (!readOnce.has(path)) readOnce.set(path, get(path).then(answer, () => otherwise));
  return readOnce.get(path);
}
const workflowName = (id) => remembered(`/workflows/${encodeURIComponent(id)}`, (w) => w.name, id);
const scheduleExists = (id) => remembered(`/schedules/${encodeURIComponent(id)}`, () => true, false);

// ---------- workflows ----------

async function workflowsPage() {
  {
    const { items } = await collect("/workflows", 1000);
    main.innerHTML = html`<h1>Workflows</h1><div class="table-wrap"><table id="workflows"><thead><tr><th>name</th><th class="num">version</th><th class="num">steps</th>
      <th class="num hide-narrow">max concurrency</th><th class="hide-narrow">updated</th></tr></thead><tbody>
      ${items.map((w) => raw(html`<tr><td>${link(`/ui/workflows/${w.id}`, w.name)}</td><td class="num">${w.version}</td><td class="num">${w.steps.length}</td>
        <td class="num hide-narrow">${w.max_concurrency ?? "-"}</td><td class="hide-narrow">${when(w.updated_at)}</td></tr>`))}</tbody></table></div>
      ${items.length ? "" : raw(`<p class="muted">No workflow yet: POST /api/v1/workflows or <code>recur workflows apply</code>.</p>`)}`;
  }
}

async function workflowPage(id) {
  const w = await get(`/workflows/${encodeURIComponent(id)}`);
  const versions = Array.from({ length: w.version }, (_, i) => w.version - i);
  main.innerHTML = html`<p>${link("/ui/workflows", "← Workflows")}</p><h1>${w.name} <span class="badge">v${w.version}</span></h1>
    <div class="grid">
      <section class="card"><h2>Run now</h2>
        <form id="run-form" class="fields">
          <label class="wide">Payload (JSON object) <textarea name="payload" rows="4">{}</textarea><span class="field-error" data-error-for="payload"></span></label>
          <label>Queue <input name="queue" value="default"><span class="field-error" data-error-for="queue"></span></label>
          <div class="wide"><button class="primary" type="submit">Run</button></div>
          <p class="form-message wide" aria-live="polite"></p>
        </form></section>
      <section class="card"><h2>Versions</h2><form class="filters"><label>Show version
        <select id="version">${versions.map((v) => raw(html`<option>${v}</option>`))}</select></label></form></section>
    </div>
    <section class="card"><h2>Steps</h2><pre id="workflow-steps">${JSON.stringify(w.steps, null, 2)}</pre></section>`;
  document.getElementById("version").addEventListener("change", async (event) => {
    const version = await get(`/workflows/${w.id}/versions/${event.target.value}`);
    document.getElementById("workflow-steps").textContent = JSON.stringify(version.steps, null, 2);
  });
  const form = document.getElementById("run-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let payload;
    try {
      payload = JSON.parse(form.elements.payload.value || "{}");
    } catch (error) {
      return formMessage(form, { field: "payload", message: `not JSON: ${error.message}` });
    }
    try {
      const run = await call("POST", `/workflows/${w.id}/run`, { payload, queue: form.elements.queue.value.trim() || undefined });
      formMessage(form, null, "Queued.");
      form.querySelector(".form-message").innerHTML = html`Queued: ${link(`/ui/executions/${run.execution_id}`, run.execution_id)}${run.warnings ? raw(html`<br>${run.warnings.join(" ")}`) : ""}`;
    } catch (error) {
      formMessage(form, error);
    }
  });
}

// ---------- start ----------

document.getElementById("logout").hidden = !sessionStorage.getItem(KEY_STORAGE);
document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORAGE);
  document.getElementById("logout").hidden = true;
  route();
});
checkHealth();
setInterval(checkHealth, 5000);
route();
