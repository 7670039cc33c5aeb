// API: the REST endpoints from /api/openapi.json and the MCP tools from tools/list, with their schemas.
import { getJSON, h, rpc } from "./api.js";

export async function render(main) {
  main.append(h("h1", { text: "API" }));
  const [doc, tools] = await Promise.all([getJSON("/api/openapi.json"), rpc("tools/list")]);
  const rest = h("div", { class: "card", id: "rest" }, h("h2", { text: `REST (OpenAPI ${doc.openapi})` }),
    h("p", { class: "muted" }, doc.info.description, " The document: ", h("a", { href: "/api/openapi.json",
      text: "/api/openapi.json" }), " (send your key)."));
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      rest.append(h("details", { class: "endpoint" },
        h("summary", {}, h("code", { text: `${method.toUpperCase()} ${path}` }), " ", op.summary, " ",
          h("span", { class: `pill ${op["x-role"]}`, text: op["x-role"] })),
        h("p", { text: op.description }),
        h("p", { class: "muted", text: "answers: " + Object.entries(op.responses).map(([c, r]) =>
          `${c} ${r.description || (r.$ref || "").split("/").pop()}`).join(", ") })));
    }
  }
  const mcp = h("div", { class: "card", id: "mcp-tools" }, h("h2", { text: `MCP tools (${tools.tools.length})` }),
    h("p", { class: "muted", text: "POST /mcp, JSON-RPC tools/call; roles: viewer < operator < admin." }));
  for (const t of tools.tools) {
    mcp.append(h("details", { "data-tool": t.name },
      h("summary", {}, h("code", { text: t.name }), " ", (t.description || "").split("\n")[0]),
      h("p", { text: t.description || "" }),
      h("pre", { text: JSON.stringify(t.inputSchema, null, 2) })));
  }
  main.append(rest, mcp);
}
