rule prepare_data:
    input:
        DATA_SRC,
    output:
        train=f"{DATA_DIR}/train.pt",
        test=f"{DATA_DIR}/test.pt",
        meta=f"{DATA_DIR}/meta.json",
        prov=f"results/provenance/prepare_data/{DATASET}.json",
    log:
        f"logs/prepare_data/{DATASET}.log",
    conda:
        "../../environment.yml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=lambda w: json.dumps(config["data"], sort_keys=True),
        out=lambda w, output: os.path.dirname(output.meta),
    shell:
        "qrobust prepare-data --cfg {params.cfg:q} --out {params.out} --prov {output.prov} --rule prepare_data 2> {log}"
