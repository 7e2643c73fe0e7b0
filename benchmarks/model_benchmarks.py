"""Training and inference throughput of every registered model, fp32 vs bf16 autocast, on this CPU.

    python benchmarks/model_benchmarks.py [--out benchmarks/results/model_benchmarks.json]

Input: random [batch, 1, 1000] tensors (10 s at 100 Hz, the transfer study's input; beatnet: 252-sample beat
windows with RR features). Throughput only; accuracy under bf16 is measured by ``bf16_accuracy.py``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from ecgadapt._atomic import atomic_write_json
from ecgadapt.models import create_model, list_models


def throughput(name: str, bf16: bool, train: bool, batch: int = 64, steps: int = 5) -> float:
    torch.manual_seed(0)
    model = create_model(name, in_leads=1, num_classes=4)
    length = 252 if name == "beatnet" else 1000
    x = torch.randn(batch, 1, length)
    extra = {"rr": torch.rand(batch, 4) + 0.5} if name == "beatnet" else {}
    y = torch.randint(0, 4, (batch,))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train(train)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if train:
                loss = torch.nn.functional.cross_entropy(model(x, **extra).float(), y)
            else:
                with torch.no_grad():
                    model(x, **extra)
                return
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up (oneDNN kernel selection)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benchmarks/results/model_benchmarks.json")
    ap.add_argument("--models", nargs="*", default=None)
    args = ap.parse_args()
    rows = []
    for name in args.models or list_models():
        row = {"model": name, "params": sum(p.numel() for p in create_model(name, 1, 4).parameters())}
        for bf16 in (False, True):
            tag = "bf16" if bf16 else "fp32"
            row[f"train_{tag}_samples_per_s"] = round(throughput(name, bf16, True), 1)
            row[f"infer_{tag}_samples_per_s"] = round(throughput(name, bf16, False, batch=256), 1)
        row["train_bf16_speedup"] = round(row["train_bf16_samples_per_s"] / row["train_fp32_samples_per_s"], 2)
        print(json.dumps(row), flush=True)
        rows.append(row)
    atomic_write_json(args.out, {"threads": torch.get_num_threads(), "torch": torch.__version__,
                                 "machine": platform.processor() or platform.machine(), "rows": rows})


if __name__ == "__main__":
    main()
