"""GMM and SVM specialist baselines on real RAVDESS speech: speaker ID between 4 actors, trained on the
first repetition of every sentence and tested on the second."""
from __future__ import annotations

import numpy as np
import pytest

from deepear.audio.config import FrontEndConfig
from deepear.audio.features import log_mel, summary_stats
from deepear.audio.io import load_audio
from deepear.errors import ConfigError, DataError
from deepear.model.baselines import GMMBaseline, SVMBaseline, _stratified_subsample

ACTORS = (1, 2, 3, 4)
CFG = FrontEndConfig()


@pytest.fixture(scope="module")
def speakers(data_root):
    """Log-mel frames, summary vectors and speaker ids of 4 RAVDESS actors: repetition 1 / repetition 2."""
    split = {1: ([], [], []), 2: ([], [], [])}
    for k, actor in enumerate(ACTORS):
        files = sorted((data_root / "ravdess" / f"Actor_{actor:02d}").glob("03-01-*.flac"))
        assert len(files) == 60, f"Actor_{actor:02d}: expected 60 files, found {len(files)}"
        for path in files:
            rep = int(path.stem.split("-")[5])
            frames = log_mel(load_audio(path), CFG)
            frames_list, stats, labels = split[rep]
            frames_list.append(frames)
            stats.append(summary_stats(frames, CFG.stats))
            labels.append(k)
    out = {}
    for rep, (frames_list, stats, labels) in split.items():
        out[rep] = (frames_list, np.stack(stats), np.array(labels, dtype=np.int64))
    return out


@pytest.fixture(scope="module")
def gmm(speakers):
    frames, _, y = speakers[1]
    return GMMBaseline(n_components=16, max_frames_per_class=4000, seed=0).fit(frames, y)


@pytest.fixture(scope="module")
def svm(speakers):
    _, x, y = speakers[1]
    return SVMBaseline(seed=0).fit(x, y)


# GMM ------------------------------------------------------------------------------------------------------
def test_gmm_identifies_speakers_across_repetitions(gmm, speakers):
    frames, _, y = speakers[2]
    acc = float(np.mean(gmm.predict(frames) == y))
    assert acc > 0.70, f"GMM speaker accuracy {acc:.3f} (chance 0.25)"


def test_gmm_log_proba_rows_are_distributions_and_match_predict(gmm, speakers):
    frames, _, _ = speakers[2]
    lp = gmm.predict_log_proba(frames)
    assert lp.shape == (len(frames), len(ACTORS))
    assert np.all(lp <= 1e-12)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(np.argmax(lp, axis=1), gmm.predict(frames))


def test_gmm_scores_are_mean_frame_log_likelihoods(gmm, speakers):
    frames, _, _ = speakers[2]
    some = frames[:3]
    scores = gmm.frame_scores(some)
    for i, f in enumerate(some):
        x = ((f - gmm.mean_) / gmm.std_).astype(np.float32)
        expect = [gmm.models_[c].score_samples(x).mean() for c in range(len(ACTORS))]
        np.testing.assert_allclose(scores[i], expect, rtol=1e-5)
    # scoring examples one at a time or together gives the same numbers (chunking, reduceat offsets), to float32
    # precision: a float32 GEMM rounds differently for different numbers of rows on some CPUs (2.6e-6 seen on an
    # AMD EPYC); a wrong chunk offset would move a score by whole units
    np.testing.assert_allclose(np.concatenate([gmm.frame_scores([f]) for f in some]), scores, rtol=1e-5)


def test_gmm_is_deterministic_and_subsamples(speakers):
    frames, _, y = speakers[1]
    test_frames, _, _ = speakers[2]
    a = GMMBaseline(n_components=4, max_frames_per_class=1500, seed=3).fit(frames, y)
    b = GMMBaseline(n_components=4, max_frames_per_class=1500, seed=3).fit(frames, y)
    np.testing.assert_array_equal(a.frames_per_class_, [1500] * len(ACTORS))
    np.testing.assert_array_equal(a.predict(test_frames), b.predict(test_frames))
    np.testing.assert_array_equal(a.predict_log_proba(test_frames), b.predict_log_proba(test_frames))
    c = GMMBaseline(n_components=4, max_frames_per_class=1500, seed=4).fit(frames, y)
    assert not np.array_equal(a.models_[0].means_, c.models_[0].means_), "seed had no effect"


def test_gmm_class_without_frames_scores_minus_inf(speakers):
    frames, _, y = speakers[1]
    keep = y != 2
    g = GMMBaseline(n_components=2, max_frames_per_class=500).fit(
        [f for f, k in zip(frames, keep) if k], y[keep], n_classes=5)
    lp = g.predict_log_proba(speakers[2][0][:10])
    assert lp.shape == (10, 5)
    assert np.all(np.isneginf(lp[:, 2])) and np.all(np.isneginf(lp[:, 4]))
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-9)
    assert not np.any(np.isin(g.predict(speakers[2][0][:10]), [2, 4]))


def test_gmm_n_parameters_counts_weights_means_variances(gmm):
    d = CFG.n_mels
    k = 16
    assert gmm.n_parameters() == len(ACTORS) * (k + k * d + k * d) + 2 * d


def test_gmm_class_with_fewer_frames_than_components():
    rng = np.random.default_rng(0)
    frames = [rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal((40, 5)).astype(np.float32) + 3]
    g = GMMBaseline(n_components=8).fit(frames, np.array([0, 1]))
    assert g.models_[0].n_components == 3 and g.models_[1].n_components == 8
    np.testing.assert_array_equal(g.predict(frames), [0, 1])


# SVM ------------------------------------------------------------------------------------------------------
def test_svm_identifies_speakers_across_repetitions(svm, speakers):
    _, x, y = speakers[2]
    acc = float(np.mean(svm.predict(x) == y))
    assert acc > 0.70, f"SVM speaker accuracy {acc:.3f} (chance 0.25)"


def test_svm_log_proba_rows_are_distributions(svm, speakers):
    _, x, _ = speakers[2]
    lp = svm.predict_log_proba(x)
    assert lp.shape == (x.shape[0], len(ACTORS))
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(np.argmax(lp, axis=1), svm.predict(x))


@pytest.mark.parametrize("pair", [None, (0, 3)])
def test_svm_fast_rbf_decision_equals_sklearn(speakers, pair):
    _, x, y = speakers[1]
    _, xt, _ = speakers[2]
    if pair is not None:                      # binary: sklearn returns a (N,) signed distance
        keep = np.isin(y, pair)
        x, y = x[keep], y[keep]
    s = SVMBaseline(seed=0).fit(x, y)
    ours = s.decision_scores(xt)[:, np.unique(y)]
    ref = s.pipeline_.decision_function(xt)
    if ref.ndim == 1:
        ref = np.stack([-0.5 * ref, 0.5 * ref], axis=1)
    np.testing.assert_allclose(ours, ref, atol=1e-8)


def test_svm_is_deterministic_and_subsamples_every_class(speakers):
    _, x, y = speakers[1]
    _, xt, _ = speakers[2]
    a = SVMBaseline(max_train=40, seed=1).fit(x, y)
    b = SVMBaseline(max_train=40, seed=1).fit(x, y)
    assert a.n_train_ == 40
    assert set(a.pipeline_.named_steps["svc"].classes_.tolist()) == set(range(len(ACTORS)))
    np.testing.assert_array_equal(a.predict_log_proba(xt), b.predict_log_proba(xt))


def test_svm_absent_class_scores_minus_inf_and_linear_kernel(speakers):
    _, x, y = speakers[1]
    _, xt, _ = speakers[2]
    s = SVMBaseline(kernel="linear").fit(x, y, n_classes=6)
    lp = s.predict_log_proba(xt)
    assert lp.shape == (xt.shape[0], 6) and np.all(np.isneginf(lp[:, 4:]))
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-9)
    svc = s.pipeline_.named_steps["svc"]
    assert s.n_parameters() == svc.coef_.size + svc.intercept_.size + 2 * x.shape[1]


def test_svm_n_parameters_counts_support_vectors(svm, speakers):
    svc = svm.pipeline_.named_steps["svc"]
    d = speakers[1][1].shape[1]
    n_sv = int(svc.n_support_.sum())
    assert svm.n_parameters() == n_sv * d + n_sv * (len(ACTORS) - 1) + 6 + 2 * d


def test_stratified_subsample_keeps_rare_classes():
    y = np.array([0] * 990 + [1] * 9 + [2])
    idx = _stratified_subsample(y, 100, np.random.default_rng(0))
    assert idx.size == 100 and np.all(np.diff(idx) > 0)
    assert set(np.unique(y[idx]).tolist()) == {0, 1, 2}
    np.testing.assert_array_equal(idx, _stratified_subsample(y, 100, np.random.default_rng(0)))


# Bad input ------------------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors(speakers, gmm, svm):
    frames, x, y = speakers[1]
    with pytest.raises(DataError, match="empty"):
        GMMBaseline().fit([], np.array([], dtype=np.int64))
    with pytest.raises(DataError, match="out of range"):
        GMMBaseline().fit(frames[:2], np.array([0, 5]), n_classes=4)
    with pytest.raises(DataError, match="negative"):
        GMMBaseline().fit(frames[:2], np.array([0, -1]))
    bad = [f.copy() for f in frames[:2]]
    bad[1][3, 2] = np.nan
    with pytest.raises(DataError, match="example 1 contains 1 NaN"):
        GMMBaseline().fit(bad, np.array([0, 1]))
    with pytest.raises(DataError, match="shape"):
        GMMBaseline().fit(frames[:2], np.array([0, 1, 1]))
    with pytest.raises(DataError, match="bands"):
        gmm.predict([frames[0][:, :10]])
    with pytest.raises(DataError, match="t >= 1"):
        gmm.predict([np.zeros((0, CFG.n_mels), dtype=np.float32)])
    with pytest.raises(DataError, match="sequence"):
        gmm.predict(frames[0])
    with pytest.raises(DataError, match="not fitted"):
        GMMBaseline().predict(frames[:1])
    with pytest.raises(ConfigError, match="covariance_type"):
        GMMBaseline(covariance_type="banana")

    with pytest.raises(DataError, match="empty"):
        SVMBaseline().fit(np.zeros((0, 5), dtype=np.float32), np.zeros(0, dtype=np.int64))
    xb = x.copy()
    xb[7, 0] = np.inf
    with pytest.raises(DataError, match="NaN/Inf .*row 7"):
        SVMBaseline().fit(xb, y)
    with pytest.raises(DataError, match="out of range"):
        SVMBaseline().fit(x, y, n_classes=2)
    with pytest.raises(DataError, match="2 distinct classes"):
        SVMBaseline().fit(x[:5], np.zeros(5, dtype=np.int64))
    with pytest.raises(DataError, match="integer class ids"):
        SVMBaseline().fit(x, y + 0.5)
    with pytest.raises(DataError, match="dims"):
        svm.predict(x[:, :10])
    with pytest.raises(DataError, match="NaN/Inf"):
        svm.predict(xb)
    with pytest.raises(DataError, match="not fitted"):
        SVMBaseline().predict(x)
    with pytest.raises(ConfigError, match="gamma"):
        SVMBaseline(gamma="wide")
