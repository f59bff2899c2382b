# Defensive Quantization (Lin, Gan, Han, ICLR 2019): Tables 1-4, Figures 1, 3 and 6.
# Which runs each table needs is in qrobust/papers/dq/design.py.
from qrobust.papers.dq import design as dq_design

ACT_DISTANCE_KEY = key("act_distance", config, ["dq.eps", "seeds"], [TRAIN_KEY])
TABLES["table1"] = lambda w: [
    eval_file(TRAIN_KEY, r) for r in dq_design.table1_runs(config)
] + [worst_file(TRAIN_KEY, r) for r in dq_design.table1_runs(config)]
TABLE_CFG["table1"] = lambda: {
    "act_bits": config["quant"]["act_bits"],
    "methods": config["methods"],
}
TABLES["table2"] = lambda w: [
    f(ckpt_key(r), r, d)
    for f in (robust_file, worst_file)
    for r, d in dq_design.table2_runs(config)
]
TABLES["table3"] = lambda w: [
    f(TRAIN_KEY, r)
    for f in (robust_file, worst_file)
    for r in dq_design.table3_runs(config)
]
TABLES["table4"] = lambda w: [
    f(ckpt_key(r), r)
    for f in (robust_file, worst_file)
    for r in dq_design.table4_runs(config)
]
FIGURES["fig1"] = f"{OUT}/table1_long.csv"
FIGURES["beta_sweep"] = f"{OUT}/table1_long.csv"
FIGURES["fig3"] = f"results/metrics/act_distance/{ACT_DISTANCE_KEY}.json"
CLAIM_TABLES += ["table1", "table2", "table3", "table4"]


rule act_distance:
    input:
        # papers/dq/act_distance.py attacks with FGSM, whatever the config says
        src=sources("act_distance", model=[MODEL], attack=["fgsm"]),
        ckpts=lambda w: [
            f"results/checkpoints/{TRAIN_KEY}/{r}.pt"
            for r in dq_design.fig3_runs(config)
        ],
        data=f"{DATA_DIR}/test.pt",
    output:
        json=f"results/metrics/act_distance/{ACT_DISTANCE_KEY}.json",
        prov=f"results/provenance/act_distance/{ACT_DISTANCE_KEY}.json",
    log:
        f"logs/act_distance/{ACT_DISTANCE_KEY}.log",
    conda:
        "../../environment.yml"
    params:
        cfg=lambda w: cfg_json(
            "device", "threads", eps=[0.0] + config["dq"]["eps"], n_images=500
        ),
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust act_distance --cfg {params.cfg:q} --data {params.data} --out {output.json} --prov {output.prov} --prov-io {params.io:q} {input.ckpts} 2> {log}"
