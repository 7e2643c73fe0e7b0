"""DiffECG's multi-modal classifier: one frozen extractor per modality, cross-modal attention fusion, a linear head.

Every modality is handed to its extractor as a 1-D sequence ``[items, channels, length]``, so one UNet design serves
all three:

- ``raw``: the segment or beat window as is (``[leads, samples]``);
- ``spectrogram``: the STFT magnitude (Hann window) with frequency bins as channels and frames as length;
- ``lorenz``: the 2-D density image of the Lorenz plot with its rows as channels.

Each extractor is the encoder of a UNet pre-trained by diffusion on *its own* modality (or, for the baselines, a
contrastively pre-trained raw encoder), read at its own noise step t. The extractors stay frozen: their pooled
bottleneck maps are computed once (:func:`extract_maps`) and only the fusion and head are trained
(:func:`train_fusion_head`), which is what makes DiffECG cheap to adapt.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from torch import nn

from ecgadapt.models.ddpm import DDPMSchedule
from ecgadapt.diffecg.modalities import CrossModalFusion, lorenz_image, spectrogram
from ecgadapt.models.unet1d import UNetEncoder
from ecgadapt.errors import ConfigError
from ecgadapt.train.trainer import class_weights

MODALITIES = ("raw", "spectrogram", "lorenz")
#: Lorenz context of a beat: the R peaks of this many beats before and after it in the same record
BEAT_CONTEXT = 8


@dataclass
class ModalInputs:
    """The modality arrays of a set of items; ``present[:, m]`` is False where modality m does not exist (a segment
    with too few R peaks has no Lorenz plot: its image is zero and fusion masks it out)."""

    arrays: dict[str, np.ndarray]
    present: np.ndarray  # [items, modalities] bool, columns in the order of ``arrays``

    def __len__(self) -> int:
        return len(self.present)

    def present_of(self, modalities: list[str]) -> np.ndarray:
        """The ``present`` columns of these modalities, in this order."""
        order = list(self.arrays)
        return self.present[:, [order.index(m) for m in modalities]]


def window_peaks(X: np.ndarray, fs: float, method: str = "neurokit") -> list[np.ndarray]:
    """R peaks of every window [items, leads, samples] (first lead), detected with neurokit2 (``method``: one of
    ``signal.peaks.detect_r_peaks``'s); none on failure."""
    from ecgadapt.signal.peaks import detect_r_peaks

    out = []
    for x in X:
        try:
            out.append(detect_r_peaks(x[0], fs, method=method))
        except Exception:  # noqa: BLE001 - neurokit2 fails on flat or very noisy windows: no peaks, no Lorenz plot
            out.append(np.zeros(0, dtype=np.int64))
    return out


def beat_context_peaks(time_s: np.ndarray, record: np.ndarray, context: int = BEAT_CONTEXT) -> list[np.ndarray]:
    """For each beat, the R-peak times (s) of up to ``context`` beats either side of it in its own record."""
    time_s, record = np.asarray(time_s, dtype=np.float64), np.asarray(record)
    order = np.lexsort((time_s, record))
    out: list[np.ndarray] = [np.zeros(0)] * len(time_s)
    starts = np.flatnonzero(np.r_[True, record[order][1:] != record[order][:-1]])
    ends = np.r_[starts[1:], len(order)]
    for s, e in zip(starts, ends):
        idx = order[s:e]
        for k, i in enumerate(idx):
            out[i] = time_s[idx[max(0, k - context):k + context + 1]]
    return out


def modal_inputs(X: np.ndarray, fs: float, peaks: list[np.ndarray], peaks_fs: float,
                 modalities: tuple[str, ...] = MODALITIES, nperseg: int = 32, lorenz_size: int = 32) -> ModalInputs:
    """The modality arrays of items X [items, leads, samples]; ``peaks[i]`` are item i's R peaks in units of
    1/``peaks_fs`` seconds (samples of the window, or seconds with ``peaks_fs=1``)."""
    unknown = set(modalities) - set(MODALITIES)
    if unknown:
        raise ConfigError(f"unknown modalities {sorted(unknown)}; known: {', '.join(MODALITIES)}")
    if len(peaks) != len(X):
        raise ConfigError(f"{len(X)} items but R peaks for {len(peaks)}")
    arrays: dict[str, np.ndarray] = {}
    present = np.ones((len(X), len(modalities)), dtype=bool)
    for j, m in enumerate(modalities):
        if m == "raw":
            arrays[m] = np.asarray(X, dtype=np.float32)
        elif m == "spectrogram":
            s = spectrogram(np.asarray(X), fs, nperseg=min(nperseg, X.shape[-1]))  # [items, leads, freq, frames]
            arrays[m] = s.reshape(len(X), -1, s.shape[-1])
        else:
            imgs = np.zeros((len(X), lorenz_size, lorenz_size), dtype=np.float32)
            for i, p in enumerate(peaks):
                imgs[i], present[i, j] = lorenz_image(p, peaks_fs, lorenz_size)
            arrays[m] = imgs * lorenz_size ** 2 / 10  # densities of order 1 where points fall, like the other inputs
    return ModalInputs(arrays, present)


class FrozenExtractor(nn.Module):
    """A pre-trained UNet encoder read at noise step ``t`` with a fixed epsilon: pooled bottleneck maps."""

    def __init__(self, encoder: UNetEncoder, t: int, schedule: DDPMSchedule | None = None, tokens: int = 16,
                 noise_seed: int = 0):
        super().__init__()
        self.encoder = encoder.eval()
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.schedule = schedule or DDPMSchedule()
        self.t, self.tokens, self.noise_seed = int(t), tokens, noise_seed

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, (-x.shape[-1]) % self.encoder.factor))
        t = torch.full((len(x),), self.t, dtype=torch.long)
        if self.t > 0:
            gen = torch.Generator().manual_seed(self.noise_seed)
            x = self.schedule.q_sample(x, t, torch.randn(x.shape, generator=gen))
        _, h, _ = self.encoder(x, t)
        return F.adaptive_avg_pool1d(h, min(self.tokens, h.shape[-1])) if h.shape[-1] > self.tokens else h


def extract_maps(extractor: FrozenExtractor, x: np.ndarray, batch_size: int = 512) -> torch.Tensor:
    """The extractor's maps for all items, in batches (one fixed epsilon per batch position: deterministic)."""
    out = []
    for b in range(0, len(x), batch_size):
        out.append(extractor(torch.from_numpy(np.ascontiguousarray(x[b:b + batch_size], dtype=np.float32))))
    return torch.cat(out)


class FusionClassifier(nn.Module):
    """Cross-modal attention over the modality maps, then a linear head; with one modality it is self-attention
    pooling, so uni-modal and multi-modal variants share one head design (a fair ablation)."""

    def __init__(self, channels: list[int], num_classes: int, dim: int = 64, heads: int = 4, multilabel: bool = False):
        super().__init__()
        self.multilabel = multilabel  # sigmoid outputs, one per label, instead of a softmax over classes
        self.fusion = CrossModalFusion(channels, dim, heads)
        self.head = nn.Linear(self.fusion.out_features, num_classes)

    def forward(self, maps: list[torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.fusion(maps, present))


@dataclass(frozen=True)
class HeadConfig:
    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    patience: int = 8
    class_weights: bool = True  # sqrt-inverse frequency, as the population models
    seed: int = 0


def _predict(model: FusionClassifier, maps: list[torch.Tensor], present: torch.Tensor, batch: int = 2048) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model([m[b:b + batch] for m in maps], present[b:b + batch])
                            for b in range(0, len(present), batch)])
    return (torch.sigmoid(logits) if model.multilabel else logits.softmax(1)).numpy()


def _decide(probs: np.ndarray, multilabel: bool) -> np.ndarray:
    return (probs > 0.5).astype(int) if multilabel else probs.argmax(1)


def train_fusion_head(train_maps: list[torch.Tensor], train_present: np.ndarray, y_train: np.ndarray,
                      val_maps: list[torch.Tensor], val_present: np.ndarray, y_val: np.ndarray, num_classes: int,
                      config: HeadConfig = HeadConfig()) -> tuple[FusionClassifier, list[dict[str, Any]]]:
    """Train fusion + head on frozen maps; the epoch with the best validation macro F1 is kept (early stopping).
    ``y`` is [items] (single-label, cross-entropy) or a 0/1 matrix [items, labels] (multi-label, BCE)."""
    if len(y_train) == 0 or len(y_val) == 0:
        raise ConfigError("head training needs labelled training and validation items")
    multilabel = np.asarray(y_train).ndim == 2
    torch.manual_seed(config.seed)
    model = FusionClassifier([m.shape[1] for m in train_maps], num_classes, multilabel=multilabel)
    weight = class_weights(y_train, num_classes) if config.class_weights and not multilabel else None
    if multilabel:
        yt = torch.from_numpy(np.asarray(y_train, dtype=np.float32))
        loss_fn = lambda out, target: F.binary_cross_entropy_with_logits(out, target)  # noqa: E731
        val_labels = np.flatnonzero(np.asarray(y_val).sum(0) > 0)
    else:
        yt = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
        loss_fn = lambda out, target: F.cross_entropy(out, target, weight=weight)  # noqa: E731
        val_labels = np.unique(y_val)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    pt, pv = torch.from_numpy(train_present), torch.from_numpy(val_present)
    rng = np.random.default_rng(config.seed)
    best, best_state, history, stale = -1.0, None, [], 0
    for epoch in range(config.epochs):
        model.train()
        order = rng.permutation(len(yt))
        losses = []
        for b in range(0, len(order), config.batch_size):
            idx = torch.from_numpy(order[b:b + config.batch_size])
            loss = loss_fn(model([m[idx] for m in train_maps], pt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        val_f1 = float(f1_score(y_val, _decide(_predict(model, val_maps, pv), multilabel), average="macro",
                                labels=val_labels, zero_division=0))
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_f1_macro": val_f1})
        if val_f1 > best:
            best, best_state, stale = val_f1, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    return model, history


def predict_fusion(model: FusionClassifier, maps: list[torch.Tensor], present: np.ndarray) -> np.ndarray:
    """Class probabilities [items, classes] (softmax; sigmoid per label for a multi-label head)."""
    return _predict(model, maps, torch.from_numpy(present))
