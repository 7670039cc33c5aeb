"""Encrypted .hyq files (docs/hyq-format.md, "Encryption"): the data section AES-256-CTR encrypted, the tensor CRCs
over the stored bytes, then a trailer: the nonce, the key's id and an HMAC-SHA256 of everything before it
(encrypt-then-MAC). The firmware reader (hyperion.hyq, hyperion.crypt) checks and decrypts it."""

import binascii
import io
import secrets
import struct

from hyperion import crypt, hyq
from hyperion_host.errors import HyperionError

CRC_AT = 28  # the crc field in a tensor table entry (TENSOR_FMT)


def _open(blob, key=None, decrypt=True):
    try:
        return hyq.Model(io.BytesIO(blob), True, key, None, decrypt)
    except hyq.FormatError as e:
        raise HyperionError(str(e)) from None


def encrypt_blob(blob, key, nonce=None):
    """A plain .hyq (bytes) encrypted with key (32 bytes)."""
    m = _open(blob, decrypt=False)
    if m.flags & hyq.F_ENCRYPTED:
        raise HyperionError("the model is already encrypted (give its key with --old-key to re-encrypt it)")
    nonce = nonce or secrets.token_bytes(crypt.NONCE_SIZE)
    aes_key, mac_key = crypt.model_keys(key)
    data = bytearray(blob[m.data_offset: m.data_offset + m.data_size])
    crypt.Ctr(aes_key, nonce).xor(data, len(data), 0)
    out = _assemble(blob, m, data, hyq.F_ENCRYPTED) + nonce + bytes.fromhex(crypt.key_id(key))
    return out + crypt.hmac_sha256(mac_key, out)


def decrypt_blob(blob, key):
    """An encrypted .hyq (bytes) back to the plain file, its MAC checked with key."""
    m = _open(blob, key)
    if not m.flags & hyq.F_ENCRYPTED:
        raise HyperionError("the model is not encrypted")
    data = bytearray(blob[m.data_offset: m.data_offset + m.data_size])
    m.ctr.xor(data, len(data), 0)
    return _assemble(blob, m, data, 0)


def _assemble(blob, m, data, flags):
    """The file with data as its data section, flags in the header, and the CRCs that follow from them."""
    table = bytearray(blob[hyq.HEADER_SIZE: m.data_offset])  # tables and metadata, as they were
    first = (2 * (len(m.inputs) + len(m.outputs)) + 3) & ~3
    for t in m.tensors:  # CRCs of the bytes as stored
        if t.kind != hyq.K_ACT:
            struct.pack_into("<I", table, first + hyq.TENSOR_SIZE * t.index + CRC_AT,
                             binascii.crc32(data[t.offset: t.offset + t.nbytes]))
    hdr = bytearray(blob[: hyq.HEADER_SIZE])
    struct.pack_into("<H", hdr, 6, flags)
    struct.pack_into("<I", hdr, hyq.HEADER_CRC_AT, binascii.crc32(bytes(hdr[: hyq.HEADER_CRC_AT]) + bytes(table)))
    return bytes(hdr) + bytes(table) + bytes(data)


def model_key_id(path):
    """The key id an encrypted .hyq names, or None for a plain one (no key needed to read it)."""
    try:
        with open(path, "rb") as f:
            m = hyq.Model(f, False, decrypt=False)
            if not m.flags & hyq.F_ENCRYPTED:
                return None
            f.seek(m.data_offset + m.data_size + crypt.NONCE_SIZE)
            return f.read(8).hex()
    except (OSError, hyq.FormatError):
        return None
