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
TRAIN_ADV_SRC = stage_sources("train_adv")
ROBUST_SRC = stage_sources("robust_eval")
MAKE_NOISE_SRC = stage_sources("make_noise")
NOISE_EVAL_SRC = stage_sources("noise_eval")
QUANTIZE_ADV_SRC = stage_sources("quantize_adv")
QU_ANTI_SRC = stage_sources("qu_anti")
QU_ANTI_EVAL_SRC = stage_sources("qu_anti_eval")
TABLE_SRC = stage_sources("table")
CLAIMS_SRC = stage_sources("claims")
ACT_DIST_SRC = stage_sources("act_distance")
CLAIM_TABLES = [
    "table1",
    "table2",
    "table3",
    "table4",
    "table5",
    "table6",
    "table7",
    "table8",
]
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


def run_id(method, beta, bits, act=None, adv=None):
    """Checkpoint stem (without seed) of a training run; Table 1's runs keep their short names."""
    base = f"{method}_beta{beta_tag(beta)}_a{bits_tag(bits)}"
    act = act or config["model"]["act"]
    if adv:
        return f"{base}_{act}_adv{adv}"
    return base if act == config["model"]["act"] else f"{base}_{act}"


def robust_file(run, seed, defense="none"):
    return f"results/metrics/robust/{run}_s{seed}_{defense}.json"


def _dq():
    return [("vanilla", 0.0), ("dq", config["robustness"]["dq_beta"])]


def table2_metrics(wildcards=None):
    bits = config["robustness"]["act_bits"]
    rows = [(None, "none"), (None, "fs"), ("rfgsm", "none"), ("pgd", "none")]
    return [
        robust_file(run_id(m, b, bits, adv=adv), s, d)
        for adv, d in rows
        for m, b in _dq()
        for s in config["seeds"]
    ]


def table3_metrics(wildcards=None):
    bits = config["robustness"]["act_bits"]
    return [
        robust_file(run_id(m, b, bits, act=act), s)
        for act in ("relu6", "relu1")
        for m, b in _dq()
        for s in config["seeds"]
    ]


def table4_metrics(wildcards=None):
    runs = [
        (None, "relu6", "pgd"),
        (2, "tanh", "pgd"),
        (2, "relu6", "pgd"),
        (None, "relu6", "fgsm"),
        (None, "relu6", "rfgsm"),
    ]
    return [
        robust_file(run_id("vanilla", 0.0, bits, act=act, adv=adv), s)
        for bits, act, adv in runs
        for s in config["seeds"]
    ]


def robust_cfg(wildcards=None):
    return json.dumps(
        {
            "robustness": config["robustness"],
            **{k: config[k] for k in ("eval", "device", "threads")},
        },
        sort_keys=True,
    )


def noise_names():
    return config["noise"]["corruptions"] + config["noise"]["system"]


def noised_files(wildcards=None):
    return [f"data/noised/{DATASET}/{n}.pt" for n in noise_names()]


def table5_runs():
    """The float model and every quantize-suite model (scheme x bits x seed)."""
    runs = [f"vanilla_beta0_afp_s{seed}" for seed in config["seeds"]]
    return runs + [f"quantize/{r}" for r in quantize_runs()]


def table5_inputs(wildcards=None):
    noise = [f"results/metrics/noise/{r}.json" for r in table5_runs()]
    evals = [f"results/metrics/eval/{r}.json" for r in table5_runs()]
    return noise + evals


def noise_cfg(wildcards=None):
    return json.dumps(
        {
            "noise": config["noise"],
            **{k: config[k] for k in ("eval", "device", "threads")},
        },
        sort_keys=True,
    )


def t7_scheme(name):
    return next(s for s in config["table7"]["schemes"] if s["name"] == name)


def t7_init(wildcards):
    """The initial float model of a Table 7 scheme: none (random), normal or PGD-trained float."""
    init = t7_scheme(wildcards.scheme)["init"]
    if init == "random":
        return []
    adv = "pgd" if init == "adv" else None
    return [
        f"results/checkpoints/{run_id('vanilla', 0.0, None, adv=adv)}_s{wildcards.seed}.pt"
    ]


def t7_cfg(wildcards):
    t = dict(config["table7"])
    t["schemes"] = [t7_scheme(wildcards.scheme)]
    keys = ("model", "train", "adv_train", "device", "threads")
    return json.dumps({"table7": t, **{k: config[k] for k in keys}}, sort_keys=True)


def t7_eval_cfg(wildcards=None):
    t = config["table7"]
    rob = {
        "attacks": t["attacks"],
        "blackbox": [],
        "eps": [t["eps"]],
        "attack_kwargs": t["attack_kwargs"],
        "squeeze": {},
    }
    keys = ("eval", "device", "threads")
    return json.dumps(
        {"robustness": rob, **{k: config[k] for k in keys}}, sort_keys=True
    )


def table7_metrics(wildcards=None):
    t = config["table7"]
    return [
        f"results/metrics/robust/table7/{s['name']}_{tg}{b}_s{seed}_none.json"
        for s in t["schemes"]
        for tg in t["targets"]
        for b in t["bits"]
        for seed in config["seeds"]
    ]


def timing_threads(wildcards):
    """Jobs that time kernels claim every local core, so no other job runs beside them and shares
    caches and memory bandwidth (measured: 40 % slower end-to-end latency with a training job next
    door). torch still uses config threads. The slurm profile sets these to 1 with an exclusive node.
    """
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
    act="relu6|relu1|tanh|relu",
    adv="fgsm|rfgsm|pgd",
    defense="none|fs",
    noise="[a-z_0-9]+",
    target="w|a|wa",
