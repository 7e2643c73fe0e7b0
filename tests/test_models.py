"""One sweep over every registered model: shapes, gradients, head swap, save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ecgadapt.errors import ConfigError
from ecgadapt.models import create_model, list_models, load_checkpoint, save_checkpoint

EXPECTED = {"resnet1d18", "resnet1d50", "resnet1d101", "lstm", "bilstm", "gru", "xresnet1d101", "inception1d", "beatnet"}


def _inputs(name: str, leads: int, length: int = 400, batch: int = 3) -> tuple[torch.Tensor, dict]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, leads, length, generator=g)
    extra = {"rr": 0.6 + 0.4 * torch.rand(batch, 5, generator=g)} if name == "beatnet" else {}
    return x, extra


def test_beatnet_reads_the_rr_columns_it_was_built_for() -> None:
    """A 4-feature model (the shipped one) reads the first four columns of today's 5-column RR features and
    ignores the irregularity; a 5-feature model reads it; too few columns or an unknown count are clear errors."""
    torch.manual_seed(0)
    x, extra = _inputs("beatnet", 1)
    rr = extra["rr"]
    four = create_model("beatnet", in_leads=1, num_classes=5).eval()
    changed = rr.clone()
    changed[:, 4] += 1.0
    assert torch.equal(four(x, rr=rr), four(x, rr=changed))
    five = create_model("beatnet", in_leads=1, num_classes=5, rr_features=5).eval()
    assert not torch.allclose(five(x, rr=rr), five(x, rr=changed))
    with pytest.raises(ValueError, match="first 5 RR features"):
        five(x, rr=rr[:, :4])
    with pytest.raises(ValueError, match="rr_features=3"):
        create_model("beatnet", in_leads=1, num_classes=5, rr_features=3)


def test_registry_lists_the_study_models() -> None:
    assert EXPECTED <= set(list_models())
    with pytest.raises(ConfigError, match="unknown model 'resnet1d7'"):
        create_model("resnet1d7")


@pytest.mark.parametrize("leads", [1, 2, 12])
@pytest.mark.parametrize("name", sorted(list_models()))
def test_forward_backward_every_parameter(name: str, leads: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, in_leads=leads, num_classes=4)
    x, extra = _inputs(name, leads)
    feats = model.forward_features(x, **extra)
    assert feats.shape == (3, model.num_features)
    out = model(x, **extra)
    assert out.shape == (3, 4) and torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.head.weight.grad.abs().sum() > 0
    # any length
    x2, _ = _inputs(name, leads, length=1000)
    assert model(x2, **extra).shape == (3, 4)


@pytest.mark.parametrize("name", sorted(list_models()))
def test_reset_classifier_changes_only_the_head(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model(name, in_leads=2, num_classes=5).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.reset_classifier(3)
    after = model.state_dict()
    assert after["head.weight"].shape == (3, model.num_features)
    for k, v in before.items():
        if not k.startswith("head."):
            assert torch.equal(v, after[k]), k
    x, extra = _inputs(name, 2)
    assert model(x, **extra).shape == (3, 3)
    # save / load round trip gives identical outputs
    path = save_checkpoint(model, tmp_path / "m.pt", note="test")
    loaded, meta = load_checkpoint(path)
    loaded.eval()
    assert meta == {"note": "test"}
    assert torch.equal(model(x, **extra), loaded(x, **extra))


@pytest.mark.parametrize("name", sorted(list_models()))
def test_a_beat_is_classified_alike_in_any_batch_unless_the_model_says_otherwise(name: str) -> None:
    # the engine classifies in batches of PREDICT_BATCH (128), chosen for speed: that must not change a model's
    # output. DiffECG draws its noise for the whole batch, so it names the batch its recorded figures were made with
    from ecgadapt.personalize.base import BeatSet, predict_beats

    torch.manual_seed(0)
    model = create_model(name, in_leads=2, num_classes=5).eval()
    rng = np.random.default_rng(0)
    beats = BeatSet(rng.normal(size=(40, 2, 252)).astype(np.float32), rng.normal(size=(40, 6)).astype(np.float32),
                    np.zeros(40, dtype=np.int64))
    chosen = predict_beats(model, beats)
    if model.inference_batch is None:
        np.testing.assert_allclose(chosen, predict_beats(model, beats, batch_size=7), atol=1e-5)
    else:
        assert name == "diffecg" and model.inference_batch == 4096
        assert np.array_equal(chosen, predict_beats(model, beats, batch_size=4096))


def test_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.pt: checkpoint missing"):
        load_checkpoint(tmp_path / "nope.pt")
    path = save_checkpoint(create_model("beatnet", in_leads=1), tmp_path / "b.pt")
    with pytest.raises(ConfigError, match=r"b\.pt: checkpoint expects 1 lead\(s\), data has 2"):
        load_checkpoint(path, in_leads=2)
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match=r"bad\.pt: unreadable checkpoint: not a PyTorch file") as err:
        load_checkpoint(tmp_path / "bad.pt")
    assert "weights_only" not in str(err.value)  # never the advice to unpickle arbitrary code
    # a PyTorch file of something else, e.g. a bare state_dict
    torch.save(create_model("beatnet", in_leads=1).state_dict(), tmp_path / "state.pt")
    with pytest.raises(ConfigError, match=r"state\.pt: a PyTorch file but not an ecgadapt checkpoint \(no model, "):
        load_checkpoint(tmp_path / "state.pt")


def test_any_registered_network_can_be_a_population_model(embedded_beats) -> None:
    """Only BeatNet reads RR features: another network trains on the beat alone (it used to fail with a TypeError),
    and asking it for RR features is a clear error."""
    from dataclasses import replace

    from ecgadapt.errors import ConfigError
    from ecgadapt.population.training import POPULATION_CONFIG, train_population_model

    config = replace(POPULATION_CONFIG, epochs=1, bf16=False)
    model, card = train_population_model(embedded_beats, ("232", "213"), ("213",), model_name="resnet1d18",
                                         config=config, progress=False)
    assert card["model"] == "resnet1d18" and not hasattr(model, "rr_features")
    five, _ = train_population_model(embedded_beats, ("232", "213"), ("213",), config=config, rr_features=5,
                                     progress=False)
    assert five.rr_features == 5  # beatnet takes them
    with pytest.raises(ConfigError, match="network 'resnet1d18' reads no RR features"):
        train_population_model(embedded_beats, ("232", "213"), ("213",), model_name="resnet1d18", config=config,
                               rr_features=5, progress=False)
