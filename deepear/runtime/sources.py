"""Audio sources for `Pipeline.stream`: a microphone, a file, or any iterable of numpy blocks.

A source is an iterable of blocks ((n,) or (n, channels) numpy arrays) with a `sample_rate` attribute; it may
report lost audio in `dropped_samples` and `overflows` (the stream copies them into its `StreamState`) and
may have `close()`.

`Microphone` needs the optional sounddevice package (`pip install 'deepear[mic]'`) and the PortAudio
library; it is imported only when a Microphone is created.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from deepear.audio.io import check_rate
from deepear.errors import AudioError, DeepearError

log = logging.getLogger(__name__)


class MicrophoneError(DeepearError, OSError):
    """No usable microphone: sounddevice or PortAudio missing, unknown device, device cannot be opened."""


class ArraySource:
    """Any iterable of numpy blocks at `sample_rate` Hz, as a source."""

    def __init__(self, blocks: Iterable[np.ndarray], sample_rate: int) -> None:
        self.blocks = blocks
        self.sample_rate = check_rate(sample_rate, "array source")
        self.dropped_samples = 0
        self.overflows = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.blocks)


def as_source(obj: Any, sample_rate: int | None = None) -> Any:
    """`obj` if it is already a source (has `sample_rate`), else an ArraySource over it at `sample_rate`."""
    if hasattr(obj, "sample_rate") and sample_rate is None:
        return obj
    if sample_rate is None:
        raise AudioError("source: an iterable of blocks needs sample_rate=...")
    return ArraySource(obj, sample_rate)


class FileSource:
    """Blocks of `block_ms` milliseconds read from an audio file at its own rate (mono: channel mean).

    `realtime=True` paces the blocks at the audio's speed (a stand-in for a live input).
    """

    def __init__(self, path: str | os.PathLike, realtime: bool = False, block_ms: float = 100.0) -> None:
        import soundfile as sf

        self.path = Path(path)
        if not self.path.is_file():
            raise AudioError(f"{self.path}: file not found")
        if not block_ms > 0:
            raise AudioError(f"file source {self.path}: block_ms must be positive, got {block_ms}")
        try:
            info = sf.info(str(self.path))
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioError(f"{self.path}: unreadable or corrupt audio file ({e})") from e
        self.sample_rate = check_rate(int(info.samplerate), str(self.path))
        self.duration_s = float(info.duration)
        self.realtime = realtime
        self.block = max(1, int(round(block_ms * self.sample_rate / 1000.0)))
        self.dropped_samples = 0
        self.overflows = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        import soundfile as sf

        t0 = time.monotonic()
        n = 0
        try:
            with sf.SoundFile(str(self.path)) as f:
                for b in f.blocks(blocksize=self.block, dtype="float32", always_2d=True):
                    if self.realtime:
                        wait = t0 + n / self.sample_rate - time.monotonic()
                        if wait > 0:
                            time.sleep(wait)
                    n += b.shape[0]
                    yield b.mean(axis=1, dtype=np.float32) if b.shape[1] > 1 else b[:, 0]
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioError(f"{self.path}: unreadable or corrupt audio file ({e})") from e


def _import_sounddevice() -> Any:
    try:
        import sounddevice as sd
    except ImportError as e:
        raise MicrophoneError("microphone: the sounddevice package is not installed; "
                              "install the extra with: pip install 'deepear[mic]'") from e
    except OSError as e:  # sounddevice raises OSError when the PortAudio library cannot be loaded
        raise MicrophoneError(f"microphone: PortAudio not found ({e}); install the PortAudio library "
                              "(Debian/Ubuntu/Raspberry Pi OS: sudo apt install libportaudio2)") from e
    return sd


class Microphone:
    """Live audio from an input device (sounddevice / PortAudio), as blocks of `block_ms` milliseconds.

    Args:
        device: PortAudio device index or name substring; None = the default input device.
        sample_rate: Hz; None = the device's default rate (the stream resamples to the bundle's rate).
        block_ms: block length the callback delivers.
        max_queue_s: audio buffered between the audio thread and the consumer; when the consumer falls
            further behind, whole blocks are dropped and counted in `dropped_samples`.
        duration_s: stop after this much audio (None = until closed / Ctrl-C).
    Lost audio is never silent: `overflows` counts PortAudio input overflows (audio lost before it reached
    deepear; PortAudio does not say how much), `dropped_samples` the samples deepear dropped itself.
    Raises MicrophoneError when sounddevice or PortAudio is missing or the device is unknown.
    """

    def __init__(self, device: int | str | None = None, sample_rate: int | None = None, block_ms: float = 100.0,
                 max_queue_s: float = 10.0, duration_s: float | None = None) -> None:
        self._sd = sd = _import_sounddevice()
        self.device = device
        try:
            info = sd.query_devices(device, "input")
        except (ValueError, sd.PortAudioError) as e:
            raise MicrophoneError(f"microphone device {device!r}: not found or not an input device ({e}); "
                                  "list the devices with: python -m sounddevice") from e
        self.device_name = str(info.get("name", device)) if isinstance(info, dict) else str(device)
        rate = sample_rate if sample_rate is not None else int(round(float(info["default_samplerate"])))
        self.sample_rate = check_rate(rate, f"microphone {self.device_name!r}")
        if not block_ms > 0:
            raise MicrophoneError(f"microphone: block_ms must be positive, got {block_ms}")
        self.block = max(1, int(round(block_ms * self.sample_rate / 1000.0)))
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=max(2, int(max_queue_s * 1000.0 / block_ms)))
        self.duration_s = duration_s
        self.dropped_samples = 0
        self.overflows = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._stream: Any = None

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's audio thread: copy the block into the queue, count what was lost."""
        with self._lock:
            if status is not None and getattr(status, "input_overflow", False):
                self.overflows += 1
        block = indata[:, 0].copy() if indata.ndim == 2 else np.array(indata, dtype=np.float32)
        try:
            self._queue.put_nowait(block)
        except queue.Full:
            with self._lock:
                self.dropped_samples += int(frames)

    def __iter__(self) -> Iterator[np.ndarray]:
        sd = self._sd
        self._closed.clear()
        try:
            self._stream = sd.InputStream(device=self.device, channels=1, samplerate=self.sample_rate,
                                          blocksize=self.block, dtype="float32", callback=self._callback)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as e:
            raise MicrophoneError(f"microphone {self.device_name!r} at {self.sample_rate} Hz: cannot open "
                                  f"({e})") from e
        if self.overflows or self.dropped_samples:
            log.warning("microphone: %d overflows, %d samples dropped", self.overflows, self.dropped_samples)
        n = 0
        limit = None if self.duration_s is None else int(self.duration_s * self.sample_rate)
        try:
            while not self._closed.is_set():
                try:
                    block = self._queue.get(timeout=0.1)
                except queue.Empty:
                    if not self._stream.active:
                        break
                    continue
                if limit is not None and n + block.shape[0] >= limit:
                    yield block[: limit - n]
                    break
                n += block.shape[0]
                yield block
        finally:
            self.close()

    def close(self) -> None:
        """Stop and close the input stream (safe to call twice)."""
        self._closed.set()
        s, self._stream = self._stream, None
        if s is not None:
            try:
                s.stop()
                s.close()
            except Exception as e:  # closing a device that vanished must not hide the real error
                log.warning("microphone: closing the stream failed (%s)", e)
