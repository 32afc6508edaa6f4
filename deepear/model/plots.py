"""PNG plots for run folders: confusion matrices, training curves, accuracy vs SNR.

matplotlib's Agg canvas only (no pyplot state, no display needed). Every PNG is written atomically: a temp
file in the same folder, then os.replace, so a crash never leaves a half-written plot over a good one.
RBM reconstruction errors are plotted by deepear.model.rbm.plot_recon_errors.
"""
from __future__ import annotations

from deepear.atomic import atomic_write

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from deepear.errors import DataError
from deepear.model.metrics import CONDITIONS, task_title

__all__ = ["plot_confusion", "plot_noise_curves", "plot_training_curves", "save_figure"]


def _figure(width: float, height: float, ncols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Write a matplotlib Figure as PNG to `path` atomically (parent created). Returns the path."""
    out = Path(path)
    atomic_write(out, lambda f: fig.savefig(f, format="png"))
    return out


def plot_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str], title: str,
                   path: str | os.PathLike) -> Path:
    """Confusion matrix PNG: colours are row-normalised (recall per true class), cells show counts.

    Args: confusion C x C counts (rows = true, cols = predicted); labels C names; title; path of the PNG.
    Readable up to ~30 classes: the figure grows with C, fonts shrink, zero cells are left blank when C > 12.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    names = [str(x) for x in labels]
    c = len(names)
    if cm.ndim != 2 or cm.shape != (c, c) or c == 0:
        raise DataError(f"plot_confusion: confusion must be {c} x {c} for {c} labels, got shape {cm.shape}")
    if not np.isfinite(cm).all() or (cm < 0).any():
        raise DataError("plot_confusion: confusion must hold finite counts >= 0")
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    side = float(np.clip(2.0 + 0.42 * c, 4.5, 16.0))
    fig, (ax,) = _figure(side + 1.2, side)
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    tick_fs = 10 if c <= 10 else (8 if c <= 20 else 6.5)
    cell_fs = 10 if c <= 10 else (7 if c <= 20 else 5.5)
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.set_xticklabels(names, rotation=90 if c > 6 else 45, ha="center" if c > 6 else "right", fontsize=tick_fs)
    ax.set_yticklabels(names, fontsize=tick_fs)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    n = int(cm.sum())
    acc = float(np.trace(cm) / n) if n else float("nan")
    title = textwrap.fill(task_title(title), width=max(30, int(side * 9)))
    ax.set_title(f"{title}\n(n={n}, accuracy {acc:.1%})" if n else title, fontsize=11)
    for i in range(c):
        for j in range(c):
            k = int(round(cm[i, j]))
            if k == 0 and c > 12:
                continue
            ax.text(j, i, str(k), ha="center", va="center", fontsize=cell_fs,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_training_curves(history: Sequence[Mapping[str, float]], path: str | os.PathLike) -> Path:
    """Training curves PNG, two panels: train/val loss per epoch, and validation accuracy per task.

    Args: history one dict per epoch with "epoch", "train_loss", "val_loss" and "val_acc_<task>" keys
          (missing or None values are skipped); path of the PNG.
    """
    if not history:
        raise DataError("plot_training_curves: history is empty")
    for i, h in enumerate(history):
        if "epoch" not in h:
            raise DataError(f"plot_training_curves: history[{i}] has no 'epoch' key (keys: {sorted(h)})")
    epochs = np.array([float(h["epoch"]) for h in history])

    def series(key: str) -> np.ndarray:
        return np.array([math.nan if h.get(key) is None else float(h[key]) for h in history])

    tasks = sorted({k[len("val_acc_"):] for h in history for k in h if k.startswith("val_acc_")})
    fig, (ax_loss, ax_acc) = _figure(11.0, 4.2, ncols=2)
    marker = "o" if len(history) <= 40 else None
    for key, style in (("train_loss", "-"), ("val_loss", "--")):
        y = series(key)
        if np.isfinite(y).any():
            ax_loss.plot(epochs, y, style, marker=marker, label=key.replace("_", " "))
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("loss")
    ax_loss.grid(True, alpha=0.3)
    if ax_loss.lines:
        ax_loss.legend()
    for t in tasks:
        y = series(f"val_acc_{t}")
        if np.isfinite(y).any():
            ax_acc.plot(epochs, y, marker=marker, label=task_title(t))
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("validation accuracy")
    ax_acc.set_title("validation accuracy per task")
    ax_acc.grid(True, alpha=0.3)
    if ax_acc.lines:
        ax_acc.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_noise_curves(results: Mapping[str, Mapping[str, float]], path: str | os.PathLike,
                      title: str = "Accuracy vs SNR") -> Path:
    """Noise-robustness PNG: accuracy per test condition, one line per system.

    Args: results[system][condition] = accuracy (0..1), condition in {"clean", "20", "10", "5", "0"}
          (x axis: clean, then decreasing SNR in dB; a missing condition leaves a gap); path; title.
    """
    if not results:
        raise DataError("plot_noise_curves: results is empty")
    for system, conds in results.items():
        unknown = sorted(set(conds) - set(CONDITIONS))
        if unknown:
            raise DataError(f"plot_noise_curves: system {system!r} has unknown conditions {unknown}; "
                            f"expected some of {list(CONDITIONS)}")
    fig, (ax,) = _figure(7.0, 4.5)
    x = np.arange(len(CONDITIONS))
    top = 0.0
    for system, conds in results.items():
        y = np.array([math.nan if conds.get(c) is None else float(conds[c]) for c in CONDITIONS])
        if np.isfinite(y).any():
            top = max(top, float(np.nanmax(y)))
        ax.plot(x, y, marker="o", label=task_title(system))
    ax.set_xticks(x)
    ax.set_xticklabels(["clean"] + [f"{c} dB" for c in CONDITIONS[1:]])
    ax.set_xlabel("test condition (SNR of held-out noise)")
    ax.set_ylabel("accuracy")
    if top <= 1.0:
        ax.set_ylim(0.0, 1.02)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return save_figure(fig, path)

