"""The detector's false detections, learnt from the labelled minutes (``personalize.false_detections``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

from conftest import pred_beats
from typer.testing import CliRunner

from ecgadapt.cli import app
from ecgadapt.errors import ConfigError
from ecgadapt.models.io import load_checkpoint, save_checkpoint
from ecgadapt.pipeline.batch import annotate_records
from ecgadapt.pipeline.annotate import annotate_record
from ecgadapt.pipeline.personalize import load_patient, personalize_record
from ecgadapt.pipeline.false_detections import (MIN_FALSE, FalseDetectionFilter, labelled_detections,
                                                learn_false_detections)
from ecgadapt.population.shipped import shipped_model_path
from ecgadapt.signal.peaks import nearest_index
from tests.conftest import ANNOTATE_NO_REPORT, PERSONALIZE_NO_REPORT

FAST = {"method": "finetune-head", "params": {"steps": 5}, "guard": False}


def _features(n_beats: int, n_false: int, separable: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of ``n_beats`` true and ``n_false`` false detections spread over 5 minutes; the false ones far from
    the true ones only where ``separable``."""
    rng = np.random.default_rng(seed)
    is_beat = np.r_[np.ones(n_beats, bool), np.zeros(n_false, bool)]
    feats = rng.normal(size=(len(is_beat), 4))
    if separable:
        feats[~is_beat] += 6.0
    order = rng.permutation(len(is_beat))  # the false detections all through the minutes, as T waves are
    return feats[order], is_beat[order], np.linspace(0, 300, len(is_beat))


def test_a_filter_is_used_only_where_held_out_minutes_show_it_removes_more_false_detections_than_beats() -> None:
    feats, is_beat, t = _features(300, 30, separable=True)
    classifier, check = learn_false_detections(feats, is_beat, t)
    assert check.used and classifier is not None
    assert check.fixed == 30 and check.broken == 0 and check.p_value < 1e-6
    assert (classifier.predict(feats) == is_beat).all()
    # as it is applied and stored: the same probabilities as scikit-learn's
    model, _ = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))
    stored = FalseDetectionFilter.from_pipeline(classifier, model, ["MLII"], "r")
    back = FalseDetectionFilter.from_state(stored.to_state())
    np.testing.assert_allclose(back.not_beat_probability_of_features(feats), classifier.predict_proba(feats)[:, 0],
                               rtol=1e-6, atol=1e-9)
    # detections that look like the beats: the held-out blocks show no gain, so nothing is removed
    feats, is_beat, t = _features(300, 30, separable=False)
    classifier, check = learn_false_detections(feats, is_beat, t)
    assert classifier is None and not check.used and check.broken > check.fixed
    assert check.reason.startswith("no significant gain at alpha = 0.05")
    # too few to reach significance whatever the filter does
    feats, is_beat, t = _features(300, MIN_FALSE - 1, separable=True)
    classifier, check = learn_false_detections(feats, is_beat, t)
    assert classifier is None and check.reason == f"fewer than {MIN_FALSE} false detections to learn from"
    # every false detection in the last block: the first two teach nothing, so the held-out block keeps them all
    is_beat = np.r_[np.ones(300, bool), np.zeros(30, bool)]
    feats = np.where(is_beat[:, None], 0.0, 6.0) + np.random.default_rng(1).normal(size=(330, 4))
    classifier, check = learn_false_detections(feats, is_beat, np.arange(330.0))
    assert classifier is None and check.fixed == 0


def test_removing_a_detection_computes_the_rr_features_anew(embedded: Path) -> None:
    _, meta = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))
    patient = load_patient(embedded / "233", meta, beats="detected")
    drop = np.zeros(len(patient.beats), bool)
    drop[100] = True
    fewer = patient.without(drop)
    assert len(fewer.beats) == len(patient.beats) - 1 and (fewer.sample == np.delete(patient.sample, 100)).all()
    rr, fs = patient.beats.rr, patient.record.fs
    # the beat before the removed one: its next beat is the one after it now
    assert fewer.beats.rr[99, 1] == pytest.approx((patient.sample[101] - patient.sample[99]) / fs, abs=1e-5)
    assert fewer.beats.rr[100, 0] == pytest.approx(rr[100, 0] + rr[101, 0], abs=1e-5)
    assert (fewer.beats.X[100] == patient.beats.X[101]).all() and fewer.agreement[100] == patient.agreement[101]


def test_labelled_minutes_where_the_detector_finds_nothing(embedded: Path, tmp_path: Path) -> None:
    """The first 5 minutes annotated but flat where the detector runs: nothing found, nothing to learn, no failure;
    no labels either, since a flat line is no signal."""
    rec = wfdb.rdrecord(str(embedded / "233"))
    signal = rec.p_signal.copy()
    signal[: 320 * 360] = 0.0  # past the labelled minutes and the detector's 10 s of context after them
    wfdb.wrsamp("233", fs=rec.fs, units=rec.units, sig_name=rec.sig_name, p_signal=signal, fmt=rec.fmt,
                adc_gain=rec.adc_gain, baseline=rec.baseline, write_dir=str(tmp_path))
    ann = wfdb.rdann(str(embedded / "233"), "atr")
    first = ann.sample < 300 * 360
    wfdb.wrann("233", "atr", ann.sample[first], list(np.asarray(ann.symbol)[first]), fs=360, write_dir=str(tmp_path))
    _, meta = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))
    patient = load_patient(tmp_path / "233", meta)
    assert patient.beat_source == "annotated+detected"
    found = labelled_detections(patient, 0.0, 300.0)
    beats = first & np.isin(ann.symbol, list("NLRejAaJSVEF/fQ"))
    assert found is not None and len(found.sample) == 0 and len(found.labelled) == int(beats.sum())
    assert found.agreement().sensitivity == 0.0
    with pytest.raises(ConfigError, match=r"the \d+ beats annotated in the first 5 minutes all lie where a lead the "
                                          r"model reads holds no signal \(invalid samples or a flat line\)"):
        personalize_record(shipped_model_path("beatnet-mitdb-ds1"), tmp_path / "233", tmp_path / "o", **FAST, outputs=PERSONALIZE_NO_REPORT)
    r = personalize_record(shipped_model_path("beatnet-mitdb-ds1"), tmp_path / "233", tmp_path / "o", **(FAST | {"method": "pseudolabel"}), outputs=PERSONALIZE_NO_REPORT)
    assert r.summary["false_detections"]["labelled_detections"] == 0
    assert r.summary["detector_in_labelled_minutes"]["found"] == 0


def test_232s_false_detections_are_learnt_from_its_labelled_minutes(embedded: Path, tmp_path: Path) -> None:
    """MIT-BIH 232 (sinus bradycardia, long pauses): the detector finds waves that are no beats, in the labelled
    minutes and after them."""
    r = personalize_record(shipped_model_path("beatnet-mitdb-ds1"), embedded / "232", tmp_path / "o", beats="detected", **FAST)
    check = r.summary["false_detections"]
    assert check["used"] and check["false_in_labelled"] >= MIN_FALSE and check["fixed"] > check["broken"]
    assert check["removed_labelled"] == check["false_in_labelled"]  # the labels say which: all of them go
    removed = pd.read_csv(tmp_path / "o" / "false_detections.csv")
    assert len(removed) == check["removed_labelled"] + check["removed_rest"] and check["removed_rest"] > 0
    assert (removed.why[removed.part == "rest"] == "learnt filter").all()
    assert (removed.not_beat_probability[removed.part == "rest"] > 0.5).all()
    # none of them is in any other output
    beats = pd.read_csv(tmp_path / "o" / "beats.csv")
    pred = pred_beats(tmp_path / "o" / "232")
    assert not set(removed["sample"]) & set(beats["sample"]) and not set(removed["sample"]) & set(pred.sample)
    assert len(pred.sample) == len(beats) == r.summary["beats"]
    assert (beats.reference[beats.part == "labelled"] != "").all()  # every detection left there is a labelled beat
    # the ones removed after the labelled minutes are mostly no beats: few lie within 150 ms of an annotated beat
    ann = wfdb.rdann(str(embedded / "232"), "atr")
    ref = ann.sample[np.isin(ann.symbol, list("NLRejAaJSVEF/fQ"))]
    rest = removed[removed.part == "rest"]["sample"].to_numpy()
    near = np.abs(ref[nearest_index(ref, rest)] - rest)
    assert (near > 0.15 * 360).mean() > 0.8
    report = (tmp_path / "o" / "report.html").read_text()
    assert "False detections" in report and "false_detections.csv" in report
    assert "figures/false_detection.png" in (tmp_path / "o" / "report.md").read_text()
    assert (tmp_path / "o" / "figures" / "false_detection.png").exists() and "alt=\"false detection\"" in report
    assert any(n.startswith("false detections: ") for n in r.summary["notes"])
    # switched off: every detection stays
    off = personalize_record(shipped_model_path("beatnet-mitdb-ds1"), embedded / "232", tmp_path / "off", beats="detected",
                             false_detection_filter=False, **FAST)
    assert off.summary["false_detections"] is None and off.summary["beats"] == len(beats) + len(removed)
    assert not (tmp_path / "off" / "false_detections.csv").exists()
    # a rerun into the same folder without removals leaves no stale list behind
    personalize_record(shipped_model_path("beatnet-mitdb-ds1"), embedded / "232", tmp_path / "o", beats="detected",
                       false_detection_filter=False, **FAST)
    assert not (tmp_path / "o" / "false_detections.csv").exists()
    assert not (tmp_path / "o" / "figures" / "false_detection.png").exists()


def test_a_clean_detector_changes_nothing_and_annotated_beats_are_never_judged(embedded: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["personalize", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"),
                                      "--beats", "detected", "--method", "finetune-head", "--param", "steps=5",
                                      "--no-guard"])
    assert result.exit_code == 0, result.output
    off = CliRunner().invoke(app, ["personalize", "--record", str(embedded / "233"), "--out", str(tmp_path / "off"),
                                   "--beats", "detected", "--method", "finetune-head", "--param", "steps=5",
                                   "--no-guard", "--no-false-detection-filter"])
    assert off.exit_code == 0, off.output
    assert "false detections: 0 of the detector's" in " ".join(result.output.split())
    assert (tmp_path / "o" / "beats.csv").read_text() == (tmp_path / "off" / "beats.csv").read_text()
    annotated = personalize_record(shipped_model_path("beatnet-mitdb-ds1"), embedded / "233", tmp_path / "a", **FAST, outputs=PERSONALIZE_NO_REPORT)
    assert annotated.summary["false_detections"] is None


@pytest.mark.shared
def test_113s_t_waves_are_removed_with_labels_of_its_first_minutes_only(shared_data: Path, tmp_path: Path) -> None:
    """MIT-BIH 113: the detector takes most T waves for beats. The cardiologist labels the first 5 minutes (the
    clinical case: the rest of the record has no annotations); the filter learnt there removes the T waves after."""
    src = shared_data / "mitdb"
    part = tmp_path / "part"
    part.mkdir()
    for ext in ("hea", "dat"):
        shutil.copy(src / f"113.{ext}", part / f"113.{ext}")
    ann = wfdb.rdann(str(src / "113"), "atr")
    first = ann.sample < 300 * ann.fs
    wfdb.wrann("113", "atr", ann.sample[first], list(np.asarray(ann.symbol)[first]),
               aux_note=list(np.asarray(ann.aux_note)[first]), fs=ann.fs, write_dir=str(part))
    r = personalize_record(shipped_model_path("beatnet-mitdb-ds1"), part / "113", tmp_path / "o", **FAST, outputs=PERSONALIZE_NO_REPORT)
    s = r.summary
    assert s["beat_source"] == "annotated+detected"
    check = s["false_detections"]
    assert check["used"] and check["removed_labelled"] == 0 and check["broken"] == 0
    assert check["false_in_labelled"] == s["detector_in_labelled_minutes"]["false"] > 200
    assert check["removed_rest"] > 900
    # the beats after the labelled minutes against the full reference: the beats counted about right, S no longer
    # a third of them
    total = int(np.isin(ann.symbol, list("NLRejAaJSVEF/fQ")).sum())
    assert abs(s["beats"] - total) < 0.01 * total
    assert s["holter"]["S_per_100"] < 2.0
    off = personalize_record(shipped_model_path("beatnet-mitdb-ds1"), part / "113", tmp_path / "off", false_detection_filter=False, **FAST, outputs=PERSONALIZE_NO_REPORT)
    assert off.summary["beats"] > 1.5 * total and off.summary["holter"]["S_per_100"] > 5


def _split(embedded: Path, name: str, folder: Path, minutes: float) -> tuple[Path, Path, np.ndarray]:
    """``name`` cut into its first ``minutes`` (with annotations) and the rest (none, as a next recording comes);
    and the rest's annotated beats (samples of the rest)."""
    rec = wfdb.rdrecord(str(embedded / name), physical=False)
    ann = wfdb.rdann(str(embedded / name), "atr")
    cut = int(minutes * 60 * rec.fs)
    folder.mkdir()
    for part, lo, hi in (("first", 0, cut), ("next", cut, rec.sig_len)):
        wfdb.wrsamp(part, fs=rec.fs, units=rec.units, sig_name=rec.sig_name, d_signal=rec.d_signal[lo:hi],
                    fmt=rec.fmt, adc_gain=rec.adc_gain, baseline=rec.baseline, write_dir=str(folder))
    inside = ann.sample < cut
    wfdb.wrann("first", "atr", ann.sample[inside], list(np.asarray(ann.symbol)[inside]),
               aux_note=list(np.asarray(ann.aux_note)[inside]), write_dir=str(folder))
    beat = np.isin(ann.symbol, list("NLRejAaJSVEF/fQ")) & ~inside
    return folder / "first", folder / "next", ann.sample[beat] - cut


def test_the_filter_travels_in_personalized_pt_to_the_patients_next_recording(embedded: Path, tmp_path: Path) -> None:
    """232 cut in two: personalize on its first 15 minutes (5 labelled), annotate the rest as a next recording
    with no annotations. The filter personalize learnt removes the next recording's false detections."""
    first, following, reference = _split(embedded, "232", tmp_path / "parts", 15)
    r = personalize_record(shipped_model_path("beatnet-mitdb-ds1"), first, tmp_path / "p", beats="detected", **FAST)
    assert r.summary["false_detections"]["used"]
    _, meta = load_checkpoint(tmp_path / "p" / "personalized.pt")
    learnt = FalseDetectionFilter.from_state(meta["false_detection_filter"])
    assert learnt.leads == ["MLII"] and learnt.learnt_on == str(first) and learnt.check["used"]
    # read back from the checkpoint it gives the probabilities personalize recorded
    removed = pd.read_csv(tmp_path / "p" / "false_detections.csv")
    rest = removed[removed.part == "rest"]
    patient = load_patient(first, meta, beats="detected")
    index = np.searchsorted(patient.sample, rest["sample"].to_numpy())
    np.testing.assert_allclose(learnt.not_beat_probability(patient.beats.subset(index)), rest.not_beat_probability,
                               atol=1e-4)

    info = annotate_record(tmp_path / "p" / "personalized.pt", following, tmp_path / "a", beats="detected").summary
    found = info["false_detections"]
    assert found["applied"] and found["removed"] > 0 and info["beat_source"] == "detected"
    gone = pd.read_csv(tmp_path / "a" / "false_detections.csv")
    assert len(gone) == found["removed"] and (gone.not_beat_probability > 0.5).all()
    beats = pd.read_csv(tmp_path / "a" / "beats.csv")
    pred = pred_beats(tmp_path / "a" / "next")
    assert not set(gone["sample"]) & set(beats["sample"]) and not set(gone["sample"]) & set(pred.sample)
    assert found["detections"] == len(beats) + len(gone) == info["beats"] + len(gone)
    # against the next recording's reference: the removed ones are mostly no beats
    near = np.abs(reference[nearest_index(reference, gone["sample"].to_numpy())] - gone["sample"].to_numpy())
    assert (near > 0.15 * 360).mean() > 0.8
    assert any(n.startswith("false detections: a filter learnt from the labelled minutes of") for n in info["notes"])
    report = (tmp_path / "a" / "report.md").read_text()
    assert "## False detections" in report and "figures/false_detection.png" in report
    assert (tmp_path / "a" / "figures" / "false_detection.png").exists()

    # switched off (the CLI's flag): every detection stays, and a rerun into the folder leaves nothing stale
    result = CliRunner().invoke(app, ["annotate", "--model", str(tmp_path / "p" / "personalized.pt"), "--record",
                                      str(following), "--out", str(tmp_path / "a"), "--beats", "detected",
                                      "--no-false-detection-filter"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "a" / "beats.csv")) == found["detections"]
    assert "switched off" in json.loads((tmp_path / "a" / "summary.json").read_text())["false_detections"]["reason"]
    assert not (tmp_path / "a" / "false_detections.csv").exists()
    assert not (tmp_path / "a" / "figures" / "false_detection.png").exists()
    # on another lead its evidence does not hold: not applied, and said so
    v1 = annotate_record(tmp_path / "p" / "personalized.pt", following, tmp_path / "v1", beats="detected", lead="V1").summary
    assert not v1["false_detections"]["applied"] and "learnt on lead MLII" in v1["false_detections"]["reason"]
    assert any("is not applied" in n for n in v1["notes"])
    # a model that carries no filter: nothing to say
    plain = annotate_record(shipped_model_path("beatnet-mitdb-ds1"), following, tmp_path / "plain", beats="detected").summary
    assert plain["false_detections"] is None and plain["beats"] == found["detections"]

    # a batch run keeps a result only for the same choice
    model = tmp_path / "p" / "personalized.pt"
    row = annotate_records(model, [following], tmp_path / "b", beats="detected", progress=False)["records"][0]
    assert row["status"] == "annotated" and row["false_detections_removed"] == found["removed"]
    assert f"| {found['removed']} |" in (tmp_path / "b" / "report.md").read_text()
    assert annotate_records(model, [following], tmp_path / "b", beats="detected",
                            progress=False)["records"][0]["status"] == "done earlier"
    off = annotate_records(model, [following], tmp_path / "b", beats="detected", false_detection_filter=False,
                           progress=False)["records"][0]
    assert off["status"] == "annotated" and off["beats"] == found["detections"]
    assert off["false_detections_removed"] is None  # none judged, not none removed: no column for it
    batch_report = (tmp_path / "b" / "report.md").read_text()
    assert "false detections removed" not in batch_report and "false-detection filter switched off" in batch_report
    marker = json.loads((tmp_path / "b" / "next" / "annotate.json").read_text())
    assert marker["options"]["false_detection_filter"] is False


def test_an_unreadable_filter_in_a_model_file_is_named_and_can_be_left_out(embedded: Path, tmp_path: Path) -> None:
    model, meta = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))
    broken = save_checkpoint(model, tmp_path / "broken.pt", **meta, false_detection_filter={"leads": ["MLII"]})
    with pytest.raises(ConfigError, match=r"broken\.pt: the filter of false detections it carries is unreadable"):
        annotate_record(broken, embedded / "233", tmp_path / "a", beats="detected", outputs=ANNOTATE_NO_REPORT)
    assert not (tmp_path / "a").exists()  # refused before any output
    info = annotate_record(broken, embedded / "233", tmp_path / "a", beats="detected", false_detection_filter=False, outputs=ANNOTATE_NO_REPORT).summary
    assert info["beats"] > 2000 and not info["false_detections"]["applied"]
