// Monitoring: the relay's figures pushed over /ws/monitoring every second, drawn as charts over the last
// minute: request rate, latency percentiles, errors and board-client fallbacks; alerts, tools and logs below.
import { Chart } from "./chart.js";
import { h, kv, postJSON, table, wsURL } from "./api.js";

export async function render(main, ctx) {
  main.append(h("h1", { text: "Monitoring" }));
  const status = h("p", { class: "muted", id: "mon-status", text: "connecting…" });
  const canvases = [0, 1, 2].map(() => h("canvas", { class: "chart" }));
  main.append(status, h("div", { class: "grid three" },
    h("div", { class: "card" }, h("h2", { text: "Requests per second" }), canvases[0]),
    h("div", { class: "card" }, h("h2", { text: "Latency (ms)" }), canvases[1]),
    h("div", { class: "card" }, h("h2", { text: "Errors and fallbacks per second" }), canvases[2])));
  const rate = new Chart(canvases[0], [{ name: "requests", color: "#0b62c4" }]);
  const lat = new Chart(canvases[1], [{ name: "p50", color: "#1a7f37" }, { name: "p95", color: "#9a6700" },
                                      { name: "p99", color: "#c0272d" }]);
  const err = new Chart(canvases[2], [{ name: "errors", color: "#c0272d" }, { name: "fallbacks", color: "#8250df" }]);
  const totals = h("div", { class: "card", id: "totals" }), alerts = h("div", { class: "card", id: "alerts" });
  const tools = h("div", { class: "card", id: "tools" }), logs = h("div", { class: "card", id: "logs" });
  main.append(h("div", { class: "grid two" }, totals, alerts), tools, logs);
  if (ctx.can("admin")) {
    const reset = h("button", { class: "secondary", id: "reset", text: "Reset counters" });
    reset.onclick = async () => { if (confirm("Forget every counter, sample and log?")) await postJSON("/api/monitoring/reset"); };
    main.append(h("div", { class: "row" }, reset));
  }

  let prev = null;
  const ws = new WebSocket(wsURL("/ws/monitoring"));
  ws.onopen = () => { status.textContent = "live"; };
  ws.onclose = () => { status.textContent = "disconnected: reload the page to reconnect"; };
  ws.onmessage = (ev) => {
    const s = JSON.parse(ev.data), now = performance.now();
    if (s.error) { status.textContent = s.error; status.className = "error"; return; }
    if (prev && s.since_reset_s >= prev.s.since_reset_s) {
      const dt = Math.max(0.001, (now - prev.t) / 1000);
      rate.push([(s.requests - prev.s.requests) / dt]);
      err.push([(s.errors - prev.s.errors) / dt, (s.fallbacks - prev.s.fallbacks) / dt]);
    }
    lat.push([s.latency_ms.p50, s.latency_ms.p95, s.latency_ms.p99]);
    prev = { s, t: now };
    draw(s);
  };

  function draw(s) {
    totals.replaceChildren(h("h2", { text: "Totals" }), h("dl", { class: "kv" },
      ...kv("requests", s.requests, { "data-total": "requests" }), ...kv("errors", s.errors), ...kv("in flight", s.in_flight),
      ...kv("fallbacks", s.fallbacks), ...kv("latency p50 / p95 / p99",
        `${s.latency_ms.p50 ?? "-"} / ${s.latency_ms.p95 ?? "-"} / ${s.latency_ms.p99 ?? "-"} ms`),
      ...kv("engine", `${s.engine}${s.replicas && s.replicas.length > 1 ? `, ${s.replicas.length} replicas` : ""}`),
      ...kv("uptime", `${Math.round(s.uptime_s)} s`)));
    const a = s.alerts || {};
    alerts.replaceChildren(...[h("h2", { text: "Alerts" }),
      (a.active || []).length ? table(["active", "value", "since"], a.active.map((x) => [
          h("b", { class: "bad", text: x.rule }), `${x.value} ${x.op} ${x.threshold}`,
          new Date(x.since * 1000).toLocaleTimeString()]))
        : h("p", { class: "ok", text: "none active" }),
      (a.recent || []).length ? table(["recent", "value", "at"], a.recent.slice(-5).map((x) =>
        [x.rule, String(x.value), x.ts ? new Date(x.ts * 1000).toLocaleTimeString() : ""])) : null,
      h("p", { class: "muted", text: `${a.rules ?? 0} rules` })].filter(Boolean));
    tools.replaceChildren(h("h2", { text: "Tools" }), table(["tool", "calls", "errors", "p50 ms", "p95 ms"],
      Object.entries(s.tools).map(([n, t]) => [n, h("span", { "data-tool-calls": n, text: t.calls }), t.errors,
                                               t.latency_ms.p50, t.latency_ms.p95])));
    logs.replaceChildren(h("h2", { text: "Recent logs" }), h("pre", {},
      s.logs.slice(-12).map((l) => JSON.stringify(l)).join("\n")));
  }
}
