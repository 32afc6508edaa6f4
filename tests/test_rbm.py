"""RBM pre-training on real features: CD lowers reconstruction error, determinism, stacking, trunk init, plot."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from deepear.audio.config import FrontEndConfig
from deepear.audio.features import log_mel, summary_stats
from deepear.audio.io import load_audio
from deepear.errors import ConfigError, DataError
from deepear.model.dnn import MultiTaskDNN, fit_input_norm
from deepear.model.rbm import (BernoulliRBM, GaussianBernoulliRBM, RBMConfig, cd_step, init_trunk_from_rbms,
                               plot_recon_errors, pretrain_stack, recon_history, reconstruction_error, train_rbm)

DATA_ROOT = Path(os.environ.get("DEEPEAR_DATA") or Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets")


def _clips() -> list[Path]:
    rav = sorted((DATA_ROOT / "ravdess").glob("Actor_*/*.flac"))
    esc = sorted((DATA_ROOT / "esc10").glob("*/*.flac"))
    assert len(rav) >= 12 and len(esc) >= 12, f"RAVDESS / ESC-10 clips not found under {DATA_ROOT}"
    # spread over actors / classes: every k-th file
    return rav[:: max(1, len(rav) // 12)][:12] + esc[:: max(1, len(esc) // 12)][:12]


@pytest.fixture(scope="module")
def features() -> torch.Tensor:
    """Standardised whole-clip summary vectors of 12 RAVDESS + 12 ESC-10 clips: (24, 224) float32."""
    cfg = FrontEndConfig()
    rows = [summary_stats(log_mel(load_audio(p), cfg), cfg.stats) for p in _clips()]
    x = torch.tensor(np.stack(rows))
    assert x.shape == (24, cfg.dim)
    mean, std = fit_input_norm(x)
    return (x - mean) / std


def _gb(seed: int, n_hidden: int = 64) -> GaussianBernoulliRBM:
    return GaussianBernoulliRBM(224, n_hidden, generator=torch.Generator().manual_seed(seed))


def test_one_cd_step_lowers_reconstruction_error_on_real_features(features):
    rbm = _gb(0)
    rbm.init_visible_bias(features)
    before = reconstruction_error(rbm, features)
    cd_step(rbm, features, lr=0.005, generator=torch.Generator().manual_seed(1))
    after = reconstruction_error(rbm, features)
    assert after < before


def test_one_cd_step_lowers_error_of_a_bernoulli_layer(features):
    gb = _gb(0)
    gb.init_visible_bias(features)
    train_rbm(gb, features, generator=torch.Generator().manual_seed(2), epochs=3, batch_size=8)
    h = gb.transform(features)
    assert h.shape == (24, 64) and 0.0 <= float(h.min()) and float(h.max()) <= 1.0
    rbm = BernoulliRBM(64, 32, generator=torch.Generator().manual_seed(3))
    rbm.init_visible_bias(h)
    before = reconstruction_error(rbm, h)
    cd_step(rbm, h, lr=0.05, generator=torch.Generator().manual_seed(4))
    assert reconstruction_error(rbm, h) < before


def test_a_few_epochs_lower_reconstruction_error_and_report_it(features):
    rbm = _gb(0)
    rbm.init_visible_bias(features)
    initial = reconstruction_error(rbm, features)
    seen: list[tuple[int, float]] = []
    hist = train_rbm(rbm, features, generator=torch.Generator().manual_seed(5), epochs=6, batch_size=8,
                     lr=0.005, k=1, momentum=0.9, weight_decay=2e-4, on_epoch=lambda e, r: seen.append((e, r)))
    assert len(hist) == 6 and all(np.isfinite(hist))
    assert [e for e, _ in seen] == [1, 2, 3, 4, 5, 6] and [r for _, r in seen] == hist
    assert rbm.recon_errors == hist
    assert hist[-1] < hist[0] < initial
    assert hist[-1] < 0.5 * initial
    assert hist[-1] == pytest.approx(reconstruction_error(rbm, features))


def test_cd_k_greater_than_one_also_learns(features):
    rbm = _gb(0)
    rbm.init_visible_bias(features)
    initial = reconstruction_error(rbm, features)
    hist = train_rbm(rbm, features, generator=torch.Generator().manual_seed(5), epochs=3, batch_size=8, k=3)
    assert hist[-1] < initial


def test_same_generator_seed_gives_identical_weights(features):
    def run(seed: int) -> GaussianBernoulliRBM:
        g = torch.Generator().manual_seed(seed)
        rbm = GaussianBernoulliRBM(224, 32, generator=g)
        rbm.init_visible_bias(features)
        train_rbm(rbm, features, generator=g, epochs=2, batch_size=8)
        return rbm

    a, b, c = run(7), run(7), run(8)
    for name in ("W", "h_bias", "v_bias"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.W, c.W)


def test_training_does_not_touch_the_global_rng(features):
    state = torch.random.get_rng_state()
    rbm = _gb(0)
    train_rbm(rbm, features, generator=torch.Generator().manual_seed(1), epochs=1, batch_size=8)
    assert torch.equal(state, torch.random.get_rng_state())


def test_pretrain_stack_is_greedy_and_layer_wise(features):
    calls: list[tuple[int, int, float]] = []
    cfg = RBMConfig(epochs=2, batch_size=8)
    rbms = pretrain_stack(features, (32, 16), cfg, generator=torch.Generator().manual_seed(0),
                          on_epoch=lambda layer, epoch, err: calls.append((layer, epoch, err)))
    assert [type(r) for r in rbms] == [GaussianBernoulliRBM, BernoulliRBM]
    assert (rbms[0].n_visible, rbms[0].n_hidden, rbms[1].n_visible, rbms[1].n_hidden) == (224, 32, 32, 16)
    assert [(l, e) for l, e, _ in calls] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    # layer 2 was trained on layer 1's hidden probabilities: its reported error is measured on them
    h = rbms[0].transform(features)
    assert calls[-1][2] == pytest.approx(reconstruction_error(rbms[1], h))
    hist = recon_history(rbms)
    assert list(hist) == ["rbm1 (gaussian 224-32)", "rbm2 (bernoulli 32-16)"]
    assert all(len(v) == 2 for v in hist.values())
    again = pretrain_stack(features, (32, 16), cfg, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a.W, b.W) for a, b in zip(rbms, again))


def test_init_trunk_from_rbms_copies_weights_and_hidden_biases(features):
    model = MultiTaskDNN(224, {"scene": 4, "emotion": 5}, hidden=(32, 16, 8), activation="sigmoid")
    model.set_input_norm(torch.zeros(224), torch.ones(224))   # features are already standardised
    rbms = pretrain_stack(features, (32, 16), RBMConfig(epochs=1, batch_size=8),
                          generator=torch.Generator().manual_seed(0))
    fc3_before = model.trunk.fc3.weight.clone()
    heads_before = {t: model.heads[t].weight.clone() for t in model.tasks}
    assert init_trunk_from_rbms(model, rbms) == 2
    assert torch.equal(model.trunk.fc1.weight, rbms[0].W) and torch.equal(model.trunk.fc1.bias, rbms[0].h_bias)
    assert torch.equal(model.trunk.fc2.weight, rbms[1].W) and torch.equal(model.trunk.fc2.bias, rbms[1].h_bias)
    assert torch.equal(model.trunk.fc3.weight, fc3_before)
    assert all(torch.equal(model.heads[t].weight, w) for t, w in heads_before.items())
    # a sigmoid trunk layer now computes the RBM's p(h=1|v)
    with torch.no_grad():
        h1 = model.trunk.act1(model.trunk.fc1(features))
    torch.testing.assert_close(h1, rbms[0].hidden_probs(features))
    # the copy is a copy, not an alias
    rbms[0].W.zero_()
    assert model.trunk.fc1.weight.abs().sum() > 0


def test_init_trunk_from_rbms_rejects_mismatches_and_warns_on_relu(caplog):
    g = torch.Generator().manual_seed(0)
    model = MultiTaskDNN(224, {"scene": 4}, hidden=(32, 16))
    with pytest.raises(ConfigError, match="layer 1"):
        init_trunk_from_rbms(model, [GaussianBernoulliRBM(224, 64, generator=g)])
    with pytest.raises(ConfigError, match="3 RBMs"):
        init_trunk_from_rbms(model, [GaussianBernoulliRBM(224, 32, generator=g)] * 3)
    relu = MultiTaskDNN(224, {"scene": 4}, hidden=(32, 16), activation="relu")
    rbm = GaussianBernoulliRBM(224, 32, generator=g)
    with caplog.at_level(logging.WARNING, logger="deepear.model.rbm"):
        assert init_trunk_from_rbms(relu, [rbm]) == 1
    assert "relu" in caplog.text
    assert torch.equal(relu.trunk.fc1.weight, rbm.W)


def test_bad_input_raises_clear_errors(features):
    g = torch.Generator().manual_seed(0)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        train_rbm(BernoulliRBM(224, 8, generator=g), features, generator=g, epochs=1)
    with pytest.raises(DataError, match="expected"):
        train_rbm(GaussianBernoulliRBM(100, 8, generator=g), features, generator=g, epochs=1)
    bad = features.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        train_rbm(GaussianBernoulliRBM(224, 8, generator=g), bad, generator=g, epochs=1)
    with pytest.raises(ConfigError):
        RBMConfig(k=0)
    with pytest.raises(ConfigError, match="unknown"):
        RBMConfig.from_dict({"learning_rate": 0.1})


def test_divergence_is_reported_not_silent(features):
    g = torch.Generator().manual_seed(0)
    rbm = GaussianBernoulliRBM(224, 64, generator=g)
    with pytest.raises(ConfigError, match="diverged"):
        train_rbm(rbm, features * 50.0, generator=g, epochs=5, batch_size=8, lr=5.0, max_update_norm=None)


def test_plot_recon_errors_writes_a_png_atomically(tmp_path):
    out = plot_recon_errors({"rbm1": [1.0, 0.5, 0.3], "rbm2": [0.2, 0.1]}, tmp_path / "plots" / "recon.png")
    assert out == tmp_path / "plots" / "recon.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["recon.png"]
    with pytest.raises(DataError):
        plot_recon_errors({}, tmp_path / "empty.png")
