// The board in the browser: the firmware runs on MicroPython's WebAssembly port in a Web Worker
// (board-worker.mjs). A drawn digit is classified there and on the relay, side by side; Picol answers Tcl.
import { argmax, chunk, digitPad, softmax } from "./digitpad.js";
import { fmtBytes, h, key, kv, tool } from "./api.js";

export async function render(main, ctx) {
  main.append(h("h1", { text: "The board in your browser" }),
              h("p", { class: "muted", text: "MicroPython's WebAssembly port runs firmware/hyperion in a Web " +
                "Worker, as a board would: the same .hyq reader, ops and bytecode kernels. WebAssembly has no " +
                "viper or native code, so the bytecode kernels run here." }));
  const { models } = await tool("list_models");
  const infos = await Promise.all(models.map((m) => tool("model_info", { model: m.name })));
  const images = infos.filter((i) => i.kind === "image");
  if (!images.length) {
    main.append(h("p", { class: "muted", text: "The relay serves no image model (like models/digits) to try." }));
    return;
  }
  const info = images.find((i) => i.name === "digits") || images[0];
  if (!ctx.can("operator")) {  // the model's weights are an operator's to take
    main.append(h("div", { class: "card" }, h("p", { class: "muted", id: "wasm-role",
      text: `Running ${info.name} in your browser needs an operator key: the page downloads its weights.` })));
    return;
  }
  const bar = h("progress", { id: "load-bar", max: 1, value: 0 }), stage = h("p", { class: "muted", id: "load-stage" });
  const state = h("dl", { class: "kv", id: "wasm-info" });
  main.append(h("div", { class: "card" }, h("h2", { text: `Loading MicroPython and ${info.name}` }), bar, stage, state));

  const worker = new Worker("/ui/static/board-worker.mjs", { type: "module" });
  let nextId = 0;
  const waiting = new Map();
  let ready;
  const readyP = new Promise((res, rej) => { ready = { res, rej }; });
  worker.onmessage = (ev) => {
    const m = ev.data;
    if (m.type === "progress") {
      bar.max = m.total || 1; bar.value = m.done;
      stage.textContent = `${m.stage}: ${fmtBytes(m.done)}${m.total ? " of " + fmtBytes(m.total) : ""}`;
    } else if (m.type === "ready") ready.res(m);
    else if (m.type === "error" && m.id === undefined) ready.rej(new Error(m.message));
    else if (waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
  };
  worker.onerror = (e) => ready.rej(new Error(e.message || "the worker failed"));
  const ask = (msg) => new Promise((res) => { const id = ++nextId; waiting.set(id, res); worker.postMessage({ ...msg, id }); });
  worker.postMessage({ type: "init", model: info.name, key: key() });

  let r;
  try { r = await readyP; } catch (e) {
    stage.textContent = e.message; stage.className = "error"; document.body.dataset.wasm = "failed";
    return;
  }
  bar.value = bar.max;
  stage.textContent = "ready";
  state.append(...kv("MicroPython", r.version), ...kv("kernel per op", r.kernels),
               ...kv("heap after load", fmtBytes(r.heap)), ...kv("downloaded",
                 `firmware ${fmtBytes(r.bytes.firmware)}, model ${fmtBytes(r.bytes.model)}`),
               ...kv("start", `runtime ${r.init_ms.toFixed(0)} ms, load model ${r.load_ms.toFixed(0)} ms`));
  document.body.dataset.wasm = "ready";

  const shape = info.inputs[0].shape, pad = digitPad();
  const wasmOut = h("div", { class: "result", id: "wasm-result" }), relayOut = h("div", { class: "result", id: "relay-result" });
  const canRelay = true;  // an operator key, as the download of the weights needed
  const both = h("button", { id: "classify", text: canRelay ? "Classify here and on the relay" : "Classify here" });
  both.onclick = async () => {
    const x = pad.input(shape[2], shape[3]);
    for (const el of [wasmOut, relayOut]) {  // no answer shown is for an older drawing
      el.replaceChildren("…");
      for (const k of ["label", "logits", "ms"]) delete el.dataset[k];
    }
    wasmOut.dataset.input = JSON.stringify(x);
    both.disabled = true;
    const w = await ask({ type: "run", input: x });
    if (w.type === "error") wasmOut.replaceChildren(h("span", { class: "error", text: w.message }));
    else show(wasmOut, w.outputs, `${w.ms.toFixed(1)} ms in this browser (WebAssembly, bytecode kernels)`, w.ms);
    if (canRelay) {
      try {
        const res = await tool("infer", { model: info.name, input: [[chunk(x, shape[3])]] });
        show(relayOut, res.outputs[0].values.flat(Infinity), `${res.ms} ms on the relay (numpy)`, res.ms);
      } catch (e) { relayOut.replaceChildren(h("span", { class: "error", text: e.message })); }
    }
    both.disabled = false;
  };
  function show(el, logits, where, ms) {
    const b = argmax(logits), label = info.labels ? info.labels[b] : String(b);
    el.replaceChildren(h("span", { class: "big", text: label }), ` p=${softmax(logits)[b].toFixed(3)} · ${where}`);
    el.dataset.label = label;
    el.dataset.logits = JSON.stringify(logits);
    el.dataset.ms = ms;
  }
  main.append(h("div", { class: "grid two" },
    h("div", { class: "card" }, h("h2", { text: "Draw a digit" }), pad.canvas,
      h("div", { class: "row" }, both, h("button", { class: "secondary", text: "Clear",
        onclick: () => { pad.clear(); wasmOut.replaceChildren(); relayOut.replaceChildren(); } }))),
    h("div", { class: "card" }, h("h2", { text: "In this browser" }), wasmOut,
      h("h2", { text: "On the relay", class: "spaced" }),
      canRelay ? relayOut : h("p", { class: "muted", text: "Running models on the relay needs an operator key." }))));

  const src = h("input", { type: "text", id: "tcl-in", value: "set n 6; puts [expr {$n * 7}]" });
  const log = h("pre", { id: "tcl-log" });
  const go = async () => {
    const m = await ask({ type: "tcl", script: src.value });
    log.textContent += `% ${src.value}\n${m.out ? m.out + "\n" : ""}${m.error ? "error: " + m.error + "\n"
      : m.result ? m.result + "\n" : ""}`;
    log.dataset.lines = log.textContent.split("\n").length;
  };
  src.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
  main.append(h("div", { class: "card" }, h("h2", { text: "Tcl console (Picol, in the browser)" }), log,
    h("div", { class: "row" }, src, h("button", { id: "tcl-go", text: "Eval", onclick: go }))));
}
