"""Benchmark for issue 5: attack throughput, ours vs torchattacks, on the same model and inputs.

FGSM and PGD-10 (alpha = eps/4, no random start, so both libraries do identical work: 10 forward +
backward passes per batch) on small_cnn (width 16, hidden 128, untrained, seed 0) and the 1000 test
images of mnist5k, batch 500, eps 0.1, 1 torch thread. Each round runs the four cells once over all
1000 images, in alternating order; one warm-up round, then 9 timed rounds: median images/s, and the
median of the per-round ratios (ours and torchattacks timed back to back, which cancels slow drifts
of a shared machine). The outputs are also compared for equality. Writes the section "Attack throughput vs torchattacks (issue 5)" of
bench/RESULTS.md.
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
from qrobust.models import create_model

ROOT = Path(__file__).resolve().parents[1]
from _results import write_section  # noqa: E402  (bench/ is the script's folder)
from qrobust.papers.ohq.latency import hardware_name  # noqa: E402  (model name + cores, as the profiles record it)

HEADING = "## Attack throughput vs torchattacks (issue 5)"
EPS, BATCH, ROUNDS, STEPS = 0.1, 500, 9, 10




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
    cells = {
        ("FGSM", "ours"): create_attack("fgsm", model, eps=EPS),
        ("FGSM", "torchattacks"): torchattacks.FGSM(model, eps=EPS),
        (f"PGD-{STEPS}", "ours"): create_attack("pgd", model, eps=EPS, alpha=alpha, steps=STEPS, random_start=False),
        (f"PGD-{STEPS}", "torchattacks"): torchattacks.PGD(model, eps=EPS, alpha=alpha, steps=STEPS,
                                                          random_start=False),
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
        ours, ref = statistics.median(times[(name, "ours")]), statistics.median(times[(name, "torchattacks")])
        same = torch.equal(outs[(name, "ours")], outs[(name, "torchattacks")])
        maxdiff = (outs[(name, "ours")] - outs[(name, "torchattacks")]).abs().max().item()
        paired = statistics.median(t / o for o, t in zip(times[(name, "ours")], times[(name, "torchattacks")]))
        rows.append((name, len(y) / ours, len(y) / ref, ref / ours, paired, same, maxdiff))
        print(f"{name}: ours {len(y) / ours:.0f} img/s, torchattacks {len(y) / ref:.0f} img/s, "
              f"ratio {ref / ours:.3f}, paired {paired:.3f}, identical {same} (max diff {maxdiff:.1e})", flush=True)

    lines = [HEADING, "",
             f"Machine: {platform.machine()}, {hardware_name('cpu')}; torch {torch.__version__}, "
             f"torchattacks {torchattacks.__version__}, 1 torch thread; `python bench/attacks.py`. small_cnn "
             "(width 16, hidden 128, float, untrained, seed 0), the 1000 mnist5k test images (1x28x28), batch "
             f"{BATCH}, eps {EPS}; PGD-{STEPS} with alpha = eps/4 and no random start in both libraries, so both "
             f"do the same {STEPS} forward + backward passes. Four cells interleaved per round (order alternating), "
             f"1 warm-up round, {ROUNDS} timed rounds. Images per second over all 1000 inputs, median over rounds; "
             "ratio = ours / torchattacks in images/s (target >= 1.0), from the medians and as the median of "
             "the per-round ratios (the two libraries timed back to back). Shared machine: other jobs were "
             "running, so single rounds vary by up to ~30 %.", "",
             "| attack | ours (img/s) | torchattacks (img/s) | ratio of medians | median per-round ratio | identical images |",
             "|---|---:|---:|---:|---:|---|"]
    lines += [f"| {n} | {o:.0f} | {t:.0f} | {q:.3f} | {pr:.3f} | {'yes' if s else f'no (max diff {d:.1e})'} |"
              for n, o, t, q, pr, s, d in rows]
    lines += ["", "Per-round seconds for all 1000 images: " + "; ".join(
        f"{n} {lib} " + ", ".join(f"{v:.3f}" for v in times[(n, lib)]) for n, lib in keys) + ".", ""]
    report = "\n".join(lines)
    print(report)
    write_section(HEADING, report)


if __name__ == "__main__":
    main()
