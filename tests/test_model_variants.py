"""bench/model_variants.py: architectures judged by bench/knob_study.py before they are built into deepear/."""
from __future__ import annotations

import pytest
import torch

from bench.model_variants import TaskTowerDNN, builder
from deepear.model.rbm import BernoulliRBM, GaussianBernoulliRBM, init_trunk_from_rbms

TASKS = {"emotion": 5, "stress": 2, "scene": 4}


def _tower(seed: int, dropout: float = 0.1) -> TaskTowerDNN:
    return TaskTowerDNN(12, TASKS, 8, hidden=(16, 16), activation="sigmoid", dropout=dropout,
                        generator=torch.Generator().manual_seed(seed))


def test_towers_shapes_and_layout():
    m = _tower(0).eval()
    out = m(torch.randn(3, 12))
    assert {t: tuple(v.shape) for t, v in out.items()} == {t: (3, n) for t, n in TASKS.items()}
    for t, n in TASKS.items():
        assert [type(x).__name__ for x in m.heads[t]] == ["Linear", "Sigmoid", "Dropout", "Linear"]
        assert m.heads[t].fc.weight.shape == (8, 16) and m.heads[t].out.weight.shape == (n, 8)
        assert torch.all(m.heads[t].fc.bias == 0) and torch.all(m.heads[t].out.bias == 0)
    # trunk 12*16+16 + 16*16+16; towers 16*8+8 and 8*n+n per task
    assert m.n_parameters() == 208 + 272 + sum(136 + 8 * n + n for n in TASKS.values())
    assert "drop" not in dict(_tower(0, dropout=0.0).heads["scene"].named_children())


def test_towers_init_is_reproducible_and_seeded():
    a, b, c = _tower(1).state_dict(), _tower(1).state_dict(), _tower(2).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["heads.scene.fc.weight"], c["heads.scene.fc.weight"])


def test_rbm_pretraining_initialises_the_trunk_only():
    m = _tower(0)
    towers = {k: v.clone() for k, v in m.state_dict().items() if k.startswith("heads.")}
    rbms = [GaussianBernoulliRBM(12, 16, generator=torch.Generator().manual_seed(1)),
            BernoulliRBM(16, 16, generator=torch.Generator().manual_seed(2))]
    assert init_trunk_from_rbms(m, rbms) == 2
    assert torch.equal(m.trunk.fc1.weight, rbms[0].W) and torch.equal(m.trunk.fc2.weight, rbms[1].W)
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in towers.items())


def test_unknown_variant_names_the_known_ones():
    with pytest.raises(SystemExit, match="task-towers-<H>"):
        builder("towers")
    with pytest.raises(SystemExit, match="unknown"):
        builder("task-towers-0")
