# Validation, source-file lists and target functions shared by every rule.
import json
import sys

from qrobust.config import ConfigError, validate_config

try:
    _checked = validate_config(config)
except ConfigError as e:
    # one line and a non-zero exit before any job runs: nothing is made from a bad config
    sys.stderr.write(f"qrobust: config error: {e}\n")
    sys.exit(1)
config.clear()
config.update(_checked)

PKG = "src/qrobust"
# Each rule declares the code it runs as input, so editing e.g. the attack code reruns
# evaluations and tables but no training.
CORE_SRC = [f"{PKG}/{f}" for f in ("__init__.py", "_io.py", "_registry.py", "_runtime.py", "cli.py", "config.py")]
DATA_SRC = CORE_SRC + [f"{PKG}/datasets/{f}" for f in ("__init__.py", "_base.py", "mnist5k.py", "torchvision_sets.py", "imagefolder.py")]
MODEL_SRC = (
    [f"{PKG}/models/{f}" for f in ("__init__.py", "_base.py", "small_cnn.py", "resnet.py", "wide_resnet.py", "vgg.py")]
    + [f"{PKG}/quant/{f}" for f in ("__init__.py", "config.py", "fake_quant.py", "layers.py")]
    + [f"{PKG}/checkpoint.py"]
)
TRAIN_SRC = CORE_SRC + MODEL_SRC + [f"{PKG}/train.py", f"{PKG}/regularizers.py", f"{PKG}/datasets/__init__.py", f"{PKG}/datasets/_base.py"]
ATTACK_SRC = [f"{PKG}/attacks/{f}" for f in ("__init__.py", "_base.py", "fgsm.py")]
EVAL_SRC = CORE_SRC + MODEL_SRC + ATTACK_SRC + [f"{PKG}/evaluate.py", f"{PKG}/datasets/__init__.py", f"{PKG}/datasets/_base.py"]
TABLE_SRC = CORE_SRC + [f"{PKG}/tables/{f}" for f in ("__init__.py", "_base.py", "table1.py")]
FIGURE_SRC = CORE_SRC + [f"{PKG}/figures/{f}" for f in ("__init__.py", "_base.py", "fig1.py")]

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
                yield dict(method=m["name"], beta=beta_tag(m["beta"]), abits=bits_tag(bits), seed=seed)


def table1_metrics(wildcards=None):
    return [f"results/metrics/eval/{r['method']}_beta{r['beta']}_a{r['abits']}_s{r['seed']}.json" for r in runs()]


wildcard_constraints:
    method="vanilla|dq",
    beta="[0-9.e+-]+",
    abits="fp|[0-9]+",
    seed="[0-9]+",
