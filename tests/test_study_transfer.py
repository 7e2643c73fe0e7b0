"""The transfer study: config loading, size sweep sampling, paired gains and claims, bootstrap intervals,
and the CI smoke config end to end on real CinC 2017 and PTB-XL records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgadapt.errors import ConfigError
from ecgadapt.metrics import bootstrap_ci, metric_ci
from ecgadapt.studies.transfer import (claims, gains, load_config, report_only, run_study, shipped_configs,
                                       subsample)


def test_shipped_configs_load() -> None:
    assert {"smoke", "here", "here-mitdb-rhythm", "full"} <= set(shipped_configs())
    for name in shipped_configs():
        config = load_config(name)
        assert config.seeds and config.models and config.downstream
    here = load_config("here")
    assert set(here.models) == {"resnet1d18", "resnet1d50", "resnet1d101", "lstm", "bilstm", "gru"}
    assert len(here.seeds) >= 3 and len(here.downstream[0].sizes) >= 3


def test_bad_configs_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no transfer config 'nope'"):
        load_config("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\nmodels = ['resnet1d18']\n")
    with pytest.raises(ConfigError, match="bad.toml: incomplete"):
        load_config(bad)
    bad.write_text("name = [\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(bad)
    text = (Path(__file__).parents[1] / "src/ecgadapt/configs/transfer/smoke.toml").read_text()
    bad.write_text(text.replace('"gru"', '"resnet9000"'))
    with pytest.raises(ConfigError, match="unknown model.*resnet9000"):
        load_config(bad)


def test_subsample_is_seeded_and_a_subset() -> None:
    idx = np.arange(100, 300)
    a, b, c = subsample(idx, 50, 0), subsample(idx, 50, 0), subsample(idx, 50, 1)
    assert len(a) == 50 and set(a) <= set(idx) and len(set(a)) == 50
    assert (a == b).all() and not (a == c).all()
    assert len(subsample(idx, "all", 0)) == 200 and len(subsample(idx, 10_000, 0)) == 200


def _fake_results() -> pd.DataFrame:
    rows = []
    for model, boost in (("resnet1d18", 0.10), ("gru", 0.02)):
        for n, fade in ((50, 1.0), (500, 0.2)):
            for seed in (0, 1):
                base = 0.5 + 0.0004 * n
                rows.append({"downstream": "d", "model": model, "size": str(n), "n_train": n, "seed": seed, "mode": "scratch",
                             "upstream": "none", "test_f1_weighted": base, "epochs_to_95pct_val": 10})
                rows.append({"downstream": "d", "model": model, "size": str(n), "n_train": n, "seed": seed, "mode": "finetune",
                             "upstream": "u", "test_f1_weighted": base + boost * fade, "epochs_to_95pct_val": 4})
    return pd.DataFrame(rows)


def test_gains_are_paired_and_claims_follow_the_numbers() -> None:
    g = gains(_fake_results())
    assert len(g) == 8
    assert np.allclose(g[(g.model == "resnet1d18") & (g.n_train == 50)].gain, 0.10)
    found = {c["claim"]: c["holds"] for c in claims(g)}
    assert found == {"fine-tuning helps most on small downstream data": True,
                     "the gain fades as downstream data grows": True, "fine-tuning converges faster": True,
                     "CNNs transfer better than RNNs": True}
    flipped = _fake_results()
    ft = flipped["mode"] == "finetune"
    flipped.loc[ft, "test_f1_weighted"] -= 0.3  # fine-tuning now hurts everywhere
    found = {c["claim"]: c["holds"] for c in claims(gains(flipped))}
    assert found["fine-tuning helps most on small downstream data"] is False
    # an RNN that outputs the same whatever it is trained on: left out, and claim 4 becomes untestable
    dead = _fake_results()
    dead.loc[dead.model == "gru", "test_f1_weighted"] = 0.346
    dead.loc[(dead.model == "gru") & (dead.seed == 0) & (dead.n_train == 50) & (dead["mode"] == "finetune"),
             "test_f1_weighted"] = 0.37  # one lucky run out of eight does not make it a learner
    found = {c["claim"]: c for c in claims(gains(dead))}
    assert found["CNNs transfer better than RNNs"]["holds"] is None
    assert "did not learn: gru" in found["CNNs transfer better than RNNs"]["evidence"]
    assert found["fine-tuning helps most on small downstream data"]["holds"] is True


def test_bootstrap_interval_covers_the_estimate_and_narrows_with_data() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    scores = np.eye(2)[np.where(rng.random(400) < 0.8, y, 1 - y)]
    lo, hi = metric_ci(y, scores, ("a", "b"), "accuracy", n_boot=300)
    acc = (scores.argmax(1) == y).mean()
    assert lo < acc < hi and hi - lo < 0.12
    lo_s, hi_s = metric_ci(y[:40], scores[:40], ("a", "b"), "accuracy", n_boot=300)
    assert hi_s - lo_s > hi - lo
    # grouped: all items of a group move together, so 2 groups with accuracies 0 and 1 give a wide interval
    groups = np.repeat([0, 1], 200)
    values = np.r_[np.zeros(200), np.ones(200)]
    lo_g, hi_g = bootstrap_ci(lambda i: values[i].mean(), 400, groups=groups, n_boot=200)
    assert lo_g == 0.0 and hi_g == 1.0


@pytest.mark.shared
@pytest.mark.slow
def test_smoke_study_end_to_end_and_resume(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    results = run_study(load_config("smoke"), shared_data, out, progress=False, log=lambda *_: None)
    assert len(results) == 8  # 2 models x 2 sizes x {scratch, finetune} x 1 seed
    assert set(results["mode"]) == {"scratch", "finetune"} and set(results["n_train"]) >= {20}
    assert (results.test_f1_weighted.between(0, 1)).all()
    lo, hi = np.array(results.test_f1_weighted_ci.tolist()).T
    assert (lo <= results.test_f1_weighted + 1e-9).all() and (results.test_f1_weighted <= hi + 1e-9).all()
    small = results[results.n_train == 20]
    assert all(len(c) == r for c, r in zip(small.test_curve, small.epochs_run))  # curves at the smallest size
    for name in ("results.csv", "results.json", "summary.md", "summary.html", "claims.json"):
        assert (out / name).is_file(), name
    assert len(list((out / "figures").glob("*.png"))) == 4
    assert "data:image/png;base64" in (out / "summary.html").read_text()
    assert len(list((out / "upstream").glob("*.pt"))) == 2
    # a rerun finds every run done and trains nothing
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    again = run_study(load_config("smoke"), shared_data, out, progress=False, log=lambda *_: None)
    assert len(again) == 8
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    config = json.loads((out / "config.json").read_text())
    assert config["name"] == "smoke"
    (out / "summary.md").unlink()
    assert len(report_only(load_config("smoke"), shared_data, out)) == 8 and (out / "summary.md").is_file()
    with pytest.raises(ConfigError, match="no finished runs yet"):
        report_only(load_config("smoke"), shared_data, tmp_path / "empty")
