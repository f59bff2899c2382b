"""How a config problem reads: one line naming the key (`config key 'a.b[2]'`) and what is allowed there,
from a JSON-schema error (`describe`) or from a number the schema cannot refuse (`non_finite`)."""
from __future__ import annotations

import math

import jsonschema


def key_text(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def _allowed(branch: dict) -> str:
    t = branch.get("type")
    if t == "null":
        return "null"
    if t in ("integer", "number") and "minimum" in branch and "maximum" in branch:
        return f"an {t} {branch['minimum']}..{branch['maximum']}"
    return f"a {t}"


def describe(error: jsonschema.ValidationError) -> str:
    key = key_text(error.absolute_path)
    schema = error.schema
    if error.validator == "anyOf" and all(set(b) == {"required"} for b in schema["anyOf"]):
        keys = ", ".join(k for b in schema["anyOf"] for k in b["required"])
        return f"config key '{key}': needs at least one of {keys}"
    if error.validator == "anyOf":  # e.g. bits: "use an integer 1..16 or null"
        return f"config key '{key}': {error.instance!r} is not allowed; use {' or '.join(map(_allowed, schema['anyOf']))}"
    if error.validator == "additionalProperties":
        allowed = ", ".join(sorted(schema.get("properties", {})))
        return f"config key '{key}': {error.message}; allowed keys: {allowed}"
    if error.validator == "enum":
        return f"config key '{key}': {error.instance!r} is not allowed; allowed: {', '.join(map(str, schema['enum']))}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        rng = f"{lo}..{hi}" if hi is not None else (f">= {lo}" if "minimum" in schema else f"> {lo}")
        return f"config key '{key}': {error.instance!r} is out of range; allowed: {rng}"
    if error.validator == "minItems":
        return f"config key '{key}': must list at least {error.validator_value} item(s), got {len(error.instance)}"
    return f"config key '{key}': {error.message}"


def non_finite(node, path=()):
    """The first NaN or infinite number anywhere in the config: (key path, value), or None."""
    if isinstance(node, float) and not math.isfinite(node):
        return path, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        hit = non_finite(v, path + (k,))
        if hit:
            return hit
    return None
