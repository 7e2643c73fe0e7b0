"""Supervised pre-training of a population beat model on another database's rhythm labels (the issue's "optionally
pre-trained on CinC 2017 first").

CinC 2017 labels each 9-61 s single-lead recording as a whole: normal rhythm (N), atrial fibrillation (A), another
rhythm (O) or too noisy (~). It has no beat labels, so its beats cannot simply join the population's training beats
(``--extra-beats``): the V beats inside an AF recording would be labelled N. Instead every detected beat gets its
recording's rhythm label, the beat network learns to tell those rhythms apart from one beat window plus the RR
features (which carry the rhythm irregularity), and then a fresh AAMI head is trained with the whole network on the
MIT-BIH population as usual. Why it could help: MIT-BIH records 100-124 hold no atrial fibrillation, so a model
trained on them alone has never seen an early beat in an irregular rhythm that is not S; CinC 2017 holds 700+ AF
recordings of other patients. Measured over 3 seeds (BENCHMARKS.md, "Pre-training on CinC 2017"), it did not: the
population model alone made more errors in atrial fibrillation, likely because a head trained without AF beats is
free to map the features that set them apart to S. So it is an option, off by default.

Beats come from neurokit2's R-peak detector as it ships (``PRETRAIN_DETECTOR``) on the record's one lead, cut exactly
as the population beats (same window, filters, normalisation, RR features), resampled to the population model's rate.
Noisy recordings (``~``) are left out. The recordings are split into pre-training and validation recordings (seeded;
each CinC 2017 recording is a different patient, so the split is patient-wise); the epoch with the best validation
macro F1 over the rhythms is kept. Nothing of the MIT-BIH population is read here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from ecgadapt.data import AAMI_CLASSES, get_adapter
from ecgadapt.errors import ConfigError
from ecgadapt.models.registry import EcgModel, create_model
from ecgadapt.population.other_databases import parse_source, require_one_lead, source_card
from ecgadapt.prepare import PreparedDataset, prepare_dataset
from ecgadapt.train.data import ArrayDataset
from ecgadapt.train.trainer import TrainConfig, fit

PRETRAIN = "pre-training data"  # the option's name in its errors
#: record labels that say nothing about the rhythm (CinC 2017's noisy recordings)
NOISE_LABELS = ("~",)
#: short on purpose: the backbone only needs a start; the MIT-BIH training that follows selects on MIT-BIH patients
RHYTHM_PRETRAIN_CONFIG = TrainConfig(epochs=6, batch_size=256, lr=2e-3, class_weights="sqrt", patience=2,
                                      monitor="f1_macro", bf16=True)
#: beats drawn per recording: the rhythm is the recording's, so more beats of one recording add little
BEATS_PER_RECORD = 10
VALIDATION_SHARE = 0.1


def check_source(source: str) -> tuple[str, str]:
    """``DATASET:PATH`` -> (dataset, path), checking that the dataset labels whole recordings with one rhythm."""
    dataset, root = parse_source(source, PRETRAIN, "cinc2017:data/cinc2017")
    adapter = get_adapter(dataset)  # ConfigError naming the known adapters
    if adapter.task != "windows" or adapter.multilabel:
        raise ConfigError(f"pre-training data {source!r}: {dataset} does not label each recording with one rhythm "
                          "(use a database such as cinc2017)")
    return dataset, root


#: the R-peak detector of the recordings' beats: neurokit2's as it ships, which misses QRS complexes that point down
#: (``signal.peaks``). The pre-training runs recorded in BENCHMARKS.md were made with it; kept so that their commands
#: re-create them. Whether ecgadapt's detector (both polarities) helps pre-training has not been measured
PRETRAIN_DETECTOR = "neurokit-upright"


def prepare_rhythm_beats(source: str, prepared: PreparedDataset, progress: bool = True) -> PreparedDataset:
    """The detected beats of every recording of ``source``, cut the way ``prepared`` (the population beats) was."""
    dataset, root = check_source(source)
    require_one_lead(source, PRETRAIN, prepared)
    # the recording's one lead, whatever its name, in place of the model's lead
    settings = replace(prepared.settings, leads=None, target_fs=prepared.fs, peaks="detected", missing_leads="error",
                       detector=PRETRAIN_DETECTOR)
    beats, report = prepare_dataset(dataset, root, settings, workers=2, progress=progress)
    if not len(beats):
        why = f" (first failure: {report.failures[0]})" if report.failures else ""
        raise ConfigError(f"{root}: no beats found in any {dataset} recording{why}")
    if beats.X.shape[1] != 1:
        raise ConfigError(f"{root}: {dataset} recordings have {beats.X.shape[1]} leads; rhythm pre-training reads "
                          "one-lead recordings")
    return beats


def rhythm_labels(beats: PreparedDataset) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each beat's recording label as a class index (-1 for noisy recordings), and the class names."""
    record_labels = [(m.get("labels") or [""])[0] for m in beats.records]
    names = tuple(lab for lab in get_adapter(beats.dataset).label_names if lab not in NOISE_LABELS)
    per_record = np.array([names.index(lab) if lab in names else -1 for lab in record_labels], dtype=np.int64)
    return per_record[np.asarray(beats.record)], names


def split_rows(beats: PreparedDataset, y: np.ndarray, seed: int, beats_per_record: int = BEATS_PER_RECORD,
               validation_share: float = VALIDATION_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """(pre-training rows, validation rows): up to ``beats_per_record`` labelled beats of each recording, the
    recordings split ``validation_share`` to validation. Both draws are seeded."""
    rng = np.random.default_rng(seed)
    record = np.asarray(beats.record)
    labelled = np.flatnonzero(y >= 0)
    order = labelled[np.argsort(record[labelled], kind="stable")]
    starts = np.flatnonzero(np.r_[True, np.diff(record[order]) != 0])
    chosen = [rng.permutation(part)[:beats_per_record] for part in np.split(order, starts[1:]) if len(part)]
    rows = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    recordings = np.unique(record[rows])
    val_recordings = rng.permutation(recordings)[:max(1, int(round(validation_share * len(recordings))))]
    in_val = np.isin(record[rows], val_recordings)
    return rows[~in_val], rows[in_val]


def pretrain_on_rhythm(source: str, prepared: PreparedDataset, *, model_name: str = "beatnet", rr_features: int = 4,
                       seed: int = 0, config: TrainConfig = RHYTHM_PRETRAIN_CONFIG, progress: bool = True,
                       beats_per_record: int = BEATS_PER_RECORD) -> tuple[EcgModel, dict[str, Any]]:
    """A ``model_name`` network pre-trained to tell the rhythms of ``source`` apart from single beats, returned with a
    fresh AAMI head (N/S/V/F/Q) for the population training, and what a model card records about it."""
    beats = prepare_rhythm_beats(source, prepared, progress)
    y, names = rhythm_labels(beats)
    train_rows, val_rows = split_rows(beats, y, seed, beats_per_record)
    if not len(train_rows) or len(set(y[train_rows].tolist())) < 2:
        raise ConfigError(f"pre-training data {source!r}: fewer than two rhythms among the labelled recordings")
    rr = beats.arrays.get("rr")
    train = ArrayDataset(beats.X, y, train_rows, rr)
    val = ArrayDataset(beats.X, y, val_rows, rr)
    torch.manual_seed(seed)
    model = create_model(model_name, in_leads=1, num_classes=len(names), rr_features=rr_features)
    result = fit(model, train, val, replace(config, seed=seed), label_names=names, progress=progress)
    torch.manual_seed(seed)  # the new head's initial weights too
    model.reset_classifier(len(AAMI_CLASSES))
    record = np.asarray(beats.record)
    card = {**source_card(source, beats.dataset, beats), "classes": list(names),
            "records": int(len(np.unique(record[train_rows]))), "beats": int(len(train_rows)),
            "val_records": int(len(np.unique(record[val_rows]))), "val_beats": int(len(val_rows)),
            "class_counts": {c: int((y[train_rows] == i).sum()) for i, c in enumerate(names)},
            "beats_per_record": beats_per_record, "detector": PRETRAIN_DETECTOR, "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "val_macro_f1": round(float(result.best_metric), 4), "seconds": round(result.seconds, 1)}
    return model, card
