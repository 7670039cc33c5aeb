// The language-model decoder's attention for one token over its int8 KV cache (hyperion/lm.py, Decoder.step):
// the new key and value go into the cache, then each head's scores, softmax and weighted sum of values. The same
// steps as the bytecode loop it replaces: int8 products (k_dot8) with one scale per (position, head), softmax in
// single precision (k_expf), the weights quantized to int8 for the value product.
#include "kernels.h"

// x[0..n) to int8 (+128) in y at scale max|x| / 127, which it returns (1 for all zeros), as layers._quantize
static float quantize_dynamic(const float *x, int n, uint8_t *y) {
    mp_int_t i = k_absmax((const uint32_t *)x, n);
    if (i < 0) {
        for (int k = 0; k < n; k++) {
            y[k] = 128;
        }
        return 1.0f;
    }
    uint32_t db = ((const uint32_t *)x)[i];
    k_quantize((const uint32_t *)x, n, y, db, 127);
    float a = x[i] < 0 ? -x[i] : x[i];
    return a / 127.0f;
}

void k_attention(const float *kn, const float *vn, const float *q, uint8_t *kc, uint8_t *vt, float *ks, float *vs,
    float *att, uint8_t *q8, uint8_t *w8, int32_t *iacc, float *cv, int li, int n, int C, int H, int hd,
    float inv_sqrt) {
    int d = H * hd;
    int row = (li * C + n) * d, sb = (li * C + n) * H;
    for (int j = 0; j < H; j++) { // the new position's key (a row) and value (a column of the transposed cache)
        ks[sb + j] = quantize_dynamic(kn + j * hd, hd, kc + row + j * hd);
        vs[sb + j] = quantize_dynamic(vn + j * hd, hd, q8);
        uint8_t *col = vt + (li * d + j * hd) * C + n;
        for (int i = 0; i < hd; i++) {
            col[i * C] = q8[i];
        }
    }
    for (int j = 0; j < H; j++) {
        float f = quantize_dynamic(q + j * hd, hd, q8) * inv_sqrt;
        k_dot8(kc, li * C * d + j * hd, d, n + 1, q8, hd, iacc);
        const float *kss = ks + li * C * H + j, *vss = vs + li * C * H + j;
        float top = -1e30f;
        for (int t = 0; t <= n; t++) {
            float s = (float)iacc[t] * kss[t * H] * f;
            att[t] = s;
            if (s > top) {
                top = s;
            }
        }
        float tot = 0.0f;
        for (int t = 0; t <= n; t++) { // softmax weights times each value row's scale, normalized below
            float e = k_expf(att[t] - top);
            tot += e;
            att[t] = e * vss[t * H];
        }
        f = quantize_dynamic(att, n + 1, w8) / tot;
        k_dot8(vt, (li * d + j * hd) * C, C, hd, w8, n + 1, iacc);
        for (int i = 0; i < hd; i++) {
            cv[j * hd + i] = (float)iacc[i] * f;
        }
    }
}
