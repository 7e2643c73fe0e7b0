"""Moved to :mod:`ecgadapt.models.ddpm` (a network, beside the other registered models); this path works for one
release."""

from ecgadapt._moved import moved

__getattr__ = moved(__name__, ("ecgadapt.models.ddpm",))
