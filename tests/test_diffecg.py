"""DiffECG building blocks: the DDPM schedule, the 1-D UNet, resumable label-free pre-training, the frozen
diffusion feature extractor, and the Bayesian search over the noise step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ecgadapt.models.ddpm import DDPMSchedule
from ecgadapt.diffecg.pretrain import PretrainConfig, load_unet, pretrain_diffusion
from ecgadapt.models.unet1d import UNet1d
from ecgadapt.errors import ConfigError
from ecgadapt.models import create_model
from ecgadapt.models.io import load_checkpoint, save_checkpoint
from ecgadapt.personalize.diffecg_t import bayes_opt_integer, objective_value


def test_schedule_matches_the_paper_and_noises_as_promised() -> None:
    s = DDPMSchedule()
    assert s.steps == 1000 and float(s.betas[0]) == pytest.approx(1e-4) and float(s.betas[-1]) == pytest.approx(0.02)
    x0 = torch.ones(20_000, 1, 1)
    for t in (0, 50, 999):
        xt = s.q_sample(x0, torch.full((20_000,), t), torch.randn(20_000, 1, 1))
        a = float(s.alphas_cumprod[t])
        assert float(xt.mean()) == pytest.approx(a ** 0.5, abs=0.02)
        assert float(xt.var()) == pytest.approx(1 - a, abs=0.02 + 0.05 * (1 - a))


def test_unet_shapes_any_length() -> None:
    net = UNet1d(2, base=8, mults=(1, 2, 4))
    for n in (252, 1000, 37):
        x = torch.randn(3, 2, n)
        assert net(x, torch.tensor([0, 10, 999])).shape == x.shape


class _KilledAfter:
    """Array stand-in that raises KeyboardInterrupt (a kill) at the n-th batch read."""

    def __init__(self, X: np.ndarray, reads: int):
        self.X, self.reads, self.shape, self.ndim = X, reads, X.shape, X.ndim

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, idx):
        self.reads -= 1
        if self.reads < 0:
            raise KeyboardInterrupt
        return self.X[idx]


def test_pretraining_learns_resumes_and_feeds_the_classifier(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 64)
    X = np.stack([np.sin(2 * np.pi * rng.uniform(2, 4) * t + rng.uniform(0, 6)) for _ in range(256)])[:, None].astype(np.float32)
    cfg = PretrainConfig(epochs=6, batch_size=32, lr=2e-3, base=8, mults=(1, 2), bf16=False)
    _, history = pretrain_diffusion(X, tmp_path / "a", cfg, progress=False)
    assert history[-1]["loss"] < history[0]["loss"] * 0.8
    # killed in the middle of epoch 4, started again: it resumes and ends where the uninterrupted run ended
    with pytest.raises(KeyboardInterrupt):
        pretrain_diffusion(_KilledAfter(X, reads=3 * 8 + 4), tmp_path / "b", cfg, progress=False)
    _, resumed = pretrain_diffusion(X, tmp_path / "b", cfg, progress=False)
    assert [h["loss"] for h in resumed] == pytest.approx([h["loss"] for h in history])
    with pytest.raises(ConfigError, match="another configuration"):
        pretrain_diffusion(X, tmp_path / "b", PretrainConfig(**{**cfg.__dict__, "lr": 1e-3}), progress=False)
    unet, schedule, ckpt = load_unet(tmp_path / "a" / "unet.pt")
    model = create_model("diffecg", in_leads=1, num_classes=3, base=8, mults=(1, 2), t=30)
    model.load_pretrained(unet.state_dict())
    assert torch.equal(model.encoder.stem.weight, unet.encoder.stem.weight)
    x = torch.from_numpy(X[:4])
    f1, f2 = model.forward_features(x), model.forward_features(x)
    assert torch.equal(f1, f2)  # fixed noise seed: same beat, same features
    model.set_t(80)
    assert not torch.allclose(model.forward_features(x), f1)
    save_checkpoint(model, tmp_path / "m.pt")
    back, _ = load_checkpoint(tmp_path / "m.pt")
    assert back.t == 80 and torch.equal(back(x), model(x))
    with pytest.raises(ConfigError, match="diffusion checkpoint missing"):
        load_unet(tmp_path / "nope.pt")


def test_bayes_opt_finds_the_best_step_with_few_evaluations() -> None:
    calls = []

    def f(t: int) -> float:
        calls.append(t)
        return -((t - 37) / 20) ** 2

    best, searched = bayes_opt_integer(f, 1, 100, init_points=4, iterations=8, seed=0)
    assert abs(best - 37) <= 3 and len(calls) == len(set(calls)) <= 12


def test_objectives_from_a_training_trace() -> None:
    w0, w1, w2 = torch.zeros(2), torch.tensor([3.0, 4.0]), torch.tensor([3.0, 4.0 + 5.0])
    trace = [{"loss": 2.0, "acc": 0.5, "f1": 0.2, "w": w0}, {"loss": 1.0, "acc": 0.6, "f1": 0.4, "w": w1},
             {"loss": 0.5, "acc": 0.8, "f1": 0.5, "w": w2}]
    assert objective_value(trace, "gamma") == pytest.approx(np.mean([1.0 / 5, 0.5 / 5]))
    assert objective_value(trace, "dacc") == pytest.approx(0.3)
    assert objective_value(trace, "dloss") == pytest.approx(0.75)
    assert objective_value(trace, "dmix") == pytest.approx((0.3 + 0.3 + 0.75) / 3)


def test_modalities_spectrogram_lorenz_and_the_fallback() -> None:
    from ecgadapt.diffecg.modalities import lorenz_image, spectrogram

    fs = 100.0
    t = np.arange(1000) / fs
    spec = spectrogram(np.sin(2 * np.pi * 12.5 * t)[None], fs, nperseg=64)
    assert spec.shape[:2] == (1, 33)
    freqs = np.arange(33) * fs / 64
    assert abs(freqs[spec[0].mean(1).argmax()] - 12.5) <= fs / 64
    peaks = np.cumsum(np.r_[0, 80, 82, 78, 95, 60, 81, 80]).astype(int)
    img, ok = lorenz_image(peaks, fs, size=16)
    assert ok and img.shape == (16, 16) and img.sum() == pytest.approx(1.0)
    img, ok = lorenz_image(peaks[:3], fs, size=16)  # fewer than 4 R peaks: no Lorenz plot, said so
    assert not ok and img.sum() == 0


def test_cross_modal_fusion_masks_missing_modalities() -> None:
    from ecgadapt.diffecg.modalities import CrossModalFusion

    torch.manual_seed(0)
    fusion = CrossModalFusion([8, 6, 4], dim=16, heads=2)
    maps = [torch.randn(3, 8, 10, requires_grad=True), torch.randn(3, 6, 5), torch.randn(3, 4, 7)]
    present = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    out = fusion(maps, present)
    assert out.shape == (3, 48) and torch.isfinite(out).all()
    assert (out[1, 32:] == 0).all() and (out[2, 16:] == 0).all()
    out.sum().backward()
    assert maps[0].grad is not None
    # the third modality of item 1 is masked: changing it does not change item 1's output
    maps2 = [maps[0].detach(), maps[1], maps[2].clone()]
    maps2[2][1] += 5
    assert torch.allclose(fusion(maps2, present)[1], fusion([maps[0].detach(), maps[1], maps[2]], present)[1])


@pytest.mark.parametrize("method", ["simclr", "moco", "clocs"])
def test_contrastive_baselines_train_and_load_into_the_classifier(method: str, tmp_path: Path) -> None:
    from ecgadapt.diffecg.contrastive import ContrastiveConfig, pretrain_contrastive

    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 64)
    patient = np.repeat(np.arange(8), 16)
    freq = rng.uniform(2, 6, 8)[patient]  # each "patient" has its own rhythm
    X = np.sin(2 * np.pi * freq[:, None] * t + rng.uniform(0, 0.3, (128, 1)))[:, None].astype(np.float32)
    cfg = ContrastiveConfig(method=method, epochs=6, batch_size=32, base=8, mults=(1, 2), queue=64)
    _, history = pretrain_contrastive(X, tmp_path, cfg, patient=patient, progress=False)
    assert np.isfinite([h["loss"] for h in history]).all()
    # moco's first epoch is easy (the queue still holds random keys); compare from when it holds real ones
    first = 1 if method == "moco" else 0
    assert history[-1]["loss"] < history[first]["loss"]
    state = torch.load(tmp_path / "encoder.pt", weights_only=True)["state_dict"]
    model = create_model("diffecg", in_leads=1, num_classes=3, base=8, mults=(1, 2), t=0)
    model.load_pretrained(state)
    assert torch.equal(model.encoder.stem.weight, state["encoder.stem.weight"])


def test_clocs_needs_patients() -> None:
    from ecgadapt.diffecg.contrastive import ContrastiveConfig, pretrain_contrastive

    with pytest.raises(ConfigError, match="clocs needs the patient id"):
        pretrain_contrastive(np.zeros((4, 1, 16), np.float32), "/tmp/x", ContrastiveConfig(method="clocs"), progress=False)
    with pytest.raises(ConfigError, match="contrastive method 'byol'"):
        ContrastiveConfig(method="byol")
