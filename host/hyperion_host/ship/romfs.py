"""ROMFS images (what `vfs.VfsRom` mounts), written with mpremote's own VfsRomWriter. Code must already be
.mpy: mpremote's `romfs build` compiles .py without -march, which native (viper) code needs.

Models (.hyq) and raw inputs (.bin) are stored as top-level data records that start 8-byte aligned in the image
(a padding record before each, the file a pointer to it): the runtime reads a mapped model's int32 tables in
place, and an ARMv6-M core faults on an unaligned word load."""

from pathlib import Path

from mpremote.romfs import VfsRomWriter

ALIGN = 8
ALIGNED = (".hyq", ".bin")
KIND_PADDING, KIND_DATA = VfsRomWriter.ROMFS_RECORD_KIND_PADDING, VfsRomWriter.ROMFS_RECORD_KIND_DATA_VERBATIM


def _files(root, subdirs):
    for sub in subdirs:
        if (root / sub).is_dir():
            yield from (p for p in sorted((root / sub).rglob("*")) if p.is_file())


def _write(root, subdirs, head):
    """The image, assuming its header takes `head` bytes; returns (image, the header's real length)."""
    w = VfsRomWriter()
    pointers = {}
    for p in _files(root, subdirs):
        if p.suffix not in ALIGNED:
            continue
        data = p.read_bytes()
        at = len(w._dir_stack[0][1])
        rec = len(w._encode_uint(KIND_DATA)) + len(w._encode_uint(len(data)))
        k = -(head + at + 2 + rec) % ALIGN  # a padding record of 2 + k bytes (k < 128)
        w._extend(w._pack(KIND_PADDING, bytes(k)))
        pointers[p] = (len(data), w.mkdata(data))

    def add_dir(path, name):
        w.opendir(name)
        for p in sorted(path.iterdir()):
            if p.is_dir():
                add_dir(p, p.name)
            else:
                w.mkfile(p.name, pointers.get(p) or p.read_bytes())
        w.closedir()

    for sub in subdirs:
        if (root / sub).is_dir():
            add_dir(root / sub, sub)
    # a last padding record makes header + payload even, so finalise adds no 0x80 byte: the header is 3 bytes and
    # the length's varint
    n = len(w._dir_stack[0][1]) + 2
    w._extend(w._pack(KIND_PADDING, bytes((head + n) % 2)))
    payload = len(w._dir_stack[0][1])
    image = w.finalise()
    return image, len(image) - payload


def make_image(root, subdirs):
    """An image holding root/<subdir>/... for each subdir, files verbatim."""
    root = Path(root)
    head = 4
    for _ in range(8):  # the header's length depends on the payload's: settle it
        image, real = _write(root, subdirs, head)
        if real == head:
            return image
        head = real
    raise RuntimeError("ROMFS header length does not settle")
