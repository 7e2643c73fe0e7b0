"""Matplotlib figures written as PNG (Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ecgadapt._atomic import atomic_write  # noqa: E402
from ecgadapt.signal import lorenz_points  # noqa: E402


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def plot_strip(signal: np.ndarray, fs: float, path: str | Path, *, start_s: float = 0.0, seconds: float = 10.0,
               reference: np.ndarray | None = None, reference_labels: np.ndarray | None = None,
               detected: np.ndarray | None = None, lead_name: str = "", title: str = "") -> Path:
    """An ECG strip with reference beats (labelled) and detected R peaks."""
    a, b = int(start_s * fs), int((start_s + seconds) * fs)
    x = signal[a:b]
    t = np.arange(a, a + len(x)) / fs
    fig, ax = plt.subplots(figsize=(12, 3))
    ax.plot(t, x, lw=0.8, color="black")
    if reference is not None:
        sel = (reference >= a) & (reference < b)
        ax.plot(reference[sel] / fs, signal[reference[sel]], "o", mfc="none", color="tab:blue", label="annotated")
        if reference_labels is not None:
            for p, lab in zip(reference[sel], np.asarray(reference_labels)[sel]):
                ax.annotate(str(lab), (p / fs, signal[p]), textcoords="offset points", xytext=(0, 8),
                            ha="center", fontsize=8, color="tab:blue")
    if detected is not None:
        sel = (detected >= a) & (detected < b)
        ax.plot(detected[sel] / fs, signal[detected[sel]], "x", color="tab:red", label="detected")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{lead_name} (mV)" if lead_name else "mV")
    ax.set_title(title)
    if reference is not None or detected is not None:
        ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def plot_lorenz(peaks: np.ndarray, fs: float, path: str | Path, *, labels: np.ndarray | None = None,
                title: str = "") -> Path:
    """Lorenz (Poincare) plot RR_i vs RR_{i+1}, coloured by the label of beat i+1 when given."""
    pts = lorenz_points(peaks, fs)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if labels is not None and len(pts):
        labels = np.asarray(labels)[1:-1]
        for lab in sorted(set(labels.tolist())):
            sel = labels == lab
            ax.scatter(pts[sel, 0], pts[sel, 1], s=4, alpha=0.6, label=f"{lab} ({sel.sum()})")
        ax.legend(fontsize=8, markerscale=3)
    else:
        ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.6)
    ax.set_xlabel("RR$_i$ (s)")
    ax.set_ylabel("RR$_{i+1}$ (s)")
    ax.set_title(title)
    return _save(fig, path)
