// A line chart on a canvas: a few series over the last N points, the y axis from 0 to the largest value.
export class Chart {
  constructor(canvas, series, { points = 60, unit = "" } = {}) {
    this.canvas = canvas;
    this.series = series; // [{name, color}]
    this.data = series.map(() => []);
    this.points = points;
    this.unit = unit;
  }

  push(values) {
    values.forEach((v, i) => {
      const d = this.data[i];
      d.push(Number.isFinite(v) ? v : null);
      if (d.length > this.points) d.shift();
    });
    this.draw();
  }

  draw() {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 300, hgt = c.clientHeight || 180;
    if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(hgt * dpr); }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    const left = 44, top = 18, bottom = hgt - 16, right = w - 6;
    let max = 0;
    for (const d of this.data) for (const v of d) if (v !== null && v > max) max = v;
    max = max > 0 ? niceCeil(max) : 1;
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#5c6670";
    g.strokeStyle = "#d8dde3";
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = bottom - (bottom - top) * i / 4;
      g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
      g.fillText(fmt(max * i / 4) + this.unit, 2, y + 4);
    }
    const step = (right - left) / Math.max(1, this.points - 1);
    let lx = left;
    this.series.forEach((s, i) => {
      const d = this.data[i], off = this.points - d.length;
      g.strokeStyle = s.color; g.lineWidth = 2; g.beginPath();
      let pen = false;
      d.forEach((v, j) => {
        if (v === null) { pen = false; return; }
        const x = left + (off + j) * step, y = bottom - (bottom - top) * v / max;
        if (pen) g.lineTo(x, y); else g.moveTo(x, y);
        pen = true;
      });
      g.stroke();
      g.fillStyle = s.color;
      g.fillRect(lx, 3, 10, 10);
      g.fillStyle = "#1b1f24";
      g.fillText(s.name, lx + 13, 12);
      lx += g.measureText(s.name).width + 28;
    });
  }
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v)), m = v / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function fmt(v) {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}
