"""Classification metrics (scikit-learn underneath): the study's weighted F1, macro F1/AUROC, per-class rates,
bootstrap confidence intervals (over items, or over patients)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, label_names: tuple[str, ...] | list[str]) -> dict:
    """Metrics from integer targets [n] and class scores [n, C] (single-label) or 0/1 targets [n, C] (multi-label)."""
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    labels = list(range(len(label_names)))
    multilabel = y_true.ndim == 2
    y_pred = (scores > 0.5).astype(int) if multilabel else scores.argmax(1)
    out = {"n": int(len(y_true)),
           "f1_weighted": float(f1_score(y_true, y_pred, average="weighted", labels=labels, zero_division=0)),
           "f1_macro": float(f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)),
           "accuracy": float(accuracy_score(y_true, y_pred))}
    try:
        present = [c for c in labels if (y_true[:, c] if multilabel else y_true == c).any()
                   and not (y_true[:, c] if multilabel else y_true == c).all()]
        if not present:  # one class only: AUROC is undefined
            out["auroc_macro"] = float("nan")
        elif multilabel:
            out["auroc_macro"] = float(np.mean([roc_auc_score(y_true[:, c], scores[:, c]) for c in present]))
        else:
            out["auroc_macro"] = float(np.mean([roc_auc_score(y_true == c, scores[:, c]) for c in present]))
    except ValueError:
        out["auroc_macro"] = float("nan")
    if not multilabel:
        cm = confusion_matrix(y_true, y_pred, labels=labels)
        out["confusion"] = cm.tolist()
        per_class = {}
        for c, name in enumerate(label_names):
            tp, fn, fp = cm[c, c], cm[c].sum() - cm[c, c], cm[:, c].sum() - cm[c, c]
            tn = cm.sum() - tp - fn - fp
            per_class[name] = {"support": int(cm[c].sum()), "sensitivity": _ratio(tp, tp + fn),
                               "ppv": _ratio(tp, tp + fp), "specificity": _ratio(tn, tn + fp)}
        out["per_class"] = per_class
    return out


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def bootstrap_ci(statistic: Callable[[np.ndarray], float], n_items: int, *, groups: np.ndarray | None = None,
                 n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) interval of ``statistic(indices)``.

    Items are resampled with replacement; with ``groups`` (e.g. the patient of each beat) whole groups are
    resampled, so the interval reflects variation between patients rather than between beats of one patient.
    Resamples on which the statistic is undefined (NaN) are left out.
    """
    if n_items == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    if groups is not None:
        groups = np.asarray(groups)
        uniq, inverse = np.unique(groups, return_inverse=True)
        members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    values = []
    for _ in range(n_boot):
        if groups is None:
            idx = rng.integers(0, n_items, n_items)
        else:
            idx = np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
        v = statistic(idx)
        if np.isfinite(v):
            values.append(v)
    if not values:
        return float("nan"), float("nan")
    return float(np.quantile(values, alpha / 2)), float(np.quantile(values, 1 - alpha / 2))


def metric_ci(y_true: np.ndarray, scores: np.ndarray, label_names: tuple[str, ...] | list[str], metric: str = "f1_weighted",
              *, groups: np.ndarray | None = None, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95 % interval of one of ``classification_metrics``' scalar metrics (F1, accuracy, ...)."""
    y_true, scores = np.asarray(y_true), np.asarray(scores, dtype=np.float64)
    labels = list(range(len(label_names)))
    multilabel = y_true.ndim == 2
    y_pred = (scores > 0.5).astype(int) if multilabel else scores.argmax(1)
    fns: dict[str, Callable[[np.ndarray], float]] = {
        "f1_weighted": lambda i: f1_score(y_true[i], y_pred[i], average="weighted", labels=labels, zero_division=0),
        "f1_macro": lambda i: f1_score(y_true[i], y_pred[i], average="macro", labels=labels, zero_division=0),
        "accuracy": lambda i: accuracy_score(y_true[i], y_pred[i]),
    }
    if metric not in fns:
        raise ValueError(f"no bootstrap for metric {metric!r}; allowed: {', '.join(fns)}")
    return bootstrap_ci(fns[metric], len(y_true), groups=groups, n_boot=n_boot, seed=seed)
