"""What the worst-case evaluation costs per model, beside AutoAttack.

On the default config's model (small_cnn width 16, hidden 128, ReLU6, trained with the default
`train` section on mnist5k's 4,000 training images, seed 0), at full precision and with 1- and
2-bit activations (DQ's vanilla quantization), on the first `worst_case.n_images` test images at
`worst_case.eps`, one torch thread, in one run:
  - the default worst_case ensemble (evaluation/worst_case.py) and its masking audit
    (evaluation/masking.py): seconds and worst-case accuracy;
  - the reference AutoAttack, version standard (qrobust's `autoattack` = pyautoattack), on the STE
    path and on the BPDA path;
  - torchattacks' AutoAttack(version="standard") on the same model and images (its attacks use
    torchattacks' own settings: 10-step APGD, among others).
The substitute of the transfer member is trained the same way (the config's dq.substitute).
Writes the section "## Worst-case evaluation cost" of bench/RESULTS.md.
Usage: python bench/worst_case.py [--models fp,1,2] [--skip-torchattacks]
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
from _results import write_section  # noqa: E402  (bench/ is the script's folder)

HEADING = "## Worst-case evaluation cost"


def _train(cfg, model_cfg, bits, split, meta, seed=0):
    from qrobust.jobs._common import model_spec
    from qrobust.models import create_model
    from qrobust.quant import QuantConfig, quantize_
    from qrobust.runtime.seeding import seed_everything
    from qrobust.training.loop import TrainConfig, train

    gen = seed_everything(seed)
    model = quantize_(create_model(**model_spec(model_cfg, meta)), QuantConfig(act_bits=bits, weight_bits=None))
    train(model, split.x, split.y, TrainConfig(**cfg["train"]), gen, torch.device("cpu"))
    return model.eval()


def _acc(model, x, y) -> float:
    with torch.no_grad():
        return 100.0 * (model(x).argmax(1) == y).float().mean().item()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="fp,1,2")
    ap.add_argument("--skip-torchattacks", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)

    from qrobust.attacks import create_attack
    from qrobust.config import validate_config
    from qrobust.datasets import DATASETS
    from qrobust.evaluation.masking import audit
    from qrobust.evaluation.worst_case import worst_case

    cfg = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    w, d = cfg["worst_case"], cfg["data"]
    train_split, test = DATASETS.get("mnist5k")(None, seed=d["split_seed"], n_train=d["n_train"], n_test=d["n_test"])
    meta = {"num_classes": 10, "shape": [1, 28, 28], "mean": [train_split.x.float().div(255).mean().item()],
            "std": [train_split.x.float().div(255).std().item()]}
    n = w["n_images"] or len(test.y)
    x8, y = test.x[:n], test.y[:n]
    x = x8.float() / 255.0
    eps = w["eps"]
    t = time.perf_counter()
    substitute = _train(cfg, cfg["dq"]["substitute"], None, train_split, meta, seed=10_000)
    print(f"substitute trained in {time.perf_counter() - t:.1f} s", flush=True)

    rows = []
    for tag in a.models.split(","):
        bits = None if tag == "fp" else int(tag)
        t = time.perf_counter()
        model = _train(cfg, cfg["model"], bits, train_split, meta)
        train_s = time.perf_counter() - t
        label = "full precision" if bits is None else f"{bits}-bit activations"
        row = {"model": label, "train_s": train_s, "clean": _acc(model, x, y)}
        t = time.perf_counter()
        wc = worst_case(model, x8, y, eps=eps, ensemble=w["ensemble"], paths=w["paths"], temperature=w["temperature"],
                        substitute=substitute, seed=0, batch_size=cfg["eval"]["batch_size"], n_classes=10)
        row["ensemble_s"] = time.perf_counter() - t
        t = time.perf_counter()
        au = audit(model, x8, y, wc, eps=eps, paths=w["paths"], temperature=w["temperature"], seed=0,
                   batch_size=cfg["eval"]["batch_size"], **w["audit"])
        row["audit_s"] = time.perf_counter() - t
        row["worst"], row["best"], row["flags"] = wc["worst_acc"], wc["best"], ", ".join(au["flags"]) or "none"
        row["members"] = {m["name"]: m["acc"] for m in wc["members"]}
        for path in ("ste", "bpda"):
            atk = create_attack("autoattack", model, eps=eps, seed=0, version="standard", path=path)
            t = time.perf_counter()
            adv = atk(x, y)
            row[f"aa_{path}_s"] = time.perf_counter() - t
            row[f"aa_{path}"] = _acc(model, adv, y)
            row[f"aa_{path}_flags"] = len(atk.flags)
        if not a.skip_torchattacks:
            import torchattacks

            ta = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=10, seed=0)
            t = time.perf_counter()
            adv = ta(x, y)
            row["ta_s"] = time.perf_counter() - t
            row["ta"] = _acc(model, adv, y)
        rows.append(row)
        print(row, flush=True)

    ens = ", ".join(f"{m['attack']}" + (f" {dict((k, v) for k, v in m.items() if k != 'attack')}" if len(m) > 1 else "")
                    for m in w["ensemble"])
    lines = [HEADING, "",
             f"Machine: {platform.machine()}, 2 cores (1 torch thread); torch {torch.__version__}; "
             f"`python bench/worst_case.py`. Default config: small_cnn (width 16, hidden 128, ReLU6) trained with "
             f"the default train section (seed 0) at full precision and with k-bit activations (vanilla); the first "
             f"{n} mnist5k test images; eps {eps}. Worst-case ensemble (config worst_case, paths "
             f"{', '.join(w['paths'])}): {ens}; the audit as configured. AutoAttack = the reference "
             "(pyautoattack 0.2.0, version standard: APGD-CE, APGD-T, FAB-T, Square 5,000 queries) through "
             "qrobust's `autoattack`, on the STE and on the BPDA path; torchattacks = "
             "torchattacks.AutoAttack(version='standard'), same model and images, its own settings. "
             "Accuracies count an image robust only if it is classified correctly clean and attacked "
             "(torchattacks: attacked only). One run, so timings carry this shared machine's noise.", "",
             "| model | clean | worst case (ensemble) | ensemble s | audit s | AutoAttack@ste | s | AutoAttack@bpda | s "
             "| torchattacks AA | s | best member | audit flags |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        ta = (f"{r['ta']:.1f} | {r['ta_s']:.1f}" if "ta" in r else "n/a | n/a")
        lines.append(f"| {r['model']} | {r['clean']:.1f} | {r['worst']:.1f} | {r['ensemble_s']:.1f} | {r['audit_s']:.1f} "
                     f"| {r['aa_ste']:.1f} | {r['aa_ste_s']:.1f} | {r['aa_bpda']:.1f} | {r['aa_bpda_s']:.1f} | {ta} "
                     f"| {r['best']} | {r['flags']} |")
    lines += ["", "Per member (accuracy %): " + "; ".join(
        f"{r['model']}: " + ", ".join(f"{k} {v:.1f}" for k, v in r["members"].items()) for r in rows) + ".", ""]
    report = "\n".join(lines)
    print(report)
    write_section(HEADING, report)


if __name__ == "__main__":
    main()
