"""Validate a config file against the schema and print what it would run."""
from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("config")


def run(a) -> None:
    from qrobust.config import load_config

    cfg = load_config(a.config)
    print(f"{a.config}: ok ({len(cfg['methods'])} methods x {len(cfg['quant']['act_bits'])} bit-widths x {len(cfg['seeds'])} seeds)")
