# qrobust: regenerate the tables and figures of quantization/robustness papers.
#   snakemake --cores 2 results/table1.csv          one table (its figures: results/figures/*.png)
#   snakemake --cores 2                             everything, claims included
#   snakemake --cores 2 all --configfile config/paper.yaml --profile profiles/slurm
# Targets go before --configfile. A config with `run: NAME` writes its tables to results/runs/NAME/.


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/dq.smk"
include: "workflow/rules/robust_bench.smk"
include: "workflow/rules/ohq.smk"
include: "workflow/rules/li2024.smk"
include: "workflow/rules/qu_anti.smk"
include: "workflow/rules/masking.smk"
# last: report.smk reads TABLES, FIGURES and CLAIM_TABLES, which the includes above fill, while it parses
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets,
