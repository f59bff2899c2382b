"""Training fails loud: a non-finite loss or weight stops it with one line naming the epoch, the step
and the config key to lower, and the train job then writes no checkpoint; a model that ends at
chance fails its job unless train.allow_chance; non-finite numbers never pass the config."""
import json
import subprocess
import sys

import pytest
import torch
import yaml

from qrobust.config import ConfigError, validate_config
from qrobust.models import create_model
from qrobust.runtime import atomic
from qrobust.training.loop import TrainConfig, TrainingDiverged, check_learned, train

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def toy_data(n: int, seed: int):
    """uint8 n x 1 x 8 x 8 images: one fixed random prototype per class plus noise."""
    protos = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(123)) * 0.6 + 0.2
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = (protos[y] + 0.08 * torch.randn(n, 1, 8, 8, generator=g)).clamp(0, 1)
    return (x * 255).round().to(torch.uint8), y


def _model():
    torch.manual_seed(0)
    return create_model("small_cnn", num_classes=10, in_channels=1, act="relu6", width=4, hidden=16,
                        mean=[0.5], std=[0.25])


def test_a_non_finite_loss_stops_training_at_its_step():
    x, y = toy_data(128, 0)
    calls = []

    def extra(model, xb, yb):  # the loss turns NaN at the 7th step (epoch 2, step 3)
        calls.append(1)
        return torch.tensor(float("nan") if len(calls) == 7 else 0.0)

    model = _model()
    with pytest.raises(TrainingDiverged) as e:
        train(model, x, y, TrainConfig(epochs=3, batch_size=32, lr=0.5, lr_key="quantize.qat.lr"),
              torch.Generator().manual_seed(0), torch.device("cpu"), progress=False, extra_loss=extra)
    assert str(e.value) == "training diverged at epoch 2, step 3 (loss nan); lower quantize.qat.lr (now 0.5)"
    assert all(torch.isfinite(p).all() for p in model.parameters())  # stopped before the NaN step


def test_non_finite_weights_stop_training_at_the_end_of_the_epoch():
    x, y = toy_data(64, 0)
    model = _model()
    with torch.no_grad():
        next(model.parameters())[0].fill_(float("inf"))
    with pytest.raises(TrainingDiverged, match=r"training diverged at epoch 1, step \d+ \((loss|weight)"):
        train(model, x, y, TrainConfig(epochs=1, batch_size=32, lr=0.01), torch.Generator().manual_seed(0),
              torch.device("cpu"), progress=False)


def test_a_sane_lr_trains_and_learns():
    x, y = toy_data(256, 0)
    cfg = TrainConfig(epochs=3, batch_size=32, lr=0.05)
    hist = train(_model(), x, y, cfg, torch.Generator().manual_seed(0), torch.device("cpu"), progress=False)
    check_learned(hist, 10, cfg)  # no error
    assert hist[-1]["train_acc"] > 30.0


def test_chance_accuracy_fails_unless_allowed():
    hist = [{"epoch": 1, "loss": 2.3, "reg": 0.0, "train_acc": 10.4}]
    with pytest.raises(ValueError, match=r"ended training at chance \(10.4% training accuracy, 10 classes\).*"
                                         r"train.allow_chance: true"):
        check_learned(hist, 10, TrainConfig())
    check_learned(hist, 10, TrainConfig(allow_chance=True))
    check_learned([{**hist[0], "train_acc": 12.5}], 10, TrainConfig())  # above chance + 2 points


@pytest.mark.parametrize("key, value, shown", [
    (("train", "lr"), float("nan"), "config key 'train.lr': .nan is not a finite number; give a number"),
    (("train", "lr"), float("inf"), "config key 'train.lr': .inf is not a finite number; give a number"),
    (("attack", "eps"), float("nan"), "config key 'attack.eps': .nan is not a finite number; give a number"),
    (("dq", "eps"), [0.1, float("-inf")], "config key 'dq.eps[1]': -.inf is not a finite number; give a number"),
    (("train", "lr"), 1e6, "config key 'train.lr': 1000000.0 is out of range; allowed: 0..10"),
])
def test_non_finite_and_absurd_numbers_never_pass_the_config(key, value, shown):
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    base[key[0]][key[1]] = value
    with pytest.raises(ConfigError) as e:
        validate_config(base)
    assert str(e.value) == shown


def test_the_train_job_writes_no_checkpoint_when_the_model_learns_nothing(tmp_path):
    x, y = toy_data(96, 3)
    data = tmp_path / "data"
    atomic.torch_save(data / "train.pt", {"x": x, "y": y})
    atomic.write_json(data / "meta.json", {"dataset": "toy", "shape": [1, 8, 8], "num_classes": 10, "n_train": 96,
                                        "mean": [0.5], "std": [0.25],
                                        "sha256": {"train.pt": atomic.sha256_file(data / "train.pt")}})
    cfg = {"model": {"name": "small_cnn", "act": "relu6", "kwargs": {"width": 4, "hidden": 16}},
           "train": {"epochs": 2, "batch_size": 32, "lr": 1e6, "momentum": 0.9, "weight_decay": 0.0,
                     "schedule": "cosine", "milestones": [], "gamma": 0.2, "augment": False, "allow_chance": False},
           "quant": {"act_bits": [None], "weight_bits": None}, "device": "cpu", "threads": 1}
    out = tmp_path / "ckpt" / "m.pt"
    r = subprocess.run([sys.executable, "-m", "qrobust.cli", "train", "--cfg", json.dumps(cfg), "--data", str(data),
                        "--method", "vanilla", "--out", str(out), "--metrics", str(tmp_path / "m.json")],
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    # lr 1e6 saturates every ReLU6: the loss stays finite, the model stays at chance
    assert last.startswith("qrobust: error: the model ended training at chance (") and "train.allow_chance: true" in last
    assert not out.exists() and not (tmp_path / "m.json").exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
