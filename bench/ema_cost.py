"""What the weight average (`train.ema_epochs`) costs per fine-tuning epoch, raw weights alongside, one process.

    .venv/bin/python bench/ema_cost.py [--windows 48000] [--epochs 3] [--repeats 2]

The accuracy benchmark's training times come from runs trained at different times on a shared machine whose
speed drifts by tens of percent, so they cannot say what the average costs. This times `fit` on random
window vectors of the recipe's shape (320 inputs, 3 x 512 sigmoid trunk, the five heads, a fold run's ~48,000
windows), alternating ema_epochs 0 and 1 in one process, and prints seconds per epoch (best of the repeats).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deepear.data.windows import WindowSet  # noqa: E402
from deepear.model.dnn import MultiTaskDNN  # noqa: E402
from deepear.model.train import fit  # noqa: E402
from deepear.recipe import TrainSpec  # noqa: E402

HEADS = {"emotion": 5, "stress": 2, "speaker": 30, "scene": 4, "esc10": 10}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=48000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n, tasks = args.windows, tuple(HEADS)
    x = rng.standard_normal((n, 320)).astype(np.float32)
    y = np.stack([rng.integers(0, k, n) for k in HEADS.values()], axis=1)
    data = WindowSet(tasks, x, y, np.arange(n), np.zeros(n, np.int64), np.ones(n, bool),
                     np.array(["clean"] * n, dtype=object))
    val = data.subset(np.arange(min(n, 4000)))
    torch.set_num_threads(2)
    best: dict[float, float] = {}
    for _ in range(args.repeats):
        for ema in (0.0, 1.0):
            model = MultiTaskDNN(320, HEADS, hidden=[512, 512, 512], activation="sigmoid", dropout=0.1,
                                 generator=torch.Generator().manual_seed(0))
            spec = dataclasses.replace(TrainSpec(), epochs=args.epochs, patience=args.epochs, ema_epochs=ema, threads=2)
            t0 = time.perf_counter()
            fit(model, data, val, spec, {t: 1.0 for t in tasks}, seed=0)
            best[ema] = min(best.get(ema, np.inf), (time.perf_counter() - t0) / args.epochs)
    print(f"{n} windows, 2 threads, best of {args.repeats}: raw weights {best[0.0]:.2f} s/epoch, "
          f"with the weight average {best[1.0]:.2f} s/epoch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
