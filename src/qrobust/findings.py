"""What the claims job writes for people: `results/claims.md`, a summary read in one screen (one line per claim,
grouped by paper: verdict and effect with its interval), then one short section per claim (its evidence, the
models behind it and their masking flags); and `results/findings.md`, the block README shows (`qrobust docs`
copies it there), counts per paper and the run's scale, from the run's own claims.csv. `results/claims.csv` keeps
every column for machines."""
from __future__ import annotations

import pandas as pd

SUMMARY_HEADER = 4  # the title, a blank line, the table's header and its rule
SHORT = 72  # characters of a claim's text in the summary


def short(text: str) -> str:
    """A claim's sentence cut to its first clause, at most SHORT characters, on a word boundary."""
    head = text.split(" (")[0].split(": ")[0].rstrip(".")
    if len(head) <= SHORT:
        return head
    return head[:SHORT].rsplit(" ", 1)[0] + "..."


def effect_text(row) -> str:
    """"+22.3 [14.1, 30.5]"; a ranking: "93 % of resamples"; "" when the claim did not run."""
    if pd.isna(row.effect):
        return ""
    if row.kind == "ranking":
        return f"order in {row.effect:.0f} % of resamples"
    if pd.isna(row.ci_low):
        return f"{row.effect:+.1f}"
    return f"{row.effect:+.1f} [{row.ci_low:+.1f}, {row.ci_high:+.1f}]"


def scale(df: pd.DataFrame) -> str:
    """"3 seeds, up to 1,000 images" from the claims that ran."""
    ran = df[df.n_seeds.notna()]
    if ran.empty:
        return "no claim ran"
    seeds = sorted({int(s) for s in ran.n_seeds})
    images = int(ran.n_images.max())
    return f"{'/'.join(map(str, seeds))} seed(s), up to {images:,} test images per claim"


def summary(df: pd.DataFrame, host: str) -> str:
    """claims.md: the one-screen summary (SUMMARY_HEADER lines, then one per claim), then each claim's section."""
    lines = [f"# Claims ({scale(df)}; {host})", "",
             "| paper | claim | verdict | effect [95 % interval] |", "|---|---|---|---|"]
    for r in df.itertuples(index=False):
        verdict = r.verdict + ("" if r.published else " (qrobust's own question)")
        lines.append(f"| {r.paper} | {short(r.claim)} | {verdict} | {effect_text(r)} |")
    lines += ["", "Effects in accuracy points (relative corruption accuracy in %, latency in % of INT8's),",
              "positive when they support the finding; the interval covers training seeds and test images",
              "(docs/statistics.md).", "", "## Each claim", ""]
    for r in df.itertuples(index=False):
        lines += [f"### {r.id}", "", f"{r.paper}, {r.source}: {r.claim}", ""]
        facts = [f"**{r.verdict}**" + (f" ({r.note})" if isinstance(r.note, str) and r.note else "")]
        if not pd.isna(r.effect):
            facts.append(f"effect {effect_text(r)}, delta {r.delta:g}, {r.kind}")
            facts.append(f"Holm-adjusted p {r.p_adj:.3g}, {int(r.n_seeds)} seed(s), {int(r.n_images):,} images")
        if isinstance(r.needed, str) and r.needed:
            facts.append(f"would be decided by {r.needed}")
        lines += ["; ".join(facts) + ".", "", f"Evidence: {r.evidence}", ""]
        if isinstance(r.masking, str) and r.masking:
            lines += ["Masking flags of the models behind it: " + r.masking, ""]
    return "\n".join(lines).rstrip() + "\n"


def power(df: pd.DataFrame, host: str) -> str:
    """results/power.md: per claim that ran with two seeds or more, what this run could see: its seeds and
    images per seed, the deciding statistic's seed and within-seed (image) standard deviations, the effect
    this design detects at 80 % power beside the claim's delta, and the sample that would detect delta."""
    from qrobust import stats

    lines = [f"Power of this run ({scale(df)}; {host}). SD seed / SD image: the deciding statistic's standard",
             "deviation between seeds and between images within a seed, in its units (accuracy points for most",
             "claims; docs/statistics.md); detectable: the effect these seeds x images separate from none with",
             "80 % power; delta: the claim's smallest effect of interest.", "",
             "| claim | seeds | images | SD seed | SD image | detectable | delta | detects delta |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in df.itertuples(index=False):
        if pd.isna(r.detectable):
            continue
        est = stats.Estimate(0.0, 0.0, 0.0, 0.0, 1.0, int(r.n_seeds), int(r.n_images), float(r.n_per_seed),
                             r.sd_seed ** 2, r.sd_within ** 2, False)
        per_seed = int(r.n_per_seed)
        need = "yes" if r.detectable <= r.delta else (stats.needed(est, r.delta, [per_seed, 4 * per_seed]) or "")
        lines.append(f"| {r.id} | {int(r.n_seeds)} | {per_seed:,} | {r.sd_seed:.1f} | {r.sd_within:.1f} | "
                     f"{r.detectable:.1f} | {r.delta:g} | {need} |")
    return "\n".join(lines) + "\n"


def block(df: pd.DataFrame, host: str) -> str:
    """results/findings.md: the published findings' verdicts per paper, then qrobust's own questions apart."""
    pub = df[df.published.astype(str).str.lower() == "true"]
    own = df[df.published.astype(str).str.lower() != "true"]
    verdicts = ["holds", "fails", "inconclusive", "masked", "not run"]
    lines = [f"{len(pub)} published findings judged ({scale(df)}; {host}):", "",
             "| paper | findings | " + " | ".join(verdicts) + " |", "|---|---:|" + "---:|" * len(verdicts)]
    for paper, g in pub.groupby("paper", sort=False):
        counts = g.verdict.value_counts()
        lines.append(f"| {paper} | {len(g)} | " + " | ".join(str(int(counts.get(v, 0))) for v in verdicts) + " |")
    decided = pub[pub.verdict.isin(["holds", "fails"])]
    if len(decided):
        lines += ["", "Decided: " + "; ".join(f"{r.id} {r.verdict} ({effect_text(r)})" for r in decided.itertuples()) + "."]
    if len(own):
        lines += ["", "qrobust's own question" + ("s" if len(own) > 1 else "") + ": "
                  + "; ".join(f"{r.id} {r.verdict}" for r in own.itertuples()) + "."]
    return "\n".join(lines) + "\n"


def host_name() -> str:
    """The CPU (model and instruction set) that judged the claims, as the provenance records name it."""
    from qrobust.runtime.hardware import cpu_record

    cpu = cpu_record()
    isa = cpu.get("torch_capability")
    return f"{cpu['model']}{f' ({isa})' if isa else ''}, {cpu['cores']} cores"


def is_summary_line(line: str) -> bool:
    return line.startswith("| ") and not line.startswith("| paper |")


def count_rows(text: str) -> int:
    """Claim rows of a summary (for tests and checks)."""
    head = text.split("\n## ", 1)[0]
    return sum(is_summary_line(ln) for ln in head.splitlines())
