"""deepear.runfolder: ownership by recipe hash, atomic writes, resumable checkpoints, the per-epoch log."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from deepear.errors import ConfigError, DataError
from deepear.runfolder import PACKAGES, RunFolder, environment

YAML_A = "seed: 0\ntrain:\n  epochs: 10\n"
YAML_B = "seed: 0\ntrain:\n  epochs: 20\n"


def test_environment():
    env = environment()
    assert env["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert env["packages"]["numpy"] == np.__version__
    assert set(env["packages"]) == set(PACKAGES)
    assert env["python"].count(".") == 2 and env["cpu_count"] >= 1 and env["cpu"]
    commit = env["git"]["commit"]
    assert commit is None or (len(commit) == 40 and all(c in "0123456789abcdef" for c in commit))
    assert env["git"]["dirty"] in (True, False, None)
    assert env["utc"].endswith("+00:00")
    json.dumps(env)  # serialisable as is


def test_environment_without_git(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no git executable can be found
    env = environment()
    assert env["git"] == {"commit": None, "dirty": None, "root": None}


def test_create_and_refuse_other_recipe(tmp_path):
    path = tmp_path / "runs" / "deepear" / "0"
    rf = RunFolder(path).create(YAML_A, "hash_a")
    assert rf.path == path and rf.recipe_hash() == "hash_a"
    assert YAML_A.strip() in (path / "recipe.yaml").read_text()
    env = json.loads((path / "environment.json").read_text())
    assert "torch" in env["packages"]
    rf.append_log({"epoch": 1, "train_loss": 1.0})
    recipe_before = (path / "recipe.yaml").read_bytes()

    with pytest.raises(ConfigError, match="another recipe") as e:
        RunFolder(path).create(YAML_B, "hash_b")
    assert "seed" in str(e.value) and "delete" in str(e.value)
    assert (path / "recipe.yaml").read_bytes() == recipe_before
    assert RunFolder(path).read_log() == [{"epoch": 1, "train_loss": 1.0}]

    # same recipe: reused as it is (a resumed run), the log kept, the restart recorded
    rf2 = RunFolder(path).create(YAML_A, "hash_a")
    assert rf2.read_log() == [{"epoch": 1, "train_loss": 1.0}]
    assert (path / "recipe.yaml").read_bytes() == recipe_before
    assert len((path / "resumes.jsonl").read_text().splitlines()) == 1


def test_create_refuses_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="no recipe.yaml"):
        RunFolder(tmp_path).create(YAML_A, "hash_a")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    # a hand-written recipe.yaml without a hash line: reused only when the text is the same
    d = tmp_path / "hand"
    d.mkdir()
    (d / "recipe.yaml").write_text(YAML_A)
    with pytest.raises(ConfigError, match="another recipe"):
        RunFolder(d).create(YAML_B, "hash_b")
    RunFolder(d).create(YAML_A, "hash_a")
    assert (d / "environment.json").is_file()  # missing environment is filled in


def test_write_json_text_and_names(tmp_path):
    rf = RunFolder(tmp_path / "r").create(YAML_A, "h")
    p = rf.write_json("labels.json", {"emotion": ["a", "b"], "n": np.int64(3), "x": np.float32(0.5),
                                      "arr": np.arange(3)})
    assert p == rf.path_of("labels.json")
    assert json.loads(p.read_text()) == {"emotion": ["a", "b"], "n": 3, "x": 0.5, "arr": [0, 1, 2]}
    assert rf.read_json("labels.json")["n"] == 3 and rf.read_json("missing.json") is None
    assert p.stat().st_mode & 0o044 == 0o044  # readable by others (mkstemp alone would give 0600)
    rf.write_text("plots/notes.txt", "hello")
    assert rf.path_of("plots/notes.txt").read_text() == "hello"
    for bad in ("../escape.json", "/etc/passwd", ""):
        with pytest.raises(ConfigError):
            rf.path_of(bad)


def test_log_append_read_and_torn_line(tmp_path):
    rf = RunFolder(tmp_path / "r").create(YAML_A, "h")
    assert rf.read_log() == []
    recs = [{"epoch": e, "train_loss": 1.0 / e, "val_acc_emotion": np.float64(0.1 * e)} for e in (1, 2)]
    for r in recs:
        rf.append_log(r)
    got = rf.read_log()
    assert [g["epoch"] for g in got] == [1, 2] and got[1]["val_acc_emotion"] == pytest.approx(0.2)
    # a process killed mid-write leaves a torn last line: it is skipped, and the next record stays intact
    with open(rf.path_of("log.jsonl"), "a") as f:
        f.write('{"epoch": 3, "train_lo')
    assert [g["epoch"] for g in rf.read_log()] == [1, 2]
    rf.append_log({"epoch": 3, "train_loss": 0.3})
    assert [g["epoch"] for g in rf.read_log()] == [1, 2, 3]
    with pytest.raises(DataError):
        rf.append_log(["not", "a", "dict"])


def test_checkpoint_round_trip_and_best(tmp_path):
    rf = RunFolder(tmp_path / "r").create(YAML_A, "h")
    assert rf.load_checkpoint() is None
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Linear(4, 3)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(2, 4, generator=g)).sum().backward()
    opt.step()
    state = {"epoch": 4, "model": net.state_dict(), "optimizer": opt.state_dict(),
             "torch_rng": torch.get_rng_state(), "history": [{"epoch": 4, "val_loss": 0.5}],
             "np_rng": np.random.default_rng(3).bit_generator.state}
    rf.save_checkpoint(state)
    rf.save_checkpoint({"epoch": 2, "model": net.state_dict()}, name="best.pt")
    back = rf.load_checkpoint()
    assert back["epoch"] == 4 and back["history"] == state["history"]
    for k, v in net.state_dict().items():
        assert torch.equal(back["model"][k], v)
    assert back["optimizer"]["state"][0]["momentum_buffer"].shape == (3, 4)
    assert torch.equal(back["torch_rng"], state["torch_rng"])
    restored = np.random.default_rng()
    restored.bit_generator.state = back["np_rng"]
    assert restored.random() == np.random.default_rng(3).random()
    assert rf.load_checkpoint("best.pt")["epoch"] == 2
    assert not [f for f in os.listdir(rf.path) if f.endswith(".tmp")]


def test_interrupted_checkpoint_write_keeps_old_file(tmp_path, monkeypatch):
    rf = RunFolder(tmp_path / "r").create(YAML_A, "h")
    rf.save_checkpoint({"epoch": 1, "w": torch.ones(3)})
    before = rf.path_of("checkpoint.pt").read_bytes()

    real_save = torch.save

    def dies_halfway(obj, f, *a, **k):  # writes part of the file, then the process "dies"
        real_save(obj, f, *a, **k)
        f.truncate(10)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        rf.save_checkpoint({"epoch": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert rf.path_of("checkpoint.pt").read_bytes() == before
    assert rf.load_checkpoint()["epoch"] == 1
    assert not [f for f in os.listdir(rf.path) if f.endswith(".tmp")]

    def replace_fails(src, dst):
        raise OSError("rename failed")

    rf.write_json("metrics.json", {"a": 1})
    monkeypatch.setattr(os, "replace", replace_fails)
    with pytest.raises(OSError):
        rf.write_json("metrics.json", {"a": 2})
    with pytest.raises(OSError):
        rf.save_checkpoint({"epoch": 3})
    monkeypatch.undo()
    assert rf.read_json("metrics.json") == {"a": 1}
    assert rf.load_checkpoint()["epoch"] == 1


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    rf = RunFolder(tmp_path / "r").create(YAML_A, "h")
    rf.path_of("checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="checkpoint.pt"):
        rf.load_checkpoint()


def test_mark_done(tmp_path):
    rf = RunFolder(tmp_path / "r").create(YAML_A, "h")
    assert not rf.is_done()
    rf.mark_done({"tasks": {"emotion": {"conditions": {"clean": {"accuracy": 0.5, "macro_f1": 0.4, "n": 10}}}}})
    assert rf.is_done()
    assert rf.read_json("metrics.json")["tasks"]["emotion"]["conditions"]["clean"]["n"] == 10
    assert RunFolder(tmp_path / "r").is_done()  # seen by a fresh object too


def test_a_recipe_that_only_adds_protocol_runs_resumes_its_folder(tmp_path):
    from deepear.recipe import parse_recipe, same_experiment

    base = {"name": "r", "seed": 0, "tasks": {"emotion": {"window_s": 5.0, "hop_s": 2.5}},
            "protocol": {"runs": ["fold0"]}}
    a = parse_recipe(base)
    b = parse_recipe({**base, "protocol": {"runs": ["fold0", "fold1"]}})
    c = parse_recipe({**base, "seed": 1, "protocol": {"runs": ["fold0", "fold1"]}})
    f = RunFolder(tmp_path / "run")
    f.create(a.to_yaml(), a.hash())
    assert a.hash() != b.hash() and same_experiment((f.path / "recipe.yaml").read_text(), b)
    assert not same_experiment((f.path / "recipe.yaml").read_text(), c)
    with pytest.raises(ConfigError, match="another recipe"):
        f.create(b.to_yaml(), b.hash())                                   # without the rule: refused
    f.create(b.to_yaml(), b.hash(), compatible=lambda t: same_experiment(t, b))
    assert f.recipe_hash() == b.hash()
    with pytest.raises(ConfigError, match="another recipe"):
        f.create(c.to_yaml(), c.hash(), compatible=lambda t: same_experiment(t, c))
