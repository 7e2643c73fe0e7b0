"""Training population beat models with the project's trainer on MIT-BIH records of other patients (and, with
``extra_beats``, other databases' patients), validation patients held out patient-wise."""

from __future__ import annotations

import os
import platform
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecgadapt._machine import processor_name
from ecgadapt.data import AAMI_CLASSES, get_adapter
from ecgadapt.errors import ConfigError
from ecgadapt.evaluation import aami_metrics
from ecgadapt.models import create_model
from ecgadapt.models.beatnet import RR_FEATURE_COUNTS
from ecgadapt.models.io import load_checkpoint
from ecgadapt.models.registry import EcgModel, model_options
from ecgadapt.population.other_databases import parse_source, require_one_lead, source_card
from ecgadapt.population.rhythm_pretrain import check_source, pretrain_on_rhythm
from ecgadapt.population.shipped import DEFAULT_LEADS, model_leads, model_missing_leads
from ecgadapt.prepare import PreparedDataset, default_settings, prepare_dataset
from ecgadapt.protocols import DS1
from ecgadapt.train import ArrayDataset, TrainConfig, fit, predict


#: DS1 records held out (patient-wise) for early stopping and model selection of the shipped model
DS1_VALIDATION = ("106", "119", "207", "223")


POPULATION_CONFIG = TrainConfig(epochs=12, batch_size=256, lr=2e-3, class_weights="sqrt", patience=4,
                                monitor="f1_macro", bf16=True)


#: the RR features a population model reads unless told otherwise: the four RR intervals, without the rhythm
#: irregularity (what the shipped model and every recorded study read)
DEFAULT_RR_FEATURES = 4


def refuse_absent_records(mitdb_root: str | Path, absent: list[str], what: str) -> None:
    """A ConfigError naming the MIT-BIH folder and the ``absent`` records (``what``: e.g. "DS1 record(s)"), if any: a
    partial folder would silently change what is trained or tested."""
    if absent:
        raise ConfigError(f"{mitdb_root}: {len(absent)} {what} are not there ({', '.join(absent)}): pass the MIT-BIH "
                          "folder with all its records (`ecgadapt data download mitdb DEST`)")


def check_rr_features(rr_features: int) -> None:
    """A population model reads 4 RR features, or 5 with the rhythm irregularity (``ecgadapt.signal.RR_FEATURES``)."""
    if rr_features not in RR_FEATURE_COUNTS:
        raise ConfigError(f"rr_features={rr_features}: a population model reads 4 RR features (pre-, post-, local and "
                          "average RR) or 5 (also the rhythm irregularity)")


EXTRA_BEATS = "extra beats"  # the option's name in its errors


def extra_sources(extra_beats: str | Sequence[str] | None) -> tuple[str, ...]:
    """``--extra-beats`` as a tuple of ``DATASET:PATH`` specs (the option may be given once or several times)."""
    if extra_beats is None:
        return ()
    return (extra_beats,) if isinstance(extra_beats, str) else tuple(extra_beats)


def prepare_extra_beats(source: str, prepared: PreparedDataset, progress: bool = True) -> PreparedDataset:
    """The annotated beats of another database, ``DATASET:PATH`` (e.g. ``cpsc2021:data/cpsc2021``), cut the way
    ``prepared`` (the MIT-BIH population beats) was: same window, filters, RR features, resampled to its rate, from
    the equivalent lead (``EQUIVALENT_LEADS``: lead II for MLII).

    Why: the MIT-BIH population of the patient-specific protocol (records 100-124) holds no atrial fibrillation, so
    a model trained on it has never seen an early beat in an irregular rhythm labelled N (AAMI counts the beats of
    atrial fibrillation as N), and the rhythm-irregularity RR feature means nothing to it. CPSC 2021 holds beat
    annotations of Holter records in and out of paroxysmal atrial fibrillation. Other patients' records are added to
    the training beats only: validation stays the population's held-out patients."""
    dataset, root = parse_source(source, EXTRA_BEATS, "cpsc2021:data/cpsc2021")
    lead = require_one_lead(source, EXTRA_BEATS, prepared)
    # the database's stand-in for the model's lead: lead II for MLII, SVDB's ECG1 (a modified lead II)
    equivalent = get_adapter(dataset).equivalent_leads.get(lead, lead)
    settings = replace(prepared.settings, leads=(equivalent,), target_fs=prepared.fs,
                       peaks="annotated", missing_leads="error")
    extra, report = prepare_dataset(dataset, root, settings, workers=2, progress=progress)
    if not len(extra) or not (np.asarray(extra.y) >= 0).any():
        why = f" (first failure: {report.failures[0]})" if report.failures else ""
        raise ConfigError(f"{root}: no annotated beats in lead {settings.leads[0]} of any {dataset} record{why}")
    return extra


def extra_beats_card(source: str, extra: PreparedDataset, rows: np.ndarray, val_records: Sequence[str] = (),
                     excluded: Sequence[str] = ()) -> dict[str, Any]:
    """What a model card records about the extra beats it was trained on (``rows``), the records of that database
    held out for validation and those left out altogether (a protocol's test patients)."""
    counts = np.bincount(np.asarray(extra.y)[rows], minlength=len(AAMI_CLASSES))
    trained = sorted({extra.record_names[i] for i in np.unique(np.asarray(extra.record)[rows])})
    return {**source_card(source, extra.dataset, extra), "lead": extra.settings.leads[0],
            "records": len(trained), "beats": int(len(rows)),
            "class_counts": {c: int(n) for c, n in zip(AAMI_CLASSES, counts)},
            "train_records": trained, "val_records": list(val_records), "excluded_records": list(excluded)}


def split_extra_records(extra: PreparedDataset, share: float, seed: int, exclude_subjects: Collection[str] = ()
                        ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(training, validation, excluded) records of another database's beats. Records of ``exclude_subjects`` are left
    out (a protocol's test patients); ``share`` of the remaining subjects are validation patients, drawn with the
    seed to hold 15-50 % of the database's S and V beats (``stratified_validation_records``), every record of a drawn
    subject with them: patient-wise."""
    subject_of = {m["name"]: m["subject"] for m in extra.records}
    excluded = tuple(r for r in extra.record_names if subject_of[r] in set(exclude_subjects))
    usable = tuple(r for r in extra.record_names if r not in set(excluded))
    if not share:
        return usable, (), excluded
    if not 0 < share < 1:
        raise ConfigError(f"extra validation share {share:g}: give a share of the patients in (0, 1)")
    n = max(1, int(round(share * len({subject_of[r] for r in usable}))))
    drawn = stratified_validation_records(extra, usable, n, seed)
    val_subjects = {subject_of[r] for r in drawn}
    val = tuple(r for r in usable if subject_of[r] in val_subjects)
    return tuple(r for r in usable if r not in set(val)), val, excluded


def prepare_mitdb_beats(mitdb_root: str | Path, progress: bool = True, leads: tuple[str, ...] = DEFAULT_LEADS,
                        missing_leads: str = "error", records: Sequence[str] | None = None) -> PreparedDataset:
    """All MIT-BIH records as beat windows of ``leads`` with RR features. Records without one of the leads (the paced
    ones lack MLII; a few have V2, V4 or V5 instead of V1) are skipped and listed in the cache's failures, unless
    ``missing_leads="zero"``: then a missing lead after the first is a flat channel (records without MLII are still
    skipped)."""
    settings = replace(default_settings("mitdb", "beats"), leads=tuple(leads), missing_leads=missing_leads)
    prepared, _ = prepare_dataset("mitdb", mitdb_root, settings, workers=2, progress=progress,
                                  records=tuple(records) if records is not None else None)
    return prepared


def prepare_for_model(mitdb_root: str | Path, meta: dict[str, Any], progress: bool = True,
                      records: Sequence[str] | None = None) -> PreparedDataset:
    """The MIT-BIH records (all, or ``records``) prepared the way a population checkpoint reads beats."""
    return prepare_mitdb_beats(mitdb_root, progress, model_leads(meta), model_missing_leads(meta), records)


def rows_of(prepared: PreparedDataset, records: tuple[str, ...]) -> np.ndarray:
    """The rows of ``records``' beats. A record that is not there is named with the user's data folder (not the cache
    folder, which the user never chose) and, if preparing it failed, why."""
    wanted = {i for i, name in enumerate(prepared.record_names) if name in set(records)}
    missing = sorted(set(records) - set(prepared.record_names))
    if missing:
        failed = {f["record"]: f["error"] for f in prepared.manifest.get("failures", [])}
        reasons = "; ".join(f"{r}: {failed[r]}" for r in missing if r in failed)
        raise ConfigError(f"{prepared.manifest.get('root', prepared.cache.dir)}: record(s) {', '.join(missing)} "
                          "missing or unreadable" + (f" ({reasons})" if reasons else "") +
                          f"; the beats prepared from that folder are in {prepared.cache.dir}")
    return np.flatnonzero(np.isin(np.asarray(prepared.record), list(wanted)))


def stratified_validation_records(prepared: PreparedDataset, records: tuple[str, ...], n: int, seed: int,
                                  classes: tuple[str, ...] = ("S", "V"), share: tuple[float, float] = (0.15, 0.5),
                                  tries: int = 2000) -> tuple[str, ...]:
    """``n`` validation patients out of ``records`` that hold between ``share[0]`` and ``share[1]`` of the population's
    beats of each of ``classes`` (seeded random draws, the first that fits; else the draw closest to fitting).

    Why: validation patients decide early stopping (macro F1) and every method's hyperparameters. A plain random draw
    from a small population (records 100-124 hold ~200 S beats, mostly in 118, 100 and 124) can leave the validation
    patients with no S beat at all; macro F1 then cannot tell a model that finds S beats from one that never does.
    The upper bound keeps most of each class for training."""
    if n >= len(records):
        raise ConfigError(f"{n} validation patients out of {len(records)} population records leaves none to train on")
    y, rec = np.asarray(prepared.y), np.asarray(prepared.record)
    index = {name: i for i, name in enumerate(prepared.record_names)}
    counts = {r: np.bincount(y[rec == index[r]], minlength=len(AAMI_CLASSES)) for r in records}
    wanted = [AAMI_CLASSES.index(c) for c in classes]
    total = np.sum([counts[r] for r in records], axis=0)[wanted].astype(float)
    rng = np.random.default_rng(seed)
    best, best_miss = None, np.inf
    for _ in range(tries):
        pick = tuple(sorted(rng.choice(records, n, replace=False).tolist()))
        got = np.sum([counts[r] for r in pick], axis=0)[wanted] / np.maximum(total, 1)
        miss = float(np.sum(np.clip(share[0] - got, 0, None) + np.clip(got - share[1], 0, None)))
        if miss == 0:
            return pick
        if miss < best_miss:
            best, best_miss = pick, miss
    return best


def zero_leads_of(prepared: PreparedDataset, record: str) -> list[str]:
    """The leads a prepared record lacked and got as flat channels (settings with missing_leads="zero")."""
    return next((list(m.get("zero_leads", [])) for m in prepared.records if m["name"] == record), [])


def _without_q(prepared: PreparedDataset, rows: np.ndarray) -> np.ndarray:
    return rows[np.asarray(prepared.y[rows]) != AAMI_CLASSES.index("Q")]


def train_population_model(prepared: PreparedDataset, train_records: tuple[str, ...], val_records: tuple[str, ...], *,
                           model_name: str = "beatnet", config: TrainConfig = POPULATION_CONFIG, seed: int = 0,
                           out_dir: str | Path | None = None, progress: bool = True,
                           model: EcgModel | None = None, rr_features: int = DEFAULT_RR_FEATURES,
                           extra_beats: str | Sequence[str] | None = None, extra_validation: float = 0.0,
                           exclude_subjects: Collection[str] = (),
                           pretrain: str | None = None) -> tuple[EcgModel, dict[str, Any]]:
    """Train on ``train_records`` minus ``val_records`` and select on ``val_records`` (patients carved out of the
    population, patient-wise); returns the model and the model-card data. ``model`` trains a given (e.g.
    pre-trained) network instead of a new ``model_name``, which reads the first ``rr_features`` columns of
    ``ecgadapt.signal.RR_FEATURES`` (5: also the rhythm irregularity). ``extra_beats`` (``DATASET:PATH``): the
    annotated beats of another database's patients join the training beats (``prepare_extra_beats``; several
    databases: a sequence of specs), less the records of ``exclude_subjects`` (another database's test patients);
    ``extra_validation``: the share of each such database's patients held out, patient-wise, to join the validation
    patients (``split_extra_records``), so that selection sees every database the model is meant for. ``pretrain``
    (``DATASET:PATH``, e.g. CinC 2017): the network is first pre-trained on that database's rhythm labels
    (``rhythm_pretrain.pretrain_on_rhythm``)."""
    outside = set(val_records) - set(train_records)
    if outside:
        raise ConfigError(f"validation records {sorted(outside)} are not among the population records: the "
                          "validation patients must be carved out of the population, never taken from elsewhere")
    check_rr_features(rr_features)
    if model is None and rr_features != DEFAULT_RR_FEATURES and "rr_features" not in model_options(model_name):
        raise ConfigError(f"rr_features={rr_features}: network {model_name!r} reads no RR features (beatnet does)")
    if pretrain is not None:
        check_source(pretrain)  # a bad spec fails before any work
    fit_records = tuple(r for r in train_records if r not in set(val_records))
    # Q beats (8 in DS1) are left out: too few to learn, and with class-balanced weights they would get a weight
    # ~1000x that of N and the model would call many normal beats "unclassifiable" (EC57 scores without Q, too)
    train = ArrayDataset.from_prepared(prepared, _without_q(prepared, rows_of(prepared, fit_records)))
    val = ArrayDataset.from_prepared(prepared, _without_q(prepared, rows_of(prepared, val_records)))
    mitdb_train_beats, mitdb_val_beats, cards = len(train), len(val), []
    for source in extra_sources(extra_beats):
        extra = prepare_extra_beats(source, prepared, progress)
        extra_fit, extra_val, excluded = split_extra_records(extra, extra_validation, seed, exclude_subjects)
        labelled = lambda records: _without_q(extra, np.intersect1d(  # noqa: E731
            rows_of(extra, records), np.flatnonzero(np.asarray(extra.y) >= 0)))
        extra_rows = labelled(extra_fit)
        cards.append(extra_beats_card(source, extra, extra_rows, extra_val, excluded))
        train = ArrayDataset.concat(train, ArrayDataset.from_prepared(extra, extra_rows))
        if extra_val:
            val_rows = labelled(extra_val)
            cards[-1]["val_beats"] = int(len(val_rows))
            val = ArrayDataset.concat(val, ArrayDataset.from_prepared(extra, val_rows))
    # one database: its card as before (a dict); several: a list
    extra_card = None if not cards else cards[0] if isinstance(extra_beats, str) else cards
    pretrain_card = None
    if pretrain is not None:
        if model is not None:
            raise ConfigError("give either a model to train or pre-training data, not both")
        model, pretrain_card = pretrain_on_rhythm(pretrain, prepared, model_name=model_name, rr_features=rr_features,
                                                  seed=seed, progress=progress)
    if model is None:
        torch.manual_seed(seed)  # the initial weights too: the same command and seed give the same model
        # only a network that reads RR features takes them (BeatNet); any other registered one reads the beat alone
        options = {"rr_features": rr_features} if "rr_features" in model_options(model_name) else {}
        model = create_model(model_name, in_leads=prepared.X.shape[1], num_classes=len(AAMI_CLASSES), **options)
    result = fit(model, train, val, replace(config, seed=seed), label_names=AAMI_CLASSES, out_dir=out_dir,
                 progress=progress)
    val_pred = predict(model, val).argmax(1)
    card = {"model": model_name, "classes": list(AAMI_CLASSES), "train_records": list(train_records),
            "val_records": list(val_records), "train_beats": mitdb_train_beats, "val_beats": mitdb_val_beats,
            "val_beats_all": len(val), "seed": seed,
            "best_epoch": result.best_epoch, "epochs_run": len(result.history), "train_seconds": round(result.seconds, 1),
            "val_aami": aami_metrics(np.asarray(val.y[val.indices]), val_pred),
            "config": {k: v for k, v in config.__dict__.items()}, "machine": platform.machine(),
            "processor": processor_name(), "cpus": os.cpu_count(),
            "zero_lead_records": [r for r in fit_records if zero_leads_of(prepared, r)],
            "torch_threads": torch.get_num_threads(), "extra_beats": extra_card, "pretrain": pretrain_card}
    return model, card


def population_beats(mitdb_root: str | Path, model_path: str | Path, progress: bool = True):
    """The population beats a model was trained on (its ``train_records``), as a BeatSet for the strategies that
    need population data (domain adaptation, meta-learning)."""
    from ecgadapt.personalize.base import BeatSet

    meta = load_checkpoint(model_path)[1]
    records = tuple(meta.get("train_records") or DS1)
    prepared = prepare_for_model(mitdb_root, meta, progress)
    lacking = sorted(set(records) - set(prepared.record_names))
    if lacking:  # named by the user's folder, not by the cache
        raise ConfigError(f"{mitdb_root}: the population beats are those of the {len(records)} records in the card of "
                          f"{Path(model_path).name}, and {len(lacking)} of them are not there or not readable "
                          f"({', '.join(lacking)}): pass the MIT-BIH folder with all its records")
    return BeatSet.from_prepared(prepared, rows_of(prepared, records))
