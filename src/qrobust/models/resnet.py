"""ResNets for CIFAR-sized images (He et al. 2016): ResNet-20 (3 stages of 3 basic blocks, 16/32/64
channels) and ResNet-18 (4 stages of 2 basic blocks, 64-512 channels, 3x3 stem without max-pool:
the CIFAR variant that Li et al. 2024 and most robustness papers train)."""
from __future__ import annotations

import torch.nn as nn

from qrobust.models._base import register_model
from qrobust.quant.layers import QConv2d, QLinear, QuantAct


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, act):
        super().__init__()
        self.conv1 = QConv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = QuantAct(act)
        self.conv2 = QConv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:  # option B: 1x1 projection
            self.shortcut = nn.Sequential(QConv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act2 = QuantAct(act)

    def forward(self, x):
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    chain = ("stem", "layers", "head")  # forward applies these in turn (block reconstruction reads it)

    def __init__(self, depth=20, num_classes=10, in_channels=3, act="relu6", width=16, blocks=None):
        super().__init__()
        if blocks is None:  # ResNet-(6n+2): three stages of n blocks
            if (depth - 2) % 6:
                raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
            blocks = [(depth - 2) // 6] * 3
        self.stem = nn.Sequential(QConv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), QuantAct(act))
        layers, cin = [], width
        for i, n in enumerate(blocks):
            cout = width * 2 ** i
            for j in range(n):
                layers.append(BasicBlock(cin, cout, 2 if (i > 0 and j == 0) else 1, act))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), QLinear(cin, num_classes))

    def forward(self, x):
        return self.head(self.layers(self.stem(x)))


@register_model("resnet20", tiny={"width": 4})
def resnet20(**kw):
    return CifarResNet(depth=20, **kw)


@register_model("resnet18", tiny={"width": 4})
def resnet18(width: int = 64, **kw):
    return CifarResNet(blocks=[2, 2, 2, 2], width=width, **kw)
