"""The worst-case ensemble's plan: config entries validated (one-line errors naming the entry and
the allowed values) and expanded into members, and the `paths: best` choice. See
evaluation/worst_case.py for what the members do."""
from __future__ import annotations

from dataclasses import dataclass, field

from qrobust.attacks import ATTACKS, PATHS

WHITE_PATHS = ("ste", "bpda")  # the real model's forward: white-box
SOURCES = ("surrogate", "float", "substitute")  # transfer sources
RESERVED = ("eps", "seed", "path", "temperature", "form", "model", "substitute")  # set by worst_case, not by a member
PLAN_KEYS = ("attack", "paths", "sources", "inner", "prune", "staircases")  # the plan's keys; the others go to the attack
STAIRCASE_PATHS = ("bpda", "surrogate")  # the paths that go through a smooth staircase


@dataclass
class Member:
    """One planned member: `path` is "best" until resolved, None for gradient-free and substitute ones."""

    index: int
    entry: int  # position in the ensemble list: members of one entry share their seeds
    attack: str
    path: str | None
    source: str | None
    kwargs: dict = field(default_factory=dict)
    inner: str | None = None
    prune: bool = False  # attack only the images still robust when its turn comes
    temperature: float | None = None  # its own smooth staircase (None: worst_case's temperature, tanh)
    form: str = "tanh"

    def staircase(self) -> str:
        """":sine", ":t1" for a member with its own smooth staircase, "" otherwise."""
        if self.form == "sine":
            return ":sine"
        return "" if self.temperature is None else f":t{self.temperature:g}"

    def name(self) -> str:
        if self.attack == "transfer":
            return f"transfer:{self.source}{self.staircase()}"
        return self.attack if self.path is None else f"{self.attack}@{self.path}{self.staircase()}"

    def kind(self) -> str:
        """white (the real model's gradients), black (transfers, gradient-free attacks) or mixed: an AutoAttack
        whose run includes Square, which is black-box wherever it runs."""
        if self.attack == "autoattack" and (self.kwargs.get("version", "standard") in ("standard", "plus")
                                            or "square" in (self.kwargs.get("attacks") or [])):
            return "mixed"
        return "white" if self.attack != "transfer" and self.path in WHITE_PATHS else "black"

    @property
    def gradient(self) -> bool:
        return self.attack != "transfer" and self.path is not None


def _allowed(values) -> str:
    return ", ".join(values)


def check_paths(paths, what: str = "worst_case.paths", best: bool = False) -> list[str]:
    """A non-empty list of distinct gradient paths (PATHS); `best`: a member's, which may also be "best"."""
    allowed = _allowed(PATHS) + (" (or paths: best)" if best else "")
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, (list, tuple)) or not paths:
        raise ValueError(f"{what} must be a non-empty list of gradient paths; allowed: {allowed}")
    for p in paths:
        if p not in PATHS:
            raise ValueError(f"{what}: unknown gradient path {p!r}; allowed: {allowed}")
    if len(set(paths)) != len(paths):
        raise ValueError(f"{what} lists a path twice: {list(paths)}")
    return list(paths)


def _registered(name, where: str) -> str:
    if not isinstance(name, str) or name not in ATTACKS:
        try:
            ATTACKS.get(str(name))
        except KeyError as e:
            raise ValueError(f"{where}: {e.args[0]}") from None
    return name


def _check_kwargs(attack: str, kw: dict, where: str) -> None:
    """The member's arguments must be ones the attack takes (before anything runs)."""
    import inspect

    params = inspect.signature(ATTACKS.get(attack)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [n for n in params if n not in ("self", "model") + RESERVED]
    bad = sorted(set(kw) - set(allowed))
    if bad:
        raise ValueError(f"{where}: {attack} takes no argument {', '.join(map(repr, bad))}; "
                         f"its arguments: {_allowed(allowed) or 'none'}")
    import torch.nn as nn

    try:  # and values it accepts: the attack's own checks, on a stand-in model
        ATTACKS.get(attack)(nn.Identity(), **kw)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _staircases(spec: dict, where: str, on: list) -> list[tuple[float | None, str]]:
    """A member's `staircases` (numbers: the tanh staircase at that temperature; "sine": the sine staircase) as
    (temperature, form) pairs; [(None, "tanh")] without: worst_case's own. Only paths (or transfer sources)
    that go through a smooth staircase take them."""
    if "staircases" not in spec:
        return [(None, "tanh")]
    values = spec["staircases"]
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"{where}: staircases must be a non-empty list of temperatures and/or sine, got {values!r}")
    out = []
    for v in values:
        if v == "sine":
            out.append((None, "sine"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            out.append((float(v), "tanh"))
        else:
            raise ValueError(f"{where}: staircase {v!r} is neither a temperature > 0 nor sine")
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: a staircase is listed twice: {list(values)}")
    if any(p not in STAIRCASE_PATHS for p in on):
        raise ValueError(f"{where}: staircases apply to {', '.join(STAIRCASE_PATHS)} only, got {', '.join(map(str, on))}")
    return out


def plan(ensemble, paths) -> list[Member]:
    """Validate `ensemble` (list of member specs) and expand it into members, in order.

    Every error is one line naming the entry and the allowed values."""
    paths = check_paths(paths)
    if not isinstance(ensemble, (list, tuple)) or not ensemble:
        raise ValueError("worst_case.ensemble is empty: list at least one attack "
                         "(e.g. {attack: pgd, steps: 20}, {attack: square}, {attack: transfer})")
    members: list[Member] = []
    for i, spec in enumerate(ensemble):
        if not isinstance(spec, dict) or "attack" not in spec:
            raise ValueError(f"worst_case.ensemble[{i}] must be a mapping with an 'attack' key, got {spec!r}")
        name = spec["attack"]
        where = f"worst_case.ensemble[{i}] ({name})"
        _registered(name, where)
        kw = {k: v for k, v in spec.items() if k not in PLAN_KEYS}
        prune = spec.get("prune")
        if prune is not None and not isinstance(prune, bool):
            raise ValueError(f"{where}: prune must be true or false, got {prune!r}")
        bad = sorted(set(kw) & set(RESERVED))
        if bad:
            raise ValueError(f"{where}: {', '.join(bad)} cannot be set per member (worst_case sets them)")
        if name == "transfer":
            if "paths" in spec:
                raise ValueError(f"{where}: a transfer member takes sources, not paths; "
                                 f"allowed sources: {_allowed(SOURCES)}")
            sources = spec.get("sources", list(SOURCES))
            if isinstance(sources, str):
                sources = [sources]
            if not isinstance(sources, (list, tuple)) or not sources:
                raise ValueError(f"{where}: sources must be a non-empty list; allowed: {_allowed(SOURCES)}")
            for s in sources:
                if s not in SOURCES:
                    raise ValueError(f"{where}: unknown transfer source {s!r}; allowed: {_allowed(SOURCES)}")
            if len(set(sources)) != len(sources):
                raise ValueError(f"{where}: a source is listed twice: {list(sources)}")
            inner = _registered(spec.get("inner", "pgd"), f"{where} inner")
            if inner == "transfer":
                raise ValueError(f"{where}: the inner attack cannot be 'transfer'")
            _check_kwargs(inner, kw, where)
            stairs = _staircases(spec, where, sources)
            for s in sources:
                for temp, form in stairs:
                    members.append(Member(len(members), i, "transfer", s if s != "substitute" else None, s, kw, inner,
                                          prune=True if prune is None else prune, temperature=temp, form=form))
            continue
        for key in ("sources", "inner"):
            if key in spec:
                raise ValueError(f"{where}: '{key}' belongs to transfer members only")
        _check_kwargs(name, kw, where)
        if ATTACKS.attr(name, "gradient_free", False):
            if "paths" in spec:
                raise ValueError(f"{where}: a gradient-free attack runs once and takes no paths")
            members.append(Member(len(members), i, name, None, None, kw, prune=True if prune is None else prune))
            continue
        mpaths = spec.get("paths", paths)
        if mpaths == "best":
            if not any(m.gradient for m in members):
                raise ValueError(f"{where}: paths 'best' needs a gradient attack earlier in the ensemble "
                                 f"(e.g. {{attack: pgd}} first); or list paths from: {_allowed(PATHS)}")
            members.append(Member(len(members), i, name, "best", None, kw, prune=True if prune is None else prune))
            continue
        listed = check_paths(mpaths, f"{where} paths", best=True)
        stairs = _staircases(spec, where, listed)
        for p in listed:
            for temp, form in stairs:
                members.append(Member(len(members), i, name, p, None, kw, prune=bool(prune), temperature=temp, form=form))
    return members


def best_path(records: list[dict], paths) -> str | None:
    """The gradient path whose gradient members reached the lowest accuracy (ties: `paths` order,
    then PATHS order); None when no gradient member ran."""
    order = list(paths) + [p for p in PATHS if p not in paths]
    lowest: dict[str, float] = {}
    for r in records:
        if r["gradient"] and r["acc"] is not None:
            lowest[r["path"]] = min(lowest.get(r["path"], float("inf")), r["acc"])
    if not lowest:
        return None
    return min((p for p in order if p in lowest), key=lambda p: lowest[p])  # min keeps the first of ties
