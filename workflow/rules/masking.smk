# The gradient-masking audit (qrobust/papers/masking): one row per evaluated model, from the
# worst-case jobs that Tables 1-5 and 7 ask for, and its figure.


def _worst_files(w):
    files = [
        f
        for name in ("table1", "table2", "table3", "table4", "table5", "table7")
        if name in TABLES
        for f in TABLES[name](w)
        if "/metrics/worst/" in f
    ]
    return list(dict.fromkeys(files))


TABLES["masking"] = _worst_files
FIGURES["masking"] = f"{OUT}/masking_long.csv"
CLAIM_TABLES += ["masking"]
