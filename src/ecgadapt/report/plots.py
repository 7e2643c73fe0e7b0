"""Matplotlib figures written as PNG, through matplotlib's object API: no display needed, and neither pyplot's global
state nor the caller's backend (a notebook's) is touched."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ecgadapt._atomic import atomic_write
from ecgadapt.signal import lorenz_points


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None, squeeze: bool = True,
               **kwargs: Any) -> tuple[Figure, Any]:
    """``pyplot.subplots`` on a free-standing ``Figure``: written by ``_save`` with Agg, freed when dropped."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **kwargs)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    return path


def ecg_grid(ax) -> None:
    """ECG paper: a line every 0.2 s and every 0.5 mV (the large squares), the seconds labelled."""
    from matplotlib.ticker import MultipleLocator

    ax.xaxis.set_major_locator(MultipleLocator(1.0))
    ax.xaxis.set_minor_locator(MultipleLocator(0.2))
    ax.yaxis.set_major_locator(MultipleLocator(0.5))
    ax.grid(which="both", axis="x", color="#f2b8b8", lw=0.6)
    ax.grid(which="major", axis="y", color="#f2b8b8", lw=0.6)
    ax.set_axisbelow(True)


def plot_strip(signal: np.ndarray, fs: float, path: str | Path, *, start_s: float = 0.0, seconds: float = 10.0,
               reference: np.ndarray | None = None, reference_labels: np.ndarray | None = None,
               detected: np.ndarray | None = None, lead_name: str = "", title: str = "",
               reference_name: str = "annotated", detected_name: str = "detected",
               highlight_s: float | None = None) -> Path:
    """An ECG strip with reference beats (labelled) and detected R peaks; ``highlight_s``: a time (s) to shade, the
    beat a reviewer is asked about."""
    a, b = int(start_s * fs), int((start_s + seconds) * fs)
    x = signal[a:b]
    t = np.arange(a, a + len(x)) / fs
    fig, ax = new_figure(figsize=(12, 3))
    ecg_grid(ax)
    if highlight_s is not None:
        ax.axvspan(highlight_s - 0.3, highlight_s + 0.3, color="gold", alpha=0.35, lw=0)
    ax.plot(t, x, lw=0.8, color="black")
    if reference is not None:
        sel = (reference >= a) & (reference < b)
        ax.plot(reference[sel] / fs, signal[reference[sel]], "o", mfc="none", color="tab:blue", label=reference_name)
        if reference_labels is not None:
            half = max(1, int(0.1 * fs))
            for p, lab in zip(reference[sel], np.asarray(reference_labels)[sel]):
                # above the beat's highest point, not at the R peak: a negative QRS (a V beat in MLII, often) would
                # put its label on the trace
                top = float(np.max(signal[max(0, p - half):p + half + 1]))
                ax.annotate(str(lab), (p / fs, top), textcoords="offset points", xytext=(0, 6),
                            ha="center", fontsize=8, color="tab:blue")
            ax.margins(y=0.15)
    if detected is not None:
        sel = (detected >= a) & (detected < b)
        ax.plot(detected[sel] / fs, signal[detected[sel]], "x", color="tab:red", label=detected_name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{lead_name} (mV)" if lead_name else "mV")
    ax.set_title(title)
    if reference is not None or detected is not None:  # beside the strip, where it hides no beat's label
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    return _save(fig, path)


def plot_lorenz(peaks: np.ndarray, fs: float, path: str | Path, *, labels: np.ndarray | None = None,
                title: str = "") -> Path:
    """Lorenz (Poincare) plot RR_i vs RR_{i+1}, coloured by the label of beat i+1 when given."""
    pts = lorenz_points(peaks, fs)
    fig, ax = new_figure(figsize=(4.5, 4.5))
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


def plot_agreement(time_s: np.ndarray, agreement: np.ndarray, threshold: float, path: str | Path, *,
                   title: str = "") -> Path:
    """Detector agreement of each detected beat over the record (``signal.quality``), the poor-signal threshold
    drawn across; the time axis in hours for a long record."""
    hours = len(time_s) and float(np.max(time_s)) > 2 * 3600
    t = np.asarray(time_s) / (3600.0 if hours else 60.0)
    poor = np.asarray(agreement) < threshold
    fig, ax = new_figure(figsize=(12, 2.6))
    ax.plot(t[~poor], agreement[~poor], ".", ms=2, color="tab:blue", label=f"{int((~poor).sum())} beats")
    ax.plot(t[poor], agreement[poor], ".", ms=3, color="tab:red", label=f"{int(poor.sum())} beats in poor signal")
    ax.axhline(threshold, color="tab:red", lw=0.8, ls="--")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("time (h)" if hours else "time (min)")
    ax.set_ylabel("detector agreement")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    return _save(fig, path)


def plot_confusions(matrices: dict[str, np.ndarray], label_names: tuple[str, ...] | list[str], path: str | Path,
                    title: str = "") -> Path:
    """Side-by-side confusion matrices (rows: reference, columns: prediction), counts written in the cells."""
    fig, axes = new_figure(1, len(matrices), figsize=(3.6 * len(matrices), 3.4), squeeze=False)
    for ax, (name, cm) in zip(axes[0], matrices.items()):
        cm = np.asarray(cm)
        ax.imshow(np.log1p(cm), cmap="Blues")
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > cm.max() / 3 else "black")
        ax.set_xticks(range(len(label_names)), label_names)
        ax.set_yticks(range(len(label_names)), label_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("reference")
        ax.set_title(name)
    fig.suptitle(title)
    return _save(fig, path)


def plot_boxes(values: dict[str, list[float]], path: str | Path, *, ylabel: str, title: str = "") -> Path:
    """One box per method of per-patient values, the points drawn over it (DiffECG Fig. 5 style)."""
    names = list(values)
    fig, ax = new_figure(figsize=(1.1 * len(names) + 2, 3.6))
    data = [np.asarray([v for v in values[n] if v == v], dtype=float) for n in names]
    ax.boxplot(data, showfliers=False)
    for i, d in enumerate(data):
        ax.scatter(np.full(len(d), i + 1) + np.random.default_rng(i).uniform(-0.15, 0.15, len(d)), d, s=8, alpha=0.6)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=25)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _save(fig, path)


def plot_burden(names: list[str], per_100: dict[str, list[float]], path: str | Path, *, title: str = "") -> Path:
    """Horizontal bars per recording of the ectopic burden: beats of each class per 100 beats."""
    fig, ax = new_figure(figsize=(8, 0.28 * len(names) + 1.4))
    y = np.arange(len(names))
    height = 0.8 / max(len(per_100), 1)
    for k, (label, values) in enumerate(per_100.items()):
        ax.barh(y + k * height, values, height=height, label=label)
    ax.set_yticks(y + height * (len(per_100) - 1) / 2, names)
    ax.invert_yaxis()  # the first recording on top, as in the table
    ax.set_xlabel("beats per 100 beats")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_heart_rate(minute_hr: np.ndarray, ectopic_per_minute: dict[str, np.ndarray], path: str | Path, *,
                    title: str = "", start_time: datetime.time | None = None) -> Path:
    """Heart rate of each minute over the recording, and below it the ectopic beats (and pauses) of each minute; the
    time axis in hours for a long recording, labelled with the clock where ``start_time`` (the recording's) is known."""
    minutes = np.arange(len(minute_hr))
    hours = len(minute_hr) > 120
    t = minutes / 60.0 if hours else minutes
    fig, (top, bottom) = new_figure(2, 1, figsize=(12, 4.2), sharex=True, height_ratios=(2, 1))
    top.plot(t, minute_hr, lw=0.8, color="black")
    top.set_ylabel("heart rate (bpm)")
    top.set_title(title)
    for label, counts in ectopic_per_minute.items():
        bottom.plot(t, counts, lw=0.8, label=label)
    bottom.set_ylabel("a minute")
    bottom.set_xlabel("time (h)" if hours else "time (min)")
    if start_time is not None and hours:  # a Holter is read by the clock: 03:00 is night, whatever hour it is in
        from ecgadapt.holter import time_of_day

        ticks = np.arange(0, np.ceil(t[-1]) + 1, max(1, int(np.ceil(t[-1] / 12))))
        bottom.set_xticks(ticks, [time_of_day(start_time, 3600 * h)[:5] for h in ticks])
        bottom.set_xlabel("clock time")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    return _save(fig, path)
