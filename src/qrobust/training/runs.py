"""Training-run names: `{method}_beta{beta}_a{bits}[_{act}][_adv{attack}]` (no torch).

The workflow names each checkpoint this way and the train rule parses the name back into the
job's arguments; papers say which runs they need (papers/<paper>/design.py).
"""
from __future__ import annotations

import re

# the grammar, once: each part's alternatives
_PARTS = {"method": "vanilla|dq", "beta": "[0-9.e+-]+", "bits": "fp|[0-9]+", "act": "relu6|relu1|tanh|relu",
          "adv": "fgsm|rfgsm|pgd"}


def _grammar(named: bool, act: str, adv: str) -> str:
    """The run-name regex; `act` and `adv`: "optional", "required" or "none" (adv only); `named`: with the
    parts as named groups (parse_run), or without groups (Snakemake's wildcard constraints)."""
    part = (lambda k: f"(?P<{k}>{_PARTS[k]})") if named else (lambda k: f"(?:{_PARTS[k]})")
    out = f"{part('method')}_beta{part('beta')}_a{part('bits')}"
    out += {"optional": f"(?:_{part('act')})?", "required": f"_{part('act')}"}[act]
    return out + {"optional": f"(?:_adv{part('adv')})?", "required": f"_adv{part('adv')}", "none": ""}[adv]


RUN = re.compile(_grammar(True, act="optional", adv="optional"))
# the `run` wildcard of the train rule (float and QAT runs) and of the train_adv rule (adversarial training)
TRAIN_RUN = _grammar(False, act="optional", adv="none")
ADV_RUN = _grammar(False, act="required", adv="required")
SUBSTITUTE_SEED_OFFSET = 1000  # the black-box substitute must not share the target's initialisation


def run_id(config: dict, method: str, beta: float, bits, act: str | None = None, adv: str | None = None) -> str:
    """Checkpoint stem (without seed); Table 1's runs (the config's activation) keep short names."""
    base = f"{method}_beta{float(beta):g}_a{'fp' if bits is None else bits}"
    act = act or config["model"]["act"]
    if adv:
        return f"{base}_{act}_adv{adv}"
    return base if act == config["model"]["act"] else f"{base}_{act}"


def parse_run(run: str) -> dict:
    m = RUN.fullmatch(run)
    if m is None:
        raise ValueError(f"'{run}' is no training run name; expected method_beta<b>_a<bits>[_act][_adv<attack>]")
    return m.groupdict()
