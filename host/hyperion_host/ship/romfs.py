"""ROMFS images (what `vfs.VfsRom` mounts), written with mpremote's own VfsRomWriter. Code must already be
.mpy: mpremote's `romfs build` compiles .py without -march, which native (viper) code needs."""

from pathlib import Path

from mpremote.romfs import VfsRomWriter


def make_image(root, subdirs):
    """An image holding root/<subdir>/... for each subdir, files verbatim."""
    w = VfsRomWriter()
    root = Path(root)

    def add_dir(path, name):
        w.opendir(name)
        for p in sorted(path.iterdir()):
            if p.is_dir():
                add_dir(p, p.name)
            else:
                w.mkfile(p.name, p.read_bytes())
        w.closedir()

    for sub in subdirs:
        if (root / sub).is_dir():
            add_dir(root / sub, sub)
    return w.finalise()
