"""Which runs DQ's tables need (Lin, Gan, Han, ICLR 2019): experiment design as data.

A run is named `{method}_beta{beta}_a{bits}[_{act}][_adv{attack}]`; the workflow turns names
into checkpoint paths. Nothing here imports torch: the Snakefile calls it while parsing.
"""
from __future__ import annotations

from qrobust.training.runs import run_id


def table1_runs(config: dict) -> list[str]:
    """Every (method, beta, activation bits, seed) of Table 1, as `<run>_s<seed>`."""
    return [f"{run_id(config, m['name'], m['beta'], bits)}_s{seed}"
            for m in config["methods"] for bits in config["quant"]["act_bits"] for seed in config["seeds"]]


def _pair(config: dict) -> list[tuple[str, float]]:
    return [("vanilla", 0.0), ("dq", config["dq"]["dq_beta"])]


def table2_runs(config: dict) -> list[tuple[str, str]]:
    """(run with seed, defense): Normal, Feature Squeezing, R+FGSM- and PGD-trained, each without DQ (the
    full-precision model, DQ's "Normal" row: Table 3's Normal clean 94.8 is Table 1's full-precision vanilla) and
    with DQ (`dq.dq_bits` activation bits: DQ used bit=1)."""
    rows = [(None, "none"), (None, "fs"), ("rfgsm", "none"), ("pgd", "none")]
    bits = {"vanilla": None, "dq": config["dq"]["dq_bits"]}
    return [(f"{run_id(config, m, b, bits[m], adv=adv)}_s{s}", d) for adv, d in rows for m, b in _pair(config)
            for s in config["seeds"]]


def table3_runs(config: dict) -> list[str]:
    """ReLU6 vs ReLU1, vanilla vs DQ, at the section's activation bits."""
    bits = config["dq"]["act_bits"]
    return [f"{run_id(config, m, b, bits, act=act)}_s{s}" for act in ("relu6", "relu1") for m, b in _pair(config)
            for s in config["seeds"]]


def table4_runs(config: dict) -> list[str]:
    """Gradient-masking checks: FP, Tanh- and ReLU6-quantized PGD-trained; FGSM- vs R+FGSM-trained."""
    runs = [(None, "relu6", "pgd"), (2, "tanh", "pgd"), (2, "relu6", "pgd"), (None, "relu6", "fgsm"), (None, "relu6", "rfgsm")]
    return [f"{run_id(config, 'vanilla', 0.0, bits, act=act, adv=adv)}_s{s}" for bits, act, adv in runs
            for s in config["seeds"]]


def fig3_runs(config: dict) -> list[str]:
    """DQ Figure 3: the vanilla model at every activation bit-width, first seed."""
    return [f"{run_id(config, 'vanilla', 0.0, b)}_s{config['seeds'][0]}" for b in config["quant"]["act_bits"]]
