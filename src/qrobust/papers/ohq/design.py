"""The config slices OHQ-LP's jobs read (no torch): each job gets only what decides its output."""
from __future__ import annotations

PROFILE = ("precisions", "measured_only", "engine", "latency", "device")
SENSITIVITY = ("precisions", "calib_images", "calibrator")
DEPLOY = ("engine", "latency", "device")


def section(config: dict, keys, budget: str | None = None) -> dict:
    """config["ohq"] reduced to `keys`, and to one budget for an allocation job."""
    o = {k: config["ohq"][k] for k in keys}
    if budget is not None:
        o["budgets"] = [b for b in config["ohq"]["budgets"] if b["name"] == budget]
    return o
