"""PyTorch CPU reference for `bench/speed.ts`: the same MobileNetV2-0.35 at 224 (torchvision's
definition has the same channel counts and FLOPs as Keras'), the same seed head (GLU 64, main and
aux softmax, center loss) and the same steps, timed the same way. Prints one JSON object per
measurement. A benchmark-only dependency: PyTorch (Debian's python3-torch or a wheel) and, for the
decode row, PIL. torchvision's MobileNetV2 is used when it imports; otherwise `mobilenet_v2` below,
the same layers in the same order (a CPU torch wheel beside a CUDA torchvision wheel cannot load
torchvision's operators).

With --fold, whatever runs frozen (the whole network for inference and stage 1, the trunk in
stage 2) is first compiled the way PyTorch users do it for inference, BatchNorm folded into the
convolutions by `torch.fx.experimental.optimization.fuse`: the like-for-like reference for the
project's folded frozen parts.

  python3 bench/torch_reference.py --what infer,stage1,stage2 --threads 2 --batch 32 --steps 6
  python3 bench/torch_reference.py --what decode --photos LIST_FILE --size 224
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SeedHead(nn.Module):
    def __init__(self, features, classes, units=64):
        super().__init__()
        self.linear = nn.Linear(features, units)
        self.gate = nn.Linear(features, units)
        self.main = nn.Linear(units, classes)
        self.aux = nn.Linear(features, classes)
        self.centers = nn.Parameter(torch.zeros(classes, units))

    def loss(self, pooled, labels):
        glu = self.linear(pooled) * torch.sigmoid(self.gate(pooled))
        main = F.cross_entropy(self.main(glu), labels)
        aux = F.cross_entropy(self.aux(pooled), labels)
        center = ((glu - self.centers[labels]) ** 2).sum(1).mean()
        return main + 0.25 * center + 0.25 * aux


def make_divisible(v, divisor=8):
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def conv_bn(inp, out, kernel=1, stride=1, groups=1, relu=True):
    layers = [nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(out)]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if relu else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, inp, out, stride, expansion):
        super().__init__()
        hidden = int(round(inp * expansion))
        expand = [conv_bn(inp, hidden)] if expansion != 1 else []
        self.conv = nn.Sequential(*expand, conv_bn(hidden, hidden, 3, stride, groups=hidden),
                                  conv_bn(hidden, out, relu=False))
        self.residual = stride == 1 and inp == out

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


def mobilenet_v2(width_mult):
    """torchvision's `mobilenet_v2(width_mult=...).features`, layer for layer."""
    channels = make_divisible(32 * width_mult)
    layers = [conv_bn(3, channels, 3, 2)]
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1)]:
        out = make_divisible(c * width_mult)
        for i in range(n):
            layers.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
            channels = out
    layers.append(conv_bn(channels, make_divisible(1280 * max(1.0, width_mult))))
    for m in nn.Sequential(*layers).modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
    return nn.Sequential(*layers)


def build(classes, channels_last):
    try:
        import torchvision

        net = torchvision.models.mobilenet_v2(width_mult=0.35).features
    except Exception:  # noqa: BLE001 - any failure to load torchvision means: build it here
        net = mobilenet_v2(0.35)
    # features[0] is the stem, [1..17] are Keras' blocks 0..16, [18] is Conv_1: block_15 onwards
    # is features[16:], the part the seed unfreezes.
    trunk, top = net[:16], net[16:]
    head = SeedHead(1280, classes)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    trunk = trunk.to(memory_format=fmt).eval()
    top = top.to(memory_format=fmt).eval()  # frozen BatchNorm statistics, as in the project
    return trunk, top, head, fmt


def timed(fn, steps, repeats, batch):
    fn()  # warm-up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        rates.append(steps * batch / (time.perf_counter() - start))
    return statistics.median(rates), rates


def fused(module):
    from torch.fx.experimental.optimization import fuse

    return fuse(module.eval())


def network(args):
    torch.manual_seed(0)
    trunk, top, head, fmt = build(10, args.channels_last)
    frozen_trunk = fused(trunk) if args.fold else trunk
    frozen_net = fused(nn.Sequential(trunk, top)) if args.fold else nn.Sequential(trunk, top)
    x = torch.rand(args.batch, 3, args.size, args.size).mul(2).sub(1).to(memory_format=fmt)
    labels = torch.randint(0, 10, (args.batch,))
    pool = lambda t: t.mean((2, 3))

    def infer():
        with torch.no_grad():
            pool(frozen_net(x)).sum().item()

    def trunk_forward():  # what trunk caching runs
        with torch.no_grad():
            frozen_trunk(x).sum().item()

    adam = torch.optim.Adam(head.parameters(), lr=1e-3)

    def stage1():
        with torch.no_grad():
            pooled = pool(frozen_net(x))
        adam.zero_grad()
        head.loss(pooled, labels).backward()
        adam.step()

    sgd = torch.optim.SGD(list(top.parameters()) + list(head.parameters()), lr=1e-4, momentum=0.9)

    def stage2():
        with torch.no_grad():
            activation = frozen_trunk(x)
        sgd.zero_grad()
        head.loss(pool(top(activation)), labels).backward()
        sgd.step()

    def stage2_top():  # the step on cached trunk activations
        sgd.zero_grad()
        head.loss(pool(top(cached)), labels).backward()
        sgd.step()

    with torch.no_grad():
        cached = trunk(x)
    layout = "channels_last" if args.channels_last else "NCHW"
    for what, fn in [("infer", infer), ("trunk", trunk_forward), ("stage1", stage1),
                     ("stage2", stage2), ("stage2_top", stage2_top)]:
        if what not in args.what or (args.fold and what == "stage2_top"):
            continue  # nothing is frozen in the top-only step: folding does not apply
        median, rates = timed(fn, args.steps, args.repeats, args.batch)
        print(json.dumps({"what": what, "layout": layout, "folded": args.fold,
                          "threads": torch.get_num_threads(), "images_per_s": median,
                          "rates": rates}), flush=True)


def decode_one(path, size):
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.NEAREST)
        return len(im.tobytes())


def decode_chunk(job):
    paths, size = job
    return sum(decode_one(p, size) for p in paths)


def decode(args):
    with open(args.photos) as f:
        paths = [line.strip() for line in f if line.strip()]
    for processes in (1, args.threads):
        rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            if processes == 1:
                decode_chunk((paths, args.size))
            else:
                from multiprocessing import Pool

                chunks = [(paths[i::processes], args.size) for i in range(processes)]
                with Pool(processes) as p:
                    p.map(decode_chunk, chunks)
            rates.append(len(paths) / (time.perf_counter() - start))
        print(json.dumps({"what": "decode", "processes": processes,
                          "images_per_s": statistics.median(rates), "rates": rates}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--what", default="infer,trunk,stage1,stage2,stage2_top")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--fold", action="store_true")
    parser.add_argument("--photos")
    args = parser.parse_args()
    args.what = args.what.split(",")
    torch.set_num_threads(args.threads)
    if "decode" in args.what:
        decode(args)
    else:
        network(args)


if __name__ == "__main__":
    main()
