"""The `deepear` command line: data list / cache / fetch, recipe errors (in-process, real data)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from deepear.cli import main


def test_data_list_reports_the_shared_corpora(data_root, capsys):
    assert main(["--data-root", str(data_root), "data", "list"]) == 0
    out = capsys.readouterr().out
    assert "1440 clips" in out and "24 actor" in out                       # RAVDESS
    assert "400 clips" in out and "5 fold" in out                          # ESC-10
    assert "3000 clips" in out and "6 speaker" in out                      # FSDD
    assert "64 clips" in out                                               # ESC-50 urban
    assert "stress proxy" in out


def test_data_list_names_the_paths_tried_for_a_missing_corpus(tmp_path, capsys):
    assert main(["--data-root", str(tmp_path), "data", "list"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "ravdess") in out and "zenodo.org" in out


def test_data_cache_on_a_small_tree(data_root, tmp_path, capsys):
    actor = tmp_path / "root" / "ravdess" / "Actor_01"
    actor.mkdir(parents=True)
    for p in sorted((data_root / "ravdess" / "Actor_01").glob("*.flac"))[:4]:
        os.symlink(p, actor / p.name)
    args = ["--quiet", "--data-root", str(tmp_path / "root"), "--cache-dir", str(tmp_path / "c"),
            "data", "cache", "--corpus", "ravdess", "--workers", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "ravdess" in out and "224-dim" in out
    assert main(args) == 0                                                  # second time: all cached
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("ravdess")][0].split()
    assert line[1] == "4" and line[3] == "0" and line[4] == "4"            # clips, new, cached


def test_fetch_refuses_to_replace_a_corpus_it_did_not_download(data_root, capsys):
    assert main(["--data-root", str(data_root), "data", "fetch", "ravdess"]) == 0
    assert "already present" in capsys.readouterr().err


def test_recipe_errors_name_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrain:\n  epochz: 3\n")
    assert main(["train", str(bad)]) == 2
    assert "train.epochz" in capsys.readouterr().err
    assert main(["train", "recipes/quickstart.yaml", "--set", "train.epochs=ten"]) == 2
    assert "train.epochs: expected int" in capsys.readouterr().err


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as e:
        main(["nope"])
    assert e.value.code == 2


def _saved_model(tmp_path):
    import torch

    from deepear.experiment import save_model
    from deepear.model.dnn import MultiTaskDNN
    from deepear.recipe import Recipe

    model = MultiTaskDNN(224, {"emotion": 5, "scene": 4}, hidden=(64, 64), generator=torch.Generator().manual_seed(0))
    labels = {"emotion": ["anger", "fear", "happiness", "neutral", "sadness"],
              "scene": ["music", "traffic", "voicing", "other"]}
    return save_model(model, tmp_path / "model.pt", labels, Recipe(), {"emotion": (5.0, 2.5), "scene": (1.28, 0.64)})


def test_profile_and_partition_commands(tmp_path, capsys):
    import json as _json

    path = _saved_model(tmp_path)
    assert main(["profile", str(path), "--json", "--repeats", "5"]) == 0
    prof = _json.loads(capsys.readouterr().out)
    assert prof["totals"]["params"] == 224 * 64 + 64 + 64 * 64 + 64 + 64 * 5 + 5 + 64 * 4 + 4
    assert main(["partition", str(path), "--device", "snapdragon800"]) == 0
    out = capsys.readouterr().out
    assert "DeepX plan" in out and "cloud-only" in out and "hexagon_dsp" in out
    assert main(["partition", str(path), "--device", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_data_cache_with_delta_statistics_reuses_the_frame_cache(data_root, tmp_path, capsys):
    actor = tmp_path / "root" / "ravdess" / "Actor_01"
    actor.mkdir(parents=True)
    for p in sorted((data_root / "ravdess" / "Actor_01").glob("*.flac"))[:2]:
        os.symlink(p, actor / p.name)
    base = ["--quiet", "--data-root", str(tmp_path / "root"), "--cache-dir", str(tmp_path / "c"), "data", "cache",
            "--corpus", "ravdess", "--workers", "1"]
    assert main(base) == 0
    capsys.readouterr()
    fe = tmp_path / "fe.json"
    fe.write_text('{"delta_stats": ["std", "p25", "p75"]}')
    assert main(base + ["--front-end", str(fe)]) == 0
    out = capsys.readouterr().out
    assert "7 statistics + 3 delta statistics -> 320-dim" in out
    line = [x for x in out.splitlines() if x.startswith("ravdess")][0].split()
    assert line[3] == "0" and line[4] == "2"                               # nothing new: same frames


def test_data_cache_of_a_recipe_caches_its_front_end_and_corpora(data_root, tmp_path, capsys):
    """`--recipe` caches what `deepear train RECIPE` will read: its front end (here with pitch statistics, whose
    frames carry a pitch track) and only its corpora; `--front-end` beside it is an error."""
    actor = tmp_path / "root" / "ravdess" / "Actor_01"
    actor.mkdir(parents=True)
    for p in sorted((data_root / "ravdess" / "Actor_01").glob("*.flac"))[:2]:
        os.symlink(p, actor / p.name)
    (tmp_path / "root" / "esc10").mkdir()                       # present but not in the recipe: not cached
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\ndata: {corpora: [ravdess]}\nfront_end: {pitch_stats: [voiced_frac, st_median]}\n"
                      "tasks: {emotion: {window_s: 5.0, hop_s: 2.5}}\n")
    base = ["--quiet", "--data-root", str(tmp_path / "root"), "--cache-dir", str(tmp_path / "c"), "data", "cache",
            "--workers", "1", "--recipe", str(recipe)]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "+ 2 pitch statistics -> 226-dim" in out
    rows = [x.split()[0] for x in out.splitlines() if x.startswith(("ravdess", "esc10"))]
    assert rows == ["ravdess"]
    assert main(base) == 0                                      # second time: all cached
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("ravdess")][0].split()
    assert line[3] == "0" and line[4] == "2"

    from deepear.audio.frontend import analyze
    from deepear.audio.io import load_audio
    from deepear.data.cache import FeatureCache
    from deepear.recipe import load_recipe
    cfg = load_recipe(recipe).front_end
    clip = sorted(actor.glob("*.flac"))[0]
    got = FeatureCache(cfg, tmp_path / "c").get(str(clip))
    np.testing.assert_array_equal(got.pitch, analyze(load_audio(clip, cfg.sample_rate), cfg).pitch)

    fe = tmp_path / "fe.json"
    fe.write_text("{}")
    assert main(base + ["--front-end", str(fe)]) == 2
    assert "--recipe or --front-end" in capsys.readouterr().err
