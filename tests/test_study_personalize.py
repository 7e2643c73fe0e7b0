"""The personalization study on real MIT-BIH records: tuning only on validation patients, per-patient rows for
the population model, each method with and without the guard, gross metrics with patient-bootstrap intervals."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ecgadapt.personalize import list_strategies
from ecgadapt.population.training import DS1_VALIDATION
from ecgadapt.personalize.base import strategy_class
from ecgadapt.studies.personalize import DEFAULT_METHODS, run_personalize_study


def test_default_methods_are_every_strategy_for_any_model() -> None:
    # diffecg-t personalizes diffecg models only (`--model` of that kind); every other strategy runs by default
    assert sorted(DEFAULT_METHODS) == sorted(set(list_strategies()) - {"diffecg-t"})
    # in the order of the recorded studies' tables
    assert DEFAULT_METHODS == ("none", "finetune", "finetune-last", "finetune-head", "l2sp", "l2sp-synth",
                               "finetune-replay", "dann", "mmd", "coral", "pseudolabel", "maml", "protonet")
    tuned = {m for m in DEFAULT_METHODS if strategy_class(m).search_grid}
    assert tuned == set(DEFAULT_METHODS) - {"none"}  # each one's hyperparameters are chosen on validation


def test_no_labelled_minutes_is_refused_before_any_work(tmp_path: Path) -> None:
    from ecgadapt.errors import ConfigError

    for minutes in (0, -1):
        with pytest.raises(ConfigError, match=f"labelled minutes = {minutes}: the study adapts on each patient's first"):
            run_personalize_study(tmp_path / "no-such-folder", tmp_path / "out", labelled_minutes=minutes,
                                  progress=False)
    assert not (tmp_path / "out").exists()
    (tmp_path / "out").write_text("")  # a file where the study's folder would go: refused before the data is read
    with pytest.raises(ConfigError, match="out: cannot be an output folder: a file of that name exists"):
        run_personalize_study(tmp_path / "no-such-folder", tmp_path / "out", progress=False)


def test_a_partial_mitdb_folder_is_refused_not_silently_used(embedded: Path, tmp_path: Path) -> None:
    # the embedded folder holds 4 DS2 records: the DS2 protocol would lose its whole population and 18 test patients
    from ecgadapt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"mitdb: 40 record\(s\) of mitdb-ds2-personalized are not there \(100, 101, "):
        run_personalize_study(embedded, tmp_path / "out", methods=("none",), progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.shared
@pytest.mark.slow
def test_study_on_two_ds2_patients(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    table = run_personalize_study(shared_data / "mitdb", out, methods=("none", "finetune-head"),
                                  patients=("232", "233"), progress=False)
    assert len(table) == 2 * 2 * 5  # patients x methods x {unguarded, guarded, guarded-heldout, gated, deferred}
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
                                                            for v in ("guarded", "unguarded", "guarded-heldout", "gated",
                                                                      "deferred")}
    # the full guard keeps a personalization only where the held-out check alone would have kept it
    full, heldout = (table[table.variant == v].set_index(["patient", "method"]).kept for v in ("guarded", "guarded-heldout"))
    assert not ((full == "personalized") & (heldout == "population")).any()
    assert table[table.variant == "unguarded"].rest_changed.isna().all()
    # gated: where no kind of change was vouched for (always for 'none'), the population model's predictions
    gated = table[table.variant == "gated"]
    assert set(gated.kept) <= {"gated", "population"} and (gated.kept == "gated").any()
    assert (gated[gated.method == "none"].kept == "population").all()
    fallback = gated[gated.kept == "population"]
    assert (fallback.errors == fallback.population_errors).all()
    # deferred: the population model's own probabilities combined with themselves are the population model's; where
    # the deferral changed no prediction, the errors are the method's own
    deferred = table[table.variant == "deferred"].set_index(["patient", "method"])
    unguarded = table[table.variant == "unguarded"].set_index(["patient", "method"])
    assert (deferred.loc[(slice(None), "none"), "errors"] == deferred.loc[(slice(None), "none"), "population_errors"]).all()
    assert (deferred.loc[(slice(None), "none"), "kept"] == "personalized").all()
    same = deferred.kept == "personalized"
    assert (deferred.errors[same] == unguarded.errors[same]).all()
    for g in gross:
        lo, hi = g["veb_f1_ci"]
        assert lo <= g["veb_f1"] + 1e-9 and g["veb_f1"] <= hi + 1e-9
    rows = pd.read_csv(out / "per_patient.csv")
    assert rows.shape[0] == 20
    # the labelled minutes' class counts: 232's first 5 min are mostly S beats (215 of ~295 annotated)
    r232 = rows[rows.patient == 232].iloc[0]
    assert r232.labelled_S > 200 and r232[["labelled_N", "labelled_S", "labelled_V", "labelled_F"]].sum() <= r232.labelled_beats
    assert r232.test_S > 1100 and r232[["test_N", "test_S", "test_V", "test_F"]].sum() == r232.test_beats
    assert (out / "summary.html").read_text().count("data:image/png;base64") == 4
    summary = (out / "summary.md").read_text()
    assert "| patient | S / V labelled | S / V test |" in summary
    assert f"| 232 | {r232.labelled_S} / {r232.labelled_V} | {r232.test_S} / {r232.test_V} |" in summary
    # a second run in the same folder reuses the methods already tuned (and says which parameters it used)
    tuning["chosen"]["finetune-head"] = {"lr": 0.003, "steps": 30}
    (out / "tuning.json").write_text(json.dumps(tuning))
    run_personalize_study(shared_data / "mitdb", out, methods=("finetune-head",), patients=("233",), progress=False,
                          guard=False)
    assert "finetune-head: {'lr': 0.003, 'steps': 30}" in (out / "summary.md").read_text()


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
    # a model trained with lead dropout reads 123 with a flat V1 instead
    fallback = save_checkpoint(model, tmp_path / "fallback.pt", prep={**prep, "missing_leads": "zero"}, fs=360.0,
                               val_records=list(DS1_VALIDATION), train_records=["101", "106", "119", "207", "223"])
    table = run_personalize_study(shared_data / "mitdb", tmp_path / "out3", methods=("none",), patients=("123",),
                                  progress=False, model_path=fallback, guard=False)
    assert set(table.patient) == {"123"} and table.test_beats.iloc[0] > 1000
    # with the MLII model as the guard's reference, the per-patient baseline is that model's (read from MLII)
    mlii = run_personalize_study(shared_data / "mitdb", tmp_path / "out5", methods=("none",), patients=("233",),
                                 progress=False, guard=False)
    ref = run_personalize_study(shared_data / "mitdb", tmp_path / "out6", methods=("none",), patients=("233",),
                                progress=False, model_path=fallback, guard=False, reference_path="beatnet-mitdb-ds1")
    assert ref.population_errors.iloc[0] == mlii.population_errors.iloc[0] == mlii.errors.iloc[0]
    # the study trains its own model only for the patient-specific protocol; DS2 uses the shipped one
    only_own = "leads/lead dropout/RR features/extra beats/pre-training apply only to a population model the study"
    with pytest.raises(ConfigError, match=only_own):
        run_personalize_study(shared_data / "mitdb", tmp_path / "out4", methods=("none",), patients=("233",),
                              progress=False, leads=("MLII", "V1"), lead_dropout=0.5)
    with pytest.raises(ConfigError, match=only_own):
        run_personalize_study(shared_data / "mitdb", tmp_path / "out4", methods=("none",), patients=("233",),
                              progress=False, rr_features=5)
    with pytest.raises(ConfigError, match=only_own):
        run_personalize_study(shared_data / "mitdb", tmp_path / "out4", methods=("none",), patients=("233",),
                              progress=False, extra_beats=f"cpsc2021:{shared_data / 'samples' / 'cpsc2021_samples'}")
    with pytest.raises(ConfigError, match=only_own):
        run_personalize_study(shared_data / "mitdb", tmp_path / "out4", methods=("none",), patients=("233",),
                              progress=False, pretrain=f"cinc2017:{shared_data / 'challenge2017'}")
    with pytest.raises(ConfigError, match="rr_features=3: a population model reads 4 RR features"):
        run_personalize_study(shared_data / "mitdb", tmp_path / "out4", protocol="mitdb-patient-specific",
                              methods=("none",), progress=False, rr_features=3)


def _fake_prepared(per_record: dict[str, dict[str, int]]):
    """The three attributes the validation choice reads, for records with the given AAMI class counts."""
    from types import SimpleNamespace

    import numpy as np

    from ecgadapt.data import AAMI_CLASSES

    names = list(per_record)
    y = [AAMI_CLASSES.index(c) for r in names for c, n in per_record[r].items() for _ in range(n)]
    rec = [i for i, r in enumerate(names) for c, n in per_record[r].items() for _ in range(n)]
    return SimpleNamespace(y=np.array(y), record=np.array(rec), record_names=names)


def test_validation_patients_hold_a_share_of_every_rare_class() -> None:
    from ecgadapt.population.training import stratified_validation_records

    # S beats live in two of eight records, V beats in two others: a random pair would often have neither
    counts = {f"r{i}": {"N": 1000} for i in range(8)}
    counts["r1"]["S"], counts["r2"]["S"], counts["r3"]["V"], counts["r4"]["V"] = 60, 40, 500, 300
    prepared = _fake_prepared(counts)
    for seed in range(5):
        val = stratified_validation_records(prepared, tuple(counts), 2, seed)
        assert len(val) == 2 and len({"r1", "r2"} & set(val)) == 1 and len({"r3", "r4"} & set(val)) == 1
    from ecgadapt.errors import ConfigError

    with pytest.raises(ConfigError, match="leaves none to train on"):
        stratified_validation_records(prepared, ("r1", "r2"), 2, 0)


@pytest.mark.shared
def test_patient_specific_validation_patients_hold_s_and_v_beats(shared_data: Path) -> None:
    import numpy as np

    from ecgadapt.data import AAMI_CLASSES
    from ecgadapt.population.training import prepare_mitdb_beats, rows_of, stratified_validation_records
    from ecgadapt.protocols import PS_POOL

    prepared = prepare_mitdb_beats(shared_data / "mitdb", progress=False)
    val = stratified_validation_records(prepared, PS_POOL, 4, 0)
    assert set(val) < set(PS_POOL)
    y_val, y_all = (np.asarray(prepared.y[rows_of(prepared, r)]) for r in (val, PS_POOL))
    for c in ("S", "V"):
        share = (y_val == AAMI_CLASSES.index(c)).sum() / (y_all == AAMI_CLASSES.index(c)).sum()
        assert 0.15 <= share <= 0.5, (c, share)


@pytest.mark.shared
def test_a_resumed_study_keeps_its_population_model_and_its_validation_patients(shared_data: Path,
                                                                                  tmp_path: Path) -> None:
    from ecgadapt.data import get_adapter
    from ecgadapt.models import create_model
    from ecgadapt.models.io import save_checkpoint
    from ecgadapt.population.training import prepare_mitdb_beats
    from ecgadapt.protocols import build_protocol
    from ecgadapt.studies.personalize import population_model_for

    prepared = prepare_mitdb_beats(shared_data / "mitdb", progress=False)
    refs = [r for r in get_adapter("mitdb").records(shared_data / "mitdb") if r.name in set(prepared.record_names)]
    proto = build_protocol("mitdb-patient-specific", "mitdb", refs)
    # a model trained by an earlier run of the study, whose validation patients differ from today's draw
    save_checkpoint(create_model("beatnet", in_leads=1, num_classes=5), tmp_path / "population.pt",
                    val_records=["101", "122"])
    _, _, path, val = population_model_for(proto, prepared, tmp_path, seed=0, progress=False)
    assert path == tmp_path / "population.pt" and val == ("101", "122")
    # but not a model that reads other RR features, or was trained with other extra beats or pre-training data,
    # than this run asks for
    from ecgadapt.errors import ConfigError

    with pytest.raises(ConfigError, match="population.pt: this folder's population model reads 4 RR features, not 5"):
        population_model_for(proto, prepared, tmp_path, seed=0, progress=False, rr_features=5)
    with pytest.raises(ConfigError, match="trained with extra beats none, not cpsc2021:data/cpsc2021: use another"):
        population_model_for(proto, prepared, tmp_path, seed=0, progress=False, extra_beats="cpsc2021:data/cpsc2021")
    with pytest.raises(ConfigError, match="trained with pre-training data none, not cinc2017:data/cinc2017: use"):
        population_model_for(proto, prepared, tmp_path, seed=0, progress=False, pretrain="cinc2017:data/cinc2017")


def test_the_card_of_a_study_trained_model_gives_the_options_that_shaped_it() -> None:
    from ecgadapt.studies.personalize import population_command

    assert (population_command("mitdb-patient-specific", 2, ("MLII",), 0.0, 4, None, None)
            == "ecgadapt study personalize --protocol mitdb-patient-specific --seed 2")
    assert (population_command("mitdb-patient-specific", 0, ("MLII", "V1"), 0.5, 5, "cpsc2021:a", "cinc2017:b")
            == "ecgadapt study personalize --protocol mitdb-patient-specific --seed 0 --leads MLII,V1 "
               "--lead-dropout 0.5 --rr-features 5 --extra-beats cpsc2021:a --pretrain cinc2017:b")
