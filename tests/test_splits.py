"""Splits without leakage: no actor, speaker, freesound recording, music track or source file on both sides."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepear.data import catalog, splits
from deepear.data.clips import Clip, group_values, label_counts
from deepear.errors import DataError

LEAK_KEYS = ["source", "freesound_id", "track", "actor", "speaker"]


@pytest.fixture(scope="module")
def corpora(data_root):
    return catalog.load_corpora(data_root)


@pytest.fixture(scope="module")
def every_clip(corpora):
    return catalog.all_clips(corpora)


def _covers_once(folds, n_selected):
    tests = np.concatenate([f.test for f in folds])
    assert len(tests) == n_selected and len(np.unique(tests)) == n_selected


@pytest.mark.parametrize("task", ["emotion", "stress"])
def test_actor_folds_hold_out_actors(corpora, task):
    clips = corpora["ravdess"]
    folds = splits.actor_folds(clips, k=6, task=task)
    assert len(folds) == 6
    _covers_once(folds, sum(task in c.tasks for c in clips))
    for tr, te in folds:
        train, test = splits.take(clips, tr), splits.take(clips, te)
        splits.assert_no_leakage(train, test, "actor")
        assert group_values(train, "actor").isdisjoint(group_values(test, "actor"))
        assert len(group_values(test, "actor")) == 4 and len(group_values(train, "actor")) == 20
        assert {c.labels["sex"] for c in test} == {"male", "female"}
        assert all(task in c.tasks for c in train + test)
        assert set(label_counts(test, task)) == set(label_counts(train, task))   # every class on both sides
    splits.assert_folds_no_leakage(clips, folds, ["actor", "source"])


def test_actor_folds_seed_and_errors(corpora):
    clips = corpora["ravdess"]
    a = splits.actor_folds(clips, k=6, seed=3)
    b = splits.actor_folds(clips, k=6, seed=3)
    assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b))
    assert not all(np.array_equal(x.test, y.test) for x, y in zip(a, splits.actor_folds(clips, k=6)))
    with pytest.raises(DataError, match="cannot make 30 held-out folds"):
        splits.actor_folds(clips, k=30)
    with pytest.raises(DataError, match="no 'actor' group"):
        splits.actor_folds(corpora["fsdd"], k=3)


def test_esc_official_folds(corpora):
    clips = corpora["esc10"]
    folds = splits.esc_folds(clips, task="esc10")
    assert [len(f.test) for f in folds] == [80] * 5
    _covers_once(folds, 400)
    for f, (tr, te) in enumerate(folds, start=1):
        assert {clips[i].groups["fold"] for i in te} == {str(f)}
        assert str(f) not in {clips[i].groups["fold"] for i in tr}
    splits.assert_folds_no_leakage(clips, folds, ["fold", "freesound_id", "source"])


def test_scene_folds_no_leakage(every_clip):
    folds = splits.scene_folds(every_clip, k=5)
    assert len(folds) == 5
    n_scene = sum("scene" in c.tasks for c in every_clip)
    assert n_scene == 1440 + 400 + 64 + 3000 + 5
    _covers_once(folds, n_scene)
    splits.assert_folds_no_leakage(every_clip, folds, LEAK_KEYS)
    for f, (tr, te) in enumerate(folds, start=1):
        test = splits.take(every_clip, te)
        assert set(label_counts(test, "scene")) == {"music", "traffic", "voicing", "other"}
        # ESC-10 keeps its official folds; each music track is alone in one fold
        assert {c.groups["fold"] for c in test if c.corpus == "esc10"} == {str(f)}
        assert sum(c.corpus == "music" for c in test) == 1
        # the fold-4-only urban pack is dealt out by freesound recording instead
        assert sum(c.corpus == "esc50_urban" for c in test) > 0


def test_scene_folds_pinned_conflict_is_an_error():
    mk = lambda fold, fid: Clip(path=Path(f"{fold}-{fid}.wav"), corpus="e", tasks={"scene": "other"},
                                groups={"fold": fold, "freesound_id": fid, "source": f"freesound:{fid}"})
    clips = [mk(str(f), str(f)) for f in range(1, 6)] + [mk("2", "1")]   # freesound id 1 in folds 1 and 2
    with pytest.raises(DataError, match="pinned to several folds"):
        splits.scene_folds(clips, k=5)


def test_speaker_split_by_utterance(every_clip):
    tr, te = splits.speaker_split(every_clip)
    train, test = splits.take(every_clip, tr), splits.take(every_clip, te)
    assert (len(train), len(test)) == (720 + 2700, 720 + 300)
    assert set(label_counts(train, "speaker")) == set(label_counts(test, "speaker"))   # 30 speakers both sides
    assert len(label_counts(test, "speaker")) == 30
    assert {c.labels["repetition"] for c in test if c.corpus == "ravdess"} == {"2"}
    assert {c.labels["repetition"] for c in train if c.corpus == "ravdess"} == {"1"}
    assert max(int(c.labels["index"]) for c in test if c.corpus == "fsdd") == 4
    assert min(int(c.labels["index"]) for c in train if c.corpus == "fsdd") == 5
    splits.assert_no_leakage(train, test, "source")
    with pytest.raises(DataError, match="leakage"):                 # by design speakers are on both sides
        splits.assert_no_leakage(train, test, "speaker")


def test_assert_no_leakage_detects_leaks():
    a = Clip(path=Path("a.wav"), corpus="x", groups={"actor": "01", "source": "a"})
    b = Clip(path=Path("b.wav"), corpus="x", groups={"actor": "01", "source": "b"})
    c = Clip(path=Path("c.wav"), corpus="x", groups={"actor": "02", "source": "c"})
    splits.assert_no_leakage([a], [c], "actor")
    with pytest.raises(DataError, match=r"1 actor id\(s\) on both .*'01'"):
        splits.assert_no_leakage([a, c], [b], "actor")
    with pytest.raises(DataError, match="no clip has a 'actr' group"):
        splits.assert_no_leakage([a], [b], "actr")
    bad = [splits.Fold(np.array([0, 1]), np.array([1, 2]))]
    with pytest.raises(DataError, match="fold 0: clips on both sides"):
        splits.assert_folds_no_leakage([a, b, c], bad, ["source"])


def test_grouped_folds_keep_groups_together():
    clips = [Clip(path=Path(f"{g}_{i}.wav"), corpus="x", tasks={"scene": "other"},
                  groups={"source": f"rec{g}"}) for g in range(7) for i in range(g + 1)]
    folds = splits.grouped_folds(clips, 3, lambda c: c.groups["source"], task="scene")
    _covers_once(folds, len(clips))
    splits.assert_folds_no_leakage(clips, folds, ["source"])
    assert max(len(f.test) for f in folds) - min(len(f.test) for f in folds) <= 2   # balanced: 28 clips / 3
    with pytest.raises(DataError, match="too few groups for 2 folds"):
        splits.grouped_folds(clips[:1], 2, lambda c: c.groups["source"])
