"""A toy task and two models of one architecture: a float MLP and a deliberately masked twin whose
hidden activation is quantized with a zero straight-through gradient (fake_quantize(..., ste_grad=0))."""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn

from qrobust.quant.fake_quant import fake_quantize


@contextlib.contextmanager
def one_thread():
    """Tiny models run fastest on one thread (and do not spin against other processes on a shared CPU)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class ToyNet(nn.Module):
    """1x8x8 -> 32 hidden (ReLU) -> 10 classes; with `qmax` the hidden activation is fake-quantized to
    [0, qmax] x scale, its STE gradient scaled by `ste_grad` (0: masked)."""

    def __init__(self, qmax: int | None = None, scale: float = 1.0, ste_grad: float = 1.0, hidden: int = 32):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, hidden), nn.Linear(hidden, 10)
        self.qmax, self.scale, self.ste_grad = qmax, scale, ste_grad

    def forward(self, x):
        h = torch.relu(self.fc1(x.flatten(1)))
        if self.qmax is not None:
            h = fake_quantize(h, self.scale, 0, 0, self.qmax, ste_grad=self.ste_grad)
        return self.fc2(h)


def toy_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 n x 1 x 8 x 8 images: one fixed random prototype per class plus Gaussian noise."""
    protos = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(123)) * 0.6 + 0.2
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = (protos[y] + 0.08 * torch.randn(n, 1, 8, 8, generator=g)).clamp(0, 1)
    return (x * 255).round().to(torch.uint8), y


def train_toy(net: nn.Module, steps: int = 300, seed: int = 0) -> nn.Module:
    x, y = toy_data(1000, 1)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(steps):
        i = torch.randint(0, len(y), (64,), generator=g)
        loss = nn.functional.cross_entropy(net(x[i].float() / 255), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()
