"""Load and validate a config: JSON schema first, then the checks a schema cannot express.

Every problem becomes one ConfigError line naming the key and what is allowed.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import jsonschema
import yaml

from qrobust.config_messages import describe, key_text, non_finite
from qrobust.plan.registry import family_names

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


PAPERS_DIR = Path(__file__).resolve().parent / "papers"


def load_schema() -> dict:
    """The config schema: the shared sections, each paper's section (papers/<paper>/schema.yaml, under
    the paper's folder name), and every `x-registry` name list filled in as an `enum`."""
    # libyaml's loader when PyYAML has it: 9x faster on these files, and every Snakemake start reads them
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    schema = yaml.load(SCHEMA_PATH.read_text(), Loader=loader)
    for section in sorted(PAPERS_DIR.glob("*/schema.yaml")):
        schema["properties"][section.parent.name] = yaml.load(section.read_text(), Loader=loader)
    _fill_registry_enums(schema)
    return schema


def _fill_registry_enums(node) -> None:
    """`x-registry: FAMILY` (or {family, exclude: [...], where: {attr: value}}) -> `enum`: the names
    the registry knows now, read from its package's files without importing them (qrobust.plan.registry),
    plus any registered at run time in this process. No schema edit for a new entry file."""
    if isinstance(node, dict):
        spec = node.get("x-registry")
        if spec is not None:
            spec = {"family": spec} if isinstance(spec, str) else spec
            node["enum"] = family_names(spec["family"], exclude=spec.get("exclude", ()), **spec.get("where", {}))
        for value in node.values():
            _fill_registry_enums(value)
    elif isinstance(node, list):
        for value in node:
            _fill_registry_enums(value)


def merge(base: dict, override: dict) -> dict:
    """What Snakemake does with a --configfile: mappings merged key by key, anything else replaced."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path, base: str | Path | None = None) -> dict:
    """A config file, validated; with `base`, the file is an override merged on top of it (as
    `snakemake --configfile FILE` merges it on top of config/config.yaml)."""
    return load_configs([path] if base is None else [base, path])


def load_configs(paths, overrides: dict | None = None) -> dict:
    """What snakemake sees with `--configfile A B ... --config K=V`: the files merged in order (the
    workflow's config/config.yaml first), then the top-level overrides, validated."""
    cfg: dict = {}
    for p in paths:
        cfg = merge(cfg, _read(p))
    return validate_config(merge(cfg, overrides or {}))


def _read(path: str | Path) -> dict:
    path = Path(path)
    try:
        cfg = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}; fix the syntax or start from config/config.yaml") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: must be a YAML mapping of keys (see config/config.yaml), got {type(cfg).__name__}")
    return cfg


def _fill_defaults(schema: dict, node, root: dict):
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].split("/")[-1]]
    if isinstance(node, dict) and schema.get("type") == "object":
        for k, sub in schema.get("properties", {}).items():
            if k not in node and "default" in sub:
                node[k] = copy.deepcopy(sub["default"])
            if k in node:
                _fill_defaults(sub, node[k], root)
    elif isinstance(node, list) and isinstance(schema.get("items"), dict):
        for item in node:
            _fill_defaults(schema["items"], item, root)


def _scalar_types(schema: dict, root: dict) -> set[str]:
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].split("/")[-1]]
    types = set()
    for sub in schema.get("anyOf", []):
        types |= _scalar_types(sub, root)
    t = schema.get("type")
    types |= set(t) if isinstance(t, list) else ({t} if t else set())
    return types & {"integer", "number", "boolean", "null"}


def _coerce(schema: dict, node, root: dict):
    """Snakemake's `--config key=value` can hand numbers over as strings; parse them where the schema wants one."""
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].split("/")[-1]]
    if isinstance(node, dict):
        for k, sub in schema.get("properties", {}).items():
            if k in node:
                node[k] = _coerce(sub, node[k], root)
    elif isinstance(node, list) and isinstance(schema.get("items"), dict):
        return [_coerce(schema["items"], item, root) for item in node]
    elif isinstance(node, str) and _scalar_types(schema, root):
        try:
            value = yaml.safe_load(node)
        except yaml.YAMLError:
            return node
        kinds = {bool: "boolean", int: "integer", float: "number", type(None): "null"}
        kind = kinds.get(type(value))
        wanted = _scalar_types(schema, root)
        if kind in wanted or (kind == "integer" and "number" in wanted):
            return value
    return node


def validate_config(cfg: dict) -> dict:
    """Return a copy of `cfg` with defaults filled in, or raise ConfigError (one line)."""
    schema = load_schema()
    bad = non_finite(cfg)
    if bad:  # JSON Schema's number admits NaN and infinity; no key of ours does
        yaml_text = ".nan" if math.isnan(bad[1]) else (".inf" if bad[1] > 0 else "-.inf")
        raise ConfigError(f"config key '{key_text(bad[0])}': {yaml_text} is not a finite number; give a number")
    cfg = _coerce(schema, copy.deepcopy(cfg), schema)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(list(e.absolute_path)), str(list(e.absolute_path))))
    if errors:
        # the deepest error under anyOf is the one that says what is wrong; best_match picks it
        raise ConfigError(describe(jsonschema.exceptions.best_match(errors)))
    _fill_defaults(schema, cfg, schema)
    _check_semantics(cfg)
    return cfg


def _check_semantics(cfg: dict) -> None:
    seen = set()
    for i, m in enumerate(cfg["methods"]):
        if m["name"] == "dq" and m["beta"] <= 0:
            raise ConfigError(f"config key 'methods[{i}].beta': dq needs beta > 0 (the paper uses 3e-4, 6e-4, 1e-3)")
        if m["name"] == "vanilla" and m["beta"] != 0:
            raise ConfigError(f"config key 'methods[{i}].beta': vanilla has no regularizer; drop beta or use name: dq")
        if (m["name"], m["beta"]) in seen:
            raise ConfigError(f"config key 'methods[{i}]': {m['name']} with beta {m['beta']} is listed twice")
        seen.add((m["name"], m["beta"]))
    quantized = any(b is not None for b in cfg["quant"]["act_bits"])
    if quantized and cfg["model"]["act"] == "relu":
        raise ConfigError("config key 'model.act': relu is unbounded and cannot be quantized; "
                          "use relu6, relu1 or tanh (or only null in quant.act_bits)")
    _check_quantize(cfg["quantize"])
    _check_ohq(cfg["ohq"])
    _check_li2024(cfg["li2024"])
    _check_worst_case(cfg["worst_case"], cfg["attack"])
    if cfg["train"]["schedule"] == "multistep" and not cfg["train"]["milestones"]:
        raise ConfigError("config key 'train.milestones': the multistep schedule needs at least one milestone epoch")


def _check_scheme(key: str, s: dict) -> None:
    """A PTQ/QAT scheme's quantizers and mode: the rules live in qrobust.quant.spec (torch-free); here the key is named."""
    from qrobust.quant.spec import SchemeSpec, SpecError

    try:
        SchemeSpec.from_config(s)
    except SpecError as e:
        raise ConfigError(f"{key}.{e.field}': {e}") from None


def _unique_names(items: list, key: str) -> None:
    """Each item's `name` labels a table row: none may repeat (`key`: the list's config key)."""
    names = [it["name"] for it in items]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise ConfigError(f"config key '{key}[{i}].name': '{n}' is used twice; names label table rows")


def _check_quantize(q: dict) -> None:
    _unique_names(q["schemes"], "quantize.schemes")
    for i, s in enumerate(q["schemes"]):
        _check_scheme(f"config key 'quantize.schemes[{i}]", s)


# precisions with a kernel of their own, per device kind (ohq/kernels.has_kernel)
_KERNELS = {"cpu": {"fp32", "int8"}, "cuda": {"fp32", "fp16", "bf16"}}


def _check_ohq(o: dict) -> None:
    _unique_names(o["budgets"], "ohq.budgets")
    ints = sorted(p for p in o["precisions"] if p.startswith("int"))
    if o["device"] == "cuda" and ints:
        raise ConfigError(f"config key 'ohq.precisions': {', '.join(ints)} deploy on torch's quantized CPU kernels only; "
                          "with ohq.device: cuda use fp32, fp16, bf16 (or set ohq.device: cpu)")
    if o["measured_only"] and not any(set(o["precisions"]) <= k for k in _KERNELS.values()):
        bad = sorted(set(o["precisions"]) - _KERNELS["cpu"])
        raise ConfigError(f"config key 'ohq.precisions': {', '.join(bad)} has no kernel on cpu (and int has none on cuda), "
                          "so it cannot be measured; drop it or set ohq.measured_only: false")


def _check_worst_case(w: dict, attack: dict) -> None:
    """The ensemble's members: transfer needs sources and inner (and only it takes them); AutoAttack's
    version and attacks go together; `paths: best` needs an earlier member to compare. eps null -> attack.eps."""
    if w["eps"] is None:
        w["eps"] = attack["eps"]
    for i, m in enumerate(w["ensemble"]):
        key = f"config key 'worst_case.ensemble[{i}]"
        name = m["attack"]
        if name == "transfer":
            for k in ("sources", "inner"):
                if k not in m:
                    raise ConfigError(f"{key}.{k}': transfer needs {k} (e.g. sources: [surrogate, float, substitute], inner: pgd)")
            if "paths" in m:
                raise ConfigError(f"{key}.paths': a transfer is crafted on its sources; drop paths (sources: surrogate, float, substitute)")
        else:
            for k in ("sources", "inner"):
                if k in m:
                    raise ConfigError(f"{key}.{k}': only attack: transfer takes {k}")
        if name != "autoattack" and ("version" in m or "attacks" in m):
            raise ConfigError(f"{key}': version and attacks are AutoAttack's settings; use attack: autoattack")
        if name == "autoattack" and (m.get("version") == "custom") != ("attacks" in m):
            raise ConfigError(f"{key}.attacks': AutoAttack takes a list of attacks with version: custom, and only then")
        if m.get("paths") == "best" and i == 0:
            raise ConfigError(f"{key}.paths': best picks the path on which earlier members did best; "
                              f"put this member after a gradient attack")


def _check_li2024(t: dict) -> None:
    _unique_names(t["schemes"], "li2024.schemes")
    for i, s in enumerate(t["schemes"]):
        key = f"config key 'li2024.schemes[{i}]"
        if s["init"] == "random" and s["mode"] == "ptq":
            raise ConfigError(f"{key}.init': PTQ of a random model measures nothing; use init: float or adv, or mode: qat")
        if s["robust"] == "during" and s["mode"] == "ptq":
            raise ConfigError(f"{key}.robust': PTQ has no training to put adversarial examples in; use finetune or mode: qat")
        _check_scheme(key, s)
