# Audio front end on the board: framing, Hann window, radix-2 FFT, mel filterbank, log, DCT (MFCC), and an
# energy voice-activity detector. Plain MicroPython (CPython-compatible: the host's training pipeline imports
# the same filterbank and DCT). Buffers are made once per Frontend and reused for every frame. Where ulab
# imports (CircuitPython, ulab builds of MicroPython), a frame's FFT, power, filterbank and DCT are ulab array
# code instead: about ten array calls a frame in place of thousands of bytecode steps.
import array
import math

try:
    from ulab import numpy as _np
except ImportError:
    _np = None

SAMPLE_RATE = 16000


def hz_to_mel(f):
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_fft, n_mels, rate, fmin, fmax):
    """Triangular HTK-mel filters as (start bin, weights) per filter, over the n_fft // 2 + 1 power bins."""
    lo, hi = hz_to_mel(fmin), hz_to_mel(fmax)
    edges = [mel_to_hz(lo + (hi - lo) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    bins = [f * n_fft / rate for f in edges]
    out = []
    for m in range(n_mels):
        left, centre, right = bins[m], bins[m + 1], bins[m + 2]
        start = int(math.ceil(left))
        stop = int(math.floor(right))
        w = array.array("f")
        for k in range(start, stop + 1):
            if k <= centre:
                v = (k - left) / (centre - left) if centre > left else 1.0
            else:
                v = (right - k) / (right - centre) if right > centre else 1.0
            w.append(v if v > 0.0 else 0.0)
        out.append((start, w))
    return out


def dct_matrix(n_in, n_out):
    """Orthonormal DCT-II rows (n_out x n_in), flattened."""
    m = array.array("f", bytes(4 * n_in * n_out))
    for k in range(n_out):
        s = math.sqrt((1.0 if k == 0 else 2.0) / n_in)
        for n in range(n_in):
            m[k * n_in + n] = s * math.cos(math.pi * k * (2 * n + 1) / (2 * n_in))
    return m


class Frontend:
    """MFCCs of 16-bit (or float) audio: frame_len samples every hop, n_fft-point FFT, n_mels filters,
    n_mfcc coefficients. mfcc(samples) returns array('f') of frames * n_mfcc values, frame-major."""

    def __init__(self, n_fft=512, frame_len=400, hop=160, n_mels=40, n_mfcc=10, rate=SAMPLE_RATE, fmin=20.0,
                 fmax=4000.0, use_ulab=None):
        if n_fft & (n_fft - 1):
            raise ValueError("n_fft must be a power of two")
        # use_ulab: None = where ulab imports; False = the bytecode loops (the benchmark's baseline)
        self.ulab = _np is not None and use_ulab is not False
        self.n_fft, self.frame_len, self.hop = n_fft, frame_len, hop
        self.n_mels, self.n_mfcc = n_mels, n_mfcc
        self.window = array.array("f", [0.5 - 0.5 * math.cos(2 * math.pi * i / frame_len) for i in range(frame_len)])
        half = n_fft // 2
        self.cos = array.array("f", [math.cos(2 * math.pi * i / n_fft) for i in range(half)])
        self.sin = array.array("f", [-math.sin(2 * math.pi * i / n_fft) for i in range(half)])
        self.rev = array.array("H", [_bitrev(i, n_fft) for i in range(n_fft)])
        self.filters = mel_filterbank(n_fft, n_mels, rate, fmin, fmax)
        self.dct = dct_matrix(n_mels, n_mfcc)
        self.re = array.array("f", bytes(4 * n_fft))
        self.im = array.array("f", bytes(4 * n_fft))
        self.power = array.array("f", bytes(4 * (half + 1)))
        self.mel = array.array("f", bytes(4 * n_mels))
        if self.ulab:  # the same tables as ndarrays: the window, each filter's weights, the DCT matrix
            self.u_window = _np.frombuffer(self.window, dtype=_np.float)
            self.u_filters = [(b, _np.frombuffer(w, dtype=_np.float)) for b, w in self.filters]
            self.u_dct = _np.frombuffer(self.dct, dtype=_np.float).reshape((n_mfcc, n_mels))
            self.u_frame = _np.zeros(n_fft, dtype=_np.float)
            self.u_mel = _np.frombuffer(self.mel, dtype=_np.float)

    def frames(self, n_samples):
        return 0 if n_samples < self.frame_len else 1 + (n_samples - self.frame_len) // self.hop

    def fft(self):
        """In-place radix-2 FFT of (re, im)."""
        n = self.n_fft
        re, im, rev = self.re, self.im, self.rev
        for i in range(n):
            j = rev[i]
            if j > i:
                re[i], re[j] = re[j], re[i]
                im[i], im[j] = im[j], im[i]
        size = 2
        while size <= n:
            half = size >> 1
            step = n // size
            for start in range(0, n, size):
                k = 0
                for j in range(start, start + half):
                    wr = self.cos[k]
                    wi = self.sin[k]
                    l = j + half
                    tr = wr * re[l] - wi * im[l]
                    ti = wr * im[l] + wi * re[l]
                    re[l] = re[j] - tr
                    im[l] = im[j] - ti
                    re[j] += tr
                    im[j] += ti
                    k += step
            size <<= 1

    def _frame_ulab(self, samples, start, out, oo, scale):
        n = self.frame_len
        if isinstance(samples, array.array):  # array('h') or array('f'), read in place
            i16 = isinstance(samples[0], int)
            x = _np.frombuffer(samples, dtype=_np.int16 if i16 else _np.float, count=n, offset=(2 if i16 else 4) * start)
        else:
            x = _np.array(samples[start: start + n], dtype=_np.float)
        f = self.u_frame
        f[0:n] = x * (self.u_window * scale)
        r = _np.fft.fft(f)
        half = self.n_fft // 2 + 1
        if isinstance(r, tuple):  # ulab built without complex numbers: (real, imaginary)
            re, im = r[0][0:half], r[1][0:half]
        else:
            re, im = _np.real(r)[0:half], _np.imag(r)[0:half]
        p = re * re + im * im
        mel = self.u_mel
        for m in range(self.n_mels):
            b, w = self.u_filters[m]
            mel[m] = _np.dot(w, p[b: b + w.size]) if w.size else 0.0
        _np.frombuffer(out, dtype=_np.float, count=self.n_mfcc, offset=4 * oo)[:] = \
            _np.dot(self.u_dct, _np.log(mel + 1e-6))

    def frame_mfcc(self, samples, start, out, oo, scale=1.0):
        """MFCCs of the frame at samples[start:start + frame_len] into out[oo:oo + n_mfcc]."""
        if self.ulab and isinstance(out, array.array):
            self._frame_ulab(samples, start, out, oo, scale)
            return
        re, im, w = self.re, self.im, self.window
        for i in range(self.frame_len):
            re[i] = samples[start + i] * scale * w[i]
            im[i] = 0.0
        for i in range(self.frame_len, self.n_fft):
            re[i] = 0.0
            im[i] = 0.0
        self.fft()
        p = self.power
        for k in range(self.n_fft // 2 + 1):
            p[k] = re[k] * re[k] + im[k] * im[k]
        mel = self.mel
        for m in range(self.n_mels):
            b, wts = self.filters[m]
            s = 0.0
            for i in range(len(wts)):
                s += wts[i] * p[b + i]
            mel[m] = math.log(s + 1e-6)
        d = self.dct
        nm = self.n_mels
        for c in range(self.n_mfcc):
            s = 0.0
            row = c * nm
            for m in range(nm):
                s += d[row + m] * mel[m]
            out[oo + c] = s

    def mfcc(self, samples, scale=None, out=None):
        """All frames. samples: array('h') (scaled by 1/32768) or floats in [-1, 1]."""
        if scale is None:
            scale = 1.0 / 32768 if isinstance(samples[0], int) else 1.0
        nf = self.frames(len(samples))
        if out is None:
            out = array.array("f", bytes(4 * nf * self.n_mfcc))
        for f in range(nf):
            self.frame_mfcc(samples, f * self.hop, out, f * self.n_mfcc, scale)
        return out


def frame_energy_db(samples, start, n, scale=1.0):
    s = 0.0
    for i in range(start, start + n):
        v = samples[i] * scale
        s += v * v
    return 10.0 * math.log10(s / n + 1e-12)


def voice_activity(samples, frame_len=400, hop=160, threshold_db=12.0, min_frames=5, scale=1.0):
    """(start, end) sample ranges where the frame energy is threshold_db above the quietest frames' level."""
    nf = 0 if len(samples) < frame_len else 1 + (len(samples) - frame_len) // hop
    if nf == 0:
        return []
    e = [frame_energy_db(samples, f * hop, frame_len, scale) for f in range(nf)]
    quiet = sorted(e)[: max(1, nf // 10)]
    floor = sum(quiet) / len(quiet)
    out = []
    run = None
    for f in range(nf + 1):
        active = f < nf and e[f] > floor + threshold_db
        if active and run is None:
            run = f
        elif not active and run is not None:
            if f - run >= min_frames:
                out.append((run * hop, (f - 1) * hop + frame_len))
            run = None
    return out


def frontend_for(a):
    """The Frontend a keyword model's meta["audio"] describes."""
    return Frontend(a.get("n_fft", 512), a.get("frame_len", 400), a.get("hop", 160), a.get("n_mels", 40),
                    a.get("n_mfcc", 10), a.get("rate", SAMPLE_RATE))


def features(samples, a, fe):
    """The MFCCs of the model's window (meta["audio"]["seconds"]) around the first speech in samples: 16-bit
    PCM (array('h') or ints) or floats in [-1, 1], any length; shorter clips are zero-padded. The board's
    listen() and the relay's audio input both call this."""
    rate = a.get("rate", SAMPLE_RATE)
    n = int(a.get("seconds", 1.0) * rate)
    scale = 1.0 / 32768 if len(samples) and isinstance(samples[0], int) else 1.0
    start = 0
    if len(samples) > n:
        seg = voice_activity(samples, a.get("frame_len", 400), a.get("hop", 160), scale=scale)
        if seg:
            mid = (seg[0][0] + seg[0][1]) // 2
            start = min(max(0, mid - n // 2), len(samples) - n)
    if len(samples) >= n:
        window = memoryview(samples)[start: start + n] if start or len(samples) > n else samples
    else:  # shorter than the window: zero-padded copy
        window = array.array("f" if scale == 1.0 else "h", bytes((4 if scale == 1.0 else 2) * n))
        for i in range(len(samples)):
            window[i] = samples[i]
    return fe.mfcc(window, scale)


def _bitrev(i, n):
    r = 0
    b = n >> 1
    while b:
        if i & 1:
            r |= b
        i >>= 1
        b >>= 1
    return r
