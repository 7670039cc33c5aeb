// Float32 work between layers, in single precision on every core (soft-float on armv6m and rv32imc): activation
// quantization (exact, from the bits, as kernels/viper.py), the float finish of integer rows, activations,
// element-wise ops, softmax, LayerNorm, pooling averages and float matmul. The float ops match the bytecode path
// within float32 rounding (tests/test_kernels.py states the tolerance); quantize/absmax/argmax match bit for bit.
#include "kernels.h"
#include "gelu_table.h"

// activation codes (hyperion/hyq.py A_*)
enum { A_NONE, A_RELU, A_CLIP, A_LEAKY, A_SIGMOID, A_TANH, A_GELU, A_GELU_TANH, A_HSIG, A_HSWISH, A_ELU, A_SELU,
    A_SOFTPLUS, A_EXP, A_LOG, A_SQRT, A_ABS, A_NEG, A_RECIP, A_POW, A_SOFTSIGN };

static inline uint32_t bits(float f) {
    union { float f; uint32_t u; } c = { .f = f };
    return c.u;
}

static inline float from_bits(uint32_t u) {
    union { uint32_t u; float f; } c = { .u = u };
    return c.f;
}

// e^x: x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial for e^r (relative error below 2e-7), 2^n in the exponent
float k_expf(float x) {
    if (x > 88.7f) {
        return from_bits(0x7F800000);
    }
    if (x < -103.9f) {
        return 0.0f;
    }
    float t = x * 1.44269504f;
    int n = (int)(t < 0 ? t - 0.5f : t + 0.5f);
    float r = x - n * 0.693145752f - n * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666418f + r * (0.00833336729f
        + r * 0.00138873165f)))));
    // 2^n, in two steps so that subnormal results stay in range
    int n1 = n / 2, n2 = n - n1;
    return p * from_bits((uint32_t)(127 + n1) << 23) * from_bits((uint32_t)(127 + n2) << 23);
}

static float k_tanhf(float x) {
    float a = x < 0 ? -x : x;
    float t;
    if (a > 9.0f) {
        t = 1.0f;
    } else if (a < 0.0005f) {
        t = a;
    } else {
        t = 1.0f - 2.0f / (k_expf(2.0f * a) + 1.0f);
    }
    return x < 0 ? -t : t;
}

// GELU(x) = x * Phi(x), Phi from the fixed-point table (|error| < 3e-8, tools/gen_gelu_table.py): an int to float
// conversion and one multiply, where erf in single precision takes about thirty operations (soft-float on the
// M0 and rv32imc). The same integer steps on every arch, so the same results.
static float k_gelu(float x) {
    uint32_t b = bits(x);
    int e = (b >> 23) & 255;
    int32_t m = (b & 0x7FFFFF) | 0x800000;
    if (e < 99) { // |x| < 2^-28: Phi(x) = 1/2 within float precision
        return e > 1 ? from_bits(b - (1u << 23)) : x * 0.5f;
    }
    int32_t a = e >= 130 ? 0x7FFFFFFF : (e >= PHI_QU + 96 ? m << (e - PHI_QU - 96) : m >> (PHI_QU + 96 - e));
    if (a >= 6 << PHI_QU) { // Phi(-6) < 1e-9: x, or -0 (or NaN for infinities and NaN, as x * Phi(x))
        return b >> 31 ? (e == 255 ? x * 0.0f : -0.0f) : x;
    }
    const int32_t *c = phi_table[a >> (PHI_QU - 1)];
    int32_t u = a & ((1 << (PHI_QU - 1)) - 1), p = c[PHI_DEGREE];
    for (int k = PHI_DEGREE - 1; k >= 0; k--) {
        p = (int32_t)(((int64_t)p * u) >> PHI_QU) + c[k];
    }
    if (b >> 31) {
        p = (1 << PHI_QC) - p;
    }
    p = p < 0 ? 0 : (p > 1 << PHI_QC ? 1 << PHI_QC : p);
    return p ? x * from_bits(bits((float)p) - (PHI_QC << 23)) : x * 0.0f;
}

// 1 / sqrt(x) for x > 0: the bit estimate, then Newton steps to full single precision
static float k_rsqrtf(float x) {
    float y = from_bits(0x5F3759DF - (bits(x) >> 1));
    for (int i = 0; i < 4; i++) {
        y = y * (1.5f - 0.5f * x * y * y);
    }
    return y;
}

#define K_INF from_bits(0x7F800000)
#define K_NAN from_bits(0x7FC00000)

// ln x: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s), s = (m - 1)/(m + 1), |s| < 0.172: five odd
// terms (relative error below 1e-7); ONNX's -inf at 0 and NaN below
static float k_logf(float x) {
    if (!(x > 0.0f)) {
        return x == 0.0f ? -K_INF : K_NAN;
    }
    uint32_t b = bits(x);
    int e = (int)(b >> 23) - 127;
    if (e == 128) {
        return x; // inf
    }
    if (e == -127) { // subnormal: scale by 2^23 first
        b = bits(x * 8388608.0f);
        e = (int)(b >> 23) - 127 - 23;
    }
    float m = from_bits((b & 0x7FFFFF) | 0x3F800000);
    if (m > 1.41421356f) {
        m *= 0.5f;
        e++;
    }
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float p = 2.0f * s * (1.0f + s2 * (0.333333333f + s2 * (0.2f + s2 * (0.142857143f + s2 * 0.111111111f))));
    return p + e * 0.693147181f;
}

static float k_sqrtf(float x) {
    if (!(x > 0.0f) || x == K_INF) {
        return x == 0.0f || x == K_INF ? x : K_NAN;
    }
    return x * k_rsqrtf(x);
}

// u^v as C's powf: integer exponents by squaring, else exp(v ln u) (NaN for a negative base)
static float k_powf(float u, float v) {
    if (u == 0.0f) {
        return v < 0.0f ? K_INF : (v == 0.0f ? 1.0f : 0.0f);
    }
    if (v == (float)(int)v && v <= 64.0f && v >= -64.0f) {
        int n = (int)v < 0 ? -(int)v : (int)v;
        float r = 1.0f, b = u;
        while (n) {
            if (n & 1) {
                r *= b;
            }
            b *= b;
            n >>= 1;
        }
        return v < 0.0f ? 1.0f / r : r;
    }
    if (u < 0.0f) {
        return K_NAN;
    }
    return k_expf(v * k_logf(u));
}

// the element-wise functions past the fused activations, as layers._fn
static float k_fn(float v, int act, float p0, float p1) {
    switch (act) {
        case A_HSIG:
            v = p0 * v + p1;
            return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        case A_HSWISH: {
            float h = v / 6.0f + 0.5f;
            return h <= 0.0f ? 0.0f : (h >= 1.0f ? v : v * h);
        }
        case A_ELU:
            return v > 0.0f ? v : p0 * (k_expf(v) - 1.0f);
        case A_SELU:
            return v > 0.0f ? p1 * v : p1 * p0 * (k_expf(v) - 1.0f);
        case A_SOFTPLUS:
            return v > 30.0f ? v : k_logf(1.0f + k_expf(v));
        case A_EXP:
            return k_expf(v);
        case A_LOG:
            return k_logf(v);
        case A_SQRT:
            return k_sqrtf(v);
        case A_ABS:
            return v < 0.0f ? -v : v;
        case A_NEG:
            return -v;
        case A_RECIP:
            return 1.0f / v;
        case A_POW:
            return k_powf(v, p0);
        case A_SOFTSIGN:
            return v / (1.0f + (v < 0.0f ? -v : v));
        default:
            return v;
    }
}

static float k_act(float v, int act, float p0, float p1) {
    switch (act) {
        case A_RELU:
            return v > 0.0f ? v : 0.0f;
        case A_CLIP:
            if (v < p0) {
                v = p0;
            }
            return v > p1 ? p1 : v;
        case A_LEAKY:
            return v >= 0.0f ? v : v * p0;
        case A_SIGMOID:
            return v < -80.0f ? 0.0f : 1.0f / (1.0f + k_expf(-v));
        case A_TANH:
            return k_tanhf(v);
        case A_GELU:
            return k_gelu(v);
        case A_GELU_TANH:
            return 0.5f * v * (1.0f + k_tanhf(0.79788456f * (v + 0.044715f * v * v * v)));
        default:
            return k_fn(v, act, p0, p1);
    }
}

// fp16 (two bytes, little-endian) -> float, as layers._f16 (exponent 31: infinity)
static float f16(const uint8_t *b) {
    uint32_t h = b[0] | (b[1] << 8), e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? (float)m * 5.960464477539063e-08f : from_bits(e == 31 ? 0x7F800000 : (e + 112) << 23 | m << 13);
    return h & 0x8000 ? -v : v;
}

// one q4/q8 row's K weights as floats (embeddings, the float paths): layers._decode_row's products
void k_decode_row(const uint8_t *row, int hdr, int cb, int B, int K, int scheme, float *out) {
    float d = f16(row), dmin = scheme == S_ASYM ? f16(row + 2) : 0.0f;
    const uint8_t *cod = row + hdr, *q = cod + cb;
    for (int b = 0, k = 0; k < K; b++, k += B) {
        int end = k + B < K ? k + B : K;
        int32_t sc, mc;
        codes(cod, b, cb >> 1, scheme == S_ASYM, &sc, &mc);
        float a = d * (float)sc, c = dmin * (float)mc;
        for (int j = k; j < end; j++) {
            int32_t u = scheme == S_Q8 ? (int8_t)q[j] : (q[j >> 1] >> ((j & 1) * 4)) & 15;
            out[j] = scheme == S_ASYM ? a * (float)u - c : a * (float)(scheme == S_Q8 ? u : u - 8);
        }
    }
}

// float outputs from row sums: y[yo + r*rstep + p*pstep] = act(s * (d*A1 - dmin*A2) + bias[r0 + r]) for the
// accumulators acc[2*(p*rows + r)] of positions p < n and rows r < rows; sc holds (d, dmin) per row from r0
void k_finish(const int32_t *acc, int n, int rows, const float *sc, int r0, float s, const float *bias,
    int act, float p0, float p1, float *y, int yo, int rstep, int pstep, int asym) {
    for (int r = 0; r < rows; r++) {
        float d = sc[2 * (r0 + r)] * s, dm = asym ? sc[2 * (r0 + r) + 1] * s : 0.0f;
        float b = bias ? bias[r0 + r] : 0.0f;
        float *out = y + yo + r * rstep;
        const int32_t *a = acc + 2 * r;
        for (int p = 0; p < n; p++, a += 2 * rows) {
            float v = d * (float)a[0] + b;
            if (asym) {
                v -= dm * (float)a[1];
            }
            if (act == A_RELU) {
                v = v > 0.0f ? v : 0.0f;
            } else if (act) {
                v = k_act(v, act, p0, p1);
            }
            out[p * pstep] = v;
        }
    }
}

mp_int_t k_absmax(const uint32_t *x, int n) {
    uint32_t best = 0;
    mp_int_t bi = -1;
    for (int i = 0; i < n; i++) {
        uint32_t m = x[i] & 0x7FFFFFFF;
        if (m > best) {
            best = m;
            bi = i;
        }
    }
    return bi;
}

// y[i] = clip(floor(mul * x[i] / |D| + 1/2), -127, 127) + 128 in integers from the float32 bits (see viper.py)
void k_quantize(const uint32_t *x, int n, uint8_t *y, uint32_t db, int32_t mul) {
    int32_t ed = (db >> 23) & 255;
    uint32_t md = db & 0x7FFFFF;
    if (ed) {
        md |= 0x800000;
    } else {
        ed = 1;
    }
    if (md == 0) {
        md = 1; // a zero scale: the bytecode path divides by zero; here every value saturates
    }
    for (int i = 0; i < n; i++) {
        uint32_t b = x[i];
        int32_t e = (b >> 23) & 255;
        uint32_t mx = b & 0x7FFFFF;
        if (e) {
            mx |= 0x800000;
        } else {
            e = 1;
        }
        uint32_t v = (uint32_t)mul * mx;
        int32_t k = ed - e;
        uint32_t h = 0, st = 0;
        if (k > 31) {
            st = v;
            v = 0;
        } else if (k > 0) {
            h = (v >> (k - 1)) & 1;
            st = v & ((1u << (k - 1)) - 1);
            v >>= k;
        } else if (k < -7) {
            v = 127 * md;
        } else if (k < 0) {
            v <<= -k;
        }
        int32_t q = (int32_t)(v / md);
        uint32_t r = 2 * (v - (uint32_t)q * md) + h;
        if (b >> 31) {
            if (r > md || (r == md && st)) {
                q += 1;
            }
            q = -q;
            if (q < -127) {
                q = -127;
            }
        } else {
            if (r >= md) {
                q += 1;
            }
            if (q > 127) {
                q = 127;
            }
        }
        y[i] = (uint8_t)(q + 128);
    }
}

// the index of the first NaN or infinity among x[0..n) (exponent bits all ones), or -1
mp_int_t k_nonfinite(const uint32_t *x, int n) {
    for (int i = 0; i < n; i++) {
        if ((x[i] & 0x7F800000) == 0x7F800000) {
            return i;
        }
    }
    return -1;
}

mp_int_t k_argmax(const uint32_t *x, int n) {
    mp_int_t bi = 0;
    int32_t best = 0;
    for (int i = 0; i < n; i++) {
        uint32_t b = x[i];
        int32_t k = (int32_t)(b & 0x7FFFFFFF);
        if (b >> 31) {
            k = -k;
        }
        if (i == 0 || k > best) {
            best = k;
            bi = i;
        }
    }
    return bi;
}

void k_act_n(const float *x, float *y, int n, int act, float p0, float p1) {
    for (int i = 0; i < n; i++) {
        y[i] = k_act(x[i], act, p0, p1);
    }
}

// y[i] = big[i] op small[(i / inner) % ns] (operands swapped if rev), then the activation
void k_binary(int kind, const float *big, const float *small, float *y, int n, int inner, int ns, int rev, int act,
    float p0, float p1) {
    int j = 0, c = 0; // small's index, and the count within the current run of inner items
    for (int i = 0; i < n; i++) {
        float u = big[i], v = small[j], r;
        if (rev) {
            float t = u;
            u = v;
            v = t;
        }
        switch (kind) {
            case 0:
                r = u + v;
                break;
            case 1:
                r = u - v;
                break;
            case 2:
                r = u * v;
                break;
            case 3:
                r = u / v;
                break;
            case 4: // min, max: NaN wins, as numpy's minimum and maximum
                r = (v < u || v != v) ? v : u;
                break;
            case 5:
                r = (v > u || v != v) ? v : u;
                break;
            case 6:
                r = k_powf(u, v);
                break;
            default: // prelu
                r = u >= 0.0f ? u : u * v;
                break;
        }
        y[i] = act ? k_act(r, act, p0, p1) : r;
        if (++c == inner) {
            c = 0;
            if (++j == ns) {
                j = 0;
            }
        }
    }
}

void k_softmax(const float *x, float *y, int outer, int n, int inner) {
    for (int o = 0; o < outer; o++) {
        for (int j = 0; j < inner; j++) {
            const float *xs = x + o * n * inner + j;
            float *ys = y + o * n * inner + j;
            float mx = xs[0];
            for (int i = 1; i < n; i++) {
                if (xs[i * inner] > mx) {
                    mx = xs[i * inner];
                }
            }
            float s = 0.0f;
            for (int i = 0; i < n; i++) {
                float e = k_expf(xs[i * inner] - mx);
                ys[i * inner] = e;
                s += e;
            }
            float inv = 1.0f / s;
            for (int i = 0; i < n; i++) {
                ys[i * inner] *= inv;
            }
        }
    }
}

// rows of n items: y = (x - mean) / sqrt(var + eps) * g + beta (beta may be NULL)
void k_layernorm(const float *x, int rows, int n, const float *g, const float *beta, float eps, float *y) {
    for (int o = 0; o < rows; o++, x += n, y += n) {
        float mean = 0.0f, var = 0.0f;
        for (int i = 0; i < n; i++) {
            mean += x[i];
        }
        mean /= n;
        for (int i = 0; i < n; i++) {
            float d = x[i] - mean;
            var += d * d;
        }
        float inv = k_rsqrtf(var / n + eps);
        for (int i = 0; i < n; i++) {
            float v = (x[i] - mean) * inv * g[i];
            y[i] = beta ? v + beta[i] : v;
        }
    }
}

// y[M, N] = a[M, K] . b[K, N] (one batch)
void k_matmul(const float *a, const float *b, float *y, int M, int K, int N) {
    for (int r = 0; r < M; r++) {
        for (int c = 0; c < N; c++) {
            float v = 0.0f;
            for (int k = 0; k < K; k++) {
                v += a[r * K + k] * b[k * N + c];
            }
            y[r * N + c] = v;
        }
    }
}
