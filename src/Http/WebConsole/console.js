// EdgeActors web console: plain DOM and SVG, no libraries (docs/console.md).
"use strict";
const $ = id => document.getElementById(id);
const text = (el, v) => { el.textContent = v; };
const history = { rate: [], p99: [] };
const keep = 120;

function td(row, value, cls) { const c = row.insertCell(); c.textContent = value; if (cls) c.className = cls; return c; }

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.status);
  return body;
}

async function loadCluster() {
  try {
    const c = await getJson("/api/console/cluster");
    text($("node"), "answered by " + c.answeredBy);
    const tb = $("members"); tb.replaceChildren();
    for (const m of c.members) {
      const row = tb.insertRow();
      td(row, m.address); td(row, m.roles.join(", ")); td(row, m.status, m.status);
      td(row, m.shards ?? ""); td(row, m.entities ?? "");
    }
    text($("member-count"), c.members.length);
  } catch (e) { addAlert("cluster: " + e.message); }
}

async function loadModels() {
  try {
    const m = await getJson("/api/console/models");
    const tb = $("models"); tb.replaceChildren();
    for (const model of m.models) {
      const row = tb.insertRow();
      row.dataset.model = model.name;
      td(row, model.name); td(row, model.versions.map(v => v.version).join(", "));
      td(row, model.activeVersion); td(row, model.pinnedVersion || "latest");
      const actions = row.insertCell();
      const pin = document.createElement("button"); pin.textContent = "pin active"; pin.className = "pin";
      pin.onclick = () => act(`/api/console/models/${encodeURIComponent(model.name)}/pin?version=${model.activeVersion}`, `pin ${model.name} v${model.activeVersion}`);
      const back = document.createElement("button"); back.textContent = "rollback"; back.className = "rollback";
      back.onclick = () => act(`/api/console/models/${encodeURIComponent(model.name)}/rollback`, `rollback ${model.name}`);
      actions.append(pin, " ", back);
    }
    const s = m.served;
    text($("served"), `${s.node} serves ${s.models.map(x => x.name + " v" + x.version).join(", ") || "nothing"} on ${s.provider}`);
    const nb = $("model-nodes"); nb.replaceChildren();
    for (const n of m.nodes || []) {
      const row = nb.insertRow(); row.dataset.node = n.node;
      td(row, n.node);
      if (n.error) { td(row, "–"); td(row, n.error, "error"); continue; }
      td(row, n.provider); td(row, n.models.map(x => x.name + (x.version ? " v" + x.version : " (not loaded)")).join(", ") || "nothing");
    }
  } catch (e) { addAlert("models: " + e.message); }
}

async function act(path, what) {
  const out = $("action-result");
  const token = $("token").value.trim();
  const headers = token ? { Authorization: "Bearer " + token } : {};
  try {
    const r = await fetch(path, { method: "POST", headers });
    const body = await r.json().catch(() => ({}));
    if (r.ok) { out.className = "ok"; text(out, `${what}: done (active v${body.activeVersion}, pinned ${body.pinnedVersion || "latest"})`); loadModels(); }
    else { out.className = "error"; text(out, `${what}: refused ${r.status}: ${body.error || r.statusText}`); }
  } catch (e) { out.className = "error"; text(out, `${what}: failed: ${e.message}`); }
}

function addAlert(message) {
  const li = document.createElement("li");
  li.textContent = new Date().toLocaleTimeString() + " " + message;
  $("alerts").prepend(li);
  while ($("alerts").children.length > 50) $("alerts").lastChild.remove();
}

function line(values, max, cls) {
  const p = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  const step = 600 / (keep - 1);
  p.setAttribute("points", values.map((v, i) => `${(i + keep - values.length) * step},${115 - (v / max) * 105}`).join(" "));
  p.setAttribute("class", cls);
  return p;
}

function draw() {
  const svg = $("chart"); svg.replaceChildren();
  const max = a => Math.max(1, ...a);
  svg.append(line(history.rate, max(history.rate), "rate"), line(history.p99, max(history.p99), "p99"));
}

function follow() {
  const events = new EventSource("/api/console/events");
  let members = -1;
  events.addEventListener("tick", e => {
    const t = JSON.parse(e.data);
    $("live").className = "on"; text($("live"), "live");
    text($("readings-total"), t.readingsTotal);
    text($("readings-rate"), t.readingsPerSecond);
    text($("ack-p50"), t.ackP50Ms ?? "–");
    text($("ack-p99"), t.ackP99Ms ?? "–");
    for (const [k, v] of [["rate", t.readingsPerSecond], ["p99", t.ackP99Ms ?? 0]]) { history[k].push(v); if (history[k].length > keep) history[k].shift(); }
    draw();
    for (const a of t.alerts) addAlert(a);
    const n = Object.keys(t.members).length;
    if (n !== members || t.alerts.length) { members = n; loadCluster(); }
  });
  events.onerror = () => { $("live").className = "off"; text($("live"), "reconnecting…"); };
}

async function showDevice(id) {
  try { text($("device"), JSON.stringify(await getJson("/api/console/devices/" + encodeURIComponent(id)), null, 2)); }
  catch (err) { text($("device"), "error: " + err.message); }
}

// one search per submit (not per keystroke): the gateway asks each edge once for its live device ids
$("device-form").addEventListener("submit", async e => {
  e.preventDefault();
  const q = $("device-q").value.trim();
  const tb = $("device-results"); tb.replaceChildren(); text($("device"), "");
  try {
    const r = await getJson("/api/console/devices?q=" + encodeURIComponent(q));
    text($("device-summary"), `${r.matches.length}${r.truncated ? "+" : ""} device(s) starting with "${r.prefix}" (${r.edgesAnswered} of ${r.edges} edges answered)`);
    for (const d of r.matches) {
      const row = tb.insertRow(); row.dataset.device = d.id; row.className = "device";
      td(row, d.id);
      if (d.error) { td(row, d.error, "error"); continue; }
      td(row, d.node.split("@").pop()); td(row, d.health, d.health); td(row, d.lastSequence); td(row, d.acceptedReadings); td(row, d.rejected);
      td(row, d.means.join(" "));
      row.onclick = () => showDevice(d.id);
    }
  } catch (err) { text($("device-summary"), "error: " + err.message); }
});

loadCluster();
loadModels();
setInterval(loadModels, 10000);
follow();
