"""SVDB, NSTDB and LUDB: published counts, their quirks (gain 0, ECG1 for MLII, 128 Hz, noise records, delineation),
bad files named, the svdb-personalized protocol, and no patient in both a population model's training set and its test.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgadapt.data import get_adapter
from ecgadapt.data.base import uncalibrated_leads
from ecgadapt.data.nstdb import snr_db
from ecgadapt.errors import RecordError
from ecgadapt.prepare import default_settings, prepare_dataset
from ecgadapt.protocols import LeakError, build_protocol, fold_records
from tests.conftest import ANNOTATE_NO_REPORT

SVDB_FEW = ("800", "802", "804", "820", "841", "847")


@pytest.fixture()
def svdb_few(shared_data: Path, tmp_path: Path) -> Path:
    """A writable SVDB-layout folder with six real records (820 has gain 0 in its header; 847 is kept aside in
    ../shared, so its name is free for a broken copy)."""
    root = tmp_path / "svdb"
    root.mkdir()
    for name in SVDB_FEW[:5]:
        for ext in ("hea", "dat", "atr"):
            shutil.copy(shared_data / "svdb" / f"{name}.{ext}", root / f"{name}.{ext}")
    (root / "RECORDS").write_text("\n".join(SVDB_FEW[:5]) + "\n")
    return root


@pytest.mark.shared
def test_svdb_counts_equal_published(shared_data: Path) -> None:
    info = get_adapter("svdb").info(shared_data / "svdb")
    # ../shared/data/README.md: 52 of the 78 records, 8,484 AAMI S beats (SVDB writes S where MIT-BIH writes A)
    assert info.n_records == info.n_subjects == 52
    assert info.extra_counts["AAMI beats (all records)"]["S"] == 8_484
    assert info.class_counts["S"] == 8_475 and info.class_counts["J"] == 9  # both AAMI S
    assert abs(info.duration_s - 52 * 230400 / 128) < 1 and not info.problems
    assert any("one record = one patient" in note for note in info.notes)


@pytest.mark.shared
def test_svdb_quirks_gain_zero_ecg1_128_hz(shared_data: Path) -> None:
    adapter = get_adapter("svdb")
    refs = {r.name: r for r in adapter.records(shared_data / "svdb")}
    assert all(r.subject == r.name for r in refs.values())
    rec = adapter.load(refs["820"])  # its header: "820.dat 212 0 10 ..." for both leads
    assert rec.fs == 128.0 and rec.leads == ["ECG1", "ECG2"] and rec.n_samples == 230400
    assert rec.meta["uncalibrated_leads"] == ["ECG1", "ECG2"]
    assert adapter.load(refs["800"]).meta["uncalibrated_leads"] == []  # gain 200
    # 25 of the 52 headers give gain 200, 27 give 0
    assert sum(bool(uncalibrated_leads(r.path)) for r in refs.values()) == 27
    assert default_settings("svdb").leads == ("ECG1",)


@pytest.mark.shared
def test_svdb_beats_join_a_population_model_on_ecg1_at_its_rate(svdb_few: Path, embedded_beats) -> None:
    from ecgadapt.population.training import prepare_extra_beats

    extra = prepare_extra_beats(f"svdb:{svdb_few}", embedded_beats, progress=False)
    assert extra.settings.leads == ("ECG1",) and extra.fs == embedded_beats.fs == 360.0
    assert extra.X.shape[1:] == embedded_beats.X.shape[1:]
    y = np.asarray(extra.y)
    assert (y == 1).sum() > 100  # S beats: what SVDB brings


@pytest.mark.shared
def test_a_bad_svdb_file_is_named_and_the_batch_goes_on(svdb_few: Path, tmp_path: Path) -> None:
    for ext in ("hea", "dat", "atr"):
        shutil.copy(svdb_few / f"800.{ext}", svdb_few / f"847.{ext}")
    (svdb_few / "847.hea").write_text((svdb_few / "847.hea").read_text().replace("800", "847"))
    (svdb_few / "847.dat").write_bytes((svdb_few / "847.dat").read_bytes()[:4000])
    (svdb_few / "RECORDS").write_text("\n".join(SVDB_FEW) + "\n")
    adapter = get_adapter("svdb")
    with pytest.raises(RecordError, match=r"847\.dat: truncated"):
        adapter.load(next(r for r in adapter.records(svdb_few) if r.name == "847"))
    prepared, report = prepare_dataset("svdb", svdb_few, cache_root=tmp_path / "cache", progress=False)
    assert prepared.record_names == list(SVDB_FEW[:5])
    assert [f["record"] for f in report.failures] == ["847"] and "847.dat: truncated" in report.failures[0]["error"]
    (svdb_few / "841.hea").write_text((svdb_few / "841.hea").read_text().replace(" 128 ", " 250 ", 1))
    with pytest.raises(RecordError, match=r"841\.hea: unexpected sampling rate 250 Hz \(this database has 128 Hz\)"):
        adapter.load(next(r for r in adapter.records(svdb_few) if r.name == "841"))


@pytest.mark.shared
def test_nstdb_noise_and_noisy_records(shared_data: Path) -> None:
    adapter = get_adapter("nstdb")
    refs = {r.name: r for r in adapter.records(shared_data / "nstdb")}
    assert sorted(refs) == ["118e00", "118e12", "118e24", "118e_6", "bw", "ma"]
    assert {r.subject for r in refs.values()} == {"118", "noise-bw", "noise-ma"}
    assert [snr_db(n) for n in ("118e24", "118e00", "118e_6", "bw")] == [24.0, 0.0, -6.0, None]
    noisy = adapter.load(refs["118e_6"])
    assert noisy.leads == ["MLII", "V1"] and noisy.annotations.beat_mask().sum() == 2_166 + 112  # 118's beats
    noise = adapter.load(refs["bw"])
    assert noise.annotations is None and noise.meta["uncalibrated_leads"] == ["noise1", "noise2"]
    info = adapter.info(shared_data / "nstdb")
    assert info.n_records == 6 and info.extra_counts["AAMI beats (all records)"]["N"] == 4 * 2_166
    assert info.extra_counts["AAMI beats (all records)"]["S"] == 4 * 96 and not info.problems


@pytest.mark.shared
def test_ludb_rhythms_and_delineation(shared_data: Path) -> None:
    adapter = get_adapter("ludb")
    info = adapter.info(shared_data / "ludb")
    # the database's README: 200 subjects; rhythms 143 sinus, 25 bradycardia, 15 AF, 8 sinus arrhythmia, 4
    # tachycardia, 3 flutter, 2 irregular sinus rhythm; its 16,797 P waves (QRS and T: the files hold 21,965 and 19,661
    # where the README says 21,966 and 19,666)
    assert info.n_records == info.n_subjects == 200 and not info.problems
    assert info.class_counts == {"Atrial fibrillation": 15, "Atrial flutter, typical": 3, "Irregular sinus rhythm": 2,
                                 "Sinus arrhythmia": 8, "Sinus bradycardia": 25, "Sinus rhythm": 143,
                                 "Sinus tachycardia": 4}
    assert info.extra_counts["waves (all leads)"] == {"QRS": 21_965, "T": 19_661, "P": 16_797}
    rec = adapter.load(adapter.records(shared_data / "ludb")[0])
    assert rec.name == "1" and rec.labels == ("Sinus bradycardia",) and rec.meta["sex"] == "F"
    assert rec.signal.shape == (12, 5000) and rec.annotations is None  # its "N" marks a QRS, not a normal beat
    qrs = rec.meta["waves"]["ii"]["QRS"]
    assert qrs.shape[1] == 3 and (qrs[:, 0] < qrs[:, 1]).all() and (qrs[:, 1] < qrs[:, 2]).all()
    assert qrs[0].tolist() == [644, 662, 682]


def test_ludb_bad_annotation_file_is_named(tmp_path: Path) -> None:
    from tests.conftest import synthetic_ecg, write_record

    x, _ = synthetic_ecg(10, 500)
    write_record(tmp_path / "ludb" / "data", "1", np.tile(x[:, None], (1, 12)), 500.0,
                 leads=["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"])
    (tmp_path / "ludb" / "data" / "1.ii").write_bytes(b"\x01\x02\x03")  # cut short
    adapter = get_adapter("ludb")
    refs = adapter.records(tmp_path / "ludb")
    assert [r.name for r in refs] == ["1"] and refs[0].labels == ()  # no ludb.csv: no label, no error
    with pytest.raises(RecordError, match=r"1\.ii: truncated or not a WFDB annotation file"):
        adapter.load(refs[0])


def _svdb_refs(names):
    from ecgadapt.data import RecordRef

    return [RecordRef("svdb", n, Path("/nowhere") / n, subject=n) for n in names]


def test_svdb_personalized_folds_deal_each_patient_once() -> None:
    names = [str(800 + i) for i in range(52)]
    proto = build_protocol("svdb-personalized", "svdb", _svdb_refs(names), folds=4, seed=0)
    folds = [fold_records(proto, k) for k in range(4)]
    assert sorted(sum(folds, [])) == names and sorted(len(f) for f in folds) == [13, 13, 13, 13]
    assert build_protocol("svdb-personalized", "svdb", _svdb_refs(names), folds=4, seed=0).params == proto.params
    assert build_protocol("svdb-personalized", "svdb", _svdb_refs(names), folds=4, seed=1).params != proto.params
    # the labelled first minutes and the scored rest never share time
    assert all(s.end == 300.0 for s in proto.splits["adapt"]) and all(s.start == 300.0 for s in proto.splits["test"])
    with pytest.raises(LeakError):
        bad = build_protocol("svdb-personalized", "svdb", _svdb_refs(names))
        bad.splits["test"][0] = replace(bad.splits["test"][0], start=200.0)
        bad.check()


@pytest.mark.shared
def test_no_svdb_test_patient_in_its_population_models_training_or_validation(svdb_few: Path, embedded_beats,
                                                                              tmp_path: Path) -> None:
    from ecgadapt.population.training import POPULATION_CONFIG, train_population_model
    from ecgadapt.population.card import save_population_model
    from ecgadapt.studies.personalize_svdb import check_no_leak

    test = ["800", "820"]
    model, card = train_population_model(embedded_beats, ("200", "213", "232"), ("232",), seed=0,
                                         config=replace(POPULATION_CONFIG, epochs=1, bf16=False), progress=False,
                                         extra_beats=(f"svdb:{svdb_few}",), extra_validation=0.34,
                                         exclude_subjects=test)
    svdb = card["extra_beats"][0]
    assert svdb["excluded_records"] == test
    assert sorted(svdb["train_records"] + svdb["val_records"]) == ["802", "804", "841"]
    assert len(svdb["val_records"]) == 1 and not set(svdb["val_records"]) & set(svdb["train_records"])
    assert card["val_beats_all"] == card["val_beats"] + svdb["val_beats"]
    check_no_leak(card, test, tmp_path / "pop.pt")
    with pytest.raises(LeakError, match="802"):
        check_no_leak(card, ["802"], tmp_path / "pop.pt")
    save_population_model(model, card, embedded_beats, tmp_path / "pop.pt", "test")
    text = (tmp_path / "pop.md").read_text()
    assert "joined the validation patients. Left out of it altogether (a protocol's test patients): 800, 820." in text
    # a resumed study takes the fold's model it left, checked to leave out the same patients
    from ecgadapt.errors import ConfigError
    from ecgadapt.studies.personalize_svdb import fold_population_model

    (tmp_path / "study" / "fold-0").mkdir(parents=True)
    save_population_model(model, card, embedded_beats, tmp_path / "study" / "fold-0" / "population.pt", "test")
    again, again_card, _ = fold_population_model(0, test, embedded_beats, svdb_few, tmp_path / "study", 0, (), False)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))
    check_no_leak(again_card, test, tmp_path / "study")
    with pytest.raises(ConfigError, match="left out other patients"):
        fold_population_model(0, ["802"], embedded_beats, svdb_few, tmp_path / "study", 0, (), False)


@pytest.mark.shared
def test_an_mlii_model_reads_svdb_ecg1_with_a_note(shared_data: Path, tmp_path: Path) -> None:
    from ecgadapt.pipeline.annotate import annotate_record
    from ecgadapt.population.shipped import shipped_model_path

    result = annotate_record(shipped_model_path("beatnet-mitdb-ds1"), shared_data / "svdb" / "820", tmp_path / "out", outputs=ANNOTATE_NO_REPORT).summary
    notes = " ".join(result["notes"])
    assert "lead ECG1 used in place of the model's MLII (its stand-in" in notes
    assert "ECG1 uncalibrated (header gain 0)" in notes and "resampled to the model's 360 Hz" in notes
