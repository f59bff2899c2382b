"""Wide ResNet (Zagoruyko & Komodakis 2016), pre-activation blocks; WRN-28-10 is DQ's CIFAR model."""
from __future__ import annotations

import torch.nn as nn

from qrobust.models._base import register_model
from qrobust.quant.layers import QConv2d, QLinear, QuantAct


class WideBlock(nn.Module):
    def __init__(self, cin, cout, stride, act, dropout):
        super().__init__()
        self.bn1, self.act1 = nn.BatchNorm2d(cin), QuantAct(act)
        self.conv1 = QConv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.act2 = nn.BatchNorm2d(cout), QuantAct(act)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = QConv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None if (stride == 1 and cin == cout) else QConv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        o = self.act1(self.bn1(x))
        y = self.conv2(self.drop(self.act2(self.bn2(self.conv1(o)))))
        return y + (x if self.shortcut is None else self.shortcut(o))


class WideResNet(nn.Module):
    chain = ("stem", "blocks", "head")  # forward applies these in turn (block reconstruction reads it)

    def __init__(self, depth=28, widen_factor=10, num_classes=10, in_channels=3, act="relu6", dropout=0.0):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"Wide ResNet depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        blocks, cin = [], widths[0]
        for i, cout in enumerate(widths[1:]):
            for j in range(n):
                blocks.append(WideBlock(cin, cout, 2 if (i > 0 and j == 0) else 1, act, dropout))
                cin = cout
        self.stem = QConv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.BatchNorm2d(cin), QuantAct(act), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  QLinear(cin, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


@register_model("wide_resnet", tiny={"depth": 10, "widen_factor": 1})
def wide_resnet(depth=28, widen_factor=10, **kw):
    return WideResNet(depth=depth, widen_factor=widen_factor, **kw)
