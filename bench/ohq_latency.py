"""Per-layer latency, INT8 vs FP32, on this CPU: what OHQ's profile sees.

OHQ (Huang et al. 2023) measures each operator on the target; HAWQ-V3 (Yao et al. 2021) deploys
integer-only layers. This script times every conv/linear layer of the default model (small_cnn,
width 16, hidden 128, 1x28x28 MNIST inputs) and of resnet20 (3x32x32) in isolation, three ways
interleaved round by round in one run: FP32, INT8 as a mixed-precision graph runs it (quantize +
torch.ao kernel + dequantize), and the INT8 kernel alone on an already-quantized input.

Also fits profile_layers' cost model on each model and reports its quality.
Writes the section "OHQ per-layer latency, INT8 vs FP32" of bench/RESULTS.md.
Usage: python bench/ohq_latency.py [--repeats 200] [--warmup 20] [--batch 64] [--engine x86]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## OHQ per-layer latency, INT8 vs FP32"

MODELS = {
    "small_cnn": (dict(num_classes=10, in_channels=1, act="relu6", mean=[0.13], std=[0.3], width=16, hidden=128),
                  (1, 28, 28), "small_cnn (width 16, hidden 128), 1x28x28 (MNIST, the default config's model)"),
    "resnet20": (dict(num_classes=10, in_channels=3, act="relu6"), (3, 32, 32), "resnet20, 3x32x32 (CIFAR-10)"),
}

# the first conv of small_cnn timed in a fresh process that never calls mallopt: the default allocator
_DEFAULT_ALLOC_CHILD = """
import json, sys, torch
torch.set_num_threads(1)
from qrobust.quant.kernels import make_layer
from qrobust.quant.timing import time_interleaved
from qrobust.models import create_model
m = create_model("small_cnn", **json.loads(sys.argv[1]))
x = torch.randn(int(sys.argv[2]), 1, 28, 28)
conv = make_layer(m[1][0], "fp32", None, "cpu")
print(json.dumps(time_interleaved({"fp32": (conv, x)}, int(sys.argv[3]), int(sys.argv[4]), steady_alloc=False)["fp32"]))
"""


def shape(s) -> str:
    return "x".join(str(d) for d in s)


def table(rows) -> tuple[list[str], dict]:
    lines = ["| layer | kind | in -> out | MMAC/sample | FP32 ms | INT8 ms | INT8 kernel ms | FP32/INT8 | FP32/kernel |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    tot = {"fp32": 0.0, "int8": 0.0, "int8_kernel": 0.0}
    wins = 0
    for r in rows:
        L = r["layer"]
        f, i, k = (r[c]["median_ms"] for c in ("fp32", "int8", "int8_kernel"))
        for c in tot:
            tot[c] += r[c]["median_ms"]
        wins += i < f
        lines.append(f"| {L['name']} | {L['kind']} | {shape(L['in_shape'])} -> {shape(L['out_shape'])} | "
                     f"{L['macs'] / 1e6:.3f} | {f:.4f} | {i:.4f} | {k:.4f} | {f / i:.2f}x | {f / k:.2f}x |")
    lines.append(f"| **sum** | | | {sum(r['layer']['macs'] for r in rows) / 1e6:.3f} | **{tot['fp32']:.3f}** | "
                 f"**{tot['int8']:.3f}** | **{tot['int8_kernel']:.3f}** | **{tot['fp32'] / tot['int8']:.2f}x** | "
                 f"**{tot['fp32'] / tot['int8_kernel']:.2f}x** |")
    return lines, {"wins": wins, "n": len(rows), **tot}


def spread_note(rows) -> str:
    """Widest relative p10-p90 band among the medians, so a reader can judge which ratios are resolved."""
    bands = sorted((r[c]["p90_ms"] - r[c]["p10_ms"]) / r[c]["median_ms"] for r in rows for c in ("fp32", "int8", "int8_kernel"))
    return (f"p10-p90 band as a share of the median: {100 * bands[len(bands) // 2]:.0f} % typical, "
            f"{100 * bands[-1]:.0f} % widest")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--engine", default="x86")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)  # one core: per-layer cost without threading noise
    from qrobust.models import create_model
    from qrobust.papers.ohq.latency import compare_int8_fp32, profile_layers
    from qrobust.quant.timing import steady_allocator
    from qrobust.runtime.hardware import hardware_name

    # before this process calls mallopt: the default-allocator cost of the first conv, for the note below
    child = subprocess.run([sys.executable, "-c", _DEFAULT_ALLOC_CHILD, json.dumps(MODELS["small_cnn"][0]),
                            str(args.batch), str(args.warmup), str(args.repeats)],
                           capture_output=True, text=True, check=True, cwd=ROOT)
    default_alloc = json.loads(child.stdout.strip().splitlines()[-1])

    hw = hardware_name("cpu")
    body, raw = [], {}
    for name, (kw, in_shape, title) in MODELS.items():
        torch.manual_seed(0)
        model = create_model(name, **kw).eval()
        rows = compare_int8_fp32(model, torch.zeros(2, *in_shape), batch_size=args.batch, engine=args.engine,
                                 warmup=args.warmup, repeats=args.repeats)
        lines, tot = table(rows)
        # the cost model OHQ's profile fits on these kinds of points (fp32 + int8 measured, int4 predicted)
        prof = profile_layers(model, torch.zeros(2, *in_shape), ["fp32", "int8", "int4"], device="cpu",
                              engine=args.engine, batch_size=args.batch, warmup=args.warmup, repeats=args.repeats)
        fit = prof["cost_model"]
        raw[name] = {"compare": rows, "profile": prof}
        body += [f"### {title}", "", *lines, "",
                 f"INT8 faster than FP32 on {tot['wins']} of {tot['n']} layers; {spread_note(rows)}.",
                 f"Cost model of `profile_layers` on this model (separate run, fp32 + int8 measured, "
                 f"{fit['n_points']} points): ms = {fit['a_ms_per_bitop']:.3g} * BitOPs + "
                 f"{fit['b_ms_per_byte']:.3g} * bytes + {fit['c_ms']:.3g}; R^2 {fit['r2']:.3f}, "
                 f"median relative error {100 * fit['median_rel_error']:.0f} %.", ""]
        if name == "small_cnn":
            first = next(r for r in rows if r["layer"]["kind"] == "conv")
            steady_first = first["fp32"]["median_ms"]

    head = [SECTION, "",
            f"Hardware: {hw}; torch {torch.__version__}; quantized engine `{args.engine}` "
            f"(supported: {', '.join(e for e in torch.backends.quantized.supported_engines if e != 'none')}); "
            f"{torch.get_num_threads()} thread(s) (torch.set_num_threads); batch {args.batch}; "
            f"warmup {args.warmup}, repeats {args.repeats} "
            f"per cell, the three columns of a layer interleaved round by round; medians in ms per batch; "
            f"`python bench/ohq_latency.py`.", "",
            "INT8 = quantize_per_tensor (quint8) + torch.ao quantized conv/linear (qint8 per-channel weights, "
            "requantized 8-bit output) + dequantize, i.e. one INT8 layer inside a float graph. INT8 kernel = the "
            "quantized op alone on a quint8 input, i.e. a layer inside an all-integer chain (HAWQ-V3).", "",
            f"Allocator: {steady_allocator()}. With glibc's defaults every FP32 conv call page-faults its output "
            f"in afresh: the first small_cnn conv takes {default_alloc['median_ms']:.3f} ms per batch that way "
            f"(fresh process, same settings) vs {steady_first:.3f} ms here. A deployed runtime keeps its buffers, "
            f"so the steady state is the one reported.", ""]
    report = "\n".join(head + body).rstrip("\n") + "\n"
    print(report)

    work = ROOT / "bench" / "_work"
    work.mkdir(parents=True, exist_ok=True)
    (work / "ohq_latency.json").write_text(json.dumps({"hardware": hw, "engine": args.engine, "batch": args.batch,
                                                         "threads": torch.get_num_threads(), "default_alloc_first_conv": default_alloc,
                                                         "models": raw}, indent=1))

    out = ROOT / "bench" / "RESULTS.md"
    text = out.read_text() if out.exists() else "# Benchmark results\n"
    start = text.find(SECTION)
    if start >= 0:  # replace our section only; other scripts own the other "## " sections
        end = text.find("\n## ", start + 1)
        text = text[:start] + (text[end + 1:] if end >= 0 else "")
    out.write_text(text.rstrip("\n") + "\n\n" + report)


if __name__ == "__main__":
    main()
