"""A small real bundle for the runtime tests, built once per test session in a temp folder.

A seeded tiny MultiTaskDNN (224 -> 32 -> 32, heads scene 4 / emotion 5 / speaker 3) with its input
standardisation fitted on real windows, exported with the project's own ONNX exporters (fp32 + int8), and a
manifest following docs/runtime.md / the bundle spec: scene (speech false, 1.28 s), emotion and speaker
(speech true, 5 s). torch is used here, in the fixture, never by the runtime.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

TASKS = {
    "emotion": {"labels": ["happiness", "sadness", "fear", "anger", "neutral"], "window_s": 5.0, "hop_s": 5.0,
                "speech": True},
    "speaker": {"labels": ["alice", "bob", "carol"], "window_s": 5.0, "hop_s": 5.0, "speech": True},
    "scene": {"labels": ["music", "traffic", "voicing", "other"], "window_s": 1.28, "hop_s": 1.28,
              "speech": False},
}
GROUPS = [{"window_s": 1.28, "hop_s": 1.28, "tasks": ["scene"]},
          {"window_s": 5.0, "hop_s": 5.0, "tasks": ["emotion", "speaker"]}]


def data_root() -> Path:
    return Path(os.environ.get("DEEPEAR_DATA") or Path(__file__).resolve().parents[2] / "shared" / "datasets")


def _real_windows() -> np.ndarray:
    from deepear.audio.config import FrontEndConfig
    from deepear.audio.frontend import analyze, summarize
    from deepear.audio.io import load_audio

    cfg = FrontEndConfig()
    root = data_root()
    files = [root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac",
             root / "sc_bg_noise" / "running_tap.flac", root / "fsdd_8k" / "0_george_0.flac"]
    xs = [summarize(analyze(load_audio(f)[: 16000 * 10], cfg), cfg, 1.28, 0.32).x for f in files]
    return np.concatenate(xs)


def build_bundle(dest: Path, adapt: bool = False) -> Path:
    """Write a complete bundle folder at `dest` (manifest.json, model.onnx, model.int8.onnx); returns dest.
    adapt: the 5 s group (emotion, speaker) carries speaker adaptation around the real windows' statistics."""
    import torch

    from deepear.audio import voicing
    from deepear.audio.config import FrontEndConfig
    from deepear.audio.features import feature_names
    from deepear.deepx.onnx_export import export_onnx
    from deepear.deepx.quantize import export_int8_onnx
    from deepear.model.dnn import MultiTaskDNN

    cfg = FrontEndConfig()
    dest.mkdir(parents=True, exist_ok=True)
    x = _real_windows()
    model = MultiTaskDNN(cfg.dim, {t: len(v["labels"]) for t, v in TASKS.items()}, hidden=(32, 32),
                         activation="relu", generator=torch.Generator().manual_seed(7))
    model.set_input_norm(x.mean(axis=0), x.std(axis=0) + 1e-3)
    export_onnx(model, dest / "model.onnx", input_dim=cfg.dim)
    export_int8_onnx(model, dest / "model.int8.onnx", x_calib=x)
    sha = {f: hashlib.sha256((dest / f).read_bytes()).hexdigest() for f in ("model.onnx", "model.int8.onnx")}
    manifest = {
        "format": "deepear-bundle", "format_version": 1, "name": "test-3task", "deepear_version": "0.1.0",
        "front_end": cfg.to_dict(), "voicing_model": voicing.load_model().to_dict(),
        "input": {"name": "x", "dim": cfg.dim, "feature_names": feature_names(cfg)},
        "tasks": TASKS, "window_groups": GROUPS,
        "models": {"fp32": {"file": "model.onnx", "sha256": sha["model.onnx"], "opset": 17, "outputs": "logits"},
                   "int8": {"file": "model.int8.onnx", "sha256": sha["model.int8.onnx"], "opset": 17,
                            "outputs": "logits"}},
    }
    if adapt:
        from deepear.audio.speaker_norm import AdaptationSpec
        manifest["adaptation"] = AdaptationSpec(("emotion", "speaker"), 5.0, 5.0, x.mean(axis=0),
                                                x.std(axis=0) + 1e-3, 0.1, 2).to_dict()
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return dest


def session_bundle(tmp_path_factory) -> Path:
    """The session's bundle (built on first use, then reused by every test module)."""
    dest = tmp_path_factory.getbasetemp() / "runtime_bundle"
    if not (dest / "manifest.json").is_file():
        build_bundle(dest)
    return dest
