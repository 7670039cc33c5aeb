// The UI shell: the key prompt, who is signed in, the navigation, and the page for the current path.
import { ApiError, getJSON, h, key, setKey } from "./api.js";

const PAGES = {
  models: () => import("./models.js"),
  boards: () => import("./boards.js"),
  monitoring: () => import("./monitoring.js"),
  browser: () => import("./browser.js"),
  api: () => import("./apidoc.js"),
};
const ROLES = ["viewer", "operator", "admin"];

function pageName() {
  const p = location.pathname.replace(/\/+$/, "").split("/")[2] || "models";
  return PAGES[p] ? p : "models";
}

function login(main, message) {
  const input = h("input", { type: "password", id: "key", autocomplete: "off", placeholder: "hyk_…" });
  const form = h("form", { class: "card login", id: "login" },
    h("h1", { text: "Sign in to the relay" }),
    h("p", { class: "muted", text: "Paste an API key (hyperion-host serve keys add NAME --role viewer). It is " +
      "kept in this tab only (session storage) and sent with every request." }),
    input, h("div", { class: "row" }, h("button", { type: "submit", text: "Sign in" })),
    message ? h("p", { class: "error", text: message }) : null);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); setKey(input.value.trim()); start(); });
  main.replaceChildren(form);
  input.focus();
}

async function start() {
  const main = document.getElementById("main");
  const cfg = await getJSON("/ui/config.json");
  if (cfg.auth && !key()) return login(main);
  let me;
  try {
    me = await getJSON("/api/whoami");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { setKey(""); return login(main, e.message); }
    main.replaceChildren(h("p", { class: "error", text: e.message }));
    return;
  }
  const ctx = { me, can: (role) => ROLES.indexOf(me.role) >= ROLES.indexOf(role) };
  document.getElementById("who").replaceChildren(
    cfg.auth ? `${me.name} ` : "auth off ", h("span", { class: `pill ${me.role}`, text: me.role }));
  const out = document.getElementById("signout");
  out.hidden = !cfg.auth;
  out.onclick = () => { setKey(""); location.reload(); };
  const name = pageName();
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
  const mod = await PAGES[name]();
  main.replaceChildren();
  document.title = `Hyperion relay: ${name}`;
  await mod.render(main, ctx);
  document.body.dataset.ready = name;
}

start().catch((e) => {
  document.getElementById("main").replaceChildren(h("p", { class: "error", text: String(e.message || e) }));
});
