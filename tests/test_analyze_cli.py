"""`deepear analyze` on a real clip (text, JSON lines, PNG) and `deepear listen` on a fake microphone."""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pytest
from bundle_fixture import session_bundle
from test_sources import fake_sounddevice

from deepear.audio.io import load_audio
from deepear.runtime import BundleError, Pipeline, commands


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    return session_bundle(tmp_path_factory)


@pytest.fixture(scope="module")
def clip(data_root):
    return data_root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac"


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="deepear")
    commands.add_parsers(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


def test_analyze_text(bundle_dir, clip, capsys):
    assert run(["analyze", str(clip), "--bundle", str(bundle_dir)]) == 0
    out = capsys.readouterr().out
    pred = Pipeline.load(bundle_dir).predict_file(clip)
    lines = out.splitlines()
    assert lines[0].startswith(str(clip)) and "test-3task (fp32)" in lines[0]
    window_lines = [ln for ln in lines if ln.startswith("[")]
    assert len(window_lines) == len({(e.t_start, e.t_end) for e in pred.windows}) == 4   # 3 scene + 1 partial 5 s
    assert "spans: 0.00-" in out and "voiced" in out
    for t, r in pred.tasks.items():
        assert any(ln.strip().startswith(t) and (r.label or "") in ln for ln in lines if ln.startswith("  "))


def test_analyze_json_and_plot(bundle_dir, clip, tmp_path, capsys):
    png = tmp_path / "plots" / "timeline.png"
    assert run(["analyze", str(clip), "--bundle", str(bundle_dir), "--json", "--plot", str(png), "--int8"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    pred = Pipeline.load(bundle_dir, precision="int8").predict_file(clip)
    events = [r for r in rows if r["type"] == "event"]
    assert len(events) == len(pred.windows) and rows[-1]["type"] == "summary"
    assert [(e["task"], e["label"], e["status"]) for e in events] == [(e.task, e.label, e.status) for e in pred.windows]
    assert rows[-1]["precision"] == "int8" and rows[-1]["tasks"]["scene"]["label"] == pred["scene"].label
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_analyze_without_speech_gate_answers_on_noise(bundle_dir, data_root, tmp_path, capsys):
    noise = data_root / "sc_bg_noise" / "running_tap.flac"
    status = {}
    for flag in ([], ["--no-speech-gate"]):
        assert run(["analyze", str(noise), "--bundle", str(bundle_dir), "--json"] + flag) == 0
        rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        status[bool(flag)] = {e["status"] for e in rows if e["type"] == "event" and e["task"] == "emotion"}
    assert status[False] == {"not_speech"} and status[True] == {"ok"}


def test_missing_default_bundle_names_the_paths(monkeypatch, tmp_path, clip):
    monkeypatch.setattr(commands, "default_bundle_candidates", lambda: [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(BundleError, match="deepear export") as e:
        run(["analyze", str(clip)])
    assert str(tmp_path / "a") in str(e.value) and str(tmp_path / "b") in str(e.value)


def test_analyze_bad_file(bundle_dir, tmp_path):
    from deepear.errors import AudioError
    with pytest.raises(AudioError, match="not found"):
        run(["analyze", str(tmp_path / "missing.wav"), "--bundle", str(bundle_dir)])


def test_listen_json_on_fake_microphone(bundle_dir, clip, monkeypatch, capsys):
    y = load_audio(clip)
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(y, 16000, overflow_every=4))
    assert run(["listen", "--bundle", str(bundle_dir), "--json", "--device", "0", "--seconds", "3"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rows[-1]["type"] == "summary" and rows[-1]["stream"]["overflows"] > 0
    assert rows[-1]["stream"]["samples_in"] == 48000
    events = [r for r in rows if r["type"] == "event"]
    assert {e["task"] for e in events} == {"scene", "emotion", "speaker"}


def test_listen_exits_cleanly_on_ctrl_c(bundle_dir, clip, monkeypatch, capsys):
    y = load_audio(clip)
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(y, 16000))
    from deepear.runtime.sources import Microphone

    def interrupted(self):
        for i in range(0, 16000 * 3, 1600):
            yield y[i:i + 1600]
        raise KeyboardInterrupt
    monkeypatch.setattr(Microphone, "__iter__", interrupted)
    assert run(["listen", "--bundle", str(bundle_dir)]) == 0
    cap = capsys.readouterr()
    assert "stopped after 3.0 s" in cap.err and "0 overflows" in cap.err
    assert cap.out.count("scene=") == 2        # the two whole 1.28 s windows, one line each (not a terminal)
    assert "partial emotion=" in cap.out      # Ctrl-C flushes the stream: the partial 5 s window is reported
