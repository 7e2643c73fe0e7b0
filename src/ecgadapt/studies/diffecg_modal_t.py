"""DiffECG's personalization of the multi-modal model: per subject *and per modality*, the noise step t.

For each test subject of a generalization experiment (never seen by the head trained there), the first ``ratio`` of
the subject's items in time (records in order, for subjects with several) personalize and the rest are scored. For
every modality, t is chosen by Gaussian-process BO (the ``diffecg-t`` machinery: a linear probe on that modality's
pooled features, objective γ by default) on the personalization items only; then a fusion head is trained on them
at the chosen steps. The reference is the same head at one fixed t for every modality. The extractors stay frozen,
as in the paper.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score

from ecgadapt._atomic import atomic_write_json
from ecgadapt._progress import progress_bar
from ecgadapt.diffecg.multimodal import FrozenExtractor, HeadConfig, extract_maps, predict_fusion, train_fusion_head
from ecgadapt.models.unet1d import mean_max_pool
from ecgadapt.data.record import natural_key
from ecgadapt.errors import ConfigError
from ecgadapt.train.trainer import class_weights
from ecgadapt.personalize.diffecg_t import bayes_opt_integer, objective_value, train_head


@dataclass(frozen=True)
class ModalPersonalization:
    experiment: str  # a generalization experiment: its source extractors, target items and test subjects
    ratio: float = 0.1  # the first 10 % of each subject's items personalize
    fixed_t: tuple[int, ...] = (30,)
    t_min: int = 1
    t_max: int = 100
    init_points: int = 4
    iterations: int = 4
    probe_epochs: int = 5
    objective: str = "gamma"
    head_epochs: int = 30
    max_subjects: int | None = None  # the first subjects of the test part (smoke configs)
    #: "test": the experiment's test subjects; "all": every target subject. Both are honest, since each subject's
    #: head sees only that subject's first items and the extractors never saw the target database; "all" is for
    #: targets with very few subjects (the CPSC 2021 sample has six)
    subjects: str = "test"

    def __post_init__(self) -> None:
        if self.subjects not in ("test", "all"):
            raise ConfigError(f"modal_personalization {self.experiment!r}: subjects must be 'test' or 'all', "
                              f"got {self.subjects!r}")


def choose_t(encoder, x: np.ndarray, y: np.ndarray, n_classes: int, spec: ModalPersonalization,
             seed: int) -> tuple[int, list[dict[str, Any]]]:
    """BO over t for one modality: the objective of a linear probe trained on the pooled maps at t."""
    yt = torch.from_numpy(y.astype(np.int64))
    weight = class_weights(y, n_classes)

    def probe(t: int) -> float:
        f = mean_max_pool(extract_maps(FrozenExtractor(encoder, t), x))
        torch.manual_seed(seed)
        head = torch.nn.Linear(f.shape[1], n_classes)
        return objective_value(train_head(head, f, yt, weight, spec.probe_epochs, 1e-2), spec.objective)

    return bayes_opt_integer(probe, spec.t_min, spec.t_max, spec.init_points, spec.iterations, seed)


def run_modal_personalization(spec: ModalPersonalization, target, split: dict[str, np.ndarray],
                              encoders: dict[str, Any], seed: int, out: Path, progress: bool = True,
                              log=print) -> list[dict[str, Any]]:
    """One row per (subject, variant): ``fixed-t<K>`` for each fixed step and ``bo-per-modality``."""
    if not 0 < spec.ratio < 1:
        raise ConfigError(f"multimodal personalization: ratio must be in (0, 1), got {spec.ratio}")
    if target.y.ndim != 1:
        raise ConfigError(f"{spec.experiment}: per-subject personalization needs a single-label target")
    path = out / "modal_personalization.json"
    modalities = list(encoders)
    n_classes = len(target.label_names)
    time_s = target.prepared.time_s()[target.rows]
    # a subject may have several records (CPSC 2021, LTAF): personalize on the first items of the first record
    names = target.prepared.record_names
    record_rank = np.empty(len(names), dtype=np.int64)
    record_rank[sorted(range(len(names)), key=lambda i: natural_key(names[i]))] = np.arange(len(names))
    record_index = np.asarray(target.prepared.record)[target.rows]  # record of each item
    record_of = record_rank[record_index]
    test = split["test"] if spec.subjects == "test" else np.arange(len(target.y))
    subjects = sorted(set(target.subject[test].tolist()),
                      key=lambda i: natural_key(target.subject_names([i])[0]))[:spec.max_subjects]
    rows: list[dict[str, Any]] = []
    with progress_bar(progress, f"{spec.experiment}: per-subject t", len(subjects)) as advance:
        for s in subjects:
            idx = test[target.subject[test] == s]
            idx = idx[np.lexsort((time_s[idx], record_of[idx]))]
            n_p = max(1, int(round(spec.ratio * len(idx))))
            p_idx, t_idx = idx[:n_p], idx[n_p:]
            if len(t_idx) == 0:
                continue
            y_p, y_t = target.y[p_idx], target.y[t_idx]
            name = target.subject_names([s])[0]
            # what the variants share: the subject's items (personalization first) and its description
            items = {m: target.inputs.arrays[m][np.r_[p_idx, t_idx]] for m in modalities}
            present = target.inputs.present_of(modalities)[np.r_[p_idx, t_idx]]
            about = {"experiment": spec.experiment, "subject": name, "n_personalize": int(n_p),
                     "n_test": int(len(t_idx)), "classes_personalize": int(len(np.unique(y_p))),
                     "classes_test": int(len(np.unique(y_t))),
                     "personalize_records": sorted({names[i] for i in record_index[p_idx]}, key=natural_key)}
            variants = [(f"fixed-t{t}", {m: t for m in modalities}, 0.0, {}) for t in spec.fixed_t]
            t0 = time.perf_counter()
            searched = {m: choose_t(encoders[m], items[m][:n_p], y_p, n_classes, spec, seed) for m in modalities}
            variants.append(("bo-per-modality", {m: searched[m][0] for m in modalities}, time.perf_counter() - t0,
                             {m: searched[m][1] for m in modalities}))
            for variant, ts, search_s, trials in variants:
                t1 = time.perf_counter()
                maps = {m: extract_maps(FrozenExtractor(encoders[m], ts[m]), items[m]) for m in modalities}
                mp = [maps[m][:n_p] for m in modalities]
                # the personalization items are all this subject has: the head's epoch is chosen on them too
                head, _ = train_fusion_head(mp, present[:n_p], y_p, mp, present[:n_p], y_p, n_classes,
                                            HeadConfig(epochs=spec.head_epochs, patience=spec.head_epochs, seed=seed))
                pred = predict_fusion(head, [maps[m][n_p:] for m in modalities], present[n_p:]).argmax(1)
                rows.append({**about, "variant": variant, "t": ts, "accuracy": float(accuracy_score(y_t, pred)),
                             "f1_macro": float(f1_score(y_t, pred, average="macro", labels=np.unique(y_t),
                                                        zero_division=0)),
                             "seconds": round(search_s + time.perf_counter() - t1, 2),
                             "search_seconds": round(search_s, 2), "searched": trials})
            log(f"{spec.experiment} subject {name}: " + ", ".join(
                f"{r['variant']} {r['f1_macro']:.3f}" for r in rows if r["subject"] == name))
            advance(name)
    atomic_write_json(path, rows)
    return rows
