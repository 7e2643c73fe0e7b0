"""The personalization study on real MIT-BIH records: tuning only on validation patients, per-patient rows for
the population model, each method with and without the guard, gross metrics with patient-bootstrap intervals."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ecgadapt.personalize import list_strategies
from ecgadapt.personalize.population import DS1_VALIDATION
from ecgadapt.studies.personalize import DEFAULT_METHODS, GRIDS, run_personalize_study


def test_default_methods_are_every_strategy_for_any_model() -> None:
    # diffecg-t personalizes diffecg models only (`--model` of that kind); every other strategy runs by default
    assert sorted(DEFAULT_METHODS) == sorted(set(list_strategies()) - {"diffecg-t"})
    assert set(GRIDS) == set(DEFAULT_METHODS) - {"none"}  # each one's hyperparameters are chosen on validation


@pytest.mark.shared
@pytest.mark.slow
def test_study_on_two_ds2_patients(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    table = run_personalize_study(shared_data / "mitdb", out, methods=("none", "finetune-head"),
                                  patients=("232", "233"), progress=False)
    assert len(table) == 2 * 2 * 2  # patients x methods x {guarded, unguarded}
    assert set(table.patient) == {"232", "233"}
    none = table[table.method == "none"]
    assert (none.gain_macro_f1 == 0).all() and (~none.worse).all()
    guarded = table[table.variant == "guarded"]
    kept_population = guarded[guarded.kept == "population"]
    assert (kept_population.errors == kept_population.population_errors).all()  # the guard returned the population model
    tuning = json.loads((out / "tuning.json").read_text())
    assert tuning["validation_patients"] == list(DS1_VALIDATION)
    assert not set(tuning["validation_patients"]) & {"232", "233"}
    assert len(tuning["trials"]["finetune-head"]) == 4
    gross = json.loads((out / "gross.json").read_text())
    assert {(g["method"], g["variant"]) for g in gross} == {(m, v) for m in ("none", "finetune-head")
                                                            for v in ("guarded", "unguarded")}
    for g in gross:
        lo, hi = g["veb_f1_ci"]
        assert lo <= g["veb_f1"] + 1e-9 and g["veb_f1"] <= hi + 1e-9
    assert pd.read_csv(out / "per_patient.csv").shape[0] == 8
    assert (out / "summary.html").read_text().count("data:image/png;base64") == 4


@pytest.mark.shared
def test_own_model_must_name_validation_patients_outside_the_test(shared_data: Path, tmp_path: Path) -> None:
    from ecgadapt.errors import ConfigError
    from ecgadapt.models import create_model
    from ecgadapt.models.io import save_checkpoint

    model = create_model("beatnet", in_leads=1, num_classes=5)
    for name, meta in (("no-card.pt", {}), ("test-as-val.pt", {"val_records": ["233"]})):
        path = save_checkpoint(model, tmp_path / name, **meta)
        with pytest.raises(ConfigError, match=f"{name}: its card must name validation records outside the test"):
            run_personalize_study(shared_data / "mitdb", tmp_path / "out", methods=("none",), patients=("233",),
                                  progress=False, model_path=path)


@pytest.mark.shared
@pytest.mark.slow
def test_a_two_lead_population_model_reads_its_leads_and_skips_records_without_them(shared_data: Path,
                                                                                    tmp_path: Path) -> None:
    from ecgadapt.models import create_model
    from ecgadapt.models.io import save_checkpoint
    from ecgadapt.prepare import default_settings

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = create_model("beatnet", in_leads=2, num_classes=5)
    prep = {**default_settings("mitdb", "beats").to_dict(), "leads": ["MLII", "V1"]}
    path = save_checkpoint(model, tmp_path / "two-lead.pt", prep=prep, fs=360.0, val_records=list(DS1_VALIDATION),
                           train_records=["101", "106", "119", "207", "223"])
    said: list[str] = []
    table = run_personalize_study(shared_data / "mitdb", tmp_path / "out", methods=("none",), patients=("233",),
                                  progress=False, model_path=path, guard=False, log=said.append)
    assert set(table.patient) == {"233"} and table.test_beats.iloc[0] > 1500
    skipped = next(line for line in said if line.startswith("records skipped"))
    # no V1 in 100 (V5), 103 and 117 (V2), 114 (V5), 124 (V4); no MLII in the paced records
    assert all(r in skipped for r in ("100", "103", "114", "117", "124", "102", "104")) and "233" not in skipped
    assert "Leads MLII + V1" in (tmp_path / "out" / "summary.md").read_text()
    from ecgadapt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"patients \['123'\]: record\(s\) without the population model's leads"):
        run_personalize_study(shared_data / "mitdb", tmp_path / "out2", methods=("none",), patients=("123",),
                              progress=False, model_path=path, guard=False)
