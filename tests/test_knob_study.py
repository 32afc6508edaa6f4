"""bench/knob_study.py's guards: a study folder keeps its knob; summaries of other code or CPU kernels are never
compared."""
from __future__ import annotations

import json

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
    with pytest.raises(SystemExit, match="deepear/ code"):
        knob_study.check_same_library(same, {(0, "fold0"): _summary(tree="t2")})
    with pytest.raises(SystemExit, match="CPU kernels"):
        knob_study.check_same_library(same, {(0, "fold0"): _summary(cpu="AVX512")})
    with pytest.raises(SystemExit, match="unknown"):                                # not recorded: not comparable
        knob_study.check_same_library(same, {(0, "fold0"): _summary(cpu=None)})
    knob_study.check_same_library({(0, "fold0"): _summary(cpu=None)}, {(0, "fold0"): _summary(cpu=None)})
