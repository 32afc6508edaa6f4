"""The reference bundle committed in exported/deepear-4task: complete, loadable with onnxruntime alone (no torch,
no deepear.model), right on real clips, and its C build fits the watch target."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUNDLE = REPO / "exported" / "deepear-4task"


@pytest.fixture(scope="module")
def manifest() -> dict:
    assert (BUNDLE / "manifest.json").is_file(), f"the reference bundle is missing at {BUNDLE}"
    return json.loads((BUNDLE / "manifest.json").read_text())


def test_reference_bundle_is_complete_and_small(manifest):
    for name in ("model.onnx", "model.int8.onnx", "MODEL_CARD.md", "recipe.yaml", "c/deepear_model.c",
                 "c/deepear_model.h", "c/deepear_weights.h", "c/deepear_run.c", "golden/golden.json"):
        assert (BUNDLE / name).is_file(), name
    # no copy of the corpora in the repository: golden.json names each clip's source, the PCM is rebuilt
    assert not list((BUNDLE / "golden").glob("*.pcm"))
    # size follows the shipped parameters: the C header holds the float weights as text (~13 B each) and the
    # int8 codes (~4 B), model.onnx 4 B, model.int8.onnx 1 B; anything else (audio, a stray file) breaks this
    size = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file())
    n = manifest["compression"]["parameters_after"]
    assert size < 26 * n + 0.5e6, f"reference bundle is {size / 1e6:.1f} MB for {n:,} parameters"
    assert set(manifest["tasks"]) >= {"scene", "emotion", "stress", "speaker"}
    card = (BUNDLE / "MODEL_CARD.md").read_text()
    assert "Non-commercial" in card and "proxy" in card and "10 dB" in card
    # int8 weights stored as uint8 codes + 128: onnxruntime's exact kernel on every CPU, nothing to re-encode
    import onnx

    from deepear.runtime.int8_graph import exact_u8u8
    assert exact_u8u8(onnx.load(str(BUNDLE / "model.int8.onnx"))) == 0


def test_reference_bundle_runs_with_onnxruntime_alone(data_root):
    """A fresh interpreter: onnxruntime + numpy on the ONNX files, then deepear's runtime on real clips; torch,
    deepear.model, deepear.deepx must never be imported."""
    # recordings the speaker run held out (repetition 2; their speakers are training speakers): 8 actors, every
    # third, angry (stressed) and neutral (not stressed) alternating
    clips = [data_root / "ravdess" / f"Actor_{a:02d}" / f"03-01-{'05' if k % 2 == 0 else '01'}-01-01-02-{a:02d}.flac"
             for k, a in enumerate(range(2, 25, 3))]
    code = f"""
import json, sys
import numpy as np, onnxruntime as ort
m = json.load(open({str(BUNDLE / 'manifest.json')!r}))
x = np.full((2, m["input"]["dim"]), -40.0, np.float32)
for f in ("model.onnx", "model.int8.onnx"):
    s = ort.InferenceSession({str(BUNDLE)!r} + "/" + f, providers=["CPUExecutionProvider"])
    outs = dict(zip([o.name for o in s.get_outputs()], s.run(None, {{"x": x}})))
    assert list(outs) == list(m["tasks"]), outs.keys()
    assert all(outs[t].shape == (2, len(m["tasks"][t]["labels"])) for t in outs)
from deepear.runtime import Pipeline
p = Pipeline.load({str(BUNDLE)!r})
labels = [{{t: r.label for t, r in p.predict_file(c).tasks.items()}} for c in {[str(c) for c in clips]!r}]
bad = sorted(k for k in sys.modules if k.split(".")[0] == "torch" or k.startswith(("deepear.model", "deepear.deepx")))
print(json.dumps({{"bad": bad, "labels": labels}}))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["bad"] == []
    # held-out recordings checked against their labels (the heads score ~90-97% on such recordings; one clip at
    # a time, each a fresh stream for the speaker adaptation)
    got = out["labels"]
    speakers = sum(g["speaker"] == f"ravdess_actor{c.name[-7:-5]}" for g, c in zip(got, clips))
    stress = sum(g["stress"] == ("stressed" if k % 2 == 0 else "not_stressed") for k, g in enumerate(got))
    assert speakers >= 6 and stress >= 6, got
    assert all(g["scene"] == "voicing" for g in got), got


def test_reference_bundle_fits_the_watch(manifest):
    from deepear.export.c_build import fits_target, measure_c

    fit = manifest["deployment"]["fit"]
    assert fit["target"] == "watch-m4" and fit["fits"]
    m = measure_c(BUNDLE / "c")                    # measured again from the committed sources
    assert fits_target(m, "watch-m4")["fits"]
    assert m["arena_bytes"] == manifest["c_build"]["arena_bytes"]
