"""The models' memory format, contiguous NCHW against channels_last, side by side
on the same weights and inputs, 1 torch thread, CPU (or --device cuda).

qrobust runs models in channels_last where they only infer (models._base.inference_layout: evaluation,
attacks) and contiguous where they train; this script is what decided it, per path: a training step
(batch 64, SGD), an input gradient as every gradient attack takes (batch 500, eval mode) and a forward
without gradient (batch 500: evaluation, Square's queries, noise). Models: the default
small CNN (width 16) float, with 2-bit and with 4-bit activations, and the VGG-16 substitute (width
1/8). Each round runs both layouts in alternating order; median over rounds; ratio =
channels_last / contiguous from the medians (below 1: channels_last faster). It also reports how far
the two layouts' logits are apart (float rounding: different summation orders), how many of 1,000
predictions differ, and whether channels_last repeats itself bit for bit; and how far batch norm's
training-mode output (batch statistics) lies from a float64 reference in each layout.
Writes the section "Memory format: contiguous vs channels_last".

Usage: python bench/memory_format.py [--rounds 5] [--device cpu] [--no-write]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

from qrobust.models import create_model  # noqa: E402
from qrobust.quant import QuantConfig, quantize_  # noqa: E402
from qrobust.runtime.hardware import hardware_name  # noqa: E402

HEADING = "## Memory format: contiguous vs channels_last"
MODELS = {  # label: (name, kwargs, activation bits)
    "small_cnn float": ("small_cnn", {"act": "relu6", "width": 16, "hidden": 128}, None),
    "small_cnn 2-bit": ("small_cnn", {"act": "relu6", "width": 16, "hidden": 128}, 2),
    "small_cnn 4-bit": ("small_cnn", {"act": "relu6", "width": 16, "hidden": 128}, 4),
    "vgg16 (1/8) float": ("vgg16", {"act": "relu", "width_mult": 0.125}, None),
}


def _pair(label: str, device) -> dict:
    """The same model (same seed, calibrated the same way) in both layouts."""
    name, kw, bits = MODELS[label]
    out = {}
    for fmt in ("contiguous", "channels_last"):
        torch.manual_seed(0)
        m = create_model(name, num_classes=10, in_channels=1, **kw)
        if bits:
            quantize_(m, QuantConfig(act_bits=bits))
        layout = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
        out[fmt] = m.to(device, memory_format=layout)
    for m in out.values():  # batch-norm statistics from the same batch
        m.train()
        with torch.no_grad():
            m(torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(1)).to(device))
    return out


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fns: dict, rounds: int, device) -> dict:
    times = {k: [] for k in fns}
    for r in range(rounds + 1):  # round 0 warms up
        for k in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            _sync(device)
            t = time.perf_counter()
            fns[k]()
            _sync(device)
            if r:
                times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def _passes(models: dict, device, steps: int) -> dict:
    """path -> {layout: a callable running that path `steps` times}."""
    g = torch.Generator().manual_seed(0)
    xt, yt = torch.rand(64, 1, 28, 28, generator=g).to(device), torch.randint(0, 10, (64,), generator=g).to(device)
    xe, ye = torch.rand(500, 1, 28, 28, generator=g).to(device), torch.randint(0, 10, (500,), generator=g).to(device)
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in models.items()}

    def train(k):
        m, opt = models[k], opts[k]

        def run():
            m.train()
            for _ in range(steps):
                loss = F.cross_entropy(m(xt), yt)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return run

    def grad(k):
        m = models[k]

        def run():
            m.eval()
            for _ in range(max(1, steps // 4)):
                x = xe.clone().requires_grad_(True)
                torch.autograd.grad(F.cross_entropy(m(x), ye), x)
        return run

    def fwd(k):
        m = models[k]

        def run():
            m.eval()
            with torch.no_grad():
                for _ in range(max(1, steps // 4)):
                    m(xe)
        return run

    return {f"training step, batch 64 (x{steps})": {k: train(k) for k in models},
            f"input gradient, batch 500 (x{max(1, steps // 4)})": {k: grad(k) for k in models},
            f"forward, no gradient, batch 500 (x{max(1, steps // 4)})": {k: fwd(k) for k in models}}


def _agreement(models: dict, device, n: int) -> tuple[float, int, bool]:
    """max |logit difference| between layouts, predictions that differ of n, channels_last repeatable."""
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(2)).to(device)
    with torch.no_grad():
        c = models["contiguous"].eval()(x)
        cl = models["channels_last"].eval()(x)
        again = models["channels_last"](x)
    return float((c - cl).abs().max()), int((c.argmax(1) != cl.argmax(1)).sum()), torch.equal(cl, again)


def _bn_error(shift: float) -> dict:
    """max |error| of BatchNorm2d's training-mode output against float64, per layout (64x16x28x28, N(shift, 1))."""
    x = torch.randn(64, 16, 28, 28, generator=torch.Generator().manual_seed(3)) + shift
    ref = x.double()
    ref = (ref - ref.mean((0, 2, 3), keepdim=True)) / (ref.var((0, 2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    out = {}
    for fmt, layout in (("contiguous", torch.contiguous_format), ("channels_last", torch.channels_last)):
        with torch.no_grad():
            y = torch.nn.BatchNorm2d(16).train()(x.contiguous(memory_format=layout))
        out[fmt] = float((y.double() - ref).abs().max())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="training steps per timed call (a quarter of it for batch 500)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    device = torch.device(a.device)
    torch.set_num_threads(1)
    rows, agree = [], []
    for label in a.models:
        models = _pair(label, device)
        agree.append((label, *_agreement(models, device, 1000)))
        for path, fns in _passes(models, device, a.steps).items():
            t = _time(fns, a.rounds, device)
            rows.append((label, path, t["contiguous"], t["channels_last"]))
    report = "\n".join([
        HEADING, "",
        f"`python bench/memory_format.py --rounds {a.rounds} --steps {a.steps}`; {hardware_name(device)}, "
        f"torch {torch.__version__}, Python {platform.python_version()}, 1 thread; seconds per timed call, median "
        "over rounds (alternating order); ratio = channels_last / contiguous (below 1: channels_last faster).", "",
        "| model | path | contiguous s | channels_last s | ratio |", "|---|---|---:|---:|---:|",
        *[f"| {m} | {p} | {c:.3f} | {cl:.3f} | {cl / c:.2f} |" for m, p, c, cl in rows], "",
        "The same weights in both layouts, 1,000 random images, eval mode:", "",
        "| model | max abs logit difference | predictions that differ | channels_last bit-identical run to run |",
        "|---|---:|---:|---|",
        *[f"| {m} | {d:.2e} | {n} | {'yes' if s else 'NO'} |" for m, d, n, s in agree], "",
        "Batch norm in training mode (batch statistics), 64x16x28x28 of N(shift, 1), max |error| of its output "
        "against float64:", "",
        "| shift | contiguous | channels_last | channels_last / contiguous |", "|---:|---:|---:|---:|",
        *[f"| {sh:g} | {e['contiguous']:.2e} | {e['channels_last']:.2e} | {e['channels_last'] / e['contiguous']:.0f}x |"
          for sh, e in ((sh, _bn_error(sh)) for sh in (0.0, 3.0, 10.0))],
    ])
    print(report)
    if not a.no_write:
        write_section(HEADING, report)


if __name__ == "__main__":
    main()
