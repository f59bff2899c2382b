"""Qrobust's fake quantizer (quant/fake_quant._FakeQuantize: element-wise ops;
without a gradient, _grid_values: the same ops in place, no mask) beside torch's fused kernel
(torch.fake_quantize_per_tensor_affine, through fused._fused), on
the same tensors, 1 torch thread, CPU (and CUDA when there is one). Shapes: an activation of the
default small CNN at training batch 64 (64x16x28x28) and at evaluation batch 500 (500x16x28x28).
Each round times both back to back in alternating order (forward+backward, then forward only under
no_grad); median over rounds, and the median of per-round ratios. Values and gradients are checked
identical. Writes the section "Fake quantizer: element-wise vs torch's fused kernel".

Then, CPU: ReLU6 followed by DQ's 4-bit activation grid (F.relu6, then quantize_range on [0, 6]: what a
quantized QuantAct ran) beside the two in one (quant/fused.hardtanh_quantize: what it runs now), on
channels_last activations (the models' layout), same protocol; under the `ste` gradient path
(training, most attacks) and under `bpda` (the soft staircase's gradient at temperature 0.25: the
worst case's BPDA members; fused: quant/fused.hardtanh_quantize_bpda). Writes the section
"ReLU6 and its grid: separate vs fused".
"""
from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

from qrobust.quant.fake_quant import _FakeQuantize, _grid_values, gradient_path, quantize_range  # noqa: E402
from qrobust.quant.fused import _fused, hardtanh_quantize, hardtanh_quantize_bpda  # noqa: E402
from qrobust.runtime.hardware import hardware_name  # noqa: E402

HEADING = "## Fake quantizer: element-wise vs torch's fused kernel"
ACT_HEADING = "## ReLU6 and its grid: separate vs fused"
SHAPES = [(64, 16, 28, 28), (500, 16, 28, 28)]
ROUNDS, REPS = 7, 10


def _time(fn, x, g, grad: bool, device) -> float:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()
    sync()
    t = time.perf_counter()
    for _ in range(REPS):
        if grad:
            fn(x).backward(g)
        else:
            with torch.no_grad():
                fn(x)
    sync()
    return (time.perf_counter() - t) / REPS * 1e3


def _side_by_side(impls: dict, x, g, grad: bool, device) -> tuple[float, float, float]:
    """(median ms of the first impl, of the second, median per-round ratio second / first), alternating order."""
    times = {k: [] for k in impls}
    for r in range(ROUNDS + 1):  # round 0 warms up
        for k in (list(impls) if r % 2 == 0 else list(impls)[::-1]):
            t = _time(impls[k], x, g, grad, device)
            if r:
                times[k].append(t)
    first, second = times.values()
    return statistics.median(first), statistics.median(second), statistics.median(f / e for e, f in zip(first, second))


def bench(device) -> list[str]:
    rows = []
    scale, zp = torch.tensor(6.0 / 15, device=device), torch.tensor(0.0, device=device)
    # element-wise: what fake_quantize runs on the CPU, _FakeQuantize with a gradient, the in-place grid without
    impls = {"element-wise": lambda x: (_FakeQuantize.apply(x, scale, zp, 0, 15) if torch.is_grad_enabled()
                                        else _grid_values(x, scale, zp, 0, 15)),
             "fused": lambda x: _fused(x, scale, zp, 0, 15)}
    for shape in SHAPES:
        x = (torch.rand(shape, device=device) * 7).requires_grad_(True)
        g = torch.randn(shape, device=device)
        a, b = impls["element-wise"](x), impls["fused"](x)
        ga, = torch.autograd.grad(a, x, g)
        gb, = torch.autograd.grad(b, x, g)
        with torch.no_grad():
            c = _grid_values(x, scale, zp, 0, 15)
        same = torch.equal(a, b) and torch.equal(ga, gb) and torch.equal(c, b)
        for grad in (True, False):
            e, f, ratio = _side_by_side(impls, x, g, grad, device)
            rows.append(f"| {device.type} | {'x'.join(map(str, shape))} | {'fwd+bwd' if grad else 'fwd'} | "
                        f"{e:.2f} | {f:.2f} | {ratio:.2f} | {'yes' if same else 'NO'} |")
    return rows


def _bpda_separate(x):
    import torch.nn.functional as F

    with gradient_path("bpda", 0.25):
        return quantize_range(F.relu6(x), 0.0, 6.0, 4)


def bench_act() -> list[str]:
    import torch.nn.functional as F

    paths = {"ste": {"separate": lambda x: quantize_range(F.relu6(x), 0.0, 6.0, 4),
                     "fused": lambda x: hardtanh_quantize(x, 0.0, 6.0, 4)},
             "bpda": {"separate": _bpda_separate,
                      "fused": lambda x: hardtanh_quantize_bpda(x, 0.0, 6.0, 4, 0.25)}}
    rows, cpu = [], torch.device("cpu")
    for path, impls in paths.items():
        for shape in SHAPES:
            x = ((torch.randn(shape) * 3 + 2).contiguous(memory_format=torch.channels_last)).requires_grad_(True)
            g = torch.randn(shape).contiguous(memory_format=torch.channels_last)
            a, b = impls["separate"](x), impls["fused"](x)
            (ga,), (gb,) = torch.autograd.grad(a, x, g), torch.autograd.grad(b, x, g)
            with torch.no_grad():
                same = torch.equal(a, b) and torch.equal(ga, gb) and torch.equal(impls["separate"](x), impls["fused"](x))
            for grad in (True, False):
                e, f, ratio = _side_by_side(impls, x, g, grad, cpu)
                rows.append(f"| {path} | {'x'.join(map(str, shape))} | {'fwd+bwd' if grad else 'fwd'} | "
                            f"{e:.2f} | {f:.2f} | {ratio:.2f} | {'yes' if same else 'NO'} |")
    return rows


def main() -> None:
    torch.set_num_threads(1)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = [r for d in devices for r in bench(d)]
    report = "\n".join([
        HEADING, "",
        f"`python bench/fake_quant.py`; {hardware_name(torch.device('cpu'))}, torch {torch.__version__}, "
        f"Python {platform.python_version()}, "
        f"1 thread; median of {ROUNDS} rounds of {REPS} calls, ms per call; ratio = fused / element-wise "
        "(below 1: fused faster), median of per-round ratios.", "",
        "| device | shape | pass | element-wise ms | fused ms | fused / element-wise | identical values and gradients |",
        "|---|---|---|---|---|---|---|", *rows, "",
        "Where the fused kernel is not faster the quantizer keeps the element-wise ops (`fake_quantize` "
        "calls `_fused` on CUDA tensors only).", ""])
    write_section(HEADING, report)
    print(report)
    act = "\n".join([
        ACT_HEADING, "",
        f"`python bench/fake_quant.py`; {hardware_name(torch.device('cpu'))}, torch {torch.__version__}, 1 thread; "
        f"ReLU6 then the 4-bit grid on [0, 6], channels_last activations; median of {ROUNDS} rounds of {REPS} calls, "
        "ms per call; ratio = fused / separate (below 1: fused faster), median of per-round ratios.", "",
        "| gradient path | shape | pass | separate ms | fused ms | fused / separate | identical values and gradients |",
        "|---|---|---|---|---|---|---|", *bench_act(), ""])
    write_section(ACT_HEADING, act)
    print(act)


if __name__ == "__main__":
    main()
