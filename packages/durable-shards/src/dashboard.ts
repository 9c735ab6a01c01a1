/**
 * The dashboard: one page, served by the admin API at its root, that reads the API with the
 * operator's token. It shows the keyspaces; per keyspace the slot map as a strip and a heatmap of
 * load per slot range over time (slot ranges down, time across); per shard load, storage and hot
 * keys; the running change with its moves' progress; alerts. The heatmap's past comes from the
 * directory (a column per evaluation of the keyspace); each live snapshot adds a column, placed by
 * its time. From it an operator plans (dry run),
 * applies and aborts a rebalance or a shard change. It follows the API's event stream (server-sent
 * events read with `fetch`, so the token travels in a header) and polls when the stream fails.
 * The layout is one column on a phone.
 */

/** The page's HTML (self-contained: no external scripts, styles or fonts). */
export function dashboardHtml(): string {
  return PAGE;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>durable-shards</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d232a; background: #f5f6f8; }
  [hidden] { display: none !important; }
  body { margin: 0; }
  header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; background: #1d232a; color: #fff; }
  header h1 { font-size: 1.05rem; margin: 0; }
  #live { font-size: .8rem; opacity: .8; }
  main { display: grid; grid-template-columns: 14rem 1fr; gap: 1rem; padding: 1rem; }
  @media (max-width: 720px) { main { grid-template-columns: 1fr; padding: .5rem; } }
  section, nav { background: #fff; border-radius: 6px; padding: .75rem; box-shadow: 0 1px 2px #0002; min-width: 0; }
  nav button { display: block; width: 100%; text-align: left; margin: .15rem 0; padding: .4rem .5rem; border: 0; border-radius: 4px; background: none; cursor: pointer; font: inherit; }
  nav button[aria-current="true"] { background: #e4ecf7; font-weight: 600; }
  h2 { font-size: 1rem; margin: .2rem 0 .6rem; } h3 { font-size: .9rem; margin: .8rem 0 .4rem; }
  table { border-collapse: collapse; width: 100%; font-size: .85rem; } th, td { text-align: left; padding: .25rem .4rem; border-bottom: 1px solid #eee; white-space: nowrap; }
  .scroll { overflow-x: auto; }
  canvas { width: 100%; display: block; border-radius: 4px; background: #fafafa; }
  .bar { height: .55rem; background: #e6e9ee; border-radius: 3px; overflow: hidden; min-width: 6rem; } .bar > i { display: block; height: 100%; background: #3b7be0; }
  .alert { padding: .3rem .5rem; border-radius: 4px; margin: .2rem 0; font-size: .85rem; } .critical { background: #fde2e1; } .warning { background: #fff3cd; }
  form { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; font-size: .85rem; }
  input, select, button.act { font: inherit; padding: .3rem .5rem; } button.act { border: 1px solid #3b7be0; background: #3b7be0; color: #fff; border-radius: 4px; cursor: pointer; } button.ghost { background: #fff; color: #3b7be0; }
  #plan { font-size: .8rem; white-space: pre-wrap; background: #f3f5f8; padding: .4rem; border-radius: 4px; }
  #login { max-width: 24rem; margin: 3rem auto; } .muted { color: #68707a; font-size: .8rem; }
</style>
</head>
<body>
<header><h1>durable-shards</h1><span id="live">not connected</span></header>
<div id="login" hidden>
  <section><h2>Admin token</h2><form id="token-form"><input id="token" type="password" autocomplete="current-password" placeholder="bearer token" required><button class="act">Open</button></form>
  <p class="muted">The token stays in this tab (session storage).</p><p id="login-error" class="muted"></p></section>
</div>
<main id="app" hidden>
  <nav><h2>Keyspaces</h2><div id="keyspaces"></div><h3>Alerts</h3><div id="alerts"><p class="muted">none firing</p></div></nav>
  <div style="display:grid;gap:1rem;min-width:0">
    <section><h2 id="ks-title">…</h2><p class="muted" id="ks-summary"></p>
      <h3>Slot map</h3><canvas id="strip" height="28"></canvas>
      <h3>Load per slot range over time</h3><canvas id="heat" height="160"></canvas><p class="muted" id="heat-legend">slot 0 at the top; time left to right; darker is more calls/s</p></section>
    <section><h2>Change</h2><div id="change"><p class="muted">no change</p></div>
      <form id="change-form">
        <select id="kind"><option value="rebalance">rebalance</option><option value="add-shards">add shards</option><option value="remove-shards">remove shards</option></select>
        <select id="by"><option value="load">by load</option><option value="slots">by slots</option><option value="storage">by storage</option></select>
        <input id="count" type="number" min="1" value="1" style="width:4rem" hidden>
        <input id="remove" placeholder="s3 s4" style="width:7rem" hidden>
        <input id="rate" type="number" min="65536" step="65536" placeholder="copy B/s (optional)" style="width:10rem">
        <button class="act ghost" id="plan-button" type="button">Plan</button><button class="act" id="apply-button" type="button">Apply</button><button class="act ghost" id="abort-button" type="button">Abort</button>
      </form><div id="plan" hidden></div></section>
    <section><h2>Shards</h2><div class="scroll"><table id="shards"></table></div><h3>Hot keys</h3><div class="scroll"><table id="hot"></table></div></section>
  </div>
</main>
<script>
"use strict";
const base = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const fmt = (n) => n >= 100 ? Math.round(n).toLocaleString("en-US") : Number(n.toPrecision(3)).toString();
const bytes = (n) => n >= 1048576 ? (n / 1048576).toFixed(1) + " MiB" : n >= 1024 ? (n / 1024).toFixed(1) + " KiB" : n + " B";
let token = new URLSearchParams(location.hash.slice(1)).get("token") || sessionStorage.getItem("durable-shards-token") || "";
let selected = null, snapshot = null;
// Heatmap columns ({ at, buckets }, oldest first) per keyspace: the directory's past (a column per
// evaluation), and the live snapshots since the page opened. Times are the server's.
const past = new Map(), live = new Map(), pastTried = new Map();
// Snapshots kept per keyspace: half an hour at the event stream's 2 s.
const LIVE_COLUMNS = 900;
// The heatmap shows at most this far back; a column is drawn at most twice as wide as the spacing before it, so a gap stays blank.
const WINDOW_MS = 2 * 3600 * 1000;
let serverOffset = 0;
const serverNow = () => Date.now() + serverOffset;
const ksPath = (name, rest) => "api/keyspaces/" + encodeURIComponent(name) + rest;
const COLOURS = ["#3b7be0", "#e0873b", "#3bb07a", "#b03ba5", "#c9b43a", "#3bbcc9", "#e04b3b", "#7a6ee0", "#8c8c8c", "#5f9e3b"];

async function api(path, init = {}) {
  const response = await fetch(base + path, { ...init, headers: { authorization: "Bearer " + token, "content-type": "application/json", ...(init.headers || {}) } });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) { showLogin("That token was refused."); throw new Error("unauthorized"); }
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}

function showLogin(message) { $("app").hidden = true; $("login").hidden = false; $("login-error").textContent = message || ""; }
$("token-form").addEventListener("submit", (e) => { e.preventDefault(); token = $("token").value; sessionStorage.setItem("durable-shards-token", token); start(); });

function render() {
  if (!snapshot) return;
  const names = snapshot.keyspaces.filter((k) => k.placement === "hash").map((k) => k.name);
  if (!selected || !names.includes(selected)) selected = names[0] || null;
  $("keyspaces").innerHTML = names.map((n) => '<button data-ks="' + esc(n) + '" aria-current="' + (n === selected) + '">' + esc(n) + "</button>").join("") || '<p class="muted">no keyspaces</p>';
  const alerts = snapshot.alerts || [];
  $("alerts").innerHTML = alerts.length ? alerts.map((a) => '<div class="alert ' + esc(a.severity) + '"><b>' + esc(a.keyspace) + "</b> " + esc(a.name) + (a.shard ? " (" + esc(a.shard) + ")" : "") + ": " + esc(a.message) + "</div>").join("") : '<p class="muted">none firing</p>';
  const ks = snapshot.keyspaces.find((k) => k.name === selected);
  const m = (snapshot.metrics || []).find((x) => x.keyspace === selected);
  if (!ks || !m) return;
  $("ks-title").textContent = ks.name;
  $("ks-summary").textContent = "map version " + ks.version + " · " + ks.shards.length + " shards · " + ks.slotCount + " slots · " + fmt(m.load.total) + " calls/s · heaviest/mean " + m.load.maxOverMean.toFixed(2);
  drawStrip(ks); drawHeat(m.keyspace); loadPast(m.keyspace);
  $("shards").innerHTML = "<tr><th>shard</th><th>slots</th><th>calls/s</th><th></th><th>storage</th><th>calls</th><th>errors</th><th>up</th></tr>" + m.shards.map((s) => {
    const calls = Object.values(s.methods).reduce((n, c) => n + c.calls, 0), errors = Object.values(s.methods).reduce((n, c) => n + c.errors, 0);
    const share = m.load.max > 0 ? (100 * s.load) / m.load.max : 0;
    return "<tr><td>" + esc(s.shard) + "</td><td>" + s.slots + "</td><td>" + fmt(s.load) + '</td><td><div class="bar"><i style="width:' + share.toFixed(1) + '%"></i></div></td><td>' + bytes(s.storageBytes) + "</td><td>" + calls + "</td><td>" + errors + "</td><td>" + (s.up ? "yes" : "<b>no</b>") + "</td></tr>";
  }).join("");
  $("hot").innerHTML = "<tr><th>key</th><th>shard</th><th>slot</th><th>calls (±" + fmt(m.hotKeys.errorBound) + ")</th></tr>" + m.hotKeys.keys.map((k) => "<tr><td>" + esc(k.key) + "</td><td>" + esc(k.shard) + "</td><td>" + k.slot + "</td><td>" + k.count + "</td></tr>").join("");
  renderChange(ks.change);
}

function renderChange(change) {
  const running = change && !["done", "rolled back"].includes(change.phase);
  if (!change) { $("change").innerHTML = '<p class="muted">no change yet</p>'; return; }
  const t = change.totals, pct = (a, b) => (b > 0 ? (100 * a) / b : 0);
  const eta = running && change.etaMs ? " · ETA " + Math.ceil(change.etaMs / 1000) + " s" : "";
  $("change").innerHTML = '<p id="change-phase" data-phase="' + esc(change.phase) + '" data-version="' + change.version + '"><b>v' + change.version + " " + esc(change.phase) + "</b> · " + t.movesDone + "/" + t.moves + " moves · " + t.slotsMoved + "/" + t.slots + " slots" + eta + "</p>" +
    '<div class="bar"><i style="width:' + pct(t.slotsMoved, t.slots).toFixed(1) + '%"></i></div>' +
    '<div class="scroll"><table><tr><th>move</th><th>phase</th><th>copied</th><th></th><th>pause</th></tr>' + change.moves.map((mv) =>
      "<tr><td>" + esc(mv.from) + " → " + esc(mv.to) + " (" + mv.slots + ")</td><td>" + esc(mv.phase) + "</td><td>" + bytes(mv.bytes || 0) + '</td><td><div class="bar"><i style="width:' + (["moved", "cleaning up", "done"].includes(mv.phase) ? 100 : pct(mv.bytes || 0, mv.totalBytes || 0)).toFixed(1) + '%"></i></div></td><td>' + (mv.pauseMs === undefined ? "" : mv.pauseMs + " ms") + "</td></tr>").join("") + "</table></div>" +
    (change.lastError ? '<p class="alert warning">' + esc(change.lastError) + "</p>" : "");
}

// Maps by keyspace, fetched again only when the keyspace's version changes.
const maps = new Map();
function drawStrip(ks) {
  const canvas = $("strip"), ctx = canvas.getContext("2d");
  canvas.width = canvas.clientWidth * devicePixelRatio; canvas.height = 28 * devicePixelRatio;
  const known = maps.get(ks.name);
  const map = known && known.version === ks.version ? Promise.resolve(known) : api(ksPath(ks.name, "/map"));
  map.then((map) => {
    if (!map || !map.runs) return;
    maps.set(ks.name, map);
    const w = canvas.width, h = canvas.height;
    map.runs.forEach(([start, shard], i) => {
      const end = i + 1 < map.runs.length ? map.runs[i + 1][0] : map.slotCount;
      ctx.fillStyle = COLOURS[shard % COLOURS.length];
      ctx.fillRect((start / map.slotCount) * w, 0, Math.max(1, ((end - start) / map.slotCount) * w), h);
    });
  }).catch(() => undefined);
}

/** A new snapshot: its columns, then the page (a re-render, such as a keyspace click, adds none). */
function setSnapshot(snap) {
  snapshot = snap;
  serverOffset = snap.at - Date.now();
  for (const m of snap.metrics || []) {
    const rows = live.get(m.keyspace) || [];
    if (!rows.length || rows[rows.length - 1].at < snap.at) rows.push({ at: snap.at, buckets: m.slotLoad.buckets });
    if (rows.length > LIVE_COLUMNS) rows.splice(0, rows.length - LIVE_COLUMNS);
    live.set(m.keyspace, rows);
  }
  render();
}

/** The directory's past columns of a keyspace: once, or again a minute after a failure. */
function loadPast(name) {
  const tried = pastTried.get(name);
  if (tried !== undefined && (past.has(name) || Date.now() - tried < 60000)) return;
  pastTried.set(name, Date.now());
  api(ksPath(name, "/load-history")).then((history) => {
    past.set(name, history.columns);
    if (name === selected) drawHeat(name);
  }).catch(() => undefined);
}

function drawHeat(name) {
  const now = serverNow(), t0 = now - WINDOW_MS;
  const recent = live.get(name) || [];
  const first = recent.length ? recent[0].at : Infinity;
  const rows = (past.get(name) || []).filter((c) => c.at < first).concat(recent).filter((c) => c.at >= t0);
  const canvas = $("heat"), ctx = canvas.getContext("2d");
  canvas.width = canvas.clientWidth * devicePixelRatio; canvas.height = 160 * devicePixelRatio;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  canvas.dataset.columns = String(rows.length);
  if (!rows.length) return;
  // Drawn from the oldest column shown (at least a minute back) to now.
  const start = Math.min(rows[0].at, now - 60000), span = now - start, x = (at) => ((at - start) / span) * canvas.width;
  let max = 0;
  for (const row of rows) for (const v of row.buckets) if (v > max) max = v;
  const ch = canvas.height / rows[0].buckets.length;
  rows.forEach((row, i) => {
    const spacing = i > 0 ? row.at - rows[i - 1].at : Infinity;
    const end = Math.min(i + 1 < rows.length ? rows[i + 1].at : now, row.at + 2 * spacing);
    row.buckets.forEach((v, y) => {
      ctx.fillStyle = "rgba(59,123,224," + (0.05 + 0.95 * Math.sqrt(max > 0 ? v / max : 0)).toFixed(3) + ")";
      ctx.fillRect(x(row.at), y * ch, Math.max(1, Math.ceil(x(end) - x(row.at))), Math.ceil(ch));
    });
  });
  $("heat-legend").textContent = "slot 0 at the top; the past " + Math.round(span / 60000) + " min left to right; darker is more calls/s" + (max > 0 ? " (max " + fmt(max) + ")" : " (no load)");
}

$("keyspaces").addEventListener("click", (e) => { const b = e.target.closest("button"); if (b) { selected = b.dataset.ks; render(); } });
$("kind").addEventListener("change", () => { const k = $("kind").value; $("by").hidden = k !== "rebalance"; $("count").hidden = k !== "add-shards"; $("remove").hidden = k !== "remove-shards"; });

function changeBody(dryRun) {
  const k = $("kind").value;
  const rate = Number($("rate").value) > 0 ? { copyBytesPerSecond: Number($("rate").value) } : {};
  if (k === "rebalance") return { by: $("by").value, dryRun, ...rate };
  if (k === "add-shards") return { shards: Number($("count").value), dryRun, ...rate };
  return { shards: $("remove").value.split(/[\\s,]+/).filter(Boolean), dryRun, ...rate };
}
async function submit(dryRun) {
  const out = $("plan"); out.hidden = false; out.textContent = dryRun ? "planning…" : "starting…";
  try {
    const r = await api(ksPath(selected, "/" + $("kind").value), { method: "POST", body: JSON.stringify(changeBody(dryRun)) });
    const p = r.predicted ? " · heaviest/mean " + r.predicted.before.toFixed(2) + " → " + r.predicted.after.toFixed(2) + " (" + r.predicted.by + ")" : "";
    out.textContent = (r.dryRun ? "plan" : r.started ? "started v" + r.version : "nothing to do") + ": " + r.moves.length + " moves, " + r.movedSlots + " slots" + p + (r.moves.length ? "\\n" + r.moves.map((mv) => mv.from + " → " + mv.to + ": " + mv.slots + " slots").join("\\n") : "");
    if (r.started) await showChange();
  } catch (error) { out.textContent = "refused: " + error.message; }
}
/** The selected keyspace's change, at once (the next snapshot may be seconds away). */
async function showChange() {
  const name = selected, change = await api(ksPath(name, "/change")).catch(() => undefined);
  if (change && name === selected) renderChange(change);
}
$("plan-button").addEventListener("click", () => submit(true));
$("apply-button").addEventListener("click", () => submit(false));
$("abort-button").addEventListener("click", async () => {
  const out = $("plan"); out.hidden = false; out.textContent = "aborting…";
  try { const r = await api(ksPath(selected, "/change/abort"), { method: "POST" }); out.textContent = "rolled back: v" + r.version + " " + r.phase; renderChange(r); }
  catch (error) { out.textContent = "refused: " + error.message; }
});

async function follow() {
  // Server-sent events over fetch (the token goes in a header); polling when the stream fails.
  try {
    const response = await fetch(base + "api/events", { headers: { authorization: "Bearer " + token } });
    if (response.status === 401) return showLogin("That token was refused.");
    if (!response.ok || !response.body) throw new Error("no stream");
    $("live").textContent = "live (events)";
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\\n\\n")) >= 0) {
        const frame = buffer.slice(0, end); buffer = buffer.slice(end + 2);
        const data = frame.split("\\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\\n");
        if (frame.startsWith("event: snapshot") && data) setSnapshot(JSON.parse(data));
      }
    }
  } catch { /* fall through to polling */ }
  $("live").textContent = "live (polling)";
  for (;;) {
    try {
      const [state, metrics] = await Promise.all([api("api/status"), api("api/metrics")]);
      setSnapshot({ ...state, metrics });
    } catch (error) { if (error.message === "unauthorized") return; $("live").textContent = "retrying: " + error.message; }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function start() {
  if (!token) return showLogin();
  let first;
  try { first = { ...(await api("api/status")), metrics: await api("api/metrics") }; } catch (error) { if (error.message !== "unauthorized") showLogin(error.message); return; }
  $("login").hidden = true; $("app").hidden = false; setSnapshot(first); follow();
}
start();
</script>
</body>
</html>
`;
