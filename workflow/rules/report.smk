rule table1:
    input:
        src=TABLE_SRC,
        metrics=table1_metrics,
    output:
        csv=report(
            "results/table1.csv", caption="../report/table1.rst", category="Table 1"
        ),
        std="results/table1_std.csv",
        long="results/table1_long.csv",
        md="results/table1.md",
        tex="results/table1.tex",
        json="results/table1.json",
        prov=report(
            "results/provenance/table1.json",
            caption="../report/provenance.rst",
            category="Table 1",
            labels={"artefact": "table1 provenance"},
        ),
    log:
        "logs/report/table1.log",
    conda:
        "../../environment.yml"
    params:
        cfg=lambda w: json.dumps(
            {"act_bits": config["quant"]["act_bits"], "methods": config["methods"]},
            sort_keys=True,
        ),
    shell:
        "qrobust table table1 --cfg {params.cfg:q} --out {output.csv} --prov {output.prov} --rule table1 {input.metrics} 2> {log}"


rule fig1:
    input:
        src=FIGURE_SRC,
        long="results/table1_long.csv",
    output:
        png=report(
            "results/figures/fig1.png",
            caption="../report/fig1.rst",
            category="Table 1",
        ),
        pdf="results/figures/fig1.pdf",
        prov=report(
            "results/provenance/fig1.json",
            caption="../report/provenance.rst",
            category="Table 1",
            labels={"artefact": "fig1 provenance"},
        ),
    log:
        "logs/report/fig1.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust figure fig1 --input {input.long} --out {output.png} --prov {output.prov} --rule fig1 2> {log}"


rule quantizers_table:
    input:
        src=TABLE_SRC,
        metrics=quantizers_metrics,
    output:
        csv=report(
            "results/quantizers.csv",
            caption="../report/quantizers.rst",
            category="Quantizers",
        ),
        long="results/quantizers_long.csv",
        md="results/quantizers.md",
        tex="results/quantizers.tex",
        prov="results/provenance/quantizers.json",
    log:
        "logs/report/quantizers.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust table quantizers --cfg '{{}}' --out {output.csv} --prov {output.prov} --rule quantizers_table {input.metrics} 2> {log}"


rule table6:
    input:
        src=TABLE_SRC,
        deploy=expand("results/ohq/s{seed}/deploy.json", seed=config["seeds"]),
    output:
        csv=report(
            "results/table6.csv", caption="../report/table6.rst", category="Table 6"
        ),
        long="results/table6_long.csv",
        md="results/table6.md",
        tex="results/table6.tex",
        json="results/table6.json",
        prov=report(
            "results/provenance/table6.json",
            caption="../report/provenance.rst",
            category="Table 6",
            labels={"artefact": "table6 provenance"},
        ),
    log:
        "logs/report/table6.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust table table6 --cfg '{{}}' --out {output.csv} --prov {output.prov} --rule table6 {input.deploy} 2> {log}"


rule pareto:
    input:
        src=FIGURE_SRC,
        long="results/table6_long.csv",
    output:
        png=report(
            "results/figures/pareto.png",
            caption="../report/pareto.rst",
            category="Table 6",
        ),
        pdf="results/figures/pareto.pdf",
        prov="results/provenance/pareto.json",
    log:
        "logs/report/pareto.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust figure pareto --input {input.long} --out {output.png} --prov {output.prov} --rule pareto 2> {log}"
