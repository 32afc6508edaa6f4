"""The nested SVM check shared by the front-end studies (bench/pitch_study.py, bench/voiced_stats_study.py).

RAVDESS, one 5 s window per clip, never a test fold or test noise (bench/noise_floor_study.py builds the clips,
the noise split and the conditions):
- emotion (5 classes) and the stress proxy (acted angry/fearful vs neutral/calm): inner actor folds of all 6
  outer folds (30 fits per cell; outer test actors never used), every actor's windows standardised with their
  own unlabelled windows of the condition (the recipe's adaptation);
- speaker ID: repetition 1, statement "kids" -> "dogs" (repetition 2, the benchmark's test set, is never read).
Each fit trains on the clean window and the clip's two noisy training copies and scores every condition.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.noise_floor_study import per_speaker
from deepear.data.clips import Clip
from deepear.data.splits import actor_folds

TASKS = ("emotion", "stress proxy", "speaker")


@dataclass(frozen=True)
class Meta:
    """Per-clip labels and groups of the RAVDESS clips (N,), "" where a task has no label."""

    emotion: np.ndarray
    stress: np.ndarray
    speaker: np.ndarray
    actor: np.ndarray
    statement: np.ndarray
    repetition: np.ndarray
    fold: np.ndarray          # outer actor fold (0-5) of each clip


def meta_of(clips: list[Clip]) -> Meta:
    fold = np.zeros(len(clips), int)
    for f, fo in enumerate(actor_folds(clips, 6, task="emotion")):
        fold[fo.test] = f
    return Meta(emotion=np.array([c.label("emotion") or "" for c in clips]),
                stress=np.array([c.label("stress") or "" for c in clips]),
                speaker=np.array([c.label("speaker") for c in clips]),
                actor=np.array([c.groups["actor"] for c in clips]),
                statement=np.array([c.labels["statement"] for c in clips]),
                repetition=np.array([c.labels["repetition"] for c in clips]), fold=fold)


def model(d: int, weight: float, n_weighted: int) -> Any:
    """StandardScaler, the last `n_weighted` columns times `weight` when d > n_weighted, RBF SVM (C=1,
    gamma="scale")."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from sklearn.svm import SVC

    w = np.ones(d)
    if d > n_weighted > 0:
        w[-n_weighted:] = weight
    return make_pipeline(StandardScaler(), FunctionTransformer(lambda z: z * w), SVC(C=1.0, gamma="scale"))


def acc(xtr: np.ndarray, ytr: np.ndarray, xva: dict[str, np.ndarray], yva: np.ndarray,
        weight: float = 1.0, n_weighted: int = 0) -> dict[str, float]:
    """Accuracy (0-1) of one fit on every condition's validation matrix."""
    if len(yva) == 0 or len(np.unique(ytr)) < 2:      # a --every smoke run can leave a side empty
        return {c: float("nan") for c in xva}
    m = model(xtr.shape[1], weight, n_weighted).fit(xtr, ytr)
    return {c: float((m.predict(v) == yva).mean()) for c, v in xva.items()}


def nested_scores(xs: dict[str, np.ndarray], xa: list[np.ndarray], meta: Meta, weight: float = 1.0,
                  n_weighted: int = 0) -> dict[tuple[str, str], float]:
    """{(task, condition): accuracy 0-1} of one input vector.

    Args: xs {condition: (N, D)} with a "clean" entry (the training side); xa the two noisy training copies,
    each (N, D); weight / n_weighted: the last n_weighted standardised columns are multiplied by weight.
    """
    conds = list(xs)
    res: dict[tuple[str, str], float] = {}
    m = meta
    tr, va = (m.repetition == "1") & (m.statement == "kids"), (m.repetition == "1") & (m.statement == "dogs")
    r = acc(np.concatenate([xs["clean"][tr], xa[0][tr], xa[1][tr]]), np.concatenate([m.speaker[tr]] * 3),
            {c: xs[c][va] for c in conds}, m.speaker[va], weight, n_weighted)
    for c in conds:
        res[("speaker", c)] = r[c]
    xsn = {c: per_speaker(xs[c], m.actor) for c in conds}
    xan = [per_speaker(a, m.actor) for a in xa]
    for task, lab in (("emotion", m.emotion), ("stress proxy", m.stress)):
        accs: dict[str, list[float]] = {c: [] for c in conds}
        for outer in range(6):
            inner = [f for f in range(6) if f != outer]
            for held in inner:
                tr = np.isin(m.fold, [f for f in inner if f != held]) & (lab != "")
                va = (m.fold == held) & (lab != "")
                r = acc(np.concatenate([xsn["clean"][tr], xan[0][tr], xan[1][tr]]), np.concatenate([lab[tr]] * 3),
                        {c: xsn[c][va] for c in conds}, lab[va], weight, n_weighted)
                for c in conds:
                    accs[c].append(r[c])
        for c in conds:
            res[(task, c)] = float(np.mean(accs[c]))
    return res
