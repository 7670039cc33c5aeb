// A WAV file -> 16-bit mono PCM at `rate` (Int16Array). Reads RIFF PCM (8/16/24/32-bit int) and IEEE float
// WAVs itself; the first channel is kept and other rates are resampled linearly.
export async function wavToPcm16(buf, rate) {
  const v = new DataView(buf), tag = (o) => String.fromCharCode(...new Uint8Array(buf, o, 4));
  if (buf.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error("not a WAV file (RIFF/WAVE)");
  let fmt = null, data = null;
  for (let o = 12; o + 8 <= buf.byteLength;) {
    const id = tag(o), n = v.getUint32(o + 4, true);
    if (id === "fmt " && n >= 16) fmt = { code: v.getUint16(o + 8, true), ch: v.getUint16(o + 10, true),
                                          rate: v.getUint32(o + 12, true), bits: v.getUint16(o + 22, true) };
    if (id === "data") data = [o + 8, Math.min(n, buf.byteLength - o - 8)];
    o += 8 + n + (n & 1);
  }
  if (!fmt || !data) throw new Error("the WAV has no fmt or data chunk");
  const float = fmt.code === 3, bytes = fmt.bits / 8;
  if (!(fmt.code === 1 || float || fmt.code === 0xfffe) || ![1, 2, 3, 4].includes(bytes) || !fmt.ch || !fmt.rate) {
    throw new Error(`unsupported WAV: format ${fmt.code}, ${fmt.bits} bits`);
  }
  const frames = Math.floor(data[1] / (bytes * fmt.ch));
  if (!frames) throw new Error("the WAV holds no samples");
  const x = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    const o = data[0] + i * bytes * fmt.ch;
    x[i] = float ? (bytes === 4 ? v.getFloat32(o, true) : 0)
      : bytes === 1 ? (v.getUint8(o) - 128) / 128 : bytes === 2 ? v.getInt16(o, true) / 32768
      : bytes === 3 ? ((v.getUint8(o + 2) << 24 | v.getUint8(o + 1) << 16 | v.getUint8(o) << 8) >> 8) / 8388608
      : v.getInt32(o, true) / 2147483648;
  }
  const n = Math.round(frames * rate / fmt.rate), out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const t = i * fmt.rate / rate, k = Math.floor(t), f = t - k;
    const s = k + 1 < frames ? x[k] * (1 - f) + x[k + 1] * f : x[Math.min(k, frames - 1)];
    out[i] = Math.max(-32768, Math.min(32767, Math.round(s * 32768)));
  }
  return out;
}

export function base64Of(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
