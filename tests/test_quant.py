"""The weight quantizer: packing round trips, bits per weight, and quality against round-to-nearest."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperion.hyq import S_ASYM, S_Q8, S_SYM, q4_layout
from hyperion_host.model.fit import prune_magnitude, quantize_weight, sqnr_db
from hyperion_host.model.weights import (
    CSRWeight,
    QuantizedWeight,
    bits_per_weight,
    pack6,
    pack_nibbles,
    unpack6,
    unpack_nibbles,
)


def q4_0_rtn(w):
    """Plain round-to-nearest Q4_0 (GGML's reference): per 32 block d = max/-8, q = round(x/d) + 8 in 0..15."""
    x = w.reshape(-1, 32).astype(np.float32)
    idx = np.abs(x).argmax(1)
    mx = x[np.arange(len(x)), idx]
    d = (mx / -8).astype(np.float16).astype(np.float32)
    inv = np.where(d == 0, 0, 1 / np.where(d == 0, 1, d))
    q = np.clip(np.floor(x * inv[:, None] + 8.5), 0, 15)
    return ((q - 8) * d[:, None]).reshape(w.shape)


def trained_like(rows, cols, seed=0):
    """Heavy-tailed weights with per-row scale spread and a few outliers, like trained matrices."""
    r = np.random.default_rng(seed)
    w = r.standard_t(5, (rows, cols)) * np.exp(r.normal(0, 0.3, (rows, 1)))
    w[r.random((rows, cols)) < 0.002] *= 6
    return (w * 0.02).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9), st.integers(1, 300), st.sampled_from([32, 64, 128]), st.sampled_from(["asym", "sym"]),
       st.sampled_from([4, 8]), st.integers(0, 2**31))
def test_pack_unpack_round_trip(rows, cols, block, scheme, bits, seed):
    w = np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)
    q = quantize_weight(w, bits, block, scheme)
    blob = q.to_bytes()
    nb, hdr, codes, data, stride = q4_layout(cols, q.qparam)
    assert len(blob) == rows * stride
    back = QuantizedWeight.from_bytes(blob, rows, cols, q.qparam)
    for k in ("u", "sc", "mc"):
        np.testing.assert_array_equal(getattr(back, k), getattr(q, k))
    np.testing.assert_array_equal(back.dequantize(), q.dequantize())
    assert back.dequantize().shape == (rows, cols)
    if bits == 4:
        assert q.u.min() >= 0 and q.u.max() <= 15
    assert np.abs(back.sc).max() <= (63 if q.scheme == S_ASYM else 127)


def test_low_level_packing_is_exact():
    r = np.random.default_rng(0)
    c = r.integers(0, 64, (5, 13))
    np.testing.assert_array_equal(unpack6(pack6(c), 13), c)
    assert pack6(c).shape == (5, 12)  # 13 codes -> 16 slots -> 12 bytes
    u = r.integers(0, 16, (3, 64))
    packed = pack_nibbles(u)
    assert packed.shape == (3, 32) and packed[0, 0] == u[0, 0] | (u[0, 1] << 4)  # element 2j in the low nibble
    np.testing.assert_array_equal(unpack_nibbles(packed), u)


def test_bits_per_weight_counts_the_scales():
    w = trained_like(64, 256)
    q = quantize_weight(w, 4, 32, "asym")
    # per row: fp16 d and dmin (4 bytes) + 8 blocks x (6+6 bits) = 12 bytes + 128 bytes of nibbles
    assert len(q.to_bytes()) == 64 * (4 + 12 + 128)
    assert bits_per_weight(q) == pytest.approx(4.5)
    assert bits_per_weight(quantize_weight(trained_like(16, 384), 4, 32, "asym")) == pytest.approx(214 * 8 / 384)
    assert bits_per_weight(quantize_weight(w, 4, 32, "sym")) == pytest.approx((2 + 8 + 128) * 8 / 256)
    assert bits_per_weight(quantize_weight(w, 4, 128, "asym")) == pytest.approx((4 + 6 + 128) * 8 / 256)
    assert bits_per_weight(quantize_weight(w, 8, 32)) == pytest.approx((2 + 8 + 256) * 8 / 256)


@pytest.mark.parametrize("cols", [256, 384, 1536])
def test_beats_round_to_nearest_q4_0_by_a_decibel(cols):
    w = trained_like(256, cols, seed=cols)
    rtn = sqnr_db(w, q4_0_rtn(w))
    q = quantize_weight(w, 4, 32, "asym")
    assert sqnr_db(w, q.dequantize()) >= rtn + 1.0, (sqnr_db(w, q.dequantize()), rtn)
    assert bits_per_weight(q) <= 4.5 + 1e-9
    # the symmetric grid is cheaper and still not worse than plain round-to-nearest
    assert sqnr_db(w, quantize_weight(w, 4, 32, "sym").dequantize()) >= rtn


def test_eight_bit_is_much_closer():
    w = trained_like(64, 256)
    assert sqnr_db(w, quantize_weight(w, 8, 32).dequantize()) > sqnr_db(w, quantize_weight(w, 4).dequantize()) + 20


def test_gptq_with_calibration_lowers_output_error():
    r = np.random.default_rng(1)
    k, n = 256, 128
    w = trained_like(n, k, seed=3)
    # correlated inputs with a few strong channels, as real activations have
    mix = r.standard_normal((k, k)) * 0.3 + np.eye(k)
    x = (r.standard_normal((2048, k)) * np.exp(r.normal(0, 0.8, k))) @ mix
    H = x.T @ x
    imp = (x * x).mean(0)
    ref = x @ w.T
    plain = quantize_weight(w, 4, 32, "asym")
    weighted = quantize_weight(w, 4, 32, "asym", importance=imp)
    gptq = quantize_weight(w, 4, 32, "asym", importance=imp, hessian=H)
    e_plain = sqnr_db(ref, x @ plain.dequantize().T)
    e_weighted = sqnr_db(ref, x @ weighted.dequantize().T)
    e_gptq = sqnr_db(ref, x @ gptq.dequantize().T)
    assert e_weighted > e_plain
    assert e_gptq > e_plain + 1.0, (e_plain, e_weighted, e_gptq)


def test_symmetric_and_q8_decode_formulas():
    w = trained_like(8, 96)
    for scheme, bits, code in (("sym", 4, S_SYM), ("asym", 8, S_Q8)):
        q = quantize_weight(w, bits, 32, scheme)
        assert q.scheme == code
        s = q.d[:, None] * q.sc
        expect = (q.u.reshape(8, -1, 32) - (8 if code == S_SYM else 0)) * s[..., None]
        np.testing.assert_allclose(q.dequantize(), expect.reshape(8, -1)[:, :96], rtol=1e-6)


def test_pruning_and_csr():
    w = trained_like(64, 256)
    p = prune_magnitude(w, 0.9)
    assert (p == 0).mean() == pytest.approx(0.9, abs=0.01)
    kept = np.abs(p[p != 0]).min()
    assert kept >= np.abs(w[p == 0]).max()  # the smallest magnitudes went
    csr = CSRWeight.from_dense(p)
    back = CSRWeight.from_bytes(csr.to_bytes(), 64, 256, csr.nnz)
    np.testing.assert_array_equal(back.dequantize(), csr.dequantize())
    assert len(csr.to_bytes()) < len(quantize_weight(p, 4, 32, "sym").to_bytes())
    assert sqnr_db(p, csr.dequantize()) > 15
