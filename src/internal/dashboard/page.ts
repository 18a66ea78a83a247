/**
 * The dashboard page: one self-contained HTML document (inline CSS, inline
 * script, SVG plot drawn by hand) — no CDN, it must work on a closed network.
 * It loads `/api/state` (frame + plot history) and then follows `/events`
 * (Server-Sent Events); if the stream breaks it polls `/api/state`.
 * Text from the program (keys, call sites) only ever goes in through
 * `textContent`, never as HTML.
 */
export const page = (title: string): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  :root { --fg:#1d2330; --muted:#6b7385; --bg:#f6f7f9; --card:#fff; --line:#e3e6eb; --accent:#3867d6; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
  header { display:flex; align-items:baseline; gap:16px; padding:12px 20px; background:#1d2330; color:#fff; }
  header h1 { font-size:17px; margin:0; font-weight:600; }
  header .meta { color:#b8c0d0; font-size:12px; }
  header .live { margin-left:auto; font-size:12px; color:#9fe6a0; }
  header .live.stale { color:#f5a97f; }
  main { display:grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap:16px; padding:16px 20px; }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; min-width:0; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size:13px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); margin:0 0 8px; font-weight:600; }
  table { width:100%; border-collapse:collapse; font-size:12.5px; }
  th { text-align:left; color:var(--muted); font-weight:600; border-bottom:1px solid var(--line); padding:4px 6px; white-space:nowrap; }
  td { border-bottom:1px solid #f0f1f4; padding:4px 6px; vertical-align:top; }
  td.num { text-align:right; font-variant-numeric: tabular-nums; white-space:nowrap; }
  td.span { white-space:nowrap; font-size:12px; color:#444; }
  td.unknown { color:var(--muted); }
  td.key, td.site { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12px; word-break:break-all; }
  .chips { display:flex; flex-wrap:wrap; gap:8px; }
  .chip { border-radius:14px; padding:3px 10px; font-size:12.5px; background:#eef1f6; }
  .chip b { font-variant-numeric: tabular-nums; }
  .st-pending { background:#fff4d6; } .st-finished { background:#dff5e3; } .st-error { background:#fde0e0; }
  .st-cancelled { background:#ececec; } .st-lost { background:#f8e0f5; }
  .bar { height:8px; background:#eef1f6; border-radius:4px; overflow:hidden; min-width:80px; }
  .bar > div { height:100%; background:var(--accent); }
  #plot svg { width:100%; height:auto; display:block; }
  #plot .axis { stroke:#c9ced8; stroke-width:1; }
  #plot .grid { stroke:#eef0f4; stroke-width:1; }
  #plot text { font-size:11px; fill:var(--muted); }
  #plot .series { fill:none; stroke-width:2; }
  .legend { display:flex; flex-wrap:wrap; gap:12px; font-size:12px; margin-top:6px; }
  .legend span::before { content:""; display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:5px; background:var(--c); vertical-align:-1px; }
  .empty { color:var(--muted); font-style:italic; padding:8px 6px; }
  .errors { color:#b3261e; font-size:12px; }
</style>
</head>
<body>
<header>
  <h1>effect-dask memory</h1>
  <span class="meta" id="clients">connecting…</span>
  <span class="live" id="live">●</span>
</header>
<main>
  <section id="plot"><h2>Bytes held per worker</h2><div id="plot-body"></div><div class="legend" id="legend"></div></section>
  <section>
    <h2>Task states</h2><div class="chips" id="states"></div>
    <h2 style="margin-top:14px">Workers</h2>
    <table id="workers"><thead><tr><th>worker</th><th>keys</th><th>bytes</th><th>of limit</th></tr></thead><tbody></tbody></table>
    <div class="errors" id="errors"></div>
  </section>
  <section class="wide">
    <h2>Keys held <span id="keycount"></span></h2>
    <table id="keys"><thead><tr><th>key</th><th>client</th><th>refs</th><th>status</th><th>nbytes</th><th>workers</th><th>age</th><th>acquired at</th><th>span</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script>
"use strict";
const COLORS = ["#3867d6","#e55039","#20bf6b","#f7b731","#8854d0","#0fb9b1","#fa8231","#4b6584"];
let history = [];
let frame = null;
let interval = 1000;
let frames = 0;
let lastAt = 0;

function el(tag, attrs, ...children) {
  const e = tag.startsWith("svg:") ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "text") e.textContent = String(v); else if (k === "style") e.setAttribute("style", v); else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
function bytes(n) {
  if (n === null || n === undefined) return "–";
  if (n < 1024) return n + " B";
  const u = ["KiB","MiB","GiB","TiB"]; let v = n / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (v < 10 ? v.toFixed(1) : Math.round(v)) + " " + u[i];
}
function age(ms) {
  if (ms < 1000) return Math.round(ms) + "ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + "s";
  return Math.floor(ms / 60000) + "m" + Math.floor((ms % 60000) / 1000) + "s";
}
function short(s, n) { return s.length <= n ? s : s.slice(0, n - 1) + "…"; }
const colorOf = new Map();
function color(w) { if (!colorOf.has(w)) colorOf.set(w, COLORS[colorOf.size % COLORS.length]); return colorOf.get(w); }

function renderPlot() {
  const W = 760, H = 260, L = 64, R = 12, T = 10, B = 26;
  const svg = el("svg:svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "bytes held per worker over time" });
  const pts = history;
  const workers = new Set();
  for (const p of pts) for (const w of Object.keys(p.workers)) workers.add(w);
  let ymax = 0;
  for (const p of pts) for (const v of Object.values(p.workers)) ymax = Math.max(ymax, v);
  ymax = ymax <= 0 ? 1024 : ymax * 1.15;
  const t1 = pts.length ? pts[pts.length - 1].t : Date.now();
  const t0 = Math.min(pts.length ? pts[0].t : t1, t1 - 10 * interval);
  const x = (t) => L + (W - L - R) * ((t - t0) / Math.max(1, t1 - t0));
  const y = (v) => T + (H - T - B) * (1 - v / ymax);
  for (let i = 0; i <= 4; i++) {
    const v = ymax * i / 4;
    svg.append(el("svg:line", { class: i === 0 ? "axis" : "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    svg.append(el("svg:text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", text: bytes(Math.round(v)) }));
  }
  svg.append(el("svg:line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (t1 - t0) * i / 4;
    svg.append(el("svg:text", { x: x(t), y: H - 8, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle", text: i === 4 ? "now" : "-" + ((t1 - t) / 1000).toFixed(t1 - t0 < 20000 ? 1 : 0) + "s" }));
  }
  const legend = document.getElementById("legend");
  legend.replaceChildren();
  for (const w of [...workers].sort()) {
    let d = "";
    for (const p of pts) {
      const v = p.workers[w];
      if (v === undefined) continue;
      d += (d === "" ? "M" : "L") + x(p.t).toFixed(1) + "," + y(v).toFixed(1);
    }
    const last = pts.length ? pts[pts.length - 1].workers[w] : undefined;
    svg.append(el("svg:path", { class: "series", d, stroke: color(w), "data-worker": w, "data-last": last === undefined ? "" : last, "data-points": pts.length }));
    legend.append(el("span", { style: "--c:" + color(w), text: w + "  " + bytes(last) }));
  }
  document.getElementById("plot-body").replaceChildren(svg);
}

function render() {
  if (!frame) return;
  frames++;
  lastAt = Date.now();
  document.body.dataset.frames = String(frames);
  const c = frame.clients;
  document.getElementById("clients").textContent = c.length === 0 ? "no open client"
    : c.map((x) => x.id + " @ " + x.address + (x.tracking ? "" : " (call sites off)")).join(" · ");
  const states = document.getElementById("states");
  states.replaceChildren(...Object.entries(frame.states).map(([s, n]) =>
    el("span", { class: "chip st-" + s, "data-state": s, "data-count": n }, s + " ", el("b", { text: n }))));
  const wt = document.querySelector("#workers tbody");
  wt.replaceChildren(...frame.workers.map((w) => el("tr", { "data-worker": w.address },
    el("td", { class: "key", text: w.address }),
    el("td", { class: "num", text: w.keys }),
    el("td", { class: "num", text: bytes(w.bytes) }),
    el("td", {}, w.memoryLimit ? el("div", { class: "bar", title: bytes(w.bytes) + " / " + bytes(w.memoryLimit) },
      el("div", { style: "width:" + Math.min(100, 100 * w.bytes / w.memoryLimit).toFixed(1) + "%" })) : "–"))));
  if (frame.workers.length === 0) wt.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "empty", text: "no workers" })));
  document.getElementById("errors").textContent = frame.errors.join("\\n");
  const kt = document.querySelector("#keys tbody");
  const rows = [];
  for (const k of frame.keys) {
    const hs = k.handles.length ? k.handles : [null];
    hs.forEach((h, i) => rows.push(el("tr", i === 0 ? { "data-key": k.key, class: "key-row" } : { class: "handle-row" },
      el("td", { class: "key", title: k.key, text: i === 0 ? short(k.key, 48) : "" }),
      el("td", { class: "key", text: i === 0 ? short(k.client, 24) : "" }),
      el("td", { class: "num", text: i === 0 ? k.refcount : "" }),
      el("td", { text: i === 0 ? k.status : "" }),
      el("td", { class: "num", text: i === 0 ? bytes(k.nbytes) : "" }),
      el("td", { class: "key", text: i === 0 ? k.workers.join(", ") : "" }),
      el("td", { class: "num", text: i === 0 ? age(k.age) : "" }),
      el("td", h && h.at ? { class: "site", text: (h.owner === "detached" ? "detached · " : "") + h.at + (h.count > 1 ? "  ×" + h.count : "") }
        : { class: "site unknown", title: h ? "acquired while an effect ran: see the span" : "call sites not tracked", text: h ? (h.owner === "detached" ? "detached · " : "") + "unknown" + (h.count > 1 ? "  ×" + h.count : "") : "–" }),
      el("td", { class: "span", text: h && h.span ? h.span : "" }))));
  }
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 9, class: "empty", text: "no keys held" })));
  kt.replaceChildren(...rows);
  document.getElementById("keycount").textContent = "(" + (frame.keys.length + frame.omitted) + (frame.omitted ? ", largest " + frame.keys.length + " shown" : "") + ")";
  renderPlot();
}

function accept(msg) {
  frame = msg.frame;
  if (msg.history) history = msg.history;
  else if (msg.point) { history.push(msg.point); if (history.length > msg.keep) history.splice(0, history.length - msg.keep); }
  if (msg.interval) interval = msg.interval;
  render();
}
async function poll() {
  try { const r = await fetch("/api/state", { cache: "no-store" }); accept(await r.json()); } catch (e) {}
}
setInterval(() => {
  const stale = Date.now() - lastAt > 3 * interval + 1000;
  document.getElementById("live").className = stale ? "live stale" : "live";
  document.getElementById("live").textContent = stale ? "● reconnecting" : "● live";
}, 500);
poll().then(() => {
  const es = new EventSource("/events");
  es.onmessage = (e) => accept(JSON.parse(e.data));
  es.onerror = () => { es.close(); setInterval(poll, interval); };
});
</script>
</body>
</html>
`

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)
