"""Pipeline and Stream on a small real bundle: batch = stream, chunking, rates, silence, routing, errors."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bundle_fixture import session_bundle

from deepear.audio.io import load_audio, resample
from deepear.errors import AudioError, ConfigError
from deepear.runtime import BundleError, Event, Pipeline

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory) -> Path:
    return session_bundle(tmp_path_factory)


@pytest.fixture(scope="module")
def pipe(bundle_dir) -> Pipeline:
    return Pipeline.load(bundle_dir)


@pytest.fixture(scope="module")
def clip(data_root) -> np.ndarray:
    """Real speech, 2 s of digital silence, 6 s of a real running-tap recording (16 kHz)."""
    speech = load_audio(data_root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac")
    noise = load_audio(data_root / "sc_bg_noise" / "running_tap.flac")[: 16000 * 6]
    return np.concatenate([speech, np.zeros(32000, np.float32), noise])


def stream_events(pipe: Pipeline, y: np.ndarray, chunk: int, rate: int = 16000, **kw) -> list[Event]:
    s = pipe.stream(sample_rate=rate, **kw)
    out: list[Event] = []
    for i in range(0, len(y), chunk):
        out += s.push(y[i:i + chunk])
    return out + s.flush()


def assert_same_events(a: list[Event], b: list[Event]) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert (x.t_start, x.t_end, x.task, x.status, x.label, x.voiced, x.partial) == \
               (y.t_start, y.t_end, y.task, y.status, y.label, y.voiced, y.partial)
        assert x.probabilities == y.probabilities          # same window vectors -> same model outputs
        assert x.speech_score == pytest.approx(y.speech_score, abs=1e-5)


# Bundle ------------------------------------------------------------------------------------------------------
def _broken(bundle_dir: Path, tmp_path: Path, edit) -> Path:
    dest = tmp_path / "b"
    shutil.copytree(bundle_dir, dest)
    m = json.loads((dest / "manifest.json").read_text())
    edit(m, dest)
    (dest / "manifest.json").write_text(json.dumps(m))
    return dest


@pytest.mark.parametrize("edit, match", [
    (lambda m, d: m.update(format="other"), "format must be"),
    (lambda m, d: m.update(format_version=2), "format_version"),
    (lambda m, d: m.pop("voicing_model"), "'voicing_model' is missing"),
    (lambda m, d: m["window_groups"][1]["tasks"].remove("speaker"), r"\['speaker'\] are in no window group"),
    (lambda m, d: m["tasks"]["scene"].update(window_s=2.0), r"window_groups\[0\]: window 1.28"),
    (lambda m, d: m["input"].update(dim=100), "input.dim is 100"),
    (lambda m, d: (d / "model.onnx").unlink(), "models.fp32.file"),
    (lambda m, d: m["models"]["fp32"].update(sha256="0" * 64), "sha256 does not match"),
    (lambda m, d: m["tasks"]["speaker"].update(labels=["a", "b"]), "has 3 classes"),
])
def test_bad_bundles_raise_clear_errors(bundle_dir, tmp_path, edit, match):
    bad = _broken(bundle_dir, tmp_path, edit)
    with pytest.raises(BundleError, match=match) as e:
        Pipeline.load(bad)
    assert str(bad) in str(e.value)


def test_missing_bundle(tmp_path):
    with pytest.raises(BundleError, match="not a folder"):
        Pipeline.load(tmp_path / "nowhere")
    with pytest.raises(BundleError, match="manifest.json not found"):
        Pipeline.load(tmp_path)


# Batch -------------------------------------------------------------------------------------------------------
def test_predict_clip_level_results(pipe, clip):
    pred = pipe.predict(clip, 16000)
    assert set(pred.tasks) == {"emotion", "speaker", "scene"}
    sc = pred["scene"]
    ok = [e for e in pred.windows if e.task == "scene" and e.status == "ok"]
    assert sc.n_run == len(ok) and sc.n_silent >= 1 and sc.status == "ok"
    mean = np.mean([[e.probabilities[k] for k in pipe.labels("scene")] for e in ok], axis=0)
    assert sc.probabilities == pytest.approx(dict(zip(pipe.labels("scene"), mean)))
    assert sc.label == pipe.labels("scene")[int(np.argmax(mean))]
    for e in ok:
        assert sum(e.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert e.probability == max(e.probabilities.values())
    assert pred.duration_s == pytest.approx(len(clip) / 16000)


@pytest.mark.parametrize("audio, rate, match", [
    (np.zeros((2, 3, 4), np.float32), 16000, "shape"),
    (np.array(["a"] * 1000), 16000, "dtype"),
    (np.full(4000, np.nan, np.float32), 16000, "NaN"),
    (np.zeros(4000, np.float32), 1000, "unsupported sample rate"),
    (np.zeros(4000, np.float32), 16000.5, "integer"),
    (np.zeros(100, np.float32), 16000, "too short"),
])
def test_predict_rejects_bad_input(pipe, audio, rate, match):
    with pytest.raises(AudioError, match=match):
        pipe.predict(audio, rate)


def test_predict_file_equals_predict(pipe, data_root):
    f = data_root / "fsdd_8k" / "0_george_0.flac"                   # natively 8 kHz
    a = pipe.predict_file(f)
    import soundfile as sf
    y, sr = sf.read(str(f), dtype="float32")
    assert_same_events(a.windows, pipe.predict(y, sr).windows)


# Stream == batch ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [16, 592, 16000])  # 1 ms, 37 ms, 1 s
def test_stream_events_equal_batch_for_any_chunk_size(pipe, clip, chunk):
    assert_same_events(stream_events(pipe, clip, chunk), pipe.predict(clip, 16000).windows)


def test_stream_copies_blocks_the_caller_reuses(pipe, clip):
    """An audio callback refills one buffer: the stream must not keep a reference to it."""
    s = pipe.stream(sample_rate=16000)
    buf = np.empty(1600, np.float32)
    events = []
    n = len(clip) // 1600 * 1600
    for i in range(0, n, 1600):
        buf[:] = clip[i:i + 1600]
        events += s.push(buf)
    events += s.flush()
    assert_same_events(events, stream_events(pipe, clip[:n].copy(), 1600))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_rates_stream_equals_batch(pipe, clip, rate):
    y = resample(clip, 16000, rate)
    batch = pipe.predict(y, rate)
    assert_same_events(stream_events(pipe, y, int(0.037 * rate), rate), batch.windows)
    # and the integer PCM of the same audio gives the same result
    pcm = np.round(np.clip(y, -1, 1) * 32767).astype(np.int16)
    assert [e.label for e in pipe.predict(pcm, rate).windows] == [e.label for e in batch.windows]


def test_short_clip_gives_partial_windows(pipe, clip):
    y = clip[:16000]
    ev = stream_events(pipe, y, 1000)
    assert_same_events(ev, pipe.predict(y, 16000).windows)
    assert all(e.partial for e in ev) and {e.task for e in ev} == {"scene", "emotion", "speaker"}


# Silence filter and voicing routing --------------------------------------------------------------------------
def test_silence_runs_no_inference(pipe, rng, monkeypatch):
    calls = []
    monkeypatch.setattr(pipe.model, "logits", lambda x: calls.append(x) or pytest.fail("model was run"))
    quiet = np.concatenate([np.zeros(16000 * 4, np.float32), 1e-5 * rng.standard_normal(16000 * 7).astype(np.float32)])
    s = pipe.stream(sample_rate=16000)
    ev = s.push(quiet[:50000]) + s.push(quiet[50000:]) + s.flush()
    assert ev and all(e.status == "silent" and e.label is None for e in ev)
    assert s.state.inferences == 0 and s.state.model_calls == 0 and s.state.silent_windows == s.state.windows > 0
    assert all(e.status == "silent" for e in pipe.predict(quiet, 16000).windows)
    assert not calls


def test_speech_tasks_skipped_on_non_speech(pipe, data_root):
    noise = load_audio(data_root / "sc_bg_noise" / "running_tap.flac")[: 16000 * 11]
    s = pipe.stream(sample_rate=16000)
    ev = s.push(noise) + s.flush()
    speech = [e for e in ev if e.task in ("emotion", "speaker")]
    scene = [e for e in ev if e.task == "scene"]
    assert len(speech) == 4 and all(e.status == "not_speech" and e.label is None for e in speech)
    assert scene and all(e.status == "ok" for e in scene)
    assert s.state.inferences == len(scene)      # the 5 s windows were never sent to the model


def test_speech_gate_off_runs_speech_tasks_on_unvoiced_windows(bundle_dir, data_root):
    """Pipeline(speech_gate=False) = the C library's routing off: the same windows, the same scene results, and
    emotion / speaker now answer on the running tap's unvoiced windows, in batch and streaming alike."""
    noise = load_audio(data_root / "sc_bg_noise" / "running_tap.flac")[: 16000 * 11]
    gated, open_ = Pipeline.load(bundle_dir), Pipeline.load(bundle_dir, speech_gate=False)
    for ev_g, ev_o in ((gated.predict(noise, 16000).windows, open_.predict(noise, 16000).windows),
                       (stream_events(gated, noise, 1600), stream_events(open_, noise, 1600))):
        assert [(e.task, e.t_start, e.voiced) for e in ev_g] == [(e.task, e.t_start, e.voiced) for e in ev_o]
        speech = [e for e in ev_o if e.task in ("emotion", "speaker")]
        assert speech and all(e.status == "ok" and e.label is not None and not e.voiced for e in speech)
        for a, b in zip(ev_g, ev_o):
            if a.task == "scene":
                assert a.status == b.status == "ok" and a.probability == pytest.approx(b.probability, abs=1e-6)
    res = open_.predict(noise, 16000).tasks
    assert res["emotion"].status == "ok" and res["emotion"].label is not None
    assert gated.predict(noise, 16000).tasks["emotion"].status == "not_speech"


def test_speech_tasks_run_on_speech(pipe, data_root):
    y = np.concatenate([load_audio(data_root / "ravdess" / "Actor_01" / f"03-01-0{e}-01-01-01-01.flac")
                        for e in (1, 3, 5)])
    ev = stream_events(pipe, y, 1600)
    speech = [e for e in ev if e.task == "emotion"]
    assert speech and all(e.status == "ok" and e.voiced for e in speech)


# Stream state ------------------------------------------------------------------------------------------------
def test_two_streams_are_independent(pipe, clip, data_root):
    other = load_audio(data_root / "fsdd_8k" / "0_george_0.flac")
    other = np.tile(other, int(np.ceil(len(clip) / len(other))))[: len(clip)]
    a, b = pipe.stream(sample_rate=16000), pipe.stream(sample_rate=16000)
    ea, eb = [], []
    for i in range(0, len(clip), 3000):                 # interleaved pushes
        ea += a.push(clip[i:i + 3000])
        eb += b.push(other[i:i + 3000])
    ea += a.flush()
    eb += b.flush()
    assert_same_events(ea, stream_events(pipe, clip, 16000))
    assert_same_events(eb, stream_events(pipe, other, 16000))


def test_reset_flush_and_state(pipe, clip):
    s = pipe.stream(sample_rate=16000)
    s.push(clip[:30000])
    s.reset()
    assert s.state.samples_in == 0
    ev = s.push(clip) + s.flush()
    assert_same_events(ev, stream_events(pipe, clip, 4000))
    assert s.flush() == []
    with pytest.raises(AudioError, match="after flush"):
        s.push(clip[:100])
    seen = [e.stream.samples_in for e in ev]
    assert seen == sorted(seen) and ev[0].stream.seconds_in > 0 and not ev[-1].stream.dropped
    assert s.state.windows == len({(e.t_start, e.t_end) for e in ev})


def test_stream_rejects_bad_chunks(pipe):
    s = pipe.stream(sample_rate=16000)
    with pytest.raises(AudioError, match="NaN"):
        s.push(np.array([0.0, np.nan], np.float32))
    with pytest.raises(AudioError, match="shape"):
        s.push(np.zeros((2, 2, 2), np.float32))
    assert s.push(np.zeros(0, np.float32)) == [] and s.state.samples_in == 0
    with pytest.raises(ConfigError, match="smoothing"):
        pipe.stream(smoothing=0)
    with pytest.raises(AudioError, match="unsupported sample rate"):
        pipe.stream(sample_rate=100)


def test_smoothing_averages_last_k_results(pipe, data_root):
    y = load_audio(data_root / "sc_bg_noise" / "running_tap.flac")[: 16000 * 12]
    raw = [e for e in stream_events(pipe, y, 16000) if e.task == "scene"]
    smooth = [e for e in stream_events(pipe, y, 16000, smoothing=3) if e.task == "scene"]
    labels = pipe.labels("scene")
    vec = lambda e: np.array([e.probabilities[k] for k in labels])  # noqa: E731
    for i, e in enumerate(smooth):
        mean = np.mean([vec(r) for r in raw[max(0, i - 2):i + 1]], axis=0)
        np.testing.assert_allclose(vec(e), mean, atol=1e-9)
        assert e.label == labels[int(np.argmax(mean))]
    assert any(vec(a).tolist() != vec(b).tolist() for a, b in zip(raw[2:], smooth[2:]))


def test_int8_bundle_runs(bundle_dir, clip):
    p8 = Pipeline.load(bundle_dir, precision="int8")
    assert p8.model.path.name == "model.int8.onnx"
    pred = p8.predict(clip, 16000)
    assert pred["scene"].status == "ok"
    assert_same_events(stream_events(p8, clip, 592), pred.windows)
    with pytest.raises(BundleError, match="unknown precision"):
        Pipeline.load(bundle_dir, precision="fp16")


def test_runtime_never_imports_torch(bundle_dir, data_root):
    code = f"""
import sys, numpy as np
import deepear
assert 'onnxruntime' not in sys.modules, 'import deepear loaded onnxruntime'
from deepear.runtime import Pipeline, FileSource
p = Pipeline.load({str(bundle_dir)!r})
f = {str(data_root / 'ravdess' / 'Actor_01' / '03-01-05-02-01-01-01.flac')!r}
p.predict_file(f)
n = sum(1 for _ in p.stream(FileSource(f)))
assert n > 0
bad = sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith(('deepear.model', 'deepear.deepx', 'deepear.experiment')))
assert not bad, bad
print('ok')
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_top_level_pipeline_is_the_runtime_one():
    import deepear
    import deepear.runtime

    assert deepear.Pipeline is deepear.runtime.Pipeline and deepear.FileSource is deepear.runtime.FileSource
    with pytest.raises(AttributeError):
        deepear.NoSuchThing  # noqa: B018
