"""Sources: files, iterables of blocks, and the microphone against a fake sounddevice that overflows."""
from __future__ import annotations

import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from bundle_fixture import session_bundle

from deepear.audio.io import load_audio
from deepear.errors import AudioError, DeepearError
from deepear.runtime import ArraySource, FileSource, Microphone, MicrophoneError, Pipeline, as_source


@pytest.fixture(scope="module")
def pipe(tmp_path_factory) -> Pipeline:
    return Pipeline.load(session_bundle(tmp_path_factory))


def _key(events):
    return [(e.t_start, e.task, e.status, e.label, e.probabilities) for e in events]


def test_file_source_blocks_and_stream_equal_predict_file(pipe, data_root):
    f = data_root / "fsdd_8k" / "0_george_0.flac"               # 8 kHz: the stream resamples
    src = FileSource(f, block_ms=37)
    assert src.sample_rate == 8000 and src.block == 296
    blocks = list(src)
    assert all(len(b) == 296 for b in blocks[:-1])
    assert np.array_equal(np.concatenate(blocks), sf.read(str(f), dtype="float32")[0])
    ev = list(pipe.stream(FileSource(f, block_ms=37)))
    assert _key(ev) == _key(pipe.predict_file(f).windows) and ev


def test_file_source_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        FileSource(tmp_path / "none.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="unreadable"):
        FileSource(bad)


def test_iterable_of_blocks(pipe, data_root):
    y = load_audio(data_root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac")
    blocks = (y[i:i + 700] for i in range(0, len(y), 700))
    with pytest.raises(AudioError, match="sample_rate"):
        as_source(blocks)
    ev = list(pipe.stream(as_source(blocks, 16000)))
    assert _key(ev) == _key(pipe.predict(y, 16000).windows)
    stereo = [np.stack([y[i:i + 5000], y[i:i + 5000]], axis=1) for i in range(0, len(y), 5000)]
    assert _key(list(pipe.stream(ArraySource(stereo, 16000)))) == _key(ev)


# A fake sounddevice ------------------------------------------------------------------------------------------
class _Flags:
    def __init__(self, overflow: bool) -> None:
        self.input_overflow = overflow


def fake_sounddevice(signal: np.ndarray, rate: int, overflow_every: int = 0, stall_s: float = 0.0):
    """A module with sounddevice's API: InputStream calls back from a thread with `signal` in blocks, flagging
    an input overflow every `overflow_every` blocks; `stall_s` pauses the consumer-facing thread so the queue
    can overflow deepear's own buffer."""
    mod = types.ModuleType("sounddevice")

    class PortAudioError(Exception):
        pass

    def query_devices(device=None, kind=None):
        if device not in (None, 0, "fake"):
            raise ValueError(f"No input device matching {device!r}")
        return {"name": "fake mic", "default_samplerate": float(rate), "max_input_channels": 1}

    class InputStream:
        def __init__(self, device=None, channels=1, samplerate=None, blocksize=0, dtype="float32", callback=None):
            assert channels == 1 and dtype == "float32" and samplerate == rate
            self.block, self.callback, self.active = blocksize, callback, False

        def start(self):
            self.active = True
            threading.Thread(target=self._run, daemon=True).start()

        def _run(self):
            for j, i in enumerate(range(0, len(signal), self.block)):
                if not self.active:
                    return
                b = signal[i:i + self.block]
                if len(b) < self.block:
                    break
                self.callback(b[:, None].copy(), len(b), None, _Flags(bool(overflow_every) and j % overflow_every == 1))
            self.active = False

        def stop(self):
            self.active = False

        def close(self):
            pass

    mod.PortAudioError = PortAudioError
    mod.query_devices = query_devices
    mod.InputStream = InputStream
    return mod


@pytest.fixture(scope="module")
def speech(data_root) -> np.ndarray:
    return load_audio(data_root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac")


def test_microphone_counts_overflows_and_reports_them(pipe, speech, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(speech, 16000, overflow_every=5))
    mic = Microphone(block_ms=50)
    assert mic.sample_rate == 16000 and mic.device_name == "fake mic"
    stream = pipe.stream(mic)
    ev = list(stream)
    n_blocks = len(speech) // 800
    assert mic.overflows == len([j for j in range(n_blocks) if j % 5 == 1]) > 0
    assert stream.state.overflows == mic.overflows and ev[-1].stream.dropped
    assert stream.state.samples_in == n_blocks * 800
    ref = pipe.predict(speech[: n_blocks * 800], 16000).windows
    assert _key(ev) == _key(ref)


def test_microphone_queue_full_drops_are_counted(pipe, speech, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(speech, 16000))
    mic = Microphone(block_ms=10, max_queue_s=0.02)        # room for 2 blocks only
    it = iter(mic)
    first = next(it)                                        # the callback thread runs on while we stall
    import time
    deadline = time.monotonic() + 5
    while mic._stream is not None and mic._stream.active and time.monotonic() < deadline:
        time.sleep(0.01)
    rest = list(it)
    got = len(first) + sum(len(b) for b in rest)
    assert mic.dropped_samples > 0
    assert got + mic.dropped_samples == (len(speech) // 160) * 160   # nothing lost silently


def test_microphone_duration_limit(pipe, speech, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(speech, 16000))
    blocks = list(Microphone(block_ms=100, duration_s=1.05))
    assert sum(len(b) for b in blocks) == 16800


def test_microphone_errors(monkeypatch, speech):
    monkeypatch.setitem(sys.modules, "sounddevice", None)           # import fails: package missing
    with pytest.raises(MicrophoneError, match=r"pip install 'deepear\[mic\]'"):
        Microphone()
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MicrophoneError, match="PortAudio not found"):
        Microphone()
    monkeypatch.setattr(builtins, "__import__", real_import)
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(speech, 16000))
    with pytest.raises(MicrophoneError, match="'usb mic'") as e:
        Microphone(device="usb mic")
    assert isinstance(e.value, DeepearError)
