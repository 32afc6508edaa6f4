"""`deepear export` end to end on a tiny model trained on real clips: bundle contents, ONNX parity, the C library
against golden vectors, target fit checks, atomic replacement of an existing bundle."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from deepear import cli
from deepear.atomic import replace_dir, staging_dir
from deepear.errors import ExportError
from deepear.experiment import Experiment
from deepear.export import bundle as bundle_mod
from deepear.export.targets import check_fit, suggestion, weight_bytes
from deepear.recipe import parse_recipe

TINY = {
    "name": "tiny-export", "seed": 0,
    "data": {"corpora": ["ravdess", "esc10", "esc50_urban", "fsdd", "music"], "max_clips_per_corpus": 40},
    "tasks": {"emotion": {"window_s": 5.0, "hop_s": 2.5}, "stress": {"window_s": 5.0, "hop_s": 2.5},
              "speaker": {"window_s": 5.0, "hop_s": 2.5}, "scene": {"window_s": 1.28, "hop_s": 1.28}},
    "protocol": {"runs": ["fold0"]},
    "model": {"hidden": [64, 32], "dropout": 0.0},
    "pretrain": {"enabled": False},
    "mixing": {"copies": 1},
    "train": {"epochs": 3, "patience": 10, "batch_size": 64, "threads": 1},
    "eval": {"snrs_db": [None], "baselines": []},
}


@pytest.fixture(scope="module")
def tiny_run(data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    exp = Experiment(parse_recipe(json.loads(json.dumps(TINY))), data_root, runs_root=root / "runs",
                     cache_dir=root / "cache", workers=2)
    exp.run()
    return exp.folder.path, root


@pytest.fixture(scope="module")
def bundle(tiny_run, data_root):
    run, root = tiny_run
    out = root / "exported" / "tiny"
    rc = cli.main(["--quiet", "--data-root", str(data_root), "--cache-dir", str(root / "cache"), "export", str(run),
                   "--out", str(out), "--max-drop", "5", "--int8", "--target", "watch-m4"])
    assert rc == 0
    return out


def test_bundle_is_complete(bundle):
    for name in ("manifest.json", "model.onnx", "model.int8.onnx", "MODEL_CARD.md", "recipe.yaml",
                 "c/deepear_model.h", "c/deepear_model.c", "c/deepear_weights.h", "c/deepear_run.c",
                 "golden/golden.json"):
        assert (bundle / name).is_file(), name
    assert list((bundle / "golden").glob("*.pcm"))
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".deepear-tmp-")]   # no staging left
    assert not (bundle / "model.onnx.data").exists()                                       # single file


def test_manifest_records_everything(bundle):
    m = json.loads((bundle / "manifest.json").read_text())
    assert m["format"] == "deepear-bundle" and m["format_version"] == 1
    for key in ("front_end", "voicing_model", "tasks", "window_groups", "normalization", "layers", "svd_ranks",
                "int8", "c_build", "accuracy", "partition", "recipe_hash", "onnxruntime_version"):
        assert key in m, key
    assert m["tasks"]["scene"]["speech"] is False and m["tasks"]["emotion"]["speech"] is True
    assert m["tasks"]["emotion"]["window_s"] == 5.0 and m["tasks"]["scene"]["hop_s"] == 1.28
    assert "proxy" in m["tasks"]["stress"]["note"]
    for prec in ("fp32", "compressed", "int8"):
        for t in ("emotion", "stress", "scene"):
            assert 0.0 <= m["accuracy"][prec][t]["clean"] <= 1.0
    assert "speaker" in m["accuracy"]["not_measured"]                       # fold0 holds out unseen speakers
    assert m["onnx_parity"]["fp32_max_abs_logit_diff"] <= 1e-4
    assert m["c_build"]["golden_check_int8"]["ok"] and m["c_build"]["golden_check_float"]["ok"]
    assert m["deployment"]["fit"]["fits"] and m["deployment"]["fit"]["target"] == "watch-m4"
    assert m["c_build"]["flash_bytes_int8"] > m["models"]["int8"]["weight_bytes"]
    assert set(m["partition"]) == {"snapdragon800", "tegrak1", "watch_m4"}
    assert len(m["int8"]["layers"]) == len(m["layers"])
    card = (bundle / "MODEL_CARD.md").read_text()
    assert "Non-commercial" in card and "proxy" in card


def test_onnx_bundle_runs_with_onnxruntime_alone(bundle):
    import onnxruntime as ort

    m = json.loads((bundle / "manifest.json").read_text())
    x = np.random.default_rng(0).normal(-40, 10, (3, m["input"]["dim"])).astype(np.float32)
    for f in ("model.onnx", "model.int8.onnx"):
        s = ort.InferenceSession(str(bundle / f), providers=["CPUExecutionProvider"])
        outs = [o.name for o in s.get_outputs()]
        assert outs == list(m["tasks"])
        for name, y in zip(outs, s.run(None, {"x": x})):
            assert y.shape == (3, len(m["tasks"][name]["labels"]))


def test_failed_export_keeps_the_old_bundle(tiny_run, bundle, data_root, monkeypatch):
    run, root = tiny_run
    before = (bundle / "manifest.json").read_bytes()

    def boom(*a, **k):
        raise RuntimeError("simulated crash in the middle of an export")

    monkeypatch.setattr(bundle_mod, "_partition_plans", boom)
    with pytest.raises(RuntimeError):
        bundle_mod.export_bundle(run, bundle, data_root=data_root, cache_dir=root / "cache")
    assert (bundle / "manifest.json").read_bytes() == before
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".deepear-tmp-")]


def test_target_that_does_not_fit_names_the_shortfall_and_a_fix():
    trunk = [(512, 224), (512, 512), (512, 512)]
    heads = [(5, 512), (2, 512), (30, 512), (4, 512)]
    fp32 = weight_bytes(trunk + heads, "fp32")
    with pytest.raises(ExportError) as e:
        check_fit("watch-m4", flash_bytes=fp32 + 20_000, ram_bytes=100_000, trunk=trunk, heads=heads,
                  precision="fp32", code_bytes=20_000)
    msg = str(e.value)
    assert "flash" in msg and "short by" in msg and "--int8" in msg
    with pytest.raises(ExportError, match="RAM"):
        check_fit("watch-m4", flash_bytes=100_000, ram_bytes=300_000, trunk=trunk, heads=heads, precision="int8",
                  code_bytes=20_000)
    tip = suggestion(trunk, heads, budget_bytes=150_000, precision="int8")
    assert "rank <=" in tip and "--max-drop" in tip
    with pytest.raises(ExportError, match="unknown target"):
        check_fit("watch-m5", 1, 1, trunk, heads, "int8", 0)


def test_replace_dir_is_atomic_and_recovers(tmp_path):
    dest = tmp_path / "b"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    st = staging_dir(dest)
    (st / "new.txt").write_text("new")
    replace_dir(st, dest)
    assert [p.name for p in dest.iterdir()] == ["new.txt"]
    # a crash between the two renames leaves the old folder aside: the next staging puts it back first
    aside = tmp_path / f".deepear-tmp-b.old.x1"
    os.replace(dest, aside)
    st2 = staging_dir(dest)
    assert (dest / "new.txt").read_text() == "new" and st2.is_dir() and not aside.exists()


def test_export_of_a_missing_run_is_a_clear_error(tmp_path, data_root):
    with pytest.raises(Exception, match="not a run folder"):
        bundle_mod.export_bundle(tmp_path / "nope", tmp_path / "out", data_root=data_root)
    assert not (tmp_path / "out").exists()


def test_bundle_without_golden_audio_is_rebuilt_from_the_corpora(bundle, tmp_path, data_root):
    import shutil

    from deepear.errors import DataError
    from deepear.export.golden import check_golden, restore_golden_audio

    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    pcms = sorted((b / "golden").glob("*.pcm"))
    originals = {p.name: p.read_bytes() for p in pcms}
    for p in pcms:
        p.unlink()
    r = check_golden(b, data_root=None)
    assert not r["ok"] and "data_root" in r["problems"][0]
    assert check_golden(b, data_root=data_root)["ok"]
    written = restore_golden_audio(b, data_root)
    assert {p.name: p.read_bytes() for p in written} == originals
    doc = json.loads((b / "golden" / "golden.json").read_text())
    doc["clips"][0]["pcm_sha256"] = "0" * 64
    (b / "golden" / "golden.json").write_text(json.dumps(doc))
    (b / "golden" / doc["clips"][0]["pcm"]).unlink()
    with pytest.raises(DataError, match="sha256"):
        restore_golden_audio(b, data_root)


def test_speaker_adapted_run_exports_and_runs(tmp_path, data_root):
    """A run with adaptation and delta statistics exports: the manifest carries the adaptation, the C library
    (with adaptation and deltas) agrees with Python on the golden clips, and the runtime loads and runs it."""
    raw = json.loads(json.dumps(TINY))
    raw["tasks"]["speaker"] = {"window_s": 1.28, "hop_s": 1.28}
    raw["adaptation"] = {"tasks": ["emotion", "stress"], "min_windows": 2}
    raw["front_end"] = {"delta_stats": ["std"]}
    raw["eval"] = {"snrs_db": [None], "baselines": []}
    raw["data"]["max_clips_per_corpus"] = 96    # every held-out actor needs >= min_windows test clips
    exp = Experiment(parse_recipe(raw), data_root, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache", workers=2)
    exp.run()
    out = tmp_path / "exported" / "adapted"
    m = bundle_mod.export_bundle(exp.folder.path, out, data_root=data_root, cache_dir=tmp_path / "cache",
                                 int8=True, snrs=(None,))
    ad = m["adaptation"]
    assert ad["tasks"] == ["emotion", "stress"] and len(ad["ref_mean"]) == m["input"]["dim"] == 32 * 8
    assert ad["prior_windows"] == 2
    assert m["c_build"]["golden_check_int8"]["ok"] and m["c_build"]["golden_check_float"]["ok"]
    assert "Speaker adaptation" in (out / "MODEL_CARD.md").read_text()
    from deepear import Pipeline

    p = Pipeline.load(out)
    pred = p.predict_file(data_root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac")
    assert pred["emotion"].status == "ok" and p.new_profile() is not None


def test_pitch_run_exports_with_its_c_library(tmp_path, data_root):
    """`deepear export` of a run whose front end sets every pitch statistic (it used to refuse it): the C library
    carries the pitch tracker and passes the golden check (int8 and float), the bundle fits the watch target and
    the Python runtime loads and runs it."""
    from deepear.audio.config import PITCH_STAT_NAMES

    raw = json.loads(json.dumps(TINY))
    raw["front_end"] = {"pitch_stats": list(PITCH_STAT_NAMES)}
    exp = Experiment(parse_recipe(raw), data_root, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache", workers=2)
    exp.run()
    out = tmp_path / "exported" / "pitch"
    rc = cli.main(["--quiet", "--data-root", str(data_root), "--cache-dir", str(tmp_path / "cache"), "export",
                   str(exp.folder.path), "--out", str(out), "--max-drop", "5", "--int8", "--target", "watch-m4"])
    assert rc == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["input"]["dim"] == 32 * 7 + len(PITCH_STAT_NAMES)
    for build in ("int8", "float"):
        check = m["c_build"][f"golden_check_{build}"]
        assert check["ok"] and check["top_class_identical"] and check["max_feature_rel_err"] <= 1e-3
    assert "#define DEEPEAR_PITCH 1" in (out / "c" / "deepear_weights.h").read_text()
    from deepear import Pipeline

    pred = Pipeline.load(out).predict_file(data_root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac")
    assert pred["emotion"].status == "ok"
