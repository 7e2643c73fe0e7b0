"""Output writers: each writes one kind of output of a recording's result into the output folder, registered by
name; the caller chooses which (``outputs=``). A new format is one class here, or in the caller's own module, plus
``@register_writer``.

Every file is written atomically. ``summary.json`` is the completion marker: an earlier run's is removed before
anything is written and this run's is written last, so a run killed part-way leaves a folder without one (rerun it),
never a folder whose summary describes other files. The files of a writer not chosen are removed, so that no output
of an earlier run sits beside this run's as if it were this run's; so are the temporary files of writes killed
part-way (``.NAME.*.tmp``).
"""

from __future__ import annotations

import glob
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import numpy as np
import wfdb

from ecgadapt._atomic import atomic_write_json, atomic_write_text
from ecgadapt._registry import Registry
from ecgadapt.data.formats import file_format
from ecgadapt.errors import ConfigError
from ecgadapt.models.io import save_checkpoint
from ecgadapt.pipeline.results import PersonalizeResult, RecordResult
from ecgadapt.rhythm.model import WFDB_RHYTHM_NOTES

#: AAMI class -> MIT-BIH symbol written to the annotation file (viewers know these codes)
WFDB_SYMBOL = {"N": "N", "S": "A", "V": "V", "F": "F", "Q": "Q"}


class OutputWriter(ABC):
    """Writes one kind of output of a :class:`RecordResult`."""

    name: ClassVar[str]
    #: what it writes into the output folder ({name}: the record's name; a name ending in / is a folder)
    files: ClassVar[tuple[str, ...]]
    jobs: ClassVar[frozenset[str]] = frozenset({"personalize", "annotate"})  # the results it writes

    @abstractmethod
    def write(self, result: RecordResult) -> list[Path]:
        """Write into ``result.out``; the files written."""

    def paths(self, result: RecordResult) -> list[Path]:
        return [result.out / f.format(name=result.name) for f in self.files]


_WRITERS: Registry[type[OutputWriter]] = Registry("output writer", "output")


def register_writer(cls: type[OutputWriter]) -> type[OutputWriter]:
    return _WRITERS.register(cls)


def list_writers(job: str | None = None) -> list[str]:
    """The registered writers' names, in the order they write; ``job``: those that write its results."""
    return [n for n, w in _WRITERS.items() if job is None or job in w.jobs]


def check_outputs(outputs: Iterable[str] | None, job: str) -> tuple[str, ...]:
    """``outputs`` (None: every writer of ``job``) checked by name, before any work."""
    known = list_writers(job)
    if outputs is None:
        return tuple(known)
    chosen = tuple(dict.fromkeys(outputs))
    unknown = [o for o in chosen if o not in known]
    if unknown:  # a writer of the other job's results, too
        raise ConfigError(f"unknown output(s) {', '.join(unknown)} for {job}; known: {', '.join(known)}")
    return chosen


def write_outputs(result: RecordResult, outputs: Iterable[str] | None = None) -> list[Path]:
    """Run the chosen writers (``outputs``; None: all of the result's job) in registration order; remove the files
    of the others. The files written."""
    chosen = check_outputs(outputs, result.job)
    (result.out / SummaryWriter.files[0]).unlink(missing_ok=True)  # the completion marker: not until the end
    for name in list_writers(result.job):  # writes of an earlier run killed part-way
        for path in _WRITERS[name]().paths(result):
            for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
                stale.unlink(missing_ok=True)
    written = []
    for name in list_writers(result.job):
        writer = _WRITERS[name]()
        if name in chosen:
            written += writer.write(result)
        else:
            for path in writer.paths(result):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
    return written


@register_writer
class ModelWriter(OutputWriter):
    """``personalized.pt``: the model the patient gets, with what ``annotate`` needs to read the patient's other
    recordings as this one was read."""

    name = "model"
    files = ("personalized.pt",)
    jobs = frozenset({"personalize"})

    def write(self, result: RecordResult) -> list[Path]:
        assert isinstance(result, PersonalizeResult)
        path = result.out / self.files[0]
        save_checkpoint(result.model, path, **result.checkpoint_meta)
        return [path]


@register_writer
class AnnotationWriter(OutputWriter):
    """``<name>.pred``: a WFDB annotation file (``wfdb.rdann(out/name, 'pred')`` reads it back): the beats, and with a
    rhythm analysis each rhythm episode's start as MIT-BIH marks rhythm changes ("+" with the aux note "(AFIB",
    "(N", ...); for a recording whose format has annotation files of its own (ISHNE), also one of those (beats
    only)."""

    name = "annotations"
    files = ("{name}.pred",)

    def paths(self, result: RecordResult) -> list[Path]:
        fmt = file_format(result.patient.record.path)
        own = [result.out / f"{result.name}.{fmt.annotation_extensions[0]}"] if fmt and fmt.write_annotations else []
        return super().paths(result) + own

    def write(self, result: RecordResult) -> list[Path]:
        record, out, name = result.patient.record, result.out, result.name
        sample, classes = result.patient.sample, list(result.classes)
        target, *own = self.paths(result)  # own: the format's annotation file, where it has one
        for path in own:
            file_format(record.path).write_annotations(path, record.path, sample, classes)
        symbols = [WFDB_SYMBOL.get(c, "Q") for c in classes]
        aux = [""] * len(symbols)
        sample = np.asarray(sample, dtype=np.int64)
        if result.rhythm is not None and len(result.rhythm.episodes):
            episodes = result.rhythm.episodes
            at = np.round(episodes.start_s.to_numpy() * record.fs).astype(np.int64)
            sample = np.concatenate([sample, at])
            symbols += ["+"] * len(at)
            aux += [WFDB_RHYTHM_NOTES.get(r, f"({r}") for r in episodes.rhythm]
            order = np.argsort(sample, kind="stable")
            sample, symbols, aux = sample[order], [symbols[i] for i in order], [aux[i] for i in order]
        tmp = out / ".annotations.tmp"
        shutil.rmtree(tmp, ignore_errors=True)  # what a write killed part-way left
        tmp.mkdir()
        wfdb.wrann(name, "pred", sample, symbol=symbols, aux_note=aux if any(aux) else None, write_dir=str(tmp))
        (tmp / f"{name}.pred").replace(target)  # atomic: a reader never sees half an annotation file
        tmp.rmdir()
        return [target, *own]


@register_writer
class BeatTableWriter(OutputWriter):
    """``beats.csv``: one row a beat: its sample and time, the classes and their confidence, and its signal's
    quality."""

    name = "beats"
    files = ("beats.csv",)

    def write(self, result: RecordResult) -> list[Path]:
        path = result.out / self.files[0]
        atomic_write_text(path, result.beats.to_csv(index=False))
        return [path]


@register_writer
class FalseDetectionWriter(OutputWriter):
    """``false_detections.csv``: the detections removed as no beats, where any were removed."""

    name = "false-detections"
    files = ("false_detections.csv",)

    def write(self, result: RecordResult) -> list[Path]:
        path = result.out / self.files[0]
        if result.false_removed is not None and len(result.false_removed):
            atomic_write_text(path, result.false_removed.to_csv(index=False))
            return [path]
        path.unlink(missing_ok=True)  # an earlier run's into the same folder
        return []


@register_writer
class HolterWriter(OutputWriter):
    """The Holter tables of the classes: ``hourly.csv``, ``runs.csv`` (ectopic runs), ``pauses.csv``."""

    name = "holter"
    files = ("hourly.csv", "runs.csv", "pauses.csv")

    def write(self, result: RecordResult) -> list[Path]:
        tables = (result.holter.hourly, result.holter.runs, result.holter.pauses)
        paths = self.paths(result)
        for path, table in zip(paths, tables):
            atomic_write_text(path, table.to_csv(index=False))
        return paths


@register_writer
class RhythmWriter(OutputWriter):
    """``rhythm.csv``: one row a rhythm episode (start_s, end_s, the clock where the recording's start time is known,
    rhythm, confidence), where the rhythm step ran."""

    name = "rhythm"
    files = ("rhythm.csv",)

    def write(self, result: RecordResult) -> list[Path]:
        path = result.out / self.files[0]
        if result.rhythm is None:
            path.unlink(missing_ok=True)  # an earlier run's into the same folder
            return []
        atomic_write_text(path, result.rhythm.episodes.to_csv(index=False))
        return [path]


@register_writer
class ReportWriter(OutputWriter):
    """``report.html`` (and its Markdown, ``report.md``) with its figures: what was read and done, the Holter summary,
    and for ``personalize`` the guard's decision and what changed."""

    name = "report"
    files = ("report.html", "report.md", "figures/")

    def write(self, result: RecordResult) -> list[Path]:
        episodes = result.rhythm.episodes if result.rhythm is not None else None
        if isinstance(result, PersonalizeResult):
            from ecgadapt.report.personalize_report import write_personalize_report

            path = write_personalize_report(result.out, result.patient, result.beats, result.summary,
                                            result.label_names, result.holter, result.false_removed, episodes)
        else:
            from ecgadapt.report.annotate_report import write_recording_report

            path = write_recording_report(result.out, result.patient, result.classes, result.summary, result.holter,
                                          result.false_removed, episodes)
        return [path]


@register_writer
class SummaryWriter(OutputWriter):
    """``summary.json``: for scripts (``RecordResult.summary``). Written last, and an earlier run's removed first: its
    presence says the folder's outputs are one complete run's."""

    name = "summary"
    files = ("summary.json",)

    def write(self, result: RecordResult) -> list[Path]:
        path = result.out / self.files[0]
        atomic_write_json(path, result.summary)
        return [path]
