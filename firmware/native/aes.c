// AES-256 encryption of whole blocks (FIPS-197), for the keystream of encrypted models on boards whose firmware has
// no cryptolib (the emulated boards, ports built without mbedTLS/axTLS). Only encryption: CTR mode never decrypts
// a block. The S-box is computed into the caller's key-schedule buffer, so the module has no writable data.
// Byte-wise, no T-tables; the S-box lookups still depend on the key and data, which matters on cores with a data
// cache (a Cortex-M7), not on the cache-less M0/M33 class: docs/security.md.
#include "kernels.h"

static uint8_t xtime(uint8_t x) {
    return (uint8_t)((x << 1) ^ ((x >> 7) * 0x1B));
}

static uint8_t rotl8(uint8_t x, int s) {
    return (uint8_t)((x << s) | (x >> (8 - s)));
}

// the S-box from the multiplicative inverse in GF(2^8) and the affine map: p walks the powers of 3, q its inverses
static void make_sbox(uint8_t *sbox) {
    uint8_t p = 1, q = 1;
    do {
        p = (uint8_t)(p ^ (p << 1) ^ ((p & 0x80) ? 0x1B : 0));
        q ^= (uint8_t)(q << 1);
        q ^= (uint8_t)(q << 2);
        q ^= (uint8_t)(q << 4);
        if (q & 0x80) {
            q ^= 0x09;
        }
        sbox[p] = (uint8_t)(q ^ rotl8(q, 1) ^ rotl8(q, 2) ^ rotl8(q, 3) ^ rotl8(q, 4) ^ 0x63);
    } while (p != 1);
    sbox[0] = 0x63;
}

void k_aes256_key(const uint8_t *key, uint8_t *rk) {
    uint8_t *sbox = rk + AES256_RK_BYTES;
    make_sbox(sbox);
    for (int i = 0; i < 32; i++) {
        rk[i] = key[i];
    }
    uint8_t rcon = 1;
    for (int i = 8; i < 60; i++) {  // 60 words of 4 bytes: 15 round keys
        uint8_t t[4];
        for (int j = 0; j < 4; j++) {
            t[j] = rk[4 * (i - 1) + j];
        }
        if (i % 8 == 0) {
            uint8_t t0 = t[0];
            t[0] = (uint8_t)(sbox[t[1]] ^ rcon);
            t[1] = sbox[t[2]];
            t[2] = sbox[t[3]];
            t[3] = sbox[t0];
            rcon = xtime(rcon);
        } else if (i % 8 == 4) {
            for (int j = 0; j < 4; j++) {
                t[j] = sbox[t[j]];
            }
        }
        for (int j = 0; j < 4; j++) {
            rk[4 * i + j] = (uint8_t)(rk[4 * (i - 8) + j] ^ t[j]);
        }
    }
}

static void encrypt_block(const uint8_t *rk, const uint8_t *in, uint8_t *out) {
    const uint8_t *sbox = rk + AES256_RK_BYTES;
    uint8_t s[16];
    for (int i = 0; i < 16; i++) {
        s[i] = (uint8_t)(in[i] ^ rk[i]);
    }
    for (int round = 1; round <= 14; round++) {
        uint8_t t[16];
        // SubBytes and ShiftRows: row r of column c comes from column c + r (bytes are column-major)
        for (int c = 0; c < 4; c++) {
            for (int r = 0; r < 4; r++) {
                t[4 * c + r] = sbox[s[4 * ((c + r) & 3) + r]];
            }
        }
        if (round < 14) {  // MixColumns
            for (int c = 0; c < 4; c++) {
                uint8_t *a = t + 4 * c;
                uint8_t all = (uint8_t)(a[0] ^ a[1] ^ a[2] ^ a[3]), a0 = a[0];
                a[0] ^= (uint8_t)(all ^ xtime((uint8_t)(a[0] ^ a[1])));
                a[1] ^= (uint8_t)(all ^ xtime((uint8_t)(a[1] ^ a[2])));
                a[2] ^= (uint8_t)(all ^ xtime((uint8_t)(a[2] ^ a[3])));
                a[3] ^= (uint8_t)(all ^ xtime((uint8_t)(a[3] ^ a0)));
            }
        }
        for (int i = 0; i < 16; i++) {
            s[i] = (uint8_t)(t[i] ^ rk[16 * round + i]);
        }
    }
    for (int i = 0; i < 16; i++) {
        out[i] = s[i];
    }
}

void k_aes256_ecb(const uint8_t *rk, const uint8_t *in, uint8_t *out, int nblocks) {
    for (int b = 0; b < nblocks; b++) {
        encrypt_block(rk, in + 16 * b, out + 16 * b);
    }
}
