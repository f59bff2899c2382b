"""Shared fixtures: a tiny model trained once per session on real mnist5k images."""
from __future__ import annotations

import pytest
import torch

from qrobust.datasets import DATASETS
from qrobust.models import create_model
from qrobust.runtime.seeding import seed_everything
from qrobust.training.loop import TrainConfig, train


@pytest.fixture(scope="session")
def mnist_small():
    train_split, test_split = DATASETS.get("mnist5k")(None, seed=0, n_train=800, n_test=200)
    return train_split, test_split


@pytest.fixture(scope="session")
def trained_small_cnn(mnist_small):
    """A small CNN with 4-bit ReLU6 activations, trained for 3 epochs (~3 s on CPU)."""
    train_split, _ = mnist_small
    g = seed_everything(0)
    model = create_model("small_cnn", num_classes=10, in_channels=1, act="relu6", width=8, hidden=32,
                         mean=[0.13], std=[0.31])
    from qrobust.quant import QuantConfig, quantize_
    quantize_(model, QuantConfig(act_bits=4))
    train(model, train_split.x, train_split.y, TrainConfig(epochs=3, batch_size=32, lr=0.05), g,
          torch.device("cpu"), progress=False)
    return model.eval()


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory):
    """The tiny table1 DAG run twice from scratch in two scratch copies (shared by the DAG tests)."""
    from _helpers import copy_workflow, run

    a = copy_workflow(tmp_path_factory.mktemp("run_a"))
    b = copy_workflow(tmp_path_factory.mktemp("run_b"))
    run(a)
    run(b)
    return a, b


@pytest.fixture
def finished(two_runs, tmp_path):
    """A private copy of a finished tiny run (mtimes and Snakemake metadata kept), free to edit."""
    import shutil

    return shutil.copytree(two_runs[0], tmp_path / "copy", symlinks=True)




@pytest.fixture(scope="session")
def ohq_run(two_runs, tmp_path_factory):
    """A copy of the finished tiny table1 run, then the quantizer and OHQ targets on top (reusing its float checkpoint)."""
    import shutil

    from _helpers import OHQ_TARGETS, snakemake

    wd = shutil.copytree(two_runs[0], tmp_path_factory.mktemp("ohq") / "wf", symlinks=True)
    r = snakemake(wd, *OHQ_TARGETS, "--cores", "2", "--configfile", "config/tiny.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    return wd, r
