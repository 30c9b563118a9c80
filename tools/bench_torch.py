#!/usr/bin/env python3
"""The paper's ResNet50V2 + FPN (docs/method.md section 3) in PyTorch on the CPU, NCHW, timed the
way `ctvk bench` times it: the inference forward under torch.no_grad, or with --train one training
step (forward in train mode, categorical cross-entropy, backward, NAdam(lr=1e-4, momentum_decay=
0.004, eps=1e-7)); min and median wall time over --reps after one warm-up.

Usage: bench_torch.py [--train] [--batch N] [--reps R] [--size S] [--threads T]
Prints one line `torch: min X ms, median Y ms ...` that tools/bench-vs-pytorch.sh reads.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1.001e-5
MOMENTUM = 0.01          # Keras momentum 0.99 is PyTorch momentum 0.01


def bn(c):
    return nn.BatchNorm2d(c, eps=EPS, momentum=MOMENTUM)


class Block(nn.Module):
    """Keras resnet_v2 block2: pre-activation bottleneck, stride in the 3x3 conv."""

    def __init__(self, cin, f, stride, conv_shortcut):
        super().__init__()
        self.preact_bn = bn(cin)
        self.shortcut = nn.Conv2d(cin, 4 * f, 1, stride=stride) if conv_shortcut else None
        self.stride = stride
        self.conv1 = nn.Conv2d(cin, f, 1, bias=False)
        self.bn1 = bn(f)
        self.conv2 = nn.Conv2d(f, f, 3, stride=stride, bias=False)
        self.bn2 = bn(f)
        self.conv3 = nn.Conv2d(f, 4 * f, 1)

    def forward(self, x):
        pre = F.relu(self.preact_bn(x))
        if self.shortcut is not None:
            sc = self.shortcut(pre)
        elif self.stride > 1:
            sc = F.max_pool2d(x, 1, self.stride)
        else:
            sc = x
        y = F.relu(self.bn1(self.conv1(pre)))
        y = F.relu(self.bn2(self.conv2(F.pad(y, (1, 1, 1, 1)))))
        return sc + self.conv3(y), pre


def tf_same_pad(x, k, s):
    """TensorFlow 'same' padding (the extra row/column at the bottom/right)."""
    h, w = x.shape[2], x.shape[3]
    ph = max((-(-h // s) - 1) * s + k - h, 0)
    pw = max((-(-w // s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def nearest(x, size):
    """Nearest resize, src = floor(dst * in / out) (PyTorch's 'nearest' is the same rule)."""
    return F.interpolate(x, size=size, mode="nearest")


class ResNet50V2FPN(nn.Module):
    def __init__(self, channels=1, classes=2):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 64, 7, stride=2)
        stacks, cin = [], 64
        for f, n, stride in ((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1)):
            blocks = []
            for i in range(n):
                s = stride if i == n - 1 else 1
                blocks.append(Block(cin, f, s, conv_shortcut=i == 0))
                cin = 4 * f
            stacks.append(nn.ModuleList(blocks))
        self.stacks = nn.ModuleList(stacks)
        self.post_bn = bn(2048)
        self.c5_reduced = nn.Conv2d(2048, 256, 1)
        self.p5 = nn.Conv2d(256, 256, 3)
        self.c4_reduced = nn.Conv2d(1024, 256, 1)
        self.p4 = nn.Conv2d(512, 256, 3)
        self.c3_reduced = nn.Conv2d(512, 256, 1)
        self.p3 = nn.Conv2d(768, 256, 3)
        self.p6 = nn.Conv2d(2048, 256, 3, stride=2)
        self.p7 = nn.Conv2d(256, 256, 3, stride=2)
        self.heads = None
        self.classes = classes
        self.out = nn.Linear(5 * classes, classes)

    def features(self, x):
        x = self.conv1(F.pad(x, (3, 3, 3, 3)))
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)
        c3 = c4 = None
        for si, stack in enumerate(self.stacks):
            for bi, block in enumerate(stack):
                x, pre = block(x)
                if si == 2 and bi == 0:
                    c3 = pre          # conv4_block1_preact_relu
                if si == 3 and bi == 0:
                    c4 = pre          # conv5_block1_preact_relu
        c5 = F.relu(self.post_bn(x))
        p5 = self.c5_reduced(c5)
        p5_up = nearest(p5, c4.shape[2:])
        p5 = self.p5(tf_same_pad(p5, 3, 1))
        p4 = torch.cat([p5_up, self.c4_reduced(c4)], 1)
        p4_up = nearest(p4, c3.shape[2:])
        p4 = self.p4(p4)
        p3 = self.p3(torch.cat([p4_up, self.c3_reduced(c3)], 1))
        p6 = self.p6(tf_same_pad(c5, 3, 2))
        p7 = self.p7(tf_same_pad(F.relu(p6), 3, 2))
        return [p3, p4, p5, p6, p7]

    def build_heads(self, x):
        """Dense(2, ReLU) per level: their input sizes depend on the input size."""
        with torch.no_grad():
            levels = self.features(x[:1])
        self.heads = nn.ModuleList(nn.Linear(p[0].numel(), self.classes) for p in levels)
        for h in list(self.heads) + [self.out]:
            nn.init.normal_(h.weight, 0.0, 0.001)
            nn.init.zeros_(h.bias)

    def forward(self, x):
        levels = self.features(x)
        outs = []
        for p, head in zip(levels, self.heads):
            flat = p.permute(0, 2, 3, 1).flatten(1)      # Keras Flatten order: H, W, C
            outs.append(F.relu(head(F.dropout(flat, 0.5, self.training))))
        return self.out(torch.cat(outs, 1))               # logits; softmax is in the loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    batch = a.batch or (14 if a.train else 1)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = ResNet50V2FPN()
    x = torch.rand(batch, 1, a.size, a.size)
    model.build_heads(x)
    nparams = sum(p.numel() for p in model.parameters())
    nbuffers = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ResNet50V2+FPN {a.size}x{a.size}x1, "
          f"{nparams + nbuffers} parameters (Keras count, incl. BN moving statistics); "
          f"{'training step' if a.train else 'inference forward'}, batch {batch}")
    labels = torch.arange(batch) % 2
    if a.train:
        model.train()
        opt = torch.optim.NAdam(model.parameters(), lr=1e-4, momentum_decay=0.004, eps=1e-7)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                torch.softmax(model(x), 1)
    times = []
    for r in range(a.reps + 1):
        t0 = time.perf_counter()
        step()
        t = (time.perf_counter() - t0) * 1e3
        if r == 0:
            print(f"warm-up: {t:.1f} ms")
        else:
            times.append(t)
    print(f"torch: min {min(times):.1f} ms, median {statistics.median(times):.1f} ms over {a.reps} repetitions "
          f"({min(times) / batch:.2f} ms per sample)")


if __name__ == "__main__":
    main()
