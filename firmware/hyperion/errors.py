# The runtime's own exception, raised by loading (hyperion.load), running (Model.run) and preparing to generate
# (lm.Decoder); the package re-exports it as hyperion.OutOfMemory. Imports nothing.


class OutOfMemory(MemoryError):
    """A model did not fit: `needed` and `free` are in bytes. gc.collect() and the runtime stay usable."""

    def __init__(self, what, needed, free):
        super().__init__("out of memory while %s: needs about %d bytes, %d bytes free" % (what, needed, free))
        self.needed = needed
        self.free = free
