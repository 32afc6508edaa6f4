"""DeepX DAD planner: MILP solve time versus the number of unit blocks (target: 50 blocks x 3 processors < 1 s).

    python bench/partition_solve.py [--device snapdragon800] [--repeats 3] [--write]

Model: a DeepEar-size MultiTaskDNN (224 -> 512 x 3, heads emotion 5 / stress 2 / speaker 23 / scene 4; random
weights: the planner needs shapes only). The layers are cut into more and more column slices; for each block
count the exact plan is solved (alpha = beta = 1: joules + seconds) with one option per layer ("full") and
with three RLC options per layer (full, SVD at 1/4 and 1/8 of the break-even rank, made-up accuracy costs,
budget 1.5 points). Solve time is the median wall time of `plan()` over the repeats (it includes building the
integer program). The processors come from deepear/deepx/devices/<device>.yaml. --write also stores the table
as the `partition_solve` section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from deepear.deepx.partition import FULL, LayerOption, plan, unit_blocks  # noqa: E402
from deepear.deepx.processors import load_device  # noqa: E402
from deepear.model.dnn import MultiTaskDNN  # noqa: E402

TASKS = {"emotion": 5, "stress": 2, "speaker": 23, "scene": 4}
BLOCK_COUNTS = (7, 10, 20, 30, 50, 75, 100)


def slices_for(model: MultiTaskDNN, n_blocks: int) -> dict[str, int]:
    """Column slices per layer giving exactly n_blocks blocks (>= one per layer): extra blocks go to the widest
    layers first, round robin over the trunk, then to the heads."""
    layers = [n for n, _ in model.linear_layers()]
    width = {n: m.out_features for n, m in model.linear_layers()}
    s = {n: 1 for n in layers}
    extra = n_blocks - len(layers)
    if extra < 0:
        raise SystemExit(f"need at least {len(layers)} blocks")
    order = sorted(layers, key=lambda n: -width[n])
    while extra > 0:
        grew = False
        for n in order:
            if extra and s[n] < width[n]:
                s[n] += 1
                extra -= 1
                grew = True
        if not grew:
            raise SystemExit(f"cannot cut the model into {n_blocks} blocks")
    return s


def rlc_options(model: MultiTaskDNN) -> dict[str, list[LayerOption]]:
    """Three options per layer: full and two SVD ranks (1/4, 1/8 of the break-even rank), with invented
    accuracy costs (points) that grow as the rank shrinks."""
    out = {}
    for name, lin in model.linear_layers():
        m, n = lin.out_features, lin.in_features
        even = m * n // (m + n)
        ranks = sorted({max(1, even // 4), max(1, even // 8)}, reverse=True)
        out[name] = [FULL] + [LayerOption(f"svd{k}", rank=k, accuracy_cost=round(0.15 * (even / k) ** 0.5, 3))
                              for k in ranks]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="snapdragon800")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="write the table into docs/benchmarks.md")
    args = ap.parse_args(argv)

    device = load_device(args.device)
    procs = device.processors
    model = MultiTaskDNN(224, TASKS, hidden=(512, 512, 512), generator=torch.Generator().manual_seed(0))
    opts = rlc_options(model)
    rows = []
    header = (f"| blocks | options/layer | solve s (median of {args.repeats}) | status | latency ms | energy mJ | "
              f"processors used |")
    print(f"device {device.name}: {', '.join(p.name for p in procs)}")
    print(header)
    print("|---:|---:|---:|---|---:|---:|---|")
    for n_blocks in BLOCK_COUNTS:
        s = slices_for(model, n_blocks)
        for with_opts in (False, True):
            blocks = unit_blocks(model, slices=s, options=opts if with_opts else None)
            assert len(blocks) == n_blocks
            times, p = [], None
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                p = plan(blocks, procs, 1.0, 1.0, accuracy_budget=1.5 if with_opts else None)
                times.append(time.perf_counter() - t0)
            used = sorted({v for v in p.assignment.values()})
            row = (f"| {n_blocks} | {3 if with_opts else 1} | {statistics.median(times):.3f} | {p.status} | "
                   f"{p.latency_s * 1e3:.2f} | {p.energy_j * 1e3:.2f} | {', '.join(used)} |")
            rows.append(row)
            print(row, flush=True)
    if args.write:
        from bench.report import write_section
        body = (f"### DeepX planner: solve time vs unit blocks ({device.name}, {len(procs)} processors)\n\n"
                f"Exact MILP (scipy.optimize.milp / HiGHS), alpha = beta = 1 (J + s); a 224-512x3 model with four "
                f"heads cut into column slices; with 3 options per layer the planner also picks an SVD rank per "
                f"layer under a 1.5-point accuracy budget. Target: 50 blocks x 3 processors in < 1 s.\n\n"
                + header + "\n|---:|---:|---:|---|---:|---:|---|\n" + "\n".join(rows))
        write_section("partition_solve", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
