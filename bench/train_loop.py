"""One training epoch of the default model, qrobust's loop
(training/loop.py: lr schedule, finiteness checks, DQ regularizer hook, per-epoch history) beside
a minimal plain-PyTorch loop doing the same work (same model, data order, batch size, SGD), side
by side in alternating rounds, 1 torch thread, CPU. Float and 4-bit-activation models.
Writes the section "Training loop vs a plain PyTorch loop".

Usage: python bench/train_loop.py [--rounds 3] [--images 4000] [--no-write]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

HEADING = "## Training loop vs a plain PyTorch loop"


def _model(bits):
    from qrobust.models import create_model
    from qrobust.quant import QuantConfig, quantize_

    torch.manual_seed(0)
    m = create_model("small_cnn", num_classes=10, in_channels=1, act="relu6", width=16, hidden=128,
                     mean=[0.13], std=[0.31])
    if bits:
        quantize_(m, QuantConfig(act_bits=bits))
    return m


def plain_epoch(model, x, y, batch: int, g) -> None:
    """The minimal loop: shuffle, slice, forward, cross-entropy, backward, SGD step."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    order = torch.randperm(len(y), generator=g)
    for i in range(0, len(y), batch):
        idx = order[i:i + batch]
        loss = F.cross_entropy(model(x[idx].float().div_(255.0)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def qrobust_epoch(model, x, y, batch: int, g) -> None:
    from qrobust.training.loop import TrainConfig, train

    train(model, x, y, TrainConfig(epochs=1, batch_size=batch, lr=0.05, allow_chance=True), g,
          torch.device("cpu"), progress=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (a.images, 1, 28, 28), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (a.images,), generator=g)
    lines = [HEADING, "", f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 thread; "
             f"`python bench/train_loop.py --rounds {a.rounds} --images {a.images}`: one epoch, batch {a.batch}, "
             "median of alternating rounds.", "",
             "| model | plain loop (s) | qrobust loop (s) | ratio |", "|---|---:|---:|---:|"]
    for bits in (None, 4):
        times = {"plain": [], "qrobust": []}
        for r in range(a.rounds):
            order = [("plain", plain_epoch), ("qrobust", qrobust_epoch)]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                m = _model(bits)
                t = time.perf_counter()
                fn(m, x, y, a.batch, torch.Generator().manual_seed(r))
                times[name].append(time.perf_counter() - t)
        p, q = statistics.median(times["plain"]), statistics.median(times["qrobust"])
        lines.append(f"| small_cnn, {'float' if bits is None else f'{bits}-bit activations'} | {p:.2f} | {q:.2f} | {q / p:.2f}x |")
    report = "\n".join(lines) + "\n"
    print(report)
    if not a.no_write:
        write_section(HEADING, report)


if __name__ == "__main__":
    main()
