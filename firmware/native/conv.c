// Convolution (one output row, or a whole layer in one call), max pooling, pruned rows and int8 dot products.
#include "kernels.h"

// pruned q4 rows: the row pointers, columns and nibbles are data, so each row's extent and each column is checked
void k_csr_rows(span_t w, int ptr_off, int col_off, int val_off, int r0, int r1, span_t xq, int32_t *acc) {
    k_need((int64_t)ptr_off + 4 * (int64_t)r0, (int64_t)ptr_off + 4 * (int64_t)r1 + 4, w.n);
    for (int r = r0; r < r1; r++) {
        const uint8_t *po = w.p + ptr_off + 4 * r;
        uint32_t i = po[0] | (po[1] << 8) | (po[2] << 16) | ((uint32_t)po[3] << 24);
        uint32_t e = po[4] | (po[5] << 8) | (po[6] << 16) | ((uint32_t)po[7] << 24);
        int32_t s = 0;
        if (i < e) {
            k_need((int64_t)col_off + 2 * (int64_t)i, (int64_t)col_off + 2 * (int64_t)e, w.n);
            k_need((int64_t)val_off + (i >> 1), (int64_t)val_off + ((e - 1) >> 1) + 1, w.n);
        }
        for (; i < e; i++) {
            const uint8_t *co = w.p + col_off + 2 * i;
            uint32_t v = w.p[val_off + (i >> 1)];
            int32_t col = co[0] | (co[1] << 8);
            if (i & 1) {
                v >>= 4;
            }
            if (col >= xq.n) {
                k_need(col, col + 1, xq.n);
            }
            s += ((int32_t)(v & 15) - 8) * ((int32_t)xq.p[col] - 128);
        }
        acc[2 * r] = s;
        acc[2 * r + 1] = 0;
    }
}

// one conv window (channels c0.., (channel, ky, kx) order) into xq as x + 128; padding is 0 (stored 128)
static void patch(const uint8_t *xin, int c0, int cg, int H, int W, int kh, int kw, int y0, int x0, int dh, int dw,
    uint8_t *xq) {
    int k = 0;
    for (int c = c0; c < c0 + cg; c++) {
        const uint8_t *plane = xin + c * H * W;
        for (int ky = 0; ky < kh; ky++) {
            int y = y0 + ky * dh;
            if (y < 0 || y >= H) {
                for (int kx = 0; kx < kw; kx++) {
                    xq[k++] = 128;
                }
                continue;
            }
            const uint8_t *row = plane + y * W;
            for (int kx = 0, x = x0; kx < kw; kx++, x += dw) {
                xq[k++] = (x >= 0 && x < W) ? row[x] : 128;
            }
        }
    }
}

// Convolutions over one input channel per group (depthwise ones, and first layers on a one-channel input) whose
// K = kh*kw columns are one q4 or q8 block, row by row. k_dw_pad copies the input plane with its padding (x + 128 = 128:
// x = 0) into pad[Hp*Wp], so no tap is bounds-checked; k_dw_codes unpacks a row's codes; k_dw_rows uses
// sum(u*x) = sum(u*(x+128)) - 128*sum(u), symmetric 3x3 stride-1 windows unrolled.
void k_dw_pad(const uint8_t *plane, int H, int W, int pt, int pl, int Hp, int Wp, uint8_t *pad) {
    for (int y = 0; y < Hp; y++) {
        int yy = y - pt;
        uint8_t *o = pad + y * Wp;
        if (yy < 0 || yy >= H) {
            for (int x = 0; x < Wp; x++) {
                o[x] = 128;
            }
            continue;
        }
        const uint8_t *row = plane + yy * W;
        for (int x = 0; x < Wp; x++) { // left padding, the row, right padding: one test a byte
            int xx = x - pl;
            o[x] = (unsigned)xx < (unsigned)W ? row[xx] : 128;
        }
    }
}

// a depthwise row's K codes (sym: less 8; q8: the int8 codes, scaled as sym) into u, and its scale codes:
// u[K] = sum of u, u[K+1] = sc, u[K+2] = mc
void k_dw_codes(const uint8_t *row, int hdr, int cb, int asym, int q8, int K, int32_t *u) {
    const uint8_t *cod = row + hdr, *q = cod + cb;
    int32_t su = 0;
    for (int k = 0; k < K; k++) {
        u[k] = q8 ? (int8_t)q[k] : ((q[k >> 1] >> ((k & 1) * 4)) & 15) - (asym ? 0 : 8); // sym: sc * sum (u - 8) x
        su += u[k];
    }
    u[K] = su;
    codes(cod, 0, cb >> 1, asym && !q8, u + K + 1, u + K + 2);
}

// the 3x3 window at top (rows Wp apart) against the codes u: *p = sum u*x, *s = sum x
static inline void dot3x3(const uint8_t *top, int Wp, const int32_t *u, int32_t *pp, int32_t *ss) {
#if defined(__ARM_ARCH_6M__)
    // Cortex-M0: 5 instructions a tap; GCC's schedule of the C below reloads u from the stack at every tap
    int32_t p, s, v, t;
    const uint8_t *row = top;
#define HYQ_TAP(i, j) \
    "ldrb %[v], [%[row], #" #i "]\n" \
    "ldr %[t], [%[u], #" #j "]\n" \
    "muls %[t], %[v], %[t]\n" \
    "adds %[p], %[p], %[t]\n" \
    "adds %[s], %[s], %[v]\n"
    __asm__ (
        ".syntax unified\n"
        "ldrb %[s], [%[row], #0]\n"
        "ldr %[p], [%[u], #0]\n"
        "muls %[p], %[s], %[p]\n"
        HYQ_TAP(1, 4) HYQ_TAP(2, 8)
        "adds %[row], %[row], %[wp]\n"
        HYQ_TAP(0, 12) HYQ_TAP(1, 16) HYQ_TAP(2, 20)
        "adds %[row], %[row], %[wp]\n"
        HYQ_TAP(0, 24) HYQ_TAP(1, 28) HYQ_TAP(2, 32)
        : [p] "=&l" (p), [s] "=&l" (s), [v] "=&l" (v), [t] "=&l" (t), [row] "+l" (row)
        : [u] "l" (u), [wp] "l" (Wp)
        : "cc", "memory");
#undef HYQ_TAP
    *pp = p;
    *ss = s;
#else
    const uint8_t *r0 = top, *r1 = r0 + Wp, *r2 = r1 + Wp;
    *pp = u[0] * r0[0] + u[1] * r0[1] + u[2] * r0[2] + u[3] * r1[0] + u[4] * r1[1] + u[5] * r1[2] + u[6] * r2[0]
        + u[7] * r2[1] + u[8] * r2[2];
    *ss = r0[0] + r0[1] + r0[2] + r1[0] + r1[1] + r1[2] + r2[0] + r2[1] + r2[2];
#endif
}

// Output rows oy0..oy1-1 of one output channel (codes u): with its requantization table rq, its int8 outputs
// y[(oy - oy0)*Wo + ox] directly; else (one row) acc[2*ox], acc[2*ox + 1] for the float finish. Products first,
// DW_CHUNK positions at a time, then the outputs: two loops that each fit a Cortex-M0's registers.
#define DW_CHUNK 32
void k_dw_rows(const uint8_t *pad, int Wp, int kh, int kw, int oy0, int oy1, int Wo, int sh, int sw, int dh, int dw,
    const int32_t *u, int asym, const int32_t *rq, uint8_t *y, int32_t *acc) {
    int K = kh * kw, k33 = kh == 3 && kw == 3 && dh == 1 && dw == 1;
    int32_t off = 128 * u[K], sc = u[K + 1], mc = asym ? u[K + 2] : 0, nk = 128 * K;
    int32_t pv[DW_CHUNK], sv[DW_CHUNK];
    rq_t q;
    if (rq) {
        rq_load(rq, &q);
    }
    for (int oy = oy0; oy < oy1; oy++) {
        for (int x0 = 0; x0 < Wo; x0 += DW_CHUNK) {
            int n = Wo - x0 < DW_CHUNK ? Wo - x0 : DW_CHUNK;
            const uint8_t *top = pad + oy * sh * Wp + x0 * sw;
            if (k33) {
                for (int i = 0; i < n; i++, top += sw) {
                    dot3x3(top, Wp, u, pv + i, sv + i);
                }
            } else {
                for (int i = 0; i < n; i++, top += sw) {
                    int32_t p = 0, s = 0;
                    const int32_t *uq = u;
                    for (int ky = 0; ky < kh; ky++, uq += kw) {
                        const uint8_t *rr = top + ky * dh * Wp;
                        for (int kx = 0; kx < kw; kx++) {
                            int32_t v = rr[kx * dw];
                            p += uq[kx] * v;
                            s += v;
                        }
                    }
                    pv[i] = p;
                    sv[i] = s;
                }
            }
            if (rq) {
                for (int i = 0; i < n; i++) {
                    *y++ = rq_apply(&q, sc * (pv[i] - off), mc * (sv[i] - nk));
                }
            } else {
                for (int i = 0; i < n; i++) {
                    acc[2 * (x0 + i)] = sc * (pv[i] - off);
                    acc[2 * (x0 + i) + 1] = mc * (sv[i] - nk);
                }
            }
        }
    }
}

void k_conv_row(const uint8_t *xin, int c0, int cg, int H, int W, int kh, int kw, int oy, int Wo, int sh, int sw,
    int pt, int pl, int dh, int dw, uint8_t *xq, const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int B,
    int K, int rows, int32_t *sx, int32_t *acc, int asym, int q8, const int8_t *cc) {
    int y0 = oy * sh - pt;
    for (int ox = 0; ox < Wo; ox++) {
        patch(xin, c0, cg, H, W, kh, kw, y0, ox * sw - pl, dh, dw, xq);
        k_block_sums(xq, K, B, nb, sx);
        int r0 = ox * rows;
        if (q8) {
            k_q8_rows(w, wo - r0 * stride, stride, hdr, cb, nb, B, K, r0, r0 + rows, xq, acc, cc);
        } else {
            k_q4_rows(w, wo - r0 * stride, stride, hdr, cb, nb, B, K, r0, r0 + rows, xq, sx, acc, asym, cc);
        }
    }
}

// the extents conv_row reads and writes, checked before it runs
void k_check_conv(span_t xin, int c0, int cg, int H, int W, int kh, int kw, int Wo, span_t xq, span_t w, int wo,
    int stride, int hdr, int cb, int nb, int B, int K, int rows, span_t sx, span_t acc, int asym, int q8) {
    if (c0 < 0 || cg < 0 || H < 0 || W < 0 || kh < 0 || kw < 0 || Wo < 0 || rows < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("kernel argument out of range"));
    }
    k_need_items(xin, 0, ((int64_t)c0 + cg) * H * W, 1);
    k_need_items(xq, 0, (int64_t)cg * kh * kw, 1);
    k_need_items(xq, 0, K, 1);
    k_need_items(sx, 0, nb, 4);
    k_need_items(acc, 0, (int64_t)Wo * rows, 8);
    k_check_rows(w, wo, stride, hdr, cb, nb, B, K, 0, rows, asym, q8);
}

// the taps k0..k1-1 of a window of k taps, d apart from position p0, that fall inside 0..n-1
static inline void taps_inside(int p0, int k, int d, int n, int *k0, int *k1) {
    int a = 0, b = k;
    while (a < k && p0 + a * d < 0) {
        a++;
    }
    while (b > a && p0 + (b - 1) * d >= n) {
        b--;
    }
    *k0 = a;
    *k1 = b;
}

// int8 (+128) max pooling: the window clipped to the plane once per output, no per-tap checks
static void maxpool8(const uint8_t *x, uint8_t *y, int planes, int H, int W, int Ho, int Wo, int kh, int kw, int sh,
    int sw, int pt, int pl, int dh, int dw, uint8_t fill) {
    for (int c = 0; c < planes; c++, x += H * W) {
        for (int oy = 0; oy < Ho; oy++) {
            int y0 = oy * sh - pt, ky0, ky1;
            taps_inside(y0, kh, dh, H, &ky0, &ky1);
            for (int ox = 0; ox < Wo; ox++) {
                int x0 = ox * sw - pl, kx0, kx1;
                taps_inside(x0, kw, dw, W, &kx0, &kx1);
                int best = -1;
                for (int ky = ky0; ky < ky1; ky++) {
                    const uint8_t *r = x + (y0 + ky * dh) * W + x0;
                    for (int kx = kx0; kx < kx1; kx++) {
                        int v = r[kx * dw];
                        if (v > best) {
                            best = v;
                        }
                    }
                }
                *y++ = best < 0 ? fill : (uint8_t)best;
            }
        }
    }
}

void k_maxpool(const uint8_t *x, uint8_t *y, int planes, int H, int W, int Ho, int Wo, int kh, int kw, int sh,
    int sw, int pt, int pl, int dh, int dw, int width, const uint8_t *fill) {
    if (width == 1 && dh > 0 && dw > 0) {
        maxpool8(x, y, planes, H, W, Ho, Wo, kh, kw, sh, sw, pt, pl, dh, dw, fill[0]);
        return;
    }
    for (int c = 0; c < planes; c++) {
        int xb = c * H * W, yb = c * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++) {
            for (int ox = 0; ox < Wo; ox++) {
                int src = -1;
                int32_t best = 0;
                for (int ky = 0; ky < kh; ky++) {
                    int yy = oy * sh - pt + ky * dh;
                    if (yy < 0 || yy >= H) {
                        continue;
                    }
                    for (int kx = 0; kx < kw; kx++) {
                        int xx = ox * sw - pl + kx * dw;
                        if (xx < 0 || xx >= W) {
                            continue;
                        }
                        int i = (xb + yy * W + xx) * width;
                        int32_t k;
                        if (width == 1) {
                            k = x[i];
                        } else { // float32 bits ordered by a sign-and-magnitude key
                            uint32_t b = x[i] | (x[i + 1] << 8) | (x[i + 2] << 16) | ((uint32_t)x[i + 3] << 24);
                            k = (int32_t)(b & 0x7FFFFFFF);
                            if (b >> 31) {
                                k = -k;
                            }
                        }
                        if (src < 0 || k > best) {
                            best = k;
                            src = i;
                        }
                    }
                }
                uint8_t *o = y + (yb + oy * Wo + ox) * width;
                for (int j = 0; j < width; j++) {
                    o[j] = src < 0 ? fill[j] : x[src + j];
                }
            }
        }
    }
}

void k_dot8(const uint8_t *a, int ao, int stride, int rows, const uint8_t *b, int n, int32_t *out) {
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = a + ao + r * stride;
        int32_t s = 0;
        for (int k = 0; k < n; k++) {
            s += ((int32_t)row[k] - 128) * ((int32_t)b[k] - 128);
        }
        out[r] = s;
    }
}
