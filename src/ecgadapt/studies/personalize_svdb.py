"""The personalization study on SVDB patients (``svdb-personalized``): population models that never saw the patient.

The 52 SVDB patients here are dealt into folds (seeded). For each fold, a population model is trained on MIT-BIH DS1
(less its validation patients) plus the SVDB patients of the other folds (less a share of them held out, patient-wise,
as validation patients), and optionally other databases' beats (``extra_beats``). Each method's hyperparameters are
chosen on that fold's SVDB validation patients; then every patient of the fold adapts on its first minutes and is
scored on the rest, with and without the negative-transfer guard, exactly as in ``studies.personalize``.

SVDB's ECG1 (a modified lead II) stands in for MLII; its 128 Hz beats are resampled to the model's 360 Hz.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ecgadapt._atomic import atomic_write_json, atomic_write_text, output_folder
from ecgadapt.data import get_adapter
from ecgadapt.errors import ConfigError
from ecgadapt.models.io import load_checkpoint
from ecgadapt.personalize import BeatSet
from ecgadapt.personalize.base import parse_method
from ecgadapt.population.training import (DS1_VALIDATION, POPULATION_CONFIG, prepare_extra_beats, prepare_mitdb_beats,
                                          refuse_absent_records, rows_of, train_population_model)
from ecgadapt.population.card import extra_cards, save_population_model
from ecgadapt.prepare import PreparedDataset
from ecgadapt.protocols import DS1, LeakError, build_protocol, fold_records
from ecgadapt.train import TrainConfig
from ecgadapt.studies.personalize import (GUARD_VARIANTS, UNGUARDED_VARIANTS, _gross, personalize_patients,
                                          tune_methods)

#: the methods the SVDB study runs unless told otherwise: the population model alone and the guarded default of the
#: DS2 study's best (every method is one adaptation per patient and fold; `--methods` runs any registered strategy)
SVDB_METHODS = ("none", "finetune", "l2sp")
#: share of the training folds' SVDB patients held out as validation patients of each fold's population model
SVDB_VALIDATION_SHARE = 0.2


def check_no_leak(card: dict[str, Any], test_patients: list[str], path: Path) -> None:
    """A fold's population model must not have trained on, or been selected on, any of its test patients."""
    svdb = next((c for c in extra_cards(card.get("extra_beats")) if c["dataset"] == "svdb"), None)
    if svdb is None:
        raise LeakError(f"{path}: this population model's card names no SVDB beats")
    seen = set(svdb.get("train_records", [])) | set(svdb.get("val_records", []))
    leaked = sorted(seen & set(test_patients))
    if leaked:
        raise LeakError(f"{path}: test patient(s) {', '.join(leaked)} are among the patients this population model "
                        "was trained or validated on")


def fold_population_model(fold: int, test_patients: list[str], mitdb: PreparedDataset, svdb_root: Path, out: Path,
                          seed: int, extra_beats: tuple[str, ...], progress: bool, log=print,
                          config: TrainConfig = POPULATION_CONFIG):
    """The fold's population model: trained here, or the one an earlier run of the same study left in its folder
    (checked to exclude the same test patients). Returns (model, card, path)."""
    path = out / f"fold-{fold}" / "population.pt"
    sources = (f"svdb:{svdb_root}", *extra_beats)
    if path.is_file():
        model, card = load_checkpoint(path)
        if [c["source"] for c in extra_cards(card.get("extra_beats"))] != list(sources):
            raise ConfigError(f"{path}: this folder's population model was trained with other extra beats: use another "
                              "--out folder")
        excluded = next(c for c in extra_cards(card["extra_beats"]) if c["dataset"] == "svdb")["excluded_records"]
        if sorted(excluded) != sorted(test_patients):
            raise ConfigError(f"{path}: this folder's fold {fold} left out other patients ({', '.join(excluded)}): use "
                              "another --out folder")
        return model, card, path
    log(f"fold {fold}: training its population model without patients {', '.join(test_patients)}")
    model, card = train_population_model(mitdb, DS1, DS1_VALIDATION, seed=seed, config=config,
                                         out_dir=out / f"fold-{fold}" / "population-train", progress=progress,
                                         extra_beats=sources, extra_validation=SVDB_VALIDATION_SHARE,
                                         exclude_subjects=test_patients)
    command = (f"ecgadapt study personalize --protocol svdb-personalized --seed {seed} (fold {fold}) " +
               " ".join(f"--extra-beats {s}" for s in extra_beats)).strip()
    save_population_model(model, card, mitdb, path, command)
    model, meta = load_checkpoint(path)
    return model, {**card, **meta}, path


def run_svdb_personalize_study(svdb_root: str | Path, mitdb_root: str | Path, out: str | Path, *,
                               methods: tuple[str, ...] = SVDB_METHODS, labelled_minutes: float = 5.0, seed: int = 0,
                               folds: int = 4, patients: tuple[str, ...] | None = None, guard: bool = True,
                               extra_beats: tuple[str, ...] = (), progress: bool = True, log=print,
                               config: TrainConfig = POPULATION_CONFIG) -> pd.DataFrame:
    """Every method on every SVDB patient (or ``patients``), each scored against a population model that never saw
    it (``config``: how each fold's population model is trained). Writes ``per_patient.csv`` (with each patient's
    fold), ``gross.json``, ``folds.json`` and the study report."""
    out = output_folder(out)
    svdb_root, mitdb_root = Path(svdb_root), Path(mitdb_root)
    for m in methods:
        parse_method(m)
    if not labelled_minutes > 0:
        raise ConfigError(f"labelled minutes = {labelled_minutes:g}: the study adapts on each patient's first minutes")
    refs = get_adapter("svdb").records(svdb_root)
    protocol = build_protocol("svdb-personalized", "svdb", refs, labelled_minutes=labelled_minutes, folds=folds,
                              seed=seed)
    if patients:
        unknown = sorted(set(patients) - {r.name for r in refs})
        if unknown:
            raise ConfigError(f"{svdb_root}: patient(s) {', '.join(unknown)} are not SVDB records there")
    refuse_absent_records(mitdb_root, sorted(set(DS1) - {r.name for r in get_adapter("mitdb").records(mitdb_root)}),
                          "DS1 record(s)")
    out.mkdir(parents=True, exist_ok=True)
    mitdb = prepare_mitdb_beats(mitdb_root, progress)
    svdb = prepare_extra_beats(f"svdb:{svdb_root}", mitdb, progress)  # ECG1 for MLII, at the model's rate
    if svdb.failed_records:
        log(f"SVDB records skipped (unreadable): {', '.join(svdb.failed_records)}")
    fit_mitdb = tuple(r for r in DS1 if r not in set(DS1_VALIDATION))
    population = BeatSet.from_prepared(mitdb, rows_of(mitdb, fit_mitdb))
    rows, mats, fold_info, chosen_all = [], {}, [], {}
    tested: list[str] = []
    for fold in range(folds):
        members = [r for r in fold_records(protocol, fold) if r in set(svdb.record_names)]
        test = [r for r in members if not patients or r in set(patients)]
        if not test:
            continue
        model, card, path = fold_population_model(fold, members, mitdb, svdb_root, out, seed, tuple(extra_beats),
                                                  progress, log, config)
        check_no_leak(card, members, path)
        svdb_card = next(c for c in extra_cards(card["extra_beats"]) if c["dataset"] == "svdb")
        val = tuple(svdb_card["val_records"])
        chosen = tune_methods(out / f"fold-{fold}" / "tuning.json", tuple(methods), model, svdb, val, population,
                              labelled_minutes, seed, out / "meta-cache", progress)
        fold_rows, fold_mats = personalize_patients(model, svdb, tuple(test), tuple(methods), chosen,
                                                    labelled_minutes, seed, population, out / "meta-cache",
                                                    guard=guard, progress=progress)
        for row in fold_rows:
            row["fold"] = fold
        rows += fold_rows
        mats.update(fold_mats)
        tested += test
        chosen_all[fold] = chosen
        fold_info.append({"fold": fold, "test_patients": test, "population_model": str(path),
                          "svdb_validation_patients": list(val), "svdb_training_patients": svdb_card["train_records"],
                          "val_aami": card.get("val_aami"), "chosen": chosen})
        atomic_write_json(out / "folds.json", {"protocol": protocol.to_dict(), "folds": fold_info})
    if not tested:
        raise ConfigError(f"{svdb_root}: no SVDB patient to test")
    table = pd.DataFrame(rows)
    gross = _gross(table, mats, tuple(methods), tuple(tested), GUARD_VARIANTS if guard else UNGUARDED_VARIANTS)
    atomic_write_text(out / "per_patient.csv", table.to_csv(index=False))
    atomic_write_json(out / "gross.json", gross)
    from ecgadapt.report.personalize_study import write_study_report

    write_study_report(out, table, gross, {
        "protocol": "svdb-personalized", "description": protocol.description,
        "population_model": f"fold-*/population.pt ({folds} folds)",
        "validation_patients": [f"{r} (fold {f['fold']})" for f in fold_info for r in f["svdb_validation_patients"]],
        "test_patients": tested, "chosen": {m: {f"fold {k}": c[m] for k, c in chosen_all.items()} for m in methods},
        "seed": seed, "leads": ["ECG1 (for MLII)"], "skipped_records": svdb.failed_records,
        "labelled_minutes": labelled_minutes, "threads": torch.get_num_threads()})
    return table

