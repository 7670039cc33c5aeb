// The module `hyperion.kernels.c`: the kernels of the calling convention (hyperion/kernels/__init__.py) and the
// whole-op kernels only this path has (conv, finish, act, binary, softmax, layernorm, matmul, gap). Each binding
// reads its arguments, checks every buffer extent it will touch, then calls the kernel.
#include "kernels.h"

#define I(i) ((int)k_int(args[i]))
#define F(i) ((float)mp_obj_get_float(args[i]))
#define RD(i) k_span(args[i], 0)
#define WR(i) k_span(args[i], 1)

static void bad(void) {
    mp_raise_ValueError(MP_ERROR_TEXT("kernel argument out of range"));
}

static mp_obj_t block_sums(size_t n_args, const mp_obj_t *args) {
    span_t xq = RD(0), sx = WR(4);
    int K = I(1), B = I(2), nb = I(3);
    if (K < 0 || nb < 0) {
        bad();
    }
    k_need_items(xq, 0, K, 1);
    k_need_items(sx, 0, nb, 4);
    k_block_sums(xq.p, K, B, nb, (int32_t *)sx.p);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(block_sums_obj, 5, 5, block_sums);

static mp_obj_t qrows(const mp_obj_t *args, int q8) {
    span_t w = RD(0), xq = RD(10), sx = RD(11), acc = WR(12);
    int wo = I(1), stride = I(2), hdr = I(3), cb = I(4), nb = I(5), B = I(6), K = I(7), r0 = I(8), r1 = I(9);
    int asym = I(13) ? 1 : 0;
    k_check_rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, asym, q8);
    k_need_items(xq, 0, K, 1);
    if (!q8) {
        k_need_items(sx, 0, nb, 4);
    }
    k_need_items(acc, 0, r1, 8);
    if (q8) {
        k_q8_rows(w.p, wo, stride, hdr, cb, nb, B, K, r0, r1, xq.p, (int32_t *)acc.p, NULL);
    } else {
        k_q4_rows(w.p, wo, stride, hdr, cb, nb, B, K, r0, r1, xq.p, (const int32_t *)sx.p, (int32_t *)acc.p, asym,
            NULL);
    }
    return mp_const_none;
}

static mp_obj_t q4_rows(size_t n_args, const mp_obj_t *args) {
    return qrows(args, 0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(q4_rows_obj, 14, 14, q4_rows);

static mp_obj_t q8_rows(size_t n_args, const mp_obj_t *args) {
    return qrows(args, 1);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(q8_rows_obj, 14, 14, q8_rows);

static mp_obj_t csr_rows(size_t n_args, const mp_obj_t *args) {
    span_t w = RD(0), xq = RD(8), acc = WR(9);
    int r0 = I(6), r1 = I(7);
    if (r0 < 0) {
        bad();
    }
    if (r1 > r0) {
        k_need_items(acc, 0, r1, 8);
        k_csr_rows(w, I(3), I(4), I(5), r0, r1, xq, (int32_t *)acc.p);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(csr_rows_obj, 10, 10, csr_rows);

static mp_obj_t dot8(size_t n_args, const mp_obj_t *args) {
    span_t a = RD(0), b = RD(4), out = WR(6);
    int ao = I(1), stride = I(2), rows = I(3), n = I(5);
    if (rows < 0 || n < 0) {
        bad();
    }
    k_need_rows(a, ao, stride, 0, rows, n);
    k_need_items(b, 0, n, 1);
    k_need_items(out, 0, rows, 4);
    k_dot8(a.p, ao, stride, rows, b.p, n, (int32_t *)out.p);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(dot8_obj, 7, 7, dot8);

static mp_obj_t conv_row(size_t n_args, const mp_obj_t *args) {
    span_t xin = RD(0), xq = WR(15), w = RD(16), sx = WR(25), acc = WR(26);
    int c0 = I(1), cg = I(2), H = I(3), W = I(4), kh = I(5), kw = I(6), oy = I(7), Wo = I(8);
    int wo = I(17), stride = I(18), hdr = I(19), cb = I(20), nb = I(21), B = I(22), K = I(23), rows = I(24);
    int asym = I(27) ? 1 : 0, q8 = I(28) ? 1 : 0;
    k_check_conv(xin, c0, cg, H, W, kh, kw, Wo, xq, w, wo, stride, hdr, cb, nb, B, K, rows, sx, acc, asym, q8);
    k_conv_row(xin.p, c0, cg, H, W, kh, kw, oy, Wo, I(9), I(10), I(11), I(12), I(13), I(14), xq.p, w.p, wo, stride,
        hdr, cb, nb, B, K, rows, (int32_t *)sx.p, (int32_t *)acc.p, asym, q8, NULL);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(conv_row_obj, 29, 29, conv_row);

static void check_out(int yo, int n, int rows, int rstep, int pstep, int width, int32_t len) {
    if (n <= 0 || rows <= 0) {
        return;
    }
    // the four corners of the (row, position) grid: the extremes of yo + r*rstep + p*pstep
    int64_t a = (int64_t)(rows - 1) * rstep, b = (int64_t)(n - 1) * pstep;
    int64_t lo = yo + (a < 0 ? a : 0) + (b < 0 ? b : 0), hi = yo + (a > 0 ? a : 0) + (b > 0 ? b : 0);
    k_need(lo * width, (hi + 1) * width, len);
}

// requant and finish: acc holds n positions of `rows` accumulator pairs, the per-row table (`per_row` bytes a row)
// holds rows r0.., the outputs land at y[yo + r*rstep + p*pstep] (items of `width` bytes)
static void check_rows_out(span_t acc, int n, int rows, int r0, span_t table, int per_row, span_t y, int yo,
    int rstep, int pstep, int width) {
    if (n < 0 || rows < 0 || r0 < 0) {
        bad();
    }
    k_need_items(acc, 0, (int64_t)n * rows, 8);
    k_need_items(table, r0, rows, per_row);
    check_out(yo, n, rows, rstep, pstep, width, y.n);
}

static mp_obj_t requant(size_t n_args, const mp_obj_t *args) {
    span_t acc = RD(0), rq = RD(3), y = WR(5);
    int n = I(1), rows = I(2), r0 = I(4), yo = I(6), rstep = I(7), pstep = I(8);
    check_rows_out(acc, n, rows, r0, rq, 28, y, yo, rstep, pstep, 1);
    k_requant((const int32_t *)acc.p, n, rows, (const int32_t *)rq.p, r0, y.p, yo, rstep, pstep);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(requant_obj, 9, 9, requant);

static mp_obj_t absmax(mp_obj_t x_in, mp_obj_t xo_in, mp_obj_t n_in) {
    span_t x = k_span(x_in, 0);
    int xo = k_int(xo_in), n = k_int(n_in);
    k_need_items(x, xo, (n > 0 ? n : 0), 4);
    return mp_obj_new_int(k_absmax((const uint32_t *)x.p + xo, n));
}
static MP_DEFINE_CONST_FUN_OBJ_3(absmax_obj, absmax);

static mp_obj_t quantize(size_t n_args, const mp_obj_t *args) {
    span_t x = RD(0), y = WR(3), d = RD(5);
    int xo = I(1), n = I(2), yo = I(4), di = I(6);
    if (n < 0) {
        bad();
    }
    k_need_items(x, xo, n, 4);
    k_need(yo, (int64_t)yo + n, y.n);
    k_need(4 * (int64_t)di, 4 * (int64_t)di + 4, d.n);
    k_quantize((const uint32_t *)x.p + xo, n, y.p + yo, ((const uint32_t *)d.p)[di], I(7));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(quantize_obj, 8, 8, quantize);

static mp_obj_t maxpool(size_t n_args, const mp_obj_t *args) {
    span_t x = RD(0), y = WR(1), fill = RD(16);
    int planes = I(2), H = I(3), W = I(4), Ho = I(5), Wo = I(6), width = I(15);
    if (planes < 0 || H < 0 || W < 0 || Ho < 0 || Wo < 0 || (width != 1 && width != 4)) {
        bad();
    }
    k_need(0, (int64_t)planes * H * W * width, x.n);
    k_need(0, (int64_t)planes * Ho * Wo * width, y.n);
    k_need_items(fill, 0, width, 1);
    k_maxpool(x.p, y.p, planes, H, W, Ho, Wo, I(7), I(8), I(9), I(10), I(11), I(12), I(13), I(14), width, fill.p);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(maxpool_obj, 17, 17, maxpool);

static mp_obj_t argmax(mp_obj_t x_in, mp_obj_t n_in) {
    span_t x = k_span(x_in, 0);
    int n = k_int(n_in);
    k_need_items(x, 0, (n > 0 ? n : 0), 4);
    return mp_obj_new_int(k_argmax((const uint32_t *)x.p, n));
}
static MP_DEFINE_CONST_FUN_OBJ_2(argmax_obj, argmax);

// nonfinite(x, n) -> the index of the first NaN or infinity among the float32 x[0:n], or -1
static mp_obj_t nonfinite(mp_obj_t x_in, mp_obj_t n_in) {
    span_t x = k_span(x_in, 0);
    int n = k_int(n_in);
    k_need_items(x, 0, n > 0 ? n : 0, 4);
    return mp_obj_new_int(k_nonfinite((const uint32_t *)x.p, n));
}
static MP_DEFINE_CONST_FUN_OBJ_2(nonfinite_obj, nonfinite);

// -- whole-op kernels (this path only) ------------------------------------------------------------------------

static const float *opt_floats(mp_obj_t o, int64_t count) {
    if (o == mp_const_none) {
        return NULL;
    }
    span_t s = k_span(o, 0);
    k_need_items(s, 0, count, 4);
    return (const float *)s.p;
}

// finish(acc, n, rows, sc, r0, s, bias, act, p0, p1, y, yo, rstep, pstep, asym): float outputs (k_finish)
static mp_obj_t finish(size_t n_args, const mp_obj_t *args) {
    span_t acc = RD(0), sc = RD(3), y = WR(10);
    int n = I(1), rows = I(2), r0 = I(4), yo = I(11), rstep = I(12), pstep = I(13);
    check_rows_out(acc, n, rows, r0, sc, 8, y, yo, rstep, pstep, 4);
    const float *bias = opt_floats(args[6], (int64_t)r0 + rows);
    k_finish((const int32_t *)acc.p, n, rows, (const float *)sc.p, r0, F(5), bias, I(7), F(8), F(9), (float *)y.p,
        yo, rstep, pstep, I(14));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(finish_obj, 15, 15, finish);

// conv(xin, g, xq, w, wo, sx, acc, y, yo, rq, sc, bias, f): a whole conv layer over one image, group by group and
// row by row: g = array('i') [C, H, W, G, kh, kw, Ho, Wo, sh, sw, pt, pl, dh, dw, og, stride, hdr, cb, nb, B, K,
// asym, q8, act]; int8 outputs with the requantization table rq, else float outputs from the row scales sc, the
// bias and f = array('f') [input scale, p0, p1]
enum { G_C, G_H, G_W, G_G, G_KH, G_KW, G_HO, G_WO, G_SH, G_SW, G_PT, G_PL, G_DH, G_DW, G_OG, G_STRIDE, G_HDR, G_CB,
       G_NB, G_B, G_K, G_ASYM, G_Q8, G_ACT, G_N };

static mp_obj_t conv(size_t n_args, const mp_obj_t *args) {
    span_t xin = RD(0), gs = RD(1), xq = WR(2), w = RD(3), sx = WR(5), acc = WR(6), y = WR(7);
    int wo = I(4), yo = I(8);
    k_need(0, 4 * G_N, gs.n);
    const int32_t *g = (const int32_t *)gs.p;
    int C = g[G_C], H = g[G_H], W = g[G_W], G = g[G_G], Ho = g[G_HO], Wo = g[G_WO], og = g[G_OG];
    if (G <= 0 || C < 0 || og < 0 || Ho < 0 || Wo < 0 || C % G || g[G_SH] < 1 || g[G_SW] < 1 || g[G_DH] < 1 ||
        g[G_DW] < 1 || g[G_KH] < 0 || g[G_KW] < 0) {
        bad();
    }
    int cg = C / G, hw = Ho * Wo, stride = g[G_STRIDE], asym = g[G_ASYM] ? 1 : 0, q8 = g[G_Q8] ? 1 : 0;
    // every group's rows lie within the weights; the last group's channels within xin
    k_check_conv(xin, C - cg, cg, H, W, g[G_KH], g[G_KW], Wo, xq, w, wo, stride, g[G_HDR], g[G_CB], g[G_NB], g[G_B],
        g[G_K], og, sx, acc, asym, q8);
    k_check_rows(w, wo, stride, g[G_HDR], g[G_CB], g[G_NB], g[G_B], g[G_K], 0, G * og, asym, q8);
    int rq = args[9] != mp_const_none;
    const int32_t *table = NULL;
    const float *sc = NULL, *bias = NULL, *f = NULL;
    if (rq) {
        span_t t = RD(9);
        k_need_items(t, 0, (int64_t)G * og, 28);
        table = (const int32_t *)t.p;
        check_out(yo, hw, G * og, hw, 1, 1, y.n);
    } else {
        sc = opt_floats(args[10], 2 * (int64_t)G * og);
        bias = opt_floats(args[11], (int64_t)G * og);
        f = opt_floats(args[12], 3);
        check_out(yo, hw, G * og, hw, 1, 4, y.n);
        if (!sc || !f) {
            bad();
        }
    }
    // one input channel per group (depthwise, or a first layer) with one q4 or q8 block a row: its own loop, on each input
    // plane copied with its padding to the stack (the rows and columns the windows reach: Hp x Wp)
    int64_t hp = (int64_t)(Ho - 1) * g[G_SH] + (int64_t)(g[G_KH] - 1) * g[G_DH] + 1;
    int64_t wp = (int64_t)(Wo - 1) * g[G_SW] + (int64_t)(g[G_KW] - 1) * g[G_DW] + 1;
    // one band of output rows at a time when the whole padded plane does not fit the stack buffer
    int64_t span = (int64_t)(g[G_KH] - 1) * g[G_DH] + 1; // input rows one output row reaches
    int dw = cg == 1 && g[G_NB] == 1 && g[G_K] == g[G_KH] * g[G_KW] && g[G_K] <= g[G_B] &&
        g[G_K] <= DW_MAX && g[G_K] > 0 && Ho > 0 && Wo > 0 && hp > 0 && wp > 0 && wp * span <= PAD_MAX;
    if (dw) { // channel by channel: its codes decoded once a band, int8 outputs requantized as they are made
        int Wp = (int)wp, band = Ho;
        if (hp * wp > PAD_MAX) {
            band = (int)((PAD_MAX / wp - span) / g[G_SH] + 1);
        }
        uint8_t pad[PAD_MAX];
        int32_t u[DW_MAX + 3];
        int ua = asym && !q8;
        for (int gi = 0; gi < G; gi++) {
            for (int oy0 = 0; oy0 < Ho; oy0 += band) {
                int oy1 = oy0 + band < Ho ? oy0 + band : Ho;
                int rows_in = (oy1 - oy0 - 1) * g[G_SH] + (int)span;
                k_dw_pad(xin.p + gi * H * W, H, W, g[G_PT] - oy0 * g[G_SH], g[G_PL], rows_in, Wp, pad);
                for (int r = gi * og; r < (gi + 1) * og; r++) {
                    k_dw_codes(w.p + wo + r * stride, g[G_HDR], g[G_CB], asym, q8, g[G_K], u);
                    if (rq) {
                        k_dw_rows(pad, Wp, g[G_KH], g[G_KW], 0, oy1 - oy0, Wo, g[G_SH], g[G_SW], g[G_DH], g[G_DW], u,
                            ua, table + 7 * r, y.p + yo + r * hw + oy0 * Wo, NULL);
                        continue;
                    }
                    for (int oy = oy0; oy < oy1; oy++) {
                        k_dw_rows(pad, Wp, g[G_KH], g[G_KW], oy - oy0, oy - oy0 + 1, Wo, g[G_SH], g[G_SW], g[G_DH],
                            g[G_DW], u, ua, NULL, NULL, (int32_t *)acc.p);
                        k_finish((const int32_t *)acc.p, Wo, 1, sc, r, f[0], bias, g[G_ACT], f[1], f[2], (float *)y.p,
                            yo + r * hw + oy * Wo, 1, 1, ua);
                    }
                }
            }
        }
        return mp_const_none;
    }
    // a group's scale codes, decoded once for all its output positions when they fit the stack
    int8_t cc[CC_MAX];
    int cached = (int64_t)og * g[G_NB] * 2 <= CC_MAX;
    for (int gi = 0; gi < G; gi++) {
        int r0 = gi * og;
        if (cached) {
            k_row_codes(w.p, wo + r0 * stride, stride, g[G_HDR], g[G_CB], g[G_NB], 0, og, asym && !q8, cc);
        }
        for (int oy = 0; oy < Ho; oy++) {
            k_conv_row(xin.p, gi * cg, cg, H, W, g[G_KH], g[G_KW], oy, Wo, g[G_SH], g[G_SW], g[G_PT], g[G_PL],
                g[G_DH], g[G_DW], xq.p, w.p, wo + r0 * stride, stride, g[G_HDR], g[G_CB], g[G_NB], g[G_B], g[G_K], og,
                (int32_t *)sx.p, (int32_t *)acc.p, asym, q8, cached ? cc : NULL);
            int o = yo + r0 * hw + oy * Wo;
            if (rq) {
                k_requant((const int32_t *)acc.p, Wo, og, table, r0, y.p, o, hw, 1);
            } else {
                k_finish((const int32_t *)acc.p, Wo, og, sc, r0, f[0], bias, g[G_ACT], f[1], f[2], (float *)y.p, o,
                    hw, 1, asym);
            }
        }
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(conv_obj, 13, 13, conv);

// act(x, xo, y, yo, n, act, p0, p1)
static mp_obj_t act(size_t n_args, const mp_obj_t *args) {
    span_t x = RD(0), y = WR(2);
    int xo = I(1), yo = I(3), n = I(4);
    if (n < 0) {
        bad();
    }
    k_need_items(x, xo, n, 4);
    k_need_items(y, yo, n, 4);
    k_act_n((const float *)x.p + xo, (float *)y.p + yo, n, I(5), F(6), F(7));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(act_obj, 8, 8, act);

// binary(kind, big, small, y, n, inner, ns, rev, act, p0, p1)
static mp_obj_t binary(size_t n_args, const mp_obj_t *args) {
    span_t big = RD(1), small = RD(2), y = WR(3);
    int n = I(4), inner = I(5), ns = I(6);
    if (n < 0 || inner <= 0 || ns <= 0) {
        bad();
    }
    k_need_items(big, 0, n, 4);
    k_need_items(y, 0, n, 4);
    k_need_items(small, 0, ns, 4);
    k_binary(I(0), (const float *)big.p, (const float *)small.p, (float *)y.p, n, inner, ns, I(7), I(8), F(9), F(10));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(binary_obj, 11, 11, binary);

// softmax(x, y, outer, n, inner)
static mp_obj_t softmax(size_t n_args, const mp_obj_t *args) {
    span_t x = RD(0), y = WR(1);
    int outer = I(2), n = I(3), inner = I(4);
    if (outer < 0 || n <= 0 || inner < 0) {
        bad();
    }
    k_need_items(x, 0, outer * n * inner, 4);
    k_need_items(y, 0, outer * n * inner, 4);
    k_softmax((const float *)x.p, (float *)y.p, outer, n, inner);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(softmax_obj, 5, 5, softmax);

// layernorm(x, xo, rows, n, g, beta, eps, y, yo)
static mp_obj_t layernorm(size_t n_args, const mp_obj_t *args) {
    span_t x = RD(0), g = RD(4), y = WR(7);
    int xo = I(1), rows = I(2), n = I(3), yo = I(8);
    if (rows < 0 || n <= 0) {
        bad();
    }
    k_need_items(x, xo, (int64_t)rows * n, 4);
    k_need_items(y, yo, (int64_t)rows * n, 4);
    k_need_items(g, 0, n, 4);
    const float *beta = opt_floats(args[5], n);
    k_layernorm((const float *)x.p + xo, rows, n, (const float *)g.p, beta, F(6), (float *)y.p + yo);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(layernorm_obj, 9, 9, layernorm);

// matmul(a, ao, b, bo, y, yo, M, K, N)
static mp_obj_t matmul(size_t n_args, const mp_obj_t *args) {
    span_t a = RD(0), b = RD(2), y = WR(4);
    int ao = I(1), bo = I(3), yo = I(5), M = I(6), K = I(7), N = I(8);
    if (M < 0 || K < 0 || N < 0) {
        bad();
    }
    k_need_items(a, ao, (int64_t)M * K, 4);
    k_need_items(b, bo, (int64_t)K * N, 4);
    k_need_items(y, yo, (int64_t)M * N, 4);
    k_matmul((const float *)a.p + ao, (const float *)b.p + bo, (float *)y.p + yo, M, K, N);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(matmul_obj, 9, 9, matmul);

// gap(x, y, planes, hw, i8, scale): global average pooling; int8 (+128) input times its scale, or float input
static mp_obj_t gap(size_t n_args, const mp_obj_t *args) {
    span_t x = RD(0), y = WR(1);
    int planes = I(2), hw = I(3), i8 = I(4);
    float k = F(5) / (hw > 0 ? hw : 1);
    if (planes < 0 || hw <= 0) {
        bad();
    }
    k_need(0, (int64_t)planes * hw * (i8 ? 1 : 4), x.n);
    k_need_items(y, 0, planes, 4);
    float *out = (float *)y.p;
    for (int p = 0; p < planes; p++) {
        if (i8) {
            int32_t s = 0;
            const uint8_t *xs = x.p + p * hw;
            for (int i = 0; i < hw; i++) {
                s += xs[i];
            }
            out[p] = (float)(s - 128 * hw) * k;
        } else {
            float s = 0.0f;
            const float *xs = (const float *)x.p + p * hw;
            for (int i = 0; i < hw; i++) {
                s += xs[i];
            }
            out[p] = s / hw;
        }
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(gap_obj, 6, 6, gap);

// decode_row(w, wo, hdr, cb, B, K, scheme, y, yo): the K weights of the q4/q8 row at w[wo] as floats
static mp_obj_t decode_row(size_t n_args, const mp_obj_t *args) {
    span_t w = RD(0), y = WR(7);
    int wo = I(1), hdr = I(2), cb = I(3), B = I(4), K = I(5), scheme = I(6), yo = I(8);
    if (scheme < S_ASYM || scheme > S_Q8 || B < 1 || K < 0) {
        bad();
    }
    int nb = K / B + (K % B != 0);
    k_check_rows(w, wo, 0, hdr, cb, nb, B, K, 0, 1, scheme == S_ASYM, scheme == S_Q8);
    k_need_rows(w, wo, 0, 0, 1, scheme == S_ASYM ? 4 : 2); // the row's fp16 scales
    k_need(4 * (int64_t)yo, 4 * ((int64_t)yo + K), y.n);
    k_decode_row(w.p + wo, hdr, cb, B, K, scheme, (float *)y.p + yo);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(decode_row_obj, 9, 9, decode_row);

// attention(kn, vn, q, kc, vt, ks, vs, att, q8, w8, iacc, cv, li, n, C, H, hd, inv_sqrt): one token of the
// decoder's attention (k_attention); kc holds keys [layer][position][d], vt values [layer][d][position], ks and
// vs one scale per (layer, position, head)
static mp_obj_t attention(size_t n_args, const mp_obj_t *args) {
    span_t kn = RD(0), vn = RD(1), q = RD(2), kc = WR(3), vt = WR(4), ks = WR(5), vs = WR(6), att = WR(7), q8 = WR(8),
           w8 = WR(9), iacc = WR(10), cv = WR(11);
    int li = I(12), n = I(13), C = I(14), H = I(15), hd = I(16);
    if (li < 0 || n < 0 || n >= C || H < 1 || hd < 1) {
        bad();
    }
    int64_t d = (int64_t)H * hd, pos = ((int64_t)li + 1) * C; // positions of the layers up to this one
    k_need_items(kn, 0, d, 4);
    k_need_items(vn, 0, d, 4);
    k_need_items(q, 0, d, 4);
    k_need_items(cv, 0, d, 4);
    k_need_items(kc, 0, pos * d, 1);
    k_need_items(vt, 0, ((int64_t)li + 1) * d * C, 1);
    k_need_items(ks, 0, pos * H, 4);
    k_need_items(vs, 0, pos * H, 4);
    k_need_items(att, 0, (int64_t)n + 1, 4);
    k_need_items(w8, 0, (int64_t)n + 1, 1);
    k_need_items(q8, 0, hd, 1);
    k_need_items(iacc, 0, (int64_t)(n + 1 > hd ? n + 1 : hd), 4);
    k_attention((const float *)kn.p, (const float *)vn.p, (const float *)q.p, kc.p, vt.p, (float *)ks.p,
        (float *)vs.p, (float *)att.p, q8.p, w8.p, (int32_t *)iacc.p, (float *)cv.p, li, n, C, H, hd, F(17));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(attention_obj, 18, 18, attention);

// ctr_fill(ctr, nb, counter): blocks i < nb of ctr (16 bytes each) get counter + i, big-endian, in bytes 12..15
// (the AES-CTR counter blocks of an encrypted model; hyperion/crypt.py)
static mp_obj_t ctr_fill(mp_obj_t c_in, mp_obj_t nb_in, mp_obj_t n_in) {
    span_t c = k_span(c_in, 1);
    int nb = k_int(nb_in);
    uint32_t n = (uint32_t)k_int(n_in);
    if (nb < 0) {
        bad();
    }
    k_need_items(c, 0, (int64_t)nb * 16, 1);
    for (int i = 0; i < nb; i++) {
        uint8_t *p = (uint8_t *)c.p + 16 * i + 12;
        uint32_t v = n + (uint32_t)i;
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(ctr_fill_obj, ctr_fill);

// xor(y, yo, ks, ko, n): y[yo + i] ^= ks[ko + i] for i < n (a keystream onto data, in place)
static mp_obj_t xor_bytes(size_t n_args, const mp_obj_t *args) {
    span_t y = WR(0), ks = RD(2);
    int yo = I(1), ko = I(3), n = I(4);
    if (yo < 0 || ko < 0 || n < 0) {
        bad();
    }
    k_need_items(y, yo, n, 1);
    k_need_items(ks, ko, n, 1);
    uint8_t *d = (uint8_t *)y.p + yo;
    const uint8_t *s = (const uint8_t *)ks.p + ko;
    for (int i = 0; i < n; i++) {
        d[i] ^= s[i];
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(xor_obj, 5, 5, xor_bytes);

// aes_key(key, state): a 32-byte AES-256 key expanded into state (AES256_STATE_BYTES: round keys and S-box)
static mp_obj_t aes_key(mp_obj_t key_in, mp_obj_t st_in) {
    span_t key = k_span(key_in, 0), st = k_span(st_in, 1);
    if (key.n != 32) {
        bad();
    }
    k_need_items(st, 0, AES256_STATE_BYTES, 1);
    k_aes256_key(key.p, st.p);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(aes_key_obj, aes_key);

// aes_ecb(state, src, dst, nblocks): dst = AES-256(src), nblocks blocks of 16 bytes (src may be dst)
static mp_obj_t aes_ecb(size_t n_args, const mp_obj_t *args) {
    span_t st = RD(0), src = RD(1), dst = WR(2);
    int nb = I(3);
    if (nb < 0) {
        bad();
    }
    k_need_items(st, 0, AES256_STATE_BYTES, 1);
    k_need_items(src, 0, (int64_t)nb * 16, 1);
    k_need_items(dst, 0, (int64_t)nb * 16, 1);
    k_aes256_ecb(st.p, src.p, dst.p, nb);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(aes_ecb_obj, 4, 4, aes_ecb);

// the module's functions, once for both ways of building it (qstrs spelled out: the .mpy build finds them in
// the source, not the preprocessed code)
#define KERNELS(X) \
    X(MP_QSTR_block_sums, block_sums_obj) \
    X(MP_QSTR_q4_rows, q4_rows_obj) \
    X(MP_QSTR_q8_rows, q8_rows_obj) \
    X(MP_QSTR_csr_rows, csr_rows_obj) \
    X(MP_QSTR_dot8, dot8_obj) \
    X(MP_QSTR_conv_row, conv_row_obj) \
    X(MP_QSTR_requant, requant_obj) \
    X(MP_QSTR_absmax, absmax_obj) \
    X(MP_QSTR_quantize, quantize_obj) \
    X(MP_QSTR_maxpool, maxpool_obj) \
    X(MP_QSTR_argmax, argmax_obj) \
    X(MP_QSTR_finish, finish_obj) \
    X(MP_QSTR_conv, conv_obj) \
    X(MP_QSTR_act, act_obj) \
    X(MP_QSTR_binary, binary_obj) \
    X(MP_QSTR_softmax, softmax_obj) \
    X(MP_QSTR_layernorm, layernorm_obj) \
    X(MP_QSTR_matmul, matmul_obj) \
    X(MP_QSTR_gap, gap_obj) \
    X(MP_QSTR_attention, attention_obj) \
    X(MP_QSTR_decode_row, decode_row_obj) \
    X(MP_QSTR_nonfinite, nonfinite_obj) \
    X(MP_QSTR_ctr_fill, ctr_fill_obj) \
    X(MP_QSTR_xor, xor_obj) \
    X(MP_QSTR_aes_key, aes_key_obj) \
    X(MP_QSTR_aes_ecb, aes_ecb_obj)

#ifdef HYPERION_BUILTIN
// compiled into the firmware (micropython.mk, firmware/manifest.py): the builtin module hyperion_c
#define ENTRY(q, f) { MP_ROM_QSTR(q), MP_ROM_PTR(&f) },
static const mp_rom_map_elem_t globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_hyperion_c) },
    { MP_ROM_QSTR(MP_QSTR_PATH), MP_ROM_QSTR(MP_QSTR_c) },
    KERNELS(ENTRY)
};
static MP_DEFINE_CONST_DICT(globals, globals_table);
const mp_obj_module_t hyperion_c_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&globals,
};
MP_REGISTER_MODULE(MP_QSTR_hyperion_c, hyperion_c_module);
#else
// a dynamic native module: hyperion/kernels/c.mpy
#define STORE(q, f) mp_store_global(q, MP_OBJ_FROM_PTR(&f));
mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    mp_store_global(MP_QSTR_PATH, MP_OBJ_NEW_QSTR(MP_QSTR_c));
    KERNELS(STORE)
    MP_DYNRUNTIME_INIT_EXIT
}
#endif
