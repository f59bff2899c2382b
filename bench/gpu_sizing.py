"""GPU sizing: what the paper config costs on a GPU, measured on the machine it runs on.

1. The tiny config end to end (`snakemake all --configfile config/tiny.yaml`, device as given) in a
   scratch copy: wall time and job count.
2. For each paper-scale model (WRN-28-10, ResNet-20, VGG-16, ResNet-18) on synthetic CIFAR-shaped
   data (3x32x32, 10 classes, 4-bit ReLU6 activations as DQ trains them): one epoch of qrobust's own
   training loop (training/loop.py) in images/s, inference in images/s at fp32 and, under autocast,
   fp16 and bf16, PGD-10 (attacks/pgd.py) in images/s, and peak memory.
3. From those rates, an estimate of the GPU-hours of `config/paper.yaml`: the job count per rule
   from a dry run of that config (in a scratch copy with placeholder data), times each rule's work in
   training-image passes, inference passes and input-gradient steps (qrobust/plan/cost.py's `work`,
   from the config: the model `qrobust plan` uses). The rates go to bench/gpu_rates.json for
   `qrobust plan --configfile config/paper.yaml --gpu-rates bench/gpu_rates.json`.

Usage (a CUDA machine): python bench/gpu_sizing.py --device cuda
Tests: python bench/gpu_sizing.py --device cpu --images 16 --batch 8 --small --models resnet18 --no-dag --no-write
Writes the section "GPU sizing" of bench/RESULTS.md unless --no-write.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
from _results import write_section  # noqa: E402

HEADING = "## GPU sizing"
# paper-scale models; --small shrinks them for the CPU test (same code paths)
MODELS = {
    "wide_resnet-28-10": ("wide_resnet", {"depth": 28, "widen_factor": 10}, {"depth": 10, "widen_factor": 1}),
    "resnet20": ("resnet20", {}, {"width": 4}),
    "vgg16": ("vgg16", {}, {"width_mult": 0.125}),
    "resnet18": ("resnet18", {}, {"width": 8}),
}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_reset(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def _peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's, on CPU


def measure_model(label: str, name: str, kw: dict, device, n_images: int, batch: int) -> dict:
    from qrobust.attacks import create_attack
    from qrobust.models import create_model
    from qrobust.quant import QuantConfig, quantize_
    from qrobust.training.loop import TrainConfig, train

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n_images, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n_images,), generator=g)
    model = create_model(name, num_classes=10, in_channels=3, act="relu6", mean=[0.5] * 3, std=[0.25] * 3, **kw)
    quantize_(model, QuantConfig(act_bits=4))
    out = {"model": label, "params_M": sum(p.numel() for p in model.parameters()) / 1e6}
    cfg = TrainConfig(epochs=1, batch_size=batch, lr=0.01, augment=True, allow_chance=True)
    train(model, x[:batch], y[:batch], cfg, g, device, progress=False)  # warm-up (kernels, allocator)
    _peak_reset(device)
    _sync(device)
    t = time.perf_counter()
    train(model, x, y, cfg, g, device, progress=False)
    _sync(device)
    out["train_img_s"] = n_images / (time.perf_counter() - t)
    out["train_peak_mb"] = _peak_mb(device)
    model.eval()
    xs = [x[i:i + batch].float().div(255).to(device) for i in range(0, n_images, batch)]
    ys = [y[i:i + batch].to(device) for i in range(0, n_images, batch)]
    precisions = [("fp32", None)] + ([("fp16", torch.float16)] if device.type == "cuda" else []) + [("bf16", torch.bfloat16)]
    for tag, dtype in precisions:
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            model(xs[0])
            _sync(device)
            t = time.perf_counter()
            for xb in xs:
                model(xb)
            _sync(device)
        out[f"infer_{tag}_img_s"] = n_images / (time.perf_counter() - t)
    _peak_reset(device)
    atk = create_attack("pgd", model, eps=8 / 255, steps=10, seed=0)
    atk(xs[0], ys[0])
    _sync(device)
    t = time.perf_counter()
    for xb, yb in zip(xs, ys):
        atk(xb, yb)
    _sync(device)
    out["pgd10_img_s"] = n_images / (time.perf_counter() - t)
    out["attack_peak_mb"] = _peak_mb(device)
    return out


def tiny_dag(device: str) -> dict:
    from _helpers import copy_workflow

    work = ROOT / "bench" / "_work" / "gpu_tiny"
    shutil.rmtree(work, ignore_errors=True)
    copy_workflow(work)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = ["snakemake", "all", "--cores", str(os.cpu_count()), "--configfile", "config/tiny.yaml",
           "--config", f"device={device}"]
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode:
        sys.exit(f"gpu_sizing: the tiny DAG failed:\n{r.stderr[-3000:]}")
    jobs = len(re.findall(r"^Finished jobid: \d+ \(Rule: (?!all\))", r.stdout + r.stderr, re.M))
    return {"wall_s": wall, "jobs": jobs}


def paper_jobs() -> dict[str, int]:
    """Jobs per rule of `snakemake all --configfile config/paper.yaml` (dry run, placeholder data)."""
    from _helpers import copy_workflow, planned_jobs

    work = ROOT / "bench" / "_work" / "gpu_paper_dry"
    shutil.rmtree(work, ignore_errors=True)
    copy_workflow(work)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = ["snakemake", "all", "-n", "--configfile", "config/paper.yaml"]
    r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    m = re.search(r"qrobust: data error: .*", r.stderr)
    if m:  # no CIFAR-10 here: plan against placeholder prepared files (a dry run reads none)
        key = subprocess.run([sys.executable, "-c", "from qrobust.plan.keys import key; from qrobust.config import "
                              "load_config; c = load_config('config/paper.yaml'); print(key(c['data']['dataset'], c, ['data']))"],
                             cwd=work, env=env, capture_output=True, text=True, check=True).stdout.strip()
        d = work / "data" / "prepared" / key
        d.mkdir(parents=True)
        for f in ("train.pt", "test.pt", "meta.json"):
            (d / f).write_text("placeholder")
        r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    if "Job stats:" not in r.stdout + r.stderr:
        sys.exit(f"gpu_sizing: no job stats from the paper dry run:\n{(r.stdout + r.stderr)[-2000:]}")
    return {rule: n for rule, n in planned_jobs(r).items() if rule != "all"}


def estimate(rates: dict, jobs: dict[str, int]) -> tuple[float, list[tuple[str, int, float]]]:
    """GPU-hours of the paper DAG at these rates: qrobust.plan.cost's work model (the one `qrobust plan` uses)."""
    from qrobust.config import load_config
    from qrobust.plan.cost import gpu_hours

    return gpu_hours(load_config(ROOT / "config" / "paper.yaml"), jobs, rates)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--images", type=int, default=5000, help="synthetic images per measurement")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--small", action="store_true", help="shrunken models (the CPU test)")
    ap.add_argument("--no-dag", action="store_true", help="skip the tiny DAG")
    ap.add_argument("--no-estimate", action="store_true", help="skip the paper config's dry run and estimate")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    device = torch.device(a.device)
    torch.manual_seed(0)
    rows = []
    for label in a.models:
        name, kw, small = MODELS[label]
        rows.append(measure_model(label, name, small if a.small else kw, device, a.images, a.batch))
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    lines = [HEADING, "", f"Device: {dev_name}; torch {torch.__version__}; `python bench/gpu_sizing.py "
             f"--device {a.device} --images {a.images} --batch {a.batch}{' --small' if a.small else ''}`; "
             "synthetic 3x32x32 data, 4-bit ReLU6 activations.", "",
             "| model | params (M) | train img/s | infer fp32 | infer fp16 | infer bf16 | PGD-10 img/s | peak MB train / attack |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        # three significant digits: a loaded CPU at the tests' tiny size runs under 1 image/s
        lines.append(f"| {r['model']} | {r['params_M']:.2f} | {r['train_img_s']:.3g} | {r['infer_fp32_img_s']:.3g} | "
                     f"{r.get('infer_fp16_img_s', float('nan')):.3g} | {r['infer_bf16_img_s']:.3g} | "
                     f"{r['pgd10_img_s']:.3g} | {r['train_peak_mb']:.0f} / {r['attack_peak_mb']:.0f} |")
    if not a.no_dag:
        t = tiny_dag(a.device)
        lines += ["", f"Tiny config end to end on {a.device}: {t['wall_s']:.0f} s, {t['jobs']} jobs."]
    if not a.no_estimate:
        jobs = paper_jobs()
        paper_model = next((r for r in rows if r["model"] == "wide_resnet-28-10"), rows[0])
        total, per_rule = estimate(paper_model, jobs)
        lines += ["", f"Estimate for `config/paper.yaml` ({sum(jobs.values())} jobs) at the {paper_model['model']} "
                  "rates above, one GPU, upper bound (no pruning, no overlap):", "",
                  "| rule | jobs | GPU-hours |", "|---|---:|---:|"]
        lines += [f"| {rule} | {n} | {h:.1f} |" for rule, n, h in per_rule if h > 0]
        lines += [f"| **total** | **{sum(jobs.values())}** | **{total:.0f}** |"]
    report = "\n".join(lines) + "\n"
    print(report)
    if not a.no_write:
        write_section(HEADING, report)
        # the rates by model, for `qrobust plan --gpu-rates bench/gpu_rates.json`
        (ROOT / "bench" / "gpu_rates.json").write_text(json.dumps(
            {"device": dev_name, "models": {MODELS[r["model"]][0]: r for r in rows}}, indent=1) + "\n")
    json.dump(rows, sys.stderr)


if __name__ == "__main__":
    main()
