"""Annotate many recordings with one (personalized) model: a patient's further days, or a folder of recordings.

Each recording goes to a folder of its own, ``OUT/NAME`` (a folder's recordings: ``OUT/<its path in the folder>``,
``batch_names``): ``NAME.pred``, ``beats.csv`` and ``annotate.json`` (written
last). A bad recording is skipped, with the reason, and the others go on. A recording whose ``annotate.json`` says it
was annotated by the same model file with the same options is not annotated again: a batch cut short resumes where it
stopped; a recording whose files changed since (a header mended, annotations added) is annotated again.
``OUT/annotate_summary.json`` and ``OUT/report.html`` list every recording: beats, class counts, the ectopic
burden (V and S beats per 100 beats, the figures a Holter report leads with), V runs, pauses, SDNN, poor-signal
beats, or why it was skipped. An unforeseen failure on one recording (a fault of ours, not the recording's) skips it too, with the
traceback in the summary, so that one recording cannot cost a night's batch.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecgadapt._atomic import atomic_write_json, output_folder
from ecgadapt._progress import progress_bar
from ecgadapt.data.base import read_header
from ecgadapt.data.download import sha256_of
from ecgadapt.data.formats import file_format, list_file_formats, recording_name
from ecgadapt.data.recording import record_files
from ecgadapt.data.record import natural_key
from ecgadapt.errors import ConfigError, EcgAdaptError
from ecgadapt.pipeline.annotate import annotate_record
from ecgadapt.rhythm.model import resolve_rhythm_model

#: what ``annotate_record`` writes beside ``NAME.pred``: a recording lacking one of them is annotated again
RECORDING_OUTPUTS = ("beats.csv", "hourly.csv", "runs.csv", "pauses.csv", "report.html", "summary.json")


def records_in(folder: str | Path) -> list[Path]:
    """The recordings in ``folder`` and the folders below it, sorted by their path in it (its numbers by value).

    A folder with a ``RECORDS`` file (PhysioNet's list of a database's records) holds the WFDB records it lists, in
    folders below it too (PTB: ``patient001/s0010_re``; an entry ending in ``/`` is a folder to search); its other
    folders are not searched (MIT-BIH's ``x_mitdb`` excerpts are not MIT-BIH's records). A folder without one holds
    every header's record except the segments of a multi-segment record (parts of that record, not recordings of
    their own), and the recordings of the folders below it. Every folder searched adds its EDF, BDF and ISHNE files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder")
    found = _recordings_below(folder)
    if not found:
        raise ConfigError(f"{folder}: no recording in it or below it (no WFDB header, nor a file of "
                          f"{', '.join(list_file_formats())})")
    return sorted(found, key=lambda p: natural_key(p.relative_to(folder).as_posix()))


def _recordings_below(folder: Path) -> list[Path]:
    one_file = [p for p in folder.iterdir() if p.is_file() and file_format(p)]
    listing = folder / "RECORDS"
    if listing.is_file():
        found = []
        for entry in listing.read_text().split():
            path = folder / entry
            if Path(entry).is_absolute() or ".." in Path(entry).parts:
                raise ConfigError(f"{listing}: entry {entry!r} lies outside {folder}")
            found += _recordings_below(path) if entry.endswith("/") and path.is_dir() else [path]
        return found + one_file
    headers = sorted(folder.glob("*.hea"))
    segments: set[str] = set()
    for hea in headers:
        try:
            header = read_header(hea.with_suffix(""))
        except EcgAdaptError:
            continue  # reported as that record's error when it is annotated
        segments.update(getattr(header, "seg_name", None) or [])
    found = [hea.with_suffix("") for hea in headers if hea.stem not in segments] + one_file
    # not a linked folder: a link back up would never end; not a hidden one (.git, a cache)
    below = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    return found + [path for sub in below for path in _recordings_below(sub)]


def batch_names(paths: Sequence[Path], folder: Path | None = None) -> list[str]:
    """Each recording's output folder in a batch, relative to OUT: its name, after the path of its folder below
    ``folder`` (the folder the recordings were found in: ``patient001/s0010_re``; None: the name alone)."""
    names = []
    for path in paths:
        below = path.parent.relative_to(folder).as_posix() if folder is not None else "."
        names.append(recording_name(path) if below == "." else f"{below}/{recording_name(path)}")
    return names


def annotate_records(model_path: str | Path, records: Sequence[str | Path], out: str | Path, *,
                     lead: str | None = None, beats: str = "auto", annotation: str = "atr",
                     false_detection_filter: bool = True, progress: bool = True,
                     names: Sequence[str] | None = None, rhythm: bool = True,
                     rhythm_model: str | Path | None = None) -> dict[str, Any]:
    """``annotate_record`` for each of ``records`` into ``out/NAME`` (``names``: the folders below ``out``, e.g.
    ``batch_names``; default: the recordings' names); returns (and writes) the batch summary. ``rhythm``,
    ``rhythm_model``: as ``annotate_record``'s."""
    out = output_folder(out)
    paths = [Path(p) for p in records]
    names = list(names) if names is not None else batch_names(paths)
    if len(names) != len(paths):
        raise ConfigError(f"{len(names)} output names for {len(paths)} recordings")
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:  # their outputs would overwrite each other
        raise ConfigError(f"recordings of the same name would share an output folder: {', '.join(clash)}")
    if not paths:
        raise ConfigError("no recording to annotate")
    for name in names:
        output_folder(out / name)  # each recording's folder can be one, before any work
    # what makes an earlier result of a recording valid for this run
    rhythm_path = str(resolve_rhythm_model(rhythm_model)) if rhythm else None
    options = {"model_sha256": sha256_of(Path(model_path)), "lead": lead, "beats": beats, "annotation": annotation,
               "false_detection_filter": false_detection_filter, "rhythm_model": rhythm_path,
               "rhythm_model_sha256": sha256_of(Path(rhythm_path)) if rhythm_path else None}
    rows = []
    with progress_bar(progress, "annotate", len(paths)) as advance:
        for path, name in zip(paths, names):
            rows.append(_annotate_one(model_path, path, out / name, name, options))
            advance(f"{name}: {rows[-1]['status']}")
    summary = {"model": str(model_path), "options": options, "records": rows,
               "annotated": sum(r["status"] != "skipped" for r in rows),
               "skipped": sum(r["status"] == "skipped" for r in rows)}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "annotate_summary.json", summary)
    from ecgadapt.report.annotate_report import write_annotate_report

    write_annotate_report(out, summary)
    return summary


def input_fingerprint(path: Path, annotation: str) -> dict[str, str]:
    """The SHA-256 of each file reading the recording touches, by name: what makes an earlier result of it valid."""
    return {f.name: sha256_of(f) for f in record_files(path, annotation)}


def _annotate_one(model_path: str | Path, path: Path, folder: Path, name: str,
                  options: dict[str, Any]) -> dict[str, Any]:
    marker = folder / "annotate.json"
    inputs = input_fingerprint(path, options["annotation"])
    if marker.is_file():
        try:
            earlier = json.loads(marker.read_text())
        except (OSError, ValueError):
            earlier = {}
        outputs = [folder / f"{earlier.get('name')}.pred", *(folder / f for f in RECORDING_OUTPUTS)]
        if earlier.get("options") == options and earlier.get("resolved_path") == str(path.resolve()) and \
                earlier.get("inputs") == inputs and \
                all(f.is_file() for f in outputs):  # an output deleted, or one an older version did not write: anew
            return {**_row(earlier, name), "status": "done earlier"}
        # from here until the new marker is written the folder's outputs are a mix of the old result's and the new's
        marker.unlink()
    try:
        info = annotate_record(model_path, path, folder, lead=options["lead"], beats=options["beats"],
                               annotation=options["annotation"],
                               false_detection_filter=options["false_detection_filter"],
                               rhythm=options["rhythm_model"] is not None,
                               rhythm_model=options["rhythm_model"]).summary
    except EcgAdaptError as err:  # a bad recording costs only itself
        return {"name": name, "record": str(path), "status": "skipped", "reason": str(err)}
    except Exception as err:  # noqa: BLE001 - a fault of ours on one recording must not cost the rest of the batch
        return {"name": name, "record": str(path), "status": "skipped",
                "reason": f"unexpected error, please report it (traceback in annotate_summary.json): "
                          f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc()}
    info.update(options=options, resolved_path=str(path.resolve()), inputs=inputs)
    atomic_write_json(marker, info)  # last: its presence says the recording's outputs are complete
    return {**_row(info, name), "status": "annotated"}


def _row(info: dict[str, Any], name: str) -> dict[str, Any]:
    holter = info["holter"]  # an earlier result without it lacks outputs of this version's too: annotated anew
    return {"name": name, "record": info["record"], "hours": round(info["duration_s"] / 3600, 3),
            "beats": info["beats"], "counts": info["counts"], "beat_source": info["beat_source"],
            "v_per_100": holter.get("V_per_100", 0.0), "s_per_100": holter.get("S_per_100", 0.0),
            "poor_signal_beats": info["poor_signal_beats"], "notes": info["notes"],
            # None where the model carries no filter of false detections
            "false_detections_removed": (info.get("false_detections") or {}).get("removed"),
            "v_runs": holter.get("V_runs"), "pauses": holter["pauses"], "longest_pause_s": holter["longest_pause_s"],
            "sdnn_ms": holter.get("hrv", {}).get("sdnn_ms"),
            "af_burden_percent": (info.get("rhythm") or {}).get("af_burden_percent"),
            "seconds": round(info["seconds"]["total"], 2)}
