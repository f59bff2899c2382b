"""Attack throughput, ours vs torchattacks, on the same model and inputs.

FGSM and PGD-10 (alpha = eps/4, no random start, so both libraries do identical work: 10 forward +
backward passes per batch) on small_cnn (width 16, hidden 128, untrained, seed 0) and the 1000 test
images of mnist5k, batch 500, eps 0.1, 1 torch thread. Each round runs the four cells once over all
1000 images, in alternating order; one warm-up round, then 9 timed rounds: median images/s, and the
median of the per-round ratios (ours and torchattacks timed back to back, which cancels slow drifts
of a shared machine). qrobust's attacks run the model in channels_last (models.inference_layout), so
torchattacks runs twice: as a user gets it (the contiguous model), and inside the same layout, where
the two libraries do the same arithmetic and their images are compared for equality. Writes the
section "Attack throughput vs torchattacks" of bench/RESULTS.md.
"""
from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import torch
import torchattacks

from qrobust.attacks import create_attack
from qrobust.datasets import DATASETS
from qrobust.models import create_model, inference_layout

ROOT = Path(__file__).resolve().parents[1]
from _results import write_section  # noqa: E402  (bench/ is the script's folder)

from qrobust.runtime.hardware import hardware_name  # noqa: E402  (model name + cores, as the profiles record it)

HEADING = "## Attack throughput vs torchattacks"
EPS, BATCH, ROUNDS, STEPS = 0.1, 500, 9, 10




LIBS = ("ours", "torchattacks", "torchattacks, channels_last")


def in_layout(model, attack):
    def run(x, y):
        with inference_layout(model):
            return attack(x, y)
    return run


def run_all(attack, x, y) -> torch.Tensor:
    return torch.cat([attack(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(y), BATCH)])


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = create_model("small_cnn", num_classes=10, in_channels=1, width=16, hidden=128,
                         mean=[0.13], std=[0.31]).eval()
    _, test = DATASETS.get("mnist5k")(None, seed=0, n_train=1000, n_test=1000)
    x, y = test.x[:1000].float() / 255.0, test.y[:1000]
    alpha = EPS / 4
    fgsm = torchattacks.FGSM(model, eps=EPS)
    pgd = torchattacks.PGD(model, eps=EPS, alpha=alpha, steps=STEPS, random_start=False)
    cells = {
        ("FGSM", LIBS[0]): create_attack("fgsm", model, eps=EPS),
        ("FGSM", LIBS[1]): fgsm,
        ("FGSM", LIBS[2]): in_layout(model, fgsm),
        (f"PGD-{STEPS}", LIBS[0]): create_attack("pgd", model, eps=EPS, alpha=alpha, steps=STEPS, random_start=False),
        (f"PGD-{STEPS}", LIBS[1]): pgd,
        (f"PGD-{STEPS}", LIBS[2]): in_layout(model, pgd),
    }
    keys = list(cells)
    times = {k: [] for k in keys}
    outs = {}
    for r in range(ROUNDS + 1):  # round 0 warms up
        for k in (keys if r % 2 == 0 else keys[::-1]):
            t = time.perf_counter()
            outs[k] = run_all(cells[k], x, y)
            if r:
                times[k].append(time.perf_counter() - t)
    rows = []
    for name in ("FGSM", f"PGD-{STEPS}"):
        med = {lib: statistics.median(times[(name, lib)]) for lib in LIBS}
        paired = {lib: statistics.median(t / o for o, t in zip(times[(name, "ours")], times[(name, lib)]))
                  for lib in LIBS[1:]}
        same = torch.equal(outs[(name, "ours")], outs[(name, LIBS[2])])
        maxdiff = (outs[(name, "ours")] - outs[(name, LIBS[2])]).abs().max().item()
        rows.append((name, *(len(y) / med[lib] for lib in LIBS), *(paired[lib] for lib in LIBS[1:]), same, maxdiff))
        print(f"{name}: " + ", ".join(f"{lib} {len(y) / med[lib]:.0f} img/s" for lib in LIBS)
              + f"; paired ratios {paired[LIBS[1]]:.3f}, {paired[LIBS[2]]:.3f}; identical {same}", flush=True)

    lines = [HEADING, "",
             f"Machine: {platform.machine()}, {hardware_name('cpu')}; torch {torch.__version__}, "
             f"torchattacks {torchattacks.__version__}, 1 torch thread; `python bench/attacks.py`. small_cnn "
             "(width 16, hidden 128, float, untrained, seed 0), the 1000 mnist5k test images (1x28x28), batch "
             f"{BATCH}, eps {EPS}; PGD-{STEPS} with alpha = eps/4 and no random start in both libraries, so both "
             f"do the same {STEPS} forward + backward passes. Four cells interleaved per round (order alternating), "
             f"1 warm-up round, {ROUNDS} timed rounds. Images per second over all 1000 inputs, median over rounds; "
             "ratio = ours / torchattacks in images/s (target >= 1.0), the median of the per-round ratios "
             "(the libraries timed back to back). torchattacks as a user runs it (the contiguous model) and "
             "inside qrobust's inference layout (channels_last: the same arithmetic as ours, so the images "
             "must be identical). Shared machine: single rounds vary by up to ~30 %.", "",
             "| attack | ours (img/s) | torchattacks (img/s) | torchattacks, channels_last (img/s) | ours / torchattacks "
             "| ours / torchattacks, channels_last | identical images (same layout) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {n} | {o:.0f} | {t:.0f} | {tc:.0f} | {p1:.3f} | {p2:.3f} | {'yes' if s else f'no (max diff {d:.1e})'} |"
              for n, o, t, tc, p1, p2, s, d in rows]
    lines += ["", "Per-round seconds for all 1000 images: " + "; ".join(
        f"{n} {lib} " + ", ".join(f"{v:.3f}" for v in times[(n, lib)]) for n, lib in keys) + ".", ""]
    report = "\n".join(lines)
    print(report)
    write_section(HEADING, report)


if __name__ == "__main__":
    main()
