"""MultiTaskDNN structure and forward pass; masked multi-task loss against a manual computation."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepear.errors import ConfigError, DataError
from deepear.model.dnn import MultiTaskDNN, fit_input_norm
from deepear.model.losses import labels_by_task, masked_multitask_loss

TASKS = {"scene": 4, "emotion": 5, "stress": 2, "speaker": 23}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# Model ----------------------------------------------------------------------------------------------------
def test_forward_shapes_and_default_architecture():
    model = MultiTaskDNN(224, TASKS)
    assert model.hidden == (512, 512, 512) and model.activation == "sigmoid"
    out = model(torch.randn(7, 224, generator=_gen()))
    assert list(out) == ["scene", "emotion", "stress", "speaker"]
    assert {t: tuple(v.shape) for t, v in out.items()} == {t: (7, n) for t, n in TASKS.items()}
    assert [n for n, _ in model.linear_layers()] == [
        "trunk.fc1", "trunk.fc2", "trunk.fc3", "heads.scene", "heads.emotion", "heads.stress", "heads.speaker"]
    assert all(isinstance(m, nn.Linear) for _, m in model.linear_layers())
    named = dict(model.named_modules())
    assert all(named[n] is m for n, m in model.linear_layers())


def test_layer_sizes_match_deepears_emotion_net():
    # seed 004: 224 -> 512 -> 512 -> 512 -> 14 outputs = 115,200 / 262,656 / 262,656 / 7,182 parameters
    model = MultiTaskDNN(224, {"a": 14})
    sizes = [m.weight.numel() + m.bias.numel() for _, m in model.linear_layers()]
    assert sizes == [115_200, 262_656, 262_656, 7_182]
    assert model.n_parameters() == sum(sizes)


def test_configurable_width_depth_activation_dropout():
    model = MultiTaskDNN(10, {"x": 3}, hidden=(8, 6), activation="relu", dropout=0.5)
    kinds = [type(m).__name__ for m in model.trunk]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout"]
    assert [m.out_features for m in model.trunk_linears()] == [8, 6]
    x = torch.randn(5, 10, generator=_gen())
    model.eval()
    assert torch.equal(model(x)["x"], model(x)["x"])   # dropout off in eval
    assert isinstance(MultiTaskDNN(10, {"x": 3}, activation="tanh").trunk.act1, nn.Tanh)
    assert not any(isinstance(m, nn.Dropout) for m in MultiTaskDNN(10, {"x": 3}).modules())


def test_input_standardisation_lives_in_the_model():
    raw = torch.randn(50, 12, generator=_gen(1)) * 30.0 + 100.0
    mean, std = fit_input_norm(raw)
    torch.testing.assert_close(mean, raw.mean(0))
    normed = MultiTaskDNN(12, {"x": 3}, hidden=(16,), input_norm=(mean, std), generator=_gen(2))
    plain = MultiTaskDNN(12, {"x": 3}, hidden=(16,), generator=_gen(2))
    torch.testing.assert_close(normed(raw)["x"], plain((raw - mean) / std)["x"])
    sd = normed.state_dict()
    torch.testing.assert_close(sd["input_mean"], mean)
    torch.testing.assert_close(sd["input_std"], std)
    # an exported / reloaded model carries the normalisation
    again = MultiTaskDNN.from_config(normed.config())
    again.load_state_dict(sd)
    torch.testing.assert_close(again(raw)["x"], normed(raw)["x"])
    # a constant feature does not divide by zero
    m2, s2 = fit_input_norm(torch.ones(4, 3))
    assert torch.all(s2 > 0)
    with pytest.raises(ConfigError, match="mean"):
        normed.set_input_norm(torch.zeros(11), torch.ones(12))


def test_initialisation_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a = MultiTaskDNN(20, {"x": 3}, hidden=(8, 8), generator=_gen(5))
    b = MultiTaskDNN(20, {"x": 3}, hidden=(8, 8), generator=_gen(5))
    c = MultiTaskDNN(20, {"x": 3}, hidden=(8, 8), generator=_gen(6))
    assert torch.equal(state, torch.random.get_rng_state())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.trunk.fc1.weight, c.trunk.fc1.weight)
    assert all(float(m.bias.detach().abs().sum()) == 0.0 for _, m in a.linear_layers())


def test_layers_can_be_replaced_by_name():
    # what DeepX's SVD compression will do: fc2 -> two thinner Linear layers
    model = MultiTaskDNN(20, {"x": 3, "y": 2}, hidden=(8, 8), generator=_gen())
    x = torch.randn(4, 20, generator=_gen(1))
    ref = model(x)
    w = model.trunk.fc2.weight.detach()
    u, s, vh = torch.linalg.svd(w)
    first = nn.Linear(8, 8, bias=False)
    second = nn.Linear(8, 8)
    with torch.no_grad():
        first.weight.copy_(torch.diag(s) @ vh)
        second.weight.copy_(u)
        second.bias.copy_(model.trunk.fc2.bias)
    model.set_submodule("trunk.fc2", nn.Sequential(first, second))
    out = model(x)
    for t in ref:
        torch.testing.assert_close(out[t], ref[t], atol=1e-5, rtol=1e-5)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ConfigError, match="activation"):
        MultiTaskDNN(10, {"x": 3}, activation="gelu")
    with pytest.raises(ConfigError, match="n_classes"):
        MultiTaskDNN(10, {"x": 1})
    with pytest.raises(ConfigError, match="identifier"):
        MultiTaskDNN(10, {"my.task": 3})
    with pytest.raises(ConfigError, match="hidden"):
        MultiTaskDNN(10, {"x": 3}, hidden=())
    with pytest.raises(ConfigError, match="dropout"):
        MultiTaskDNN(10, {"x": 3}, dropout=1.0)
    with pytest.raises(DataError, match=r"\(B, 10\)"):
        MultiTaskDNN(10, {"x": 3})(torch.zeros(2, 11))


# Masked loss ----------------------------------------------------------------------------------------------
def _manual(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    lp = torch.log_softmax(logits, dim=1)
    terms = [-lp[i, int(y[i])] for i in range(y.shape[0]) if int(y[i]) >= 0]
    return torch.stack(terms).mean() if terms else torch.tensor(0.0)


def _batch():
    g = _gen(3)
    logits = {t: torch.randn(6, n, generator=g, requires_grad=True) for t, n in TASKS.items()}
    # rows 0-2: RAVDESS-like (emotion, stress, speaker), rows 3-5: ESC-like (scene only)
    labels = torch.tensor([[-1, 1, 0, 4],
                           [-1, 3, 1, 7],
                           [-1, 0, 0, 22],
                           [2, -1, -1, -1],
                           [0, -1, -1, -1],
                           [3, -1, -1, -1]])
    return logits, labels


def test_masked_loss_matches_manual_computation_and_ignores_missing_labels():
    logits, labels = _batch()
    weights = {"scene": 2.0, "speaker": 0.5}
    res = masked_multitask_loss(logits, labels, task_weights=weights)
    expected_total = 0.0
    for j, t in enumerate(TASKS):
        manual = _manual(logits[t], labels[:, j])
        torch.testing.assert_close(res.per_task[t], manual)
        expected_total = expected_total + weights.get(t, 1.0) * manual
    torch.testing.assert_close(res.total, expected_total)
    assert res.counts == {"scene": 3, "emotion": 3, "stress": 3, "speaker": 3}
    # changing the logits of unlabelled rows changes nothing
    res.total.backward()
    assert float(logits["scene"].grad[:3].abs().sum()) == 0.0
    assert float(logits["emotion"].grad[3:].abs().sum()) == 0.0
    assert float(logits["scene"].grad[3:].abs().sum()) > 0.0


def test_dict_labels_equal_tensor_labels_and_absent_tasks_are_missing():
    logits, labels = _batch()
    as_dict = {t: labels[:, j] for j, t in enumerate(TASKS)}
    a = masked_multitask_loss(logits, labels)
    b = masked_multitask_loss(logits, as_dict)
    torch.testing.assert_close(a.total, b.total)
    partial = masked_multitask_loss(logits, {"scene": labels[:, 0]})
    torch.testing.assert_close(partial.total, a.per_task["scene"])
    assert partial.counts["emotion"] == 0


def test_task_with_no_labelled_example_gives_zero_and_finite_grads():
    logits, labels = _batch()
    labels[:, 1] = -1   # no emotion label in this batch
    res = masked_multitask_loss(logits, labels)
    assert float(res.per_task["emotion"].detach()) == 0.0 and res.counts["emotion"] == 0
    assert torch.isfinite(res.total)
    res.total.backward()
    for t, z in logits.items():
        assert z.grad is not None and torch.isfinite(z.grad).all(), t
    assert float(logits["emotion"].grad.abs().sum()) == 0.0
    # all tasks missing: total 0, finite, zero grads through a real model
    model = MultiTaskDNN(12, TASKS, hidden=(8,), generator=_gen())
    out = model(torch.randn(3, 12, generator=_gen(1)))
    res = masked_multitask_loss(out, torch.full((3, 4), -1, dtype=torch.long))
    assert float(res.total.detach()) == 0.0
    res.total.backward()
    assert all(torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) == 0.0 for p in model.parameters())


def test_class_weights_follow_torch_weighted_mean():
    logits, labels = _batch()
    w = torch.tensor([1.0, 3.0, 0.5, 2.0])
    res = masked_multitask_loss(logits, labels, class_weights={"scene": w})
    rows = labels[:, 0] >= 0
    expected = F.cross_entropy(logits["scene"][rows], labels[rows, 0], weight=w)
    torch.testing.assert_close(res.per_task["scene"], expected)
    torch.testing.assert_close(res.per_task["emotion"], _manual(logits["emotion"], labels[:, 1]))


def test_bad_labels_raise_clear_errors():
    logits, labels = _batch()
    bad = labels.clone()
    bad[0, 3] = 23
    with pytest.raises(DataError, match="speaker"):
        masked_multitask_loss(logits, bad)
    with pytest.raises(DataError, match="dtype"):
        masked_multitask_loss(logits, labels.float())
    with pytest.raises(DataError, match="shape"):
        masked_multitask_loss(logits, labels[:, :3])
    with pytest.raises(DataError, match="unknown"):
        masked_multitask_loss(logits, {"genre": labels[:, 0]})
    with pytest.raises(ConfigError, match="unknown"):
        masked_multitask_loss(logits, labels, task_weights={"genre": 1.0})
    with pytest.raises(DataError):
        labels_by_task(labels, list(TASKS), batch_size=5)


def test_a_mixed_corpus_batch_trains():
    model = MultiTaskDNN(12, TASKS, hidden=(16, 16), generator=_gen())
    x = torch.randn(6, 12, generator=_gen(4))
    _, labels = _batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = float(masked_multitask_loss(model(x), labels).total.detach())
    for _ in range(30):
        opt.zero_grad()
        loss = masked_multitask_loss(model(x), labels).total
        loss.backward()
        opt.step()
    assert float(masked_multitask_loss(model(x), labels).total.detach()) < 0.5 * first
