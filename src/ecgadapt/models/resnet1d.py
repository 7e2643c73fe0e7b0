"""1-D ResNets (He et al. 2016 adapted to ECG) and fastai's xresnet1d101 (the PTB-XL benchmark anchor)."""

from __future__ import annotations

import torch
from torch import nn

from ecgadapt.models.registry import EcgModel, register_model


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class BasicBlock1d(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1, kernel: int = 7):
        super().__init__()
        self.body = nn.Sequential(_conv(cin, width, kernel, stride), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
                                  _conv(width, width, kernel), nn.BatchNorm1d(width))
        self.shortcut = _shortcut(cin, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class Bottleneck1d(nn.Module):
    """1x1 -> kxk -> 1x1 bottleneck. xresnet variant: avg-pool shortcut and last BatchNorm initialised to zero."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, kernel: int = 7, xresnet: bool = False):
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(_conv(cin, width, 1), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
                                  _conv(width, width, kernel, stride), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
                                  _conv(width, cout, 1), nn.BatchNorm1d(cout))
        if xresnet:  # each residual block starts as the identity (fastai's "zero BN" initialisation)
            nn.init.zeros_(self.body[-1].weight)
        self.shortcut = _shortcut(cin, cout, stride, avgpool=xresnet)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def _shortcut(cin: int, cout: int, stride: int, avgpool: bool = False) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    layers: list[nn.Module] = []
    if avgpool and stride > 1:  # xresnet: pool then 1x1 conv, no information dropped by a strided 1x1
        layers.append(nn.AvgPool1d(stride, ceil_mode=True))
        stride = 1
    layers += [nn.Conv1d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm1d(cout)]
    return nn.Sequential(*layers)


class ResNet1d(EcgModel):
    def __init__(self, block: type[nn.Module], layers: list[int], in_leads: int, num_classes: int,
                 base_width: int = 64, kernel: int = 7, stem_kernel: int = 15):
        widths = [base_width * 2**i for i in range(4)]
        super().__init__(widths[-1] * block.expansion, num_classes, in_leads)
        self.stem = nn.Sequential(nn.Conv1d(in_leads, base_width, stem_kernel, stride=2, padding=stem_kernel // 2, bias=False),
                                  nn.BatchNorm1d(base_width), nn.ReLU(inplace=True), nn.MaxPool1d(3, 2, 1))
        stages, cin = [], base_width
        for i, (width, n) in enumerate(zip(widths, layers)):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, width, stride=2 if (j == 0 and i > 0) else 1, kernel=kernel))
                cin = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool1d(1)

    def forward_features(self, x: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(x))).flatten(1)


@register_model
def resnet1d18(in_leads: int = 1, num_classes: int = 5, **kw: object) -> ResNet1d:
    return ResNet1d(BasicBlock1d, [2, 2, 2, 2], in_leads, num_classes, **kw)


@register_model
def resnet1d50(in_leads: int = 1, num_classes: int = 5, **kw: object) -> ResNet1d:
    return ResNet1d(Bottleneck1d, [3, 4, 6, 3], in_leads, num_classes, **kw)


@register_model
def resnet1d101(in_leads: int = 1, num_classes: int = 5, **kw: object) -> ResNet1d:
    return ResNet1d(Bottleneck1d, [3, 4, 23, 3], in_leads, num_classes, **kw)


class XResNet1d(EcgModel):
    def __init__(self, layers: list[int], in_leads: int, num_classes: int, kernel: int = 5):
        # concat pooling (mean and max over time), as fastai's xresnet head does
        super().__init__(2 * 512 * Bottleneck1d.expansion, num_classes, in_leads)
        stem, cin = [], in_leads
        for i, cout in enumerate((32, 32, 64)):
            stem += [nn.Conv1d(cin, cout, kernel, stride=2 if i == 0 else 1, padding=kernel // 2, bias=False),
                     nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.stem = nn.Sequential(*stem, nn.MaxPool1d(3, 2, 1))
        stages, cin = [], 64
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), layers)):
            blocks = []
            for j in range(n):
                blocks.append(Bottleneck1d(cin, width, stride=2 if (j == 0 and i > 0) else 1, kernel=kernel, xresnet=True))
                cin = width * Bottleneck1d.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)

    def forward_features(self, x: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(x))
        return torch.cat([h.mean(-1), h.amax(-1)], dim=1)


@register_model
def xresnet1d101(in_leads: int = 1, num_classes: int = 5, **kw: object) -> XResNet1d:
    return XResNet1d([3, 4, 23, 3], in_leads, num_classes, **kw)
