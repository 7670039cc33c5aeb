// Boards: what is attached to the relay (boards and vboards), each one's firmware, free heap and deployed
// slot; a Tcl snippet run on one; rollback to the other slot. Running code and rolling back need admin.
import { fmtBytes, h, table, tool } from "./api.js";

export async function render(main, ctx) {
  main.append(h("h1", { text: "Boards" }));
  const { boards } = await tool("board_list");
  if (!boards.length) {
    main.append(h("div", { class: "card" }, h("p", { class: "muted", text: "No boards: start the relay with " +
      "--port PORT (a serial port, or a vboard's: hyperion-host vboard start NAME)." })));
    return;
  }
  const rows = h("div", { class: "card", id: "boards" });
  main.append(rows);
  const statuses = {};
  for (const b of boards) {
    if (!ctx.can("operator")) break;  // reading a board interrupts its program: operators only
    try { statuses[b.name] = b.present ? await tool("board_status", { board: b.name }) : null; }
    catch (e) { statuses[b.name] = { error: e.message }; }
  }
  rows.append(table(["board", "device", "present", "firmware", "free heap", "active slot", "bundle", "calls"],
    boards.map((b) => {
      const s = statuses[b.name] || {};
      return [h("b", { text: b.name }), b.port, b.present ? "yes" : h("span", { class: "bad", text: "no" }),
              s.error ? h("span", { class: "error", text: s.error }) : `${s.implementation || ""} ${s.version || ""}`,
              h("span", { "data-free": b.name, text: fmtBytes(s.mem_free) }),
              h("span", { "data-slot": b.name, text: s.active_slot || (s.implementation ? "none" : "") }), s.bundle_version || "",
              `${b.calls} (${b.errors} errors)`];
    })));
  if (!ctx.can("operator")) {
    rows.append(h("p", { class: "muted", text: "Firmware, free heap and slots need an operator key: reading " +
      "them stops whatever program the board is running." }));
  }
  const grid = h("div", { class: "grid two" });
  main.append(grid);
  grid.append(tclCard(boards, ctx), deployCard(boards, statuses, ctx));
}

function pick(boards, id) {
  return h("select", { id }, boards.map((b) => h("option", { value: b.name, text: b.name })));
}

function tclCard(boards, ctx) {
  const card = h("div", { class: "card" }, h("h2", { text: "Run Tcl on a board (Picol)" }));
  if (!ctx.can("admin")) {
    card.append(h("p", { class: "muted", text: "Running scripts on boards needs an admin key." }));
    return card;
  }
  const which = pick(boards, "tcl-board");
  const src = h("textarea", { id: "tcl" }, "set n 6\nputs \"[expr {$n * 7}] from [info commands puts]\"");
  const out = h("pre", { id: "tcl-out" });
  const run = h("button", { id: "tcl-run", text: "Run" });
  run.onclick = async () => {
    run.disabled = true; out.textContent = "…";
    try {
      const r = await tool("board_script", { board: which.value, script: src.value });
      out.textContent = r.stdout + (r.stderr ? r.stderr : "");
    } catch (e) { out.textContent = (e.data ? e.data.stdout + e.data.stderr : "") || e.message; }
    run.disabled = false;
  };
  card.append(which, src, h("div", { class: "row" }, run), out);
  return card;
}

function deployCard(boards, statuses, ctx) {
  const card = h("div", { class: "card", id: "deploy" }, h("h2", { text: "Deployed bundles (A/B slots)" }));
  card.append(table(["board", "active", "slot a", "slot b"], boards.map((b) => {
    const s = statuses[b.name] || {}, slots = s.slots || {};
    const v = (k) => slots[k] ? `${slots[k].version || ""} ${slots[k].id ? slots[k].id.slice(0, 10) : ""}` : "empty";
    return [b.name, s.active_slot || "none", v("a"), v("b")];
  })));
  if (!ctx.can("admin")) {
    card.append(h("p", { class: "muted", text: "Rolling back needs an admin key." }));
    return card;
  }
  const which = pick(boards, "rollback-board"), out = h("p", { id: "rollback-out" });
  const btn = h("button", { id: "rollback", text: "Roll back to the other slot" });
  btn.onclick = async () => {
    if (!confirm(`Switch ${which.value} to its other slot and reboot it?`)) return;
    btn.disabled = true; out.textContent = "…";
    try {
      const r = await tool("board_rollback", { board: which.value });
      out.textContent = `${which.value}: now slot ${r.slot} (was ${r.previous}), version ${r.version}`;
    } catch (e) { out.textContent = e.message; out.className = "error"; }
    btn.disabled = false;
  };
  card.append(h("div", { class: "row" }, which, btn), out);
  return card;
}
