"""Moved to :mod:`ecgadapt.pipeline` (the application: reading, personalizing, annotating, writing outputs); this path
works for one release."""

from ecgadapt._moved import moved

__getattr__ = moved(__name__, ("ecgadapt.pipeline.personalize", "ecgadapt.pipeline.annotate",
                               "ecgadapt.pipeline.recording", "ecgadapt.pipeline.classify", "ecgadapt.pipeline.results",
                               "ecgadapt.pipeline.writers", "ecgadapt.data.recording"))
