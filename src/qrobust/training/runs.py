"""Training-run names: `{method}_beta{beta}_a{bits}[_{act}][_adv{attack}]` (no torch).

The workflow names each checkpoint this way and the train rule parses the name back into the
job's arguments; papers say which runs they need (papers/<paper>/design.py).
"""
from __future__ import annotations

import re

RUN = re.compile(r"(?P<method>vanilla|dq)_beta(?P<beta>[0-9.e+-]+)_a(?P<bits>fp|[0-9]+)"
                 r"(?:_(?P<act>relu6|relu1|tanh|relu))?(?:_adv(?P<adv>fgsm|rfgsm|pgd))?")
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
