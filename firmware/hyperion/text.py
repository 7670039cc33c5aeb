# Text for language models: the byte tokenizer, sampling, and stop sequences. Runs on MicroPython and CPython
# (the host's relay samples with the same code, so a seed gives the same text on both).
import math

VOCAB = 256


def encode(s):
    """Token ids of a prompt: its UTF-8 bytes (a str is encoded, bytes are taken as they are)."""
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


class Utf8Decoder:
    """Bytes to str as they come, holding back an incomplete multi-byte character; a byte that cannot start or
    continue one becomes U+FFFD (a model can emit any byte)."""

    def __init__(self):
        self.pending = bytearray()
        self.need = 0

    def feed(self, b):
        """One byte in; returns the str it completes ("" while a character is incomplete)."""
        out = ""
        if self.need:
            if b & 0xC0 == 0x80:
                self.pending.append(b)
                if len(self.pending) < self.need:
                    return ""
                try:
                    out = bytes(self.pending).decode("utf-8")
                except UnicodeError:  # overlong or surrogate forms
                    out = "\ufffd"
                self.pending = bytearray()
                self.need = 0
                return out
            out = "\ufffd"  # the character was cut short
            self.pending = bytearray()
            self.need = 0
        if b < 0x80:
            return out + chr(b)
        n = 2 if b & 0xE0 == 0xC0 else (3 if b & 0xF0 == 0xE0 else (4 if b & 0xF8 == 0xF0 else 0))
        if n == 0 or b in (0xC0, 0xC1) or b > 0xF4:
            return out + "\ufffd"
        self.pending.append(b)
        self.need = n
        return out

    def flush(self):
        """What is left at the end: U+FFFD for an unfinished character."""
        out = "\ufffd" if self.need else ""
        self.pending = bytearray()
        self.need = 0
        return out


class Rng:
    """xorshift32: the same numbers on every port and on the host, for reproducible sampling."""

    def __init__(self, seed=None):
        if seed is None:
            try:
                import os

                seed = int.from_bytes(os.urandom(4), "little")
            except Exception:
                import time

                seed = time.ticks_us() if hasattr(time, "ticks_us") else int(time.time() * 1e6)
        self.s = (int(seed) & 0xFFFFFFFF) or 0x9E3779B9

    def random(self):
        """A float in [0, 1)."""
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return (s >> 8) / 16777216.0


class Sampler:
    """Next-token choice from logits: repetition penalty (as in CTRL: positive logits divided, negative ones
    multiplied), then greedy at temperature 0, else softmax at the temperature over the top_k candidates
    (0: all) cut to the smallest set with probability >= top_p, and one draw from the seeded Rng."""

    def __init__(self, temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.0, seed=None, window=64,
                 argmax=None):
        if temperature < 0:
            raise ValueError("temperature must be >= 0 (0 picks the most likely token)")
        if top_k < 0:
            raise ValueError("top_k must be >= 0 (0 keeps every token)")
        if not 0.0 < top_p <= 1.0:
            raise ValueError("top_p must be in (0, 1]")
        if repetition_penalty <= 0:
            raise ValueError("repetition_penalty must be > 0 (1 turns it off)")
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.penalty = repetition_penalty
        self.window = window
        self.rng = Rng(seed)
        if argmax is None:  # a board passes its kernels' (native) argmax
            from hyperion.kernels.python import argmax
        self.argmax = argmax
        self.idx = []
        self.prob = []

    def penalize(self, logits, recent):
        """Apply the repetition penalty in place to the tokens in recent (the last `window` tokens)."""
        if self.penalty == 1.0:
            return
        seen = set()
        for t in recent[-self.window:]:
            if t in seen:
                continue
            seen.add(t)
            v = logits[t]
            logits[t] = v / self.penalty if v > 0 else v * self.penalty

    def pick(self, logits, n, recent=()):
        """The next token from logits[0:n] (modified in place by the penalty)."""
        self.penalize(logits, recent)
        best = self.argmax(logits, n)
        if self.temperature == 0.0:
            return best
        inv = 1.0 / self.temperature
        top = logits[best]
        k = self.top_k if 0 < self.top_k < n else n
        idx = self.idx
        prob = self.prob
        del idx[:]
        del prob[:]
        if k == n and self.top_p >= 1.0:  # plain softmax: no ordering needed
            for i in range(n):
                idx.append(i)
                prob.append(math.exp((logits[i] - top) * inv))
        else:
            self._top(logits, n, k)
            for i in idx:
                prob.append(math.exp((logits[i] - top) * inv))
            if self.top_p < 1.0:
                total = 0.0
                for p in prob:
                    total += p
                cut = self.top_p * total
                acc = 0.0
                for j in range(len(prob)):
                    acc += prob[j]
                    if acc >= cut:
                        del idx[j + 1:]
                        del prob[j + 1:]
                        break
        total = 0.0
        for p in prob:
            total += p
        r = self.rng.random() * total
        for j in range(len(prob)):
            r -= prob[j]
            if r < 0.0:
                return idx[j]
        return idx[-1]

    def _top(self, logits, n, k):
        """self.idx = the k best token ids, best first (insertion into a short sorted list)."""
        idx = self.idx
        for i in range(n):
            v = logits[i]
            if len(idx) == k:
                if v <= logits[idx[-1]]:
                    continue
                idx.pop()
            j = len(idx)
            while j > 0 and logits[idx[j - 1]] < v:
                j -= 1
            idx.insert(j, i)


class StopFilter:
    """Streams text while watching for stop sequences: text that could be the start of one is held back until
    it is decided; at a stop sequence, the text before it is released and .stopped is set."""

    def __init__(self, stop=None):
        if stop is None:
            stop = ()
        elif isinstance(stop, str):
            stop = (stop,)
        for s in stop:
            if not isinstance(s, str) or not s:
                raise ValueError("stop sequences must be non-empty strings")
        self.stop = tuple(stop)
        self.held = ""
        self.stopped = False

    def feed(self, piece):
        """New text in; returns the text that is safe to show now."""
        if self.stopped:
            return ""
        buf = self.held + piece
        cut = -1
        for s in self.stop:
            i = buf.find(s)
            if i >= 0 and (cut < 0 or i < cut):
                cut = i
        if cut >= 0:
            self.stopped = True
            self.held = ""
            return buf[:cut]
        keep = 0  # the longest tail of buf that starts a stop sequence
        for s in self.stop:
            for j in range(min(len(s) - 1, len(buf)), keep, -1):
                if s.startswith(buf[len(buf) - j:]):
                    keep = j
                    break
        self.held = buf[len(buf) - keep:] if keep else ""
        return buf[:len(buf) - keep]

    def flush(self):
        out = "" if self.stopped else self.held
        self.held = ""
        return out
