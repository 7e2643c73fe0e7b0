"""Moved to :mod:`ecgadapt.population` (shipped models, training, model cards); this path works for one release."""

from ecgadapt._moved import moved

__getattr__ = moved(__name__, ("ecgadapt.population.shipped", "ecgadapt.population.training",
                               "ecgadapt.population.card"))
