"""The board's audio front end (firmware/hyperion/audio.py) on MicroPython, against numpy's FFT."""

import numpy as np

from hyperion.audio import Frontend, dct_matrix, mel_filterbank, voice_activity
from hyperion_host.firmware import cached_firmware


def reference_mfcc(x, fe):
    """numpy: same framing, window, filters and DCT as the board, numpy's rfft for the spectrum."""
    n = fe.frames(len(x))
    win = np.array(fe.window)
    filt = np.zeros((fe.n_mels, fe.n_fft // 2 + 1))
    for m, (start, w) in enumerate(mel_filterbank(fe.n_fft, fe.n_mels, 16000, 20.0, 4000.0)):
        filt[m, start: start + len(w)] = np.array(w)
    dct = np.array(dct_matrix(fe.n_mels, fe.n_mfcc)).reshape(fe.n_mfcc, fe.n_mels)
    out = []
    for f in range(n):
        frame = x[f * fe.hop: f * fe.hop + fe.frame_len] * win
        p = np.abs(np.fft.rfft(frame, fe.n_fft)) ** 2
        out.append(dct @ np.log(filt @ p + 1e-6))
    return np.array(out)


def test_mfcc_on_micropython_matches_numpy(micropython, tmp_path):
    r = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    x = 0.3 * np.sin(2 * np.pi * (300 + 2000 * t) * t) + 0.02 * r.standard_normal(len(t))
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    (tmp_path / "a.raw").write_bytes(pcm.tobytes())
    code = (
        "import array\nfrom hyperion import audio\n"
        "s = array.array('h', open(%r, 'rb').read())\n"
        "fe = audio.Frontend()\nm = fe.mfcc(s)\n"
        "print(fe.frames(len(s)))\nprint(' '.join('%%.5f' %% v for v in m))\n" % str(tmp_path / "a.raw")
    )
    res = micropython(code, firmware=cached_firmware("x64"), heap=512 * 1024)
    assert res.ok, res
    lines = res.stdout.strip().splitlines()
    frames = int(lines[0])
    board = np.array([float(v) for v in lines[1].split()]).reshape(frames, 10)
    ref = reference_mfcc(pcm / 32768.0, Frontend())
    assert frames == 48 == len(ref)
    np.testing.assert_allclose(board, ref, atol=2e-3 * np.abs(ref).max())


def test_voice_activity_finds_the_burst():
    r = np.random.default_rng(1)
    x = 0.003 * r.standard_normal(16000)
    x[6000:10000] += 0.5 * np.sin(2 * np.pi * 440 * np.arange(4000) / 16000)
    segs = voice_activity(list(x))
    assert len(segs) == 1
    start, end = segs[0]
    assert abs(start - 6000) < 800 and abs(end - 10000) < 800
    assert voice_activity(list(0.003 * r.standard_normal(16000))) == []
