"""The reviewer's command: choose the beats of a recording a cardiologist should label, by a query strategy
(``ecgadapt.query``), and write them as ``review.csv`` (an empty ``label`` column to fill) with ``review.html`` (a
10-s ECG strip of each). ``personalize --labels review.csv`` then adapts on exactly the beats labelled; a second
review with the personalized model and ``--labels`` of the first asks for more, the first round's labels kept.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgadapt._atomic import atomic_write_json, atomic_write_text, output_folder
from ecgadapt.data import AAMI_CLASSES
from ecgadapt.data.label_csv import read_label_csv
from ecgadapt.errors import ConfigError
from ecgadapt.pipeline.classify import unclassifiable_as_q
from ecgadapt.pipeline.recording import PatientRecord, load_beat_model, load_patient
from ecgadapt.query import QueryPool, get_query
from ecgadapt.signal.peaks import nearest_index
from ecgadapt.signal.quality import MATCH_TOLERANCE_S


@dataclass
class ReviewResult:
    out: Path
    patient: PatientRecord
    table: pd.DataFrame  # review.csv: the earlier labels, then the beats to label
    asked: int  # new beats asked for
    info: dict[str, Any]


def review_record(model_path: str | Path, record_path: str | Path, out: str | Path, *, budget: int = 30,
                  strategy: str = "cluster", labels: str | Path | None = None, lead: str | None = None,
                  beats: str = "auto", annotation: str = "atr", seed: int = 0, report: bool = True) -> ReviewResult:
    """Choose ``budget`` beats of the recording to label by query strategy ``strategy``; ``labels``: a labels CSV of
    an earlier round (its labelled beats are not asked again, and are kept in ``review.csv``)."""
    if budget <= 0:
        raise ConfigError(f"budget {budget}: the number of beats to label must be 1 or more")
    query = get_query(strategy)  # an unknown name fails before the recording is read
    out = output_folder(out)
    model, meta = load_beat_model(model_path)
    label_names = tuple(meta.get("label_names", AAMI_CLASSES))
    if lead is None and meta.get("personalized_lead"):  # a personalized model reads the lead it was made on
        lead = meta["personalized_lead"]
    patient = load_patient(record_path, meta, lead=lead, beats=beats, annotation=annotation)
    notes = list(patient.notes)
    sample, fs = patient.sample, patient.record.fs
    earlier = pd.DataFrame(columns=["sample", "label"])
    labelled = np.zeros(len(sample), dtype=bool)
    if labels is not None:
        given = read_label_csv(labels, fs)
        mask = given.beat_mask()
        matched = matching_beats(sample, given.sample[mask], MATCH_TOLERANCE_S * fs)
        labelled[matched[matched >= 0]] = True
        earlier = pd.DataFrame({"sample": given.sample[mask], "label": given.symbol[mask]})
        notes.append(f"{int(mask.sum())} beats labelled earlier ({Path(labels).name}): not asked again, kept in "
                     "review.csv")
    eligible = ~patient.in_gap & ~patient.poor_signal  # where a reviewer could not tell either
    pool = QueryPool(patient.beats, labelled, eligible, label_names)
    chosen = query.select(model, pool, budget, seed=seed)
    probs = unclassifiable_as_q(pool.probabilities(model), patient.in_gap, label_names)
    pred = probs.argmax(1)
    if len(chosen) < budget:
        notes.append(f"only {len(chosen)} beats could be asked (the others are labelled already, or lie in a signal "
                     "gap or in poor signal)")
    order = np.argsort(chosen.index, kind="stable")  # in time order, for the reviewer
    index = chosen.index[order]
    new = pd.DataFrame({"sample": sample[index], "time_s": np.round(patient.beats.time_s[index], 3),
                        "predicted": [label_names[c] for c in pred[index]],
                        "confidence": np.round(probs[index].max(1), 4),
                        "reason": [chosen.reasons[i] for i in order], "label": ""})
    m = len(earlier)
    before = {"sample": earlier["sample"].tolist(), "time_s": np.round(earlier["sample"] / fs, 3).tolist(),
              "predicted": [""] * m, "confidence": [np.nan] * m, "reason": ["labelled earlier"] * m,
              "label": earlier["label"].tolist()}
    table = pd.DataFrame({c: before[c] + new[c].tolist() for c in new.columns})
    table = table.sort_values("sample", kind="stable").reset_index(drop=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "review.csv", table.to_csv(index=False))
    record_arg = shlex.quote(str(patient.record.path))
    info = {"record": str(patient.record.path), "model": str(model_path), "strategy": strategy, "seed": seed,
            "asked": int(len(index)), "already_labelled": int(labelled.sum()), "notes": notes,
            "next_command": f"ecgadapt personalize --record {record_arg} --labels "
                            f"{shlex.quote(str(out / 'review.csv'))} --out OUT"}
    if report:
        from ecgadapt.report.review_report import write_review_report

        write_review_report(out, patient, new, [label_names[c] for c in pred], info)
    atomic_write_json(out / "review.json", info)  # last: the review is complete
    return ReviewResult(out, patient, table, int(len(index)), info)



def matching_beats(sample: np.ndarray, positions: np.ndarray, tolerance: float) -> np.ndarray:
    """The index of the beat (R peaks ``sample``, sorted) nearest each of ``positions``, where one lies within
    ``tolerance`` samples; -1 where none does."""
    if not len(sample):
        return np.full(len(positions), -1, dtype=np.int64)
    nearest = nearest_index(sample, positions)
    return np.where(np.abs(sample[nearest] - positions) <= tolerance, nearest, -1)
