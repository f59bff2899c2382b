"""OHQ/HAWQ-V3 bit allocation: the CBC integer program against exhaustive search on small random problems."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from qrobust.papers.ohq.allocate import Problem, brute_force, budget_from_fraction, plan_cost, random_plans, solve

PRECISIONS = ["int8", "int4", "int2"]


def make_problem(n_layers: int, seed: int, ties: bool = False, precisions=PRECISIONS) -> Problem:
    """Sensitivity falls with precision, latency and size rise, with per-layer noise so the optimum is not uniform."""
    rng = np.random.default_rng(seed)
    P = len(precisions)
    rel = np.linspace(1.0, 0.25, P)                                   # cost relative to the highest precision
    sens = rng.lognormal(0, 0.7, (n_layers, 1)) * np.linspace(0.01, 1.0, P) ** 1.5 * rng.uniform(0.7, 1.3, (n_layers, P))
    lat = rng.lognormal(0, 0.5, (n_layers, 1)) * rel * rng.uniform(0.85, 1.15, (n_layers, P))
    size = rng.lognormal(0, 0.8, (n_layers, 1)) * rel
    layers = [f"layer{i}" for i in range(n_layers)]
    groups = [layers[1:4:2], layers[2:n_layers:3]] if ties and n_layers >= 5 else []  # {1, 3}, {2, 5, 8, ...}
    return Problem(layers, list(precisions), sens, lat, size, ties=groups)


def assert_ties(problem: Problem, plan: dict) -> None:
    for group in problem.ties:
        assert len({plan[n] for n in group}) == 1, (group, plan)


def assert_within(problem: Problem, plan: dict, latency=None, size=None) -> None:
    for metric, b in (("latency", latency), ("size", size)):
        if b is not None:
            assert plan_cost(problem, plan, metric) <= b * (1 + 1e-9), (metric, b)


CASES = [(n, seed, ties) for seed, (n, ties) in enumerate([(3, False), (5, True), (6, False), (7, True),
                                                           (8, False), (9, True), (10, False), (10, True)])]


@pytest.mark.parametrize("n_layers,seed,ties", CASES)
@pytest.mark.parametrize("which", ["latency", "size", "both"])
def test_solve_matches_brute_force(n_layers, seed, ties, which):
    problem = make_problem(n_layers, seed, ties)
    frac = np.random.default_rng(100 + seed).uniform(0.2, 0.7, 2)
    lat = budget_from_fraction(problem, "latency", frac[0]) if which in ("latency", "both") else None
    size = budget_from_fraction(problem, "size", frac[1]) if which in ("size", "both") else None
    got, ref = solve(problem, lat, size), brute_force(problem, lat, size)
    assert got.status == ref.status == "Optimal"
    assert got.objective == pytest.approx(ref.objective, rel=1e-7, abs=1e-9)
    assert got.objective == pytest.approx(plan_cost(problem, got.plan, "sensitivity"))
    for alloc in (got, ref):
        assert set(alloc.plan) == set(problem.layers)
        assert_within(problem, alloc.plan, lat, size)
        assert_ties(problem, alloc.plan)
    assert got.budgets == {"latency": lat, "size": size} and got.smallest_feasible == {}
    # the budget binds: the unconstrained optimum (all highest precision) would break it
    assert got.objective > brute_force(problem).objective


def test_brute_force_in_chunks_matches_solve():
    # 4**11 = 4.2M plans: more than one 2**20 chunk, so the outer loop over leading groups is exercised
    problem = make_problem(11, seed=1, precisions=["fp32", "int8", "int4", "int2"])
    lat, size = budget_from_fraction(problem, "latency", 0.45), budget_from_fraction(problem, "size", 0.3)
    ref, got = brute_force(problem, lat, size), solve(problem, lat, size)
    assert ref.status == got.status == "Optimal"
    assert ref.objective == pytest.approx(got.objective, rel=1e-7)
    assert_within(problem, ref.plan, lat, size)
    assert ref.objective == pytest.approx(plan_cost(problem, ref.plan, "sensitivity"))


def test_ties_merge_and_share_precision():
    problem = make_problem(6, seed=3)
    problem = Problem(problem.layers, problem.precisions, problem.sensitivity, problem.latency, problem.size,
                      ties=[["layer0", "layer2"], ["layer2", "layer5"], ["layer3", "layer4"]])
    assert problem.ties == [["layer0", "layer2", "layer5"], ["layer3", "layer4"]]
    assert len(problem.groups) == 3                       # {0,2,5}, {1}, {3,4}: 3 variable sets, not 6
    for frac in (0.1, 0.4, 0.8):
        alloc = solve(problem, latency_budget=budget_from_fraction(problem, "latency", frac), time_limit=30)
        assert alloc.status == "Optimal"
        assert_ties(problem, alloc.plan)
        assert alloc.objective == pytest.approx(brute_force(problem, budget_from_fraction(problem, "latency", frac)).objective)


def test_infeasible_latency_reports_smallest_feasible():
    problem = make_problem(7, seed=11, ties=True)
    size = budget_from_fraction(problem, "size", 0.3)
    alloc = solve(problem, latency_budget=0.5 * problem.latency.min(1).sum(), size_budget=size)
    assert alloc.status == "Infeasible"
    assert alloc.plan is None and alloc.objective is None and alloc.latency is None
    assert alloc.smallest_feasible["size"] is None        # the latency budget alone cannot be met
    smallest = alloc.smallest_feasible["latency"]
    assert smallest == pytest.approx(brute_force(problem, 0.5 * problem.latency.min(1).sum(), size).smallest_feasible["latency"])
    ok = solve(problem, latency_budget=smallest, size_budget=size)
    assert ok.status == "Optimal" and ok.latency <= smallest * (1 + 1e-9)
    assert solve(problem, latency_budget=smallest * (1 - 1e-6), size_budget=size).status == "Infeasible"
    json.dumps(alloc.to_dict())
    json.dumps(ok.to_dict())


def test_jointly_infeasible_budgets_go_through_cbc():
    # int8 is fast but big, int4 slow but small: each budget alone is met, both together are not
    problem = Problem(["a", "b"], ["int8", "int4"], np.array([[0.0, 1.0], [0.0, 1.0]]),
                      latency=np.array([[1.0, 3.0], [1.0, 3.0]]), size=np.array([[4.0, 1.0], [4.0, 1.0]]))
    alloc = solve(problem, latency_budget=3.0, size_budget=3.0)
    assert alloc.status == "Infeasible" and alloc.plan is None
    assert alloc.smallest_feasible == {"latency": 6.0, "size": 8.0}
    assert brute_force(problem, 3.0, 3.0).status == "Infeasible"
    assert solve(problem, latency_budget=4.0, size_budget=5.0).plan in ({"a": "int8", "b": "int4"}, {"a": "int4", "b": "int8"})


def test_brute_force_breaks_ties_by_latency_then_order():
    zero = np.zeros((2, 2))
    flat = Problem(["a", "b"], ["int8", "int4"], zero, latency=np.ones((2, 2)), size=np.ones((2, 2)))
    assert brute_force(flat).plan == {"a": "int8", "b": "int8"}           # all equal: first in order
    faster = Problem(["a", "b"], ["int8", "int4"], zero, latency=np.array([[2.0, 1.0], [1.0, 1.0]]), size=np.ones((2, 2)))
    assert brute_force(faster).plan == {"a": "int4", "b": "int8"}         # equal objective: lower latency wins


def test_budget_from_fraction_endpoints():
    problem = make_problem(8, seed=5, ties=True)
    for metric in ("latency", "size"):
        lo = plan_cost(problem, dict.fromkeys(problem.layers, "int2"), metric)
        hi = plan_cost(problem, dict.fromkeys(problem.layers, "int8"), metric)
        assert lo < hi
        assert budget_from_fraction(problem, metric, 0) == pytest.approx(lo)
        assert budget_from_fraction(problem, metric, 1) == pytest.approx(hi)
        assert budget_from_fraction(problem, metric, 0.25) == pytest.approx(lo + 0.25 * (hi - lo))
        assert budget_from_fraction(problem, metric, -0.5) == pytest.approx(lo - 0.5 * (hi - lo))
        full = solve(problem, **{f"{metric}_budget": budget_from_fraction(problem, metric, 1)})
        assert full.plan == dict.fromkeys(problem.layers, "int8")   # the all-min-sensitivity plan
        assert full.objective == pytest.approx(problem.sensitivity.min(1).sum())


def count_feasible(problem: Problem, latency=None, size=None) -> int:
    """Number of tie-respecting plans meeting the budgets, by enumeration over tie groups."""
    lat, siz = problem.grouped("latency"), problem.grouped("size")
    G, P = lat.shape
    choices = np.array(list(itertools.product(range(P), repeat=G)))
    ok = np.ones(len(choices), bool)
    for table, b in ((lat, latency), (siz, size)):
        if b is not None:
            ok &= table[np.arange(G), choices].sum(1) <= b
    return int(ok.sum())


def test_random_plans_deterministic_distinct_within_budget():
    problem = make_problem(9, seed=2, ties=True)
    lat = budget_from_fraction(problem, "latency", 0.35)
    plans = random_plans(problem, 30, latency_budget=lat, seed=7)
    assert len(plans) == 30
    assert plans == random_plans(problem, 30, latency_budget=lat, seed=7)
    assert plans != random_plans(problem, 30, latency_budget=lat, seed=8)
    assert len({tuple(p.values()) for p in plans}) == 30
    for plan in plans:
        assert list(plan) == problem.layers
        assert_within(problem, plan, latency=lat)
        assert_ties(problem, plan)
    size = budget_from_fraction(problem, "size", 0.3)
    both = random_plans(problem, 20, lat, size, seed=1)
    assert len(both) == 20
    for plan in both:
        assert_within(problem, plan, lat, size)
        assert_ties(problem, plan)


def test_random_plans_find_every_plan_under_a_tight_budget():
    problem = make_problem(9, seed=2, ties=True)             # 6 tie groups: 3**6 = 729 plans
    lat = budget_from_fraction(problem, "latency", 0.15)
    n_feasible = count_feasible(problem, latency=lat)
    assert 5 < n_feasible < 0.05 * 729                      # a uniform draw meets it under 5 % of the time
    plans = random_plans(problem, n_feasible + 10, latency_budget=lat, max_tries=20000)
    assert len({tuple(p.values()) for p in plans}) == len(plans) == n_feasible
    for plan in plans:
        assert_within(problem, plan, latency=lat)


def test_random_plans_stop_when_plans_run_out():
    problem = make_problem(2, seed=4, precisions=["int8", "int4"])
    plans = random_plans(problem, 10, max_tries=3000)                # only 2**2 plans exist
    assert sorted(tuple(p.values()) for p in plans) == [(a, b) for a in ("int4", "int8") for b in ("int4", "int8")]
    assert random_plans(problem, 5, latency_budget=0.1 * problem.latency.min(1).sum()) == []


def test_brute_force_refuses_huge_search():
    problem = make_problem(13, seed=0, precisions=["fp32", "int8", "int4", "int2"])
    with pytest.raises(ValueError, match="5e7"):
        brute_force(problem)                                    # 4**13 = 6.7e7 plans


def test_problem_validation():
    p = make_problem(4, seed=0)
    args = dict(layers=p.layers, precisions=p.precisions, sensitivity=p.sensitivity, latency=p.latency, size=p.size)
    with pytest.raises(ValueError, match=r"latency has shape \(3, 3\), expected \(4, 3\)"):
        Problem(**{**args, "latency": p.latency[:3]})
    with pytest.raises(ValueError, match="'nope'"):
        Problem(**args, ties=[["layer1", "nope"]])
    bad = p.size.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="size of layer 'layer2' has NaN"):
        Problem(**{**args, "size": bad})
    neg = p.sensitivity.copy()
    neg[3, 0] = -1.0
    with pytest.raises(ValueError, match="sensitivity of layer 'layer3'"):
        Problem(**{**args, "sensitivity": neg})
    with pytest.raises(ValueError, match="duplicate layer name 'layer1'"):
        Problem(**{**args, "layers": ["layer0", "layer1", "layer1", "layer3"]})
