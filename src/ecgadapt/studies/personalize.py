"""The personalization study: every method on every test patient of a patient-specific MIT-BIH protocol.

Protocol: the first ``labelled_minutes`` of each test record are labelled and used to adapt; the remaining
minutes are the test. The population model is trained on the protocol's population records only, with
validation patients carved out of them (seeded, and chosen to hold 15-50 % of the population's S and V beats, so
that early stopping and tuning can see the rare classes at all). Those validation patients, unseen by the population
model, are also where each method's hyperparameters are chosen (leave-patients-out): the grid point with the best
gross macro F1 on their own post-adaptation minutes wins. Only then are the test patients touched, once.

Per patient we record the population model, the method without the guard, with it, with its held-out check alone
(without the coverage check of the unlabelled rest), and gated (``guard.gated_predictions``: a beat's prediction
changes only in a way the held-out labelled beats vouch for), so the table can count patients made worse each way;
and, guard or not, ``deferred`` (``personalize.deferral``): the population model's probabilities for the classes the
labelled minutes do not show, the personalized model's for the others.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ecgadapt._atomic import atomic_write_json, atomic_write_text, output_folder
from ecgadapt._progress import progress_bar
from ecgadapt.data import AAMI_CLASSES, get_adapter
from ecgadapt.errors import ConfigError
from ecgadapt.evaluation import confusion, from_confusion, per_patient_ci
from ecgadapt.models.io import load_checkpoint
from ecgadapt.personalize import AdaptContext, BeatSet, NegativeTransferGuard, get_strategy, predict_beats
from ecgadapt.personalize.base import parse_method, predict_first_leads, strategy_class, study_strategies
from ecgadapt.personalize.deferral import defer_absent_classes
from ecgadapt.personalize.guard import gated_predictions
from ecgadapt.population.shipped import (DEFAULT_LEADS, MITDB_ONLY_MODEL, load_reference, missing_leads_for,
                                         model_leads, resolve_model, shipped_model_path)
from ecgadapt.population.training import (DEFAULT_RR_FEATURES, DS1_VALIDATION, POPULATION_CONFIG, check_rr_features,
                                          extra_sources, prepare_for_model, prepare_mitdb_beats, refuse_absent_records,
                                          rows_of, stratified_validation_records, train_population_model)
from ecgadapt.population.card import extra_source_names, save_population_model, skipped_source_records
from ecgadapt.prepare import PreparedDataset
from ecgadapt.protocols import DS1, build_protocol

# per patient and method: without the guard, with it, with its held-out check alone, and gated (the personalized
# prediction only where its change is of a kind the held-out labelled beats vouch for); without a guard, the method
# alone and deferred (the classes absent from the labelled minutes left to the population model)
GUARD_VARIANTS = ("unguarded", "guarded", "guarded-heldout", "gated", "deferred")
UNGUARDED_VARIANTS = ("unguarded", "deferred")
#: the strategies compared by default, in their study order (each strategy's ``search_grid`` is what is tuned)
DEFAULT_METHODS = study_strategies()


def _patient_sets(prepared: PreparedDataset, record: str, minutes: float) -> tuple[BeatSet, BeatSet, BeatSet]:
    """(labelled minutes, unlabelled rest with labels hidden, the rest with labels for scoring)."""
    rows = rows_of(prepared, (record,))
    beats = BeatSet.from_prepared(prepared, rows)
    first = beats.time_s < 60 * minutes
    lab, rest = beats.subset(np.flatnonzero(first)), beats.subset(np.flatnonzero(~first))
    hidden = BeatSet(rest.X, rest.rr, np.full(len(rest), -1), rest.time_s, rest.patient)
    return lab, hidden, rest


def population_model_for(protocol, prepared: PreparedDataset, out: Path, seed: int, progress: bool,
                         lead_dropout: float = 0.0, rr_features: int = DEFAULT_RR_FEATURES,
                         extra_beats: str | None = None, pretrain: str | None = None, log=print):
    """The shipped DS1 model when the protocol's population is DS1; otherwise one trained here on the population
    (with the leads ``prepared`` holds, ``lead_dropout``, ``rr_features``, ``extra_beats`` and ``pretrain``)."""
    population = tuple(protocol.records("population"))
    if set(population) == set(DS1):
        path = shipped_model_path(MITDB_ONLY_MODEL)
        return (*load_checkpoint(path), path, DS1_VALIDATION)
    path = out / "population.pt"
    if path.is_file():  # a resumed study keeps the model it trained, and that model's validation patients
        model, meta = load_checkpoint(path)
        if getattr(model, "rr_features", rr_features) != rr_features:
            raise ConfigError(f"{path}: this folder's population model reads {model.rr_features} RR features, not "
                              f"{rr_features}: use another --out folder")
        for what, trained_with, asked in (
                ("extra beats", ",".join(extra_source_names(meta.get("extra_beats"))) or None,
                 ",".join(extra_sources(extra_beats)) or None),
                ("pre-training data", (meta.get("pretrain") or {}).get("source"), pretrain)):
            if trained_with != asked:
                raise ConfigError(f"{path}: this folder's population model was trained with {what} "
                                  f"{trained_with or 'none'}, not {asked or 'none'}: use another --out folder")
        return model, meta, path, tuple(meta["val_records"])
    val = stratified_validation_records(prepared, population, max(2, len(population) // 5), seed)
    model, card = train_population_model(prepared, population, val, seed=seed, out_dir=out / "population-train",
                                         progress=progress, config=replace(POPULATION_CONFIG, lead_dropout=lead_dropout),
                                         rr_features=rr_features, extra_beats=extra_beats, pretrain=pretrain)
    for line in skipped_source_records(card):
        log(line)
    command = population_command(protocol.name, seed, tuple(prepared.settings.leads or ()), lead_dropout, rr_features,
                                 extra_beats, pretrain)
    save_population_model(model, card, prepared, path, command)
    return (*load_checkpoint(path), path, val)


def population_command(protocol: str, seed: int, leads: tuple[str, ...], lead_dropout: float, rr_features: int,
                       extra_beats: str | None, pretrain: str | None) -> str:
    """The study command line, with the options that shaped the population model it trained (for its card)."""
    options = {"--leads": ",".join(leads) if leads != DEFAULT_LEADS else None,
               "--lead-dropout": f"{lead_dropout:g}" if lead_dropout else None,
               "--rr-features": rr_features if rr_features != DEFAULT_RR_FEATURES else None,
               "--extra-beats": " --extra-beats ".join(extra_sources(extra_beats)) or None, "--pretrain": pretrain}
    return " ".join([f"ecgadapt study personalize --protocol {protocol} --seed {seed}",
                     *(f"{k} {v}" for k, v in options.items() if v is not None)])


def _finished_tuning(path: Path, val_patients: tuple[str, ...], seed: int,
                     minutes: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The methods an earlier run in the same folder already tuned, with the same validation patients, seed and
    labelled minutes (tuning reads nothing else that could differ: the population model is the folder's own)."""
    if not path.is_file():
        return {}, {}
    done = json.loads(path.read_text())
    same = (done.get("validation_patients") == list(val_patients) and done.get("seed") == seed
            and done.get("labelled_minutes") == minutes)
    return (dict(done["chosen"]), dict(done["trials"])) if same else ({}, {})


def beat_confusion(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The confusion matrix of the beats with a reference label (``y`` >= 0), AAMI classes."""
    ok = y >= 0
    return confusion(y[ok], pred[ok], len(AAMI_CLASSES))


def aami_summary(cm: np.ndarray) -> dict[str, float]:
    """A study row's figures from a confusion matrix: accuracy, macro F1, VEB/SVEB Se, +P and F1, errors."""
    m = from_confusion(cm)
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "veb_se": m["V"]["se"], "veb_ppv": m["V"]["ppv"],
            "veb_f1": m["V"]["f1"], "sveb_se": m["S"]["se"], "sveb_ppv": m["S"]["ppv"], "sveb_f1": m["S"]["f1"],
            "errors": int(cm[:4].sum() - np.trace(cm[:4, :4]))}  # misclassified N/S/V/F reference beats (Q rows left out)


def trained_parameters(before, after) -> int:
    """Number of weights the adaptation changed (its real training cost: a head, a block, or everything)."""
    b = dict(before.named_parameters())
    return int(sum(p.numel() for name, p in after.named_parameters() if not torch.equal(p, b[name])))


def tune(method: str, model, prepared: PreparedDataset, patients: tuple[str, ...], population: BeatSet, minutes: float,
         seed: int, cache_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Pick the grid point with the best gross macro F1 on the validation patients' post-adaptation minutes.
    ``method`` may fix parameters (``name:key=value``); the grid then covers only the others."""
    name, fixed = parse_method(method)
    grid = {k: v for k, v in strategy_class(name).search_grid.items() if k not in fixed}
    points = [{**fixed, **dict(zip(grid, values))} for values in itertools.product(*grid.values())] or [fixed]
    trials = []
    for params in points:
        strategy = get_strategy(name, **params)
        cm = np.zeros((len(AAMI_CLASSES),) * 2, dtype=np.int64)
        for rec in patients:
            lab, hidden, rest = _patient_sets(prepared, rec, minutes)
            adapted = strategy.adapt(model, lab, hidden, AdaptContext(AAMI_CLASSES, population, seed, cache_dir))
            cm += beat_confusion(rest.y, predict_beats(adapted, rest).argmax(1))
        trials.append({"params": params, "macro_f1": from_confusion(cm)["macro_f1"]})
    best = max(trials, key=lambda t: t["macro_f1"])
    return best["params"], trials


def tune_methods(path: Path, methods: tuple[str, ...], model, prepared: PreparedDataset, val_patients: tuple[str, ...],
                 population: BeatSet, minutes: float, seed: int, cache_dir: Path, progress: bool = True
                 ) -> dict[str, dict[str, Any]]:
    """Each method's parameters, chosen on ``val_patients`` (``tune``); the choices and trials are written to
    ``path`` after each method, so an interrupted study resumes with the methods already tuned."""
    chosen, tuning = _finished_tuning(path, val_patients, seed, minutes)
    with progress_bar(progress, "tune on validation patients", len(methods)) as advance:
        for m in methods:
            if m not in chosen:
                chosen[m], tuning[m] = tune(m, model, prepared, val_patients, population, minutes, seed, cache_dir)
                atomic_write_json(path, {"validation_patients": list(val_patients), "seed": seed,
                                         "labelled_minutes": minutes, "chosen": chosen, "trials": tuning})
            advance(m)
    return {m: chosen[m] for m in methods}


def run_personalize_study(mitdb_root: str | Path, out: str | Path, *, protocol: str = "mitdb-ds2-personalized",
                          methods: tuple[str, ...] = DEFAULT_METHODS, labelled_minutes: float = 5.0, seed: int = 0,
                          patients: tuple[str, ...] | None = None, progress: bool = True, log=print,
                          model_path: str | Path | None = None, guard: bool = True,
                          leads: tuple[str, ...] = DEFAULT_LEADS, lead_dropout: float = 0.0,
                          rr_features: int = DEFAULT_RR_FEATURES, extra_beats: str | None = None,
                          pretrain: str | None = None, reference_path: str | Path | None = None) -> pd.DataFrame:
    """``model_path``: a population model of your own (with its validation patients in its card) instead of the
    protocol's default; ``guard=False`` skips the negative-transfer guard (rows for the unguarded method only).
    ``leads``, ``lead_dropout`` and ``rr_features``: for the population model the study trains itself (protocols whose
    population is not DS1); with ``lead_dropout`` > 0, records lacking a lead after the first get a flat channel for
    it; ``rr_features=5`` adds the rhythm irregularity to the model's RR input; ``extra_beats`` (``DATASET:PATH``)
    adds another database's annotated beats to its training beats (``population.prepare_extra_beats``); ``pretrain``
    (``DATASET:PATH``) pre-trains it on another database's rhythm labels first (``rhythm_pretrain``).
    ``reference_path``: the model the guard compares against and falls back to (see NegativeTransferGuard); the
    per-patient baseline ("population" columns, patients made worse) is then that model's predictions."""
    out = output_folder(out)
    for m in methods:
        parse_method(m)  # unknown names or parameters fail before any work
    if not labelled_minutes > 0:
        raise ConfigError(f"labelled minutes = {labelled_minutes:g}: the study adapts on each patient's first minutes "
                          "and scores the rest, so it needs more than 0")
    check_rr_features(rr_features)
    model_path = resolve_model(model_path) if model_path is not None else None  # a path or a shipped model's name
    own = load_checkpoint(model_path) if model_path is not None else None
    all_refs = get_adapter("mitdb").records(mitdb_root)
    full = build_protocol(protocol, "mitdb", all_refs, labelled_minutes=labelled_minutes)
    refuse_absent_records(mitdb_root, full.missing_records, f"record(s) of {protocol}")
    trains_own = own is None and set(full.records("population")) != set(DS1)
    if not trains_own and (tuple(leads) != DEFAULT_LEADS or lead_dropout or rr_features != DEFAULT_RR_FEATURES
                           or extra_beats or pretrain):
        raise ConfigError(f"leads/lead dropout/RR features/extra beats/pre-training apply only to a population model "
                          f"the study trains ({protocol} uses {'--model' if own else 'the shipped DS1 model'}); train "
                          "one with `ecgadapt population train --leads ... --lead-dropout ... --rr-features ... "
                          "--extra-beats ... --pretrain ...` and pass it as --model")
    out.mkdir(parents=True, exist_ok=True)  # only now: bad input above leaves no empty output folder behind
    # beats of the leads the population model reads; records without one of them are skipped (and said so below)
    if own is not None:
        prepared = prepare_for_model(mitdb_root, own[1], progress)
    else:
        prepared = prepare_mitdb_beats(mitdb_root, progress, tuple(leads), missing_leads_for(lead_dropout))
    refs = [r for r in all_refs if r.name in set(prepared.record_names)]
    proto = build_protocol(protocol, "mitdb", refs, labelled_minutes=labelled_minutes)
    proto.check()
    if own is not None:
        model, meta = own
        val_patients = tuple(meta.get("val_records") or ())
        if not val_patients or set(val_patients) & set(proto.records("test")):
            raise ConfigError(f"{model_path}: its card must name validation records outside the test patients")
    else:
        model, meta, model_path, val_patients = population_model_for(proto, prepared, out, seed, progress,
                                                                     lead_dropout, rr_features, extra_beats,
                                                                     pretrain, log)
    reference = None
    if reference_path is not None:
        reference, _, reference_path = load_reference(reference_path, meta)
    test_patients = tuple(r for r in proto.records("test") if r in set(prepared.record_names))
    skipped = prepared.failed_records
    if skipped:
        log(f"records skipped (not readable with leads {', '.join(model_leads(meta))}): {', '.join(skipped)}")
    if patients:
        lacking = set(patients) & set(skipped)
        if lacking:
            raise ConfigError(f"patients {sorted(lacking)}: record(s) without the population model's leads "
                              f"({', '.join(model_leads(meta))})")
        unknown = set(patients) - set(test_patients)
        if unknown:
            raise ConfigError(f"patients {sorted(unknown)} are not test patients of {protocol}")
        test_patients = tuple(p for p in test_patients if p in set(patients))
    fit_records = tuple(r for r in proto.records("population") if r not in set(val_patients))
    population = BeatSet.from_prepared(prepared, rows_of(prepared, fit_records))
    cache_dir = out / "meta-cache"
    chosen = tune_methods(out / "tuning.json", methods, model, prepared, tuple(val_patients), population,
                          labelled_minutes, seed, cache_dir, progress)
    rows, mats = personalize_patients(model, prepared, test_patients, methods, chosen, labelled_minutes, seed,
                                      population, cache_dir, guard=guard, reference=reference, progress=progress)
    table = pd.DataFrame(rows)
    gross = _gross(table, mats, methods, test_patients,
                   GUARD_VARIANTS if guard else UNGUARDED_VARIANTS)
    atomic_write_text(out / "per_patient.csv", table.to_csv(index=False))
    atomic_write_json(out / "gross.json", gross)
    from ecgadapt.report.personalize_study import write_study_report

    write_study_report(out, table, gross, {"protocol": protocol, "description": proto.description,
                                           "population_model": str(model_path),
                                           "reference_model": str(reference_path) if reference is not None else None,
                                           "validation_patients": list(val_patients),
                                           "test_patients": list(test_patients), "chosen": chosen, "seed": seed,
                                           "leads": list(model_leads(meta)), "skipped_records": skipped,
                                           "labelled_minutes": labelled_minutes, "threads": torch.get_num_threads()})
    return table


def personalize_patients(model, prepared: PreparedDataset, test_patients: tuple[str, ...], methods: tuple[str, ...],
                         chosen: dict[str, dict[str, Any]], labelled_minutes: float, seed: int, population: BeatSet,
                         cache_dir: Path, *, guard: bool = True, reference=None, progress: bool = True
                         ) -> tuple[list[dict[str, Any]], dict[tuple[str, str, str], np.ndarray]]:
    """Every method (with its ``chosen`` parameters) on every test patient of ``prepared``: the first
    ``labelled_minutes`` adapt, the rest is scored. Returns the per-patient rows and each (method, variant, patient)'s
    confusion matrix. ``reference``: the model the guard falls back to and the baseline is scored with (default:
    ``model``)."""
    baseline = reference if reference is not None else model  # what a patient gets without personalization
    rows, mats = [], {}
    with progress_bar(progress, f"personalize {len(test_patients)} patients", len(test_patients) * len(methods)) as advance:
        for rec in test_patients:
            lab, hidden, rest = _patient_sets(prepared, rec, labelled_minutes)
            labelled_counts = np.bincount(lab.y[lab.y >= 0], minlength=len(AAMI_CLASSES))
            prob_pop = predict_first_leads(baseline, rest)
            p_pop = prob_pop.argmax(1)
            cm_pop = beat_confusion(rest.y, p_pop)
            for m in methods:
                strategy = get_strategy(parse_method(m)[0], **chosen[m])
                ctx = AdaptContext(AAMI_CLASSES, population, seed, cache_dir)
                t0 = time.perf_counter()
                adapted = strategy.adapt(model, lab, hidden, ctx)
                t_adapt = time.perf_counter() - t0
                prob_per = predict_beats(adapted, rest)
                p_per = prob_per.argmax(1)
                cm_raw = beat_confusion(rest.y, p_per)
                mats[(m, "unguarded", rec)] = cm_raw
                variants = [("unguarded", cm_raw, "personalized", t_adapt)]
                # deferred: no extra adaptation, the two models' probabilities combined
                deferred = defer_absent_classes(prob_pop, prob_per, labelled_counts).argmax(1)
                mats[(m, "deferred", rec)] = beat_confusion(rest.y, deferred)
                variants.append(("deferred", mats[(m, "deferred", rec)],
                                 "deferred" if (deferred != p_per).any() else "personalized", t_adapt))
                cover: dict[str, Any] = {}
                if guard:
                    decision = NegativeTransferGuard(strategy, reference=reference).decide(
                        model, lab, hidden, AdaptContext(AAMI_CLASSES, population, seed, cache_dir), adapted=adapted)
                    seconds = time.perf_counter() - t0
                    cover = decision.coverage
                    # the guard without its coverage check (held-out labelled beats only), for comparison
                    for variant, kept in (("guarded", decision.kept == "personalized"),
                                          ("guarded-heldout", decision.kept_by_held_out_check)):
                        mats[(m, variant, rec)] = cm_raw if kept else cm_pop
                        variants.append((variant, mats[(m, variant, rec)], "personalized" if kept else "population",
                                         seconds))
                    # the gate: only the kinds of change the held-out labelled beats vouch for
                    pairs = decision.gate.get("pairs", [])
                    mats[(m, "gated", rec)] = beat_confusion(rest.y, gated_predictions(p_pop, p_per, pairs)) if pairs else cm_pop
                    variants.append(("gated", mats[(m, "gated", rec)], "gated" if pairs else "population", seconds))
                base = aami_summary(cm_pop)
                for variant, cm, kept, seconds in variants:
                    s = aami_summary(cm)
                    rows.append({"patient": rec, "method": m, "variant": variant, **s,
                                 "population_macro_f1": base["macro_f1"], "population_errors": base["errors"],
                                 "gain_macro_f1": s["macro_f1"] - base["macro_f1"],
                                 "worse": bool(s["errors"] > base["errors"]), "kept": kept,
                                 "seconds": round(seconds, 3), "trained_parameters": trained_parameters(model, adapted),
                                 "chosen_t": ctx.info.get("t"),
                                 **{f"rest_{key}": None if variant in UNGUARDED_VARIANTS else cover.get(key)
                                    for key in ("changed", "unsupported", "expected_net")},
                                 "test_beats": int(cm.sum()), "labelled_beats": int(len(lab)),
                                 # what the labelled minutes could teach: a class absent there can only come from
                                 # the population model
                                 **{f"labelled_{c}": int(n) for c, n in zip(AAMI_CLASSES[:4], labelled_counts)},
                                 **{f"test_{c}": int(n) for c, n in zip(AAMI_CLASSES[:4], cm.sum(1)[:4])}})
                advance(f"{rec} {m}")
    return rows, mats


def _gross(table: pd.DataFrame, mats: dict, methods: tuple[str, ...], patients: tuple[str, ...],
           variants: tuple[str, ...] = ("unguarded", "guarded")) -> list[dict[str, Any]]:
    out = []
    for m in methods:
        for variant in variants:
            per = {p: mats[(m, variant, p)] for p in patients}
            cm = np.sum(list(per.values()), axis=0)
            t = table[(table.method == m) & (table.variant == variant)]
            row = {"method": m, "variant": variant, **aami_summary(cm),
                   "patients_worse": int(t.worse.sum()), "patients_better": int((t.errors < t.population_errors).sum()),
                   "kept_personalized": int((t.kept != "population").sum()), "patients": len(t),
                   "seconds_per_patient_mean": float(t.seconds.mean()), "seconds_per_patient_max": float(t.seconds.max()),
                   "trained_parameters_mean": float(t.trained_parameters.mean())}
            for key in (("veb", "f1"), ("sveb", "f1"), ("macro_f1",)):
                lo, hi = per_patient_ci(per, key, n_boot=500)
                row["_".join(key) + "_ci"] = [lo, hi]
            out.append(row)
    return out
