"""The portable C library (deepear.export.c_codegen / c_build / golden): built with -Werror, run on real clips.

A small seeded multi-task model (one trunk layer replaced by an SVD factor pair, input norm fitted and int8
calibration on real windows) is exported as C; the compiled library must reproduce the Python reference:
features within 1e-3 relative, identical silent/voiced flags and top class of every task on every window, in
the int8 and the float build; streaming must not depend on the push size; silence must run nothing. With
`pitch_stats` the C pitch tracker must give Python's track frame by frame and the prosody statistics to 1e-5.
"""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from deepear.audio.config import PITCH_STAT_NAMES, FrontEndConfig
from deepear.audio.features import frame_signal
from deepear.audio.frontend import analyze, summarize
from deepear.audio.io import load_audio
from deepear.audio.pitch import pitch_track
from deepear.audio.speaker_norm import AdaptationSpec
from deepear.audio.voicing import load_model
from deepear.deepx.compress import compress_model
from deepear.deepx.quantize import linear_chain, quantize_model
from deepear.errors import ConfigError, DeepearError, ExportError
from deepear.export.c_build import compile_c, fits_target, measure_c, run_c
from deepear.export.c_codegen import arena_layout, check_supported, window_groups, write_c_library
from deepear.export.golden import analyze_pcm, check_golden, to_int16, write_golden
from deepear.model.dnn import MultiTaskDNN, fit_input_norm

REPO = Path(__file__).resolve().parent.parent
TASKS = {   # three window groups: overlapping speech windows (hop < window), scene, and a hop > window group
    "emotion": {"labels": ["neutral", "happy", "sad"], "window_s": 2.56, "hop_s": 1.28, "speech": True},
    "speaker": {"labels": ["a", "b", "c", "d"], "window_s": 2.56, "hop_s": 1.28, "speech": True},
    "scene": {"labels": ["music", "traffic", "voicing", "other"], "window_s": 1.28, "hop_s": 1.28, "speech": False},
    "esc10": {"labels": ["dog", "rain", "sea", "fire", "clock"], "window_s": 0.64, "hop_s": 0.96, "speech": False},
}
BUNDLES = sorted(p.parent.parent for p in REPO.glob("exported/*/golden/golden.json") if (p.parent.parent / "c").is_dir())


def _clips(root: Path) -> list[Path]:
    return [root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac",   # speech, 3.5 s
            root / "esc10" / "001 - Dog bark" / "1-100032-A.flac",           # 5 s, partly silent
            root / "fsdd_8k" / "0_george_0.flac"]                            # < 1.28 s: partial windows


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, data_root) -> dict:
    """A bundle-like folder with c/ and golden/ of a small compressed, quantised model."""
    return _make_bundle(tmp_path_factory, data_root, FrontEndConfig())


def _make_bundle(tmp_path_factory, data_root, cfg: FrontEndConfig, adapt: bool = False) -> dict:
    clips = _clips(data_root)
    calib_files = clips + [data_root / "ravdess" / "Actor_02" / "03-01-03-01-02-01-02.flac",
                           data_root / "sc_bg_noise" / "running_tap.flac"]
    xs = []
    for f in calib_files:
        ff = analyze(load_audio(f)[: 16000 * 6], cfg)
        w = summarize(ff, cfg, 1.28, 0.32)
        xs.append(w.x[~w.silent])
    x = np.concatenate(xs)
    model = MultiTaskDNN(cfg.dim, {t: len(v["labels"]) for t, v in TASKS.items()}, hidden=(32, 16),
                         input_norm=fit_input_norm(x), generator=torch.Generator().manual_seed(7))
    small = compress_model(model, {"trunk.fc1": 8})
    q = quantize_model(small, x)
    chain = linear_chain(small)
    root = tmp_path_factory.mktemp("cbundle")
    spec = None
    if adapt:   # the speech group, adapted around statistics of these real windows
        spec = AdaptationSpec(("emotion", "speaker"), 2.56, 1.28, x.mean(axis=0), x.std(axis=0) + 1e-3, 0.1, 2)
    info = write_c_library(root / "c", q, chain, cfg, load_model(), TASKS, adaptation=spec)
    golden = write_golden(root / "golden", clips, cfg, q, chain, TASKS, load_model(), adaptation=spec)
    return {"root": root, "info": info, "golden": golden, "cfg": cfg, "n_layers": len(q.layers()), "spec": spec,
            "model": (q, chain)}


@pytest.fixture(scope="module")
def exe(bundle, tmp_path_factory) -> Path:
    return compile_c(bundle["root"] / "c", tmp_path_factory.mktemp("cbin") / "deepear_run")


def test_library_files_and_svd_pair(bundle):
    c = bundle["root"] / "c"
    assert sorted(p.name for p in c.iterdir()) == ["Makefile", "deepear_model.c", "deepear_model.h",
                                                   "deepear_run.c", "deepear_weights.h"]
    assert bundle["n_layers"] == 2 + 1 + 4      # fc1 as down/up factors (no activation between), fc2, 4 heads
    header = (c / "deepear_weights.h").read_text()
    assert "static const float deepear_f0_w" in header.split("#else")[-1]   # fp32 weights only under DEEPEAR_FLOAT
    assert bundle["info"]["weights_bytes_int8"] < bundle["info"]["weights_bytes_fp32"]


@pytest.mark.parametrize("float_build", [False, True], ids=["int8", "float"])
def test_c_matches_python_on_real_clips(bundle, float_build):
    r = check_golden(bundle["root"], float_build=float_build)
    assert r["problems"] == [] and r["ok"], r["problems"][:10]
    assert r["n_clips"] == 3 and r["n_windows"] == sum(len(g["windows"]) for c in bundle["golden"]["clips"]
                                                       for g in c["groups"])
    assert r["max_feature_rel_err"] <= 1e-3
    assert r["top_class_identical"] and r["flags_identical"]
    assert set(r["top_class_agreement"]) == set(TASKS) and all(v == 1.0 for v in r["top_class_agreement"].values())
    wins = [w for c in bundle["golden"]["clips"] for g in c["groups"] for w in g["windows"]]
    assert any(w["partial"] for w in wins) and any(w["voiced"] for w in wins) and any(not w["voiced"] for w in wins)


def test_c_matches_python_with_delta_statistics(tmp_path_factory, data_root):
    """front_end.delta_stats: the C library takes the same in-window deltas and statistics as Python."""
    b = _make_bundle(tmp_path_factory, data_root, FrontEndConfig(delta_stats=("std", "p25", "p75"), delta_width=2))
    assert b["info"]["arena_bytes"] > 0
    for float_build in (False, True):
        r = check_golden(b["root"], float_build=float_build)
        assert r["problems"] == [] and r["ok"], r["problems"][:10]
        assert r["max_feature_rel_err"] <= 1e-3 and r["top_class_identical"] and r["flags_identical"]
    dims = {len(w["features"]) for c in b["golden"]["clips"] for g in c["groups"] for w in g["windows"]}
    assert dims == {32 * 10}


PITCH_CFG = FrontEndConfig(delta_stats=("std", "p25", "p75"), pitch_stats=PITCH_STAT_NAMES)


@pytest.fixture(scope="module")
def pitch_bundle(tmp_path_factory, data_root) -> dict:
    """The same model shape on a front end with every pitch statistic (after the delta statistics)."""
    b = _make_bundle(tmp_path_factory, data_root, PITCH_CFG)
    b["exe"] = compile_c(b["root"] / "c", tmp_path_factory.mktemp("cbin_pitch") / "deepear_run")
    return b


def _pcm_of(bundle: dict, i: int) -> Path:
    return bundle["root"] / "golden" / bundle["golden"]["clips"][i]["pcm"]


def _pitch_columns(bundle: dict, exe: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The last n features (the pitch statistics) of every golden window: (Python, C), routing off."""
    py_all, c_all = [], []
    for i, clip in enumerate(bundle["golden"]["clips"]):
        events = run_c(exe, _pcm_of(bundle, i))
        for gi, g in enumerate(clip["groups"]):
            got = [e for e in events if e["group"] == gi]
            assert len(got) == len(g["windows"])
            py_all += [w["features"][-n:] for w in g["windows"]]
            c_all += [e["features"][-n:] for e in got]
    return np.asarray(py_all), np.asarray(c_all)


def test_c_matches_python_with_pitch_statistics(pitch_bundle):
    """front_end.pitch_stats: the C YIN tracker and prosody statistics reproduce deepear.audio.pitch on real
    clips (int8 and float builds): the usual golden check, and the 11 pitch columns to 1e-5."""
    b = pitch_bundle
    header = (b["root"] / "c" / "deepear_weights.h").read_text()
    assert "#define DEEPEAR_PITCH 1" in header and "#define DEEPEAR_N_PITCH 11" in header
    for float_build in (False, True):
        r = check_golden(b["root"], float_build=float_build)
        assert r["problems"] == [] and r["ok"], r["problems"][:10]
        assert r["max_feature_rel_err"] <= 1e-3 and r["top_class_identical"] and r["flags_identical"]
    n = len(PITCH_STAT_NAMES)
    py, c = _pitch_columns(b, b["exe"], n)
    assert py.shape[1] == n and {len(w["features"]) for cl in b["golden"]["clips"] for g in cl["groups"]
                                 for w in g["windows"]} == {32 * 10 + n}
    # the comparison means something: windows with pitch (F0 and movement statistics) and without
    col = {s: i for i, s in enumerate(PITCH_STAT_NAMES)}
    assert (py[:, col["st_median"]] != 0).sum() >= 3 and (py[:, col["dst_std"]] != 0).sum() >= 3
    assert (py[:, col["voiced_frac"]] == 0).any() and (py[:, col["aper_mean"]] > 0).all()
    err = np.abs(c - py) / np.maximum(np.abs(py), 1.0)
    assert err.max() <= 1e-5, dict(zip(PITCH_STAT_NAMES, err.max(axis=0)))


def test_c_pitch_track_equals_python_frame_by_frame(pitch_bundle):
    """deepear_pitch_frame (integer difference function) against pitch_track (FFT, float64) on every frame of
    the golden clips: the same voicing decision everywhere, F0 and aperiodicity to float32 round-off."""
    b = pitch_bundle
    for i in range(len(b["golden"]["clips"])):
        pcm = np.frombuffer(_pcm_of(b, i).read_bytes(), "<i2")
        py = pitch_track(frame_signal(pcm.astype(np.float32) / np.float32(32768.0), PITCH_CFG), PITCH_CFG)
        out = subprocess.run([str(b["exe"]), "--pitch-track", str(_pcm_of(b, i))], capture_output=True, text=True,
                             check=True).stdout
        c = np.asarray([json.loads(line) for line in out.splitlines()], np.float32)
        assert c.shape == py.shape
        vmax = np.float32(PITCH_CFG.pitch.voiced_max)
        assert np.array_equal(c[:, 1] < vmax, py[:, 1] < vmax)
        assert np.abs(c[:, 0] / py[:, 0] - 1).max() <= 1e-6 and np.abs(c[:, 1] - py[:, 1]).max() <= 1e-6
    t = json.loads(subprocess.run([str(b["exe"]), "--time-pitch", "3"], capture_output=True, text=True,
                                  check=True).stdout)
    assert abs(t["voiced"]["f0_hz"] - 150.0) < 0.5 and t["voiced"]["aperiodicity"] < 0.05
    assert t["noise"]["aperiodicity"] > PITCH_CFG.pitch.voiced_max


def test_c_pitch_streaming_is_chunk_size_invariant_and_silence_has_no_pitch(pitch_bundle, tmp_path):
    b = pitch_bundle
    pcm = _pcm_of(b, 0)
    ref = run_c(b["exe"], pcm, routing=True)
    assert len(ref) > 3
    for chunk in (1, 160, 7919, 65536):
        assert run_c(b["exe"], pcm, routing=True, chunk=chunk) == ref, f"chunk {chunk}"
    zeros = tmp_path / "zeros.pcm"
    zeros.write_bytes(np.zeros(16000 * 3, "<i2").tobytes())
    for e in run_c(b["exe"], zeros):
        assert e["silent"] and all(t["status"] == "silent" for t in e["tasks"].values())
        # digital silence: no voiced frame, aperiodicity 1 (deepear.audio.pitch)
        assert e["features"][-len(PITCH_STAT_NAMES):] == [0.0] * 9 + [1.0, 1.0]


def test_c_pitch_subset_and_other_tracker_settings(tmp_path_factory, data_root):
    """Some of the statistics, in another order, without deltas, with other YIN settings (lags 40..160,
    threshold, voiced_max): the C library computes those, in that order, as Python does."""
    from deepear.audio.config import PitchConfig

    cfg = FrontEndConfig(pitch_stats=("dst_absmed", "st_std", "aper_p25", "voiced_frac"),
                         pitch=PitchConfig(fmin_hz=100.0, fmax_hz=400.0, threshold=0.1, voiced_max=0.25))
    b = _make_bundle(tmp_path_factory, data_root, cfg)
    mac = _header_macros(b["root"] / "c")
    assert (mac["PITCH_TAU_MIN"], mac["PITCH_TAU_MAX"], mac["N_PITCH"]) == (40, 160, 4)
    for float_build in (False, True):
        r = check_golden(b["root"], float_build=float_build)
        assert r["problems"] == [] and r["ok"], r["problems"][:10]
        assert r["max_feature_rel_err"] <= 1e-3 and r["top_class_identical"] and r["flags_identical"]
    py, c = _pitch_columns(b, compile_c(b["root"] / "c", b["root"] / "deepear_run"), 4)
    assert len(py) == r["n_windows"] and (py[:, 0] != 0).any() and (py[:, 1] != 0).any()
    assert (np.abs(c - py) / np.maximum(np.abs(py), 1.0)).max() <= 1e-5


def test_c_matches_python_with_voiced_frames(tmp_path_factory, data_root, bundle):
    """front_end.stat_frames="voiced": the C library summarises the same frames as Python (int8 and float builds),
    and the rule changes the speech windows' features while leaving windows with few voiced frames alone."""
    cfg = FrontEndConfig(delta_stats=("std", "p25", "p75"), pitch_stats=PITCH_STAT_NAMES, stat_frames="voiced")
    b = _make_bundle(tmp_path_factory, data_root, cfg)
    mac = _header_macros(b["root"] / "c")
    assert (mac["STAT_VOICED"], mac["VOICED_MIN"]) == (1, 25)
    assert "STAT_VOICED" not in (bundle["root"] / "c" / "deepear_weights.h").read_text()
    for float_build in (False, True):
        r = check_golden(b["root"], float_build=float_build)
        assert r["problems"] == [] and r["ok"], r["problems"][:10]
        assert r["max_feature_rel_err"] <= 1e-3 and r["top_class_identical"] and r["flags_identical"]
    # the same clips summarised over their active frames (Python): the rule must have changed some windows
    active = dataclasses.replace(cfg, stat_frames="active")
    changed, kept = 0, 0
    for clip in b["golden"]["clips"]:
        ff = analyze_pcm(np.fromfile(b["root"] / "golden" / clip["pcm"], dtype="<i2"), active, load_model())
        for g in clip["groups"]:
            want = summarize(ff, active, g["window_s"], g["hop_s"]).x
            got = np.array([w["features"] for w in g["windows"]], dtype=np.float32)
            same = np.all(np.isclose(got, want, rtol=1e-4, atol=1e-4), axis=1)
            changed, kept = changed + int((~same).sum()), kept + int(same.sum())
    assert changed >= 3 and kept >= 3


def _header_macros(c_dir: Path) -> dict[str, int]:
    text = (c_dir / "deepear_weights.h").read_text()
    return {m[0]: int(m[1]) for m in re.findall(r"#define DEEPEAR_(\w+) (\d+)\n", text)}


def test_c_pitch_memory_and_the_default_header(pitch_bundle, bundle):
    """Pitch adds to the arena the lag scratch (doubles) and two per-frame rings, and still fits the watch; a
    front end without pitch_stats gets a header with no pitch constant and an arena without pitch fields."""
    assert "PITCH" not in (bundle["root"] / "c" / "deepear_weights.h").read_text()
    plain = dict(arena_layout(_header_macros(bundle["root"] / "c")))
    assert not {"pitch_dn", "ring_st", "ring_aper"} & set(plain)
    mac = _header_macros(pitch_bundle["root"] / "c")
    layout = arena_layout(mac)
    fields = dict(layout)
    assert (mac["PITCH_TAU_MIN"], mac["PITCH_TAU_MAX"], mac["PITCH_W"]) == (32, 214, 512 - 214)
    assert fields["pitch_dn"] == 8 * (214 - 32 + 1) and fields["ring_st"] == fields["ring_aper"] == 4 * mac["MAX_WIN"]
    assert [f for f, _ in layout][:2] == ["floor_run_min", "pitch_dn"]    # 8-byte aligned after the leading double
    assert sum(b for _, b in layout) == mac["ARENA_BYTES"] == pitch_bundle["info"]["arena_bytes"]
    m = measure_c(pitch_bundle["root"] / "c")
    assert fits_target(m, "watch-m4")["fits"]


def test_c_adapts_like_the_python_runtime(tmp_path_factory, data_root):
    """Speaker adaptation (docs/adaptation.md) in C: the running statistics and the adapted model input match
    deepear.audio.speaker_norm on real clips — identical top classes, int8 and float builds — and change the
    outputs (the golden reference with adaptation differs from the one without)."""
    b = _make_bundle(tmp_path_factory, data_root, FrontEndConfig(), adapt=True)
    assert b["info"]["arena_bytes"] > 0
    for float_build in (False, True):
        r = check_golden(b["root"], float_build=float_build)
        assert r["problems"] == [] and r["ok"], r["problems"][:10]
        assert r["top_class_identical"] and r["flags_identical"]
    q, chain = b["model"]
    from deepear.export.golden import reference_windows
    pcm = to_int16(load_audio(_clips(data_root)[0]))
    plain = reference_windows(pcm, b["cfg"], q, chain, TASKS, load_model())
    adapted = reference_windows(pcm, b["cfg"], q, chain, TASKS, load_model(), b["spec"])
    speech = [i for i, g in enumerate(plain) if "emotion" in g["tasks"]][0]
    p0 = [w["fp32"]["emotion"] for w in plain[speech]["windows"] if w["fp32"]]
    p1 = [w["fp32"]["emotion"] for w in adapted[speech]["windows"] if w["fp32"]]
    assert len(p0) == len(p1) > 1 and not np.allclose(p0[1:], p1[1:])


def test_routing_and_flags_equal_python(bundle, exe):
    """Routing on: speech tasks run exactly on voiced windows, the others on every non-silent one."""
    for clip in bundle["golden"]["clips"]:
        events = run_c(exe, bundle["root"] / "golden" / clip["pcm"], routing=True)
        for gi, g in enumerate(clip["groups"]):
            got = [e for e in events if e["group"] == gi]
            assert len(got) == len(g["windows"])
            for py, c in zip(g["windows"], got):
                assert (c["silent"], c["voiced"], c["partial"]) == (py["silent"], py["voiced"], py["partial"])
                for t in g["tasks"]:
                    status = c["tasks"][t]["status"]
                    if py["silent"]:
                        assert status == "silent"
                    elif TASKS[t]["speech"] and not py["voiced"]:
                        assert status == "not_speech"
                    else:
                        assert status == "ran" and len(c["tasks"][t]["probs"]) == len(TASKS[t]["labels"])
                        assert abs(sum(c["tasks"][t]["probs"]) - 1.0) < 1e-5


def test_streaming_is_chunk_size_invariant(bundle, exe):
    pcm = bundle["root"] / "golden" / (bundle["golden"]["clips"][0]["pcm"])
    ref = run_c(exe, pcm, routing=True)
    assert len(ref) > 3
    for chunk in (1, 160, 7919, 65536):
        assert run_c(exe, pcm, routing=True, chunk=chunk) == ref, f"chunk {chunk}"
    # stdin ('-') gives the same events
    r = subprocess.run([str(exe), "--features", "-"], input=pcm.read_bytes(), capture_output=True, check=True)
    assert [json.loads(line) for line in r.stdout.decode().splitlines()] == ref


def test_digital_silence_runs_nothing(exe, tmp_path):
    pcm = tmp_path / "zeros.pcm"
    pcm.write_bytes(np.zeros(16000 * 3, "<i2").tobytes())
    events = run_c(exe, pcm, routing=False)
    assert len(events) == 2 + 1 + 3    # 3 s: two 1.28 s windows, one 2.56 s window, three 0.64 s every 0.96 s
    for e in events:
        assert e["silent"] and not e["voiced"]
        assert all(t["status"] == "silent" for t in e["tasks"].values())


def test_stream_shorter_than_one_frame_gives_nothing(exe, tmp_path):
    pcm = tmp_path / "short.pcm"
    pcm.write_bytes((np.arange(300) * 50).astype("<i2").tobytes())
    assert run_c(exe, pcm) == []


def test_info_reports_the_arena_the_exporter_computed(bundle, exe):
    info = json.loads(subprocess.run([str(exe), "--info"], capture_output=True, check=True, text=True).stdout)
    assert info["arena_bytes"] == bundle["info"]["arena_bytes"]
    assert [t["name"] for t in info["tasks"]] == list(TASKS)
    assert [(g["window_s"], g["hop_s"]) for g in info["groups"]] == [
        (g["window_s"], g["hop_s"]) for g in window_groups(TASKS)]


def test_measure_c_flash_and_ram(bundle):
    m = measure_c(bundle["root"] / "c")
    for build in ("int8", "float"):
        b = m[build]
        assert b["flash_bytes"] >= b["text_bytes"] > 0 and b["stack_bytes"] > 0
        assert b["ram_bytes"] == m["arena_bytes"] + b["data_bytes"] + b["bss_bytes"] + b["stack_bytes"]
        assert b["stack_path"][0] in ("deepear_push", "deepear_flush")
        assert (m[f"flash_bytes_{build}"], m[f"ram_bytes_{build}"], m[f"code_bytes_{build}"]) == (
            b["flash_bytes"], b["ram_bytes"], b["text_bytes"])
    assert m["int8"]["rodata_bytes"] > m["weights_bytes_int8"] - 4 * 2 * 224 - 1
    assert m["float"]["flash_bytes"] > m["int8"]["flash_bytes"]
    assert fits_target(m, "watch-m4")["fits"]
    with pytest.raises(ExportError, match="unknown target"):
        fits_target(m, "no-such-device")


def test_python_reference_is_the_front_end(data_root):
    """analyze_pcm (explicit voicing model) equals frontend.analyze on the int16-quantised signal."""
    cfg = FrontEndConfig()
    y = load_audio(_clips(data_root)[2])
    yq = to_int16(y).astype(np.float32) / np.float32(32768.0)
    a, b = analyze(yq, cfg), analyze_pcm(to_int16(y), cfg, load_model())
    assert np.array_equal(a.values, b.values) and np.array_equal(a.active, b.active)
    assert np.array_equal(a.speech_prob, b.speech_prob) and a.pitch is None and b.pitch is None
    a, b = analyze(yq, PITCH_CFG), analyze_pcm(to_int16(y), PITCH_CFG, load_model())
    assert b.pitch is not None and np.array_equal(a.pitch, b.pitch)
    assert to_int16(np.array([1.0, -1.0, 0.5 / 32768, 1.5 / 32768], np.float32)).tolist() == [32767, -32768, 0, 2]


def test_unsupported_front_end_is_a_config_error():
    for bad in (FrontEndConfig(feature="mfcc"), FrontEndConfig(sample_rate=8000, fmax_hz=4000.0),
                FrontEndConfig(n_mels=40), FrontEndConfig(n_fft=480, win_ms=25.0),
                FrontEndConfig(feature="mfcc", pitch_stats=PITCH_STAT_NAMES)):
        with pytest.raises(ConfigError, match="C library"):
            check_supported(bad)
    check_supported(FrontEndConfig())
    check_supported(PITCH_CFG)
    check_supported(FrontEndConfig(stat_frames="voiced"))


def test_compile_errors_are_reported(bundle, tmp_path):
    broken = tmp_path / "c"
    shutil.copytree(bundle["root"] / "c", broken)
    src = broken / "deepear_model.c"
    src.write_text(src.read_text() + "\nstatic int unused_function(void) { return 1; }\n")
    with pytest.raises(DeepearError, match="unused_function"):
        compile_c(broken, tmp_path / "x")
    with pytest.raises(ConfigError, match="not found"):
        compile_c(bundle["root"] / "c", tmp_path / "y", cc="no-such-cc-deepear")


@pytest.mark.parametrize("bundle_dir", BUNDLES, ids=[p.name for p in BUNDLES])
@pytest.mark.parametrize("float_build", [False, True], ids=["int8", "float"])
def test_committed_bundle_passes_golden(bundle_dir, float_build, data_root):
    r = check_golden(bundle_dir, float_build=float_build, data_root=data_root)
    assert r["ok"], r["problems"][:10]
    assert r["max_feature_rel_err"] <= 1e-3 and r["top_class_identical"] and r["flags_identical"]
