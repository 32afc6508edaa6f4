"""deepear.model.metrics, deepear.model.plots and deepear.model.model_card: numbers checked against scikit-learn
and by hand, PNGs checked as real PNG files, the model card checked for its mandatory caveats."""
from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from deepear.errors import DataError
from deepear.model import model_card, plots
from deepear.model.metrics import (STRESS_PROXY_LABEL, aggregate_by_clip, classification_report, mean_and_ci,
                                   snr_condition, t_quantile_975, task_title)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# aggregate_by_clip ------------------------------------------------------------------------------------------
def test_aggregate_by_clip_by_hand():
    # clip 7: two windows, clip 3: one window (ids deliberately unsorted and non-contiguous)
    p = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    ids = np.array([7, 3, 7])
    clips, lp = aggregate_by_clip(np.log(p), ids)
    assert clips.tolist() == [3, 7]
    # clip 3: its single window, unchanged
    np.testing.assert_allclose(np.exp(lp[0]), [0.9, 0.1], atol=1e-12)
    # clip 7: mean log-prob = log of the geometric mean, renormalised: sqrt(.5*.2)=.316228, sqrt(.5*.8)=.632456
    g = np.array([np.sqrt(0.1), np.sqrt(0.4)])
    np.testing.assert_allclose(np.exp(lp[1]), g / g.sum(), atol=1e-12)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-12)
    assert clips.dtype == np.int64 and lp.shape == (2, 2)


def test_aggregate_by_clip_weights():
    p = np.log(np.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]]))
    ids = np.array([1, 1, 1])
    # zero weight removes the last window entirely; weights 1:3 on the first two
    _, lp = aggregate_by_clip(p, ids, weights=np.array([1.0, 3.0, 0.0]))
    m = (1 * p[0] + 3 * p[1]) / 4
    expect = m - np.log(np.exp(m).sum())
    np.testing.assert_allclose(lp[0], expect, atol=1e-12)
    # equal weights == no weights
    _, a = aggregate_by_clip(p, ids, weights=np.ones(3))
    _, b = aggregate_by_clip(p, ids)
    np.testing.assert_allclose(a, b)


def test_aggregate_by_clip_rejects_bad_input():
    lp = np.log(np.full((3, 2), 0.5))
    with pytest.raises(DataError, match="clip_ids"):
        aggregate_by_clip(lp, np.array([0, 1]))
    with pytest.raises(DataError, match="integers"):
        aggregate_by_clip(lp, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(DataError, match="NaN"):
        aggregate_by_clip(np.array([[np.nan, 0.0]]), np.array([0]))
    with pytest.raises(DataError, match="zero total weight"):
        aggregate_by_clip(lp, np.array([0, 1, 1]), weights=np.array([0.0, 1.0, 1.0]))
    with pytest.raises(DataError, match="shape"):
        aggregate_by_clip(np.zeros(3), np.array([0, 1, 2]))


# classification_report --------------------------------------------------------------------------------------
def test_report_known_confusion():
    labels = ["a", "b", "c"]
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    r = classification_report(y_true, y_pred, labels)
    assert r["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert r["n"] == 6
    assert r["accuracy"] == pytest.approx(4 / 6)
    # by hand: a P=1 R=2/3 F=.8; b P=.5 R=.5 F=.5; c P=.5 R=1 F=2/3
    assert r["per_class"]["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert r["per_class"]["b"]["f1"] == pytest.approx(0.5)
    assert r["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_report_matches_sklearn_with_absent_classes(rng):
    labels = [f"c{i}" for i in range(6)]
    y_true = rng.integers(0, 4, size=200)          # classes 4, 5 never true
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 5, size=200))  # 5 never predicted either
    r = classification_report(y_true, y_pred, labels)
    assert r["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert r["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert np.array_equal(np.array(r["confusion"]), confusion_matrix(y_true, y_pred, labels=range(6)))
    assert len(r["confusion"]) == 6 and all(len(row) == 6 for row in r["confusion"])
    assert r["confusion"][5] == [0] * 6
    p, rec, f, s = precision_recall_fscore_support(y_true, y_pred, labels=range(6), zero_division=0)
    for i, name in enumerate(labels):
        assert r["per_class"][name] == pytest.approx({"precision": p[i], "recall": rec[i], "f1": f[i],
                                                      "support": s[i]})
    assert r["per_class"]["c5"]["support"] == 0


def test_report_rejects_bad_input():
    with pytest.raises(DataError, match="outside"):
        classification_report(np.array([0, 3]), np.array([0, 1]), ["a", "b"])
    with pytest.raises(DataError, match="items"):
        classification_report(np.array([0, 1]), np.array([0]), ["a", "b"])
    with pytest.raises(DataError, match="empty"):
        classification_report(np.array([], dtype=int), np.array([], dtype=int), ["a", "b"])


# mean_and_ci ------------------------------------------------------------------------------------------------
def test_mean_and_ci_one_value():
    assert mean_and_ci([0.8]) == (0.8, 0.0)


def test_mean_and_ci_matches_scipy():
    v = [0.71, 0.80, 0.76, 0.69, 0.83, 0.78, 0.74]
    m, h = mean_and_ci(v)
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert m == pytest.approx(np.mean(v))
    assert h == pytest.approx((hi - lo) / 2, rel=1e-5)
    for df in (1, 2, 5, 29, 30, 31, 45, 100, 1000):
        assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-5)
    with pytest.raises(DataError):
        mean_and_ci([])
    with pytest.raises(DataError):
        mean_and_ci([0.5, float("nan")])


def test_names():
    assert snr_condition(None) == "clean" and snr_condition(20.0) == "20" and snr_condition(0) == "0"
    assert task_title("stress") == STRESS_PROXY_LABEL
    assert task_title("emotion") == "emotion"
    assert task_title("stress / dnn") == STRESS_PROXY_LABEL + " / dnn"


# plots ------------------------------------------------------------------------------------------------------
def _assert_png(path, min_bytes=5000):
    data = open(path, "rb").read()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes
    return data


def test_plot_confusion_small_and_30_classes(tmp_path, rng):
    p = plots.plot_confusion([[5, 1], [2, 7]], ["stressed", "not_stressed"], "stress", tmp_path / "c2.png")
    _assert_png(p)
    labels = [f"ravdess_actor{i:02d}" for i in range(30)]
    cm = rng.integers(0, 4, size=(30, 30)) + np.diag(rng.integers(5, 30, size=30))
    cm[3] = 0  # a class absent from the test set
    p30 = plots.plot_confusion(cm.tolist(), labels, "speaker", tmp_path / "sub" / "c30.png")
    data = _assert_png(p30)
    # the figure grows with the class count (width/height in the IHDR chunk)
    w2 = int.from_bytes(open(p, "rb").read()[16:20], "big")
    w30 = int.from_bytes(data[16:20], "big")
    assert w30 > w2 * 1.5
    assert not [f for f in os.listdir(tmp_path / "sub") if f.endswith(".tmp")]
    with pytest.raises(DataError, match="3 x 3"):
        plots.plot_confusion([[1, 2], [3, 4]], ["a", "b", "c"], "x", tmp_path / "bad.png")


def test_plot_training_curves(tmp_path):
    hist = [{"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.2 / e, "val_acc_emotion": 0.2 + 0.05 * e,
             "val_acc_stress": 0.5 + 0.03 * e, "val_acc_scene": None if e == 1 else 0.7} for e in range(1, 9)]
    _assert_png(plots.plot_training_curves(hist, tmp_path / "curves.png"))
    with pytest.raises(DataError, match="empty"):
        plots.plot_training_curves([], tmp_path / "x.png")


def test_plot_noise_curves(tmp_path):
    res = {"emotion / dnn": {"clean": 0.62, "20": 0.6, "10": 0.52, "5": 0.44, "0": 0.35},
           "emotion / gmm": {"clean": 0.5, "20": 0.41, "10": 0.3, "0": 0.2}}
    _assert_png(plots.plot_noise_curves(res, tmp_path / "noise.png"))
    with pytest.raises(DataError, match="unknown conditions"):
        plots.plot_noise_curves({"x": {"15": 0.5}}, tmp_path / "bad.png")


def test_plot_failed_write_keeps_old_file(tmp_path, monkeypatch):
    out = tmp_path / "c.png"
    plots.plot_confusion([[1, 0], [0, 1]], ["a", "b"], "t", out)
    before = out.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        plots.plot_confusion([[9, 3], [4, 9]], ["a", "b"], "changed", out)
    assert out.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["c.png"]


# model card -------------------------------------------------------------------------------------------------
def _card_args():
    cond = {"clean": {"accuracy": 0.812, "macro_f1": 0.80, "n": 240}, "0": {"accuracy": 0.5, "macro_f1": 0.45,
                                                                            "n": 240},
            "10": {"accuracy": 0.7, "macro_f1": 0.66, "n": 240}}
    metrics = {"protocol": "6 folds of held-out RAVDESS actors.",
               "tasks": {"emotion": {"conditions": cond,
                                     "folds": [{"name": f"fold{i}", "accuracy": a, "macro_f1": a - 0.02, "n": 40}
                                               for i, a in enumerate([0.8, 0.82, 0.78])]},
                         "stress": {"conditions": {"clean": {"accuracy": 0.9, "macro_f1": 0.89, "n": 120}}}}}
    return dict(name="deepear-test", recipe_hash="abc123", params=1_234_567, notes=["a note"], metrics=metrics,
                tasks={"emotion": ["happiness", "sadness", "fear", "anger", "neutral"],
                       "stress": ["stressed", "not_stressed"], "scene": ["music", "traffic", "voicing", "other"]},
                data=[{"corpus": "ravdess", "clips": 1440, "licence": "CC BY-NC-SA 4.0"},
                      {"corpus": "fsdd", "clips": 3000, "licence": "CC BY-SA 4.0"}])


def test_model_card(tmp_path):
    p = model_card.write_model_card(tmp_path / "MODEL_CARD.md", **_card_args())
    text = p.read_text()
    assert model_card.STRESS_CAVEAT in text and model_card.STRESS_CAVEAT.startswith("**")
    assert "**Non-commercial use only" in text and "CC BY-NC-SA 4.0" in text
    assert f"| {STRESS_PROXY_LABEL} | 2 | stressed, not_stressed |" in text
    assert f"### {STRESS_PROXY_LABEL}" in text
    # condition rows in order clean, 10 dB, 0 dB with percentages
    i_clean, i_10, i_0 = text.index("| clean | 81.2% | 80.0% | 240 |"), text.index("| 10 dB SNR |"), \
        text.index("| 0 dB SNR | 50.0%")
    assert i_clean < i_10 < i_0
    m, h = mean_and_ci([0.8, 0.82, 0.78])
    assert f"| mean ± 95% CI (3 folds) | {100 * m:.1f} ± {100 * h:.1f}% |" in text
    assert "1,234,567" in text and "abc123" in text and "a note" in text
    assert "## Intended use" in text and "## Limitations" in text and "## Evaluation protocol" in text
    assert "6 folds of held-out RAVDESS actors." in text
    assert not [f for f in os.listdir(tmp_path) if f != "MODEL_CARD.md"]


def test_model_card_commercial_data_has_no_nc_notice(tmp_path):
    args = _card_args()
    args["data"] = [{"corpus": "fsdd", "clips": 3000, "licence": "CC BY-SA 4.0"}]
    args["tasks"] = {"scene": ["music", "other"]}
    args["metrics"] = {"tasks": {}}
    text = model_card.write_model_card(tmp_path / "card.md", **args).read_text()
    assert "Non-commercial" not in text and "non-commercial use only" not in text
    assert model_card.STRESS_CAVEAT not in text
    assert model_card.is_non_commercial("CC BY-NC 3.0") and not model_card.is_non_commercial("CC BY 4.0")
