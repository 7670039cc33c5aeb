// Models: what the relay serves, one model's details, and a way to try it (draw, upload a WAV, or stream text).
import { argmax, chunk, digitPad, softmax } from "./digitpad.js";
import { fmtBytes, fmtNum, getJSON, h, kv, table, tool, wsURL } from "./api.js";
import { base64Of, wavToPcm16 } from "./wav.js";

export async function render(main, ctx) {
  main.append(h("h1", { text: "Models" }));
  const { models, errors } = await tool("list_models");
  const infos = await Promise.all(models.map((m) => tool("model_info", { model: m.name })));
  const detail = h("div", { id: "model-detail" });
  main.append(h("div", { class: "card" }, table(
    ["model", "kind", "input", "ops", "MACs", "bits/weight", "arena", "file", "host ms"],
    infos.map((i) => [h("a", { href: `#${i.name}`, "data-model": i.name, text: i.name,
                               onclick: (ev) => { ev.preventDefault(); show(i); } }),
                      i.kind, i.inputs.map((x) => `${x.name} [${x.shape}]`).join(", "), i.ops, fmtNum(i.macs),
                      i.bits_per_weight, fmtBytes(i.arena_bytes), fmtBytes(i.bytes), i.run_ms])),
    Object.keys(errors).length ? h("p", { class: "error", text: "not loaded: " +
      Object.entries(errors).map(([k, v]) => `${k}: ${v}`).join("; ") }) : null));
  main.append(detail);

  const mon = await getJSON("/api/monitoring");
  function show(i) {
    detail.replaceChildren(h("div", { class: "grid two" }, details(i, mon, ctx), tryIt(i, ctx)));
    history.replaceState(null, "", `#${i.name}`);
  }
  const want = infos.find((i) => i.name === location.hash.slice(1)) || infos[0];
  if (want) show(want);
}

function details(i, mon, ctx) {
  const q = i.quant || {};
  return h("div", { class: "card" }, h("h2", { text: i.name }),
    h("dl", { class: "kv" },
      ...kv("file", `${i.file} (${fmtBytes(i.bytes)})`),
      ...kv("inputs", i.inputs.map((x) => `${x.name} [${x.shape}] ${x.dtype}`).join(", ")),
      ...kv("outputs", i.outputs.map((x) => `${x.name} [${x.shape}]`).join(", ")),
      ...kv("weights", `${q.bits || "?"}-bit ${q.scheme || ""}, block ${q.block || "?"}, ` +
                       `${i.bits_per_weight} bits per weight; activations ${q.act || "float"}`),
      ...kv("arena", `${fmtBytes(i.arena_bytes)} + scratch ${fmtBytes(i.scratch_bytes)}`),
      ...kv("MACs", fmtNum(i.macs)),
      ...kv("host latency", i.run_ms == null ? "" : `${i.run_ms} ms (numpy, this relay)`),
      ...(i.labels ? kv("labels", i.labels.join(" ")) : [])),
    h("h2", { text: "Layers", class: "spaced" }),
    table(["op", "name", "output", "MACs", "weight"],
          i.layers.map((l) => [l.op, l.name, `[${l.output}]`, fmtNum(l.macs), l.weight])),
    onBoards(i, mon), emulated(i, ctx));
}

// Figures from the boards' emulated cores (model_profile: QEMU, deterministic instruction counts), cached on
// the relay; an operator can run one more.
function emulated(i, ctx) {
  const box = h("div", { id: "emulated" });
  const draw = (profiles) => {
    box.replaceChildren(h("h2", { class: "spaced", text: "On emulated boards" }),
      profiles.length ? table(["board", "core", `instructions / ${i.text ? "token" : "inference"}`, "per MAC",
                               "est. ms", "heap", "kernels"],
        profiles.map((p) => [p.board, p.core, h("span", { "data-instructions": p.board, text: fmtNum(p.instructions) }),
                             p.instructions_per_mac ? p.instructions_per_mac.toFixed(1) : "",
                             p.estimated_ms ? p.estimated_ms.toFixed(1) : "", fmtBytes(p.heap.total),
                             p.kernels.join(", ")]))
        : h("p", { class: "muted", text: "Not profiled on an emulated board yet." }));
    if (!ctx.can("operator")) return;
    const board = h("select", { id: "profile-board" }, i.emulated_boards.map((b) => h("option", { value: b, text: b })));
    const kern = h("select", { id: "profile-kernels" }, ["auto", "c", "viper", "python"].map((k) => h("option", { value: k, text: k })));
    const go = h("button", { id: "profile", text: "Profile" }), note = h("span", { class: "muted" });
    go.onclick = async () => {
      go.disabled = true; note.textContent = "booting the emulated board…"; note.className = "muted";
      try {
        await tool("model_profile", { model: i.name, board: board.value, kernels: kern.value });
        draw((await tool("model_info", { model: i.name })).profiles);
      } catch (e) { note.textContent = e.message; note.className = "error"; go.disabled = false; }
    };
    box.append(h("div", { class: "row" }, board, kern, go, note));
  };
  draw(i.profiles);
  return box;
}

// What boards measured running this model (board_infer through the relay): latency, peak heap, kernel paths.
function onBoards(i, mon) {
  const runs = Object.entries(mon.boards || {}).filter(([, b]) => b.infer && b.infer.model === i.name);
  const box = h("div", { id: "on-boards" }, h("h2", { class: "spaced", text: "On boards" }));
  if (!runs.length) {
    box.append(h("p", { class: "muted", text: "No board has run it through this relay yet (board_infer)." }));
    return box;
  }
  box.append(table(["board", "runs", "p50 ms", "peak heap", "kernel paths"], runs.map(([name, b]) => [
    name, b.infer.runs, b.infer.latency_ms.p50, fmtBytes(b.infer.peak_heap_bytes),
    Object.entries(b.infer.kernels || {}).map(([k, n]) => `${k} x${n}`).join(", ")])));
  return box;
}

function tryIt(i, ctx) {
  const card = h("div", { class: "card", id: "try" }, h("h2", { text: "Try it" }));
  if (!ctx.can("operator")) {
    card.append(h("p", { class: "muted", text: "Running models needs an operator key; yours is a " +
      `${ctx.me.role} key.` }));
    return card;
  }
  if (i.kind === "image") card.append(imageTry(i));
  else if (i.kind === "audio") card.append(audioTry(i));
  else if (i.kind === "text") card.append(textTry(i));
  else card.append(tensorTry(i));
  return card;
}

function labelOf(i, logits) {
  const b = argmax(logits), p = softmax(logits)[b];
  return { index: b, label: i.labels ? i.labels[b] : String(b), p };
}

function showLabel(out, i, res) {
  const v = res.outputs[0].values.flat(Infinity), l = labelOf(i, v);
  out.replaceChildren(h("span", { class: "big", text: l.label }),
                      ` p=${l.p.toFixed(3)} · ${res.ms} ms on the relay`);
  out.dataset.label = l.label;
  return l;
}

function imageTry(i) {
  const shape = i.inputs[0].shape, pad = digitPad();
  const out = h("div", { class: "result", id: "relay-result" });
  const run = async () => {
    const x = pad.input(shape[2], shape[3]);
    out.replaceChildren("…");
    delete out.dataset.label;  // no answer shown is for an older drawing
    out.dataset.input = JSON.stringify(x);
    try {
      showLabel(out, i, await tool("infer", { model: i.name, input: [[chunk(x, shape[3])]] }));
    } catch (e) { out.replaceChildren(h("span", { class: "error", text: e.message })); }
  };
  return h("div", {}, h("p", { class: "muted", text: "Draw a digit, then classify it on the relay." }), pad.canvas,
           h("div", { class: "row" }, h("button", { id: "classify", text: "Classify", onclick: run }),
             h("button", { class: "secondary", text: "Clear", onclick: () => { pad.clear(); out.replaceChildren(); } })),
           out);
}

function audioTry(i) {
  const file = h("input", { type: "file", id: "wav", accept: ".wav,audio/wav" });
  const out = h("div", { class: "result", id: "relay-result" });
  file.addEventListener("change", async () => {
    out.replaceChildren("…");
    try {
      const pcm = await wavToPcm16(await file.files[0].arrayBuffer(), i.audio_rate);
      const b64 = base64Of(new Uint8Array(pcm.buffer));
      showLabel(out, i, await tool("infer", { model: i.name, data: b64, dtype: "pcm16" }));
    } catch (e) { out.replaceChildren(h("span", { class: "error", text: e.message })); }
  });
  return h("div", {}, h("p", { class: "muted", text: `Upload a WAV (PCM or float; other rates are resampled to ${i.audio_rate} Hz).` + " The relay finds the word and computes MFCCs with the board's own front end." }), file, out);
}

function textTry(i) {
  const prompt = h("input", { type: "text", id: "prompt", value: "The board " });
  const out = h("div", { class: "tokens", id: "tokens" }), stats = h("p", { class: "muted", id: "gen-stats" });
  const go = h("button", { id: "generate", text: "Generate" });
  go.onclick = () => {
    out.textContent = ""; stats.textContent = ""; go.disabled = true;
    let n = 0;
    const ws = new WebSocket(wsURL("/ws/generate"));
    ws.onopen = () => ws.send(JSON.stringify({ model: i.name, prompt: prompt.value, max_tokens: 48 }));
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.error) { stats.textContent = m.error; stats.className = "error"; ws.close(); }
      else if (m.done) {
        stats.textContent = `${m.tokens} tokens in ${m.ms} ms`; out.dataset.done = "1"; out.dataset.text = m.text;
        ws.close();
      } else { out.textContent += m.token; out.dataset.tokens = ++n; }
    };
    ws.onclose = () => { go.disabled = false; };
  };
  return h("div", {}, h("p", { class: "muted", text: "Tokens stream over /ws/generate as the relay makes them." }),
           prompt, h("div", { class: "row" }, go), out, stats);
}

function tensorTry(i) {
  const box = h("textarea", { id: "tensor", text: JSON.stringify(zeros(i.inputs[0].shape)) });
  const out = h("pre", { id: "relay-result" });
  const run = async () => {
    try {
      const r = await tool("infer", { model: i.name, input: JSON.parse(box.value) });
      out.textContent = JSON.stringify(r.outputs, null, 1);
    } catch (e) { out.textContent = e.message; }
  };
  return h("div", {}, h("p", { class: "muted", text: `Input ${i.inputs[0].name} as nested lists.` }), box,
           h("div", { class: "row" }, h("button", { text: "Run", onclick: run })), out);
}

function zeros(shape) {
  return shape.length ? Array.from({ length: shape[0] }, () => zeros(shape.slice(1))) : 0;
}
