"""The fine-tuning loop's weight average (train.ema_epochs): what is kept, resume, and the recipe hash."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from deepear.data.windows import WindowSet
from deepear.errors import ConfigError
from deepear.model.dnn import MultiTaskDNN, fit_input_norm
from deepear.model.train import ema_decay, fit
from deepear.recipe import TrainSpec, parse_recipe

TASKS = {"a": 3, "b": 2}


def _windows(n: int, seed: int) -> WindowSet:
    """Two tasks on 8-dim vectors: a = which of 3 cluster centres, b = sign of feature 0 (half the windows
    unlabelled for b); a tenth of the windows are marked clean, the rest noisy."""
    centres = np.random.default_rng(0).normal(0, 2, (3, 8))     # the same classes in every set
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, n)
    x = (centres[a] + rng.normal(0, 1.5, (n, 8))).astype(np.float32)
    b = (x[:, 0] > 0).astype(np.int64)
    b[rng.random(n) < 0.5] = -1
    cond = np.array(["clean" if i % 10 == 0 else "noise@10dB" for i in range(n)], dtype=object)
    return WindowSet(("a", "b"), x, np.stack([a, b], 1).astype(np.int64), np.arange(n), np.zeros(n, np.int64),
                     np.ones(n, bool), cond)


def _model(train: WindowSet) -> MultiTaskDNN:
    return MultiTaskDNN(8, TASKS, hidden=(16,), dropout=0.1, input_norm=fit_input_norm(train.x),
                        generator=torch.Generator().manual_seed(1))


SPEC = TrainSpec(epochs=6, batch_size=32, lr=3e-3, patience=10, threads=1, ema_epochs=1.0)


def test_ema_decay_is_a_time_constant_in_epochs():
    # 320 windows of 32 = 10 steps per epoch; after one epoch of steps the old weights count exp(-1)
    assert ema_decay(1.0, 320, 32) ** 10 == pytest.approx(np.exp(-1.0))
    assert ema_decay(2.0, 321, 32) ** 22 == pytest.approx(np.exp(-1.0))   # 11 steps (last one partial)


def test_kept_weights_are_the_average_not_the_last_step():
    train, val = _windows(400, 0), _windows(120, 1)
    raw = _model(train)
    res_raw = fit(raw, train, val, dataclasses.replace(SPEC, ema_epochs=0.0), {"a": 1.0, "b": 1.0}, seed=3)
    avg = _model(train)
    res_avg = fit(avg, train, val, SPEC, {"a": 1.0, "b": 1.0}, seed=3)
    # the same steps were taken (same seed): the averaged run keeps different weights, which still learnt
    assert [r["train_loss"] for r in res_raw.history] == pytest.approx([r["train_loss"] for r in res_avg.history])
    assert not torch.equal(raw.trunk.fc1.weight, avg.trunk.fc1.weight)
    assert res_avg.best_score > 0.6 and res_raw.best_score > 0.6
    # the kept state is a plain model state (same keys as the raw model's), loadable without the wrapper
    assert set(avg.state_dict()) == set(raw.state_dict())


def test_averaged_run_resumes_to_the_same_weights():
    train, val = _windows(400, 0), _windows(120, 1)
    full = _model(train)
    fit(full, train, val, SPEC, {"a": 1.0, "b": 1.0}, seed=5)

    states = []
    part = _model(train)

    def stop_after_3(state):
        states.append(state)
        if state["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(part, train, val, SPEC, {"a": 1.0, "b": 1.0}, seed=5, checkpoint=stop_after_3)
    assert states[-1]["ema"] is not None
    resumed = _model(train)
    fit(resumed, train, val, SPEC, {"a": 1.0, "b": 1.0}, seed=5, resume=states[-1])
    for k, v in full.state_dict().items():
        assert torch.allclose(v, resumed.state_dict()[k], atol=1e-6), k

    no_average = {**states[-1], "ema": None}
    with pytest.raises(ConfigError, match="weight average"):
        fit(_model(train), train, val, SPEC, {"a": 1.0, "b": 1.0}, seed=5, resume=no_average)


def test_recipe_hash_ignores_the_default_and_rejects_negative():
    base = {"name": "x", "tasks": {"emotion": {}}}
    h0 = parse_recipe(base).hash()
    assert parse_recipe({**base, "train": {"ema_epochs": 0.0}}).hash() == h0     # older run folders keep theirs
    assert parse_recipe({**base, "train": {"ema_epochs": 1.0}}).hash() != h0
    with pytest.raises(ConfigError, match="ema_epochs"):
        parse_recipe({**base, "train": {"ema_epochs": -1}})
