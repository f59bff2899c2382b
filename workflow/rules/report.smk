# One rule for every table, one for every figure, the claims and the scorecard; under results/ (or
# results/runs/<run>/ for a named run). Each table's inputs come from its paper's .smk.
# Included last (Snakefile): the rules below read TABLES, FIGURES and CLAIM_TABLES, which the other
# .smk files fill, at parse time.


rule table:
    input:
        src=sources("table", table=lambda w: [w.table]),
        metrics=lambda w: TABLES[w.table](w),
    output:
        csv=report(
            f"{OUT}/{{table}}.csv",
            caption="../report/table.rst",
            category="Tables",
            subcategory="{table}",
        ),
        long=f"{OUT}/{{table}}_long.csv",
        md=f"{OUT}/{{table}}.md",
        tex=f"{OUT}/{{table}}.tex",
        json=f"{OUT}/{{table}}.json",
        ci=f"{OUT}/{{table}}_ci.csv",
        prov=report(
            f"{PROV_OUT}/{{table}}.json",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"artefact": "{table} provenance"},
        ),
    log:
        f"logs/table/{OUT}/{{table}}.log",
    wildcard_constraints:
        table="|".join(TABLES),
    conda:
        "../../environment.yml"
    params:
        cfg=lambda w: cfg_json(**TABLE_CFG.get(w.table, dict)()),
        io=prov_io,
    shell:
        "qrobust table {wildcards.table} --cfg {params.cfg:q} --out {output.csv} --prov {output.prov} --prov-io {params.io:q} {input.metrics} 2> {log}"


rule figure:
    input:
        src=sources("figure", figure=lambda w: [w.fig]),
        data=lambda w: FIGURES[w.fig],
    output:
        png=report(
            f"{OUT}/figures/{{fig}}.png",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{fig}",
        ),
        pdf=f"{OUT}/figures/{{fig}}.pdf",
        prov=report(
            f"{PROV_OUT}/figures/{{fig}}.json",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"artefact": "{fig} provenance"},
        ),
    log:
        f"logs/figure/{OUT}/{{fig}}.log",
    wildcard_constraints:
        fig="|".join(FIGURES),
    conda:
        "../../environment.yml"
    params:
        io=prov_io,
    shell:
        "qrobust figure {wildcards.fig} --input {input.data} --out {output.png} --prov {output.prov} --prov-io {params.io:q} 2> {log}"


rule claims:
    input:
        src=sources("claims"),
        tables=[f"{OUT}/{t}_long.csv" for t in CLAIM_TABLES],
    output:
        csv=report(
            f"{OUT}/claims.csv", caption="../report/claims.rst", category="Claims"
        ),
        md=f"{OUT}/claims.md",
        findings=f"{OUT}/findings.md",
        power=f"{OUT}/power.md",
        # one JSON per paper with claims (verdict counts, headline numbers): dvc.yaml's metrics
        summary=[f"{OUT}/summary/{m}.json" for m in CLAIM_PAPERS],
        prov=f"{PROV_OUT}/claims.json",
    log:
        f"logs/claims/{OUT}.log",
    conda:
        "../../environment.yml"
    params:
        tables=lambda w, input: " ".join(
            f"{t}={p}" for t, p in zip(CLAIM_TABLES, input.tables)
        ),
        summary=lambda w, output: os.path.dirname(output.summary[0]),
        io=prov_io,
    shell:
        "qrobust claims --out {output.csv} --summary {params.summary} --prov {output.prov} --prov-io {params.io:q} {params.tables} 2> {log}"


rule scorecard:
    input:
        src=sources("scorecard"),
        reported=sorted(glob.glob("src/qrobust/papers/*/reported.csv")),
        tables=[f"{OUT}/{t}_long.csv" for t in CLAIM_TABLES],
    output:
        csv=report(
            f"{OUT}/scorecard.csv",
            caption="../report/scorecard.rst",
            category="Claims",
        ),
        md=f"{OUT}/scorecard.md",
        prov=f"{PROV_OUT}/scorecard.json",
    log:
        f"logs/scorecard/{OUT}.log",
    conda:
        "../../environment.yml"
    params:
        cfg=lambda w: cfg_json("data", "model"),
        tables=lambda w, input: " ".join(
            f"{t}={p}" for t, p in zip(CLAIM_TABLES, input.tables)
        ),
        io=prov_io,
    shell:
        "qrobust scorecard --cfg {params.cfg:q} --out {output.csv} --prov {output.prov} --prov-io {params.io:q} {params.tables} 2> {log}"
