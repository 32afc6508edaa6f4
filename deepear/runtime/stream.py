"""A live stream over one pipeline: push audio chunks of any size and rate, get task events as windows complete.

    s = pipeline.stream(sample_rate=44100, smoothing=3)
    for chunk in chunks:
        for ev in s.push(chunk):         # events of the windows this chunk completed (often none)
            ...
    tail = s.flush()                     # end of stream: resampler tail, the partial window if none was whole

    for ev in pipeline.stream(Microphone()):   # or iterate a source: push each block, then flush
        ...

All per-stream state (resampler, frame overlap, noise floor, voicing context, window buffers, smoothing,
counters) lives in the Stream, so several streams over one Pipeline are independent. At the bundle's
rate the events do not depend on the chunking at all; see docs/runtime.md.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from deepear.audio.io import check_rate, to_mono_float32
from deepear.audio.speaker_norm import RunningSpeakerStats
from deepear.audio.streaming import FrameStream, Resampler, WindowAssembler
from deepear.errors import AudioError, ConfigError
from deepear.runtime.events import Event, StreamState
from deepear.runtime.routing import route

if TYPE_CHECKING:
    from deepear.runtime.pipeline import Pipeline

log = logging.getLogger(__name__)


class Stream:
    """Streaming inference of one audio stream (see module docstring).

    Args:
        pipeline: the loaded bundle.
        source: optional iterable of blocks to iterate over (`Microphone`, `FileSource`, `ArraySource`);
            its `sample_rate` is used when it has one.
        sample_rate: rate of the pushed audio in Hz (default: the source's, else the bundle's, 16 kHz).
        smoothing: k >= 1; each task reports the mean probabilities of its last k results (1 = off).
        profile: for a bundle with speaker adaptation, the profile to start from (it is updated in place and
            kept by `reset()`); None = a fresh one (`self.profile`), which `reset()` empties again.
    """

    def __init__(self, pipeline: "Pipeline", source: Any = None, sample_rate: int | None = None,
                 smoothing: int = 1, profile: RunningSpeakerStats | None = None) -> None:
        if not isinstance(smoothing, int) or isinstance(smoothing, bool) or smoothing < 1:
            raise ConfigError(f"stream: smoothing must be an integer k >= 1 (1 = off), got {smoothing!r}")
        self.pipeline = pipeline
        self.source = source
        rate = sample_rate if sample_rate is not None else getattr(source, "sample_rate", None)
        self.sample_rate = check_rate(rate if rate is not None else pipeline.sample_rate, "stream")
        self.smoothing = smoothing
        b = pipeline.bundle
        self._frames = FrameStream(b.front_end, b.voicing_model)
        self._groups = [WindowAssembler(b.front_end, g.window_s, g.hop_s) for g in b.groups]
        self._resampler = Resampler(self.sample_rate, b.front_end.sample_rate)
        pipeline.check_profile(profile)
        self._own_profile = profile is None
        self.profile = profile
        self.reset()

    def reset(self) -> None:
        """Start over: forget all audio, windows, smoothing history and counters (and the speaker profile,
        unless the caller gave one)."""
        if self._own_profile:
            self.profile = self.pipeline.new_profile()
        self._frames.reset()
        for g in self._groups:
            g.reset()
        self._resampler.reset()
        self._history: dict[str, deque] = {t: deque(maxlen=self.smoothing) for t in self.pipeline.tasks}
        self.state = StreamState()
        self._finished = False
        # Audio is held until it can complete a window: events are produced only when a window ends, and the
        # front end gives the same frames for any chunking, so this changes no event, only the per-chunk cost.
        self._pending: list[np.ndarray] = []
        self._n_pending = 0

    # Feeding --------------------------------------------------------------------------------------------
    def _check_block(self, block: Any) -> np.ndarray:
        a = np.asarray(block)
        if a.ndim not in (1, 2):
            raise AudioError(f"stream chunk: expected samples shaped (n,) or (n, channels), got shape {a.shape}")
        if a.shape[0] == 0:
            return np.zeros(0, np.float32)
        return to_mono_float32(a, where="stream chunk")

    def push(self, block: Any) -> list[Event]:
        """Feed the next samples ((n,) or (n, channels), float in [-1, 1] or integer PCM, at `sample_rate`).

        Returns the events of the windows these samples completed (a list, often empty). Raises AudioError
        for a wrong shape or dtype or NaN/Inf samples (the stream is left as it was).
        """
        if self._finished:
            raise AudioError("stream: push after flush(); call reset() to start a new stream")
        y = self._check_block(block)
        self.state.samples_in += y.shape[0]
        self.state.seconds_in = self.state.samples_in / self.sample_rate
        if y.shape[0] == 0:
            return []
        r = self._resampler.push(y)
        if r.shape[0] == 0:
            return []
        # held audio must not alias the caller's block (audio callbacks reuse their buffers)
        self._pending.append(np.array(r, dtype=np.float32, copy=True))
        self._n_pending += r.shape[0]
        if self._frames.n_samples + self._n_pending < self._samples_for_next_window():
            return []          # no window can end inside this audio yet: keep it (same events, less overhead)
        return self._process(self._take_pending())

    def _samples_for_next_window(self) -> int:
        """Stream samples (at the bundle rate) needed before the earliest next window of any group is whole."""
        cfg = self.pipeline.bundle.front_end
        end = min(g.next_window_end() for g in self._groups)      # exclusive frame index
        return (end - 1) * cfg.hop_length + cfg.n_fft

    def _take_pending(self) -> np.ndarray:
        y = (np.concatenate(self._pending) if len(self._pending) > 1 else
             (self._pending[0] if self._pending else np.zeros(0, np.float32)))
        self._pending, self._n_pending = [], 0
        return y

    def _process(self, y: np.ndarray, final: bool = False) -> list[Event]:
        frames = self._frames.push(y)
        wins = [g.push(frames) for g in self._groups]
        if final:
            wins = [_cat(w, g.flush()) for w, g in zip(wins, self._groups)]
        if all(w is None for w in wins):
            return []
        events = route(self.pipeline.bundle, self.pipeline.model, wins, self.state, profile=self.profile,
                       speech_gate=self.pipeline.speech_gate)
        snap = self.state.snapshot()
        for ev in events:
            ev.stream = snap
            if ev.status == "ok" and self.smoothing > 1:
                self._smooth(ev)
        return events

    def _smooth(self, ev: Event) -> None:
        labels = self.pipeline.bundle.tasks[ev.task].labels
        h = self._history[ev.task]
        h.append(np.array([ev.probabilities[lab] for lab in labels], dtype=np.float64))
        mean = np.mean(h, axis=0)
        k = int(np.argmax(mean))
        ev.label, ev.probability = labels[k], float(mean[k])
        ev.probabilities = {lab: float(v) for lab, v in zip(labels, mean)}

    def flush(self) -> list[Event]:
        """End of stream: drain the resampler, emit the remaining windows (and the one partial window of a
        group that never completed a whole one). The stream then takes no more audio until `reset()`."""
        if self._finished:
            return []
        tail = self._resampler.push(np.zeros(0, np.float32), last=True)
        if tail.shape[0]:
            self._pending.append(tail)
        events = self._process(self._take_pending(), final=True)
        self._finished = True
        if self._frames.n_frames == 0:
            log.warning("stream ended after %d samples, shorter than one frame: nothing analysed",
                        self.state.samples_in)
        return events

    # Sources --------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Event]:
        """Iterate the source given at construction: push every block, yield the events, then flush."""
        if self.source is None:
            raise ConfigError("stream: no source to iterate; pass one to pipeline.stream(source) or use push()")
        try:
            for block in self.source:
                events = self.push(block)
                self._sync_source()
                yield from events
            self._sync_source()
            yield from self.flush()
        finally:
            close = getattr(self.source, "close", None)
            if callable(close):
                close()

    def _sync_source(self) -> None:
        self.state.dropped_samples = int(getattr(self.source, "dropped_samples", 0))
        self.state.overflows = int(getattr(self.source, "overflows", 0))


def _cat(a, b):
    """Concatenate two frontend.Windows (either may be None)."""
    if a is None or b is None:
        return a if b is None else b
    from deepear.audio.frontend import Windows
    return Windows(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in
                     ("x", "t_start", "t_end", "silent", "voiced", "speech_score", "active_fraction", "partial")))
