# qrobust: regenerate the tables and figures of quantization/robustness papers.
#   snakemake --cores 2 results/table1.csv results/figures/fig1.png
#   snakemake --cores 2 results/table6.csv results/quantizers.csv    (issue 4: OHQ-LP, PTQ/QAT)
#   snakemake --cores 2 --configfile config/paper.yaml results/table1.csv   (GPU scale: --profile workflow/profiles/slurm)


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/quantize.smk"
include: "workflow/rules/ohq.smk"
include: "workflow/rules/robust.smk"
include: "workflow/rules/noise.smk"
include: "workflow/rules/table7.smk"
include: "workflow/rules/table8.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        "results/table1.csv",
        "results/figures/fig1.png",
        "results/quantizers.csv",
        "results/table6.csv",
        "results/figures/pareto.png",
        "results/table2.csv",
        "results/table3.csv",
        "results/table4.csv",
        "results/table5.csv",
        "results/table7.csv",
        "results/table8.csv",
        "results/figures/corruptions.png",
        "results/figures/sysnoise.png",
        "results/figures/fig3.png",
        "results/figures/beta_sweep.png",
        "results/claims.csv",
