"""Recipe parsing: unknown keys and wrong types are errors naming the key; overrides; shipped recipes load."""
from __future__ import annotations

from pathlib import Path

import pytest

from deepear.errors import ConfigError
from deepear.recipe import Recipe, load_recipe, parse_recipe

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["deepear.yaml", "quickstart.yaml"])
def test_shipped_recipes_load(name):
    r = load_recipe(REPO / "recipes" / name)
    assert isinstance(r, Recipe) and set(r.tasks) >= {"emotion", "stress", "speaker", "scene"}
    assert parse_recipe(r.to_dict()) == r          # the resolved recipe round-trips
    assert r.hash() == parse_recipe(r.to_dict()).hash()


@pytest.mark.parametrize("raw,match", [
    ({"train": {"epochz": 3}}, r"unknown key\(s\) train\.epochz"),
    ({"bogus": 1}, r"unknown key\(s\) bogus"),
    ({"train": {"epochs": "ten"}}, r"train\.epochs: expected int, got str 'ten'"),
    ({"train": {"lr": True}}, r"train\.lr: expected float"),
    ({"model": {"hidden": [512, "x"]}}, r"model\.hidden\[1\]: expected int"),
    ({"model": {"activation": "gelu"}}, r"model\.activation"),
    ({"tasks": {"mood": {}}}, r"tasks\.mood: unknown task"),
    ({"tasks": {"scene": {"window": 1}}}, r"unknown key\(s\) tasks\.scene\.window"),
    ({"front_end": {"n_melz": 3}}, r"n_melz"),
    ({"front_end": {"pitch_stats": ["st_mean", "st_height"]}}, r"pitch_stats .* unknown or repeated"),
    ({"front_end": {"pitch": {"fmin": 80}}}, r"front_end\.pitch: unknown key\(s\) \['fmin'\]"),
    ({"front_end": {"pitch": {"fmin_hz": "low"}}}, r"front_end"),
    ({"data": {"fraction": 0.0}}, r"data\.fraction"),
    ({"protocol": {"runs": ["fold9x"]}}, r"protocol\.runs"),
    ({"eval": {"baselines": ["hmm"]}}, r"unknown baseline"),
    ({"train": 5}, r"train: expected a mapping"),
    ({"adaptation": {"tasks": ["mood"]}}, r"adaptation\.tasks: 'mood' is not one of the recipe's tasks"),
    ({"adaptation": {"tasks": ["emotion"]}}, r"emotion shares its window .* \['stress', 'speaker'\]"),
    ({"adaptation": {"tasks": ["emotion", "stress", "speaker"], "min_windows": 1}}, r"min_windows"),
    ({"adaptation": {"task": ["emotion"]}}, r"unknown key\(s\) adaptation\.task"),
    ({"mixing": {"clean_corpora": ["esc11"]}}, r"mixing\.clean_corpora: 'esc11' is not one of data\.corpora"),
    ({"mixing": {"label_min_snr_db": {"scenery": 10}}}, r"mixing\.label_min_snr_db: 'scenery' is not one of"),
    ({"mixing": {"label_min_snr_db": {"scene": "high"}}}, r"mixing\.label_min_snr_db\.scene: expected float"),
    ({"mixing": {"label_min_snr_db": [10]}}, r"mixing\.label_min_snr_db: expected a mapping"),
    ({"protocol": {"val_snrs_db": [10, ".nan"]}}, r"protocol\.val_snrs_db\[1\]: expected float"),
    ({"protocol": {"val_snrs_db": [10, float("nan")]}}, r"protocol\.val_snrs_db: SNRs must be finite"),
    ({"protocol": {"val_snrs_db": [None]}}, r"protocol\.val_snrs_db\[0\]: expected float"),
])
def test_errors_name_the_key(raw, match):
    with pytest.raises(ConfigError, match=match):
        parse_recipe(raw)


def test_overrides_are_yaml_values():
    r = parse_recipe({}, ["train.epochs=7", "seed=3", "front_end.n_mels=24", "eval.snrs_db=[null, 5]",
                          "tasks={scene: {window_s: 1.28, hop_s: 0.64}}"])
    assert (r.train.epochs, r.seed, r.front_end.n_mels) == (7, 3, 24)
    assert r.eval.snrs_db == (None, 5.0) and list(r.tasks) == ["scene"]
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_recipe({}, ["train.epochs"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(bad)


def test_new_sections_at_their_defaults_keep_old_recipe_hashes():
    """adaptation and front_end.delta_* came later: a recipe that does not use them hashes as before, so its
    run folders resume and bundles exported from it keep their recorded recipe hash."""
    r = parse_recipe({})
    d = r.to_dict()
    assert d["adaptation"]["tasks"] == [] and d["front_end"]["delta_stats"] == []
    assert r.hash() == "a250e3873441969b"   # the hash before these sections existed
    assert parse_recipe({"adaptation": {"tasks": ["emotion", "stress", "speaker"]}}).hash() != r.hash()
    assert parse_recipe({"mixing": {"clean_corpora": []}}).hash() == r.hash()      # mixing.clean_corpora too
    assert parse_recipe({"mixing": {"clean_corpora": ["esc10"]}}).hash() != r.hash()
    assert parse_recipe({"mixing": {"label_min_snr_db": {}}}).hash() == r.hash()    # and label_min_snr_db
    assert parse_recipe({"mixing": {"label_min_snr_db": {"scene": 10}}}).hash() != r.hash()
    assert parse_recipe({"protocol": {"val_snrs_db": []}}).hash() == r.hash()       # and protocol.val_snrs_db
    assert parse_recipe({"protocol": {"val_snrs_db": [0]}}).hash() != r.hash()
    assert parse_recipe({"front_end": {"pitch_stats": [], "pitch": {"fmin_hz": 75.0}}}).hash() == r.hash()
    assert parse_recipe({"front_end": {"pitch_stats": ["st_mean"]}}).hash() != r.hash()


def test_pitch_overrides_merge_into_the_front_end():
    r = parse_recipe({}, ["front_end.pitch_stats=[st_mean, voiced_frac]", "front_end.pitch={fmax_hz: 400}"])
    assert r.front_end.pitch_stats == ("st_mean", "voiced_frac")
    assert (r.front_end.pitch.fmax_hz, r.front_end.pitch.fmin_hz) == (400.0, 75.0)   # the rest at its defaults
