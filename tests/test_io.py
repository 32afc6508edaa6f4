"""deepear.audio.io: formats, rates, channels, and every bad-input error with its message."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import deepear
from deepear.audio.io import load_audio, prepare, resample
from deepear.errors import AudioError


def _tone(sr: int, seconds: float = 0.5, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_audio_error_is_value_error_and_exported():
    assert issubclass(deepear.AudioError, ValueError)
    assert deepear.AudioError is AudioError


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", None)])
def test_reads_every_format_to_mono_float32_16k(tmp_path, fmt, subtype):
    sr = 22050
    stereo = np.stack([_tone(sr), _tone(sr, hz=880.0)], axis=1)
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(path, stereo, sr, format=fmt, subtype=subtype)
    y = load_audio(path, 16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 8000) < 1200  # lossy codecs pad a little
    assert 0.05 < float(np.sqrt(np.mean(y ** 2))) < 0.3


def test_real_8k_file_is_upsampled(data_root):
    path = data_root / "fsdd_8k" / "0_george_0.flac"
    native, sr = sf.read(path)
    assert sr == 8000
    y = load_audio(path, 16000)
    assert len(y) == 2 * len(native)
    # no energy above the original Nyquist (4 kHz) beyond the resampler's transition band
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / 16000)
    assert spec[f > 4200].sum() < 1e-3 * spec.sum()


def test_resample_keeps_a_tone():
    y = _tone(48000, 1.0, 1000.0)
    z = resample(y, 48000, 16000)
    assert len(z) == 16000
    f = np.fft.rfftfreq(len(z), 1 / 16000)
    assert abs(f[np.argmax(np.abs(np.fft.rfft(z)))] - 1000.0) < 2


def test_int16_input_is_scaled():
    y = (np.ones(1024) * 16384).astype(np.int16)
    np.testing.assert_allclose(prepare(y, 16000), 0.5)


def test_missing_file(tmp_path):
    p = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match=r"nope\.wav: file not found"):
        load_audio(p)


def test_corrupt_file(tmp_path):
    p = tmp_path / "bad.flac"
    p.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    with pytest.raises(AudioError, match=r"bad\.flac: unreadable or corrupt"):
        load_audio(p)


def test_truncated_real_file(tmp_path, speech_file):
    p = tmp_path / "cut.flac"
    p.write_bytes(speech_file.read_bytes()[:100])
    with pytest.raises(AudioError, match="cut.flac"):
        load_audio(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    sf.write(p, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"empty\.wav: audio is empty"):
        load_audio(p)


def test_nan_samples(tmp_path):
    p = tmp_path / "nan.wav"
    y = _tone(16000)
    y[100:103] = np.nan
    sf.write(p, y, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: audio contains 3 NaN/Inf"):
        load_audio(p)


def test_inf_in_memory():
    y = _tone(16000)
    y[5] = np.inf
    with pytest.raises(AudioError, match="NaN/Inf"):
        prepare(y, 16000)


def test_too_short(tmp_path):
    p = tmp_path / "short.wav"
    sf.write(p, _tone(16000, 0.01), 16000)
    with pytest.raises(AudioError, match=r"short\.wav: clip too short: 160 samples.*512 samples"):
        load_audio(p, 16000, min_samples=512)


@pytest.mark.parametrize("rate", [1000, 0, -16000, 16000.5, 10 ** 6])
def test_unsupported_rate(rate):
    with pytest.raises(AudioError, match="sample rate"):
        prepare(_tone(16000), rate)


def test_unsupported_rate_file(tmp_path):
    p = tmp_path / "slow.wav"
    sf.write(p, _tone(2000), 2000)
    with pytest.raises(AudioError, match=r"slow\.wav: unsupported sample rate 2000 Hz"):
        load_audio(p)


def test_wrong_shape_and_dtype():
    with pytest.raises(AudioError, match="shape"):
        prepare(np.zeros((2, 2, 2), np.float32), 16000)
    with pytest.raises(AudioError, match="dtype"):
        prepare(np.array(["a", "b"]), 16000)
