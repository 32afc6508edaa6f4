"""Evaluation runs: which clips train, validate and test each task, and which noise is held out, per run.

Two kinds of run (recipe `protocol.runs`):

- `foldK` (K = 0..5), speaker-independent: emotion and stress test on RAVDESS actor block K (6 blocks of
  4 actors, 2 male + 2 female); for K < 5 the scene task tests on ESC-10 official fold K+1, the ESC-50
  urban clips of grouped fold K, music track K, RAVDESS actor block K and FSDD speaker K, and `esc10` on
  ESC-10 fold K+1. Speaker ID is not tested in fold runs.
- `speaker`: speaker ID by utterance: RAVDESS repetition 2 and FSDD indices 0-4 (FSDD's own test split)
  are tested, the rest trains.

Leakage rules, applied to every run:
1. In a fold run, every *leak group* with a test clip — RAVDESS actor, FSDD speaker, freesound recording,
   music track — is removed from training entirely (all tasks, all its clips), so no test speaker's or
   recording's audio is ever trained on, with any label.
2. The held-out test noise (household recordings `running_tap` and `exercise_bike`, the ESC noise clips of
   the run's ESC test fold, and the run's music track) is never mixed into training data, and no clip of
   those recordings is trained on as a labelled clip either.
3. Validation (early stopping) holds out whole leak groups of the training side (whole clips in the
   speaker run, where every speaker must be on both sides).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from deepear.data.clips import Clip
from deepear.data.mixing import NoiseBank, split_bank
from deepear.data.splits import actor_folds, scene_folds, speaker_split
from deepear.errors import ConfigError, DataError

N_ACTOR_FOLDS = 6
N_SCENE_FOLDS = 5
TEST_NOISE_RECORDINGS = ("sc_bg_noise/running_tap", "sc_bg_noise/exercise_bike")


def leak_group(clip: Clip) -> str:
    """The unit that must never straddle train and test: actor, speaker, freesound recording, track."""
    g = clip.groups
    if "actor" in g:
        return f"actor:{g['actor']}"
    if "speaker" in g:
        return f"speaker:{g['speaker']}"
    if "freesound_id" in g:
        return f"freesound:{g['freesound_id']}"
    if "track" in g:
        return f"track:{clip.corpus}:{g['track']}"
    return f"source:{g.get('source', clip.path)}"


@dataclass
class RunSplit:
    """One evaluation run: clip indices (into the list given to `make_split`) per role."""

    name: str
    train: np.ndarray                      # clips trained on (labels as given)
    val: np.ndarray                        # clips for early stopping
    test: dict[str, np.ndarray]            # task -> clips tested for that task
    train_noise: NoiseBank
    test_noise: NoiseBank
    excluded: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # left out for leakage

    def describe(self) -> dict:
        return {"name": self.name, "train": int(self.train.size), "val": int(self.val.size),
                "test": {t: int(v.size) for t, v in self.test.items()},
                "excluded": int(self.excluded.size), "train_noise": len(self.train_noise.entries),
                "test_noise": len(self.test_noise.entries)}


def _tracks(clips: Sequence[Clip]) -> list[str]:
    return sorted({c.groups["track"] for c in clips if c.corpus == "music" and "track" in c.groups})


def make_split(clips: Sequence[Clip], run: str, bank: NoiseBank, tasks: Sequence[str], seed: int,
               val_fraction: float = 0.15) -> RunSplit:
    """The clips and noise of evaluation run `run` ('foldK' or 'speaker') for `tasks`.

    Raises ConfigError for an unknown run and DataError when a needed corpus is missing.
    """
    idx_all = np.arange(len(clips))
    test: dict[str, list[int]] = {}
    ravdess = [i for i in idx_all if clips[i].corpus == "ravdess"]
    tracks = _tracks(clips)
    if run.startswith("fold") and run[4:].isdigit():
        k = int(run[4:])
        if not 0 <= k < N_ACTOR_FOLDS:
            raise ConfigError(f"protocol.runs: {run} out of range fold0..fold{N_ACTOR_FOLDS - 1}")
        esc_fold = k + 1 if k < N_SCENE_FOLDS else N_SCENE_FOLDS
        test_actors: set[str] = set()
        if ravdess:
            sub = [clips[i] for i in ravdess]
            f = actor_folds(sub, k=N_ACTOR_FOLDS)[k]
            test_actors = {sub[j].groups["actor"] for j in f.test}
        for t in ("emotion", "stress"):
            if t in tasks:
                test[t] = [i for i in ravdess if clips[i].groups["actor"] in test_actors and t in clips[i].tasks]
        if k < N_SCENE_FOLDS:
            speakers = sorted({c.groups["speaker"] for c in clips if c.corpus == "fsdd"})
            test_spk = speakers[k] if speakers else None
            urban_test: set[int] = set()
            if any(c.corpus == "esc50_urban" for c in clips) and "scene" in tasks:
                sc = [i for i in idx_all if "scene" in clips[i].tasks]
                sf = scene_folds([clips[i] for i in sc], k=N_SCENE_FOLDS)[k]
                urban_test = {sc[j] for j in sf.test if clips[sc[j]].corpus == "esc50_urban"}
            scene_test = []
            for i in idx_all:
                c = clips[i]
                if "scene" not in c.tasks:
                    continue
                if ((c.corpus == "esc10" and c.groups.get("fold") == str(esc_fold))
                        or i in urban_test
                        or (c.corpus == "music" and tracks and c.groups.get("track") == tracks[k % len(tracks)])
                        or (c.corpus == "ravdess" and c.groups.get("actor") in test_actors)
                        or (c.corpus == "fsdd" and c.groups.get("speaker") == test_spk)):
                    scene_test.append(i)
            if "scene" in tasks:
                test["scene"] = scene_test
            if "esc10" in tasks:
                test["esc10"] = [i for i in idx_all if "esc10" in clips[i].tasks
                                 and clips[i].groups.get("fold") == str(esc_fold)]
    elif run == "speaker":
        esc_fold = N_SCENE_FOLDS
        k = N_SCENE_FOLDS - 1
        if "speaker" in tasks:
            sp = [i for i in idx_all if "speaker" in clips[i].tasks]
            f = speaker_split([clips[i] for i in sp])
            test["speaker"] = [sp[j] for j in f.test]
    else:
        raise ConfigError(f"protocol.runs: unknown run {run!r}; use foldK (K=0..{N_ACTOR_FOLDS - 1}) or speaker")
    test = {t: v for t, v in test.items() if v}
    if not test:
        raise DataError(f"run {run}: no test clips for any of the tasks {list(tasks)}")

    # held-out noise: household recordings, ESC noise clips of the ESC test fold, this run's music track
    test_groups = set(TEST_NOISE_RECORDINGS) & bank.groups
    if tracks:
        test_groups |= {g for g in bank.groups if g == f"moh_music_8k/{tracks[k % len(tracks)]}"}
    train_noise, test_noise = split_bank(bank, scene_test_folds={esc_fold}, test_groups=test_groups)
    noise_paths = {str(test_noise.resolve(e).resolve()) for e in test_noise.entries}

    test_idx = sorted({i for v in test.values() for i in v})
    if run == "speaker":
        banned_groups: set[str] = set()
        banned_clips = set(test_idx)
    else:
        banned_groups = {leak_group(clips[i]) for i in test_idx}
        banned_clips = set()
    banned_groups |= {leak_group(clips[i]) for i in idx_all if str(clips[i].path.resolve()) in noise_paths}
    train_side = [i for i in idx_all if i not in banned_clips and leak_group(clips[i]) not in banned_groups
                  and clips[i].tasks]
    excluded = [i for i in idx_all if i not in banned_clips and i not in set(train_side) and clips[i].tasks]

    # validation: whole leak groups (whole clips in the speaker run), per corpus, seeded
    unit = (lambda c: str(c.path)) if run == "speaker" else leak_group
    rng = np.random.default_rng(_seed_words(seed, run, "val"))
    val: list[int] = []
    by_corpus: dict[str, list[int]] = {}
    for i in train_side:
        by_corpus.setdefault(clips[i].corpus, []).append(i)
    for corpus in sorted(by_corpus):
        units = sorted({unit(clips[i]) for i in by_corpus[corpus]})
        n_val = int(round(val_fraction * len(units)))
        if len(units) >= 3:
            n_val = max(1, n_val)
        chosen = {units[j] for j in rng.permutation(len(units))[:n_val]}
        val += [i for i in by_corpus[corpus] if unit(clips[i]) in chosen]
    val_set = set(val)
    train = [i for i in train_side if i not in val_set]
    return RunSplit(name=run, train=np.array(train, np.int64), val=np.array(sorted(val), np.int64),
                    test={t: np.array(sorted(v), np.int64) for t, v in test.items()},
                    train_noise=train_noise, test_noise=test_noise, excluded=np.array(excluded, np.int64))


def subsample_labelled(clips: Sequence[Clip], train: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The training clips whose labels are kept when only `fraction` of the labelled data is used:
    whole leak groups... per corpus and stratified by nothing else; deterministic for a seed. (1.0: all.)"""
    if fraction >= 1.0:
        return train
    rng = np.random.default_rng(_seed_words(seed, "fraction"))
    keep = []
    by_corpus: dict[str, list[int]] = {}
    for i in train:
        by_corpus.setdefault(clips[i].corpus, []).append(int(i))
    for corpus in sorted(by_corpus):
        ids = by_corpus[corpus]
        n = max(1, int(round(fraction * len(ids))))
        keep += [ids[j] for j in sorted(rng.permutation(len(ids))[:n])]
    return np.array(sorted(keep), np.int64)


def _seed_words(seed: int, *parts: str) -> list[int]:
    """A deterministic seed sequence for numpy from the recipe seed and names (no global RNG)."""
    h = hashlib.sha256("/".join(parts).encode()).digest()
    return [int(seed)] + [int.from_bytes(h[i:i + 4], "little") for i in range(0, 16, 4)]
