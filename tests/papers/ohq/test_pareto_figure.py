"""The Pareto figure (OHQ): readable labels."""


def test_pareto_labels_of_close_uniform_plans_do_not_overlap(monkeypatch, tmp_path):
    import pandas as pd

    from qrobust.papers.ohq import pareto

    rows = [{"plan_id": f"uniform-{p}", "kind": "uniform", "budget": "", "seed": 0, "accuracy": 76.0,
             "latency_ms": lat, "size_bytes": size} for p, lat, size in (("fp32", 1.46, 39208), ("int8", 1.50, 10260))]
    rows.append({"plan_id": "ohq-lat50", "kind": "ohq-lp", "budget": "lat50", "seed": 0, "accuracy": 75.0,
                 "latency_ms": 1.4, "size_bytes": 20000})
    pd.DataFrame(rows).to_csv(tmp_path / "t6_long.csv", index=False)
    figs = []
    monkeypatch.setattr(pareto, "save", lambda fig, out: figs.append(fig))
    pareto.plot(tmp_path / "t6_long.csv", tmp_path / "pareto.png")
    for ax in figs[0].axes:
        offsets = [t.xyann for t in ax.texts]
        assert len(offsets) == 2 and offsets[0][1] != offsets[1][1], offsets
