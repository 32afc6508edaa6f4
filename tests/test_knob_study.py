"""bench/knob_study.py's guards: a study folder keeps its knob; summaries of other code or CPU kernels are never
compared."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from bench import knob_study


def test_study_folder_records_the_variant(tmp_path):
    folder = tmp_path / "towers"
    knob_study.check_overrides(folder, [], "task-towers-8")
    assert json.loads((folder / "overrides.json").read_text()) == {"set": [], "variant": "task-towers-8"}
    knob_study.check_overrides(folder, [], "task-towers-8")                   # same knob: accepted
    with pytest.raises(SystemExit, match="use another --name"):
        knob_study.check_overrides(folder, [], "task-towers-16")
    with pytest.raises(SystemExit, match="unknown"):
        knob_study.check_overrides(tmp_path / "other", [], "wide-heads")
    plain = tmp_path / "plain"
    knob_study.check_overrides(plain, ["model.dropout=0.3"])
    assert json.loads((plain / "overrides.json").read_text()) == ["model.dropout=0.3"]


def _summary(tree: str = "t1", cpu: str | None = "AVX2") -> dict:
    return {"deepear_tree": tree, **({"cpu": cpu} if cpu else {})}


def test_summaries_of_other_code_or_cpu_kernels_are_not_compared():
    same = {(0, "fold0"): _summary(), (0, "fold1"): _summary()}
    knob_study.check_same_library(same, {(0, "fold0"): _summary()})                 # accepted
    with pytest.raises(SystemExit, match="deepear/ training code"):
        knob_study.check_same_library(same, {(0, "fold0"): _summary(tree="t2")})
    with pytest.raises(SystemExit, match="CPU kernels"):
        knob_study.check_same_library(same, {(0, "fold0"): _summary(cpu="AVX512")})
    with pytest.raises(SystemExit, match="unknown"):                                # not recorded: not comparable
        knob_study.check_same_library(same, {(0, "fold0"): _summary(cpu=None)})
    knob_study.check_same_library({(0, "fold0"): _summary(cpu=None)}, {(0, "fold0"): _summary(cpu=None)})


def test_summary_keeps_each_tasks_validation_curve(rng):
    e, w = 5, knob_study.WEIGHTS.index(knob_study.RULE.weights)
    traj = {"test_tasks": ["emotion", "scene"], "test": rng.random((2, e, 2, 3))}
    for i, t in enumerate(traj["test_tasks"]):
        n = 40 + 10 * i
        traj[f"hits_{t}"] = rng.random((2, e, n)) < 0.6
        traj[f"clip_{t}"] = np.repeat(np.arange(n // 2) + 1000 * i, 2)
        traj[f"clean_{t}"] = np.arange(n) % 2 == 0
        traj[f"snr_{t}"] = np.where(traj[f"clean_{t}"], np.nan, np.where(np.arange(n) % 4 == 1, 10.0, 0.0))
    sm = knob_study.summarise(traj, 0, "fold0", "h", [], 1.0, "tree")
    for t in traj["test_tasks"]:
        np.testing.assert_allclose(sm["task_curves"][t], 100 * traj[f"hits_{t}"][w].mean(1), atol=1e-4)
        by = sm["task_curves_by_snr"][t]
        assert list(by) == ["clean", "0", "10"]
        np.testing.assert_allclose(by["10"], 100 * traj[f"hits_{t}"][w][:, traj[f"snr_{t}"] == 10].mean(1), atol=1e-4)
        np.testing.assert_allclose(by["clean"], 100 * traj[f"hits_{t}"][w][:, traj[f"clean_{t}"]].mean(1), atol=1e-4)
    # the judged curve is the mean of the tasks' curves
    np.testing.assert_allclose(sm["curves"]["all"], np.mean(list(sm["task_curves"].values()), axis=0), atol=1e-3)
    json.dumps(sm)                                                       # stored as JSON


def test_export_runtime_and_deepx_changes_keep_summaries_comparable(monkeypatch):
    """Summaries record deepear/'s git tree; only the packages fine-tuning imports decide whether two compare."""
    def listing(audio: str, export: str) -> str:
        return "\n".join([f"040000 tree {audio}\taudio", "100644 blob b1\texperiment.py",
                          f"040000 tree {export}\texport", "040000 tree r1\truntime", "040000 tree d1\tdeepx"])
    trees = {"base": listing("a1", "e1"), "new-export": listing("a1", "e2"), "new-audio": listing("a2", "e1")}

    def fake_git(*args: str) -> str:
        if args[0] == "ls-tree" and args[1] in trees:
            return trees[args[1]]
        raise subprocess.CalledProcessError(128, ["git", *args])
    monkeypatch.setattr(knob_study, "_git", fake_git)
    assert knob_study.training_code("base") == knob_study.training_code("new-export")
    assert knob_study.training_code("base") != knob_study.training_code("new-audio")
    assert knob_study.training_code("gone") == "gone"                      # not in git: compared as is
    knob_study.check_same_library({(0, "fold0"): _summary("base")}, {(0, "fold0"): _summary("new-export")})
    with pytest.raises(SystemExit, match="training code"):
        knob_study.check_same_library({(0, "fold0"): _summary("base")}, {(0, "fold0"): _summary("new-audio")})


def test_fine_tuning_must_not_import_the_packages_left_out(monkeypatch):
    import sys
    import types

    for m in list(sys.modules):                          # other tests of this process may have imported them
        if any(m == f"deepear.{p}" or m.startswith(f"deepear.{p}.") for p in knob_study.NOT_TRAINING):
            monkeypatch.delitem(sys.modules, m)
    knob_study.check_not_imported()
    monkeypatch.setitem(sys.modules, "deepear.export.c_codegen", types.ModuleType("deepear.export.c_codegen"))
    with pytest.raises(SystemExit, match="deepear.export.c_codegen"):
        knob_study.check_not_imported()
