// Shared by the C kernels: buffer access with bounds checks, and the functions each file defines.
// Every kernel checks the extent of what it will read and write before its loops (a crafted .hyq must not
// reach memory outside the buffers it was given), then runs with no further checks.
#ifndef HYPERION_KERNELS_H
#define HYPERION_KERNELS_H

#include "py/dynruntime.h"
#include <stdint.h>

typedef struct {
    uint8_t *p;
    int32_t n; // bytes
} span_t;

span_t get_span(mp_obj_t o, int write);
// raise ValueError unless [lo, hi) lies within 0..n (64-bit: the arguments are products of board ints)
void need(int64_t lo, int64_t hi, int64_t n);

int arg_int(mp_obj_t o);
// raise ValueError unless items off..off+n-1 of `width` bytes each lie within s (one function: the bindings
// call it often, and 64-bit products inline would make the module, which lives in RAM, bigger)
void need_items(span_t s, int64_t off, int64_t n, int width);

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

// The activation chunk: int8 activations (+128) widened to int32 on the stack, so the inner loops load
// signed values with one instruction on every core (Thumb-1 has no signed byte load with an offset).
#define XS_N 256
#define CC_MAX 1024 // bytes of decoded scale codes a conv layer keeps per group (2 per row and block)
#define PAD_MAX 1536 // bytes of a padded input plane the depthwise loop copies to the stack
#define DW_MAX 64 // the most columns of a depthwise row the dw loop takes (kh*kw)

// rows.c
void k_block_sums(const uint8_t *xq, int K, int B, int nb, int32_t *sx);
void k_q4_rows(const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int B, int K, int r0, int r1,
    const uint8_t *xq, const int32_t *sx, int32_t *acc, int asym, const int8_t *cc);
void k_q8_rows(const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int B, int K, int r0, int r1,
    const uint8_t *xq, int32_t *acc, const int8_t *cc);
void k_row_codes(const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int r0, int r1, int asym, int8_t *cc);
void k_requant(const int32_t *acc, int n, int rows, const int32_t *rq, int r0, uint8_t *y, int yo, int rstep,
    int pstep);
void check_rows(span_t w, int wo, int stride, int hdr, int cb, int nb, int B, int K, int r0, int r1, int asym,
    int q8);

// floatops.c
float k_act(float v, int act, float p0, float p1);
void k_finish(const int32_t *acc, int n, int rows, const float *sc, int r0, float s, const float *bias,
    int act, float p0, float p1, float *y, int yo, int rstep, int pstep, int asym);
float k_expf(float x);

#endif
