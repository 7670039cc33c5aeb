// Shared by the C kernels: buffer access with bounds checks, and the functions each file defines.
// Every kernel checks the extent of what it will read and write before its loops (a crafted .hyq must not
// reach memory outside the buffers it was given), then runs with no further checks.
#ifndef HYPERION_KERNELS_H
#define HYPERION_KERNELS_H

#ifdef HYPERION_BUILTIN
#include "py/runtime.h"
#else
#include "py/dynruntime.h"
#endif
#include <stdint.h>

typedef struct {
    uint8_t *p;
    int32_t n; // bytes
} span_t;

span_t k_span(mp_obj_t o, int write);
// raise ValueError unless [lo, hi) lies within 0..n (64-bit: the arguments are products of board ints)
void k_need(int64_t lo, int64_t hi, int64_t n);

int k_int(mp_obj_t o);
// raise ValueError unless items off..off+n-1 of `width` bytes each lie within s (one function: the bindings
// call it often, and 64-bit products inline would make the module, which lives in RAM, bigger)
void k_need_items(span_t s, int64_t off, int64_t n, int width);
// raise ValueError unless rows r0..r1-1 of `ext` bytes, row r at off + r*stride (stride may be negative), lie in s
void k_need_rows(span_t s, int off, int stride, int r0, int r1, int64_t ext);

static inline int32_t rd24(const uint8_t *p) {
    return p[0] | (p[1] << 8) | (p[2] << 16);
}

// the scale codes of block b of a row whose codes start at cod
static inline void codes(const uint8_t *cod, int b, int half, int asym, int32_t *sc, int32_t *mc) {
    if (asym) {
        const uint8_t *g = cod + (b >> 2) * 3;
        int sh = (b & 3) * 6;
        *sc = (rd24(g) >> sh) & 63;
        *mc = (rd24(g + half) >> sh) & 63;
    } else {
        *sc = (int8_t)cod[b];
        *mc = 0;
    }
}

// Integer requantization of one row (output channel) from its 7-int table (model/requant.py), in 32-bit
// arithmetic that wraps as a microcontroller's does; shift counts are masked so a crafted table cannot make C
// undefined. One output: rq_apply(&q, acc pair).
typedef struct {
    uint32_t m1, m2, bq;
    int32_t h, lo, hi;
    int S, P;
} rq_t;

static inline void rq_load(const int32_t *t, rq_t *q) {
    q->m1 = t[0];
    q->m2 = t[1];
    q->S = t[3] & 31;
    q->P = t[4] & 31;
    q->bq = (uint32_t)t[2] + (q->S ? (uint32_t)1 << (q->S - 1) : 0);
    q->h = (int32_t)(((uint32_t)1 << q->P) >> 1);
    q->lo = t[5];
    q->hi = t[6];
}

static inline uint8_t rq_apply(const rq_t *q, int32_t a0, int32_t a1) {
    int32_t u = (int32_t)((uint32_t)a0 + q->h) >> q->P, v = (int32_t)((uint32_t)a1 + q->h) >> q->P;
    int32_t s = (int32_t)(u * q->m1 - v * q->m2 + q->bq) >> q->S;
    s = s < q->lo ? q->lo : (s > q->hi ? q->hi : s);
    return (uint8_t)(s + 128);
}

// The activation chunk: int8 activations (+128) widened to int32 on the stack, so the inner loops load
// signed values with one instruction on every core (Thumb-1 has no signed byte load with an offset).
#define XS_N 256
#define CC_MAX 1024 // bytes of decoded scale codes a conv layer keeps per group (2 per row and block)
#define PAD_MAX 1536 // bytes of a padded input plane the depthwise loop copies to the stack
#define DW_MAX 64 // the most columns of a depthwise row the dw loop takes (kh*kw)

// quantization schemes of a row (hyperion/hyq.py S_*)
enum { S_ASYM, S_SYM, S_Q8 };

// rows.c
void k_block_sums(const uint8_t *xq, int K, int B, int nb, int32_t *sx);
void k_q4_rows(const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int B, int K, int r0, int r1,
    const uint8_t *xq, const int32_t *sx, int32_t *acc, int asym, const int8_t *cc);
void k_q8_rows(const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int B, int K, int r0, int r1,
    const uint8_t *xq, int32_t *acc, const int8_t *cc);
void k_row_codes(const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int r0, int r1, int asym, int8_t *cc);
void k_requant(const int32_t *acc, int n, int rows, const int32_t *rq, int r0, uint8_t *y, int yo, int rstep,
    int pstep);
void k_check_rows(span_t w, int wo, int stride, int hdr, int cb, int nb, int B, int K, int r0, int r1, int asym,
    int q8);

// conv.c
void k_csr_rows(span_t w, int ptr_off, int col_off, int val_off, int r0, int r1, span_t xq, int32_t *acc);
void k_conv_row(const uint8_t *xin, int c0, int cg, int H, int W, int kh, int kw, int oy, int Wo, int sh, int sw,
    int pt, int pl, int dh, int dw, uint8_t *xq, const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int B,
    int K, int rows, int32_t *sx, int32_t *acc, int asym, int q8, const int8_t *cc);
void k_check_conv(span_t xin, int c0, int cg, int H, int W, int kh, int kw, int Wo, span_t xq, span_t w, int wo,
    int stride, int hdr, int cb, int nb, int B, int K, int rows, span_t sx, span_t acc, int asym, int q8);
void k_dw_pad(const uint8_t *plane, int H, int W, int pt, int pl, int Hp, int Wp, uint8_t *pad);
void k_dw_codes(const uint8_t *row, int hdr, int cb, int asym, int q8, int K, int32_t *u);
void k_dw_rows(const uint8_t *pad, int Wp, int kh, int kw, int oy0, int oy1, int Wo, int sh, int sw, int dh, int dw,
    const int32_t *u, int asym, const int32_t *rq, uint8_t *y, int32_t *acc);
void k_maxpool(const uint8_t *x, uint8_t *y, int planes, int H, int W, int Ho, int Wo, int kh, int kw, int sh,
    int sw, int pt, int pl, int dh, int dw, int width, const uint8_t *fill);
void k_dot8(const uint8_t *a, int ao, int stride, int rows, const uint8_t *b, int n, int32_t *out);

// floatops.c
void k_finish(const int32_t *acc, int n, int rows, const float *sc, int r0, float s, const float *bias,
    int act, float p0, float p1, float *y, int yo, int rstep, int pstep, int asym);
mp_int_t k_absmax(const uint32_t *x, int n);
void k_quantize(const uint32_t *x, int n, uint8_t *y, uint32_t db, int32_t mul);
mp_int_t k_argmax(const uint32_t *x, int n);

// aes.c: AES-256 block encryption (the keystream of encrypted models where the firmware has no cryptolib).
// rk: AES256_RK_BYTES of round keys, then the 256-byte S-box
#define AES256_RK_BYTES 240
#define AES256_STATE_BYTES (AES256_RK_BYTES + 256)
void k_aes256_key(const uint8_t *key, uint8_t *rk);
void k_aes256_ecb(const uint8_t *rk, const uint8_t *in, uint8_t *out, int nblocks);
mp_int_t k_nonfinite(const uint32_t *x, int n);
void k_act_n(const float *x, float *y, int n, int act, float p0, float p1);
void k_binary(int kind, const float *big, const float *small, float *y, int n, int inner, int ns, int rev, int act,
    float p0, float p1);
void k_softmax(const float *x, float *y, int outer, int n, int inner);
void k_layernorm(const float *x, int rows, int n, const float *g, const float *beta, float eps, float *y);
void k_matmul(const float *a, const float *b, float *y, int M, int K, int N);
float k_expf(float x);
void k_decode_row(const uint8_t *row, int hdr, int cb, int B, int K, int scheme, float *out);

// attention.c
void k_attention(const float *kn, const float *vn, const float *q, uint8_t *kc, uint8_t *vt, float *ks, float *vs,
    float *att, uint8_t *q8, uint8_t *w8, int32_t *iacc, float *cv, int li, int n, int C, int H, int hd,
    float inv_sqrt);

#endif
