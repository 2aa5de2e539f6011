"""The accuracy-per-minute reference for `bench/accuracy.ts`: a plain PyTorch fine-tune of the same
ImageNet MobileNetV2-0.35 weights, on the same split, the same cores, under a wall-clock budget.
What a competent PyTorch user would write for a CPU: the trunk frozen with BatchNorm folded, the
last two blocks and a linear head trained with AdamW, a cosine schedule over the budget, label
smoothing, random-resized crops and flips of every labelled photo. A benchmark-only dependency:
Debian's python3-torch, python3-torchvision, python3-pil.

The network is Keras' MobileNetV2, layer for layer (the same "same" paddings, made explicit, and
BatchNorm epsilon 1e-3), with the TF.js weights file the project loads: `--check FILE` prints the
pooled features of the photos in FILE (raw uint8, N x 224 x 224 x 3), to compare with the
project's (bench/accuracy.ts does, before it measures anything).

The clock starts with the process: decoding the photos, training and predicting the test part all
count, as they do in the project's main job. Prints one JSON object.

  python3 bench/torch_finetune.py --split RUN/train/split.tsv --answers RUN/train/test_answers.tsv \
      --weights ../shared/weights/mobilenet_v2_0.35_224 --minutes 5 --threads 2 --seed 0
"""
import argparse
import csv
import json
import math
import multiprocessing
import os
import random
import time

STARTED = time.perf_counter()

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

SIZE = 224
# Blocks 0..16 of MobileNetV2: (expansion, output channels at alpha 1, stride).
BLOCKS = [(1, 16, 1), (6, 24, 2), (6, 24, 1), (6, 32, 2), (6, 32, 1), (6, 32, 1), (6, 64, 2),
          (6, 64, 1), (6, 64, 1), (6, 64, 1), (6, 96, 1), (6, 96, 1), (6, 96, 1), (6, 160, 2),
          (6, 160, 1), (6, 160, 1), (6, 320, 1)]
UNFROZEN_FROM = 15  # the seed unfreezes the last two blocks: block_15 on


def make_divisible(v, divisor=8):
    rounded = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


def read_tfjs(folder):
    """The weights of a TF.js layers model, by name, as numpy arrays."""
    manifest = json.load(open(os.path.join(folder, "model.json")))["weightsManifest"]
    weights = {}
    for group in manifest:
        data = b"".join(open(os.path.join(folder, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            weights[w["name"]] = np.frombuffer(data, np.float32, count, offset).reshape(w["shape"])
            offset += 4 * count
    return weights


class Conv(nn.Module):
    """A Keras convolution (HWIO kernel, no bias) with its BatchNorm and optional ReLU6; a stride-2
    one padded as Keras' `correct_pad` does (one row and column, bottom and right, at even sides)."""

    def __init__(self, w, name, bn, depthwise=False, stride=1, relu=True):
        super().__init__()
        if depthwise:
            kernel = torch.tensor(w[f"{name}/depthwise_kernel"]).permute(2, 3, 0, 1)
        else:
            kernel = torch.tensor(w[f"{name}/kernel"]).permute(3, 2, 0, 1)
        out, _, k, _ = kernel.shape
        self.conv = nn.Conv2d(kernel.shape[1] * (out if depthwise else 1), out, k, stride,
                              groups=out if depthwise else 1, bias=False)
        self.conv.weight.data.copy_(kernel)
        self.bn = nn.BatchNorm2d(out, eps=1e-3)
        for ours, theirs in [("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                             ("running_var", "moving_variance")]:
            getattr(self.bn, ours).data.copy_(torch.tensor(w[f"{bn}/{theirs}"]))
        self.k, self.stride, self.relu = k, stride, relu

    def forward(self, x):
        if self.k > 1:
            x = F.pad(x, (0, 1, 0, 1) if self.stride == 2 else (1, 1, 1, 1))
        x = self.bn(self.conv(x))
        return x.clamp(0, 6) if self.relu else x


class Block(nn.Module):
    def __init__(self, w, i, stride, residual):
        super().__init__()
        p = "expanded_conv_" if i == 0 else f"block_{i}_"
        layers = [] if i == 0 else [Conv(w, f"{p}expand", f"{p}expand_BN")]
        layers += [Conv(w, f"{p}depthwise", f"{p}depthwise_BN", depthwise=True, stride=stride),
                   Conv(w, f"{p}project", f"{p}project_BN", relu=False)]
        self.layers = nn.Sequential(*layers)
        self.residual = residual

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


def mobilenet(w, alpha=0.35):
    """(trunk, top): MobileNetV2 cut where the seed unfreezes, pooling left to the caller."""
    trunk = [Conv(w, "Conv1", "bn_Conv1", stride=2)]
    top = []
    channels = make_divisible(32 * alpha)
    for i, (expansion, filters, stride) in enumerate(BLOCKS):
        out = make_divisible(int(filters * alpha))
        (trunk if i < UNFROZEN_FROM else top).append(
            Block(w, i, stride, residual=channels == out and stride == 1))
        channels = out
    top.append(Conv(w, "Conv_1", "Conv_1_bn"))
    return nn.Sequential(*trunk), nn.Sequential(*top)


def fold(module):
    """BatchNorm folded into each convolution of a frozen part, as PyTorch users compile one."""
    for m in module.modules():
        if isinstance(m, Conv):
            scale = m.bn.weight / torch.sqrt(m.bn.running_var + m.bn.eps)
            conv = nn.Conv2d(m.conv.in_channels, m.conv.out_channels, m.conv.kernel_size,
                             m.conv.stride, groups=m.conv.groups, bias=True)
            conv.weight.data.copy_(m.conv.weight * scale.reshape(-1, 1, 1, 1))
            conv.bias.data.copy_(m.bn.bias - m.bn.running_mean * scale)
            m.conv, m.bn = conv, nn.Identity()
    return module.eval().requires_grad_(False)


def decode(job):
    """A photo as uint8 HWC, shorter side `side` (training) or its center square at SIZE (test)."""
    path, side, square = job
    img = Image.open(path)
    img.draft("RGB", (side, side))
    img = img.convert("RGB")
    w, h = img.size
    if square:
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        img = img.resize((SIZE, SIZE), Image.BILINEAR)
    else:
        r = side / min(w, h)
        img = img.resize((max(side, round(w * r)), max(side, round(h * r))), Image.BILINEAR)
    return np.asarray(img)


def as_input(batch):
    """uint8 NHWC -> float NCHW (channels-last in memory) in [-1, 1] (MobileNetV2's scaling)."""
    x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    return x.contiguous(memory_format=torch.channels_last)


def random_resized_crop(img, rng, scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3)):
    h, w, _ = img.shape
    for _ in range(10):
        area = h * w * rng.uniform(*scale)
        r = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = round(math.sqrt(area * r)), round(math.sqrt(area / r))
        if 0 < cw <= w and 0 < ch <= h:
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            break
    else:
        cw = ch = min(h, w)
        x, y = (w - cw) // 2, (h - ch) // 2
    crop = torch.from_numpy(np.ascontiguousarray(img[y:y + ch, x:x + cw])).permute(2, 0, 1)
    crop = F.interpolate(crop[None].float(), size=(SIZE, SIZE), mode="bilinear",
                         align_corners=False)[0]
    if rng.random() < 0.5:
        crop = crop.flip(2)
    return crop.div(127.5).sub(1)


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", required=True, help="a run's split.tsv (id, path, label, subset)")
    ap.add_argument("--answers", help="its test_answers.tsv (id, label)")
    ap.add_argument("--weights", required=True, help="folder of the TF.js model.json")
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--flip", action="store_true",
                    help="also average each test photo with its mirror image (its time is kept)")
    ap.add_argument("--check", help="print the pooled features of these raw 224x224 RGB photos")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # Tuned as a PyTorch user would on this CPU (measured here: 1.7x the trunk's default speed):
    # denormals flushed, channels-last tensors.
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    w = read_tfjs(args.weights)
    trunk, top = mobilenet(w)

    if args.check:
        raw = np.fromfile(args.check, np.uint8).reshape(-1, SIZE, SIZE, 3)
        x = as_input(list(raw))
        with torch.no_grad():
            pooled = top.eval()(trunk.eval()(x)).mean((2, 3))
        print(json.dumps({"pooled": pooled.tolist()}))
        return

    rows = read_tsv(args.split)
    labelled = [r for r in rows if r["subset"] in ("train", "val")]
    answers = {r["id"]: r["label"] for r in read_tsv(args.answers)} if args.answers else {}
    test = [r for r in rows if r["subset"] == "test" and r["id"] in answers]
    classes = sorted({r["label"] for r in labelled})
    index = {c: i for i, c in enumerate(classes)}
    with multiprocessing.Pool(args.threads) as pool:
        images = pool.map(decode, [(r["path"], 256, False) for r in labelled], chunksize=64)
        test_images = pool.map(decode, [(r["path"], SIZE, True) for r in test], chunksize=64)
    labels = torch.tensor([index[r["label"]] for r in labelled])
    decoded = time.perf_counter() - STARTED

    trunk = fold(trunk).to(memory_format=torch.channels_last)
    top = top.to(memory_format=torch.channels_last)
    top.train()
    for m in top.modules():  # frozen statistics, trainable scale and shift (as the project does)
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    head = nn.Linear(1280, len(classes))
    params = list(top.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    budget = args.minutes * 60
    # Training stops where the test part's prediction (timed on its first batch) still fits.
    predict_per_photo = None
    train_start = time.perf_counter()
    train_seconds = None
    steps = seen = 0
    order = []
    while True:
        now = time.perf_counter()
        left = budget - (now - STARTED)
        if predict_per_photo is None:
            with torch.no_grad():
                t0 = time.perf_counter()
                head(top(trunk(as_input(test_images[:args.batch]))).mean((2, 3)))
                predict_per_photo = (time.perf_counter() - t0) / min(args.batch, len(test_images))
            passes = 2 if args.flip else 1
            train_seconds = budget - (time.perf_counter() - STARTED) - 1.2 * passes * \
                predict_per_photo * len(test_images)
            train_start = time.perf_counter()
            continue
        elapsed = now - train_start
        if elapsed >= train_seconds or left <= 0:
            break
        for g in optimizer.param_groups:  # cosine over the training time, 3% warm-up
            t = elapsed / train_seconds
            g["lr"] = args.lr * (t / 0.03 if t < 0.03 else 0.5 * (1 + math.cos(math.pi * t)))
        if len(order) < args.batch:
            order += rng.sample(range(len(images)), len(images))
        pick, order = order[:args.batch], order[args.batch:]
        x = torch.stack([random_resized_crop(images[i], rng) for i in pick]).contiguous(
            memory_format=torch.channels_last)
        with torch.no_grad():
            features = trunk(x)
        logits = head(top(features).mean((2, 3)))
        loss = F.cross_entropy(logits, labels[pick], label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
        seen += len(pick)

    top.eval()
    correct = correct_flip = 0
    with torch.no_grad():
        for start in range(0, len(test_images), args.batch):
            x = as_input(test_images[start:start + args.batch])
            probs = head(top(trunk(x)).mean((2, 3))).softmax(1)
            truth = torch.tensor([index[answers[r["id"]]]
                                  for r in test[start:start + args.batch]])
            correct += int((probs.argmax(1) == truth).sum())
            if args.flip:  # the project's flip: probabilities of the photo and its mirror, averaged
                mirrored = head(top(trunk(x.flip(3))).mean((2, 3))).softmax(1)
                correct_flip += int(((probs + mirrored).argmax(1) == truth).sum())
    plain = correct / max(len(test), 1)
    print(json.dumps({
        "minutes": args.minutes,
        "seconds": round(time.perf_counter() - STARTED, 1),
        "decodeSeconds": round(decoded, 1),
        "accuracy": correct_flip / max(len(test), 1) if args.flip else plain,
        "plainAccuracy": plain,
        "testPhotos": len(test),
        "trainPhotos": len(labelled),
        "steps": steps,
        "epochs": round(seen / len(labelled), 2),
        "threads": args.threads,
        "seed": args.seed,
    }))


if __name__ == "__main__":
    main()
