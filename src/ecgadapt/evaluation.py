"""AAMI EC57-style beat-classification metrics, per patient and gross (all beats pooled).

VEB = class V, SVEB = class S, each scored one-vs-rest: sensitivity (Se), positive predictivity (+P),
specificity, accuracy and F1. Reference beats of class Q (unclassifiable, a handful per record) are left out of
the statistics, as EC57 allows. Macro F1 is over N, S, V, F, counting only classes with reference beats.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ecgadapt.data import AAMI_CLASSES
from ecgadapt.metrics import bootstrap_ci

SCORED = ("N", "S", "V", "F")


def _div(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def format_score(x: Any, decimals: int = 3) -> str:
    """A statistic for people: three decimals (or ``decimals``), or "–" where it is undefined (None or NaN, e.g. SVEB
    F1 of a record with no S beat that no model calls S)."""
    return "–" if x is None or x != x else f"{x:.{decimals}f}"


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int = len(AAMI_CLASSES)) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def from_confusion(cm: np.ndarray, label_names: tuple[str, ...] = AAMI_CLASSES) -> dict[str, Any]:
    """EC57 statistics from a confusion matrix (rows: reference, columns: prediction)."""
    # Q reference beats are left out (their rows); a beat *predicted* Q stays in its row as an error
    keep = [i for i, c in enumerate(label_names) if c != "Q"]
    cm = np.asarray(cm)[keep]
    total = cm.sum()
    out: dict[str, Any] = {"beats": int(total), "accuracy": _div(sum(cm[r, i] for r, i in enumerate(keep)), total)}
    f1s = []
    for r, i in enumerate(keep):
        c = label_names[i]
        tp = cm[r, i]
        fn, fp = cm[r].sum() - tp, cm[:, i].sum() - tp
        tn = total - tp - fn - fp
        se, ppv = _div(tp, tp + fn), _div(tp, tp + fp)
        f1 = _div(2 * tp, 2 * tp + fp + fn)
        out[c] = {"support": int(cm[r].sum()), "se": se, "ppv": ppv, "spec": _div(tn, tn + fp),
                  "acc": _div(tp + tn, total), "f1": f1}
        if c in SCORED and cm[r].sum() > 0:
            f1s.append(0.0 if np.isnan(f1) else f1)
    out["macro_f1"] = float(np.mean(f1s)) if f1s else float("nan")
    out["veb"] = out.get("V")
    out["sveb"] = out.get("S")
    return out


def aami_metrics(y_true: np.ndarray, y_pred: np.ndarray, label_names: tuple[str, ...] = AAMI_CLASSES) -> dict[str, Any]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    ok = y_true >= 0
    return from_confusion(confusion(y_true[ok], y_pred[ok], len(label_names)), label_names)


def per_patient_ci(per_patient: dict[str, np.ndarray], key: tuple[str, ...], n_boot: int = 1000,
                   seed: int = 0) -> tuple[float, float]:
    """Bootstrap-over-patients 95 % interval of a gross statistic, e.g. key=("veb", "f1").

    ``per_patient`` maps a patient to its confusion matrix; each resample sums the matrices of the drawn patients.
    """
    mats = np.stack(list(per_patient.values()))

    def stat(idx: np.ndarray) -> float:
        value: Any = from_confusion(mats[idx].sum(0))
        for k in key:
            value = value[k] if value is not None else None
        return float("nan") if value is None else float(value)

    return bootstrap_ci(stat, len(mats), n_boot=n_boot, seed=seed)


__all__ = ["SCORED", "aami_metrics", "confusion", "format_score", "from_confusion", "per_patient_ci"]
