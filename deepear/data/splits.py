"""Train/test splits that never put one group (actor, speaker, fold, source recording, freesound id, music
track) on both sides.

Every split function takes the full clip list and returns `Fold(train, test)`s of int64 index arrays into
it, sorted ascending; with `task`, clips without a label for that task are left out of both sides.
Deterministic: the same clips give the same folds; `seed` only reorders groups before they are dealt out.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Callable, Iterable, NamedTuple, Sequence

import numpy as np

from deepear.data.clips import Clip
from deepear.errors import DataError


class Fold(NamedTuple):
    """Index arrays (int64, sorted) into the clip list a split function was given."""
    train: np.ndarray
    test: np.ndarray


def take(clips: Sequence[Clip], idx: Iterable[int]) -> list[Clip]:
    """The clips at indices `idx`, in that order."""
    return [clips[int(i)] for i in idx]


def _selected(clips: Sequence[Clip], task: str | None) -> list[int]:
    sel = [i for i, c in enumerate(clips) if task is None or task in c.tasks]
    if not sel:
        raise DataError(f"no clips{' labelled for task ' + repr(task) if task else ''} to split")
    return sel


def _group(clip: Clip, key: str) -> str:
    try:
        return clip.groups[key]
    except KeyError:
        raise DataError(f"{clip.path}: no {key!r} group (groups: {sorted(clip.groups)}); cannot split by {key}") from None


def _folds_from_assignment(sel: list[int], fold_of: dict[int, int], k: int) -> list[Fold]:
    folds = []
    for f in range(k):
        test = np.array(sorted(i for i in sel if fold_of[i] == f), dtype=np.int64)
        train = np.array(sorted(i for i in sel if fold_of[i] != f), dtype=np.int64)
        if test.size == 0 or train.size == 0:
            raise DataError(f"fold {f} of {k} would have an empty {'test' if test.size == 0 else 'train'} side; "
                            f"too few groups for {k} folds")
        folds.append(Fold(train, test))
    return folds


def actor_folds(clips: Sequence[Clip], k: int = 6, task: str | None = None, group_key: str = "actor",
                seed: int | None = None) -> list[Fold]:
    """k actor-held-out folds (emotion, stress): the sorted actors are cut into k contiguous blocks
    (RAVDESS, k=6: actors 01-04, 05-08, ...; 2 male + 2 female each) and fold f tests on block f.

    seed: when given, the actors are shuffled with numpy.random.default_rng(seed) before cutting.
    DataError when a selected clip has no `group_key` group or there are fewer actors than k.
    """
    sel = _selected(clips, task)
    actors = sorted({_group(clips[i], group_key) for i in sel})
    if len(actors) < k:
        raise DataError(f"{len(actors)} {group_key}s cannot make {k} held-out folds")
    if seed is not None:
        actors = [actors[j] for j in np.random.default_rng(seed).permutation(len(actors))]
    block = {a: f for f, part in enumerate(np.array_split(np.array(actors, dtype=object), k)) for a in part}
    return _folds_from_assignment(sel, {i: block[clips[i].groups[group_key]] for i in sel}, k)


def esc_folds(clips: Sequence[Clip], task: str | None = None) -> list[Fold]:
    """ESC's official folds: one Fold per distinct `fold` group value (sorted; 5 for ESC-10), testing on it.

    The official folds keep every freesound recording inside one fold.
    """
    sel = _selected(clips, task)
    values = sorted({_group(clips[i], "fold") for i in sel})
    if len(values) < 2:
        raise DataError(f"ESC folds need at least 2 distinct folds, found {values}")
    pos = {v: f for f, v in enumerate(values)}
    return _folds_from_assignment(sel, {i: pos[clips[i].groups["fold"]] for i in sel}, len(values))


def grouped_folds(clips: Sequence[Clip], k: int, group_of: Callable[[Clip], str], task: str | None = None,
                  fixed_fold: Callable[[Clip], int | None] | None = None, seed: int | None = None) -> list[Fold]:
    """k folds in which every group `group_of(clip)` lies wholly in one fold.

    Groups are dealt out per stratum (corpus, task label of the group's first clip), largest first, each to
    the fold holding the fewest clips of that stratum so far (ties: lowest fold), so every corpus and class
    is spread over the folds. `fixed_fold(clip)` may pin a clip's group to a fold (0..k-1) instead.
    """
    sel = _selected(clips, task)
    members: dict[str, list[int]] = defaultdict(list)
    for i in sel:
        members[group_of(clips[i])].append(i)
    fold_of_group: dict[str, int] = {}
    free: dict[tuple, list[str]] = defaultdict(list)
    for g, idx in members.items():
        pinned = {fixed_fold(clips[i]) for i in idx} - {None} if fixed_fold else set()
        if len(pinned) > 1:
            raise DataError(f"group {g!r} is pinned to several folds {sorted(pinned)}")
        if pinned:
            p = pinned.pop()
            if not 0 <= p < k:
                raise DataError(f"group {g!r} pinned to fold {p}, outside 0..{k - 1}")
            fold_of_group[g] = p
        else:
            c = clips[idx[0]]
            free[(c.corpus, c.tasks.get(task) if task else None)].append(g)
    rng = np.random.default_rng(seed) if seed is not None else None
    for stratum in sorted(free, key=str):
        groups = sorted(free[stratum])
        if rng is not None:
            groups = [groups[j] for j in rng.permutation(len(groups))]
        groups.sort(key=lambda g: -len(members[g]))           # stable: size first, then name/shuffle order
        load = [0] * k
        for g in groups:
            f = int(np.argmin(load))
            fold_of_group[g] = f
            load[f] += len(members[g])
    return _folds_from_assignment(sel, {i: fold_of_group[g] for g, idx in members.items() for i in idx}, k)


def scene_group(clip: Clip) -> str:
    """The group a clip is kept with in scene_folds: music by track, RAVDESS by actor, FSDD (or any clip with
    a speaker) by speaker, ESC clips by freesound recording, anything else by source."""
    g = clip.groups
    if "track" in g:
        return f"track:{clip.corpus}:{g['track']}"
    if "actor" in g:
        return f"actor:{clip.corpus}:{g['actor']}"
    if "speaker" in g:
        return f"speaker:{g['speaker']}"
    if "freesound_id" in g:
        return f"freesound:{g['freesound_id']}"            # shared across esc10 / esc50_urban on purpose
    return f"source:{_group(clip, 'source')}"


def scene_folds(clips: Sequence[Clip], k: int = 5, task: str | None = "scene", seed: int | None = None) -> list[Fold]:
    """k grouped folds for the scene task (see grouped_folds): an ESC corpus whose clips span k official
    folds keeps them (fold f -> fold f-1 in sorted order); an ESC corpus with fewer folds (the shared pack's
    esc50_urban8 is fold 4 only) is dealt out by freesound recording; music by track, RAVDESS by actor,
    FSDD by speaker. No freesound id, track, actor or speaker is on both sides of any fold.
    """
    sel = _selected(clips, task)
    folds_per_corpus: dict[str, set[str]] = defaultdict(set)
    for i in sel:
        if "fold" in clips[i].groups:
            folds_per_corpus[clips[i].corpus].add(clips[i].groups["fold"])
    official = {c: {v: f for f, v in enumerate(sorted(vs))} for c, vs in folds_per_corpus.items() if len(vs) == k}

    def fixed(c: Clip) -> int | None:
        return official[c.corpus][c.groups["fold"]] if c.corpus in official else None

    return grouped_folds(clips, k, scene_group, task=task, fixed_fold=fixed, seed=seed)


def speaker_split(clips: Sequence[Clip], task: str | None = "speaker", test_repetition: str = "2",
                  fsdd_test_below: int = 5) -> Fold:
    """Speaker ID split by utterance (every speaker on both sides, no recording on both):
    RAVDESS (clips with a `repetition` label) train on repetition 1, test on `test_repetition`;
    FSDD (clips with an `index` label) test on indices < `fsdd_test_below` (FSDD's official test split
    0-4), train on the rest. DataError for a clip with neither label.
    """
    sel = _selected(clips, task)
    train, test = [], []
    for i in sel:
        lab = clips[i].labels
        if "repetition" in lab:
            is_test = lab["repetition"] == test_repetition
        elif "index" in lab:
            is_test = int(lab["index"]) < fsdd_test_below
        else:
            raise DataError(f"{clips[i].path}: speaker_split needs a `repetition` (RAVDESS) or `index` (FSDD) label")
        (test if is_test else train).append(i)
    if not train or not test:
        raise DataError(f"speaker split has an empty side (train {len(train)}, test {len(test)})")
    return Fold(np.array(train, dtype=np.int64), np.array(test, dtype=np.int64))


def assert_no_leakage(train: Sequence[Clip], test: Sequence[Clip], group_key: str) -> None:
    """DataError listing the `group_key` ids found on both sides (clips without that group are ignored).

    Also a DataError when no clip on either side has `group_key`, so a mistyped key cannot pass silently.
    """
    a = Counter(c.groups[group_key] for c in train if group_key in c.groups)
    b = Counter(c.groups[group_key] for c in test if group_key in c.groups)
    if not a and not b:
        raise DataError(f"no clip has a {group_key!r} group; nothing to check")
    shared = sorted(set(a) & set(b))
    if shared:
        raise DataError(f"leakage: {len(shared)} {group_key} id(s) on both train and test sides, e.g. {shared[:5]}")


def assert_folds_no_leakage(clips: Sequence[Clip], folds: Iterable[Fold], group_keys: Iterable[str]) -> None:
    """assert_no_leakage for every fold and every key in `group_keys` (keys absent from all clips are an error)."""
    keys = list(group_keys)
    for f, (tr, te) in enumerate(folds):
        if np.intersect1d(tr, te).size:
            raise DataError(f"fold {f}: clips on both sides")
        for key in keys:
            try:
                assert_no_leakage(take(clips, tr), take(clips, te), key)
            except DataError as e:
                raise DataError(f"fold {f}: {e}") from None
