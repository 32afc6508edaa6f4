"""Masked multi-task cross-entropy: every clip carries labels for some tasks only (label -1 = missing).

A batch mixes corpora (RAVDESS: emotion, stress, speaker; ESC: scene), so each task's loss is averaged over
the examples labelled for that task only; a task with no labelled example in the batch contributes exactly 0
(finite, zero gradient), never NaN. With class weights the average is the weighted mean used by
`torch.nn.functional.cross_entropy(weight=...)`: sum_i w[y_i] * nll_i / sum_i w[y_i].

    total = sum_t task_weight[t] * loss[t]
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from deepear.errors import ConfigError, DataError

MISSING = -1   # label value meaning "this clip has no label for this task"


@dataclass
class MultiTaskLoss:
    """Result of `masked_multitask_loss`.

    total: scalar tensor to backpropagate (sum of weighted per-task losses).
    per_task: {task: scalar tensor}, unweighted mean loss over the task's labelled examples (0 if none).
    counts: {task: number of labelled examples in the batch}.
    """

    total: torch.Tensor
    per_task: dict[str, torch.Tensor]
    counts: dict[str, int]


def labels_by_task(labels: torch.Tensor | Mapping[str, torch.Tensor], tasks: Sequence[str],
                   batch_size: int) -> dict[str, torch.Tensor]:
    """Normalise labels to {task: (B,) int64}, -1 = missing.

    Args:
        labels: (B, n_tasks) int64 with columns in `tasks` order, or {task: (B,) int64}; a task absent
            from the mapping is treated as all-missing, a key that is not a task raises DataError.
        tasks: task names in order.
        batch_size: B.
    """
    if isinstance(labels, torch.Tensor):
        if labels.ndim != 2 or labels.shape != (batch_size, len(tasks)):
            raise DataError(f"labels: expected shape ({batch_size}, {len(tasks)}) (columns {list(tasks)}), "
                            f"got {tuple(labels.shape)}")
        cols = {t: labels[:, j] for j, t in enumerate(tasks)}
    elif isinstance(labels, Mapping):
        unknown = sorted(set(labels) - set(tasks))
        if unknown:
            raise DataError(f"labels: unknown task(s) {unknown}; the model's tasks are {list(tasks)}")
        cols = {}
        for t in tasks:
            if t in labels:
                v = torch.as_tensor(labels[t])
                if v.shape != (batch_size,):
                    raise DataError(f"labels[{t!r}]: expected shape ({batch_size},), got {tuple(v.shape)}")
                cols[t] = v
    else:
        raise DataError(f"labels: expected a tensor or a mapping task -> tensor, got {type(labels).__name__}")
    out = {}
    for t, v in cols.items():
        if v.dtype.is_floating_point or v.dtype == torch.bool or v.is_complex():
            raise DataError(f"labels[{t!r}]: expected integer class indices (-1 = missing), got dtype {v.dtype}")
        out[t] = v.long()
    return out


def masked_multitask_loss(logits: Mapping[str, torch.Tensor],
                          labels: torch.Tensor | Mapping[str, torch.Tensor],
                          task_weights: Mapping[str, float] | None = None,
                          class_weights: Mapping[str, torch.Tensor] | None = None,
                          label_smoothing: float = 0.0) -> MultiTaskLoss:
    """Cross-entropy per task over labelled examples only, weighted and summed over tasks.

    Args:
        logits: {task: (B, n_classes)} as returned by `MultiTaskDNN.forward` (its key order is the column
            order of a label tensor).
        labels: (B, n_tasks) int64 or {task: (B,) int64}; -1 = missing (see `labels_by_task`).
        task_weights: {task: weight >= 0}; tasks not named weigh 1.0.
        class_weights: {task: (n_classes,) float >= 0} against class imbalance; tasks not named are unweighted.
        label_smoothing: passed to cross_entropy, in [0, 1).
    Returns: MultiTaskLoss(total, per_task, counts). Raises DataError on a label outside -1..n_classes-1.
    """
    tasks = list(logits)
    if not tasks:
        raise ConfigError("masked_multitask_loss: no tasks in logits")
    batch = next(iter(logits.values())).shape[0]
    cols = labels_by_task(labels, tasks, batch)
    task_weights = dict(task_weights or {})
    class_weights = dict(class_weights or {})
    for name, d in (("task_weights", task_weights), ("class_weights", class_weights)):
        unknown = sorted(set(d) - set(tasks))
        if unknown:
            raise ConfigError(f"masked_multitask_loss {name}: unknown task(s) {unknown}; tasks are {tasks}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ConfigError(f"masked_multitask_loss label_smoothing: must be in [0, 1), got {label_smoothing}")

    total = None
    per_task: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for t in tasks:
        z = logits[t]
        if z.ndim != 2 or z.shape[0] != batch:
            raise DataError(f"logits[{t!r}]: expected ({batch}, n_classes), got {tuple(z.shape)}")
        n_classes = z.shape[1]
        y = cols.get(t)
        if y is None:
            y = torch.full((batch,), MISSING, dtype=torch.long, device=z.device)
        y = y.to(z.device)
        bad = (y < MISSING) | (y >= n_classes)
        if bool(bad.any()):
            v = int(y[bad][0])
            raise DataError(f"labels[{t!r}]: class index {v} outside 0..{n_classes - 1} (or -1 = missing)")
        mask = y != MISSING
        counts[t] = int(mask.sum())
        w = class_weights.get(t)
        if w is not None:
            w = torch.as_tensor(w, dtype=z.dtype, device=z.device)
            if w.shape != (n_classes,) or bool((w < 0).any()) or not bool(torch.isfinite(w).all()):
                raise ConfigError(f"class_weights[{t!r}]: need {n_classes} finite values >= 0, got {tuple(w.shape)}")
        # reduction="none" gives 0 (and zero gradient) at ignored positions; the mean is taken by hand so
        # that an all-missing task gives 0 instead of 0/0.
        nll = F.cross_entropy(z, y, weight=w, ignore_index=MISSING, reduction="none",
                              label_smoothing=label_smoothing)
        if w is None:
            denom = mask.sum().to(z.dtype)
        else:
            denom = (w[y.clamp_min(0)] * mask.to(z.dtype)).sum()
        loss = nll.sum() / denom.clamp_min(torch.finfo(z.dtype).tiny) if counts[t] else nll.sum() * 0.0
        per_task[t] = loss
        tw = float(task_weights.get(t, 1.0))
        if tw < 0:
            raise ConfigError(f"task_weights[{t!r}]: must be >= 0, got {tw}")
        total = tw * loss if total is None else total + tw * loss
    assert total is not None
    return MultiTaskLoss(total=total, per_task=per_task, counts=counts)
