"""Which models and noises Table 5 and the quantizer-suite table need (experiment design, no torch).

The suite: config `quantize` schemes x [weight bits, activation bits] (the scheme's `bits`, or
quantize.bits) x seeds, each a PTQ/QAT of
the float model; the noises: every corruption and data-side system noise.
"""
from __future__ import annotations

from qrobust.plan.keys import key


def quant_scheme(config: dict, name: str) -> dict:
    """The scheme's config entry without its bit pairs (its jobs' wildcards: changing them remakes nothing made)."""
    s = next(s for s in config["quantize"]["schemes"] if s["name"] == name)
    return {k: v for k, v in s.items() if k != "bits"}


def scheme_bits(config: dict, scheme: dict) -> list:
    """The scheme's own [weight, activation] bit pairs, or quantize.bits."""
    return scheme.get("bits") or config["quantize"]["bits"]


def scheme_key(config: dict, name: str, float_key: str) -> str:
    """Each scheme's own folder: adding or editing one scheme remakes no other."""
    common = {k: v for k, v in config["quantize"].items() if k not in ("schemes", "bits")}
    return key("quantize", config, ["train"], [float_key], extra={"quantize": common, "scheme": quant_scheme(config, name)})


def job_section(config: dict, name: str) -> dict:
    """The quantize section a job reads: its own scheme only, not the bit pairs (its wildcards), so adding
    a bit pair or a scheme reruns no existing job."""
    common = {k: v for k, v in config["quantize"].items() if k not in ("schemes", "bits")}
    return {**common, "schemes": [quant_scheme(config, name)]}


def models(config: dict, float_key: str) -> list[tuple[str, str]]:
    """(checkpoint key, `<scheme>_w<bits>a<bits>_s<seed>`) of every suite model."""
    q = config["quantize"]
    return [(scheme_key(config, s["name"], float_key), f"{s['name']}_w{wb}a{ab}_s{seed}")
            for s in q["schemes"] for wb, ab in scheme_bits(config, s) for seed in config["seeds"]]


def noises(config: dict) -> list[str]:
    return config["robust_bench"]["corruptions"] + config["robust_bench"]["system"]
