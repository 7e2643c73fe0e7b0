"""No code runs from a file: every state file a resumable run reads back is loaded with ``weights_only``. A test plants
a pickle that would create a marker file at each load site; each must refuse it, naming the file, and the marker must
never appear."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ecgadapt.errors import ConfigError


class _Planted:
    """Unpickling this opens (creates) ``marker``: code run from the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _plant(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": {}, "epoch": 0, "payload": _Planted(marker)}, path)
    return path


def test_trainer_resume_refuses_a_planted_last_pt(tmp_path: Path) -> None:
    from ecgadapt.models import create_model
    from ecgadapt.train import ArrayDataset, TrainConfig, fit

    marker = tmp_path / "ran"
    _plant(tmp_path / "run" / "last.pt", marker)
    rng = np.random.default_rng(0)
    data = ArrayDataset(rng.standard_normal((16, 1, 64)).astype(np.float32), np.arange(16) % 2, None, None)
    with pytest.raises(ConfigError, match=r"last\.pt: unreadable training state"):
        fit(create_model("beatnet", in_leads=1, num_classes=2), data, data, TrainConfig(epochs=1),
            out_dir=tmp_path / "run", progress=False)
    assert not marker.exists()


def test_diffusion_pretraining_resume_refuses_a_planted_last_pt(tmp_path: Path) -> None:
    from ecgadapt.diffecg.pretrain import PretrainConfig, pretrain_diffusion

    marker = tmp_path / "ran"
    _plant(tmp_path / "unet" / "last.pt", marker)
    with pytest.raises(ConfigError, match=r"last\.pt: unreadable pre-training state"):
        pretrain_diffusion(np.zeros((4, 1, 64), dtype=np.float32), tmp_path / "unet", PretrainConfig(epochs=1),
                           progress=False)
    assert not marker.exists()


def test_diffecg_study_refuses_a_planted_contrastive_encoder(tmp_path: Path) -> None:
    from ecgadapt.studies.diffecg import contrastive_encoder

    marker = tmp_path / "ran"
    items = SimpleNamespace(spec=SimpleNamespace(name="src"), inputs=SimpleNamespace(arrays={"raw": np.zeros((4, 1, 64))}))
    _plant(tmp_path / "pretrain" / "src" / "simclr" / "encoder.pt", marker)
    with pytest.raises(ConfigError, match=r"encoder\.pt: unreadable contrastive encoder"):
        contrastive_encoder(items, "simclr", SimpleNamespace(), tmp_path, progress=False)
    assert not marker.exists()


def test_a_planted_model_checkpoint_is_refused(tmp_path: Path) -> None:
    from ecgadapt.models.io import load_checkpoint

    marker = tmp_path / "ran"
    with pytest.raises(ConfigError, match=r"model\.pt: unreadable checkpoint"):
        load_checkpoint(_plant(tmp_path / "model.pt", marker))
    assert not marker.exists()


def test_the_planted_file_does_run_code_when_loaded_unsafely(tmp_path: Path) -> None:
    # the fixture itself must be able to fail: loaded without weights_only, it creates the marker
    marker = tmp_path / "ran"
    torch.load(_plant(tmp_path / "x.pt", marker), weights_only=False)
    assert marker.exists()
