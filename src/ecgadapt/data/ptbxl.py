"""PTB-XL (Wagner et al. 2020): 10 s 12-lead ECGs, 5 diagnostic superclasses, patient-respecting folds."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from ecgadapt.data.base import DatasetAdapter, PhysioNetSource, read_wfdb_signal, register_adapter
from ecgadapt.data.record import TWELVE_LEADS, Record, RecordRef
from ecgadapt.errors import ConfigError, RecordError

PTBXL_SUPERCLASSES = ("NORM", "MI", "STTC", "HYP", "CD")


@register_adapter
class PtbxlAdapter(DatasetAdapter):
    name = "ptbxl"
    description = "PTB-XL 1.0.3: 12 leads, 10 s, 100 Hz (records100), superclasses NORM/MI/STTC/HYP/CD"
    expected_fs = 100.0
    label_names = PTBXL_SUPERCLASSES
    task = "windows"
    multilabel = True
    physionet = PhysioNetSource("ptb-xl", "1.0.3", "CC BY 4.0")
    window_leads = TWELVE_LEADS

    def records(self, root: str | Path) -> list[RecordRef]:
        root = self._check_root(root)
        db_csv, scp_csv = root / "ptbxl_database.csv", root / "scp_statements.csv"
        for f in (db_csv, scp_csv):
            if not f.is_file():
                raise ConfigError(f"{f}: missing (PTB-XL ships ptbxl_database.csv and scp_statements.csv)")
        db = pd.read_csv(db_csv, index_col="ecg_id")
        scp = pd.read_csv(scp_csv, index_col=0)
        diagnostic = scp[scp["diagnostic"] == 1]["diagnostic_class"].to_dict()
        refs = []
        for ecg_id, row in db.iterrows():
            try:
                codes = ast.literal_eval(row["scp_codes"])
            except (ValueError, SyntaxError) as err:
                raise ConfigError(f"{db_csv}: ecg_id {ecg_id}: unreadable scp_codes ({err})") from err
            superclasses = sorted({diagnostic[c] for c in codes if c in diagnostic},
                                  key=PTBXL_SUPERCLASSES.index)
            refs.append(RecordRef("ptbxl", str(ecg_id), root / row["filename_lr"],
                                  subject=str(int(row["patient_id"])), labels=tuple(superclasses),
                                  meta={"strat_fold": int(row["strat_fold"]), "scp_codes": codes,
                                        "age": row.get("age"), "sex": row.get("sex")}))
        return refs

    def load(self, ref: RecordRef) -> Record:
        unknown = set(ref.labels) - set(PTBXL_SUPERCLASSES)
        if unknown:
            raise RecordError(ref.path, f"unknown label code(s) {sorted(unknown)}")
        signal, fs, leads, _ = read_wfdb_signal(ref.path, self.expected_fs)
        return Record(database=self.name, name=ref.name, subject=ref.subject, signal=signal, fs=fs,
                      leads=[lead.upper() for lead in leads], path=ref.path, labels=ref.labels,
                      meta=dict(ref.meta))
