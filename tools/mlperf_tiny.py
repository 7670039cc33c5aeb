"""The four MLPerf Tiny reference architectures, built in PyTorch with the published layer shapes (the
mlcommons/tiny training scripts), exported with torch.onnx.export for `hyperion-host quantize`.

    kws   DS-CNN (small): 49x10 MFCC in, conv 10x4/2 to 64, four depthwise-separable 64-channel blocks,
          average pool, 12 classes                                      2.66 M MACs
    vww   MobileNetV1 0.25 at 96x96x3, 2 classes                        7.49 M MACs
    ic    ResNet-8 for CIFAR-10 (32x32x3): three stacks of 16/32/64, 10 classes   12.5 M MACs
    ad    the ToyADMOS autoencoder: 640 -> 4x128 -> 8 -> 4x128 -> 640     0.26 M MACs

None of their datasets (Speech Commands, Visual Wake Words, CIFAR-10, ToyADMOS) can be had on this machine, so
the weights are seeded: random but with the scale trained weights have (Kaiming init) and BatchNorm statistics
drawn to be non-trivial, so quantization error shows as it would. Instruction counts and memory depend on the
shapes only; the int4-vs-float agreement is measured on these weights with Gaussian inputs (stated where shown).

    python tools/mlperf_tiny.py OUT_DIR    writes OUT_DIR/<name>.onnx and OUT_DIR/<name>-calib.npz for all four
"""

import sys
from pathlib import Path

import numpy as np

NAMES = ("kws", "vww", "ic", "ad")
INPUTS = {"kws": (1, 1, 49, 10), "vww": (1, 3, 96, 96), "ic": (1, 3, 32, 32), "ad": (1, 640)}
PUBLISHED_MACS = {"kws": 2.66e6, "vww": 7.49e6, "ic": 12.5e6, "ad": 0.26e6}
# MLPerf Tiny v1.0 closed division, reference submission on a Cortex-M0+ (STM32G0B1, 64 MHz): latency in ms
PUBLISHED_M0_MS = {"kws": 474.6, "vww": 1414.0, "ic": 1522.0, "ad": 40.9}
M0_CLOCK_HZ = 64e6


def _nn():
    import torch
    from torch import nn

    return torch, nn


def _conv_bn(nn, cin, cout, k, stride=1, groups=1, pad=None, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2 if pad is None else pad, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU()) if act else nn.Sequential(*layers)


def ds_cnn():
    torch, nn = _nn()

    class DSCNN(nn.Module):
        def __init__(self):
            super().__init__()
            blocks = [nn.Conv2d(1, 64, (10, 4), (2, 2), (5, 1), bias=False), nn.BatchNorm2d(64), nn.ReLU()]
            for _ in range(4):
                blocks += [_conv_bn(nn, 64, 64, 3, groups=64), _conv_bn(nn, 64, 64, 1)]
            self.features = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, 12)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.features(x)), 1))

    return DSCNN()


def mobilenet_v1_025():
    torch, nn = _nn()
    # (out channels, stride) of the 13 depthwise-separable blocks, at width 0.25
    plan = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5 + [(256, 2), (256, 1)]

    class MobileNet(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [_conv_bn(nn, 3, 8, 3, 2)]
            c = 8
            for out, s in plan:
                layers += [_conv_bn(nn, c, c, 3, s, groups=c), _conv_bn(nn, c, out, 1)]
                c = out
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(c, 2)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.features(x)), 1))

    return MobileNet()


def resnet8():
    torch, nn = _nn()

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.a = _conv_bn(nn, cin, cout, 3, stride)
            self.b = _conv_bn(nn, cout, cout, 3, act=False)
            self.short = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride)
            self.relu = nn.ReLU()

        def forward(self, x):
            s = x if self.short is None else self.short(x)
            return self.relu(self.b(self.a(x)) + s)

    class ResNet8(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = _conv_bn(nn, 3, 16, 3)
            self.stacks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.stacks(self.stem(x))), 1))

    return ResNet8()


def autoencoder():
    torch, nn = _nn()

    def dense(i, o):
        return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU()]

    layers = dense(640, 128) + dense(128, 128) + dense(128, 128) + dense(128, 128) + dense(128, 8)
    layers += dense(8, 128) + dense(128, 128) + dense(128, 128) + dense(128, 128) + [nn.Linear(128, 640)]
    return nn.Sequential(*layers)


BUILDERS = {"kws": ds_cnn, "vww": mobilenet_v1_025, "ic": resnet8, "ad": autoencoder}


def build(name, seed=0):
    """The network with seeded weights and BatchNorm statistics, in eval mode."""
    torch, nn = _nn()
    torch.manual_seed(seed)
    net = BUILDERS[name]()
    g = torch.Generator().manual_seed(seed + 1)
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=g)
            m.bias.data = 0.2 * torch.randn(n, generator=g)
            m.running_mean.data = 0.1 * torch.randn(n, generator=g)
            m.running_var.data = 0.5 + torch.rand(n, generator=g)
    return net.eval()


def inputs(name, n, seed=0):
    return np.random.default_rng(seed).standard_normal((n,) + INPUTS[name][1:]).astype(np.float32)


def export(name, out_dir, calib=32):
    """Write <name>.onnx (batch 1) and <name>-calib.npz (calib Gaussian inputs); returns the ONNX path."""
    torch, _ = _nn()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    net = build(name)
    path = out_dir / (name + ".onnx")
    with torch.no_grad():
        torch.onnx.export(net, (torch.from_numpy(inputs(name, 1)),), str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"])
    np.savez(out_dir / (name + "-calib.npz"), x=inputs(name, calib, seed=1)[:, None])
    return path


def float_outputs(name, x):
    torch, _ = _nn()
    with torch.no_grad():
        return build(name)(torch.from_numpy(x)).numpy()


if __name__ == "__main__":
    for nm in NAMES:
        print(export(nm, sys.argv[1] if len(sys.argv) > 1 else "tiny"))
