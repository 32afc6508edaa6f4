"""deepear.deepx.profile: per-layer params/MACs/bytes (hand-computed), measured latency, JSON, run folders."""
from __future__ import annotations

import json

import pytest
import torch
import yaml
from torch import nn

from deepear.deepx.profile import (ModelProfile, int8_weight_bytes, main_profile, profile_model, profile_path,
                                   resolve_model_path)
from deepear.errors import ConfigError, DataError
from deepear.model.dnn import MultiTaskDNN

REPEATS = 5


def small_model() -> MultiTaskDNN:
    # 10 -> 8 -> 6 trunk, heads a (3 classes) and b (2 classes)
    return MultiTaskDNN(10, {"a": 3, "b": 2}, hidden=(8, 6), dropout=0.1)


def test_small_model_params_and_macs_by_hand():
    m = small_model()
    prof = profile_model(m, 10, repeats=REPEATS)
    names = [l.name for l in prof.layers]
    assert names == ["trunk.fc1", "trunk.fc2", "heads.a", "heads.b"]
    # params: 10*8+8, 8*6+6, 6*3+3, 6*2+2
    assert [l.params for l in prof.layers] == [88, 54, 21, 14]
    assert [l.macs for l in prof.layers] == [80, 48, 18, 12]
    assert prof.params == 177 == m.n_parameters()
    assert prof.macs == 158
    assert [l.weight_bytes_fp32 for l in prof.layers] == [352, 216, 84, 56]
    # int8: in*out + 4*out scales + 4*out int32 bias
    assert [l.weight_bytes_int8 for l in prof.layers] == [80 + 32 + 32, 48 + 24 + 24, 18 + 12 + 12, 12 + 8 + 8]
    assert [l.activation_bytes for l in prof.layers] == [32, 24, 12, 8]
    assert [l.activation for l in prof.layers] == ["Sigmoid+Dropout", "Sigmoid+Dropout", "", ""]
    # peak: weights + max(in+out) * 4 bytes * batch -> max(10+8, 8+6, 6+3, 6+2) = 18
    assert prof.peak_activation_bytes == 18 * 4
    assert prof.peak_bytes_fp32 == 177 * 4 + 72
    assert prof.stored_bytes == 177 * 4      # fp32 parameters; the norm buffers are not layer storage


def test_latency_positive_and_threads_and_mode_restored():
    m = small_model()
    m.train()
    before = torch.get_num_threads()
    prof = profile_model(m, 10, repeats=REPEATS, batch=3)
    assert torch.get_num_threads() == before
    assert m.training, "profiling must leave the model's train/eval mode as it found it"
    assert all(l.latency_s > 0 and l.latency_min_s > 0 for l in prof.layers)
    assert prof.model_latency_s is not None and prof.model_latency_s > 0
    assert prof.batch == 3 and prof.peak_activation_bytes == 3 * 18 * 4
    assert prof.threads == 1


def test_int8_byte_formula():
    assert int8_weight_bytes(512, 512, True) == 512 * 512 + 4 * 512 + 4 * 512
    assert int8_weight_bytes(512, 14, False) == 512 * 14 + 4 * 14
    assert int8_weight_bytes(1, 1, True) == 9


def test_to_dict_is_json_and_table_lists_every_layer():
    prof = profile_model(small_model(), 10, repeats=REPEATS)
    d = json.loads(json.dumps(prof.to_dict()))
    assert [l["name"] for l in d["layers"]] == [l.name for l in prof.layers]
    assert d["totals"]["params"] == 177 and d["totals"]["macs"] == 158
    assert d["totals"]["peak_bytes_fp32"] == prof.peak_bytes_fp32
    assert "peak_activation_bytes" in d["definitions"]
    table = prof.format_table()
    for name in ("trunk.fc1", "trunk.fc2", "heads.a", "heads.b", "total", "peak memory"):
        assert name in table
    assert "177" in table


def test_svd_factor_pair_is_two_linear_layers():
    m = small_model()
    # trunk.fc2 (8 -> 6) replaced by rank-2 factors 8 -> 2 (no bias) -> 6
    m.set_submodule("trunk.fc2", nn.Sequential(nn.Linear(8, 2, bias=False), nn.Linear(2, 6)))
    prof = profile_model(m, 10, repeats=REPEATS)
    by = {l.name: l for l in prof.layers}
    assert list(by) == ["trunk.fc1", "trunk.fc2.0", "trunk.fc2.1", "heads.a", "heads.b"]
    assert by["trunk.fc2.0"].params == 16 and not by["trunk.fc2.0"].bias
    assert by["trunk.fc2.1"].params == 2 * 6 + 6
    assert by["trunk.fc2.0"].weight_bytes_int8 == 16 + 4 * 2          # no int32 bias
    assert by["trunk.fc2.0"].activation == "" and by["trunk.fc2.1"].activation == "Sigmoid+Dropout"
    assert prof.params == m.n_parameters()


class FakeInt8Linear(nn.Module):
    """A non-nn.Linear layer with in/out features: int8 weights, fp32 scales, fp32 bias."""

    def __init__(self, lin: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = lin.in_features, lin.out_features
        w = lin.weight.detach()
        scale = w.abs().amax(dim=1).clamp_min(1e-8) / 127
        self.register_buffer("weight_q", torch.round(w / scale[:, None]).to(torch.int8))
        self.register_buffer("scale", scale.float())
        self.register_buffer("bias", lin.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.weight_q.float() * self.scale[:, None]).T + self.bias


def test_generic_linear_like_layer_is_profiled():
    m = small_model()
    m.set_submodule("trunk.fc1", FakeInt8Linear(m.trunk.fc1))
    prof = profile_model(m, 10, repeats=REPEATS)
    fc1 = prof.layers[0]
    assert fc1.name == "trunk.fc1" and fc1.kind == "FakeInt8Linear"
    assert fc1.params == 88 and fc1.macs == 80
    assert fc1.stored_bytes == 80 * 1 + 8 * 4 + 8 * 4        # int8 weights + fp32 scales + fp32 bias
    assert fc1.activation == "Sigmoid+Dropout"


def test_unit_blocks():
    blocks = [("b1", nn.Sequential(nn.Linear(10, 8), nn.ReLU())),
              ("b2", nn.Sequential(nn.Linear(8, 3, bias=False), nn.Linear(3, 4)))]
    prof = profile_model(blocks, 10, repeats=REPEATS, name="blocks")
    assert [l.name for l in prof.layers] == ["b1", "b2"]
    assert [l.macs for l in prof.layers] == [80, 24 + 12]
    assert [l.params for l in prof.layers] == [88, 24 + 16]
    assert prof.layers[0].activation == "ReLU"
    assert (prof.layers[1].in_features, prof.layers[1].out_features) == (8, 4)
    assert all(l.latency_s > 0 for l in prof.layers)
    with pytest.raises(DataError, match="input_dim"):
        profile_model(blocks, 11, repeats=REPEATS)
    with pytest.raises(ConfigError, match="no Linear"):
        profile_model([("relu", nn.ReLU())], 10, repeats=REPEATS)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="repeats"):
        profile_model(small_model(), 10, repeats=0)
    with pytest.raises(ConfigError, match="batch"):
        profile_model(small_model(), 10, batch=0)
    with pytest.raises(ConfigError, match="no Linear-like"):
        profile_model(nn.Sequential(nn.ReLU()), 10, repeats=REPEATS)


def _save(model: MultiTaskDNN, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": model.config(), "state_dict": model.state_dict()}, path)


def test_run_folder_resolution_and_main_profile(tmp_path):
    run = tmp_path / "runs" / "r" / "0"
    _save(small_model(), run / "fold0" / "model.pt")
    _save(MultiTaskDNN(10, {"a": 3}, hidden=(4,)), run / "fold1" / "model.pt")
    (run / "recipe.yaml").write_text(yaml.safe_dump({"name": "r", "protocol": {"runs": ["fold1", "fold0"]}}))
    assert resolve_model_path(run) == run / "fold1" / "model.pt"             # first protocol run
    assert resolve_model_path(run / "fold0") == run / "fold0" / "model.pt"
    assert resolve_model_path(run / "fold0" / "model.pt") == run / "fold0" / "model.pt"
    prof = profile_path(run, repeats=REPEATS)
    assert isinstance(prof, ModelProfile) and prof.params == 10 * 4 + 4 + 4 * 3 + 3
    out = json.loads(main_profile(run / "fold0", as_json=True, repeats=REPEATS))
    assert out["totals"]["params"] == 177
    table = main_profile(run / "fold0" / "model.pt", as_json=False, repeats=REPEATS)
    assert "heads.b" in table
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no model.pt"):
        resolve_model_path(tmp_path / "empty")
    with pytest.raises(ConfigError, match="neither"):
        resolve_model_path(tmp_path / "missing")
