"""Moved to :mod:`ecgadapt.population.rhythm_pretrain`; this path works for one release."""

from ecgadapt._moved import moved

__getattr__ = moved(__name__, ("ecgadapt.population.rhythm_pretrain",))
