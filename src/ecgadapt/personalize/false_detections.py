"""Moved to :mod:`ecgadapt.pipeline.false_detections`; this path works for one release."""

from ecgadapt._moved import moved

__getattr__ = moved(__name__, ("ecgadapt.pipeline.false_detections",))
