"""Train the `tinylm` example: a byte-level decoder-only transformer (about 280K parameters) on generated stories.

    .venv/bin/pip install torch==2.13.0     # training only; CI uses the committed files
    .venv/bin/python tools/train_tinylm.py

The corpus comes from tools/tinylm_corpus.py (a seeded grammar; no outside text): 1.5 MB to train on, a held-out
30 KB generated with another seed to test on. Bytes are the tokens (vocabulary 256). The network is the graph
tools/onnx_examples.decoder() writes: 2 pre-norm blocks, width 96, 4 heads, GELU MLP of 384, context 64.
Writes models/tinylm/: tinylm.onnx (checked against the torch model with onnxruntime), test.npz (held-out
windows: `tokens` and the next-byte `targets`), calib.npz, test.txt (the held-out text) and meta.json."""

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from tinylm_corpus import corpus  # noqa: E402

import onnx_examples  # noqa: E402

OUT = ROOT / "models" / "tinylm"
SEED = 0
VOCAB, DIM, HEADS, LAYERS, FFN, CTX = 256, 96, 4, 2, 384, 64
STEPS, BATCH, LR = 6000, 64, 3e-3


def build():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
            self.q, self.k, self.v, self.o = (nn.Linear(DIM, DIM) for _ in range(4))
            self.up, self.down = nn.Linear(DIM, FFN), nn.Linear(FFN, DIM)

        def forward(self, x):
            B, T, _ = x.shape
            h = self.ln1(x)
            q, k, v = (m(h).view(B, T, HEADS, DIM // HEADS).transpose(1, 2) for m in (self.q, self.k, self.v))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.o(a.transpose(1, 2).reshape(B, T, DIM))
            return x + self.down(F.gelu(self.up(self.ln2(x))))

    class TinyLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(VOCAB, DIM)
            self.pos = nn.Parameter(torch.randn(CTX, DIM) * 0.02)
            self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
            self.lnf = nn.LayerNorm(DIM)
            self.head = nn.Linear(DIM, VOCAB, bias=False)

        def forward(self, t):
            x = self.tok(t) + self.pos[: t.shape[1]]
            for b in self.blocks:
                x = b(x)
            return self.head(self.lnf(x))

    return TinyLM()


def weights(net):
    """The torch parameters under the names onnx_examples.decoder() uses (MatMul weights as [in, out])."""
    n = lambda t: t.detach().numpy().astype(np.float32)  # noqa: E731
    p = {"tok_emb": n(net.tok.weight), "pos_emb": n(net.pos), "lnf_g": n(net.lnf.weight), "lnf_b": n(net.lnf.bias),
         "W_head": n(net.head.weight).T}
    for i, b in enumerate(net.blocks):
        s = "h%d." % i
        p.update({s + "ln1_g": n(b.ln1.weight), s + "ln1_b": n(b.ln1.bias), s + "ln2_g": n(b.ln2.weight),
                  s + "ln2_b": n(b.ln2.bias)})
        for name, m in (("q", b.q), ("k", b.k), ("v", b.v), ("o", b.o)):
            p[s + "W" + name], p[s + "b" + name] = n(m.weight).T, n(m.bias)
        p[s + "W_up"], p[s + "b_up"] = n(b.up.weight).T, n(b.up.bias)
        p[s + "W_down"], p[s + "b_down"] = n(b.down.weight).T, n(b.down.bias)
    return p


def windows(data, n, rng):
    """n random (CTX + 1)-byte windows of data."""
    starts = rng.integers(0, len(data) - CTX - 1, n)
    return np.stack([data[s: s + CTX + 1] for s in starts])


def main():
    import torch
    import torch.nn.functional as F

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    rng = np.random.default_rng(SEED)
    train = np.frombuffer(corpus(1_500_000, seed=1).encode(), np.uint8)
    test_text = corpus(30_000, seed=2)
    test = np.frombuffer(test_text.encode(), np.uint8)
    net = build()
    print("parameters: %d" % sum(p.numel() for p in net.parameters()))
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=0.01, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, STEPS) / STEPS)))
    t0 = time.time()
    for step in range(STEPS):
        w = torch.from_numpy(windows(train, BATCH, rng).astype(np.int64))
        loss = F.cross_entropy(net(w[:, :-1]).reshape(-1, VOCAB), w[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == STEPS - 1:
            print("step %d loss %.3f (%.0f s)" % (step, loss.item(), time.time() - t0), flush=True)
    net.eval()
    # held-out windows, non-overlapping, and their next bytes
    n = (len(test) - 1) // CTX
    tok = np.stack([test[i * CTX: i * CTX + CTX] for i in range(n)]).astype(np.int64)
    nxt = np.stack([test[i * CTX + 1: i * CTX + CTX + 1] for i in range(n)]).astype(np.int64)
    with torch.no_grad():
        logits = net(torch.from_numpy(tok))
        nll = F.cross_entropy(logits.reshape(-1, VOCAB), torch.from_numpy(nxt).reshape(-1)).item()
    print("held-out perplexity (torch fp32): %.4f" % math.exp(nll))
    OUT.mkdir(parents=True, exist_ok=True)
    onnx_path = onnx_examples.decoder(OUT / "tinylm.onnx", weights(net), HEADS)
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"tokens": tok[:1]})[0]
    diff = float(np.abs(got - logits[:1].numpy()).max())
    print("onnxruntime vs torch: max |diff| %.2e" % diff)
    assert diff < 1e-3, diff
    np.savez_compressed(OUT / "test.npz", tokens=tok[:, None, :], targets=nxt)
    np.savez_compressed(OUT / "calib.npz", tokens=windows(train, 64, rng)[:, None, :CTX].astype(np.int64))
    (OUT / "test.txt").write_text(test_text)
    meta = {"name": "tinylm", "text": {"tokenizer": "bytes", "decoder": {"layers": LAYERS, "heads": HEADS}},
            "task": "text-generation"}
    (OUT / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print("wrote %s" % OUT)


if __name__ == "__main__":
    main()
