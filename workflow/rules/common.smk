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


wildcard_constraints:
    method="vanilla|dq",
    beta="[0-9.e+-]+",
    abits="fp|[0-9]+",
    seed="[0-9]+",
