# Encrypted models (docs/security.md): AES-256-CTR over a .hyq's data section and HMAC-SHA256 over the whole file
# (encrypt-then-MAC), both keyed from one 32-byte key. The board decrypts as it streams weights, into the
# buffer it reads into, so RAM does not grow: with cryptolib's AES (ECB on counter blocks: ports build cryptolib
# without CTR mode), else the C kernels' AES-256 (firmware/native/aes.c). The host imports this module
# (CPython: the `cryptography` package runs the AES).
import hashlib
from binascii import hexlify, unhexlify

try:
    import cryptolib
except ImportError:
    cryptolib = None

KEY_DIR = "/hyperion-keys"  # on a board: <key id>.key (model keys) and fleet.key (bundle signatures)
MAC_SIZE = 32
NONCE_SIZE = 8
CHUNK = 256  # keystream bytes made per AES call: 16 counter blocks
AES_STATE = 496  # the C kernels' AES-256 state: round keys and S-box


class Hmac:
    """HMAC-SHA256 (RFC 2104) on hashlib.sha256, which every port with hashlib has (MicroPython has no hmac)."""

    def __init__(self, key):
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        pad = bytearray(64)
        pad[: len(key)] = key
        for i in range(64):
            pad[i] ^= 0x36
        self.inner = hashlib.sha256(pad)
        for i in range(64):
            pad[i] ^= 0x36 ^ 0x5C
        self.outer = hashlib.sha256(pad)

    def update(self, data):
        self.inner.update(data)

    def digest(self):
        self.outer.update(self.inner.digest())
        return self.outer.digest()


def hmac_sha256(key, data):
    h = Hmac(key)
    h.update(data)
    return h.digest()


def same(a, b):
    """a == b for two digests, in time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0


def parse_key(text):
    """A key file's content (64 hex digits) as 32 bytes, or ValueError."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode()
    text = text.strip()
    if len(text) != 64:
        raise ValueError("a key file holds 64 hex digits (32 bytes)")
    try:
        return unhexlify(text)
    except ValueError:
        raise ValueError("a key file holds 64 hex digits (32 bytes)")


def key_id(key):
    """The public name of a key: 16 hex digits (it names the key's file on a board and is kept in the model)."""
    return hexlify(hashlib.sha256(b"hyperion key id " + key).digest()[:8]).decode()


def model_keys(key):
    """(AES key, MAC key) derived from a model key: one key never serves two algorithms."""
    return hmac_sha256(key, b"hyperion hyq aes-256-ctr"), hmac_sha256(key, b"hyperion hyq hmac-sha256")


def signing_key(key):
    """The key a fleet key signs bundle manifests with."""
    return hmac_sha256(key, b"hyperion bundle manifest")


def find_key(kid, keydir=None):
    """The key named kid from a board's key folder, or None."""
    try:
        with open((keydir or KEY_DIR) + "/" + kid + ".key") as f:
            key = parse_key(f.read())
    except (OSError, ValueError):
        return None
    return key if key_id(key) == kid else None


def _c_aes(k):
    """The C kernels' AES-256 (aes_key, aes_ecb): the model's kernel module, or the C one when it runs another."""
    if hasattr(k, "aes_ecb"):
        return k
    try:
        from hyperion.kernels import _c

        c = _c()
    except (ImportError, ValueError, MemoryError):  # no C kernels for this board
        return None
    return c if hasattr(c, "aes_ecb") else None


class Ctr:
    """The AES-256-CTR keystream of an encrypted model's data section: block i (bytes 16i..16i+15) is encrypted
    from the counter block nonce (8 bytes) + i (8 bytes, big-endian). xor(buf, n, pos) decrypts (or encrypts)
    buf[0:n], which holds the section's bytes from pos on, in place. k: the kernel module (ctr_fill, xor)."""

    def __init__(self, aes_key, nonce, k=None):
        self.key = aes_key
        self.nonce = bytes(nonce)
        self.aes = self.c = None
        if k is None:
            from hyperion.kernels import select

            k = select("auto")[0]
        self.k = k
        if cryptolib is not None:
            self.aes = cryptolib.aes(aes_key, 1)  # ECB: the counter blocks are encrypted 16 at a time
        else:
            self.c = _c_aes(k)  # the C kernels' AES-256, where the firmware has no cryptolib
            if self.c is None:
                import sys

                if sys.implementation.name == "cpython":
                    return  # the host: the `cryptography` package (_xor_host)
                raise ValueError("this firmware has no cryptolib (AES) and no C kernels, so it cannot decrypt "
                                 "models (docs/security.md)")
            self.rk = bytearray(AES_STATE)
            self.c.aes_key(aes_key, self.rk)
        self.ctr = bytearray(CHUNK)
        for b in range(0, CHUNK, 16):
            self.ctr[b: b + NONCE_SIZE] = self.nonce
        self.ks = bytearray(CHUNK)

    def xor(self, buf, n, pos):
        if self.aes is None and self.c is None:
            return self._xor_host(buf, n, pos)
        k = self.k
        if k.PATH == "python" and not isinstance(buf, bytearray):  # bytecode indexes items: a typed array's bytes
            from io import BytesIO  # are decrypted apart, then copied back raw

            tmp = bytearray(bytes(buf)[:n])
            self.xor(tmp, n, pos)
            BytesIO(tmp).readinto(buf)
            return buf
        done = 0
        while done < n:
            at = pos + done
            skip = at & 15
            m = min(CHUNK - skip, n - done)
            nb = (skip + m + 15) >> 4
            k.ctr_fill(self.ctr, nb, at >> 4)
            if self.aes is not None:
                self.aes.encrypt(self.ctr, self.ks)
            else:
                self.c.aes_ecb(self.rk, self.ctr, self.ks, nb)
            k.xor(buf, done, self.ks, skip, m)
            done += m
        return buf

    def _xor_host(self, buf, n, pos):
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        iv = self.nonce + (pos >> 4).to_bytes(8, "big")
        enc = Cipher(algorithms.AES(self.key), modes.CTR(iv)).encryptor()
        skip = pos & 15
        out = enc.update(bytes(skip) + bytes(memoryview(buf)[:n]))[skip:]
        memoryview(buf).cast("B")[:n] = out
        return buf
