"""Datasets over the memory-mapped cache (no copy of the arrays, only of each batch)."""

from __future__ import annotations

import numpy as np
import torch


class ArrayDataset(torch.utils.data.Dataset):
    """Items ``indices`` of prepared arrays X [n, leads, samples], y and optional RR features."""

    def __init__(self, X: np.ndarray, y: np.ndarray, indices: np.ndarray | None = None, rr: np.ndarray | None = None):
        self.X, self.y, self.rr = X, y, rr
        self.indices = np.arange(len(X)) if indices is None else np.asarray(indices)

    @classmethod
    def from_prepared(cls, prepared, indices: np.ndarray | None = None, labelled_only: bool = True) -> ArrayDataset:
        idx = np.arange(len(prepared)) if indices is None else np.asarray(indices)
        y = np.asarray(prepared.y)
        if labelled_only and y.ndim == 1:
            idx = idx[y[idx] >= 0]
        return cls(prepared.X, y, idx, prepared.arrays.get("rr"))

    @classmethod
    def concat(cls, *parts: ArrayDataset) -> ArrayDataset:
        """One in-memory dataset of the items of ``parts`` (e.g. beats of two databases cut the same way); every
        part must have the same item shape and either all or none RR features."""
        if len({p.X.shape[1:] for p in parts}) > 1:
            raise ValueError(f"item shapes differ: {[p.X.shape[1:] for p in parts]}")
        if len({None if p.rr is None else p.rr.shape[1:] for p in parts}) > 1:
            raise ValueError("RR features differ between the parts (present in some, or of other widths)")
        rows = [np.sort(p.indices) for p in parts]  # sorted reads from the memory maps are sequential on disk
        X = np.concatenate([np.asarray(p.X[r], dtype=np.float32) for p, r in zip(parts, rows)])
        y = np.concatenate([np.asarray(p.y[r]) for p, r in zip(parts, rows)])
        rr = None if parts[0].rr is None else np.concatenate(
            [np.asarray(p.rr[r], dtype=np.float32) for p, r in zip(parts, rows)])
        return cls(X, y, None, rr)

    def __len__(self) -> int:
        return len(self.indices)

    def batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        idx = np.sort(self.indices[rows])  # sorted reads from the memory map are sequential on disk
        x = torch.from_numpy(np.ascontiguousarray(self.X[idx], dtype=np.float32))
        y = torch.from_numpy(np.asarray(self.y[idx]))
        extra = {"rr": torch.from_numpy(np.asarray(self.rr[idx], dtype=np.float32))} if self.rr is not None else {}
        return x, y, extra

    def __getitem__(self, i: int):  # torch Dataset protocol; the trainer uses ``batch`` for speed
        return self.batch(np.array([i]))
