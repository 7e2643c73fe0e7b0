"""The label-budget study of active personalization: a simulated reviewer labels the beats a query strategy asks
for, in rounds, and each patient's personalized model is scored on the beats not labelled.

Protocols: ``mitdb-ds2-personalized`` (the population model is the shipped DS1 model, ``beatnet-mitdb-ds1``; the 22
DS2 records are the test patients) and ``mitdb-patient-specific`` (a population model trained here on records 100-124,
seeded, as the personalization study trains it; the records 200-234 but 217 are the test patients). Per patient,
query strategy and round: the reviewer's labels are MIT-BIH's own (Q beats, which the population model was never
trained on, may be asked and are labelled Q); the strategy adapts the population model afresh on every beat
labelled so far; the model the patient would get (the guard's choice where the guard is on) classifies every beat
not labelled, and is scored against the reference (AAMI N/S/V/F, as the other studies). The population model is
scored on the same beats. The first-minutes query is the baseline at the same number of beats. The personalization
method and its parameters are the ones the personalization study chose on the
protocol's validation patients (``DEFAULT_METHOD``, from ``benchmarks/results/personalize-ds2/tuning.json`` and
``personalize-ps/seed0/tuning.json``); nothing here was tuned on test patients.

Outputs: ``per_patient.csv`` (one row a patient, query and budget), ``gross.json`` (pooled figures), ``summary.md``
and ``figures/budget.png`` (the label-budget curves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgadapt._atomic import atomic_write_json, atomic_write_text, output_folder
from ecgadapt._progress import progress_bar
from ecgadapt.data import AAMI_CLASSES, get_adapter
from ecgadapt.errors import ConfigError
from ecgadapt.models.io import load_checkpoint
from ecgadapt.personalize.base import AdaptContext, BeatSet, parse_method, predict_beats
from ecgadapt.personalize import get_strategy
from ecgadapt.population.shipped import MITDB_ONLY_MODEL, shipped_model_path
from ecgadapt.population.training import prepare_for_model, prepare_mitdb_beats, refuse_absent_records, rows_of
from ecgadapt.protocols import DS2, build_protocol
from ecgadapt.query import get_query
from ecgadapt.query.active import personalize_actively
from ecgadapt.studies.personalize import aami_summary, beat_confusion, population_model_for

DEFAULT_QUERIES = ("first-minutes", "random", "uncertainty", "cluster", "kcenter")
DEFAULT_BUDGETS = (10, 20, 40)
#: per protocol, the personalization study's choice on its validation patients (tuning.json; the patient-specific
#: protocol's of seed 0): L2-SP, 80 steps
DEFAULT_METHOD = {"mitdb-ds2-personalized": "l2sp:l2sp=0.01:steps=80",
                  "mitdb-patient-specific": "l2sp:l2sp=0.001:steps=80"}


#: the figures of a row (``studies.personalize.aami_summary``'s, less +P)
FIGURES = ("accuracy", "macro_f1", "veb_f1", "sveb_f1", "veb_se", "sveb_se")


def _figures(cm: np.ndarray) -> dict[str, float]:
    summary = aami_summary(cm)
    return {k: summary[k] for k in FIGURES}


PROTOCOLS = ("mitdb-ds2-personalized", "mitdb-patient-specific")


def run_active_study(mitdb_root: str | Path, out: str | Path, *, protocol: str = "mitdb-ds2-personalized",
                     queries: tuple[str, ...] = DEFAULT_QUERIES,
                     budgets: tuple[int, ...] = DEFAULT_BUDGETS, method: str | None = None, guard: bool = False,
                     guard_min_beats: int = 5, seed: int = 0, patients: tuple[str, ...] | None = None,
                     progress: bool = True) -> pd.DataFrame:
    """Label-budget curves on ``protocol`` (``PROTOCOLS``); ``budgets``: the labelled beats a patient at which the
    patient's model is scored (rounds of the smallest budget's size, or of the gaps between budgets).
    ``guard_min_beats``: the guard's smallest fold where the guard is on (3 folds; queried labels are few)."""
    budgets = tuple(sorted(set(int(b) for b in budgets)))
    if not budgets or budgets[0] <= 0:
        raise ConfigError(f"budgets {budgets}: labelled beats a patient, each 1 or more")
    for q in queries:
        get_query(q)  # unknown names fail before any work
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol {protocol!r}: the label-budget study runs on {', '.join(PROTOCOLS)}")
    method = method or DEFAULT_METHOD[protocol]
    name, params = parse_method(method)
    strategy = get_strategy(name, **params)
    out = output_folder(out)
    refs = get_adapter("mitdb").records(mitdb_root)
    if protocol == "mitdb-ds2-personalized":  # the shipped DS1 model: only the test patients need preparing
        test = _chosen(DS2, patients, protocol)
        refuse_absent_records(mitdb_root, sorted(set(test) - {r.name for r in refs}), "test record(s)")
        model_path = shipped_model_path(MITDB_ONLY_MODEL)
        model, meta = load_checkpoint(model_path)
        out.mkdir(parents=True, exist_ok=True)
        prepared = prepare_for_model(mitdb_root, meta, progress, records=test)
    else:  # a population model trained here on records 100-124, as the personalization study does (seeded)
        full = build_protocol(protocol, "mitdb", refs)
        refuse_absent_records(mitdb_root, full.missing_records, f"record(s) of {protocol}")
        out.mkdir(parents=True, exist_ok=True)
        prepared = prepare_mitdb_beats(mitdb_root, progress)
        proto = build_protocol(protocol, "mitdb", [r for r in refs if r.name in set(prepared.record_names)])
        model, meta, model_path, _ = population_model_for(proto, prepared, out, seed, progress)
        test = _chosen(tuple(proto.records("test")), patients, protocol)
        model_path = Path(model_path)
    step = int(np.gcd.reduce(np.diff((0, *budgets))))
    rows: list[dict[str, Any]] = []
    with progress_bar(progress, "active study", len(test) * len(queries)) as advance:
        for patient in test:
            beats = BeatSet.from_prepared(prepared, rows_of(prepared, (patient,)))
            y = beats.y.copy()
            hidden = BeatSet(beats.X, beats.rr, np.full(len(beats), -1), beats.time_s)
            pop_pred = predict_beats(model, beats).argmax(1)
            for q in queries:
                asked = np.zeros(len(y), dtype=bool)

                def on_round(round_, adapted, q=q, asked=asked, patient=patient, beats=beats, y=y,
                             pop_pred=pop_pred) -> None:
                    asked[round_.asked] = True
                    if round_.labelled in budgets:
                        rows.append(_row(patient, q, round_, predict_beats(adapted, beats).argmax(1), pop_pred, y,
                                         ~asked))

                personalize_actively(model, hidden, lambda i, y=y: y[i], strategy, get_query(q), budget=budgets[-1],
                                     per_round=step, context=AdaptContext(AAMI_CLASSES, seed=seed), guard=guard,
                                     guard_options={"min_beats_per_fold": guard_min_beats}, eligible=y >= 0,
                                     on_round=on_round)
                advance(f"{patient} {q}")
    table = pd.DataFrame(rows)
    table["worse"] = table["errors"] > table["population_errors"]
    atomic_write_text(out / "per_patient.csv", table.drop(columns=["cm", "population_cm"]).to_csv(index=False))
    gross = _gross(table)
    atomic_write_json(out / "gross.json", {"protocol": protocol, "model": model_path.stem,
                                           "method": method, "guard": guard, "guard_min_beats": guard_min_beats,
                                           "seed": seed, "budgets": list(budgets), "queries": list(queries),
                                           "patients": list(test), "gross": gross})
    _summary(out, gross, method, guard, budgets, queries, test, protocol)
    return table


def _chosen(test: tuple[str, ...], patients: tuple[str, ...] | None, protocol: str) -> tuple[str, ...]:
    """The test patients, or those of ``patients`` (each one a test patient of ``protocol``)."""
    if not patients:
        return test
    unknown = sorted(set(patients) - set(test))
    if unknown:
        raise ConfigError(f"patients {unknown}: not test patients of {protocol} ({', '.join(test)})")
    return tuple(p for p in test if p in set(patients))


def _row(patient: str, query: str, round_, pred: np.ndarray, pop_pred: np.ndarray, y: np.ndarray,
         rest: np.ndarray) -> dict[str, Any]:
    """One patient, query and budget: the patient's model and the population model on the beats not asked for."""
    per, pop = beat_confusion(y[rest], pred[rest]), beat_confusion(y[rest], pop_pred[rest])
    return {"patient": patient, "query": query, "budget": round_.labelled, "kept": round_.kept, **_figures(per),
            **{f"population_{k}": v for k, v in _figures(pop).items()},
            "errors": aami_summary(per)["errors"], "population_errors": aami_summary(pop)["errors"],
            "cm": per.tolist(), "population_cm": pop.tolist(),
            "labelled_S": int((y[~rest] == 1).sum()), "labelled_V": int((y[~rest] == 2).sum())}


def _gross(table: pd.DataFrame) -> list[dict[str, Any]]:
    gross = []
    for (q, budget), g in table.groupby(["query", "budget"], sort=False):
        per = np.sum(np.asarray(g["cm"].tolist()), axis=0)
        pop = np.sum(np.asarray(g["population_cm"].tolist()), axis=0)
        gross.append({"query": q, "budget": int(budget), **_figures(per),
                      **{f"population_{k}": v for k, v in _figures(pop).items()},
                      "patients": int(len(g)), "worse": int(g["worse"].sum()),
                      "kept_personalized": int((g["kept"] == "personalized").sum())})
    return gross


def _summary(out: Path, gross: list[dict[str, Any]], method: str, guard: bool, budgets: tuple[int, ...],
             queries: tuple[str, ...], test: tuple[str, ...], protocol: str) -> None:
    from ecgadapt.report.plots import new_figure

    fmt = lambda x: "–" if x is None or x != x else f"{x:.3f}"  # noqa: E731
    lines = [f"# Active personalization: label budget ({protocol}, {len(test)} patients, method `{method}`, guard "
             f"{'on' if guard else 'off'})", "",
             "| query | labelled beats | VEB F1 | SVEB F1 | macro F1 | population VEB F1 | population SVEB F1 | "
             "patients worse |", "|---|---|---|---|---|---|---|---|"]
    for g in gross:
        lines.append(f"| {g['query']} | {g['budget']} | {fmt(g['veb_f1'])} | {fmt(g['sveb_f1'])} | "
                     f"{fmt(g['macro_f1'])} | {fmt(g['population_veb_f1'])} | {fmt(g['population_sveb_f1'])} | "
                     f"{g['worse']}/{g['patients']} |")
    fig, axes = new_figure(1, 2, figsize=(11, 4))
    for ax, key, title in ((axes[0], "veb_f1", "VEB F1"), (axes[1], "sveb_f1", "SVEB F1")):
        for q in queries:
            pts = [(g["budget"], g[key]) for g in gross if g["query"] == q]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=q)
        pop = [g[f"population_{key}"] for g in gross if g["query"] == "first-minutes"] or [np.nan]
        ax.axhline(pop[0], color="grey", ls="--", lw=1, label="population model")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(budgets), [str(b) for b in budgets])
        ax.set_xlabel("labelled beats a patient")
        ax.set_title(title)
    axes[1].legend(fontsize=8, loc="lower right")
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    fig.savefig(figs / "budget.png", dpi=110, bbox_inches="tight")
    lines += ["", "![label budget](figures/budget.png)", "",
              "Pooled over the patients' beats not labelled (each query leaves out the beats it asked for); the "
              "population row is the population model on the same beats."]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")

