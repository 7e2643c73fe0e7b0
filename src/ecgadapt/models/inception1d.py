"""inception1d (Strodthoff et al. 2021, PTB-XL benchmark): InceptionTime-style blocks with residuals."""

from __future__ import annotations

import torch
from torch import nn

from ecgadapt.models.registry import EcgModel, register_model


class InceptionBlock1d(nn.Module):
    def __init__(self, cin: int, filters: int = 32, kernels: tuple[int, ...] = (39, 19, 9), bottleneck: int = 32):
        super().__init__()
        self.bottleneck = nn.Conv1d(cin, bottleneck, 1, bias=False) if cin > 1 else nn.Identity()
        width = bottleneck if cin > 1 else cin
        self.convs = nn.ModuleList(nn.Conv1d(width, filters, k, padding=k // 2, bias=False) for k in kernels)
        self.pool_conv = nn.Sequential(nn.MaxPool1d(3, 1, 1), nn.Conv1d(cin, filters, 1, bias=False))
        self.bn = nn.BatchNorm1d(filters * (len(kernels) + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bottleneck(x)
        return torch.relu(self.bn(torch.cat([c(b) for c in self.convs] + [self.pool_conv(x)], dim=1)))


class Inception1d(EcgModel):
    def __init__(self, in_leads: int, num_classes: int, depth: int = 6, filters: int = 32):
        width = filters * 4
        super().__init__(2 * width, num_classes, in_leads)
        self.blocks = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        cin, res_in = in_leads, in_leads
        for d in range(depth):
            self.blocks.append(InceptionBlock1d(cin, filters))
            cin = width
            if d % 3 == 2:  # a residual connection every third block
                self.shortcuts.append(nn.Sequential(nn.Conv1d(res_in, width, 1, bias=False), nn.BatchNorm1d(width)))
                res_in = width

    def forward_features(self, x: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        res = x
        for d, block in enumerate(self.blocks):
            x = block(x)
            if d % 3 == 2:
                x = torch.relu(x + self.shortcuts[d // 3](res))
                res = x
        return torch.cat([x.mean(-1), x.amax(-1)], dim=1)


@register_model
def inception1d(in_leads: int = 1, num_classes: int = 5, **kw: object) -> Inception1d:
    return Inception1d(in_leads, num_classes, **kw)
