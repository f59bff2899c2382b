# The prepared train/test split every job reads, keyed by the config's data section.


rule prepare_data:
    input:
        src=sources("prepare_data", dataset=[DATASET]),
    output:
        train=f"{DATA_DIR}/train.pt",
        test=f"{DATA_DIR}/test.pt",
        meta=f"{DATA_DIR}/meta.json",
        prov=f"results/provenance/prepare_data/{DATA_KEY}.json",
    log:
        f"logs/prepare_data/{DATA_KEY}.log",
    conda:
        "../../environment.yml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=lambda w: json.dumps(config["data"], sort_keys=True),
        out=lambda w, output: os.path.dirname(output.meta),
        io=prov_io,
    shell:
        "qrobust prepare_data --cfg {params.cfg:q} --out {params.out} --prov {output.prov} --prov-io {params.io:q} 2> {log}"
