"""Deployment targets of `deepear export --target`: memory limits from the shipped device profiles, fit checks.

    check_fit("watch-m4", flash_bytes=610_000, ram_bytes=90_000, layers=shapes, precision="int8")

A target is one processor of a device profile in deepear/deepx/devices/: its `memory_bytes` bounds what must
be stored (flash: weights + code of the C build; on a DSP its memory), its `ram_bytes`, when the profile has
one, bounds the working memory (the C library's arena + stack). When the model does not fit, the error says
by how much and which compression would make it fit (int8 weights; an SVD rank for the trunk), computed from
the layer shapes, so the user can pick `--int8` / `--max-drop` knowingly.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deepear.errors import ExportError


@dataclass(frozen=True)
class Target:
    name: str          # the --target name
    device: str        # device profile (deepear/deepx/devices/<device>.yaml)
    processor: str     # the processor of that profile the bundle runs on


TARGETS: dict[str, Target] = {
    "watch-m4": Target("watch-m4", "watch_m4", "cortex_m4f"),
    "snapdragon800-dsp": Target("snapdragon800-dsp", "snapdragon800", "hexagon_dsp"),
    "snapdragon800-cpu": Target("snapdragon800-cpu", "snapdragon800", "krait_cpu"),
    "tegrak1-cpu": Target("tegrak1-cpu", "tegrak1", "a15_cpu"),
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ExportError(f"--target {name!r}: unknown target; choose one of {sorted(TARGETS)}")
    return TARGETS[name]


def limits(name: str) -> dict[str, Any]:
    """{"flash_bytes", "ram_bytes" (None when the profile has no separate RAM limit), "description"}."""
    from deepear.deepx.processors import load_device

    t = get_target(name)
    dev = load_device(t.device)
    proc = dev.processor(t.processor)
    return {"target": name, "device": t.device, "processor": t.processor,
            "flash_bytes": int(proc.memory_bytes), "ram_bytes": getattr(proc, "ram_bytes", None),
            "description": proc.description}


def weight_bytes(layers: Sequence[tuple[int, int]], precision: str) -> int:
    """Stored bytes of Linear layers (out, in): fp32 weights + bias, or int8 weights + fp32 scale + int32 bias."""
    if precision == "fp32":
        return sum(4 * (o * i + o) for o, i in layers)
    return sum(o * i + 8 * o + 4 for o, i in layers)


def _svd_layers(trunk: Sequence[tuple[int, int]], rank: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for o, i in trunk:
        if rank * (o + i) < o * i:
            out += [(rank, i), (o, rank)]
        else:
            out.append((o, i))
    return out


def suggestion(trunk: Sequence[tuple[int, int]], heads: Sequence[tuple[int, int]], budget_bytes: int,
               precision: str) -> str:
    """What compression would bring the weights under `budget_bytes` (a sentence for the error message)."""
    tips = []
    if precision == "fp32" and weight_bytes(list(trunk) + list(heads), "int8") <= budget_bytes:
        return (f"int8 weights would fit ({weight_bytes(list(trunk) + list(heads), 'int8'):,} bytes): add --int8")
    for prec in (["fp32", "int8"] if precision == "fp32" else ["int8"]):
        max_rank = max((min(o, i) for o, i in trunk), default=0)
        for r in range(max_rank, 0, -1):
            if weight_bytes(_svd_layers(trunk, r) + list(heads), prec) <= budget_bytes:
                tips.append(f"{'--int8 and ' if prec == 'int8' and precision == 'fp32' else ''}an SVD of every "
                            f"trunk layer to rank <= {r} ({weight_bytes(_svd_layers(trunk, r) + list(heads), prec):,} "
                            f"bytes of {prec} weights): export with --max-drop POINTS (the rank search picks ranks "
                            f"within that validation accuracy budget; check the reported ranks) or retrain a "
                            f"narrower model")
                break
        if tips:
            break
    return tips[0] if tips else "no SVD rank of the trunk fits: train a smaller model (model.hidden in the recipe)"


def check_fit(name: str, flash_bytes: int, ram_bytes: int, trunk: Sequence[tuple[int, int]],
              heads: Sequence[tuple[int, int]], precision: str, code_bytes: int) -> dict[str, Any]:
    """Raise ExportError naming the shortfall and a fix when the build does not fit target `name`.

    Args: flash_bytes/ram_bytes of the C build (weights + code; arena + stack); trunk/heads: (out, in) of the
        shipped Linear layers; precision: "int8" or "fp32" weights in the build; code_bytes: flash besides weights.
    Returns: the limits and the margins, for the manifest.
    """
    lim = limits(name)
    problems = []
    if flash_bytes > lim["flash_bytes"]:
        budget = lim["flash_bytes"] - code_bytes
        problems.append(f"flash: needs {flash_bytes:,} bytes (weights + code), the target has {lim['flash_bytes']:,} "
                        f"(short by {flash_bytes - lim['flash_bytes']:,}); "
                        + suggestion(trunk, heads, budget, precision))
    if lim["ram_bytes"] is not None and ram_bytes > lim["ram_bytes"]:
        problems.append(f"RAM: needs {ram_bytes:,} bytes (arena + stack), the target has {lim['ram_bytes']:,} "
                        f"(short by {ram_bytes - lim['ram_bytes']:,}); the arena is dominated by the longest task "
                        f"window's frame buffer: shorten the speech windows or use fewer mel bands")
    if problems:
        raise ExportError(f"the model does not fit --target {name} ({lim['description']}): " + "; ".join(problems))
    return {**lim, "flash_used_bytes": int(flash_bytes), "ram_used_bytes": int(ram_bytes), "fits": True}
