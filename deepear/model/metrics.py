"""Evaluation numbers: window -> clip aggregation, per-task classification reports, fold means with 95% CIs.

numpy + scikit-learn only (no torch), so bundles and bench scripts can use it too.

    clips, clip_lp = aggregate_by_clip(window_log_probs, window_clip_ids)       # (M,), (M, C)
    report = classification_report(y_clip, clip_lp.argmax(1), labels)          # accuracy, macro_f1, confusion
    mean, half = mean_and_ci([r["accuracy"] for r in fold_reports])             # mean ± half (95%)
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from deepear.errors import DataError

__all__ = ["CONDITIONS", "STRESS_PROXY_LABEL", "aggregate_by_clip", "classification_report", "mean_and_ci",
           "snr_condition", "t_quantile_975", "task_title"]

#: Noise conditions of the robustness evaluation, in plotting/table order: clean, then decreasing SNR (dB).
CONDITIONS: tuple[str, ...] = ("clean", "20", "10", "5", "0")

#: How every table, plot and model card names the stress task: it is a proxy, not measured stress.
STRESS_PROXY_LABEL = "stress (proxy: acted anger/fear vs neutral/calm)"

# Two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30 (scipy.stats.t.ppf, 6 decimals).
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
         2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
         2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)
_Z975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """Student-t 97.5% quantile for `df` degrees of freedom (table to df 30, Cornish-Fisher beyond, |err| < 1e-7)."""
    if df < 1:
        raise DataError(f"t_quantile_975: df must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * df**4))


def task_title(name: str) -> str:
    """Display name of a task or system in tables and plots: every bare word "stress" becomes STRESS_PROXY_LABEL
    ("stress" -> "stress (proxy: acted anger/fear vs neutral/calm)", "stress / dnn" -> "... / dnn")."""
    s = str(name)
    if STRESS_PROXY_LABEL in s:
        return s
    return re.sub(r"(?i)\bstress\b(?!\s*\(proxy)", STRESS_PROXY_LABEL, s)


def snr_condition(snr_db: float | None) -> str:
    """Condition name of a test mix: None -> "clean", 20.0 -> "20", 7.5 -> "7.5" (keys of metrics/plots)."""
    if snr_db is None:
        return "clean"
    v = float(snr_db)
    if not math.isfinite(v):
        raise DataError(f"snr_condition: snr_db must be finite or None, got {snr_db!r}")
    return str(int(v)) if v.is_integer() else f"{v:g}"


def aggregate_by_clip(log_probs: np.ndarray, clip_ids: np.ndarray,
                      weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Turn window predictions into clip predictions: the (weighted) mean log-probability of each clip's windows,
    renormalised with a log-softmax.

    Args: log_probs (N, C) float, per-window log-probabilities; clip_ids (N,) int, the clip of each window;
          weights (N,) float >= 0 or None (equal weights), e.g. the share of voiced frames in the window.
    Returns: (clips (M,) int64 sorted unique ids, clip_log_probs (M, C) float64, each row log-sum-exp = 0).
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    ids = np.asarray(clip_ids)
    if lp.ndim != 2 or lp.shape[0] == 0 or lp.shape[1] == 0:
        raise DataError(f"aggregate_by_clip: log_probs must have shape (N, C) with N, C > 0, got {lp.shape}")
    if ids.shape != (lp.shape[0],):
        raise DataError(f"aggregate_by_clip: clip_ids must have shape ({lp.shape[0]},), got {ids.shape}")
    if ids.dtype.kind not in "iu":
        raise DataError(f"aggregate_by_clip: clip_ids must be integers, got dtype {ids.dtype}")
    if np.isnan(lp).any() or np.isposinf(lp).any():
        raise DataError("aggregate_by_clip: log_probs contains NaN or +inf")
    if weights is None:
        w = np.ones(lp.shape[0])
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (lp.shape[0],):
            raise DataError(f"aggregate_by_clip: weights must have shape ({lp.shape[0]},), got {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any():
            raise DataError("aggregate_by_clip: weights must be finite and >= 0")
    clips, inverse = np.unique(ids, return_inverse=True)
    inverse = inverse.reshape(-1)
    wsum = np.bincount(inverse, weights=w, minlength=len(clips))
    if (wsum <= 0).any():
        bad = clips[wsum <= 0][:5].tolist()
        raise DataError(f"aggregate_by_clip: clips {bad} have zero total weight")
    # Weighted sum per clip; -inf entries with zero weight contribute nothing (not NaN).
    with np.errstate(invalid="ignore"):
        contrib = np.where(w[:, None] > 0, lp * w[:, None], 0.0)
    total = np.zeros((len(clips), lp.shape[1]))
    np.add.at(total, inverse, contrib)
    mean = total / wsum[:, None]
    top = mean.max(axis=1, keepdims=True)
    if not np.isfinite(top).all():
        raise DataError("aggregate_by_clip: a clip has -inf log-probability for every class")
    lse = top + np.log(np.exp(mean - top).sum(axis=1, keepdims=True))
    return clips.astype(np.int64), mean - lse


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix of one task.

    Args: y_true, y_pred (M,) int class indices into `labels` (C names).
    Returns: {"accuracy", "macro_f1", "n", "labels", "per_class": {label: {precision, recall, f1, support}},
              "confusion": C x C list of lists (rows = true, cols = predicted, every class even if absent)}.
    macro_f1 averages over the classes that occur in y_true or y_pred (scikit-learn's default), so a class
    absent from a fold neither counts as 0 nor hides a false positive; undefined precision/recall are 0.
    """
    names = [str(x) for x in labels]
    c = len(names)
    if c == 0:
        raise DataError("classification_report: labels is empty")
    if len(set(names)) != c:
        raise DataError(f"classification_report: labels has duplicates: {names}")
    yt = np.asarray(y_true).reshape(-1) if np.ndim(y_true) else np.asarray([y_true])
    yp = np.asarray(y_pred).reshape(-1) if np.ndim(y_pred) else np.asarray([y_pred])
    if yt.shape != yp.shape:
        raise DataError(f"classification_report: y_true has {yt.size} items but y_pred has {yp.size}")
    if yt.size == 0:
        raise DataError("classification_report: no examples (y_true is empty)")
    for nm, y in (("y_true", yt), ("y_pred", yp)):
        if y.dtype.kind not in "iu":
            raise DataError(f"classification_report: {nm} must be integer class indices, got dtype {y.dtype}")
        if y.min() < 0 or y.max() >= c:
            raise DataError(f"classification_report: {nm} has indices outside [0, {c}) "
                            f"(min {y.min()}, max {y.max()}) for labels {names}")
    idx = list(range(c))
    cm = confusion_matrix(yt, yp, labels=idx)
    p, r, f, s = precision_recall_fscore_support(yt, yp, labels=idx, zero_division=0)
    seen = np.union1d(yt, yp)
    return {
        "accuracy": float(np.mean(yt == yp)),
        "macro_f1": float(np.mean(f[seen])),
        "n": int(yt.size),
        "labels": names,
        "per_class": {names[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                                 "support": int(s[i])} for i in idx},
        "confusion": cm.astype(int).tolist(),
    }


def mean_and_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean over folds and the half-width of its two-sided 95% confidence interval (Student t, n-1 df).

    One value gives half-width 0.0 (no spread can be estimated). Raises DataError on empty or non-finite input.
    """
    v = np.asarray(list(values), dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise DataError("mean_and_ci: no values")
    if not np.isfinite(v).all():
        raise DataError(f"mean_and_ci: values must be finite, got {v.tolist()}")
    mean = float(v.mean())
    if v.size == 1:
        return mean, 0.0
    sem = float(v.std(ddof=1)) / math.sqrt(v.size)
    return mean, t_quantile_975(v.size - 1) * sem
