"""The transfer study's figure types: scratch vs fine-tune bars and scatter, size sweep, convergence curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ecgadapt.report.plots import _save, new_figure


def transfer_figures(results: pd.DataFrame, g: pd.DataFrame, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for down, rd in results.groupby("downstream"):
        largest = rd.groupby("size")["n_train"].mean().idxmax()
        paths.append(_bars(rd[rd["size"] == largest], down, folder / f"{down}_bars.png"))
        gd = g[g.downstream == down] if not g.empty else g
        if not gd.empty:
            paths.append(_scatter(gd, down, folder / f"{down}_scatter.png"))
            paths.append(_size_sweep(rd, down, folder / f"{down}_size_sweep.png"))
        if rd["test_curve"].map(lambda c: isinstance(c, list) and any(v is not None for v in c)).any():
            smallest = rd.groupby("size")["n_train"].mean().idxmin()
            paths.append(_curves(rd[rd["size"] == smallest], down, folder / f"{down}_convergence.png"))
    return paths


def _bars(rd: pd.DataFrame, down: str, path: Path) -> Path:
    models = list(dict.fromkeys(rd.model))
    modes = [m for m in ("scratch", "finetune") if m in set(rd["mode"])]
    fig, ax = new_figure(figsize=(1.3 * len(models) + 2, 3.5))
    w = 0.8 / len(modes)
    for j, mode in enumerate(modes):
        stats = rd[rd["mode"] == mode].groupby("model")["test_f1_weighted"].agg(["mean", "std"]).reindex(models)
        ax.bar(np.arange(len(models)) + j * w, stats["mean"], w, yerr=stats["std"].fillna(0), capsize=3, label=mode)
    ax.set_xticks(np.arange(len(models)) + w * (len(modes) - 1) / 2, models, rotation=20)
    ax.set_ylabel("test F1 (weighted)")
    ax.set_title(f"{down}: n={int(rd.n_train.mean())} training items, mean ± SD over seeds")
    ax.legend()
    return _save(fig, path)


def _scatter(gd: pd.DataFrame, down: str, path: Path) -> Path:
    fig, ax = new_figure(figsize=(4.5, 4.5))
    for model, gm in gd.groupby("model"):
        ax.scatter(gm.scratch, gm.finetune, s=18, label=model)
    lo = min(gd.scratch.min(), gd.finetune.min()) - 0.02
    hi = max(gd.scratch.max(), gd.finetune.max()) + 0.02
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel("scratch test F1")
    ax.set_ylabel("fine-tune test F1")
    ax.set_title(f"{down}: every run (points above the line: fine-tuning won)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def _model_grid(models: list[str]):
    """One panel per model, three to a row, a shared y axis; unused panels switched off."""
    cols = min(3, len(models))
    rows = int(np.ceil(len(models) / cols))
    fig, axes = new_figure(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[len(models):]:
        ax.axis("off")
    return fig, axes


def _size_sweep(rd: pd.DataFrame, down: str, path: Path) -> Path:
    models = list(dict.fromkeys(rd.model))
    fig, axes = _model_grid(models)
    for ax, model in zip(axes.flat, models):
        for mode, gm in rd[rd.model == model].groupby("mode"):
            s = gm.groupby("n_train")["test_f1_weighted"].agg(["mean", "std"])
            ax.errorbar(s.index, s["mean"], yerr=s["std"].fillna(0), marker="o", capsize=3, label=mode)
        ax.set_xscale("log")
        ax.set_title(model)
        ax.set_xlabel("downstream training items")
    axes[0, 0].set_ylabel("test F1 (weighted)")
    axes[0, 0].legend()
    fig.suptitle(f"{down}: training-size sweep", y=1.03)
    return _save(fig, path)


def _curves(rd: pd.DataFrame, down: str, path: Path) -> Path:
    models = list(dict.fromkeys(rd.model))
    fig, axes = _model_grid(models)
    for ax, model in zip(axes.flat, models):
        for mode, gm in rd[rd.model == model].groupby("mode"):
            curves = [np.array([np.nan if v is None else v for v in c], dtype=float) for c in gm.test_curve]
            n = max(len(c) for c in curves)
            stack = np.full((len(curves), n), np.nan)
            for i, c in enumerate(curves):
                stack[i, :len(c)] = c
            ax.plot(np.arange(1, n + 1), np.nanmean(stack, 0), label=mode)
        ax.set_title(model)
        ax.set_xlabel("epoch")
    axes[0, 0].set_ylabel("test F1 (reporting only)")
    axes[0, 0].legend()
    fig.suptitle(f"{down}: convergence, n={int(rd.n_train.mean())} (test curves are never used for selection)", y=1.03)
    return _save(fig, path)
