// Row products of quantized weights with int8 activations (the .hyq q4/q8 row layout, docs/hyq-format.md),
// block sums and integer requantization. Same results as kernels/python.py, bit for bit.
#include "kernels.h"

span_t k_span(mp_obj_t o, int write) {
    mp_buffer_info_t b;
    mp_get_buffer_raise(o, &b, write ? MP_BUFFER_WRITE : MP_BUFFER_READ);
    span_t s = { (uint8_t *)b.buf, (int32_t)b.len };
    return s;
}

void k_need(int64_t lo, int64_t hi, int64_t n) {
    if (lo < 0 || hi > n || lo > hi) {
        mp_raise_ValueError(MP_ERROR_TEXT("kernel argument out of its buffer"));
    }
}

int k_int(mp_obj_t o) {
    return mp_obj_is_small_int(o) ? MP_OBJ_SMALL_INT_VALUE(o) : mp_obj_get_int(o);
}

void k_need_items(span_t s, int64_t off, int64_t n, int width) {
    if (n < 0) {
        n = 0;
    }
    k_need(off * width, (off + n) * width, s.n);
}

void k_block_sums(const uint8_t *xq, int K, int B, int nb, int32_t *sx) {
    int k = 0;
    for (int b = 0; b < nb; b++) {
        int start = k;
        int end = k + B < K ? k + B : K;
        int32_t s = 0;
        for (; k < end; k++) {
            s += xq[k];
        }
        sx[b] = s - 128 * (k - start);
    }
}

static inline int32_t dot_q8(const int8_t *q, const int32_t *x, int n) {
    int32_t p = 0;
    int k = 0;
    for (; k + 4 <= n; k += 4) {
        p += q[k] * x[k] + q[k + 1] * x[k + 1] + q[k + 2] * x[k + 2] + q[k + 3] * x[k + 3];
    }
    for (; k < n; k++) {
        p += q[k] * x[k];
    }
    return p;
}

void k_check_rows(span_t w, int wo, int stride, int hdr, int cb, int nb, int B, int K, int r0, int r1, int asym,
    int q8) {
    if (hdr < 0 || cb < 0 || nb < 0 || B <= 0 || K < 0 || r0 < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("kernel argument out of range"));
    }
    if (r1 <= r0) {
        return;
    }
    // whole blocks: the .hyq row layout pads the last one, and the kernels read it (zeros in x meet it)
    int64_t data = q8 ? (int64_t)nb * B : ((int64_t)nb * B + 1) / 2;
    // the codes read: asym 6-bit codes, 3 bytes at (b >> 2) * 3 and at half = cb >> 1 past it; else one per block
    int64_t ncod = (asym && !q8) ? (nb ? (int64_t)((nb - 1) >> 2) * 3 + 3 + (cb >> 1) : 0) : nb;
    int64_t ext = hdr + (cb + data > ncod ? cb + data : ncod);
    k_need_rows(w, wo, stride, r0, r1, ext);
}

void k_need_rows(span_t s, int off, int stride, int r0, int r1, int64_t ext) {
    if (r1 <= r0 || ext <= 0) {
        return;
    }
    int64_t first = (int64_t)off + (int64_t)r0 * stride, last = (int64_t)off + (int64_t)(r1 - 1) * stride;
    k_need(first < last ? first : last, (first < last ? last : first) + ext, s.n);
}

// The generic row loop for blocks wider than the stack chunk: unsigned activations, corrected by the codes' sum.
static void rows_wide(const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int B, int K, int r0, int r1,
    const uint8_t *xq, const int32_t *sx, int32_t *acc, int asym, int q8) {
    int half = cb >> 1;
    for (int r = r0; r < r1; r++) {
        const uint8_t *cod = w + wo + r * stride + hdr;
        const uint8_t *q = cod + cb;
        int32_t a1 = 0, a2 = 0;
        int k = 0;
        for (int b = 0; b < nb; b++) {
            int32_t sc, mc, p = 0, su = 0;
            int end = k + B < K ? k + B : K;
            if (q8) {
                sc = (int8_t)cod[b];
                for (; k < end; k++) {
                    p += (int8_t)q[k] * ((int32_t)xq[k] - 128);
                }
                a1 += sc * p;
                continue;
            }
            codes(cod, b, half, asym, &sc, &mc);
            for (; k + 1 < end; k += 2) {
                uint32_t v = q[k >> 1];
                p += (int32_t)(v & 15) * xq[k] + (int32_t)(v >> 4) * xq[k + 1];
                su += (v & 15) + (v >> 4);
            }
            if (k < end) {
                p += (int32_t)(q[k >> 1] & 15) * xq[k];
                su += q[k >> 1] & 15;
                k++;
            }
            p -= su << 7;
            if (asym) {
                a1 += sc * p;
                a2 += mc * sx[b];
            } else {
                a1 += sc * (p - 8 * sx[b]);
            }
        }
        acc[2 * r] = a1;
        acc[2 * r + 1] = a2;
    }
}

#if defined(__ARM_ARCH_6M__)
// Cortex-M0: one code byte v (two nibbles) against its column pair (x0, x1 - 16*x0), loaded by one ldm into r4,
// r5: v*x0 + (v >> 4)*(x1 - 16*x0) into p, 7 instructions for 2 MACs (the asm loops below)
#define HYQ_BYTE(i) \
    "ldrb %[v], [%[q], #" #i "]\n" \
    "ldmia %[x]!, {r4, r5}\n" \
    "muls r4, %[v], r4\n" \
    "adds %[p], %[p], r4\n" \
    "lsrs %[v], %[v], #4\n" \
    "muls r5, %[v], r5\n" \
    "adds %[p], %[p], r5\n"
#endif

// The q4 product of one block of `n` runs of 8 columns (4 code bytes each) with column pairs (x0, d = x1 - 16*x0):
// for a byte v holding the codes lo (low nibble) and hi, lo*x0 + hi*x1 = v*x0 + hi*d, two multiplies and no nibble
// mask. An odd last column has x1 = 0, so hi*d cancels the high nibble in v*x0 whatever that padding holds.
static inline int32_t block_q4(const uint8_t *q, const int32_t *x, int n) {
    int32_t p = 0;
#if defined(__ARM_ARCH_6M__)
    // Cortex-M0: 7 instructions per code byte (2 MACs), the column pair loaded by one ldm; GCC's own
    // schedule of the C below spills to the stack and spends 11
    register int32_t x0 __asm__("r4"), xd __asm__("r5");
    uint32_t v;
    __asm__ volatile (
        ".syntax unified\n"
        "1:\n"
        HYQ_BYTE(0) HYQ_BYTE(1) HYQ_BYTE(2) HYQ_BYTE(3)
        "adds %[q], %[q], #4\n"
        "subs %[n], %[n], #1\n"
        "bne 1b\n"
        : [p] "+l" (p), [q] "+l" (q), [x] "+l" (x), [n] "+l" (n), [v] "=&l" (v), "=&l" (x0), "=&l" (xd)
        :
        : "cc", "memory");
#else
    do {
        uint32_t v0 = q[0], v1 = q[1], v2 = q[2], v3 = q[3];
        p += (int32_t)v0 * x[0] + (int32_t)(v0 >> 4) * x[1];
        p += (int32_t)v1 * x[2] + (int32_t)(v1 >> 4) * x[3];
        p += (int32_t)v2 * x[4] + (int32_t)(v2 >> 4) * x[5];
        p += (int32_t)v3 * x[6] + (int32_t)(v3 >> 4) * x[7];
        q += 4;
        x += 8;
    } while (--n);
#endif
    return p;
}

#if defined(__ARM_ARCH_6M__)
// Cortex-M0, blocks of 32 columns (the default), every row of a chunk in one loop: acc[2r] += the sum over the
// row's nblk blocks of its scale code times the block's product. A block's 16 code bytes are unrolled (112
// multiply-add instructions and 14 more); a row costs 27 more. A partial last block runs whole (its columns past K
// are zeros in x): cheaper than a second loop for its runs. The loop's state lives in st between rows.
typedef struct {
    const uint8_t *q; // this row's first code byte of the chunk; the next row's is stride further
    int32_t stride;
    const int32_t *x; // the chunk's column pairs
    const int8_t *c; // this row's (sc, mc) code pairs for the chunk's blocks; the next row's cstride further
    int32_t cstride;
    int32_t bytes; // 16 * blocks
    int32_t *acc; // this row's acc[2r]
    int32_t n; // rows left, at least 1
    int32_t a; // (the loop's own: the row's sum, and where its codes end)
    const uint8_t *end;
    const int8_t *cr;
} rows32_t;

static void __attribute__((noinline)) rows32_q4(rows32_t *st) {
    int32_t p;
    uint32_t v;
    const uint8_t *q;
    const int32_t *x;
    register int32_t x0 __asm__("r4"), xd __asm__("r5");
    // 7 low registers (the M0 has 8, and GCC may keep one as a frame pointer): the rest of the state is in st
    __asm__ volatile (
        ".syntax unified\n"
        "2:\n" // a row
        "ldr %[q], [%[st], #0]\n"
        "ldr %[x], [%[st], #8]\n"
        "ldr r4, [%[st], #12]\n"
        "str r4, [%[st], #40]\n"
        "ldr r4, [%[st], #20]\n"
        "adds r4, r4, %[q]\n"
        "str r4, [%[st], #36]\n"
        "movs r4, #0\n"
        "str r4, [%[st], #32]\n"
        "1:\n" // a block
        "movs %[p], #0\n"
        HYQ_BYTE(0) HYQ_BYTE(1) HYQ_BYTE(2) HYQ_BYTE(3) HYQ_BYTE(4) HYQ_BYTE(5) HYQ_BYTE(6) HYQ_BYTE(7)
        HYQ_BYTE(8) HYQ_BYTE(9) HYQ_BYTE(10) HYQ_BYTE(11) HYQ_BYTE(12) HYQ_BYTE(13) HYQ_BYTE(14) HYQ_BYTE(15)
        "adds %[q], %[q], #16\n"
        "ldr r5, [%[st], #40]\n" // the block's scale code
        "movs r4, #0\n"
        "ldrsb r4, [r5, r4]\n"
        "adds r5, r5, #2\n"
        "str r5, [%[st], #40]\n"
        "muls r4, %[p], r4\n"
        "ldr r5, [%[st], #32]\n"
        "adds r5, r5, r4\n"
        "str r5, [%[st], #32]\n"
        "ldr r4, [%[st], #36]\n"
        "cmp %[q], r4\n"
        "bne 1b\n"
        "ldr r4, [%[st], #24]\n" // the row's sum into acc, then the next row
        "ldr %[p], [r4, #0]\n"
        "adds %[p], %[p], r5\n"
        "str %[p], [r4, #0]\n"
        "adds r4, r4, #8\n"
        "str r4, [%[st], #24]\n"
        "ldr r4, [%[st], #0]\n"
        "ldr r5, [%[st], #4]\n"
        "adds r4, r4, r5\n"
        "str r4, [%[st], #0]\n"
        "ldr r4, [%[st], #12]\n"
        "ldr r5, [%[st], #16]\n"
        "adds r4, r4, r5\n"
        "str r4, [%[st], #12]\n"
        "ldr r4, [%[st], #28]\n"
        "subs r4, r4, #1\n"
        "str r4, [%[st], #28]\n"
        "beq 3f\n"
        "b 2b\n" // (a conditional branch does not reach back over the unrolled block)
        "3:\n"
        : [p] "=&l" (p), [q] "=&l" (q), [x] "=&l" (x), [v] "=&l" (v), "=&l" (x0), "=&l" (xd)
        : [st] "l" (st)
        : "cc", "memory");
}
#endif

// sum over nblk blocks of cc[2b] * (the block's q4 codes . its columns), adding cc[2b + asym] times the blocks'
// sums of x to *t (mc * sx for asym rows, sc * sx for sym ones); a block is `it` runs of 8 columns (4 code bytes),
// the last one `itl` (a partial block; its columns past K are zeros in x). Its own function so the inner loop has
// the registers to itself (8 on a Cortex-M0).
static int32_t __attribute__((noinline)) blocks_q4(const uint8_t *q, const int32_t *x, const int8_t *cc,
    const int32_t *sx, int nblk, int it, int itl, int asym, int32_t *t) {
    int32_t a = 0, u = 0;
    for (int b = 0; b < nblk; b++) {
        u += cc[2 * b + asym] * sx[b];
    }
    *t += u;
    for (int b = 0; b < nblk; b++, q += it * 4, x += it * 8, cc += 2) {
        a += cc[0] * block_q4(q, x, b == nblk - 1 ? itl : it);
    }
    return a;
}

// q8: sum over nblk blocks of cc[2b] * (the block's int8 codes . its columns), blocks of B columns
static int32_t blocks_q8(const int8_t *q, const int32_t *x, const int8_t *cc, int nblk, int B) {
    int32_t a = 0;
    for (int b = 0; b < nblk; b++, q += B, x += B) {
        a += cc[2 * b] * dot_q8(q, x, B);
    }
    return a;
}

// blocks b0..b0+n-1 of a row's scale codes (cod: where its codes start) as int8 pairs (sc, mc) into out
static void block_codes(const uint8_t *cod, int b0, int n, int half, int asym, int8_t *out) {
    for (int j = 0; j < n; j++, out += 2) {
        int32_t sc, mc;
        codes(cod, b0 + j, half, asym, &sc, &mc);
        out[0] = (int8_t)sc;
        out[1] = (int8_t)mc;
    }
}

void k_row_codes(const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int r0, int r1, int asym, int8_t *cc) {
    for (int r = r0; r < r1; r++, cc += 2 * nb) {
        block_codes(w + wo + r * stride + hdr, 0, nb, cb >> 1, asym, cc);
    }
}

// Rows r0..r1-1 (row r at w[wo + r*stride]) against xq: acc[2r], acc[2r+1]. The columns go through a stack
// chunk of whole blocks as int32, shared by every row, zero past K: a row's data holds whole blocks (the .hyq
// layout pads its last one), so every block runs the same fixed-count loop. cc: the rows' scale codes decoded
// already (k_row_codes, from row r0), or NULL.
static void rows(const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int B, int K, int r0, int r1,
    const uint8_t *xq, const int32_t *sx, int32_t *acc, int asym, int q8, const int8_t *cc) {
    if (B > XS_N || (B & 7)) {
        rows_wide(w, wo, stride, hdr, cb, nb, B, K, r0, r1, xq, sx, acc, asym, q8);
        return;
    }
    int32_t xs[XS_N];
    // scale codes for the chunk's blocks, when not decoded already (2 a block): a row's, or on the M0 ROWS_DEC rows'
#define ROWS_DEC 16
    int8_t ccl[ROWS_DEC * XS_N / 16];
    int half = cb >> 1;
    int per = 1; // blocks per chunk (B is a power of two at least 32 in .hyq files)
    while ((per + 1) * B <= XS_N) {
        per++;
    }
    for (int r = r0; r < r1; r++) {
        acc[2 * r] = acc[2 * r + 1] = 0;
    }
    for (int b0 = 0; b0 < nb; b0 += per) {
        int b1 = b0 + per < nb ? b0 + per : nb;
        int k0 = b0 * B, k1 = b1 * B < K ? b1 * B : K, kend = b1 * B;
        int k = k0;
        if (q8) {
            for (; k < k1; k++) {
                xs[k - k0] = (int32_t)xq[k] - 128;
            }
        } else { // column pairs (x0, x1 - 16*x0)
            for (; k < k1; k += 2) {
                int32_t x0 = (int32_t)xq[k] - 128, x1 = k + 1 < k1 ? (int32_t)xq[k + 1] - 128 : 0;
                xs[k - k0] = x0;
                xs[k - k0 + 1] = x1 - 16 * x0;
            }
        }
        for (; k < kend; k++) { // past K: zeros (k0 may be past K too: a block of no columns)
            xs[k - k0] = 0;
        }
        const int32_t *x = xs;
        int nbk = b1 - b0;
        // the chunk's blocks that hold columns, and the runs of 8 columns of the last of them (past K: zeros)
        int nbc = k1 > k0 ? (k1 - k0 + B - 1) / B : 0;
        int itl = nbc > 0 ? (k1 - (k0 + (nbc - 1) * B) + 7) >> 3 : 0;
#if defined(__ARM_ARCH_6M__)
        if (B == 32 && !q8) { // rows in groups through the asm loop: all of them with decoded codes, else ROWS_DEC
            int group = cc ? r1 - r0 : ROWS_DEC;
            for (int ra = r0; ra < r1; ra += group) {
                int rb = ra + group < r1 ? ra + group : r1, cst;
                const int8_t *c;
                if (cc) {
                    c = cc + 2 * ((ra - r0) * nb + b0);
                    cst = 2 * nb;
                } else {
                    cst = 2 * nbk;
                    for (int r = ra; r < rb; r++) {
                        block_codes(w + wo + r * stride + hdr, b0, nbk, half, asym, ccl + (r - ra) * cst);
                    }
                    c = ccl;
                }
                rows32_t st = { w + wo + ra * stride + hdr + cb + (b0 * B >> 1), stride, x, c, cst, 16 * nbk,
                                acc + 2 * ra, rb - ra };
                rows32_q4(&st);
                for (int r = ra; r < rb; r++, c += cst) { // the codes times the blocks' sums of x
                    int32_t t = 0;
                    for (int j = 0; j < nbk; j++) {
                        t += c[2 * j + asym] * sx[b0 + j];
                    }
                    if (asym) {
                        acc[2 * r + 1] += t;
                    } else {
                        acc[2 * r] -= 8 * t;
                    }
                }
            }
            continue;
        }
#endif
        for (int r = r0; r < r1; r++) {
            const uint8_t *cod = w + wo + r * stride + hdr;
            const int8_t *c;
            if (cc) {
                c = cc + 2 * ((r - r0) * nb + b0);
            } else { // this row's codes for the chunk's blocks
                block_codes(cod, b0, nbk, half, asym && !q8, ccl);
                c = ccl;
            }
            int32_t a1, t = 0;
            if (q8) {
                a1 = blocks_q8((const int8_t *)cod + cb + b0 * B, x, c, nbk, B);
            } else {
                a1 = blocks_q4(cod + cb + (b0 * B >> 1), x, c, sx + b0, nbc, B >> 3, itl, asym, &t);
                for (int j = nbc; j < nbk; j++) { // blocks with no columns: their sums of x are 0
                    t += c[2 * j + asym] * sx[b0 + j];
                }
            }
            if (asym && !q8) {
                acc[2 * r + 1] += t;
            } else {
                a1 -= 8 * t;
            }
            acc[2 * r] += a1;
        }
    }
}

void k_q4_rows(const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int B, int K, int r0, int r1,
    const uint8_t *xq, const int32_t *sx, int32_t *acc, int asym, const int8_t *cc) {
    rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, xq, sx, acc, asym, 0, cc);
}

void k_q8_rows(const uint8_t *w, int wo, int stride, int hdr, int cb, int nb, int B, int K, int r0, int r1,
    const uint8_t *xq, int32_t *acc, const int8_t *cc) {
    rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, xq, NULL, acc, 0, 1, cc);
}

// int8 outputs (rq_apply)
void k_requant(const int32_t *acc, int n, int rows, const int32_t *rq, int r0, uint8_t *y, int yo, int rstep,
    int pstep) {
    for (int r = 0; r < rows; r++) {
        rq_t q;
        rq_load(rq + 7 * (r0 + r), &q);
        uint8_t *out = y + yo + r * rstep;
        const int32_t *a = acc + 2 * r;
        for (int p = 0; p < n; p++, a += 2 * rows) {
            out[p * pstep] = rq_apply(&q, a[0], a[1]);
        }
    }
}
