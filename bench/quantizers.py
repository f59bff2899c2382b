"""Seconds and accuracy per quantizer-suite method on the default model and data, side by side.

The float model of the default config (config/config.yaml: small_cnn, mnist5k, `train`) is trained
once (seed 0); then every scheme named here (QAT: the suite's uniform STE and PACT, LSQ, DoReFa,
through `quantize.qat`, init float, its epochs and lr; PTQ: MSE calibration with nearest rounding and
with AdaRound, BRECQ and QDrop) is run on it at each bit pair, the way the `quantize` job runs it, one after another
in one process, 1 torch thread. Reported: the scheme's seconds (process CPU time and wall), its
clean test accuracy, and what it adds to the whole default DAG (its models: bit pairs x seeds, each a
quantize job plus the evaluations every suite model gets).
Writes the section "Quantizer suite: seconds and accuracy per method".

    python bench/quantizers.py [--bits 8,8 4,4 2,4] [--epochs N] [--quick]
"""
from __future__ import annotations

import argparse
import copy
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

from qrobust.config import load_config  # noqa: E402
from qrobust.datasets import DATASETS  # noqa: E402
from qrobust.models import create_model  # noqa: E402
from qrobust.quant import QuantConfig, quantize_  # noqa: E402
from qrobust.quant.schemes import apply_scheme, scheme_config  # noqa: E402
from qrobust.runtime.hardware import hardware_name  # noqa: E402
from qrobust.runtime.seeding import seed_everything  # noqa: E402
from qrobust.training.loop import TrainConfig, train  # noqa: E402

HEADING = "## Quantizer suite: seconds and accuracy per method"
ROOT = Path(__file__).resolve().parent.parent
METHODS = {
    "qat-ste (uniform)": {"mode": "qat", "weight": {"per_channel": True}, "act": {"symmetric": False}},
    "qat-pact": {"mode": "qat", "weight": {"per_channel": True}, "act": {"quantizer": "pact", "symmetric": False}},
    "qat-lsq": {"mode": "qat", "weight": {"quantizer": "lsq", "per_channel": True},
                "act": {"quantizer": "lsq", "symmetric": False}},
    "qat-dorefa": {"mode": "qat", "weight": {"quantizer": "dorefa"}, "act": {"quantizer": "dorefa", "symmetric": False}},
    # AdaRound beside nearest rounding on the same grid and calibration (MSE ranges)
    "ptq-mse (nearest)": {"mode": "ptq", "weight": {"calibrator": "mse", "per_channel": True},
                          "act": {"calibrator": "mse", "symmetric": False}},
    "ptq-adaround": {"mode": "ptq", "weight": {"quantizer": "adaround", "calibrator": "mse", "per_channel": True},
                     "act": {"calibrator": "mse", "symmetric": False}},
    "ptq-brecq": {"mode": "ptq", "weight": {"quantizer": "adaround", "calibrator": "mse", "per_channel": True},
                  "act": {"calibrator": "mse", "symmetric": False}, "reconstruct": {"granularity": "block", "loss": "fisher"}},
    "ptq-qdrop": {"mode": "ptq", "weight": {"quantizer": "adaround", "calibrator": "mse", "per_channel": True},
                  "act": {"calibrator": "mse", "symmetric": False}, "reconstruct": {"granularity": "block", "drop_prob": 0.5}},
}


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return (model(x.float() / 255).argmax(1) == y).float().mean().item() * 100


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bits", nargs="+", default=["8,8", "4,4", "2,4"], help="weight,act pairs")
    p.add_argument("--epochs", type=int, default=None, help="QAT epochs (default: the config's quantize.qat.epochs)")
    p.add_argument("--quick", action="store_true", help="tests: 600 training images, 1 float epoch, width 4")
    p.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = load_config(ROOT / "config" / "config.yaml")
    d, q = cfg["data"], cfg["quantize"]
    n_train = 600 if a.quick else d["n_train"]
    tr, te = DATASETS.get(d["dataset"])(None, seed=d["split_seed"], n_train=n_train, n_test=d["n_test"])
    kwargs = {**cfg["model"]["kwargs"], **({"width": 4, "hidden": 16} if a.quick else {})}
    spec = {"name": cfg["model"]["name"], "num_classes": 10, "in_channels": tr.x.shape[1], "act": cfg["model"]["act"],
            **kwargs}
    g = seed_everything(0)
    float_model = quantize_(create_model(**spec), QuantConfig(act_bits=None))
    tcfg = {**cfg["train"], **({"epochs": 1} if a.quick else {})}
    t = time.process_time()
    train(float_model, tr.x, tr.y, TrainConfig(**tcfg), g, torch.device("cpu"), progress=False)
    float_s = time.process_time() - t
    float_model.eval()
    qat = {**q["qat"], **({"epochs": a.epochs} if a.epochs else {})}
    settings = {**q, "qat": qat}
    pairs = [tuple(int(v) for v in b.split(",")) for b in a.bits]
    rows = []
    for name, parts in METHODS.items():
        scheme = {"name": name, "beta": 0.0, **parts}
        for wb, ab in pairs:
            qcfg = scheme_config(scheme, wb, ab)
            gen = torch.Generator().manual_seed(0)
            t, w = time.process_time(), time.perf_counter()
            model, _ = apply_scheme(copy.deepcopy(float_model), spec, scheme, qcfg, settings, tcfg, tr.x, tr.y, gen, 0,
                                    torch.device("cpu"))
            cpu, wall = time.process_time() - t, time.perf_counter() - w
            rows.append((name, f"W{wb}A{ab}", cpu, wall, accuracy(model, te.x, te.y)))
            print(rows[-1], file=sys.stderr)
    n_seeds, n_pairs = len(cfg["seeds"]), len(q["bits"])
    lines = [HEADING, "",
             f"{hardware_name(torch.device('cpu'))}, {platform.machine()}, 1 torch thread; config/config.yaml's model and data "
             f"({n_train} training images, {d['n_test']} test); float model {tcfg['epochs']} epochs "
             f"({float_s:.1f} CPU-s, clean {accuracy(float_model, te.x, te.y):.1f} %); QAT from it, "
             f"{qat['epochs']} epoch(s) at lr {qat['lr']}, one method after another in one process; "
             f"`python bench/quantizers.py{' --quick' if a.quick else ''}`.", "",
             "| method | bits | CPU s | wall s | clean acc. % | vs qat-ste CPU |", "|---|---|---|---|---|---|"]
    base = {b: c for m, b, c, _, _ in rows if m.startswith("qat-ste")}
    for m, b, c, wl, acc in rows:
        lines.append(f"| {m} | {b} | {c:.1f} | {wl:.1f} | {acc:.1f} | {c / base[b]:.2f}x |")
    lines += ["", "CPU s: the QAT epoch(s), or for PTQ the calibration and, for AdaRound, the reconstruction "
              f"({q['calib_images']} calibration images, the schema's `reconstruct` defaults).",
              "", f"In the whole default DAG a scheme adds {n_pairs} bit pairs x {n_seeds} seeds = "
              f"{n_pairs * n_seeds} models: each one quantize job (the QAT above) and the evaluations every "
              "suite model gets (evaluate, noise_eval, worst_case; the same for every method)."]
    report = "\n".join(lines) + "\n"
    if not a.no_write:
        write_section(HEADING, report)
    print(report)
    return report


if __name__ == "__main__":
    main()
