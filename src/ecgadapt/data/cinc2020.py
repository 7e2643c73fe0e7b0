"""PhysioNet/CinC Challenge 2020 and 2021 (CPSC, Georgia, Chapman-Shaoxing, PTB-XL, ...): SNOMED CT labels.

Each record's ``#Dx:`` header line lists SNOMED CT codes. They are mapped to the label sets of the
transfer-learning study (Nguyen & Do 2025): CPSC 2018 (9 classes) and Georgia (10 classes). Codes outside
both sets are kept in ``meta['dx']`` but are not labels.
"""

from __future__ import annotations

import re
from pathlib import Path

from ecgadapt.data.base import (DatasetAdapter, PhysioNetSource, find_records, read_header, read_wfdb_signal,
                                register_adapter)
from ecgadapt.data.record import TWELVE_LEADS, Record, RecordRef
from ecgadapt.errors import RecordError

#: SNOMED CT code -> study label (equivalent codes merged as the Challenge's scoring table does)
SNOMED_TO_LABEL: dict[str, str] = {
    "426783006": "NORM",   # sinus rhythm
    "164889003": "AF",     # atrial fibrillation
    "270492004": "I-AVB",  # 1st degree AV block
    "164909002": "LBBB", "733534002": "LBBB",    # (complete) left bundle branch block
    "59118001": "RBBB", "713427006": "RBBB",     # (complete) right bundle branch block
    "284470004": "PAC", "63593006": "PAC",       # premature atrial / supraventricular contraction
    "164884008": "PVC", "427172004": "PVC", "17338001": "PVC",  # ventricular ectopics / premature beats
    "429622005": "STD",    # ST depression
    "164931005": "STE",    # ST elevation
    "426177001": "SB",     # sinus bradycardia
    "39732003": "LAD",     # left axis deviation
    "427084000": "STach",  # sinus tachycardia
    "164934002": "TAb",    # T wave abnormal
    "59931005": "TInv",    # T wave inversion
    "111975006": "LQT",    # prolonged QT interval
}
LABEL_SETS: dict[str, tuple[str, ...]] = {
    "cpsc2018": ("NORM", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE"),
    "georgia": ("NORM", "AF", "I-AVB", "PAC", "SB", "LAD", "STach", "TAb", "TInv", "LQT"),
}
ALL_LABELS: tuple[str, ...] = tuple(dict.fromkeys(LABEL_SETS["cpsc2018"] + LABEL_SETS["georgia"]))
#: record-name prefix -> source database of the Challenge
SOURCES = {"A": "CPSC2018", "Q": "CPSC2018-extra", "I": "INCART", "S": "PTB", "HR": "PTB-XL", "E": "Georgia",
           "JS": "Chapman-Shaoxing", "JSN": "Ningbo"}
_DX = re.compile(r"^\s*Dx\s*:\s*(.*)$", re.IGNORECASE)


def parse_dx(comments: list[str]) -> list[str] | None:
    for line in comments:
        m = _DX.match(line)
        if m:
            return [c.strip() for c in m.group(1).split(",") if c.strip()]
    return None


def source_of(name: str) -> str:
    prefix = re.match(r"^[A-Za-z]+", name)
    return SOURCES.get(prefix.group(0) if prefix else "", "unknown")


class _CincFamilyAdapter(DatasetAdapter):
    description = "PhysioNet/CinC Challenge 12-lead databases, SNOMED CT #Dx codes -> study label sets"
    label_names = ALL_LABELS
    task = "windows"
    multilabel = True
    window_leads = TWELVE_LEADS

    def records(self, root: str | Path) -> list[RecordRef]:
        root = self._check_root(root)
        refs = []
        for path in find_records(root):
            try:
                dx = parse_dx(read_header(path).comments)
            except RecordError as err:
                refs.append(RecordRef(self.name, path.name, path, subject=path.name, meta={"error": str(err)}))
                continue
            labels = tuple(dict.fromkeys(SNOMED_TO_LABEL[c] for c in dx or [] if c in SNOMED_TO_LABEL))
            # the Challenge publishes no patient ids: each recording is its own subject
            refs.append(RecordRef(self.name, path.name, path, subject=path.name, labels=labels,
                                  meta={"dx": dx, "source": source_of(path.name)}))
        return refs

    def load(self, ref: RecordRef) -> Record:
        if "error" in ref.meta:
            read_header(ref.path)  # raises the same RecordError that records() noted
        hea = ref.path.with_name(ref.name + ".hea")
        if ref.meta.get("dx") is None:
            raise RecordError(hea, "no '#Dx:' line (diagnosis codes missing)")
        if not ref.meta["dx"]:  # no code at all is no diagnosis, not "none of the labels": all-negative would lie
            raise RecordError(hea, "its '#Dx:' line is empty (no diagnosis codes): unlabelled, left out")
        bad = [c for c in ref.meta["dx"] if not c.isdigit()]
        if bad:
            raise RecordError(hea, f"unknown label code(s) {bad} in #Dx (SNOMED CT codes are numeric)")
        signal, fs, leads, _ = read_wfdb_signal(ref.path, self.expected_fs)
        return Record(database=self.name, name=ref.name, subject=ref.subject, signal=signal, fs=fs,
                      leads=[lead.upper() if lead.lower().startswith("av") else lead for lead in leads],
                      path=ref.path, labels=ref.labels, meta=dict(ref.meta))


@register_adapter
class Cinc2020Adapter(_CincFamilyAdapter):
    name = "cinc2020"
    physionet = PhysioNetSource("challenge-2020", "1.0.2", "CC BY 4.0")


@register_adapter
class Cinc2021Adapter(_CincFamilyAdapter):
    name = "cinc2021"
    physionet = PhysioNetSource("challenge-2021", "1.0.3", "CC BY 4.0")
