"""DiffECG's three input modalities and their fusion.

- raw segment (as is);
- STFT magnitude spectrogram (Hann window, ``scipy.signal.stft``), log-scaled, [freq bins, frames] per lead;
- Lorenz plot of successive RR differences, points (RR_i - RR_{i-1}, RR_{i-1} - RR_{i-2}) from the R peaks,
  rendered as a 2-D density image. A segment with too few R peaks has no Lorenz plot: ``lorenz_image`` says so
  (``ok=False``, a zero image) and the caller falls back to the other modalities;
- ``CrossModalFusion``: each modality's feature map becomes tokens that attend to the other modalities' tokens.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.signal import stft
from torch import nn

from ecgadapt.signal.lorenz import rr_difference_points

#: R peaks needed for one Lorenz point: three successive RR intervals
MIN_PEAKS_FOR_LORENZ = 4


def spectrogram(x: np.ndarray, fs: float, nperseg: int = 64, noverlap: int | None = None) -> np.ndarray:
    """log(1 + |STFT|) of a [leads, samples] segment: [leads, nperseg // 2 + 1, frames] (Hann window)."""
    _, _, z = stft(np.asarray(x, dtype=np.float64), fs=fs, window="hann", nperseg=nperseg,
                   noverlap=nperseg // 2 if noverlap is None else noverlap, axis=-1)
    return np.log1p(np.abs(z)).astype(np.float32)


def lorenz_image(peaks: np.ndarray, fs: float, size: int = 32, extent_s: float = 0.5) -> tuple[np.ndarray, bool]:
    """Density image [size, size] of the Lorenz points within +-``extent_s`` s (sums to 1), and whether it exists."""
    pts = rr_difference_points(peaks, fs)
    if len(pts) == 0:
        return np.zeros((size, size), dtype=np.float32), False
    img, _, _ = np.histogram2d(np.clip(pts[:, 0], -extent_s, extent_s), np.clip(pts[:, 1], -extent_s, extent_s),
                               bins=size, range=[[-extent_s, extent_s], [-extent_s, extent_s]])
    return (img / img.sum()).astype(np.float32), True


class CrossModalFusion(nn.Module):
    """Fuses per-modality feature maps [batch, C_m, L_m]: projected to ``dim``-d tokens, every modality's tokens
    attend to all tokens of the other modalities, then mean-pooled per modality and concatenated.
    ``present`` [batch, modalities] masks a modality that is missing for an item (e.g. no Lorenz plot)."""

    def __init__(self, channels: list[int], dim: int = 64, heads: int = 4):
        super().__init__()
        self.proj = nn.ModuleList(nn.Conv1d(c, dim, 1) for c in channels)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.out_features = dim * len(channels)

    def forward(self, maps: list[torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        tokens = [p(m).transpose(1, 2) for p, m in zip(self.proj, maps)]  # [B, L_m, dim]
        b = tokens[0].shape[0]
        present = torch.ones(b, len(maps), dtype=torch.bool) if present is None else present.bool()
        owner = torch.cat([torch.full((t.shape[1],), i) for i, t in enumerate(tokens)])
        allt = torch.cat(tokens, 1)
        pooled = []
        for i, tok in enumerate(tokens):
            # keys: the other modalities' tokens, minus those of modalities missing for this item
            blocked = (owner[None, :] == i) | ~present[:, owner]
            blocked = blocked & ~blocked.all(1, keepdim=True)  # nothing to attend to: attend to everything
            out, _ = self.attn(tok, allt, allt, key_padding_mask=blocked, need_weights=False)
            fused = self.norm(tok + out).mean(1) * present[:, i:i + 1]
            pooled.append(fused)
        return torch.cat(pooled, 1)
