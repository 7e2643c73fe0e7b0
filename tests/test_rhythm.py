"""Rhythm models: the checkpoint says its task (and a wrong one is a clear error), windows become episodes and an AF
burden by the stated rules, short recordings are classified with or without labels, and annotate/personalize add the
rhythm to their outputs on real records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import wfdb
from typer.testing import CliRunner

from conftest import ANNOTATE_NO_REPORT, synthetic_ecg, write_record
from ecgadapt.cli import app
from ecgadapt.errors import ConfigError, RecordError
from ecgadapt.models.io import save_checkpoint
from ecgadapt.models.registry import create_model
from ecgadapt.pipeline.annotate import annotate_record
from ecgadapt.pipeline.recording import load_beat_model
from ecgadapt.population.shipped import shipped_model_path
from ecgadapt.rhythm.analysis import RhythmWindows, classify_windows, rhythm_episodes, rhythm_lead
from ecgadapt.rhythm.model import (RHYTHM_CLASSES, checkpoint_task, load_rhythm_model, resolve_rhythm_model,
                                   rhythm_settings)
from ecgadapt.rhythm.training import split_cinc_records

runner = CliRunner()


def windows_of(slot_classes: list[str], stride: float = 5.0, window: float = 10.0) -> RhythmWindows:
    """Windows whose probabilities make each stride slot the given class: window k covers slots k and k+1 and leans
    half to each one's class, so a slot's mean over the windows covering it favours its own class."""
    n = len(slot_classes)
    starts = np.arange(0, max(1, n - 1)) * stride
    probs = np.full((len(starts), len(RHYTHM_CLASSES)), 0.02, dtype=np.float32)
    for k, s in enumerate(starts):
        for slot in (k, k + 1):
            probs[k, RHYTHM_CLASSES.index(slot_classes[min(slot, n - 1)])] += 0.45
    return RhythmWindows(starts, window, stride, probs / probs.sum(1, keepdims=True), RHYTHM_CLASSES, n * stride)


def test_episodes_follow_the_30_s_rules() -> None:
    # 1 min N, 1 min AF, 10 s N, 1 min AF, 1 min N: the short N between two AF stretches does not end the episode
    slots = ["N"] * 12 + ["AF"] * 12 + ["N"] * 2 + ["AF"] * 12 + ["N"] * 12
    episodes = rhythm_episodes(windows_of(slots))
    af = episodes[episodes.rhythm == "AF"]
    assert len(af) == 1
    assert af.start_s.iloc[0] == pytest.approx(60, abs=5) and af.end_s.iloc[0] == pytest.approx(190, abs=5)
    # 20 s of AF alone is no AF episode (ESC: from 30 s)
    episodes = rhythm_episodes(windows_of(["N"] * 12 + ["AF"] * 4 + ["N"] * 12))
    assert set(episodes.rhythm) == {"N"}
    assert episodes.end_s.max() == pytest.approx(140)


def test_burden_is_of_the_analysable_time(tmp_path: Path) -> None:
    from ecgadapt.rhythm.analysis import RhythmAnalysis

    slots = ["N"] * 12 + ["AF"] * 12 + ["~"] * 12  # 1 min each
    windows = windows_of(slots)
    analysis = RhythmAnalysis(windows, rhythm_episodes(windows), tmp_path / "m.pt", "MLII")
    assert analysis.analysable_s == pytest.approx(120, abs=5)
    assert analysis.af_burden == pytest.approx(50, abs=5)
    assert analysis.summary["af_episodes"] == 1
    # signal the beats could not be read in is noise, whatever the model says
    episodes = rhythm_episodes(windows_of(["N"] * 24), unreadable_s=[(30.0, 50.0)])
    assert episodes[episodes.rhythm == "~"].start_s.min() == pytest.approx(30)


def test_the_lead_read_prefers_modified_lead_ii() -> None:
    assert rhythm_lead(["V1", "MLII"]) == 1
    assert rhythm_lead(["aVR", "V5"]) == 0


@pytest.fixture(scope="module")
def tiny_rhythm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rhythm checkpoint of an untrained small network (the checks below are of the plumbing, not of accuracy)."""
    torch.manual_seed(0)
    model = create_model("resnet1d18", in_leads=1, num_classes=4, base_width=4)
    path = tmp_path_factory.mktemp("rhythm") / "tiny.pt"
    save_checkpoint(model, path, kind="rhythm-model", task="rhythm", prep=rhythm_settings().to_dict(), fs=100.0,
                    label_names=list(RHYTHM_CLASSES))
    return path


def test_a_checkpoint_of_the_wrong_task_is_a_clear_error(tiny_rhythm_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a beat model.*not a rhythm model"):
        load_rhythm_model(shipped_model_path())
    with pytest.raises(ConfigError, match="a rhythm model, not of beats"):
        load_beat_model(tiny_rhythm_model)
    bare = tmp_path / "upstream.pt"  # as the transfer study wrote them before: no preprocessing, no task
    save_checkpoint(create_model("resnet1d18", in_leads=1, num_classes=4, base_width=4), bare, upstream="cinc2017")
    assert checkpoint_task(torch.load(bare, weights_only=True)["meta"]) is None
    with pytest.raises(ConfigError, match="records no task"):
        load_rhythm_model(bare)
    with pytest.raises(ConfigError, match="not a beat model"):
        load_beat_model(bare)
    result = runner.invoke(app, ["annotate", "--record", "x", "--out", str(tmp_path / "o"),
                                 "--model", str(tiny_rhythm_model)])
    assert result.exit_code == 2 and "Traceback" not in result.output and "a rhythm model, not of beats" in result.output


def test_short_recordings_are_padded_down_to_half_a_window(tiny_rhythm_model: Path) -> None:
    model, meta = load_rhythm_model(tiny_rhythm_model)
    x, _ = synthetic_ecg(7.0, 300.0)
    windows = classify_windows(x, 300.0, model, meta, source="r7")
    assert windows.padded and len(windows.probs) == 1
    x, _ = synthetic_ecg(3.0, 300.0)
    with pytest.raises(RecordError, match="r3.*3.0 s long"):
        classify_windows(x, 300.0, model, meta, source="r3")


def test_cinc_split_is_patient_wise_and_fixed() -> None:
    names = [f"A{i:05d}" for i in range(1, 201)]
    split = split_cinc_records(names)
    assert not set(split.train) & set(split.val) and not set(split.train) & set(split.test)
    assert not set(split.val) & set(split.test)
    assert len(split.val) == len(split.test) == 20
    assert split == split_cinc_records(list(reversed(names)))  # the order given does not matter


def test_predict_a_folder_without_labels_and_skip_bad_recordings(tiny_rhythm_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "new"
    for i in range(3):
        x, _ = synthetic_ecg(20.0 + 5 * i, 300.0, seed=i)
        write_record(folder, f"B{i}", x[:, None], 300.0, leads=["ECG"])
    x, _ = synthetic_ecg(2.0, 300.0)
    write_record(folder, "short", x[:, None], 300.0, leads=["ECG"])
    out = tmp_path / "out"
    result = runner.invoke(app, ["rhythm", "predict", "--folder", str(folder), "--out", str(out),
                                 "--model", str(tiny_rhythm_model)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "rhythm_predictions.csv")
    assert list(table.record) == ["B0", "B1", "B2"] and "reference" not in table
    assert np.allclose(table[[f"p_{c}" for c in RHYTHM_CLASSES]].sum(1), 1.0, atol=1e-3)
    assert list(table.windows) == [3, 4, 5]  # every window of a recording, one every 5 s
    assert "short" in (out / "skipped.csv").read_text() and "skipped" in result.output
    # labels are optional: with a REFERENCE.csv the score comes too
    (folder / "REFERENCE.csv").write_text("B0,N\nB1,A\nB2,O\n")
    result = runner.invoke(app, ["rhythm", "predict", "--folder", str(folder), "--out", str(out),
                                 "--model", str(tiny_rhythm_model)])
    assert "mean of N, AF, O" in result.output
    assert list(pd.read_csv(out / "rhythm_predictions.csv").reference) == ["N", "AF", "O"]
    # nothing classified: a non-zero exit
    only_bad = tmp_path / "bad"
    write_record(only_bad, "short", x[:, None], 300.0, leads=["ECG"])
    result = runner.invoke(app, ["rhythm", "predict", "--folder", str(only_bad), "--out", str(out),
                                 "--model", str(tiny_rhythm_model)])
    assert result.exit_code == 1 and "no recording could be classified" in result.output


def test_the_cinc2017_adapter_lists_recordings_without_a_reference(tmp_path: Path) -> None:
    from ecgadapt.data import get_adapter

    x, _ = synthetic_ecg(12.0, 300.0)
    write_record(tmp_path, "A09999", x[:, None], 300.0, leads=["ECG"])
    adapter = get_adapter("cinc2017")
    refs = adapter.records(tmp_path)
    assert [r.name for r in refs] == ["A09999"] and refs[0].labels == ()
    assert adapter.load(refs[0]).labels == ()


def test_annotate_adds_rhythm_episodes_to_its_outputs(embedded: Path, tmp_path: Path) -> None:
    out = tmp_path / "233"
    result = annotate_record(shipped_model_path(), embedded / "233", out, outputs=ANNOTATE_NO_REPORT)
    episodes = pd.read_csv(out / "rhythm.csv")
    assert list(episodes.columns[:2]) == ["start_s", "end_s"]
    assert episodes.start_s.iloc[0] == 0 and episodes.end_s.iloc[-1] == pytest.approx(result.patient.record.duration_s, abs=0.01)
    assert (episodes.start_s.iloc[1:].to_numpy() == episodes.end_s.iloc[:-1].to_numpy()).all()  # back to back
    summary = json.loads((out / "summary.json").read_text())["rhythm"]
    assert summary["af_burden_percent"] is not None and summary["lead"] == "MLII"
    ann = wfdb.rdann(str(out / "233"), "pred")
    rhythm_notes = [a for s, a in zip(ann.symbol, ann.aux_note) if s == "+"]
    assert len(rhythm_notes) == len(episodes) and all(a.startswith("(") for a in rhythm_notes)
    assert sum(s != "+" for s in ann.symbol) == len(result.beats)  # the beats are all still there
    # switched off: no rhythm.csv, and an earlier run's is removed
    annotate_record(shipped_model_path(), embedded / "233", out, outputs=ANNOTATE_NO_REPORT, rhythm=False)
    assert not (out / "rhythm.csv").exists()
    assert json.loads((out / "summary.json").read_text())["rhythm"] is None


def test_the_shipped_rhythm_model_finds_af_in_a_real_af_record(shared_data: Path, tmp_path: Path) -> None:
    """MIT-BIH 221 (DS2, not trained on): 1,767 s of its 1,805 s are annotated AF."""
    out = tmp_path / "221"
    annotate_record(shipped_model_path(), shared_data / "mitdb" / "221", out, outputs=("rhythm", "summary"))
    summary = json.loads((out / "summary.json").read_text())["rhythm"]
    assert summary["af_burden_percent"] > 50
    assert resolve_rhythm_model() == Path(summary["model"])


def test_predict_real_cinc2017_recordings(shared_data: Path, tmp_path: Path) -> None:
    """CinC 2017 recordings of the shipped model's test split, copied into a folder with no REFERENCE.csv."""
    from ecgadapt.rhythm.model import shipped_rhythm_card

    test = shipped_rhythm_card()["split"]["test"][:12]
    folder = tmp_path / "cinc"
    folder.mkdir()
    for name in test:
        for ext in ("hea", "mat"):
            shutil.copy(shared_data / "challenge2017" / "training2017" / f"{name}.{ext}", folder)
    result = runner.invoke(app, ["rhythm", "predict", "--folder", str(folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "rhythm_predictions.csv")
    assert sorted(table.record) == sorted(test) and set(table.rhythm) <= set(RHYTHM_CLASSES)


def test_rhythm_personalize_adapts_on_the_first_rhythm_labels(ltafdb_root: Path, tmp_path: Path) -> None:
    """The LTAF-layout fixture: real MIT-BIH 233 signal, invented rhythm labels (N 0-2 min, AF 2-4 min, N 4-6 min)."""
    out = tmp_path / "p"
    result = runner.invoke(app, ["rhythm", "personalize", "--record", str(ltafdb_root / "00"), "--out", str(out),
                                 "--labelled-share", "0.5", "--no-guard", "--param", "steps=4"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "rhythm_personalize.json").read_text())
    assert summary["kept"] == "personalized" and summary["lead"] == "ECG1"
    assert summary["labelled_windows"]["N"] > 0 and summary["labelled_windows"]["AF"] > 0
    assert set(summary["rest_scores"]) == {"population", "personalized"}
    model, meta = load_rhythm_model(out / "personalized_rhythm.pt")  # a rhythm model, for annotate --rhythm-model
    assert meta["personalized_for"].endswith("00") and meta["kept"] == "personalized"
    # behind the guard: a decision with its reason, whichever it keeps
    result = runner.invoke(app, ["rhythm", "personalize", "--record", str(ltafdb_root / "00"), "--out", str(out),
                                 "--labelled-share", "0.5", "--param", "steps=4"])
    assert result.exit_code == 0, result.output
    guard = json.loads((out / "rhythm_personalize.json").read_text())["guard"]
    assert guard["kept"] in ("personalized", "population") and guard["reason"]


def test_rhythm_personalize_needs_rhythm_labels(tmp_path: Path) -> None:
    x, _ = synthetic_ecg(120.0, 360.0)
    path = write_record(tmp_path / "rec", "plain", x[:, None], 360.0, leads=["MLII"])
    result = runner.invoke(app, ["rhythm", "personalize", "--record", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no rhythm annotation" in result.output and "plain" in result.output
    assert not (tmp_path / "o").exists()


def test_a_reviewed_rhythm_csv_personalizes_the_rhythm_model(embedded: Path, tmp_path: Path) -> None:
    """annotate's rhythm.csv, corrected by a reviewer (here: the first 2 minutes relabelled AF, invented for the test),
    is read in place of the annotation file's rhythm notes."""
    annotate_record(shipped_model_path(), embedded / "233", tmp_path / "a", outputs=("rhythm", "summary"))
    episodes = pd.read_csv(tmp_path / "a" / "rhythm.csv")
    reviewed = pd.concat([pd.DataFrame({"start_s": [0.0], "end_s": [120.0], "rhythm": ["AF"]}),
                          episodes.assign(start_s=np.maximum(episodes.start_s, 120.0))[episodes.end_s > 120.0]])
    reviewed.to_csv(tmp_path / "reviewed.csv", index=False)
    result = runner.invoke(app, ["rhythm", "personalize", "--record", str(embedded / "233"), "--out", str(tmp_path / "p"),
                                 "--labels", str(tmp_path / "reviewed.csv"), "--labelled-minutes", "3", "--no-guard",
                                 "--param", "steps=4"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "p" / "rhythm_personalize.json").read_text())
    assert summary["labels"].endswith("reviewed.csv") and summary["labelled_windows"]["AF"] >= 20
    for text, problem in (("start_s,end_s\n0,10\n", "no rhythm column"),
                          ("start_s,end_s,rhythm\n0,10,XYZ\n", "line 2: unknown rhythm 'XYZ'"),
                          ("start_s,end_s,rhythm\n5000,5010,N\n", "after the recording's end"),
                          ("start_s,end_s,rhythm\n10,5,N\n", "line 2: an episode from 10 to 5 s")):
        (tmp_path / "bad.csv").write_text(text)
        result = runner.invoke(app, ["rhythm", "personalize", "--record", str(embedded / "233"),
                                     "--out", str(tmp_path / "q"), "--labels", str(tmp_path / "bad.csv")])
        assert result.exit_code == 2 and "bad.csv" in result.output and problem in result.output.replace("\n", ""), \
            result.output

