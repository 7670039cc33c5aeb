// A drawing pad for the digit model: white strokes on black (the model's 0 is the background), averaged over
// square blocks down to the model's input size (8x8 for digits) and scaled to 0..1, as the board's
// classify() does with vision.resize_area on a 0..255 image.
import { h } from "./api.js";

export function digitPad(size = 192) {
  const canvas = h("canvas", { class: "pad", width: size, height: size, "aria-label": "draw a digit" });
  const g = canvas.getContext("2d", { willReadFrequently: true });
  const clear = () => { g.fillStyle = "#000"; g.fillRect(0, 0, size, size); };
  clear();
  g.strokeStyle = "#fff"; g.lineCap = "round"; g.lineJoin = "round"; g.lineWidth = size / 9;
  let last = null;
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * size / r.width, (ev.clientY - r.top) * size / r.height];
  };
  canvas.addEventListener("pointerdown", (ev) => {
    canvas.setPointerCapture(ev.pointerId);
    last = at(ev);
    g.beginPath(); g.moveTo(...last); g.lineTo(...last); g.stroke();
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!last) return;
    const p = at(ev);
    g.beginPath(); g.moveTo(...last); g.lineTo(...p); g.stroke();
    last = p;
  });
  const end = () => { last = null; canvas.dispatchEvent(new Event("drawn")); };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  // The input for a model whose input is [.., H, W]: block means of the red channel, / 255.
  const input = (hgt = 8, wid = 8) => {
    const px = g.getImageData(0, 0, size, size).data, bx = size / wid, by = size / hgt, out = [];
    for (let y = 0; y < hgt; y++) {
      for (let x = 0; x < wid; x++) {
        let s = 0, n = 0;
        for (let yy = Math.floor(y * by); yy < Math.floor((y + 1) * by); yy++) {
          for (let xx = Math.floor(x * bx); xx < Math.floor((x + 1) * bx); xx++) { s += px[(yy * size + xx) * 4]; n++; }
        }
        out.push(s / n / 255);
      }
    }
    return out;
  };
  return { canvas, clear, input };
}

export function argmax(v) {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[b]) b = i;
  return b;
}

export function softmax(v) {
  const m = Math.max(...v), e = v.map((x) => Math.exp(x - m)), s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

export function chunk(x, n) {  // a flat list -> rows of n
  const rows = [];
  for (let k = 0; k < x.length; k += n) rows.push(x.slice(k, k + n));
  return rows;
}
