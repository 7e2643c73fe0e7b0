"""The training loop on real beats from the embedded MIT-BIH records."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgadapt.data import get_adapter
from ecgadapt.errors import ConfigError
from ecgadapt.metrics import classification_metrics
from ecgadapt.models import create_model
from ecgadapt.prepare import prepare_dataset
from ecgadapt.protocols import build_protocol
from ecgadapt.train import ArrayDataset, TrainConfig, TrainingError, fit


@pytest.fixture(scope="module")
def beats(embedded: Path, tmp_path_factory: pytest.TempPathFactory):
    prepared, _ = prepare_dataset("mitdb", embedded, cache_root=tmp_path_factory.mktemp("cache"), progress=False)
    idx = build_protocol("mitdb-patient-specific", "mitdb", get_adapter("mitdb").records(embedded)).indices(prepared)
    # validation: every 4th test beat (a subset keeps the test fast); never used here to report a figure
    return prepared, ArrayDataset.from_prepared(prepared, idx["adapt"]), ArrayDataset.from_prepared(prepared, idx["test"][::4])


class FaultyBatches(ArrayDataset):
    """From the n-th batch on: raise KeyboardInterrupt (a kill mid-epoch) or return NaN signals."""

    def __init__(self, base: ArrayDataset, at_call: int, fault: str):
        super().__init__(base.X, base.y, base.indices, base.rr)
        self.calls, self.at_call, self.fault = 0, at_call, fault

    def batch(self, rows):
        self.calls += 1
        x, y, extra = super().batch(rows)
        if self.calls >= self.at_call:
            if self.fault == "kill":
                raise KeyboardInterrupt
            x = x * float("nan")
        return x, y, extra


CONFIG = TrainConfig(epochs=3, batch_size=256, lr=3e-3, seed=1)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("beatnet", in_leads=1, num_classes=5)


def test_fit_learns_and_writes_history(beats, tmp_path: Path) -> None:
    prepared, train, val = beats
    result = fit(_model(), train, val, CONFIG, label_names=prepared.label_names, out_dir=tmp_path, progress=True)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.7
    assert result.best_metric == max(h["val_f1_macro"] for h in result.history)
    assert (tmp_path / "history.csv").read_text().startswith("epoch,train_loss,val_loss")


def test_killed_run_resumes_to_the_same_result(beats, tmp_path: Path) -> None:
    prepared, train, val = beats
    full = fit(_model(), train, val, CONFIG, label_names=prepared.label_names, out_dir=tmp_path / "a", progress=False)
    per_epoch = int(np.ceil(len(train) / CONFIG.batch_size))
    with pytest.raises(KeyboardInterrupt):  # killed in the middle of epoch 3
        fit(_model(), FaultyBatches(train, 2 * per_epoch + 2, "kill"), val, CONFIG, label_names=prepared.label_names,
            out_dir=tmp_path / "b", progress=False)
    resumed = fit(_model(), train, val, CONFIG, label_names=prepared.label_names, out_dir=tmp_path / "b", progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    for a, b in zip(full.history, resumed.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_f1_macro"] == pytest.approx(b["val_f1_macro"], rel=1e-5)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(beats, tmp_path: Path) -> None:
    prepared, train, val = beats
    per_epoch = int(np.ceil(len(train) / CONFIG.batch_size))
    with pytest.raises(TrainingError, match=r"non-finite loss .* epoch 2, batch 1.*last\.pt"):
        fit(_model(), FaultyBatches(train, per_epoch + 1, "nan"), val, CONFIG, label_names=prepared.label_names,
            out_dir=tmp_path, progress=False)
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    assert state["epoch"] == 0 and all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_linear_probe_trains_only_the_head(beats) -> None:
    prepared, train, val = beats
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, train, val, TrainConfig(epochs=1, freeze="head"), label_names=prepared.label_names, progress=False)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k]) and "running" not in k and "num_batches" not in k}
    assert changed == {"head.weight", "head.bias"}


def test_wrong_leads_and_labels_are_clear_errors(beats) -> None:
    prepared, train, val = beats
    with pytest.raises(ConfigError, match=r"model expects 2 lead\(s\), the data has 1"):
        fit(create_model("beatnet", in_leads=2, num_classes=5), train, val, CONFIG, label_names=prepared.label_names)
    with pytest.raises(ConfigError, match=r"model has 3 outputs but the data has 5 labels"):
        fit(create_model("beatnet", in_leads=1, num_classes=3), train, val, CONFIG, label_names=prepared.label_names)


def test_metrics_per_class() -> None:
    y = np.array([0, 0, 1, 1, 2])
    scores = np.eye(3)[[0, 1, 1, 1, 2]]
    m = classification_metrics(y, scores, ("N", "S", "V"))
    assert m["accuracy"] == 0.8
    assert m["per_class"]["N"]["sensitivity"] == 0.5 and m["per_class"]["S"]["ppv"] == pytest.approx(2 / 3)
    assert m["per_class"]["V"]["specificity"] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a validation subject with one class only: AUROC undefined, no warning
        single = classification_metrics(np.zeros(4, dtype=int), np.eye(3)[[0, 0, 1, 0]], ("N", "S", "V"))
    assert np.isnan(single["auroc_macro"]) and single["accuracy"] == 0.75


def test_report_hook_is_recorded_but_never_selects(beats) -> None:
    prepared, train, val = beats
    plain = fit(_model(), train, val, CONFIG, label_names=prepared.label_names, progress=False)
    # a report that would pick a different epoch if it were used for selection
    calls = []

    def report(model) -> dict[str, float]:
        calls.append(1)
        return {"test_f1": -float(len(calls))}

    hooked = fit(_model(), train, val, CONFIG, label_names=prepared.label_names, progress=False, report=report)
    assert [h["report_test_f1"] for h in hooked.history] == [-1.0, -2.0, -3.0]
    assert hooked.best_epoch == plain.best_epoch
    assert [h["val_f1_macro"] for h in hooked.history] == [h["val_f1_macro"] for h in plain.history]


def test_class_weight_options() -> None:
    with pytest.raises(ConfigError, match="class_weights='inverse'"):
        TrainConfig(class_weights="inverse")
    TrainConfig(class_weights="sqrt")


def test_lead_dropout_zeroes_the_second_lead_of_some_training_beats_only(embedded: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from ecgadapt.prepare import default_settings

    settings = replace(default_settings("mitdb", "beats"), leads=("MLII", "V1"))
    prepared, _ = prepare_dataset("mitdb", embedded, settings, cache_root=tmp_path / "cache", progress=False)
    data = ArrayDataset.from_prepared(prepared, np.arange(0, len(prepared), 8))
    with pytest.raises(ConfigError, match="lead_dropout=1.0"):
        TrainConfig(lead_dropout=1.0)
    for p in (0.0, 0.5):
        model = create_model("beatnet", in_leads=2, num_classes=5)
        seen = {"train": [], "eval": []}
        model.register_forward_pre_hook(lambda m, args: seen["train" if m.training else "eval"].append(args[0].clone()))
        fit(model, data, data, TrainConfig(epochs=1, batch_size=128, lead_dropout=p), progress=False)
        train_x, eval_x = torch.cat(seen["train"]), torch.cat(seen["eval"])
        flat = (train_x[:, 1].abs().amax(1) == 0).float().mean().item()
        assert (train_x[:, 0].abs().amax(1) > 0).all()  # the first lead is never dropped
        assert (eval_x[:, 1].abs().amax(1) > 0).all()  # validation sees both leads
        assert flat == 0.0 if p == 0 else 0.4 < flat < 0.6


def test_the_cosine_schedule_lowers_the_rate_by_epoch_and_resumes_on_the_curve(beats, tmp_path: Path) -> None:
    _, train, val = beats
    small = ArrayDataset(train.X, train.y, train.indices[:256], train.rr)
    config = TrainConfig(epochs=3, batch_size=128, lr=1e-3, schedule="cosine", patience=10)
    torch.manual_seed(0)
    fit(create_model("beatnet", num_classes=5), small, val, config, out_dir=tmp_path / "run", progress=False)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    # the last epoch (2 of 0, 1, 2) ran at lr * (1 + cos(2 pi / 3)) / 2 = lr / 4
    assert [g["lr"] for g in state["optimizer"]["param_groups"]] == pytest.approx([2.5e-4] *
                                                                                 len(state["optimizer"]["param_groups"]))
    with pytest.raises(ConfigError, match="schedule"):
        TrainConfig(schedule="step")
