"""Active personalization: query strategies (one contract over all of them), rounds of query -> label -> adapt, and
the reviewer's workflow end to end on a real record (review -> the reviewer's CSV -> personalize)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ecgadapt.cli import app
from ecgadapt.data import AAMI_CLASSES
from ecgadapt.errors import ConfigError
from ecgadapt.models.io import load_checkpoint
from ecgadapt.personalize import AdaptContext, get_strategy
from ecgadapt.personalize.base import BeatSet
from ecgadapt.pipeline.recording import load_patient
from ecgadapt.population.shipped import shipped_model_path
from ecgadapt.query import QueryPool, get_query, list_queries
from ecgadapt.query.active import personalize_actively
from ecgadapt.query.checks import check_query_strategy

runner = CliRunner()


@pytest.fixture(scope="module")
def patient_233(embedded: Path):
    model, meta = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))
    return model, load_patient(embedded / "233", meta)


def _pool(patient, labelled: np.ndarray | None = None) -> QueryPool:
    n = len(patient.beats)
    eligible = np.ones(n, dtype=bool)
    eligible[::7] = False  # some beats may not be asked (in the pipeline: signal gaps, poor signal)
    return QueryPool(patient.beats, np.zeros(n, dtype=bool) if labelled is None else labelled, eligible, AAMI_CLASSES)


@pytest.mark.parametrize("name", list_queries())
def test_query_strategy_contract(name: str, patient_233) -> None:
    model, patient = patient_233
    labelled = np.zeros(len(patient.beats), dtype=bool)
    labelled[100:140] = True
    check_query_strategy(name, model, _pool(patient, labelled))


def test_the_contract_catches_a_strategy_that_asks_for_a_labelled_beat(patient_233) -> None:
    from ecgadapt.query import base

    class Careless(base.QueryStrategy):
        name = "careless-test"
        needs_model = False

        def _select(self, model, pool, candidates, k, rng):
            return np.arange(k), ["first"] * k  # the first beats, labelled or not

    base.register_query(Careless)
    try:
        model, patient = patient_233
        labelled = np.zeros(len(patient.beats), dtype=bool)
        labelled[:5] = True
        with pytest.raises(AssertionError, match="labelled already or may not be asked"):
            check_query_strategy("careless-test", model, _pool(patient, labelled))
    finally:
        del base._QUERIES["careless-test"]


def test_what_each_strategy_asks_for_on_233(patient_233) -> None:
    """233: 2,792 beats, a fifth of them V (the reference). The baseline asks for the first beats; uncertainty for
    the beats the model is least sure of; the clusters and the core-set reach both classes with few beats."""
    model, patient = patient_233
    pool = _pool(patient)
    y = patient.beats.y
    first = get_query("first-minutes").select(None, pool, 10)
    assert np.array_equal(first.index, pool.candidates[:10])
    unsure = get_query("uncertainty").select(model, pool, 10)
    p = pool.probabilities(model)
    margins = np.diff(np.sort(p, axis=1)[:, -2:], axis=1)[:, 0]
    assert margins[unsure.index].max() <= np.sort(margins[pool.candidates])[9] + 1e-6
    assert "the model says" in unsure.reasons[0]
    for name in ("cluster", "kcenter"):
        chosen = get_query(name).select(model, pool, 10, seed=0)
        assert {0, 2} <= set(y[chosen.index].tolist()), f"{name}: {y[chosen.index]}"  # N and V beats asked for
    assert "represents a cluster of" in get_query("cluster").select(model, pool, 3).reasons[0]
    with pytest.raises(ConfigError, match="looks at the model's view of the beats: give a model"):
        get_query("uncertainty").select(None, pool, 3)
    with pytest.raises(ConfigError, match="unknown query strategy 'nope'"):
        get_query("nope")


def test_rounds_query_label_adapt_until_the_budget_is_spent(patient_233) -> None:
    model, patient = patient_233
    beats = patient.beats
    hidden = BeatSet(beats.X, beats.rr, np.full(len(beats), -1), beats.time_s)  # the labels only the reviewer knows
    asked: list[np.ndarray] = []

    def reviewer(index: np.ndarray) -> np.ndarray:
        asked.append(index)
        return beats.y[index]

    seen = []
    result = personalize_actively(model, hidden, reviewer, get_strategy("finetune-head", steps=5),
                                  get_query("uncertainty"), budget=25, per_round=10,
                                  context=AdaptContext(AAMI_CLASSES, seed=0), guard=False,
                                  on_round=lambda r, m: seen.append((r.labelled, m)))
    assert [len(a) for a in asked] == [10, 10, 5] and result.labelled.sum() == 25
    assert len(set(np.concatenate(asked).tolist())) == 25  # never the same beat twice
    assert [s[0] for s in seen] == [10, 20, 25] and seen[-1][1] is result.model
    assert result.model is not model and all(r.kept == "personalized" for r in result.rounds)
    guarded = personalize_actively(model, hidden, lambda i: beats.y[i], get_strategy("finetune-head", steps=5),
                                   get_query("cluster"), budget=20, per_round=20,
                                   context=AdaptContext(AAMI_CLASSES, seed=0))
    assert guarded.rounds[0].decision is not None  # the guard judged it (20 beats: too few, population kept)
    assert guarded.rounds[0].kept == "population" and guarded.model is model


def test_review_then_the_reviewers_labels_personalize_exactly_those_beats(embedded: Path, tmp_path: Path) -> None:
    """The product: `review` writes the beats to label; the reviewer fills review.csv's label column (here with
    MIT-BIH's own labels of 233); `personalize --labels review.csv` adapts on exactly those beats; a second review
    with the personalized model keeps the first round's labels and asks for new beats."""
    import wfdb

    result = runner.invoke(app, ["review", "--record", str(embedded / "233"), "--out", str(tmp_path / "r1"),
                                 "--model", "beatnet-mitdb-ds1", "--budget", "12", "--strategy", "cluster"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "12 beats to label" in text and "then: ecgadapt personalize --record" in text
    review = pd.read_csv(tmp_path / "r1" / "review.csv", keep_default_na=False)
    assert list(review.columns) == ["sample", "time_s", "predicted", "confidence", "reason", "label"]
    assert len(review) == 12 and (review.label == "").all() and review["sample"].is_monotonic_increasing
    html = (tmp_path / "r1" / "review.html").read_text()
    assert html.count("data:image/png;base64") == 12 and "Why: represents a cluster of" in html
    ann = wfdb.rdann(str(embedded / "233"), "atr")
    symbol = dict(zip(ann.sample.tolist(), ann.symbol))
    review["label"] = [symbol[s] for s in review["sample"]]  # the reviewer
    review.to_csv(tmp_path / "r1" / "review.csv", index=False)

    result = runner.invoke(app, ["personalize", "--record", str(embedded / "233"), "--labels",
                                 str(tmp_path / "r1" / "review.csv"), "--model", "beatnet-mitdb-ds1",
                                 "--method", "finetune-head", "--param", "steps=5", "--no-guard",
                                 "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["labelled_beats"] == 12 and summary["labelled_minutes"] == 0.0
    assert summary["labelled_window"] == "beats labelled in review.csv" and summary["beats"] > 2700
    assert any(n.startswith("12 beats labelled in review.csv, from ") and "in each fifth of the recording" in n
               for n in summary["notes"])
    assert "12 beats labelled in review.csv" in (tmp_path / "p" / "report.html").read_text()
    beats = pd.read_csv(tmp_path / "p" / "beats.csv", keep_default_na=False)
    labelled = beats[beats.part == "labelled"]
    assert len(labelled) == 12 and np.all(np.abs(np.sort(labelled["sample"].to_numpy()) -
                                                 np.sort(review["sample"].to_numpy())) <= 54)

    result = runner.invoke(app, ["review", "--record", str(embedded / "233"), "--out", str(tmp_path / "r2"),
                                 "--model", str(tmp_path / "p" / "personalized.pt"), "--budget", "5",
                                 "--labels", str(tmp_path / "r1" / "review.csv")])
    assert result.exit_code == 0, result.output
    second = pd.read_csv(tmp_path / "r2" / "review.csv", keep_default_na=False)
    assert len(second) == 17 and (second.label != "").sum() == 12  # the first round's labels kept
    assert not set(second[second.label == ""]["sample"]) & set(review["sample"])  # none asked again


def test_a_review_is_refused_clearly(embedded: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["review", "--record", str(embedded / "233"), "--out", str(tmp_path / "r"),
                                 "--strategy", "nope"])
    assert result.exit_code == 2 and "unknown query strategy 'nope'; known: cluster" in result.output
    (tmp_path / "other.csv").write_text("sample,label\n5,N\n9,V\n")  # labels far from any beat of 233
    result = runner.invoke(app, ["personalize", "--record", str(embedded / "233"), "--labels",
                                 str(tmp_path / "other.csv"), "--out", str(tmp_path / "p")])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "other.csv: none of its 2 labelled beats lies within 150 ms of a beat" in text
    (tmp_path / "empty.csv").write_text("sample,label\n100,\n")
    result = runner.invoke(app, ["personalize", "--record", str(embedded / "233"), "--labels",
                                 str(tmp_path / "empty.csv"), "--out", str(tmp_path / "p")])
    assert result.exit_code == 2 and "no beat labels in it" in " ".join(result.output.split())
    assert not (tmp_path / "p").exists() and not (tmp_path / "r").exists()


@pytest.mark.shared
def test_the_label_budget_study_on_a_ds2_patient(shared_data: Path, tmp_path: Path) -> None:
    """The simulation study end to end on one DS2 patient: every query's rows at every budget, scored on the beats
    not asked for, beside the population model on the same beats; the summary and its figure."""
    from ecgadapt.studies.active import run_active_study

    table = run_active_study(shared_data / "mitdb", tmp_path / "s", queries=("first-minutes", "cluster"),
                             budgets=(10, 20), patients=("233",), progress=False, method="finetune-head:steps=5")
    assert sorted(zip(table["query"], table.budget)) == [("cluster", 10), ("cluster", 20), ("first-minutes", 10),
                                                         ("first-minutes", 20)]
    assert (table.kept == "personalized").all() and table.population_veb_f1.between(0.5, 1).all()
    gross = json.loads((tmp_path / "s" / "gross.json").read_text())
    assert gross["patients"] == ["233"] and len(gross["gross"]) == 4
    assert "| cluster | 20 |" in (tmp_path / "s" / "summary.md").read_text()
    assert (tmp_path / "s" / "figures" / "budget.png").stat().st_size > 5000
    with pytest.raises(ConfigError, match=r"patients \['201'\]: not test patients"):
        run_active_study(shared_data / "mitdb", tmp_path / "x", patients=("201",), progress=False)
