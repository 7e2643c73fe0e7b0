"""Moved to :mod:`ecgadapt.pipeline.batch`; this path works for one release."""

from ecgadapt._moved import moved

__getattr__ = moved(__name__, ("ecgadapt.pipeline.batch",))
