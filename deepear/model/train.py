"""Supervised fine-tuning of the multi-task DNN: a plain, readable loop with early stopping and resume.

    result = fit(model, train, val, spec, task_weights, seed=0, checkpoint=save, resume=state)

Batches mix corpora and tasks; the loss (deepear.model.losses) ignores missing labels. Class imbalance is
handled with inverse-frequency class weights per task (normalised to mean 1 over present classes). Early
stopping watches the mean over tasks of validation accuracy (window level, clean and noisy windows together;
the clean windows' accuracy is logged too, as val_clean_acc_<task>); the best epoch's weights are
restored at the end. With `spec.ema_epochs > 0` the weights validated, kept and restored are an exponential
moving average of the trained weights (torch.optim.swa_utils, updated after every step, time constant
`ema_epochs` epochs): the raw weights jump by a few points of validation accuracy from epoch to epoch, so
early stopping on them picks lucky epochs; the average does not. Every random draw (init, shuffles,
dropout) comes from the seed: dropout uses torch's global generator, so the loop runs inside
`torch.random.fork_rng` and leaves the caller's state untouched.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch

from deepear.data.windows import WindowSet
from deepear.errors import ConfigError
from deepear.model.dnn import MultiTaskDNN
from deepear.model.losses import masked_multitask_loss
from deepear.recipe import TrainSpec

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    history: list[dict[str, Any]]   # one record per epoch
    best_epoch: int
    best_score: float
    seconds: float


def class_weights(y: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights (n_classes,) for labels y (-1 ignored), mean 1 over present classes."""
    y = y[y >= 0]
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.zeros(n_classes)
    present = counts > 0
    w[present] = 1.0 / counts[present]
    if present.any():
        w[present] /= w[present].mean()
    return torch.tensor(w, dtype=torch.float32)


@torch.no_grad()
def predict_log_proba(model: MultiTaskDNN, x: np.ndarray, batch_size: int = 4096) -> dict[str, np.ndarray]:
    """{task: (N, n_classes) log-probabilities} for raw window vectors x (N, input_dim)."""
    model.eval()
    out: dict[str, list[np.ndarray]] = {t: [] for t in model.task_names}
    for i in range(0, len(x), batch_size):
        logits = model(torch.as_tensor(x[i:i + batch_size], dtype=torch.float32))
        for t, v in logits.items():
            out[t].append(torch.log_softmax(v, dim=1).numpy())
    return {t: (np.concatenate(v) if v else np.zeros((0, model.tasks[t]), np.float32)) for t, v in out.items()}


def window_accuracy(model: MultiTaskDNN, data: WindowSet) -> dict[str, float]:
    """Per-task accuracy over the windows labelled for that task (tasks without labels are absent)."""
    return validation_accuracy(model, data)[0]


def validation_accuracy(model: MultiTaskDNN, data: WindowSet) -> tuple[dict[str, float], dict[str, float]]:
    """Per-task window accuracy over all of `data` and over its clean windows only (condition "clean").

    The validation set mixes clean and noisy windows like the training data; the clean-only numbers are
    logged beside the mixed ones so a choice that trades clean accuracy for noisy accuracy shows when it is made.
    Tasks without labels (or without clean labelled windows) are absent from the respective dict.
    """
    if len(data) == 0:
        return {}, {}
    lp = predict_log_proba(model, data.x)
    clean = np.asarray(data.condition == "clean", dtype=bool)
    acc: dict[str, float] = {}
    acc_clean: dict[str, float] = {}
    for j, t in enumerate(data.tasks):
        if t not in lp:
            continue
        m = data.y[:, j] >= 0
        hit = lp[t].argmax(1) == data.y[:, j]
        if m.any():
            acc[t] = float(hit[m].mean())
        if (m & clean).any():
            acc_clean[t] = float(hit[m & clean].mean())
    return acc, acc_clean


def fit(model: MultiTaskDNN, train: WindowSet, val: WindowSet, spec: TrainSpec,
        task_weights: Mapping[str, float], seed: int,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        checkpoint: Callable[[dict[str, Any]], None] | None = None,
        resume: dict[str, Any] | None = None, score_tasks: list[str] | None = None) -> FitResult:
    """Train `model` in place on `train`, early-stopping on `val`; returns the per-epoch history.

    The early-stopping score is the mean validation accuracy over `score_tasks` (default: every task
    with validation labels). Pass the tasks a protocol run tests: e.g. in an actor-held-out run the
    validation actors are unknown speakers, so speaker accuracy there is meaningless.

    checkpoint(state) is called after every epoch with everything needed to resume (pass it back as
    `resume`): model and optimiser states, best weights, epoch, history, generator state.
    """
    t0 = time.perf_counter()
    tasks = model.task_names
    cols = [train.tasks.index(t) for t in tasks]
    x = torch.as_tensor(train.x, dtype=torch.float32)
    y = torch.as_tensor(train.y[:, cols], dtype=torch.int64)
    cw = {t: class_weights(train.y[:, c], model.tasks[t]) for t, c in zip(tasks, cols)} if spec.class_balance else None
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    n = len(train)
    ema = _ema_model(model, spec, n)
    evaluated = ema.module if ema is not None else model    # the weights validated, kept and restored
    gen = torch.Generator().manual_seed(int(seed))
    history: list[dict[str, Any]] = []
    best = {"score": -1.0, "epoch": 0, "state": copy.deepcopy(model.state_dict())}
    start = 1
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        if ema is not None:
            if resume.get("ema") is None:
                raise ConfigError("resume: the checkpoint has no weight average but train.ema_epochs > 0; resume "
                                  "with the ema_epochs it was trained with, or train again from the start")
            ema.load_state_dict(resume["ema"])
        gen.set_state(resume["generator"])
        history = list(resume["history"])
        best = {"score": resume["best_score"], "epoch": resume["best_epoch"], "state": resume["best_state"]}
        start = int(resume["epoch"]) + 1
        log.info("resuming at epoch %d (best %.4f at epoch %d)", start, best["score"], best["epoch"])
    with torch.random.fork_rng(devices=[]):
        for epoch in range(start, spec.epochs + 1):
            if epoch - best["epoch"] > spec.patience and best["epoch"] > 0:
                break
            torch.manual_seed(int(torch.randint(0, 2 ** 31 - 1, (1,), generator=gen)))  # dropout, this epoch
            model.train()
            order = torch.randperm(n, generator=gen)
            total, batches = 0.0, 0
            for i in range(0, n, spec.batch_size):
                b = order[i:i + spec.batch_size]
                loss = masked_multitask_loss(model(x[b]), y[b], task_weights, cw)
                opt.zero_grad(set_to_none=True)
                loss.total.backward()
                opt.step()
                if ema is not None:
                    ema.update_parameters(model)
                total += float(loss.total.detach())
                batches += 1
            val_loss = _loss(evaluated, val, tasks, task_weights, cw)
            acc, acc_clean = validation_accuracy(evaluated, val)
            scored = [a for t, a in acc.items() if score_tasks is None or t in score_tasks]
            score = float(np.mean(scored)) if scored else -val_loss
            rec = {"epoch": epoch, "train_loss": total / max(1, batches), "val_loss": val_loss,
                   **{f"val_acc_{t}": a for t, a in acc.items()},
                   **{f"val_clean_acc_{t}": a for t, a in acc_clean.items()}, "val_score": score,
                   "seconds": time.perf_counter() - t0}
            if score > best["score"]:
                best = {"score": score, "epoch": epoch, "state": copy.deepcopy(evaluated.state_dict())}
            history.append(rec)
            log.info("epoch %d: train %.4f val %.4f score %.4f", epoch, rec["train_loss"], val_loss, score)
            if on_epoch:
                on_epoch(rec)
            if checkpoint:
                checkpoint({"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
                            "history": history, "epoch": epoch, "best_score": best["score"],
                            "best_epoch": best["epoch"], "best_state": best["state"],
                            "ema": ema.state_dict() if ema is not None else None})
    model.load_state_dict(best["state"])
    return FitResult(history=history, best_epoch=best["epoch"], best_score=best["score"],
                     seconds=time.perf_counter() - t0)


def ema_decay(ema_epochs: float, n_train: int, batch_size: int) -> float:
    """Per-step decay of a weight average with a time constant of `ema_epochs` epochs (steps of `batch_size`
    over `n_train` windows): exp(-1 / (ema_epochs * steps_per_epoch))."""
    steps = max(1, -(-n_train // batch_size))
    return float(np.exp(-1.0 / (ema_epochs * steps)))


def _ema_model(model: MultiTaskDNN, spec: TrainSpec, n_train: int) -> torch.optim.swa_utils.AveragedModel | None:
    if spec.ema_epochs <= 0:
        return None
    decay = ema_decay(spec.ema_epochs, n_train, spec.batch_size)
    # use_buffers: the input normalisation buffers travel with the average (they are constant while training)
    return torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(decay), use_buffers=True)


@torch.no_grad()
def _loss(model: MultiTaskDNN, data: WindowSet, tasks: list[str], task_weights: Mapping[str, float],
          cw: Mapping[str, torch.Tensor] | None) -> float:
    if len(data) == 0:
        return float("nan")
    model.eval()
    cols = [data.tasks.index(t) for t in tasks]
    out = masked_multitask_loss(model(torch.as_tensor(data.x)), torch.as_tensor(data.y[:, cols]), task_weights, cw)
    return float(out.total)
