"""The rhythm step of ``annotate`` and ``personalize``: the rhythm model over the whole recording, on the lead the
beats are read on, and what it means for the Holter figures (HRV inside AF measures the arrhythmia)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ecgadapt._atomic import atomic_write_json, output_folder
from ecgadapt.data.recording import read_recording, read_recording_header
from ecgadapt.errors import ConfigError
from ecgadapt.models.io import save_checkpoint
from ecgadapt.models.registry import EcgModel
from ecgadapt.personalize.base import get_strategy
from ecgadapt.pipeline.recording import PatientRecord
from ecgadapt.rhythm.analysis import RhythmAnalysis, analyse_rhythm, rhythm_lead
from ecgadapt.rhythm.model import RHYTHM_CLASSES, load_rhythm_model, resolve_rhythm_model
from ecgadapt.rhythm.personalize import personalize_rhythm, read_episodes_csv, rhythm_windows


class RhythmStep:
    """A rhythm model loaded once (before the recording is read: a wrong checkpoint fails first), applied to each
    recording. ``model``: a checkpoint path or a shipped rhythm model's name; None: the shipped default."""

    def __init__(self, model: str | Path | None = None):
        self.path = resolve_rhythm_model(model)
        self.model: EcgModel
        self.model, self.meta = load_rhythm_model(self.path)

    def __call__(self, patient: PatientRecord, notes: list[str]) -> RhythmAnalysis:
        record, lead = patient.record, patient.beat_lead
        lead_name = record.leads[lead] if lead < len(record.leads) else str(lead)
        analysis = analyse_rhythm(record.signal[lead], record.fs, self.model, self.meta, model_path=self.path,
                                  source=record.path, lead=lead_name, unreadable_s=patient.unseen_s,
                                  start_time=record.meta.get("start_time"))
        burden = analysis.af_burden
        if analysis.windows.padded:
            analysis.notes.append(f"the recording is shorter than the rhythm model's {analysis.windows.window_s:g}-s "
                                  "window: its one window was padded")
        if burden:
            in_af = analysis.in_af(patient.beats.time_s)
            share = float(in_af.mean()) if len(in_af) else 0.0
            analysis.notes.append(f"{100 * share:.0f} % of the beats lie in atrial fibrillation (AF burden "
                                  f"{burden:.1f} % of the analysable time): the heart rate variability and pause "
                                  "figures include them, and in AF they measure the arrhythmia")
        notes += [f"rhythm: {n}" for n in analysis.notes]
        return analysis


def rhythm_step(rhythm: bool, rhythm_model: str | Path | None) -> RhythmStep | None:
    """The rhythm step, or None where it is switched off (``rhythm`` False)."""
    return RhythmStep(rhythm_model) if rhythm else None


def af_line(summary: dict[str, Any] | None) -> str:
    """One line on the AF burden for the console and the report ("" without a rhythm analysis)."""
    if not summary:
        return ""
    burden = summary["af_burden_percent"]
    if burden is None:
        return "AF burden: no analysable time"
    if not summary["af_episodes"]:
        return "AF burden 0 % (no AF episode of 30 s or more)"
    longest = summary["longest_af_s"]
    when = f" at {summary['longest_af_clock']}" if summary.get("longest_af_clock") else \
        f" from {summary['longest_af_start_s']:.0f} s"
    return (f"AF burden {burden:.1f} % of the analysable time ({summary['af_hours']:.2f} h in "
            f"{summary['af_episodes']} episode(s); longest {longest / 60:.1f} min{when})")




def personalize_rhythm_record(record_path: str | Path, out: str | Path, *, rhythm_model: str | Path | None = None,
                              labelled_share: float | None = 0.1, labelled_minutes: float | None = None,
                              method: str = "finetune", params: dict[str, Any] | None = None, guard: bool = True,
                              lead: str | None = None, seed: int = 0,
                              labels: str | Path | None = None) -> dict[str, Any]:
    """A rhythm model adapted to one patient on the rhythm annotations of the recording's first ``labelled_minutes``
    (or first ``labelled_share`` of its time), behind the guard: ``personalized_rhythm.pt`` (the model the patient
    gets, for ``annotate --rhythm-model``) and ``rhythm_personalize.json`` (written last: what was kept and why, and
    the windows after the labelled time scored by both models where they are annotated). ``labels``: a CSV file of
    rhythm episodes (``start_s``, ``end_s``, ``rhythm``: ``rhythm.csv`` corrected by a reviewer) read in place of the
    annotation file's rhythm notes."""
    out = output_folder(out)
    get_strategy(method, **(params or {}))  # an unknown method or parameter: before any work
    if labelled_minutes is not None and (not np.isfinite(labelled_minutes) or labelled_minutes <= 0):
        raise ConfigError(f"labelled minutes = {labelled_minutes:g}: must be a number above 0")
    if labelled_minutes is None and (labelled_share is None or not 0 < labelled_share < 1):
        raise ConfigError(f"labelled share = {labelled_share}: must lie between 0 and 1 (0.1: the first 10 %)")
    path = resolve_rhythm_model(rhythm_model)
    model, meta = load_rhythm_model(path)
    head = read_recording_header(record_path)
    if lead is not None and lead not in head.leads:
        raise ConfigError(f"{head.path}: no lead {lead!r} (it has {', '.join(head.leads)})")
    index = head.leads.index(lead) if lead is not None else rhythm_lead(head.leads)
    record = read_recording(head, [index]).record
    if labels is not None:
        record.rhythms = read_episodes_csv(labels, record.fs, record.n_samples)
    labelled_s = 60.0 * labelled_minutes if labelled_minutes is not None else labelled_share * record.duration_s
    windows = rhythm_windows(record, record.leads[0], meta)
    in_labelled = windows.time_s < labelled_s
    if not (windows.y[in_labelled] >= 0).any():
        where = f"{labels}: no episode" if labels is not None else \
            f"{record.path}: no rhythm annotation (\"(N\", \"(AFIB\", ... in the annotation file's aux notes)"
        raise ConfigError(f"{where} covers the first {labelled_s / 60:.2f} min: nothing to adapt the rhythm model on")
    result = personalize_rhythm(model, windows, labelled_s, method=method, params=params, guard=guard, seed=seed)
    rest = ~in_labelled & (windows.y >= 0)
    scores = None
    if rest.any():
        y = windows.y[rest]
        scores = {who: {"accuracy": round(float((p.argmax(1)[rest] == y).mean()), 4), "windows": int(rest.sum())}
                  for who, p in (("population", result.population_probs),
                                 ("personalized", result.personalized_probs))}
    labelled_counts = np.bincount(windows.y[in_labelled & (windows.y >= 0)], minlength=len(RHYTHM_CLASSES))
    summary = {"record": str(record.path), "labels": str(labels) if labels is not None else None,
               "lead": record.leads[0], "rhythm_model": str(path), "method": method,
               "params": params or {}, "labelled_s": round(labelled_s, 1),
               "labelled_windows": {c: int(n) for c, n in zip(RHYTHM_CLASSES, labelled_counts)},
               "guard": result.decision.to_dict() if result.decision is not None else "off", "kept": result.kept,
               "rest_scores": scores, "model": str(out / "personalized_rhythm.pt")}
    out.mkdir(parents=True, exist_ok=True)
    (out / "rhythm_personalize.json").unlink(missing_ok=True)  # the completion marker: written last
    save_checkpoint(result.model, out / "personalized_rhythm.pt", half=True,
                    **{**meta, "personalized_for": str(record.path), "method": method, "params": params or {},
                       "labelled_s": labelled_s, "kept": result.kept})
    atomic_write_json(out / "rhythm_personalize.json", summary)
    return summary


__all__ = ["RhythmStep", "af_line", "personalize_rhythm_record", "rhythm_step"]
