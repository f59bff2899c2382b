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


rule table2:
    input:
        src=TABLE_SRC,
        metrics=table2_metrics,
    output:
        csv=report(
            "results/table2.csv", caption="../report/table2.rst", category="Tables 2-4"
        ),
        long="results/table2_long.csv",
        md="results/table2.md",
        tex="results/table2.tex",
        prov="results/provenance/table2.json",
    log:
        "logs/report/table2.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust table table2 --cfg '{{}}' --out {output.csv} --prov {output.prov} --rule table2 {input.metrics} 2> {log}"


rule table3:
    input:
        src=TABLE_SRC,
        metrics=table3_metrics,
    output:
        csv=report(
            "results/table3.csv", caption="../report/table3.rst", category="Tables 2-4"
        ),
        long="results/table3_long.csv",
        md="results/table3.md",
        tex="results/table3.tex",
        prov="results/provenance/table3.json",
    log:
        "logs/report/table3.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust table table3 --cfg '{{}}' --out {output.csv} --prov {output.prov} --rule table3 {input.metrics} 2> {log}"


rule table4:
    input:
        src=TABLE_SRC,
        metrics=table4_metrics,
    output:
        csv=report(
            "results/table4.csv", caption="../report/table4.rst", category="Tables 2-4"
        ),
        long="results/table4_long.csv",
        md="results/table4.md",
        tex="results/table4.tex",
        prov="results/provenance/table4.json",
    log:
        "logs/report/table4.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust table table4 --cfg '{{}}' --out {output.csv} --prov {output.prov} --rule table4 {input.metrics} 2> {log}"


rule table5:
    input:
        src=TABLE_SRC,
        metrics=table5_inputs,
    output:
        csv=report(
            "results/table5.csv", caption="../report/table5.rst", category="Table 5"
        ),
        long="results/table5_long.csv",
        md="results/table5.md",
        tex="results/table5.tex",
        prov="results/provenance/table5.json",
    log:
        "logs/report/table5.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust table table5 --cfg '{{}}' --out {output.csv} --prov {output.prov} --rule table5 {input.metrics} 2> {log}"


rule noise_figure:
    input:
        src=FIGURE_SRC,
        long="results/table5_long.csv",
    output:
        png=report(
            "results/figures/{fig}.png",
            caption="../report/{fig}.rst",
            category="Table 5",
        ),
        pdf="results/figures/{fig}.pdf",
        prov="results/provenance/{fig}.json",
    log:
        "logs/report/{fig}.log",
    wildcard_constraints:
        fig="corruptions|sysnoise",
    conda:
        "../../environment.yml"
    shell:
        "qrobust figure {wildcards.fig} --input {input.long} --out {output.png} --prov {output.prov} --rule noise_figure 2> {log}"


rule claims:
    input:
        src=CLAIMS_SRC,
        tables=[f"results/{t}_long.csv" for t in CLAIM_TABLES],
    output:
        csv=report(
            "results/claims.csv", caption="../report/claims.rst", category="Claims"
        ),
        md="results/claims.md",
        prov="results/provenance/claims.json",
    log:
        "logs/report/claims.log",
    conda:
        "../../environment.yml"
    params:
        tables=lambda w, input: " ".join(
            f"{t}={p}" for t, p in zip(CLAIM_TABLES, input.tables)
        ),
    shell:
        "qrobust claims --out {output.csv} --prov {output.prov} --rule claims {params.tables} 2> {log}"


rule act_distance:
    input:
        src=ACT_DIST_SRC,
        ckpts=lambda w: [
            f"results/checkpoints/vanilla_beta0_a{bits_tag(b)}_s{config['seeds'][0]}.pt"
            for b in config["quant"]["act_bits"]
        ],
        data=f"{DATA_DIR}/test.pt",
    output:
        json="results/metrics/act_distance.json",
        prov="results/provenance/act_distance.json",
    log:
        "logs/act_distance.log",
    conda:
        "../../environment.yml"
    params:
        cfg=lambda w: json.dumps(
            {
                "eps": [0.0] + config["robustness"]["eps"],
                "n_images": 500,
                **{k: config[k] for k in ("device", "threads")},
            },
            sort_keys=True,
        ),
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust act-distance --cfg {params.cfg:q} --data {params.data} --out {output.json} --prov {output.prov}"
        " --rule act_distance {input.ckpts} 2> {log}"


rule fig3:
    input:
        src=FIGURE_SRC,
        json="results/metrics/act_distance.json",
    output:
        png=report(
            "results/figures/fig3.png",
            caption="../report/fig3.rst",
            category="Table 1",
        ),
        pdf="results/figures/fig3.pdf",
        prov="results/provenance/fig3.json",
    log:
        "logs/report/fig3.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust figure fig3 --input {input.json} --out {output.png} --prov {output.prov} --rule fig3 2> {log}"


rule beta_sweep:
    input:
        src=FIGURE_SRC,
        long="results/table1_long.csv",
    output:
        png=report(
            "results/figures/beta_sweep.png",
            caption="../report/beta_sweep.rst",
            category="Table 1",
        ),
        pdf="results/figures/beta_sweep.pdf",
        prov="results/provenance/beta_sweep.json",
    log:
        "logs/report/beta_sweep.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust figure beta_sweep --input {input.long} --out {output.png} --prov {output.prov} --rule beta_sweep 2> {log}"


rule table7:
    input:
        src=TABLE_SRC,
        metrics=table7_metrics,
    output:
        csv=report(
            "results/table7.csv", caption="../report/table7.rst", category="Table 7"
        ),
        long="results/table7_long.csv",
        md="results/table7.md",
        tex="results/table7.tex",
        prov="results/provenance/table7.json",
    log:
        "logs/report/table7.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust table table7 --cfg '{{}}' --out {output.csv} --prov {output.prov} --rule table7 {input.metrics} 2> {log}"


rule table8:
    input:
        src=TABLE_SRC,
        metrics=lambda w: [
            f"results/metrics/qu_anti/{m}_s{s}.json"
            for m in ["clean"] + config["table8"]["modes"]
            for s in config["seeds"]
        ],
    output:
        csv=report(
            "results/table8.csv", caption="../report/table8.rst", category="Table 8"
        ),
        long="results/table8_long.csv",
        md="results/table8.md",
        tex="results/table8.tex",
        prov="results/provenance/table8.json",
    log:
        "logs/report/table8.log",
    conda:
        "../../environment.yml"
    shell:
        "qrobust table table8 --cfg '{{}}' --out {output.csv} --prov {output.prov} --rule table8 {input.metrics} 2> {log}"
