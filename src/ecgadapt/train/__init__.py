"""One training loop for every model and task: scratch or fine-tune, freezing policies, early stopping on
validation data, resumable atomic checkpoints."""

from ecgadapt.train.data import ArrayDataset
from ecgadapt.train.trainer import PRESETS, FitResult, TrainConfig, TrainingError, fit, predict

__all__ = ["ArrayDataset", "FitResult", "PRESETS", "TrainConfig", "TrainingError", "fit", "predict"]
