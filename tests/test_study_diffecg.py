"""The DiffECG study: modality inputs (with the Lorenz fallback), the frozen-extractor + fusion head, the patient-wise
20 %/80 % split, method specs with fixed parameters, config errors, and the CI smoke config end to end on real
CinC 2017 and MIT-BIH records."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ecgadapt.diffecg.multimodal import (FrozenExtractor, HeadConfig, beat_context_peaks, extract_maps, modal_inputs,
                                         predict_fusion, train_fusion_head, window_peaks)
from ecgadapt.models.unet1d import UNetEncoder
from ecgadapt.errors import ConfigError
from ecgadapt.personalize.base import parse_method
from ecgadapt.studies.diffecg import (load_config, load_items, run_study, shipped_configs, subject_split,
                                      variants_of)
from ecgadapt.studies.diffecg_modal_t import natural_key


def test_modal_inputs_on_a_real_record_and_the_lorenz_fallback(embedded: Path) -> None:
    import wfdb
    from scipy.signal import resample_poly

    rec = wfdb.rdrecord(str(embedded / "233"), sampfrom=0, sampto=360 * 20)
    x = resample_poly(rec.p_signal[:, 0], 5, 18)  # 100 Hz
    X = np.stack([x[:1000], np.zeros(1000)])[:, None].astype(np.float32)  # a real 10-s window and a flat one
    peaks = window_peaks(X, 100.0)
    assert len(peaks[0]) >= 10 and len(peaks[1]) < 4  # 233 beats ~100/min; a flat line has no beats
    inputs = modal_inputs(X, 100.0, peaks, 100.0)
    assert inputs.arrays["raw"].shape == (2, 1, 1000)
    assert inputs.arrays["spectrogram"].shape[:2] == (2, 17)  # Hann STFT, 32-sample segments: 17 bins as channels
    assert inputs.arrays["lorenz"].shape == (2, 32, 32)
    # the flat window has no Lorenz plot: it says so (present False) and its image is zero, so fusion masks it
    assert inputs.present.tolist() == [[True, True, True], [True, True, False]]
    assert inputs.arrays["lorenz"][1].sum() == 0 and inputs.arrays["lorenz"][0].sum() > 0
    with pytest.raises(ConfigError, match="unknown modalities"):
        modal_inputs(X, 100.0, peaks, 100.0, ("raw", "wavelet"))


def test_beat_context_stays_inside_the_record() -> None:
    time_s = np.array([1.0, 2.0, 3.0, 0.5, 1.5, 4.0])
    record = np.array([0, 0, 0, 1, 1, 0])
    ctx = beat_context_peaks(time_s, record, context=1)
    assert ctx[0].tolist() == [1.0, 2.0] and ctx[1].tolist() == [1.0, 2.0, 3.0] and ctx[5].tolist() == [3.0, 4.0]
    assert ctx[3].tolist() == [0.5, 1.5]  # record 1's beats never see record 0's


def test_fusion_head_learns_from_frozen_maps_and_selects_on_validation() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    raw = torch.randn(400, 8, 6) + torch.from_numpy(y)[:, None, None].float()  # class shifts the raw maps
    other = torch.randn(400, 4, 3)  # an uninformative second modality
    present = np.ones((400, 2), dtype=bool)
    present[::3, 1] = False
    tr, va, te = np.arange(0, 200), np.arange(200, 300), np.arange(300, 400)
    pick = lambda i: [raw[i], other[i]]  # noqa: E731
    head, history = train_fusion_head(pick(tr), present[tr], y[tr], pick(va), present[va], y[va], 2,
                                      HeadConfig(epochs=15, lr=3e-3, patience=15))
    assert len(history) == 15
    assert (predict_fusion(head, pick(te), present[te]).argmax(1) == y[te]).mean() > 0.95
    best = max(h["val_f1_macro"] for h in history)
    val_pred = predict_fusion(head, pick(va), present[va]).argmax(1)
    from sklearn.metrics import f1_score
    assert f1_score(y[va], val_pred, average="macro") == pytest.approx(best)  # the kept epoch is the best one
    with pytest.raises(ConfigError, match="labelled training and validation"):
        train_fusion_head(pick(tr), present[tr], y[tr], pick(va[:0]), present[va[:0]], y[va[:0]], 2)


def test_fusion_head_multi_label() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (300, 3))
    y[:, 2] = 0  # a label never present
    shift = np.array([[2.0] * 3 + [0.0] * 3, [0.0] * 3 + [2.0] * 3])  # label 0 shifts channels 0-2, label 1 3-5
    maps = [torch.randn(300, 6, 4) + torch.from_numpy(y[:, :2] @ shift).float()[:, :, None]]
    present = np.ones((300, 1), dtype=bool)
    tr, va, te = np.arange(150), np.arange(150, 220), np.arange(220, 300)
    head, _ = train_fusion_head([maps[0][tr]], present[tr], y[tr], [maps[0][va]], present[va], y[va], 3,
                                HeadConfig(epochs=20, lr=3e-3, patience=20))
    probs = predict_fusion(head, [maps[0][te]], present[te])
    assert probs.shape == (80, 3) and head.multilabel and not np.allclose(probs.sum(1), 1)  # sigmoid per label
    assert ((probs > 0.5) == y[te]).mean() > 0.9


def test_frozen_extractor_is_deterministic_and_t_matters() -> None:
    torch.manual_seed(0)
    enc = UNetEncoder(1, 8, (1, 2))
    x = np.random.default_rng(0).standard_normal((5, 1, 64)).astype(np.float32)
    a, b = extract_maps(FrozenExtractor(enc, 30), x), extract_maps(FrozenExtractor(enc, 30), x)
    assert torch.equal(a, b) and a.shape == (5, 16, 16)
    assert not torch.allclose(a, extract_maps(FrozenExtractor(enc, 300), x))
    assert not any(p.requires_grad for p in FrozenExtractor(enc, 30).parameters())


def test_subject_split_is_patient_wise() -> None:
    subject = np.repeat(np.arange(20), 7)
    split = subject_split(subject, 0.2, seed=0)
    sets = {k: set(subject[v]) for k, v in split.items()}
    assert len(sets["train"]) + len(sets["val"]) == 4 and len(sets["test"]) == 16 and len(sets["val"]) == 1
    assert not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"]) and not (sets["train"] & sets["val"])
    assert sum(len(v) for v in split.values()) == len(subject)
    with pytest.raises(ConfigError, match="too few"):
        subject_split(np.arange(2), 0.9, 0)


def test_subjects_records_in_natural_order() -> None:
    assert sorted(["data_35_10", "data_35_4", "data_35_6", "data_8_2"], key=natural_key) == \
        ["data_8_2", "data_35_4", "data_35_6", "data_35_10"]
    assert sorted(["10", "9", "100"], key=natural_key) == ["9", "10", "100"]


def test_method_specs_fix_parameters() -> None:
    assert parse_method("finetune") == ("finetune", {})
    assert parse_method("diffecg-t:fixed_t=20") == ("diffecg-t", {"fixed_t": 20})
    assert parse_method("diffecg-t:objective=dacc:iterations=2") == ("diffecg-t", {"objective": "dacc", "iterations": 2})
    with pytest.raises(ConfigError, match="unknown parameter"):
        parse_method("diffecg-t:fixd_t=20")
    with pytest.raises(ConfigError, match="key=value"):
        parse_method("diffecg-t:20")
    with pytest.raises(ConfigError, match="unknown personalization method"):
        parse_method("difecg-t")


def test_configs_load_and_bad_ones_are_named(tmp_path: Path) -> None:
    assert {"smoke", "here", "full"} <= set(shipped_configs())
    full = load_config("full")
    assert {g.target.name for g in full.generalization} >= {"chapman", "georgia"}
    assert full.modal_personalization[0].fixed_t == (20, 30, 40, 50, 60, 70)
    here = load_config("here")
    assert [v for v, _ in variants_of(here)] == ["diffecg-multimodal", "diffecg-raw", "diffecg-spectrogram",
                                                "diffecg-lorenz", "simclr", "moco", "clocs"]
    assert {f"diffecg-t:fixed_t={t}" for t in (20, 30, 40, 50, 60, 70)} <= set(here.personalization.methods)
    for m in here.personalization.methods:
        parse_method(m)
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nmodalities = ["raw", "ppg"]\n')
    with pytest.raises(ConfigError, match="modalities must be"):
        load_config(bad)
    # the recorded `here` run drew its Lorenz plots with neurokit2's detector as it ships (signal.peaks)
    assert (here.lorenz_detector, full.lorenz_detector) == ("neurokit-upright", "neurokit")
    bad.write_text('name = "x"\nlorenz_detector = "eyeball"\n')
    with pytest.raises(ConfigError, match="bad.toml: lorenz_detector must be one of neurokit, neurokit-upright"):
        load_config(bad)
    bad.write_text('name = "x"\nbaselines = ["byol"]\n')
    with pytest.raises(ConfigError, match="unknown baseline"):
        load_config(bad)
    bad.write_text('name = "x"\n[[modal_personalization]]\nexperiment = "e"\nsubjects = "some"\n')
    with pytest.raises(ConfigError, match="subjects must be 'test' or 'all'"):
        load_config(bad)
    bad.write_text('name = "x"\n[modal_personalization]\nexperiment = "elsewhere"\n')
    with pytest.raises(ConfigError, match="not a generalization experiment"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no diffecg config 'nope'"):
        load_config("nope")


def test_full_config_ltafdb_target_reads_a_holter_folder(ltafdb_root: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The paper's LTAF setting, for users who have LTAF: its target spec, pointed at a fixture folder in LTAF's layout."""
    monkeypatch.setenv("ECGADAPT_CACHE", str(tmp_path / "cache"))
    full = load_config("full")
    spec = next(g.target for g in full.generalization if g.target.dataset == "ltafdb")
    assert spec.leads == ("#0",) and spec.window_stride_s == 60.0
    assert any(m.experiment == "cinc2017-to-ltafdb" for m in full.modal_personalization)
    items = load_items(replace(spec, root=str(ltafdb_root)), tmp_path, full.modalities, tmp_path / "inputs",
                       progress=False)
    # 2 records x 6 min, one 10-s window a minute: windows start at 0, 60, ..., 300 s, 6 per record
    assert items.inputs.arrays["raw"].shape[1:] == (1, 1000) and len(items.y) == 12
    assert items.label_names[:2] == ("N", "AF") and set(items.subject_names(np.unique(items.subject))) == {"00", "01"}
    first = items.subject == items.subject[0]
    assert items.y[first].tolist() == [0, 0, 1, 1, 0, 0] and items.inputs.present.all()


def test_smoke_study_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    result = run_study(load_config("smoke"), shared_data, out, progress=False, log=lambda *_: None)
    rows = {r["variant"]: r for r in result["generalization"] if r["experiment"] == "cinc2017-to-mitdb"}
    assert set(rows) == {"diffecg-multimodal", "diffecg-raw", "diffecg-spectrogram", "diffecg-lorenz", "simclr",
                         "moco", "clocs", "resnet1d18"}
    split = json.loads((out / "generalization" / "cinc2017-to-mitdb" / "split.json").read_text())
    assert not (set(split["train"]) | set(split["val"])) & set(split["test"])  # no subject in both parts
    for r in rows.values():
        assert 0 <= r["f1_macro"] <= 1 and set(r["per_subject"]) == set(split["test"]) and r["n_test"] == 3000
    # only the head (and fusion) is trained for the frozen extractors; the supervised model trains everything
    assert rows["diffecg-raw"]["trained_parameters"] < rows["diffecg-multimodal"]["trained_parameters"] \
        < rows["resnet1d18"]["trained_parameters"]
    # multi-modal personalization: t per subject and per modality, against one fixed t, on unseen test subjects
    modal = [r for r in result["modal_personalization"] if r["experiment"] == "cinc2017-to-mitdb"]
    assert [r["variant"] for r in modal] == ["fixed-t30", "bo-per-modality"] * 2
    assert {r["subject"] for r in modal} <= set(split["test"])
    for r in modal:
        assert set(r["t"]) == {"raw", "spectrogram", "lorenz"} and 0 <= r["f1_macro"] <= 1
        assert r["n_personalize"] == max(1, round(0.1 * (r["n_personalize"] + r["n_test"])))
        if r["variant"] == "fixed-t30":
            assert set(r["t"].values()) == {30} and r["search_seconds"] == 0
        else:
            assert all(1 <= t <= 100 for t in r["t"].values()) and len(r["searched"]["raw"]) == 3
    # rhythm: CPSC 2021 windows (N vs AF), every subject may personalize ("all"); subject 8 comes first, naturally
    rhythm = {r["variant"]: r for r in result["modal_personalization"] if r["experiment"] == "cinc2017-to-cpsc2021"}
    assert set(rhythm) == {"fixed-t30", "bo-per-modality"} and {r["subject"] for r in rhythm.values()} == {"8"}
    assert rhythm["fixed-t30"]["n_personalize"] + rhythm["fixed-t30"]["n_test"] == 51  # 3 records, 524 s, 10-s windows
    assert rhythm["fixed-t30"]["personalize_records"] == ["data_8_2"]  # the first 10 % in time: the first record
    assert rhythm["fixed-t30"]["classes_test"] == 1  # persistent AF: one class only, as the report says apart
    cpsc = {r["variant"]: r for r in result["generalization"] if r["experiment"] == "cinc2017-to-cpsc2021"}
    assert set(cpsc) == set(rows) and all(0 <= r["f1_macro"] <= 1 for r in cpsc.values())
    assert "cinc2017-to-cpsc2021" in (out / "summary.md").read_text()
    table = pd.read_csv(out / "personalization" / "per_patient.csv")
    assert set(table.variant) == {"unguarded", "deferred"} and set(table.patient.astype(str)) == {"233"}
    by = table[table.variant == "unguarded"].set_index("method")
    assert by.loc["diffecg-t:fixed_t=20", "chosen_t"] == 20 and by.loc["none", "trained_parameters"] == 0
    assert 0 < by.loc["diffecg-t:fixed_t=20", "trained_parameters"] < by.loc["finetune:steps=2", "trained_parameters"]
    card = json.loads((out / "personalization" / "diffecg-ds1.json").read_text())
    assert not set(card["train_records"]) & set(table.patient.astype(str))  # the test patient was never trained on
    assert "## Generalization" in (out / "summary.md").read_text() and (out / "summary.html").is_file()
    # resumable: a second run reuses every finished part
    done = [out / "generalization" / "cinc2017-to-mitdb" / "moco.json", out / "personalization" / "per_patient.csv"]
    mtimes = [p.stat().st_mtime for p in done]
    again = run_study(load_config("smoke"), shared_data, out, progress=False, log=lambda *_: None)
    assert [p.stat().st_mtime for p in done] == mtimes
    assert len(again["personalization"]) == len(table)


def test_modal_report_states_the_ratio_and_does_not_guess_missing_class_counts(tmp_path: Path) -> None:
    from ecgadapt.report.diffecg_study import modal_lines

    row = {"variant": "fixed-t30", "t": {"raw": 30}, "f1_macro": 0.5, "accuracy": 0.9, "seconds": 1.0}
    old = modal_lines([{**row, "subject": "a"}, {**row, "subject": "b"}], "exp", tmp_path, ratio=0.2)
    text = "\n".join(old)
    assert "the first 20 % of each subject's items" in text and "– (not recorded)" in text
    new = modal_lines([{**row, "classes_test": 2}, {**row, "classes_test": 1, "f1_macro": 1.0}], "exp", tmp_path, 0.1)
    assert "| fixed-t30 | 2 | 0.750 | 0.750 | 0.500 (1) |" in "\n".join(new)
