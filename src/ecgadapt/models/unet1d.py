"""A compact 1-D UNet for epsilon prediction. The encoder (contracting path + bottleneck with self-attention) is
a module of its own: it is DiffECG's feature extractor, kept when the decoder is dropped."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps [batch] -> [batch, dim] (Vaswani et al.; as in DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def mean_max_pool(h: torch.Tensor) -> torch.Tensor:
    """[batch, channels, length] -> [batch, 2 * channels]: average and max over time of a bottleneck map, the
    feature vector every DiffECG head and probe reads."""
    return torch.cat([h.mean(-1), h.amax(-1)], dim=1)


class ResBlock1d(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, cin), cin)
        self.conv1 = nn.Conv1d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2 = nn.GroupNorm(min(groups, cout), cout)
        self.conv2 = nn.Conv1d(cout, cout, 3, padding=1)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.time(temb)[:, :, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class Attention1d(nn.Module):
    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.norm = nn.GroupNorm(min(8, channels), channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x).transpose(1, 2)
        out, _ = self.attn(h, h, h, need_weights=False)
        return x + out.transpose(1, 2)


class UNetEncoder(nn.Module):
    """Time embedding, contracting path and bottleneck (res -> attention -> res). ``forward`` returns the skip
    feature maps and the bottleneck; the bottleneck is DiffECG's representation."""

    def __init__(self, in_ch: int = 1, base: int = 32, mults: tuple[int, ...] = (1, 2, 4)):
        super().__init__()
        self.tdim = 4 * base
        self.time_mlp = nn.Sequential(nn.Linear(base, self.tdim), nn.SiLU(), nn.Linear(self.tdim, self.tdim))
        self.base = base
        self.stem = nn.Conv1d(in_ch, base, 3, padding=1)
        self.blocks, self.downs = nn.ModuleList(), nn.ModuleList()
        ch = base
        self.channels = []
        for i, m in enumerate(mults):
            self.blocks.append(ResBlock1d(ch, base * m, self.tdim))
            ch = base * m
            self.channels.append(ch)
            self.downs.append(nn.Conv1d(ch, ch, 4, stride=2, padding=1) if i < len(mults) - 1 else nn.Identity())
        self.mid1 = ResBlock1d(ch, ch, self.tdim)
        self.mid_attn = Attention1d(ch)
        self.mid2 = ResBlock1d(ch, ch, self.tdim)
        self.out_channels = ch
        self.factor = 2 ** (len(mults) - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        temb = self.time_mlp(timestep_embedding(t, self.base))
        h = self.stem(x)
        skips = []
        for block, down in zip(self.blocks, self.downs):
            h = block(h, temb)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb)), temb)
        return skips, h, temb


class UNetDecoder(nn.Module):
    def __init__(self, encoder: UNetEncoder, out_ch: int = 1):
        super().__init__()
        self.blocks = nn.ModuleList()
        ch = encoder.out_channels
        for skip_ch in reversed(encoder.channels):
            self.blocks.append(ResBlock1d(ch + skip_ch, skip_ch, encoder.tdim))
            ch = skip_ch
        self.out = nn.Sequential(nn.GroupNorm(min(8, ch), ch), nn.SiLU(), nn.Conv1d(ch, out_ch, 3, padding=1))

    def forward(self, skips: list[torch.Tensor], h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        for block, skip in zip(self.blocks, reversed(skips)):
            if h.shape[-1] != skip.shape[-1]:
                h = F.interpolate(h, size=skip.shape[-1], mode="nearest")
            h = block(torch.cat([h, skip], 1), temb)
        return self.out(h)


class UNet1d(nn.Module):
    """epsilon_theta(x_t, t). Inputs of any length (padded to a multiple of the down-sampling factor)."""

    def __init__(self, in_ch: int = 1, base: int = 32, mults: tuple[int, ...] = (1, 2, 4)):
        super().__init__()
        self.config = {"in_ch": in_ch, "base": base, "mults": list(mults)}
        self.encoder = UNetEncoder(in_ch, base, mults)
        self.decoder = UNetDecoder(self.encoder, in_ch)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        pad = (-n) % self.encoder.factor
        skips, h, temb = self.encoder(F.pad(x, (0, pad)), t)
        return self.decoder(skips, h, temb)[..., :n]
