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


# Noise probes and the noise rule ------------------------------------------------------------------------------
TINY = {
    "name": "tiny", "seed": 0,
    "data": {"corpora": ["ravdess", "esc10", "esc50_urban", "fsdd", "music"], "max_clips_per_corpus": 48},
    "tasks": {"emotion": {"window_s": 5.0, "hop_s": 2.5}, "stress": {"window_s": 5.0, "hop_s": 2.5},
              "scene": {"window_s": 1.28, "hop_s": 1.28}},
    "protocol": {"runs": ["fold0"]},
    "model": {"hidden": [16, 16], "dropout": 0.0},
    "pretrain": {"epochs": 1, "max_windows": 400},
    "mixing": {"copies": 1},
    "train": {"epochs": 2, "patience": 10, "batch_size": 64, "threads": 1},
}


def test_noise_probes_are_validation_clips_with_training_noise_and_leave_training_alone(data_root, tmp_path):
    """Probes: only validation clips, exactly the probe SNR, only training-bank noise (none of the held-out test
    noise types); the same windows every time; and adding them changes nothing the standard judgement reads."""
    from bench.epoch_selection_study import probe_data, trajectory
    from deepear.data.mixing import condition_snr_db
    from deepear.data.protocol import make_split
    from deepear.experiment import Experiment
    from deepear.recipe import parse_recipe

    exp = Experiment(parse_recipe(json.loads(json.dumps(TINY))), data_root, runs_root=tmp_path / "runs",
                     cache_dir=tmp_path / "cache", workers=2)
    split = make_split(exp.clips, "fold0", exp.bank, exp.tasks, 0)
    probe = probe_data(exp, split, 10.0, None)
    assert len(probe.x) > 0 and set(probe.clip.tolist()) <= set(split.val.tolist())
    assert {condition_snr_db(c) for c in probe.condition} == {10.0}
    types = {c.rsplit("@", 1)[0] for c in probe.condition}
    held_out_only = set(split.test_noise.noise_types) - set(split.train_noise.noise_types)
    assert held_out_only and types <= set(split.train_noise.noise_types) and not types & held_out_only
    assert np.array_equal(probe_data(exp, split, 10.0, None).x, probe.x)

    plain = trajectory(exp, "fold0")
    probed = trajectory(exp, "fold0", probes_db=(10.0, 0.0))
    for k, v in plain.items():                        # training, validation and test untouched by the probes
        assert np.array_equal(v, probed[k], equal_nan=v.dtype.kind == "f"), k
    e = plain["test"].shape[1]
    assert probed["probe_hits_emotion_10"].shape[:2] == (2, e) and "probe_clip_scene_0" in probed
    sm = knob_study.summarise(probed, 0, "fold0", "h", [], 1.0, "tree")
    w = knob_study.WEIGHTS.index(knob_study.RULE.weights)
    np.testing.assert_allclose(sm["probe_curves"]["emotion"]["10"]["all"],
                               100 * probed["probe_hits_emotion_10"][w].mean(1), atol=1e-4)
    assert "probe_curves" not in knob_study.summarise(plain, 0, "fold0", "h", [], 1.0, "tree")


def _noisy_summary(run: str, seed: int, cross: float, probe: float, epochs: int = 12) -> dict:
    """A summary whose standard curves peak at `cross` and whose noise task's probes read `probe` (points)."""
    flat = [cross - 5.0] * epochs
    flat[3] = cross
    task = "speaker" if run == "speaker" else "emotion"
    pc = {snr: {h: [probe] * epochs for h in ("all", "a", "b")} for snr in ("10", "0")}
    return {"seed": seed, "run": run, "curves": {"all": flat, "a": flat, "b": flat},
            "test": np.zeros((epochs, 1, 3)).tolist(), "test_tasks": [task], "probe_curves": {task: pc}}


def _study(fold_cross: float, fold_probe: float, spk_probe: float, seeds=(0, 1)) -> tuple[dict, dict]:
    base, knob = {}, {}
    for s in seeds:
        for r in knob_study.RUNS:
            base[(s, r)] = _noisy_summary(r, s, 70.0, 50.0)
            knob[(s, r)] = _noisy_summary(r, s, 70.0 + (0 if r == "speaker" else fold_cross),
                                          50.0 + (spk_probe if r == "speaker" else fold_probe))
    return base, knob


def test_noise_rule_passes_only_probe_gains_that_cost_the_standard_scores_little():
    def verdict(*args, **kw):
        base, knob = _study(*args, **kw)
        return knob_study.compare_noise(base, knob, knob_study.judge_all(base), knob_study.judge_all(knob),
                                        sorted({s for s, _ in base}))
    assert knob_study.noise_score(_noisy_summary("fold0", 0, 70.0, 55.5)) == pytest.approx(55.5)
    rows, ok = verdict(-0.4, 1.5, 0.0)
    assert ok is True and "+1.50" in rows[-1]
    assert verdict(-0.6, 1.5, 0.0)[1] is False       # the fold score pays more than 0.5 point
    assert verdict(0.0, 0.9, 0.0)[1] is False        # below the 1-point gain
    assert verdict(0.0, 1.5, -0.5)[1] is False       # speaker ID loses in noise
    assert verdict(0.0, 1.5, 0.0, seeds=(0,))[1] is None     # one seed: a screen, no verdict
    base, knob = _study(0.0, 1.5, 0.0)
    del base[(0, "fold3")]["probe_curves"]
    lines, ok = knob_study.compare_noise(base, knob, knob_study.judge_all(base), knob_study.judge_all(knob), [0, 1])
    assert ok is None and "lack them" in lines[0]


def test_noise_probe_score_is_cross_fitted_on_the_standard_halves():
    """The kept epoch comes from the other half's standard curve; the probe value is read at that epoch."""
    sm = _noisy_summary("fold0", 0, 70.0, 50.0)
    sm["curves"]["a"] = [60.0, 70.0, 60.0] + [50.0] * 9          # half A keeps epoch index 1
    sm["curves"]["b"] = [60.0, 60.0, 60.0, 60.0, 70.0] + [50.0] * 7   # half B keeps index 4
    for snr in ("10", "0"):
        sm["probe_curves"]["emotion"][snr]["b"] = [0.0, 40.0] + [0.0] * 10   # read at A's epoch
        sm["probe_curves"]["emotion"][snr]["a"] = [0.0] * 4 + [60.0] + [0.0] * 7  # read at B's epoch
    assert knob_study.noise_score(sm) == pytest.approx(50.0)


def test_a_study_keeps_the_rule_it_declared(tmp_path):
    folder = tmp_path / "study"
    knob_study.check_rule(folder, "standard")
    assert not (folder / "rule.json").exists()                   # the default needs no record
    knob_study.check_rule(folder, "noise")
    knob_study.check_rule(folder, "noise")
    with pytest.raises(SystemExit, match="never changed"):
        knob_study.check_rule(folder, "standard")
    old = tmp_path / "old"                                       # trained before rules were declared: standard
    (old / "0").mkdir(parents=True)
    (old / "0" / "fold0.json").write_text("{}")
    knob_study.check_rule(old, "standard")
    with pytest.raises(SystemExit, match="never changed"):
        knob_study.check_rule(old, "noise")
