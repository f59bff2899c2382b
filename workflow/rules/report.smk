rule table1:
    input:
        src=TABLE_SRC,
        metrics=table1_metrics,
    output:
        csv="results/table1.csv",
        std="results/table1_std.csv",
        long="results/table1_long.csv",
        md="results/table1.md",
        tex="results/table1.tex",
        json="results/table1.json",
        prov="results/provenance/table1.json",
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
        png="results/figures/fig1.png",
        pdf="results/figures/fig1.pdf",
        prov="results/provenance/fig1.json",
    log:
        "logs/report/fig1.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust figure fig1 --input {input.long} --out {output.png} --prov {output.prov} --rule fig1 2> {log}"
