"""Noise stress test, AAMI EC57 style: VEB and SVEB Se/+P against signal-to-noise ratio, for a population model and
the same model personalized, and how often the poor-signal flag fires.

    python benchmarks/noise_stress.py --data DIR [--model beatnet-mitdb-svdb] [--records 200,233] \
        [--out benchmarks/results/noise_stress.json]

DIR is ../shared/data unpacked (mitdb/ and nstdb/). Two parts:

- **NSTDB's own records** ``118e24``, ``118e12``, ``118e00``, ``118e_6``: MIT-BIH 118 with electrode-motion noise.
  118 is a DS1 record, so a DS1-trained population model has seen its clean beats: a robustness figure, not an unseen
  patient's.
- **DS2 records with NSTDB's ``bw`` (baseline wander) and ``ma`` (muscle artefact) noise** added at SNR 24, 18, 12, 6
  and 0 dB, by WFDB ``nst``'s recipe: the first 5 minutes clean, then noise in alternate 2-minute periods; the noise
  gain set so that S/N is the SNR, with S = A^2 / 8 for A the trimmed mean (5 % off each end) of the reference beats'
  peak-to-peak QRS amplitudes (a window of 50 ms either side of the annotation) and N the trimmed mean of the noise's
  mean square over 1-s windows (its mean removed); lead 0 gets noise channel 0, lead 1 channel 1.

Scored: the annotated beats inside the noisy periods (the same beats at every SNR). The personalized model is adapted
once per record, by ``ecgadapt personalize``'s path (finetune behind the guard) on the first 5 minutes, which nst leaves
clean: the model kept (personalized or population) then reads each noisy version. The poor-signal flag is that of
detected beats (``--beats detected``: R-peak detectors disagree), counted over the detected beats in the noisy periods.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import wfdb

from ecgadapt._atomic import atomic_write_json
from ecgadapt._progress import progress_bar
from ecgadapt.data.nstdb import snr_db
from ecgadapt.evaluation import confusion, from_confusion
from ecgadapt.models.io import load_checkpoint
from ecgadapt.personalize.base import predict_beats
from ecgadapt.pipeline.personalize import load_patient, personalize_record
from ecgadapt.population.shipped import resolve_model
from ecgadapt.protocols import DS2

SNRS = (24, 18, 12, 6, 0)
NOISES = ("bw", "ma")
CLEAN_S, PERIOD_S = 300.0, 120.0  # nst's standard protocol


def noisy_periods(n_samples: int, fs: float) -> np.ndarray:
    """True where nst's standard protocol adds noise: after a clean 5-minute learning period, alternate 2-minute
    periods, noisy first."""
    t = np.arange(n_samples) / fs
    return (t >= CLEAN_S) & (((t - CLEAN_S) // PERIOD_S) % 2 == 0)


def _trimmed_mean(x: np.ndarray, cut: float = 0.05) -> float:
    x = np.sort(np.asarray(x, dtype=float))
    k = int(len(x) * cut)
    return float(x[k:len(x) - k].mean()) if len(x) > 2 * k else float(x.mean())


def signal_power(lead: np.ndarray, beats: np.ndarray, fs: float) -> float:
    """nst's S: (trimmed mean peak-to-peak QRS amplitude)^2 / 8."""
    half = int(round(0.05 * fs))
    amplitudes = [np.ptp(lead[max(0, b - half):b + half + 1]) for b in beats]
    return _trimmed_mean(amplitudes) ** 2 / 8.0


def noise_power(noise: np.ndarray, fs: float) -> float:
    """nst's N: the trimmed mean, over 1-s windows, of the noise's mean square with its mean removed."""
    w = int(fs)
    windows = noise[: len(noise) // w * w].reshape(-1, w)
    return _trimmed_mean(((windows - windows.mean(axis=1, keepdims=True)) ** 2).mean(axis=1))


def add_noise(signal: np.ndarray, noise: np.ndarray, beats: np.ndarray, fs: float, snr: float) -> np.ndarray:
    """``signal`` [samples, leads] with ``noise`` [samples, channels] added in nst's noisy periods at ``snr`` dB."""
    on = noisy_periods(len(signal), fs)
    out = signal.copy()
    for k in range(signal.shape[1]):
        n = noise[: len(signal), k % noise.shape[1]]
        gain = np.sqrt(signal_power(signal[:, k], beats, fs) / (noise_power(n, fs) * 10 ** (snr / 10)))
        out[on, k] += gain * (n[on] - n.mean())
    return out


def scores(model, patient, mask: np.ndarray) -> np.ndarray:
    y = patient.beats.y[mask]
    pred = predict_beats(model, patient.beats.subset(np.flatnonzero(mask))).argmax(1)
    ok = y >= 0
    return confusion(y[ok], pred[ok])


def summary(cm: np.ndarray) -> dict:
    m = from_confusion(cm)
    return {"veb_se": m["V"]["se"], "veb_ppv": m["V"]["ppv"], "sveb_se": m["S"]["se"], "sveb_ppv": m["S"]["ppv"],
            "accuracy": m["accuracy"], "beats": int(cm.sum())}


def flag_rate(path: Path, meta: dict) -> tuple[int, int]:
    """(detected beats in the noisy periods flagged as poor signal, detected beats there)."""
    patient = load_patient(path, meta, beats="detected")
    on = noisy_periods(patient.record.n_samples, patient.record.fs)[patient.sample]
    return int(patient.poor_signal[on].sum()), int(on.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--model", default="beatnet-mitdb-svdb")
    ap.add_argument("--records", default=",".join(DS2))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/noise_stress.json"))
    args = ap.parse_args()
    model_path = resolve_model(args.model)
    population, meta = load_checkpoint(model_path)
    records = args.records.split(",")
    noises = {n: wfdb.rdrecord(str(args.data / "nstdb" / n)).p_signal for n in NOISES}
    result: dict = {"model": str(args.model), "records": records, "snr_db": list(SNRS), "nstdb": {}, "added": {}}
    with tempfile.TemporaryDirectory() as tmp, progress_bar(True, "noise stress", len(records) + 4) as advance:
        tmp = Path(tmp)
        for name in ("118e24", "118e12", "118e00", "118e_6"):
            path = args.data / "nstdb" / name
            patient = load_patient(path, meta, beats="annotated")
            on = noisy_periods(patient.record.n_samples, patient.record.fs)[patient.sample]
            flagged, detected = flag_rate(path, meta)
            result["nstdb"][name] = {"snr_db": snr_db(name), "population": summary(scores(population, patient, on)),
                                     "poor_signal_flagged": flagged, "detected_beats": detected}
            advance(name)
        pooled = {(who, noise, snr): np.zeros((5, 5), dtype=np.int64) for who in ("population", "personalized")
                  for noise in NOISES for snr in (None, *SNRS)}
        flags = {(noise, snr): [0, 0] for noise in NOISES for snr in (None, *SNRS)}
        for name in records:
            clean_path = args.data / "mitdb" / name
            kept = personalize_record(model_path, clean_path, tmp / "p" / name, labelled_minutes=5,
                                      method="finetune").model
            rec = wfdb.rdrecord(str(clean_path))
            ann = wfdb.rdann(str(clean_path), "atr")
            beats = ann.sample[np.isin(ann.symbol, list("NLRejBAaJSVEF/fQ"))]
            per_record = {}
            for noise in NOISES:
                for snr in (None, *SNRS):
                    if snr is None:
                        path = clean_path
                    else:
                        signal = add_noise(rec.p_signal, noises[noise], beats, rec.fs, snr)
                        path = tmp / f"{name}_{noise}{snr}"
                        wfdb.wrsamp(path.name, fs=rec.fs, units=rec.units, sig_name=rec.sig_name, p_signal=signal,
                                    fmt=["16"] * signal.shape[1], adc_gain=[400.0] * signal.shape[1],
                                    baseline=[0] * signal.shape[1], write_dir=str(tmp))
                        wfdb.wrann(path.name, "atr", ann.sample, symbol=ann.symbol, aux_note=ann.aux_note,
                                   write_dir=str(tmp))
                    patient = load_patient(path, meta, beats="annotated")
                    on = noisy_periods(patient.record.n_samples, patient.record.fs)[patient.sample]
                    cms = {"population": scores(population, patient, on), "personalized": scores(kept, patient, on)}
                    f = flag_rate(path, meta)
                    for who, cm in cms.items():
                        pooled[(who, noise, snr)] += cm
                    flags[(noise, snr)][0] += f[0]
                    flags[(noise, snr)][1] += f[1]
                    per_record[f"{noise} {'clean' if snr is None else snr}"] = {
                        who: summary(cm) for who, cm in cms.items()} | {"poor_signal_flagged": f[0],
                                                                         "detected_beats": f[1]}
            result["added"][name] = per_record
            advance(name)
        result["pooled"] = [{"noise": noise, "snr_db": snr, "who": who, **summary(pooled[(who, noise, snr)]),
                             "poor_signal_flagged": flags[(noise, snr)][0], "detected_beats": flags[(noise, snr)][1]}
                            for noise in NOISES for snr in (None, *SNRS) for who in ("population", "personalized")]
    atomic_write_json(args.out, result)
    for row in result["pooled"]:
        print(row)


if __name__ == "__main__":
    main()
