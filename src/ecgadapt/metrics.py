"""Classification metrics (scikit-learn underneath): the study's weighted F1, macro F1/AUROC, per-class rates."""

from __future__ import annotations

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
        if multilabel:
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
