// The relay's API as the pages use it: the key (kept in sessionStorage, so it is gone when the tab closes),
// JSON endpoints, MCP tool calls over /mcp, and WebSocket URLs (browsers cannot set headers on a WebSocket:
// the key goes in ?api_key=).
const KEY = "hyperion.key";
const PV = "2026-07-28";
const META = { "io.modelcontextprotocol/protocolVersion": PV, "io.modelcontextprotocol/clientCapabilities": {} };

export const key = () => sessionStorage.getItem(KEY) || "";
export function setKey(k) {
  if (k) sessionStorage.setItem(KEY, k); else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function headers(extra = {}) {
  const h = { ...extra };
  if (key()) h["X-API-Key"] = key();
  return h;
}

async function answer(r, what) {
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new ApiError(r.status, (body && body.message) || `${what}: HTTP ${r.status}`);
  return body;
}

export async function getJSON(path) {
  return answer(await fetch(path, { headers: headers() }), path);
}

export async function postJSON(path, data = {}) {
  const r = await fetch(path, { method: "POST", headers: headers({ "Content-Type": "application/json" }),
                                body: JSON.stringify(data) });
  return answer(r, path);
}

let rpcId = 0;
export async function rpc(method, params = {}, name = null) {
  const h = headers({ "Content-Type": "application/json", Accept: "application/json, text/event-stream",
                      "MCP-Protocol-Version": PV, "Mcp-Method": method });
  if (name) h["Mcp-Name"] = name;
  const body = { jsonrpc: "2.0", id: ++rpcId, method, params: { ...params, _meta: META } };
  const r = await fetch("/mcp", { method: "POST", headers: h, body: JSON.stringify(body) });
  let d = null;
  try { d = await r.json(); } catch (e) { d = null; }
  if (!d) throw new ApiError(r.status, `/mcp: HTTP ${r.status}`);
  if (d.error) throw new ApiError((d.error.data && d.error.data.status) || r.status, d.error.message);
  return d.result;
}

// A tool's structured result; a tool error (isError) is thrown with its message.
export async function tool(name, args = {}) {
  const res = await rpc("tools/call", { name, arguments: args }, name);
  if (res.isError) {
    const err = new ApiError(200, (res.content || []).map((c) => c.text)[0] || "tool error");
    err.data = res.structuredContent;
    throw err;
  }
  return res.structuredContent;
}

export function wsURL(path) {
  const u = new URL(path, location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (key()) u.searchParams.set("api_key", key());
  return u.href;
}

// Small DOM helpers shared by the pages.
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c.nodeType ? c : String(c));
  return e;
}

// A <dt>/<dd> pair for a <dl class="kv">; attrs go on the <dd>.
export function kv(k, v, attrs = {}) {
  return [h("dt", { text: k }), h("dd", { ...attrs, text: String(v ?? "") })];
}

export function table(cols, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, cols.map((c) => h("th", { text: c })))),
           h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c ?? ""))))));
}

export const fmtBytes = (n) => n == null ? "" : n >= 1024 * 1024 ? `${(n / 1048576).toFixed(1)} MB`
  : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} B`;
export const fmtNum = (n) => n == null ? "" : Number(n).toLocaleString("en");
