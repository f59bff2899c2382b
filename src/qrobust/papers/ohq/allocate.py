"""Per-layer mixed-precision bit allocation as a small integer program.

HAWQ-V3 (Yao et al., ICML 2021) picks one precision per layer with an ILP solved by PuLP, minimising
a Hessian-based sensitivity under latency / size budgets; OHQ (Huang et al., 2023) does the same
with on-chip measured latency and mask-guided sensitivity. Here the inputs are plain tables of
(layer x precision) sensitivity, latency and size; layers that must agree (residual adds) are tied.
"""
from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pulp

METRICS = ("sensitivity", "latency", "size")


def _slack(budget: float) -> float:
    # a plan whose cost equals the budget, summed in another order, must still fit
    return budget + 1e-9 * max(1.0, abs(budget))


@dataclass
class Problem:
    layers: list[str]
    precisions: list[str]
    sensitivity: np.ndarray
    latency: np.ndarray
    size: np.ndarray
    ties: list[list[str]] = field(default_factory=list)
    groups: list[list[int]] = field(init=False, repr=False)  # merged tie groups incl. singletons (layer indices)

    def __post_init__(self):
        L, P = len(self.layers), len(self.precisions)
        if L == 0 or P == 0:
            raise ValueError("Problem needs at least one layer and one precision")
        for kind, names in (("layer", self.layers), ("precision", self.precisions)):
            dup = [n for n in names if names.count(n) > 1]
            if dup:
                raise ValueError(f"duplicate {kind} name {dup[0]!r}")
        for m in METRICS:
            a = np.asarray(getattr(self, m), dtype=float)
            if a.shape != (L, P):
                raise ValueError(f"{m} has shape {a.shape}, expected {(L, P)} (layers x precisions)")
            low = a < 0 if m == "sensitivity" else a <= 0
            for bad, what in ((~np.isfinite(a), "NaN or inf"), (low, "values < 0" if m == "sensitivity" else "values <= 0")):
                if bad.any():
                    raise ValueError(f"{m} of layer {self.layers[int(np.argmax(bad.any(1)))]!r} has {what}")
            setattr(self, m, a)
        index = {n: i for i, n in enumerate(self.layers)}
        label = np.arange(L)  # each layer carries the smallest layer index of its group; overlapping groups merge
        for group in self.ties:
            unknown = [n for n in group if n not in index]
            if unknown:
                raise ValueError(f"tie group {list(group)} names unknown layer {unknown[0]!r}")
            hit = np.isin(label, label[[index[n] for n in group]])
            label[hit] = label[hit].min()
        self.groups = [np.flatnonzero(label == v).tolist() for v in sorted(set(label.tolist()))]
        self.ties = [[self.layers[i] for i in g] for g in self.groups if len(g) > 1]

    def grouped(self, metric: str) -> np.ndarray:
        """G x P table: a tie group's cost is the sum over its members."""
        a = getattr(self, metric)
        return np.array([a[g].sum(0) for g in self.groups])


@dataclass
class Allocation:
    status: str
    plan: dict[str, str] | None
    objective: float | None
    latency: float | None
    size: float | None
    solve_seconds: float
    budgets: dict
    smallest_feasible: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _plan(problem: Problem, choice) -> dict[str, str]:
    by_layer = {i: problem.precisions[int(p)] for g, p in zip(problem.groups, choice) for i in g}
    return {n: by_layer[i] for i, n in enumerate(problem.layers)}


def plan_cost(problem: Problem, plan: dict, metric: str) -> float:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    col = {p: j for j, p in enumerate(problem.precisions)}
    a = getattr(problem, metric)
    return float(sum(a[i, col[plan[n]]] for i, n in enumerate(problem.layers)))


def budget_from_fraction(problem: Problem, metric: str, fraction: float) -> float:
    """metric 'latency' or 'size'. fraction 0 = cost of the uniform all-lowest-precision plan (last in
    problem.precisions), 1 = cost of uniform all-highest (first); linear in between, extrapolated outside."""
    lo = plan_cost(problem, dict.fromkeys(problem.layers, problem.precisions[-1]), metric)
    hi = plan_cost(problem, dict.fromkeys(problem.layers, problem.precisions[0]), metric)
    return lo + float(fraction) * (hi - lo)


def _budgets(latency_budget, size_budget) -> dict:
    return {"latency": None if latency_budget is None else float(latency_budget),
            "size": None if size_budget is None else float(size_budget)}


def _allocation(problem, status, choice, seconds, budgets, smallest=None) -> Allocation:
    plan = None if choice is None else _plan(problem, choice)
    cost = {m: None if plan is None else plan_cost(problem, plan, m) for m in METRICS}
    return Allocation(status, plan, cost["sensitivity"], cost["latency"], cost["size"], seconds, budgets, smallest or {})


def _below_min(problem: Problem, budgets: dict) -> bool:
    # the sum of per-group minima is a lower bound for any plan: a cheap infeasibility proof without CBC
    return any(b is not None and problem.grouped(m).min(1).sum() > _slack(b) for m, b in budgets.items())


def _mip(problem: Problem, objective: str, budgets: dict, time_limit=None):
    """min objective over one-hot x[g, p] (one variable set per tie group) under {metric: budget}."""
    G, P = len(problem.groups), len(problem.precisions)
    lp = pulp.LpProblem("ohq_bits", pulp.LpMinimize)
    # PuLP >= 3.3 wants variables made by the model; older PuLP (>= 2.7 allowed) only has LpVariable
    new = getattr(lp, "add_variable", None) or (lambda name, cat: pulp.LpVariable(name, cat=cat))
    x = [[new(f"x_{g}_{p}", cat="Binary") for p in range(P)] for g in range(G)]

    def total(metric):
        a = problem.grouped(metric)
        return pulp.lpSum(float(a[g, p]) * x[g][p] for g in range(G) for p in range(P))
    lp += total(objective)
    for g in range(G):
        lp += pulp.lpSum(x[g]) == 1
    for m, b in budgets.items():
        if b is not None:
            lp += total(m) <= b
    with warnings.catch_warnings():  # PuLP 3.3 flags PULP_CBC_CMD for 4.0, but it is the only bundled CBC
        warnings.simplefilter("ignore", DeprecationWarning)
        cbc = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit)
    t0 = time.perf_counter()
    lp.solve(cbc)
    seconds = time.perf_counter() - t0
    status = pulp.LpStatus[lp.status]
    choice = [max(range(P), key=lambda p: x[g][p].value() or 0.0) for g in range(G)] if status == "Optimal" else None
    return status, choice, seconds


def _smallest_feasible(problem: Problem, budgets: dict) -> dict:
    """Smallest latency reachable under the size budget alone, and vice versa (None: that budget alone fails)."""
    out = {}
    for m, other in (("latency", "size"), ("size", "latency")):
        only = {other: budgets[other]}
        if _below_min(problem, only):
            out[m] = None
            continue
        status, choice, _ = _mip(problem, m, only)
        out[m] = plan_cost(problem, _plan(problem, choice), m) if status == "Optimal" else None
    return out


def solve(problem: Problem, latency_budget: float | None = None, size_budget: float | None = None,
          time_limit: float | None = None) -> Allocation:
    """Binary x[g, p] per tie group, sum_p x = 1, minimise summed sensitivity under the optional budgets (CBC)."""
    budgets = _budgets(latency_budget, size_budget)
    t0 = time.perf_counter()
    if _below_min(problem, budgets):
        status, choice, seconds = "Infeasible", None, time.perf_counter() - t0
    else:
        status, choice, seconds = _mip(problem, "sensitivity", budgets, time_limit)
    smallest = _smallest_feasible(problem, budgets) if status == "Infeasible" else {}
    return _allocation(problem, status, choice, seconds, budgets, smallest)


def brute_force(problem: Problem, latency_budget=None, size_budget=None) -> Allocation:
    """Exhaustive search over all P**G plans; ties broken by lowest objective, then latency, then lexicographic."""
    G, P = len(problem.groups), len(problem.precisions)
    if P ** G > 5e7:
        raise ValueError(f"brute force over {P}**{G} = {P ** G:.3g} plans exceeds the 5e7 limit")
    t0 = time.perf_counter()
    budgets = _budgets(latency_budget, size_budget)
    tabs = {m: problem.grouped(m) for m in METRICS}
    inner = G  # the trailing `inner` groups are enumerated as one numpy array (<= 2**20 plans) per outer assignment
    while inner > 0 and P ** inner > 2 ** 20:
        inner -= 1

    def table(rows):  # costs of every assignment of these groups, first group most significant
        t = np.zeros(1)
        for row in rows:
            t = (t[:, None] + row[None, :]).ravel()
        return t
    inn = {m: table(tabs[m][G - inner:]) for m in METRICS}
    best, low = None, {"latency": np.inf, "size": np.inf}
    for k, outer in enumerate(itertools.product(range(P), repeat=G - inner)):
        cost = {m: inn[m] + sum(tabs[m][g, p] for g, p in enumerate(outer)) for m in METRICS}
        ok = {m: cost[m] <= _slack(b) if b is not None else np.ones(len(inn[m]), bool) for m, b in budgets.items()}
        low["latency"] = min(low["latency"], cost["latency"].min(where=ok["size"], initial=np.inf))
        low["size"] = min(low["size"], cost["size"].min(where=ok["latency"], initial=np.inf))
        feasible = ok["latency"] & ok["size"]
        if feasible.any():
            s_min = cost["sensitivity"][feasible].min()
            tied = feasible & (cost["sensitivity"] == s_min)
            l_min = cost["latency"][tied].min()
            j = int(np.flatnonzero(tied & (cost["latency"] == l_min))[0])
            cand = (s_min, l_min, k, j)  # (k, j) order is lexicographic plan order
            best = cand if best is None or cand < best else best
    seconds = time.perf_counter() - t0
    if best is None:
        smallest = {m: float(v) if np.isfinite(v) else None for m, v in low.items()}
        return _allocation(problem, "Infeasible", None, seconds, budgets, smallest)
    choice = np.unravel_index(best[2] * P ** inner + best[3], (P,) * G)
    return _allocation(problem, "Optimal", choice, seconds, budgets)


def random_plans(problem: Problem, n: int, latency_budget=None, size_budget=None, seed: int = 0,
                 max_tries: int = 100000) -> list[dict]:
    """n distinct random plans (respecting ties) meeting the budgets; deterministic for a seed.

    Groups are filled in a random order, each drawing a precision with per-draw random weights that
    favour cheap precisions, among those that still leave room for the cheapest choice of the
    remaining groups; so a tight single budget (almost) never rejects, two budgets rarely do."""
    rng = np.random.default_rng(seed)
    G, P = len(problem.groups), len(problem.precisions)
    budgets = {m: b for m, b in _budgets(latency_budget, size_budget).items() if b is not None}
    if _below_min(problem, budgets):
        return []
    tabs = {m: problem.grouped(m) for m in budgets}
    score = sum((tabs[m] / max(abs(b), 1e-12) for m, b in budgets.items()), np.zeros((G, P))) - 1e-9 * np.arange(P)
    rank = score.argsort(1, kind="stable").argsort(1)  # 0 = cheapest precision of the group
    found, seen, tries = [], set(), 0
    while len(found) < n and tries < max_tries:
        B = min(256, max_tries - tries)
        tries += B
        rows = np.arange(B)
        w = -np.sort(-rng.dirichlet(np.ones(P), size=B), axis=1)  # largest weight goes to the cheapest
        order = rng.permuted(np.tile(np.arange(G), (B, 1)), axis=1)
        u = rng.random((B, G))
        spent = {m: np.zeros(B) for m in budgets}
        rest = {m: np.full(B, tabs[m].min(1).sum()) for m in budgets}
        choice = np.zeros((B, G), int)
        for t in range(G):
            g = order[:, t]
            prob = np.take_along_axis(w, rank[g], axis=1)
            for m, b in budgets.items():
                rest[m] = rest[m] - tabs[m][g].min(1)
                prob = np.where(spent[m][:, None] + tabs[m][g] + rest[m][:, None] <= _slack(b), prob, 0.0)
            dead = prob.sum(1) == 0  # nothing fits (two budgets pulling apart): take the cheapest, reject later
            prob[dead] = rank[g][dead] == 0
            cdf = prob.cumsum(1) / prob.sum(1, keepdims=True)
            p = np.minimum((u[:, t, None] > cdf).sum(1), P - 1)
            choice[rows, g] = p
            for m in budgets:
                spent[m] += tabs[m][g, p]
        ok = np.all([spent[m] <= _slack(b) for m, b in budgets.items()], axis=0) if budgets else np.ones(B, bool)
        for r in np.flatnonzero(ok):
            key = tuple(choice[r])
            if key not in seen and len(found) < n:
                seen.add(key)
                found.append(_plan(problem, key))
    return found
