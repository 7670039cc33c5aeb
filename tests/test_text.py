"""firmware/hyperion/text.py: the byte tokenizer's streaming UTF-8 decoder, sampling and stop sequences, on
CPython and on MicroPython (the same code must give the same tokens on both)."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperion.text import Rng, Sampler, StopFilter, Utf8Decoder, encode


def _decode_all(data):
    d = Utf8Decoder()
    return "".join(d.feed(b) for b in data) + d.flush()


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_utf8_decoder_restores_any_text_fed_byte_by_byte(s):
    assert _decode_all(encode(s)) == s


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_utf8_decoder_turns_any_bytes_into_text_like_python_does(data):
    out = _decode_all(data)
    ref = data.decode("utf-8", "replace")
    # same characters; runs of invalid bytes may give a different number of U+FFFD than CPython's rule
    assert out.replace("\ufffd", "") == ref.replace("\ufffd", "")
    assert ("\ufffd" in out) == ("\ufffd" in ref)


def test_an_incomplete_character_is_held_until_it_is_complete():
    d = Utf8Decoder()
    assert [d.feed(b) for b in "é€".encode()] == ["", "é", "", "", "€"]
    assert d.feed(0xE2) == "" and d.flush() == "\ufffd"


def _softmax(z, t):
    m = max(z)
    e = [math.exp((v - m) / t) for v in z]
    s = sum(e)
    return [v / s for v in e]


def test_sampling_follows_the_softmax_at_the_temperature():
    logits = [0.0, 1.0, 2.0, 0.5, -1.0]
    s = Sampler(temperature=0.7, top_k=0, top_p=1.0, seed=3)
    n = 20000
    counts = [0] * 5
    for _ in range(n):
        counts[s.pick(list(logits), 5)] += 1
    for c, p in zip(counts, _softmax(logits, 0.7)):
        assert abs(c / n - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-3, (counts, p)


def test_top_k_and_top_p_keep_only_the_best_tokens():
    logits = [3.0, 2.9, 0.0, 2.8, -5.0, 1.0]
    k2 = Sampler(temperature=1.0, top_k=2, top_p=1.0, seed=1)
    assert {k2.pick(list(logits), 6) for _ in range(500)} == {0, 1}
    # probabilities at T=1: 0.36, 0.33, 0.30, ... -> top_p 0.5 keeps two, 0.3 keeps one
    p5 = Sampler(temperature=1.0, top_k=0, top_p=0.5, seed=1)
    assert {p5.pick(list(logits), 6) for _ in range(500)} == {0, 1}
    p3 = Sampler(temperature=1.0, top_k=0, top_p=0.3, seed=1)
    assert {p3.pick(list(logits), 6) for _ in range(100)} == {0}
    assert Sampler(temperature=0.0).pick(list(logits), 6) == 0


def test_repetition_penalty_steers_away_from_recent_tokens():
    logits = [2.0, 1.9, -1.0]
    s = Sampler(temperature=0.0, repetition_penalty=1.3)
    assert s.pick(list(logits), 3, recent=[0]) == 1  # 2.0 / 1.3 < 1.9
    lg = list(logits)
    s.penalize(lg, [2, 2])
    assert lg[2] == pytest.approx(-1.3)  # negative logits are multiplied, once per distinct token
    assert Sampler(temperature=0.0, repetition_penalty=1.0).pick(list(logits), 3, recent=[0]) == 0


@pytest.mark.parametrize("kw,msg", [({"temperature": -1}, "temperature"), ({"top_k": -2}, "top_k"),
                                    ({"top_p": 0}, "top_p"), ({"repetition_penalty": 0}, "repetition_penalty")])
def test_bad_sampling_settings_are_named(kw, msg):
    with pytest.raises(ValueError, match=msg):
        Sampler(**kw)


def test_stop_sequences_end_the_text_and_are_not_shown():
    f = StopFilter(["END", "\n\n"])
    out = [f.feed(p) for p in ["Hello E", "N", "ough. E", "ND tail"]]
    assert "".join(out) == "Hello ENough. " and f.stopped
    assert out[0] == "Hello "  # "E" is held back: it could start "END"
    assert f.feed("more") == "" and f.flush() == ""
    g = StopFilter("\n\n")
    assert g.feed("a\n") == "a" and g.feed("b") == "\nb" and not g.stopped and g.flush() == ""
    with pytest.raises(ValueError, match="stop"):
        StopFilter([""])


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="ab.\n", max_size=40), st.lists(st.integers(1, 5), min_size=1, max_size=20))
def test_stop_filter_output_is_the_text_before_the_first_stop_however_it_is_split(s, cuts):
    pieces, i = [], 0
    for c in cuts:
        pieces.append(s[i:i + c])
        i += c
    pieces.append(s[i:])
    f = StopFilter(["a.b", "\n\n"])
    out = "".join(f.feed(p) for p in pieces) + f.flush()
    ends = [j for j in (s.find("a.b"), s.find("\n\n")) if j >= 0]
    assert out == (s[:min(ends)] if ends else s)


def test_the_same_seed_samples_the_same_tokens_on_micropython(micropython):
    rnd = random.Random(0)
    rows = [[rnd.gauss(0, 2) for _ in range(256)] for _ in range(30)]
    settings_ = [(0.8, 40, 0.95, 1.1), (1.0, 0, 1.0, 1.0), (0.5, 5, 0.9, 1.3), (0.0, 0, 1.0, 1.0)]
    host = []
    for t, k, p, r in settings_:
        s = Sampler(t, k, p, r, seed=42)
        host.append([s.pick(list(row), 256, recent=[1, 2, 3, 200]) for row in rows])
    code = (
        "from hyperion.text import Sampler, Rng\n"
        "rows = %r\n"
        "for t, k, p, r in %r:\n"
        "    s = Sampler(t, k, p, r, seed=42)\n"
        "    print(' '.join(str(s.pick(list(row), 256, [1, 2, 3, 200])) for row in rows))\n"
        "g = Rng(7)\n"
        "print(' '.join('%%.8f' %% g.random() for _ in range(5)))\n"
    ) % (rows, settings_)
    r = micropython(code)
    assert r.ok, r
    lines = r.stdout.strip().splitlines()
    assert [[int(v) for v in line.split()] for line in lines[:4]] == host
    g = Rng(7)
    assert [float(v) for v in lines[4].split()] == pytest.approx([g.random() for _ in range(5)], abs=1e-8)
    assert len(set(host[1])) > 10  # really sampled, not greedy


def test_text_tools_run_on_micropython(micropython):
    code = (
        "from hyperion.text import Utf8Decoder, StopFilter, encode\n"
        "d = Utf8Decoder()\n"
        "print(''.join(d.feed(b) for b in encode('naïve ☃ ok') + bytes([0xff, 0x41])) + d.flush())\n"
        "f = StopFilter(['. '])\n"
        "print(''.join(f.feed(p) for p in ['One', '.', ' Two', '. ']))\n"
    )
    r = micropython(code)
    assert r.ok, r
    assert r.stdout.splitlines() == ["naïve ☃ ok\ufffdA", "One"]
