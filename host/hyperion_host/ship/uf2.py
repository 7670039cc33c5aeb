"""UF2 files for RP2040/RP2350: written with esptool's UF2 writer (256-byte payloads, family ID, no MD5, as the
RP2 boot ROM wants), and parsed back for checks."""

import os
import struct
import tempfile

from esptool.uf2_writer import UF2Writer

from hyperion_host.errors import HyperionError

MAGIC0, MAGIC1, MAGIC_END = 0x0A324655, 0x9E5D5157, 0x0AB16F30
FLAG_FAMILY = 0x2000
PAYLOAD = 256


def pack(data, base, family):
    """data at flash address base -> UF2 bytes (data padded with 0xFF to whole 256-byte pages)."""
    if base % PAYLOAD:
        raise HyperionError("UF2 base address 0x%x is not 256-byte aligned" % base)
    data = bytes(data) + b"\xff" * (-len(data) % PAYLOAD)
    fd, tmp = tempfile.mkstemp(suffix=".uf2")
    os.close(fd)
    try:
        with UF2Writer(family, tmp, PAYLOAD, md5_enabled=False) as w:
            w.add_file(base, data)
        with open(tmp, "rb") as f:
            return f.read()
    finally:
        os.unlink(tmp)


def parse(blob):
    """UF2 bytes -> list of (address, payload, family). Raises HyperionError on anything malformed."""
    if len(blob) % 512 or not blob:
        raise HyperionError("not a UF2 file: its size is not a multiple of 512 bytes")
    blocks = []
    n = len(blob) // 512
    for i in range(n):
        b = blob[i * 512: (i + 1) * 512]
        m0, m1, flags, addr, size, no, total, family = struct.unpack_from("<IIIIIIII", b)
        (end,) = struct.unpack_from("<I", b, 508)
        if (m0, m1, end) != (MAGIC0, MAGIC1, MAGIC_END):
            raise HyperionError("not a UF2 file: bad magic in block %d" % i)
        if no != i or total != n:
            raise HyperionError("UF2 block %d says it is %d of %d" % (i, no, total))
        if size > 476:
            raise HyperionError("UF2 block %d has a payload of %d bytes" % (i, size))
        blocks.append((addr, b[32: 32 + size], family if flags & FLAG_FAMILY else None))
    return blocks


def image_of(blob):
    """(base address, contiguous data, family) of a UF2 written for one region."""
    blocks = parse(blob)
    base = blocks[0][0]
    out = bytearray()
    for addr, payload, _ in blocks:
        if addr != base + len(out):
            raise HyperionError("UF2 addresses are not contiguous at 0x%x" % addr)
        out += payload
    families = {f for _, _, f in blocks}
    return base, bytes(out), families.pop() if len(families) == 1 else None
