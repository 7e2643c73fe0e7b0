"""No global side effects: drawing a figure leaves the caller's matplotlib backend and pyplot alone, and adapting a
model leaves the caller's torch RNG where it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch


def test_figures_leave_the_callers_backend_and_pyplot_alone(tmp_path: Path) -> None:
    # a fresh interpreter: a notebook user's backend chosen before ecgadapt is imported
    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import numpy as np, matplotlib.pyplot as plt\n"
        "from ecgadapt.report.plots import plot_strip\n"
        f"plot_strip(np.sin(np.arange(3600) / 20.0).astype('float32'), 360.0, {str(tmp_path / 's.png')!r})\n"
        "print(matplotlib.get_backend(), len(plt.get_fignums()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["svg", "0"] and (tmp_path / "s.png").stat().st_size > 1000


def test_adapting_leaves_the_callers_torch_rng_alone(embedded_beats) -> None:
    from ecgadapt.data import AAMI_CLASSES
    from ecgadapt.models.io import load_checkpoint
    from ecgadapt.personalize import AdaptContext, BeatSet, get_strategy
    from ecgadapt.population.shipped import shipped_model_path

    model, _ = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))
    beats = BeatSet.from_prepared(embedded_beats, np.arange(400))
    strategy = get_strategy("finetune-head", steps=3)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = strategy.adapt(model, beats, None, AdaptContext(AAMI_CLASSES, seed=7))
    assert torch.equal(torch.rand(3), expected)  # the caller's stream, untouched
    second = strategy.adapt(model, beats, None, AdaptContext(AAMI_CLASSES, seed=7))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
