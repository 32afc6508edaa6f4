"""A tiny end-to-end training on real clips: run folder contents, metrics, plots, resume, determinism."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deepear.data.mixing import condition_snr_db
from deepear.data.protocol import leak_group, make_split
from deepear.experiment import Experiment, load_model
from deepear.model import train as train_mod
from deepear.recipe import parse_recipe

TINY = {
    "name": "tiny", "seed": 0,
    "data": {"corpora": ["ravdess", "esc10", "esc50_urban", "fsdd", "music"], "max_clips_per_corpus": 48},
    "tasks": {"emotion": {"window_s": 5.0, "hop_s": 2.5}, "stress": {"window_s": 5.0, "hop_s": 2.5},
              "speaker": {"window_s": 5.0, "hop_s": 2.5}, "scene": {"window_s": 1.28, "hop_s": 1.28}},
    "protocol": {"runs": ["fold0"]},
    "model": {"hidden": [32, 32], "dropout": 0.0},
    "pretrain": {"epochs": 1, "max_windows": 800},
    "mixing": {"copies": 1},
    "train": {"epochs": 4, "patience": 10, "batch_size": 64, "threads": 1},
    "eval": {"snrs_db": [None, 0], "baselines": ["svm"]},
}


def _exp(data_root, tmp_path, **over):
    raw = json.loads(json.dumps(TINY))
    for k, v in over.items():
        raw[k] = {**raw.get(k, {}), **v} if isinstance(v, dict) else v
    return Experiment(parse_recipe(raw), data_root, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache",
                      workers=2)


def test_split_has_no_leakage(data_root, tmp_path):
    exp = _exp(data_root, tmp_path)
    s = make_split(exp.clips, "fold0", exp.bank, exp.tasks, 0)
    train_groups = {leak_group(exp.clips[i]) for i in np.concatenate([s.train, s.val])}
    for t, idx in s.test.items():
        assert not train_groups & {leak_group(exp.clips[i]) for i in idx}, t
    noise = {str(s.test_noise.resolve(e).resolve()) for e in s.test_noise.entries}
    assert not noise & {str(exp.clips[i].path.resolve()) for i in s.train}
    assert not {e.group for e in s.train_noise.entries} & {e.group for e in s.test_noise.entries}


def test_tiny_end_to_end_and_resume(data_root, tmp_path, monkeypatch):
    exp = _exp(data_root, tmp_path)
    # interrupt the first attempt after epoch 2's checkpoint
    real_fit = train_mod.fit

    def interrupted_fit(*a, **k):
        save = k["checkpoint"]

        def ckpt(state):
            save(state)
            if state["epoch"] == 2:
                raise KeyboardInterrupt

        k["checkpoint"] = ckpt
        return real_fit(*a, **k)

    monkeypatch.setattr("deepear.experiment.fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        exp.run()
    run_dir = exp.folder.path / "fold0"
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "DONE").exists()
    monkeypatch.setattr("deepear.experiment.fit", real_fit)

    metrics = _exp(data_root, tmp_path).run()                       # a new process would do the same
    log = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines() if x.strip()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]                # resumed at epoch 3, nothing repeated
    for r in log:   # validation accuracy of all windows and of the clean ones alone, per task
        for t in ("emotion", "stress", "scene"):
            assert 0.0 <= r[f"val_acc_{t}"] <= 1.0 and 0.0 <= r[f"val_clean_acc_{t}"] <= 1.0

    folder = exp.folder.path
    for name in ("recipe.yaml", "environment.json", "labels.json", "metrics.json", "MODEL_CARD.md", "DONE",
                 "plots/confusion_emotion.png", "plots/noise_robustness.png", "plots/training_fold0.png",
                 "plots/rbm_reconstruction.png", "fold0/model.pt", "fold0/pretrain.json"):
        assert (folder / name).exists(), name
    for t in ("emotion", "stress", "scene"):
        for cond in ("clean", "0"):
            a = metrics["tasks"][t]["conditions"][cond]["accuracy"]
            assert 0.0 <= a <= 1.0
        assert "svm" in metrics["tasks"][t]["baselines"]
    assert "proxy" in (folder / "MODEL_CARD.md").read_text().lower()
    assert "non-commercial" in (folder / "MODEL_CARD.md").read_text().lower()
    env = json.loads((folder / "environment.json").read_text())
    assert env["packages"]["torch"].startswith("2.13.0")

    model, meta = load_model(folder / "fold0" / "model.pt")
    assert set(meta["labels"]["emotion"]) == {"anger", "fear", "happiness", "neutral", "sadness"}
    assert model.task_names == ["emotion", "stress", "speaker", "scene"]
    assert meta["front_end"]["n_mels"] == 32

    # a finished run is not retrained: same metrics back, no new epochs
    again = _exp(data_root, tmp_path).run()
    assert again["tasks"]["emotion"]["conditions"] == metrics["tasks"]["emotion"]["conditions"]


def test_training_windows_are_reproducible(data_root, tmp_path):
    a = _exp(data_root, tmp_path)
    s = make_split(a.clips, "fold0", a.bank, a.tasks, 0)
    w1, _, _, _ = a.training_data(s, keep_frames=False)
    b = _exp(data_root, tmp_path / "other")                         # fresh cache: recomputed from audio
    w2, _, _, _ = b.training_data(s, keep_frames=False)
    assert np.array_equal(w1.x, w2.x) and np.array_equal(w1.y, w2.y)
    assert list(w1.condition) == list(w2.condition) and any(c != "clean" for c in w1.condition)


def test_clean_corpora_train_without_noisy_copies(data_root, tmp_path):
    """mixing.clean_corpora: those corpora's training clips are used clean only; the others keep their copies,
    drawn exactly as without the option (the same noisy windows)."""
    scene = ["esc10", "esc50_urban", "music"]
    a = _exp(data_root, tmp_path, mixing={"copies": 1, "clean_corpora": scene})
    s = make_split(a.clips, "fold0", a.bank, a.tasks, 0)
    w, _, _, _ = a.training_data(s, keep_frames=False)
    corpus = np.array([a.clips[i].corpus for i in w.clip])
    only_clean = np.isin(corpus, scene)
    assert only_clean.any() and (~only_clean).any()
    assert all(c == "clean" for c in w.condition[only_clean])
    ref, _, _, _ = _exp(data_root, tmp_path).training_data(s, keep_frames=False)
    keep = ~np.isin(np.array([a.clips[i].corpus for i in ref.clip]), scene) | (ref.condition == "clean")
    assert any(c != "clean" for c in ref.condition[~keep])                # the option removed noisy windows
    assert np.array_equal(ref.x[keep], w.x) and list(ref.condition[keep]) == list(w.condition)


def test_validation_copies_at_the_protocols_own_snrs(data_root, tmp_path):
    """protocol.val_snrs_db: each validation clip's noisy copy is drawn from those SNRs, not from mixing.snrs_db
    (so a knob on the training SNRs leaves validation as it was); the clean windows do not change."""
    a = _exp(data_root, tmp_path)
    s = make_split(a.clips, "fold0", a.bank, a.tasks, 0)
    ref = a.validation_data(s)
    b = _exp(data_root, tmp_path, protocol={"runs": ["fold0"], "val_snrs_db": [-3]})
    fixed = b.validation_data(s)
    snr = lambda ws: [condition_snr_db(c) for c in ws.condition]  # noqa: E731
    assert {x for x in snr(fixed) if x is not None} == {-3.0}
    assert {x for x in snr(ref) if x is not None} <= {20.0, 10.0, 5.0, 0.0} and -3.0 not in snr(ref)
    clean = lambda ws: ws.x[ws.condition == "clean"]  # noqa: E731
    assert np.array_equal(clean(ref), clean(fixed)) and len(clean(ref)) > 0
    c = _exp(data_root, tmp_path, mixing={"copies": 1, "snrs_db": [-5]}, protocol={"runs": ["fold0"],
             "val_snrs_db": [20, 10, 5, 0]})
    assert np.array_equal(c.validation_data(s).x, ref.x)              # training SNRs no longer move validation


def test_label_min_snr_unlabels_only_that_task_on_low_snr_copies(data_root, tmp_path):
    """mixing.label_min_snr_db: a noisy copy mixed below the task's SNR loses that task's label only (stress, in
    the same 5 s window as emotion, keeps it); clean windows keep every label; a window left with no label is
    dropped; the vectors are those built without the option. Pre-training still sees every window."""
    a = _exp(data_root, tmp_path, mixing={"copies": 2, "label_min_snr_db": {"emotion": 10, "scene": 10}})
    s = make_split(a.clips, "fold0", a.bank, a.tasks, 0)
    w, _, pre, _ = a.training_data(s, keep_frames=False)
    ref, _, pre_ref, _ = _exp(data_root, tmp_path, mixing={"copies": 2}).training_data(s, keep_frames=False)
    assert np.array_equal(pre, pre_ref)
    snr = np.array([np.inf if c == "clean" else float(c.rsplit("@", 1)[1][:-2]) for c in ref.condition])
    low = snr < 10
    assert low.any() and (~low & (snr < np.inf)).any()              # both kinds of copies are drawn
    emo, stress, scene = (ref.tasks.index(t) for t in ("emotion", "stress", "scene"))
    y = ref.y.copy()
    y[low, emo] = -1
    y[low, scene] = -1
    keep = (y >= 0).any(axis=1)
    assert (~keep).any() and ((ref.y[low, stress] >= 0).any())      # scene-only windows go, stress-labelled stay
    assert np.array_equal(w.x, ref.x[keep]) and np.array_equal(w.y, y[keep])
    assert list(w.condition) == list(ref.condition[keep])


def test_adapted_experiment_trains_evaluates_and_reloads_its_adapter(data_root, tmp_path):
    """adaptation.tasks + delta statistics end to end: the run folder keeps the adapter, test windows of every
    held-out speaker are standardised with that speaker's own windows, and re-evaluating the saved model with
    the stored adapter gives the numbers of the training-time evaluation."""
    exp = _exp(data_root, tmp_path, tasks={**TINY["tasks"], "speaker": {"window_s": 1.28, "hop_s": 1.28}},
               adaptation={"tasks": ["emotion", "stress"], "min_windows": 2},
               front_end={"delta_stats": ["std"]}, eval={"snrs_db": [None], "baselines": ["svm"]})
    metrics = exp.run()
    run = exp.folder.path / "fold0"
    stored = json.loads((run / "adaptation.json").read_text())
    assert stored["groups"] == exp.adapted_groups() == [1] and len(stored["ref_std"]) == 32 * 8
    adapter = exp.load_adapter("fold0")
    split = make_split(exp.clips, "fold0", exp.bank, exp.tasks, 0)
    test = exp.test_data(split, None, keep_frames=False, adapter=adapter)
    raw = exp.test_data(split, None, keep_frames=False)
    five = test.wgroup == 1
    assert five.any() and np.array_equal(test.x[~five], raw.x[~five])       # only the 5 s group changes
    spk = adapter.speakers(test, exp.clips)
    for s in set(spk[five]):
        m = five & (spk == s)
        np.testing.assert_allclose(test.x[m].mean(axis=0), adapter.ref_mean, rtol=1e-4, atol=1e-3)
    again = exp.evaluate_saved([None])
    for t in ("emotion", "stress"):
        assert again["tasks"][t]["conditions"]["clean"]["accuracy"] == metrics["tasks"][t]["conditions"]["clean"]["accuracy"]
    from deepear.report import format_metrics
    assert "adapted per speaker" in metrics["adaptation_note"] and "adapted per speaker" in format_metrics(again)
    assert "adapted per speaker" in (exp.folder.path / "MODEL_CARD.md").read_text()


def test_validation_accuracy_splits_clean_from_noisy_windows():
    """The clean-only numbers are exactly those of the clean subset; the mixed ones those of the whole set."""
    import torch

    from deepear.data.windows import WindowSet
    from deepear.model.dnn import MultiTaskDNN

    rng = np.random.default_rng(0)
    n = 60
    y = np.stack([rng.integers(0, 3, n), np.where(np.arange(n) % 4 == 0, -1, rng.integers(0, 2, n))], axis=1)
    cond = np.array(["clean" if i % 3 else "rain@0dB" for i in range(n)], dtype=object)
    ws = WindowSet(("a", "b"), rng.normal(size=(n, 6)).astype(np.float32), y.astype(np.int64),
                   np.arange(n), np.zeros(n, np.int64), np.ones(n, bool), cond)
    model = MultiTaskDNN(6, {"a": 3, "b": 2}, hidden=[8], generator=torch.Generator().manual_seed(1))
    acc, acc_clean = train_mod.validation_accuracy(model, ws)
    assert acc == train_mod.window_accuracy(model, ws)
    assert acc_clean == train_mod.window_accuracy(model, ws.subset(cond == "clean"))
    assert acc_clean != acc           # the noisy third changes the numbers (not one set reported twice)
    assert train_mod.validation_accuracy(model, ws.subset(cond != "clean"))[1] == {}
