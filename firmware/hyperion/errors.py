# The runtime's own exception, raised by loading (hyperion.load), running (Model.run) and preparing to generate
# (lm.Decoder); the package re-exports it as hyperion.OutOfMemory. Imports nothing.


class OutOfMemory(MemoryError):
    """A model did not fit: `needed` and `free` are in bytes. gc.collect() and the runtime stay usable."""

    def __init__(self, what, needed, free):
        if needed > free:
            why = "needs about %d bytes, %d bytes free" % (needed, free)
        else:  # the failed allocation wanted one block bigger than any free one: not "needs 40, 102400 free"
            why = ("needs one block larger than any of the %d bytes free (estimated need %d bytes; the heap may be "
                   "fragmented: load models first, right after boot)" % (free, needed))
        super().__init__("out of memory while %s: %s" % (what, why))
        self.needed = needed
        self.free = free
