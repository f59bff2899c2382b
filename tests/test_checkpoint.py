import subprocess
import sys

import pytest
import torch

from qrobust.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from qrobust.models import create_model
from qrobust.quant import QuantConfig, quantize_

SPEC = {"model": {"name": "small_cnn", "num_classes": 10, "in_channels": 1, "act": "relu6", "width": 4, "hidden": 8},
        "quant": {"act_bits": 3, "weight_bits": None}}


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    model = quantize_(create_model(**SPEC["model"]), QuantConfig(act_bits=3))
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, SPEC, extra={"run": {"seed": 0}})
    return path, model


def test_round_trip_gives_the_same_outputs_and_loads_weights_only(ckpt):
    path, model = ckpt
    loaded, blob = load_checkpoint(path)
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(loaded(x), model.eval()(x))
    assert torch.load(path, weights_only=True)["spec"] == SPEC
    assert [m.bits for m in loaded.modules() if hasattr(m, "bits")] == [3, 3, 3]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_format"])
def test_corrupted_checkpoint_is_named_in_one_line(ckpt, damage):
    path, _ = ckpt
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    else:
        torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value) and f"`snakemake {path} --force --cores 1` remakes it" in str(e.value)


def test_cli_reports_a_corrupted_checkpoint_and_writes_nothing(ckpt, tmp_path):
    path, _ = ckpt
    path.write_bytes(b"\x00" * 64)
    out = tmp_path / "eval.json"
    r = subprocess.run([sys.executable, "-m", "qrobust.cli", "evaluate", "--cfg", '{"attack": {"name": "fgsm", "eps": 0.1}}',
                        "--data", str(tmp_path / "nodata"), "--checkpoint", str(path), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "corrupted" in r.stderr
    assert not out.exists()
