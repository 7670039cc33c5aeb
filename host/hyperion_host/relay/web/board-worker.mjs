// The board in the browser: MicroPython's WebAssembly port in a Web Worker, with firmware/hyperion in its
// filesystem (/lib/hyperion, on MicroPython's sys.path) and a model at /models/NAME.hyq, fetched with
// progress. Messages in: {type: "init", model, key} | {type: "run", id, input} | {type: "tcl", id, script}.
// Out: {type: "progress", stage, done, total} | {type: "ready", ...} | {type: "result", id, ...} |
// {type: "tcl", id, ...} | {type: "error", id, message}.
let mp = null;
let out = [];
const post = (m) => postMessage(m);

async function fetchBytes(url, key, onBytes) {
  const r = await fetch(url, { headers: key ? { "X-API-Key": key } : {} });
  if (!r.ok) {
    let msg = `${url}: HTTP ${r.status}`;
    try { msg = (await r.json()).message || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  const total = Number(r.headers.get("content-length")) || 0, reader = r.body.getReader(), parts = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value); n += value.length;
    if (onBytes) onBytes(n, total);
  }
  const buf = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return buf;
}

function mkdirs(path) {
  let d = "";
  for (const part of path.split("/").slice(1, -1)) {
    d += "/" + part;
    try { mp.FS.mkdir(d); } catch (e) { /* exists */ }
  }
}

async function init({ model, key }) {
  const t0 = performance.now();
  post({ type: "progress", stage: "runtime", done: 0, total: 1 });
  const { loadMicroPython } = await import("/ui/wasm/micropython.mjs");
  mp = await loadMicroPython({ heapsize: 1024 * 1024, stdout: (t) => out.push(t), stderr: (t) => out.push(t) });
  const initMs = performance.now() - t0;
  const { files } = await (await fetch("/ui/firmware/files.json")).json();
  const fwTotal = files.reduce((a, f) => a + f.bytes, 0);
  let fwDone = 0;
  for (const f of files) {  // one file after another: the bar moves as each arrives
    const b = await fetchBytes("/ui/firmware/" + f.path, null);
    mkdirs("/lib/" + f.path);
    mp.FS.writeFile("/lib/" + f.path, b);
    fwDone += b.length;
    post({ type: "progress", stage: "firmware", done: fwDone, total: fwTotal });
  }
  const hyq = await fetchBytes(`/api/models/${encodeURIComponent(model)}/file`, key,
                               (done, total) => post({ type: "progress", stage: "model", done, total }));
  const path = `/models/${model.replace(/[^\w.-]/g, "_")}.hyq`;  // a file name of our own
  mkdirs(path);
  mp.FS.writeFile(path, hyq);
  const t1 = performance.now();
  mp.globals.set("_path", path);  // passed as a value: nothing from the relay is pasted into Python source
  mp.runPython(`
import sys, gc, hyperion
_m = hyperion.load(_path)
_info = _m.info()
_kernels = ", ".join("%s=%s" % kv for kv in zip(_info["ops"], _info["kernels"]))
_version = sys.version
gc.collect()
_heap = gc.mem_alloc()
`);
  post({ type: "ready", version: mp.globals.get("_version"), kernels: mp.globals.get("_kernels"),
         heap: mp.globals.get("_heap"), init_ms: initMs, load_ms: performance.now() - t1,
         bytes: { firmware: fwTotal, model: hyq.length }, notice: out.join("\n") });
  out = [];
}

function run({ id, input }) {
  mp.globals.set("_xin", input);
  mp.runPython(`
import js
from array import array
_x = array('f', [float(v) for v in _xin])
_t = js.performance.now()
_y = _m.run(_x)
_ms = js.performance.now() - _t
_out = [v for v in _y]
`);
  post({ type: "result", id, outputs: [...mp.globals.get("_out")], ms: mp.globals.get("_ms") });
}

function tcl({ id, script }) {
  out = [];
  mp.globals.set("_tcl", script);
  let error = null;
  try {
    mp.runPython(`
from hyperion.picol import Interp
try:
    _interp
except NameError:
    _interp = Interp()
_res = _interp.eval(_tcl)
`);
  } catch (e) { error = String(e.message || e).trim().split("\n").pop(); }
  const res = error ? null : mp.globals.get("_res");
  post({ type: "tcl", id, out: out.join("\n"), result: res == null ? "" : String(res), error });
  out = [];
}

onmessage = async (ev) => {
  const m = ev.data;
  try {
    if (m.type === "init") await init(m);
    else if (m.type === "run") run(m);
    else if (m.type === "tcl") tcl(m);
  } catch (e) {
    post({ type: "error", id: m.id, message: String((e && e.message) || e).trim().split("\n").pop() });
  }
};
