"""Fixtures: the toy task's float MLP, its deliberately masked twin (_toy_models), and test images."""
from __future__ import annotations

import pytest
import torch
from _toy_models import ToyNet, one_thread, toy_data, train_toy


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def float_net():
    torch.manual_seed(0)
    with one_thread():
        return train_toy(ToyNet())


@pytest.fixture(scope="session")
def masked_net(float_net):
    """The float net's weights behind a 4-bit hidden quantizer whose STE gradient is zero."""
    x, _ = toy_data(1000, 1)
    with torch.no_grad():
        hmax = torch.relu(float_net.fc1(x.float().flatten(1) / 255)).max().item()
    net = ToyNet(qmax=15, scale=hmax / 15, ste_grad=0.0)
    net.load_state_dict(float_net.state_dict())
    return net.eval()


@pytest.fixture(scope="session")
def images():
    return toy_data(100, 2)
