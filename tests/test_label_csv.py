"""Beat labels from a CSV file (``personalize --labels``), on the embedded MIT-BIH record 233 and its own labels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb
from typer.testing import CliRunner

from ecgadapt.cli import app
from ecgadapt.data import AAMI_MAP
from ecgadapt.data.label_csv import read_label_csv
from ecgadapt.errors import ConfigError, RecordError
from ecgadapt.models.io import load_checkpoint
from ecgadapt.pipeline.personalize import load_patient, personalize_record
from ecgadapt.population.shipped import shipped_model_path
from tests.conftest import PERSONALIZE_NO_REPORT

FS = 360.0
runner = CliRunner()


def _unannotated_copy(embedded: Path, folder: Path) -> Path:
    """Record 233 without its annotation file: the labels must come from the CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    for ext in ("hea", "dat"):
        shutil.copy(embedded / f"233.{ext}", folder / f"233.{ext}")
    return folder / "233"


def _beat_annotations(embedded: Path) -> tuple[np.ndarray, np.ndarray]:
    """233's annotated beats: samples and MIT-BIH symbols."""
    ann = wfdb.rdann(str(embedded / "233"), "atr")
    symbol = np.asarray(ann.symbol)
    beat = np.isin(symbol, list(AAMI_MAP))
    return np.asarray(ann.sample)[beat], symbol[beat]


@pytest.mark.parametrize("layout", ["sample,symbol", "time_s,aami", "semicolon,bom,decimal-comma,shuffled"])
def test_a_csv_of_the_annotation_files_labels_gives_the_same_labelled_beats(embedded: Path, tmp_path: Path,
                                                                           layout: str) -> None:
    sample, symbol = _beat_annotations(embedded)
    assert {"A", "V", "F"} <= set(symbol)  # MIT-BIH symbols that differ from their AAMI class occur (A: S)
    if layout == "sample,symbol":
        text = pd.DataFrame({"Sample": sample, "Label": symbol}).to_csv(index=False)
    else:
        table = pd.DataFrame({"time_s": np.round(sample / FS, 4), "reference": [AAMI_MAP[s] for s in symbol]})
        if layout == "time_s,aami":
            text = table.to_csv(index=False)
        else:  # as a spreadsheet in a locale with decimal commas exports it, after being sorted by label
            table = table.sort_values("reference", kind="stable")
            text = "\ufeff" + table.to_csv(index=False, sep=";", decimal=",")
    (tmp_path / "labels.csv").write_text(text, encoding="utf-8")
    meta = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))[1]
    from_atr = load_patient(embedded / "233", meta)
    from_csv = load_patient(_unannotated_copy(embedded, tmp_path / "rec"), meta, labels=tmp_path / "labels.csv")
    assert from_csv.beat_source == "annotated" and from_csv.labels_file == tmp_path / "labels.csv"
    assert np.array_equal(from_csv.sample, from_atr.sample)
    assert np.array_equal(from_csv.beats.y, from_atr.beats.y)
    assert (np.bincount(from_csv.beats.y[from_csv.beats.y >= 0]) > 0).sum() >= 3  # N, S and V at least
    assert f"{len(sample)} beat labels read from labels.csv (0.00 to 30.09 min)" in from_csv.notes


def test_annotates_beats_csv_with_a_reviewers_labels_personalizes_the_patient(embedded: Path, tmp_path: Path) -> None:
    """The Holter workflow without a WFDB editor: annotate with the population model, a reviewer labels the first 5
    minutes of its beats.csv in a spreadsheet, personalize reads it back."""
    record = _unannotated_copy(embedded, tmp_path / "rec")
    result = runner.invoke(app, ["annotate", "--record", str(record), "--out", str(tmp_path / "annotated")])
    assert result.exit_code == 0, result.output
    beats = pd.read_csv(tmp_path / "annotated" / "beats.csv")
    # the reviewer: the cardiologist's label of each detection in the first 5 minutes (MIT-BIH's own labels, within
    # 150 ms); one detection of a labelled beat is left unlabelled, as a reviewer marks a false detection
    sample, symbol = _beat_annotations(embedded)
    nearest = np.abs(beats["sample"].to_numpy()[:, None] - sample[None, :]).argmin(1)
    match = np.abs(sample[nearest] - beats["sample"].to_numpy()) <= 0.15 * FS
    reviewed = (beats.time_s < 300) & match
    beats["label"] = np.where(reviewed, [AAMI_MAP[s] for s in symbol[nearest]], "")
    unlabelled = int(np.flatnonzero(reviewed)[100])
    beats.loc[unlabelled, "label"] = ""
    beats.to_csv(tmp_path / "reviewed.csv", index=False)
    result = runner.invoke(app, ["personalize", "--record", str(record), "--labels", str(tmp_path / "reviewed.csv"),
                                 "--labelled-minutes", "5", "--method", "finetune-head", "--param", "steps=5", "--no-guard",
                                 "--out", str(tmp_path / "personalized")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "personalized" / "summary.json").read_text())
    assert summary["labels"] == str(tmp_path / "reviewed.csv") and summary["beat_source"] == "annotated+detected"
    assert summary["labelled_beats"] == int(reviewed.sum()) - 1 > 500
    out = pd.read_csv(tmp_path / "personalized" / "beats.csv", keep_default_na=False)
    labelled = out[out.part == "labelled"]
    assert labelled.reference.tolist() == [label for label in beats.label if label]
    assert (labelled.reference != "N").sum() > 50  # 233's V beats are labelled, not all N
    assert int(beats["sample"][unlabelled]) not in set(out["sample"])  # no beat where the reviewer saw none
    assert (out[out.part == "rest"].reference == "").all()  # nothing labelled there: nothing to score
    assert summary["beats"] > 3000  # the rest is classified from the detector's beats


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty: a header line naming a sample or time_s column"),
    ("time,label\n1,N\n", "no sample or time_s column \\(its columns: time, label\\)"),
    ("sample,class\n1,N\n", "no label or reference column \\(its columns: sample, class\\)"),
    ("sample,label\n100,N\n200,X\n", "line 3: label 'X' is no beat label: an AAMI class \\(N S V F Q\\)"),
    ("sample,label\n100,N\n200,n\n", "line 3: label 'n' is no beat label"),
    ("sample,label\n100,N\nabc,V\n", "line 3: sample 'abc' is not a number"),
    ("sample,label\n100.5,N\n", "line 2: sample '100.5' is not a whole number of samples"),
    ("time_s,label\nnan,N\n", "line 2: time_s 'nan' is not a finite number"),
    ("sample,label\n-5,N\n", "line 2: sample -5 is before the recording's start"),
    ("sample,label\n100,N\n100,V\n", "1 beat annotation\\(s\\) not after the beat before them"),
    ("sample,label\n100,\n200,\n", "no beat labels in it \\(every label cell is empty\\)"),
])
def test_a_bad_labels_file_is_named_with_its_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "reviewed.csv"
    path.write_text(text)
    with pytest.raises(RecordError, match=f"reviewed.csv: {problem}"):
        read_label_csv(path, FS)


def test_labels_beyond_the_record_or_outside_the_labelled_minutes_are_named(embedded: Path, tmp_path: Path) -> None:
    record = _unannotated_copy(embedded, tmp_path / "rec")
    model = shipped_model_path("beatnet-mitdb-ds1")
    with pytest.raises(RecordError, match="missing.csv: labels file missing"):
        personalize_record(model, record, tmp_path / "o", labels=tmp_path / "missing.csv", outputs=PERSONALIZE_NO_REPORT)
    (tmp_path / "beyond.csv").write_text("sample,label\n100,N\n650001,V\n")  # 233 has 650,000 samples
    with pytest.raises(RecordError, match="beyond.csv: annotation beyond the end of the signal"):
        personalize_record(model, record, tmp_path / "o", labels=tmp_path / "beyond.csv", outputs=PERSONALIZE_NO_REPORT)
    sample, symbol = _beat_annotations(embedded)
    later = sample > 10 * 60 * FS
    pd.DataFrame({"sample": sample[later], "label": symbol[later]}).to_csv(tmp_path / "later.csv", index=False)
    with pytest.raises(ConfigError, match="later.csv has no beat annotation in the first 5 minutes, so they have no "
                                          "labels: labels are required"):
        personalize_record(model, record, tmp_path / "o", labels=tmp_path / "later.csv", labelled_minutes=5,
                           outputs=PERSONALIZE_NO_REPORT)
    assert not (tmp_path / "o").exists()  # bad input leaves no output folder behind
    result = runner.invoke(app, ["personalize", "--record", str(record), "--labels", str(tmp_path / "beyond.csv"),
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "beyond.csv: annotation beyond the end of the signal" in result.output
    # labels from a CSV and from an annotation file of another extension: refused, not one quietly preferred
    with pytest.raises(ConfigError, match="later.csv: the beat labels come from this file or from the annotation file "
                                          r"\(extension 'ari'\), not both"):
        personalize_record(model, record, tmp_path / "o", labels=tmp_path / "later.csv", annotation="ari", outputs=PERSONALIZE_NO_REPORT)
    result = runner.invoke(app, ["personalize", "--record", str(record), "--labels", str(tmp_path / "later.csv"),
                                 "--annotation", "ari", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "give --labels or --annotation" in result.output
    assert not (tmp_path / "o").exists()
