"""What every reader of recordings shares (WFDB, EDF/BDF, ISHNE): lead names, the size of a piece read at once, and the
check that beat labels are one a beat."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ecgadapt.data.record import Annotations
from ecgadapt.errors import RecordError


def channel_names(names: list[str | None] | None, channels: Iterable[int]) -> list[str]:
    """Lead names, ``ch<channel number>`` where the header gives none (its description field is optional)."""
    names = list(names or [])
    return [names[k] if k < len(names) and names[k] else f"ch{c}" for k, c in enumerate(channels)]


#: values (samples x channels) wfdb reads at once: longer records are read in pieces of about this size
READ_CHUNK_VALUES = 1 << 23


def one_label_a_beat(annotations: Annotations, ann_file: Path) -> Annotations:
    """``annotations``, checked to hold one label a beat in time order; RecordError naming ``ann_file`` otherwise."""
    symbols = annotations.symbol
    # one heartbeat, one label: two beats at one sample (a merged or twice-exported file) would give a beat of RR 0
    # and two labels for the same window, one of them wrong
    beats = np.flatnonzero(annotations.beat_mask())
    twice = np.flatnonzero(np.diff(annotations.sample[beats]) <= 0)
    if twice.size:
        i, j = beats[twice[0]], beats[twice[0] + 1]
        raise RecordError(ann_file, f"{twice.size} beat annotation(s) not after the beat before them (the first: "
                                    f"'{symbols[j]}' at sample {int(annotations.sample[j])} after '{symbols[i]}' at "
                                    f"sample {int(annotations.sample[i])}): one annotation a beat, in time order")
    return annotations
