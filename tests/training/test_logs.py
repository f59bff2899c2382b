"""A job's log holds one line per epoch, not a progress bar's carriage returns."""
import subprocess
import sys

CODE = """
import torch
from qrobust.models import create_model
from qrobust.training.loop import TrainConfig, train
from qrobust.evaluation.attack import evaluate
g = torch.Generator().manual_seed(0)
x = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g)
y = torch.randint(0, 10, (64,), generator=g)
m = create_model("small_cnn", num_classes=10, in_channels=1, width=4, hidden=8)
train(m, x, y, TrainConfig(epochs=3, batch_size=8, allow_chance=True), g, torch.device("cpu"))
evaluate(m, x, y, {"name": "fgsm", "eps": 0.1}, torch.device("cpu"), batch_size=8)
"""


def test_training_and_evaluation_write_plain_lines_to_a_log():
    r = subprocess.run([sys.executable, "-c", CODE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=300)  # stderr is a pipe, as under Snakemake's `2> {log}`
    assert r.returncode == 0, r.stderr[-2000:]
    assert "\r" not in r.stderr and "it/s" not in r.stderr, r.stderr[:500]
    lines = [line for line in r.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"], r.stderr
