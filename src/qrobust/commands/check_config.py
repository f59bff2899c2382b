"""Validate a config file (an override, on top of config/config.yaml as Snakemake merges it) and say what it runs."""
from __future__ import annotations

from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("config", nargs="+", help="config files, merged in order on top of the base (as --configfile does)")
    p.add_argument("--base", default="config/config.yaml",
                   help="the workflow's own config the files override (default: config/config.yaml, if it exists)")
    p.add_argument("--alone", action="store_true", help="validate the files without the base (a complete config)")


def run(a) -> None:
    from qrobust.config import _read, merge, validate_config

    cfg: dict = {}
    if not a.alone and not Path(a.base).exists() and a.base != "config/config.yaml":
        raise ValueError(f"--base {a.base}: no such file; give the workflow's config (or --alone for a complete config)")
    base = None if a.alone or not Path(a.base).exists() else a.base
    for f in ([base] if base else []) + a.config:
        cfg = merge(cfg, _read(f))
    try:
        cfg = validate_config(cfg)
    except ValueError as e:
        if base is None and not a.alone and "required property" in str(e):  # an override checked away from the workflow
            raise ValueError(f"{e} (no {a.base} here to check it on top of: run in the workflow folder, or pass --base)") from None
        raise
    on = f" on top of {base}" if base else ""
    print(f"{', '.join(a.config)}{on}: ok ({len(cfg['methods'])} methods x {len(cfg['quant']['act_bits'])} bit-widths "
          f"x {len(cfg['seeds'])} seeds)")
