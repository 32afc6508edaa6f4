"""The C library of a bundle and its golden vectors: real clips, the Python reference's features and outputs.

    info = write_c_library(bundle / "c", int8_model, fp32_chain, cfg, voicing_model, manifest["tasks"])
    write_golden(bundle / "golden", clips, cfg, int8_model, fp32_chain, manifest["tasks"], voicing_model)
    report = check_golden(bundle)                      # compiles c/, runs every golden clip, compares

Golden clips are stored as int16 little-endian 16 kHz mono PCM (`<name>.pcm`), because that is what the C
library takes; the Python reference is computed on exactly those samples (int16 / 32768), with routing off
(every task on every non-silent window), per window group (tasks sharing window_s and hop_s).

Tolerances (`check_golden`): a feature agrees when |c - py| <= 1e-3 * max(|py|, 1) (FEATURE_RTOL; the features
are dB-valued statistics, so near 0 this is 1e-3 dB absolute); every window's silent and voiced flags and
every task's top class must be identical; t_start / t_end within 1e-6 s.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepear.atomic import atomic_write_bytes, atomic_write_text
from deepear.audio import pitch, silence
from deepear.audio.config import FrontEndConfig
from deepear.audio.features import frame_energy_db, frame_signal, log_mel_from_power, power_spectrum
from deepear.audio.frontend import FrameFeatures, summarize
from deepear.audio.io import load_audio
from deepear.audio.speaker_norm import AdaptationSpec, RunningSpeakerStats
from deepear.audio.voicing import VoicingModel, load_model, speech_prob
from deepear.deepx.quantize import Int8Model, LinearChain
from deepear.errors import AudioError, ConfigError, DataError, DeepearError
from deepear.export.c_build import compile_c, run_c
from deepear.export.c_codegen import check_supported, window_groups, write_c_library  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

FEATURE_RTOL = 1e-3
TIME_ATOL_S = 1e-6
GOLDEN_FORMAT = "deepear-golden"


# ---------------------------------------------------------------------------------------------------------
# The Python reference on int16 PCM
def to_int16(y: np.ndarray) -> np.ndarray:
    """float32 samples in [-1, 1] -> int16 (round half to even, saturate), (n,)."""
    return np.clip(np.rint(np.asarray(y, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def analyze_pcm(pcm: np.ndarray, cfg: FrontEndConfig, voicing: VoicingModel) -> FrameFeatures:
    """`frontend.analyze` of int16 samples (/ 32768) with an explicit voicing model (the bundle's own)."""
    y = (np.asarray(pcm, np.int16).astype(np.float32) / np.float32(32768.0)).astype(np.float32)
    power = power_spectrum(y, cfg)
    energy = frame_energy_db(power, cfg)
    lm = log_mel_from_power(power, cfg)
    active = silence.active_frames(energy, cfg.hop_ms / 1000.0, cfg.silence)
    sp = speech_prob(power, lm, energy, cfg, model=voicing)
    track = pitch.pitch_track(frame_signal(y, cfg), cfg) if cfg.pitch_stats else None
    return FrameFeatures(values=lm, energy_db=energy, active=active, speech_prob=sp, hop_s=cfg.hop_ms / 1000.0,
                         n_samples=int(y.shape[0]), pitch=track)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def reference_windows(pcm: np.ndarray, cfg: FrontEndConfig, int8_model: Int8Model, fp32_chain: LinearChain,
                      tasks: Mapping[str, Mapping[str, Any]], voicing: VoicingModel,
                      adaptation: AdaptationSpec | None = None) -> list[dict]:
    """Per window group: {window_s, hop_s, tasks, windows: [{t_start, t_end, silent, voiced, partial,
    speech_score, features (dim,), int8: {task: probs}, fp32: {task: probs}}]} (routing off; silent windows
    have no probabilities). `features` are the raw window vectors; with `adaptation`, the adapted group's
    model input is adapted by a fresh per-clip speaker profile (each golden clip is its own stream): every
    voiced non-silent window updates it, every non-silent window is adapted, in time order."""
    ff = analyze_pcm(pcm, cfg, voicing)
    out = []
    groups = window_groups(tasks)
    adapt_group = adaptation.group_index([g["tasks"] for g in groups]) if adaptation is not None else -1
    for gi, g in enumerate(groups):
        w = summarize(ff, cfg, g["window_s"], g["hop_s"])
        xin = w.x
        if gi == adapt_group:
            xin = w.x.copy()
            live = ~w.silent
            xin[live] = RunningSpeakerStats(adaptation).adapt(w.x[live], w.voiced[live])
        p8 = {t: _softmax(v) for t, v in int8_model.predict_logits(xin).items()} if len(w) else {}
        p32 = {t: _softmax(v) for t, v in fp32_chain.layer_inputs(xin)[1].items()} if len(w) else {}
        wins = []
        for i in range(len(w)):
            silent = bool(w.silent[i])
            wins.append({
                "t_start": float(w.t_start[i]), "t_end": float(w.t_end[i]), "silent": silent,
                "voiced": bool(w.voiced[i]), "partial": bool(w.partial[i]), "speech_score": float(w.speech_score[i]),
                "features": [float(v) for v in w.x[i]],
                "int8": None if silent else {t: [float(v) for v in p8[t][i]] for t in g["tasks"]},
                "fp32": None if silent else {t: [float(v) for v in p32[t][i]] for t in g["tasks"]},
            })
        out.append({**g, "windows": wins})
    return out


def _clip_name(path: Path, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("._") or "clip"
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def write_golden(golden_dir: Path, clips: list[Path], cfg: FrontEndConfig, int8_model: Int8Model,
                 fp32_chain: LinearChain, tasks: dict, voicing: VoicingModel | None = None,
                 data_root: Path | None = None, adaptation: AdaptationSpec | None = None) -> dict:
    """Write <name>.pcm (int16 LE 16 kHz mono) for each clip and golden.json with the Python reference.

    Args: clips: audio files (any format/rate load_audio reads; resampled to 16 kHz); tasks: the manifest's
        "tasks" dict in model output order; voicing: the bundle's voicing model (default: cfg's / the shipped one);
        data_root: the corpora folder the clips come from: each clip's path relative to it is recorded (with
        the PCM's sha256) so `restore_golden_audio` can rebuild a PCM file that was left out of a bundle.
    Returns: the golden.json document. Raises AudioError for a clip shorter than one frame.
    """
    check_supported(cfg)
    vm = voicing or load_model(cfg.voicing.model_path or None)
    golden_dir = Path(golden_dir)
    golden_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    doc: dict[str, Any] = {"format": GOLDEN_FORMAT, "version": 1, "sample_rate": cfg.sample_rate,
                           "pcm": "int16 little-endian mono", "routing": False,
                           "tolerance": {"feature_rtol": FEATURE_RTOL, "feature_rule": "|c - py| <= rtol * max(|py|, 1)",
                                         "top_class": "identical", "flags": "identical"},
                           "clips": []}
    for clip in clips:
        clip = Path(clip)
        pcm = to_int16(load_audio(clip, cfg.sample_rate))
        if pcm.shape[0] < cfg.n_fft:
            raise AudioError(f"golden clip {clip}: {pcm.shape[0]} samples, shorter than one frame ({cfg.n_fft})")
        name = _clip_name(clip, taken)
        raw = pcm.astype("<i2").tobytes()
        atomic_write_bytes(golden_dir / f"{name}.pcm", raw)
        try:
            source = clip.resolve().relative_to(Path(data_root).resolve()).as_posix() if data_root else clip.name
        except ValueError:
            source = clip.name
        doc["clips"].append({"name": name, "pcm": f"{name}.pcm", "source": source,
                             "pcm_sha256": hashlib.sha256(raw).hexdigest(), "n_samples": int(pcm.shape[0]),
                             "groups": reference_windows(pcm, cfg, int8_model, fp32_chain, tasks, vm, adaptation)})
    atomic_write_text(golden_dir / "golden.json", json.dumps(doc, separators=(",", ":")) + "\n")
    log.info("wrote golden vectors of %d clips to %s", len(clips), golden_dir)
    return doc


# ---------------------------------------------------------------------------------------------------------
# The comparison
def compare_events(golden_clip: Mapping[str, Any], events: Sequence[Mapping[str, Any]], float_build: bool) -> dict:
    """Compare deepear_run's events of one clip (routing off) with its golden entry.

    Returns: {n_windows, max_feature_rel_err, mismatches: [str], top: {task: [agree, total]},
        max_prob_abs_diff: {task: float}}.
    """
    key = "fp32" if float_build else "int8"
    res: dict[str, Any] = {"n_windows": 0, "max_feature_rel_err": 0.0, "mismatches": [], "top": {},
                           "max_prob_abs_diff": {}}
    name = golden_clip["name"]
    for gi, g in enumerate(golden_clip["groups"]):
        got = [e for e in events if e["group"] == gi]
        if len(got) != len(g["windows"]):
            res["mismatches"].append(f"{name} group {gi}: C gave {len(got)} windows, Python {len(g['windows'])}")
            continue
        for wi, (py, c) in enumerate(zip(g["windows"], got)):
            res["n_windows"] += 1
            where = f"{name} group {gi} window {wi}"
            if abs(py["t_start"] - c["t_start"]) > TIME_ATOL_S or abs(py["t_end"] - c["t_end"]) > TIME_ATOL_S:
                res["mismatches"].append(f"{where}: times C {c['t_start']}-{c['t_end']}, Python {py['t_start']}-{py['t_end']}")
            for flag in ("silent", "voiced", "partial"):
                if bool(py[flag]) != bool(c[flag]):
                    res["mismatches"].append(f"{where}: {flag} C {c[flag]}, Python {py[flag]}")
            f_py, f_c = np.asarray(py["features"], np.float64), np.asarray(c.get("features", []), np.float64)
            if f_py.shape != f_c.shape:
                res["mismatches"].append(f"{where}: C gave {f_c.shape} features, Python {f_py.shape}")
            else:
                rel = float((np.abs(f_c - f_py) / np.maximum(np.abs(f_py), 1.0)).max(initial=0.0))
                res["max_feature_rel_err"] = max(res["max_feature_rel_err"], rel)
                if not rel <= FEATURE_RTOL:
                    res["mismatches"].append(f"{where}: feature relative error {rel:.3g} > {FEATURE_RTOL}")
            probs = py[key] or {}
            for t in g["tasks"]:
                ct = c["tasks"].get(t, {})
                agree, total = res["top"].get(t, [0, 0])
                if py["silent"]:
                    if ct.get("status") != "silent":
                        res["mismatches"].append(f"{where}: task {t} ran in C on a window Python finds silent")
                    continue
                total += 1
                if ct.get("status") != "ran":
                    res["mismatches"].append(f"{where}: task {t} did not run in C ({ct.get('status')})")
                else:
                    p = np.asarray(probs[t])
                    if int(np.argmax(p)) == int(ct["top"]):
                        agree += 1
                    else:
                        res["mismatches"].append(f"{where}: task {t} top class C {ct['top']}, Python {int(np.argmax(p))}")
                    d = float(np.abs(np.asarray(ct["probs"]) - p).max())
                    res["max_prob_abs_diff"][t] = max(res["max_prob_abs_diff"].get(t, 0.0), d)
                res["top"][t] = [agree, total]
    return res


def golden_pcm(bundle_dir: Path, clip: Mapping[str, Any], data_root: Path | None, scratch: Path) -> Path:
    """The PCM file of a golden clip: the bundle's own, else rebuilt from `data_root` into `scratch`."""
    p = Path(bundle_dir) / "golden" / clip["pcm"]
    if p.is_file():
        return p
    if data_root is None:
        raise DataError(f"{p}: golden PCM not in the bundle; pass the corpora folder (data_root) to rebuild it "
                        f"from {clip.get('source')!r}")
    out = Path(scratch) / clip["pcm"]
    out.write_bytes(_rebuild_pcm(clip, Path(data_root)))
    return out


def _rebuild_pcm(clip: Mapping[str, Any], data_root: Path) -> bytes:
    src = data_root / clip["source"]
    if not src.is_file():
        raise DataError(f"golden clip {clip['name']}: source {src} not found (the bundle leaves its audio out; "
                        f"point data_root / $DEEPEAR_DATA at the corpora it was exported from)")
    raw = to_int16(load_audio(src, 16000)).astype("<i2").tobytes()
    want = clip.get("pcm_sha256")
    if want and hashlib.sha256(raw).hexdigest() != want:
        raise DataError(f"golden clip {clip['name']}: {src} decodes to different samples than at export "
                        f"(sha256 mismatch): not the same recording, or a different decoder/resampler")
    return raw


def restore_golden_audio(bundle_dir: Path, data_root: Path) -> list[Path]:
    """Write the golden PCM files a bundle left out (`--no-golden-audio`) from the corpora; returns the paths."""
    bundle_dir = Path(bundle_dir)
    doc = json.loads((bundle_dir / "golden" / "golden.json").read_text())
    written = []
    for clip in doc["clips"]:
        p = bundle_dir / "golden" / clip["pcm"]
        if not p.is_file():
            atomic_write_bytes(p, _rebuild_pcm(clip, Path(data_root)))
            written.append(p)
    return written


def check_golden(bundle_dir: Path, float_build: bool = False, data_root: Path | None = None) -> dict:
    """Compile `<bundle>/c` (-Werror), run every golden clip with routing off and compare with golden.json.

    Never raises: build or run failures are reported in "problems" with ok False. PCM files the bundle left
    out are rebuilt from `data_root` (checked against their recorded sha256).
    Returns: {ok, float_build, n_clips, n_windows, max_feature_rel_err, feature_rtol, top_class_agreement
        {task: fraction}, top_class_identical, flags_identical, max_prob_abs_diff {task}, problems [str]}.
    """
    bundle_dir = Path(bundle_dir)
    out: dict[str, Any] = {"ok": False, "float_build": float_build, "n_clips": 0, "n_windows": 0,
                           "max_feature_rel_err": None, "feature_rtol": FEATURE_RTOL, "top_class_agreement": {},
                           "top_class_identical": False, "flags_identical": False, "max_prob_abs_diff": {},
                           "problems": []}
    try:
        doc = json.loads((bundle_dir / "golden" / "golden.json").read_text())
        if doc.get("format") != GOLDEN_FORMAT:
            raise ConfigError(f"{bundle_dir}/golden/golden.json: not a {GOLDEN_FORMAT} file")
        with tempfile.TemporaryDirectory(prefix="deepear-golden-") as t:
            build = Path(t) / "c"
            shutil.copytree(bundle_dir / "c", build)
            exe = compile_c(build, Path(t) / "deepear_run", float_build=float_build)
            top: dict[str, list[int]] = {}
            max_rel = 0.0
            flag_problems = 0
            for clip in doc["clips"]:
                events = run_c(exe, golden_pcm(bundle_dir, clip, data_root, Path(t)), routing=False)
                r = compare_events(clip, events, float_build)
                out["n_clips"] += 1
                out["n_windows"] += r["n_windows"]
                max_rel = max(max_rel, r["max_feature_rel_err"])
                out["problems"].extend(r["mismatches"])
                flag_problems += sum(1 for m in r["mismatches"] if "silent C" in m or "voiced C" in m
                                     or "windows, Python" in m)
                for task, (a, n) in r["top"].items():
                    top[task] = [top.get(task, [0, 0])[0] + a, top.get(task, [0, 0])[1] + n]
                for task, d in r["max_prob_abs_diff"].items():
                    out["max_prob_abs_diff"][task] = max(out["max_prob_abs_diff"].get(task, 0.0), d)
        out["max_feature_rel_err"] = max_rel
        out["top_class_agreement"] = {task: (a / n if n else 1.0) for task, (a, n) in top.items()}
        out["top_class_identical"] = all(a == n for a, n in top.values())
        out["flags_identical"] = flag_problems == 0
        out["ok"] = not out["problems"] and out["n_windows"] > 0
        if out["n_windows"] == 0:
            out["problems"].append("no golden window was compared")
    except (DeepearError, OSError, KeyError, ValueError, TypeError) as e:
        out["problems"].append(f"{type(e).__name__}: {e}")
    return out
