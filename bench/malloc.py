"""Glibc's default heap thresholds against qrobust's (qrobust/runtime/malloc.py), side by side.

Each measurement is a fresh process (the thresholds are per process), started with QROBUST_MALLOC=0
(glibc's defaults) or 1 (the CLI's setting for every job), alternating which goes first in each round.
The child builds the default small CNN (width 16; float and 4-bit activations, seed 0), then times, 1
torch thread, CPU:
  fwd500    a forward without gradient over 1,000 images at batch 500 (evaluation, noise, Square's queries)
  fwd128    the same in forwards of 128 images (does a smaller evaluation batch, whose activations stay in
            the cache, pay? the logits are checked to be fwd500's bits)
  grad100   input gradients over 1,000 images at batch 100 (gradient attacks on the worst case's 100 images)
  grad250   the same at batch 250 (Table 2-4 and Table 7 attacks)
  train64   SGD steps over 1,000 images at batch 64 (training)
each the median of `--reps` repetitions inside the child, and reports its minor page faults and peak RSS.
Ratio = tuned / default of the medians over rounds (below 1: tuned faster). It also checks that both
settings give the same bytes (a hash of the logits, the input gradients and the trained weights).
Writes the section "Heap thresholds: glibc's defaults vs qrobust's".

Usage: python bench/malloc.py [--rounds 5] [--reps 3] [--no-write]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _results import write_section  # noqa: E402

HEADING = "## Heap thresholds: glibc's defaults vs qrobust's"
WORKLOADS = ("fwd500", "fwd128", "grad100", "grad250", "train64")

CHILD = r"""
import hashlib, json, resource, sys, time
from qrobust.runtime import malloc
tuned = malloc.tune()
import torch, torch.nn.functional as F
from qrobust.models import create_model, inference_layout
from qrobust.quant import QuantConfig, quantize_
torch.set_num_threads(1)
bits, reps, n = json.loads(sys.argv[1])
torch.manual_seed(0)
m = create_model("small_cnn", num_classes=10, in_channels=1, act="relu6", width=16, hidden=128)
if bits:
    quantize_(m, QuantConfig(act_bits=bits))
g = torch.Generator().manual_seed(1)
x, y = torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)
h = hashlib.sha256()
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)

def fwd(bs):
    def f():
        with torch.inference_mode():
            return [torch.cat([m(x[i:i + bs]) for i in range(0, n, bs)])]
    return f

def grad(bs):
    def f():
        out = []
        for i in range(0, n, bs):
            xb = x[i:i + bs].clone().requires_grad_()
            out.append(torch.autograd.grad(F.cross_entropy(m(xb), y[i:i + bs]), xb)[0])
        return out
    return f

def train64():
    m.train()
    for i in range(0, n, 64):
        opt.zero_grad()
        F.cross_entropy(m(x[i:i + 64]), y[i:i + 64]).backward()
        opt.step()
    m.eval()
    return [p.detach() for p in m.parameters()]

times = {}
m.eval()
with inference_layout(m):
    same_fwd = torch.equal(fwd(500)()[0], fwd(128)()[0])
    for name, f in (("fwd500", fwd(500)), ("fwd128", fwd(128)), ("grad100", grad(100)), ("grad250", grad(250))):
        for t in f():
            h.update(t.contiguous().numpy().tobytes())
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
        times[name] = sorted(ts)[len(ts) // 2]
ts = []
for _ in range(reps):
    t0 = time.perf_counter(); out = train64(); ts.append(time.perf_counter() - t0)
for t in out:
    h.update(t.contiguous().numpy().tobytes())
times["train64"] = sorted(ts)[len(ts) // 2]
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"tuned": tuned, "same_fwd": same_fwd, "times": times, "faults": ru.ru_minflt, "rss_mb": ru.ru_maxrss / 1024,
                  "hash": h.hexdigest()}))
"""


def child(setting: str, bits, reps: int, n: int) -> dict:
    env = dict(os.environ, QROBUST_MALLOC=setting)
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps([bits, reps, n])], env=env, cwd=ROOT,
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"bench/malloc.py: the child failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    rows, same, tuned_ok = [], True, True
    for label, bits in (("small_cnn float", None), ("small_cnn 4-bit", 4)):
        runs = {"0": [], "1": []}
        for r in range(a.rounds):
            for s in (("0", "1") if r % 2 == 0 else ("1", "0")):
                runs[s].append(child(s, bits, a.reps, a.images))
        same &= len({x["hash"] for v in runs.values() for x in v}) == 1 and all(x["same_fwd"] for v in runs.values() for x in v)
        tuned_ok &= all(x["tuned"] for x in runs["1"]) and not any(x["tuned"] for x in runs["0"])
        for w in WORKLOADS:
            d = statistics.median(x["times"][w] for x in runs["0"])
            t = statistics.median(x["times"][w] for x in runs["1"])
            rows.append(f"| {label} | {w} | {d * 1000:.0f} | {t * 1000:.0f} | {t / d:.2f} |")
        faults = [statistics.median(x["faults"] for x in runs[s]) for s in ("0", "1")]
        rss = [max(x["rss_mb"] for x in runs[s]) for s in ("0", "1")]
        rows.append(f"| {label} | whole child: minor page faults, peak RSS MB | {faults[0]:.0f}, {rss[0]:.0f} "
                    f"| {faults[1]:.0f}, {rss[1]:.0f} | {faults[1] / faults[0]:.2f}, {rss[1] / rss[0]:.2f} |")
    report = "\n".join([
        HEADING, "",
        f"`python bench/malloc.py --rounds {a.rounds} --reps {a.reps}`; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, 1 torch thread, {a.images} images; "
        "each measurement a fresh process with QROBUST_MALLOC=0 (glibc's defaults) or 1 (qrobust's "
        "thresholds: heap up to 32 MB blocks, trim above 1 GB), alternating order; ms, median over rounds of "
        "the child's median; ratio = tuned / default (below 1: tuned faster).", "",
        "| model | workload | glibc default ms | tuned ms | tuned / default |",
        "|---|---|---:|---:|---:|", *rows, "",
        f"Same bytes (logits, input gradients, trained weights) in every process, and fwd128's logits fwd500's: "
        f"{'yes' if same else 'NO'}. "
        f"Thresholds set in every tuned child and in no default one: {'yes' if tuned_ok else 'NO'}.",
    ])
    print(report)
    if not a.no_write:
        write_section(HEADING, report)
    if not (same and tuned_ok):
        sys.exit("bench/malloc.py: the two settings gave different bytes, or the thresholds were not set as asked")


if __name__ == "__main__":
    main()
