// The live board: the live matches from /v1/matches/live, kept current by /v1/stream (no reload, no build step).
"use strict";
const statusNames = { 2: "1st half", 3: "half-time", 4: "2nd half", 5: "overtime", 7: "penalties" };
const isLive = m => m.status_id && statusNames[m.status_id.value] !== undefined;
const rows = document.getElementById("matches");
const state = document.getElementById("state");
const matches = new Map();

function cell(tr, cls, text) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text;
  tr.appendChild(td);
  return td;
}

function render(m, flash) {
  let tr = rows.querySelector(`tr[data-id="${CSS.escape(m.external_id)}"]`);
  if (!isLive(m)) { if (tr) tr.remove(); matches.delete(m.external_id); return; }
  matches.set(m.external_id, m);
  const fresh = document.createElement("tr");
  fresh.dataset.id = m.external_id;
  cell(fresh, "id", m.external_id);
  cell(fresh, "home", m.home_team_id ?? "?");
  cell(fresh, "score", `${m.home_score ? m.home_score.value : 0} - ${m.away_score ? m.away_score.value : 0}`);
  cell(fresh, "away", m.away_team_id ?? "?");
  cell(fresh, "minute", m.minute && m.minute.text ? m.minute.text : "");
  const status = cell(fresh, "status", statusNames[m.status_id.value]);
  if (m.stale_since !== null && m.stale_since !== undefined) {
    const badge = document.createElement("span");
    badge.className = "stale";
    badge.title = "no fresh observation since " + new Date(m.stale_since * 1000).toISOString();
    badge.textContent = "stale";
    status.appendChild(badge);
  }
  if (flash) fresh.classList.add("flash");
  if (tr) tr.replaceWith(fresh); else rows.appendChild(fresh);
  if (flash) setTimeout(() => fresh.classList.remove("flash"), 1500);
}

function summary() { state.textContent = `${matches.size} live matches · updated ${new Date().toLocaleTimeString()}`; }

// Events that arrive while the list is being read are applied again after it: the list may be older than they are.
let during = null;

async function load() {
  during = [];
  try {
    const answer = await fetch("/v1/matches/live", { cache: "no-store" });
    const body = await answer.json();
    rows.replaceChildren();
    matches.clear();
    for (const m of body.matches) render(m, false);
    for (const m of during) render(m, true);
    summary();
  } finally {
    during = null;
  }
}

function follow() {
  const events = new EventSource("/v1/stream");
  events.addEventListener("match", e => {
    const m = JSON.parse(e.data).match;
    if (during) during.push(m);
    render(m, true);
    summary();
  });
  // The stream could not say what was missed: read everything again.
  events.addEventListener("resync", () => load().catch(() => {}));
  // data-stream tells whether changes are being followed (the browser test waits for it).
  events.onopen = () => { document.body.dataset.stream = "open"; summary(); };
  events.onerror = () => { document.body.dataset.stream = "reconnecting"; state.textContent = "reconnecting…"; };
}

// Follow first, then read: a change between the two is shown either way (events carry the whole match).
follow();
load().catch(err => { state.textContent = "could not read the live matches: " + err; });
