# Validation, source-file lists and target functions shared by every rule.
import json
import os
import sys

from qrobust._sources import stage_sources
from qrobust.config import ConfigError, validate_config

try:
    _checked = validate_config(config)
except ConfigError as e:
    # one line and a non-zero exit before any job runs: nothing is made from a bad config
    sys.stderr.write(f"qrobust: config error: {e}\n")
    sys.exit(1)
config.clear()
config.update(_checked)

# Each rule declares the package files its CLI call imports (found from the import graph), so
# editing e.g. the attack code reruns evaluations and tables but no training.
DATA_SRC = stage_sources("data")
TRAIN_SRC = stage_sources("train")
EVAL_SRC = stage_sources("evaluate")
QUANTIZE_SRC = stage_sources("quantize")
OHQ_PROFILE_SRC = stage_sources("ohq_profile")
OHQ_SENS_SRC = stage_sources("ohq_sensitivity")
OHQ_ALLOC_SRC = stage_sources("ohq_allocate")
OHQ_DEPLOY_SRC = stage_sources("ohq_deploy")
TABLE_SRC = stage_sources("table")
FIGURE_SRC = stage_sources("figure")

DATASET = config["data"]["dataset"]
DATA_DIR = f"data/prepared/{DATASET}"


def cfg_json(*keys):
    """The config slice a job reads, as JSON: params changes rerun just the jobs that read them."""
    return json.dumps({k: config[k] for k in keys}, sort_keys=True)


def bits_tag(bits):
    return "fp" if bits is None else str(bits)


def beta_tag(beta):
    return format(float(beta), "g")


def runs():
    """Every (method, beta, act bits, seed) of Table 1."""
    for m in config["methods"]:
        for bits in config["quant"]["act_bits"]:
            for seed in config["seeds"]:
                yield dict(
                    method=m["name"],
                    beta=beta_tag(m["beta"]),
                    abits=bits_tag(bits),
                    seed=seed,
                )


def table1_metrics(wildcards=None):
    return [
        f"results/metrics/eval/{r['method']}_beta{r['beta']}_a{r['abits']}_s{r['seed']}.json"
        for r in runs()
    ]


# the float model every quantization and OHQ job starts from (Table 1's vanilla full-precision run)
FLOAT_CKPT = "results/checkpoints/vanilla_beta0_afp_s{seed}.pt"


def quantize_runs():
    for s in config["quantize"]["schemes"]:
        for wbits, abits in config["quantize"]["bits"]:
            for seed in config["seeds"]:
                yield f"{s['name']}_w{wbits}a{abits}_s{seed}"


def quantizers_metrics(wildcards=None):
    floats = [
        f"results/metrics/eval/vanilla_beta0_afp_s{seed}.json"
        for seed in config["seeds"]
    ]
    return floats + [f"results/metrics/eval/quantize/{r}.json" for r in quantize_runs()]


def scheme_cfg(wildcards):
    """The quantize job's config slice: its own scheme only, so adding a scheme reruns no other."""
    q = dict(config["quantize"])
    q["schemes"] = [s for s in q["schemes"] if s["name"] == wildcards.scheme]
    return json.dumps(
        {
            "quantize": q,
            **{k: config[k] for k in ("model", "train", "device", "threads")},
        },
        sort_keys=True,
    )


def ohq_cfg(*keys, budget=None, top=("threads",)):
    """A slice of config["ohq"] (and of top-level keys) for one OHQ job."""
    o = {k: config["ohq"][k] for k in keys}
    if budget is not None:
        o["budgets"] = [b for b in config["ohq"]["budgets"] if b["name"] == budget]
    return json.dumps({"ohq": o, **{k: config[k] for k in top}}, sort_keys=True)


def timing_threads(wildcards):
    """Jobs that time kernels claim every local core, so no other job runs beside them and shares
    caches and memory bandwidth (measured: 40 % slower end-to-end latency with a training job next
    door). torch still uses config threads. The slurm profile sets these to 1 with an exclusive node."""
    return workflow.cores if isinstance(workflow.cores, int) else 1


def ohq_allocations(wildcards):
    return [
        f"results/ohq/s{wildcards.seed}/allocate/{b['name']}.json"
        for b in config["ohq"]["budgets"]
    ]


wildcard_constraints:
    method="vanilla|dq",
    beta="[0-9.e+-]+",
    abits="fp|[0-9]+",
    seed="[0-9]+",
    scheme="[A-Za-z0-9-]+",
    wbits="[0-9]+",
    qabits="[0-9]+",
    budget="[A-Za-z0-9_-]+",
