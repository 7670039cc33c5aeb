"""Memory planning: one activation arena, buffer offsets from liveness (greedy by size, as TFLM does)."""


def plan_arena(ops, sizes, inputs, outputs, aliases, align=8):
    """Greedy-by-size placement with liveness (as TFLM's GreedyMemoryPlanner does).

    ops: [(inputs, outputs)] in execution order; sizes: buffer -> bytes; aliases: name -> name it shares
    bytes with (reshape outputs). Returns (offsets per name, arena size)."""

    def root(n):
        while n in aliases:
            n = aliases[n]
        return n

    first, last = {}, {}
    for n in inputs:
        first[root(n)] = -1
    for i, (ins, outs) in enumerate(ops):
        for n in outs:
            first.setdefault(root(n), i)
            last[root(n)] = max(last.get(root(n), i), i)
        for n in ins:
            if root(n) in sizes:
                last[root(n)] = max(last.get(root(n), i), i)
    for n in list(outputs) + list(inputs):  # inputs stay intact too, so run() can be repeated on them
        last[root(n)] = len(ops)
    bufs = [n for n in sizes if n == root(n)]
    for n in bufs:
        first.setdefault(n, -1)
        last.setdefault(n, first[n])
    order = sorted(bufs, key=lambda n: (-sizes[n], first[n], n))
    placed = []  # (offset, end, first, last)
    offsets = {}
    for n in order:
        size = (sizes[n] + align - 1) // align * align
        live = sorted((o, e) for o, e, f, l in placed if not (l < first[n] or last[n] < f))
        off = 0
        for o, e in live:
            if off + size <= o:
                break
            off = max(off, e)
        offsets[n] = off
        placed.append((off, off + size, first[n], last[n]))
    arena = max((e for _, e, _, _ in placed), default=0)
    for n in sizes:
        offsets[n] = offsets[root(n)]
    return offsets, arena
