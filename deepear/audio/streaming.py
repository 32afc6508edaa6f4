"""Streaming front end: the frames and task windows of `frontend.analyze` + `summarize`, chunk by chunk.

    fs = FrameStream(cfg)                      # one per stream
    frames = fs.push(chunk)                    # float32 samples at cfg.sample_rate, any length (even 0)
    wa = WindowAssembler(cfg, 1.28, 1.28)      # one per task window group
    windows = wa.push(frames)                  # the windows completed by these frames (frontend.Windows)
    last = wa.flush()                          # end of stream: the single partial window, if none was whole

Equivalence with the batch path (tested): `FrameStream` carries the n_fft - hop samples a frame overlaps with
the next, the silence filter's running minimum (`silence.NoiseFloorTracker`) and the voicing context (as
`voicing.SpeechProbStream`), so the frames it returns for any chunking are bit for bit those of one `analyze`
call on the whole signal (the FFT is per frame; the mel projection runs in float64 and is rounded once, so its
result does not depend on how many frames one call holds, see `features.log_mel_from_power`).
`WindowAssembler` emits windows at frames 0, hop, 2*hop ... as soon as their last frame exists, exactly like
`frontend.window_bounds`, and summarises them with the same code (`frontend.summarize_bounds`).

Other sample rates: `Resampler` wraps soxr's streaming resampler with the quality of `io.resample` (HQ).
A resampled stream equals the batch path (`io.resample` of the whole signal) to resampler precision (the
filter state is carried, the two agree to ~1e-6 away from the first and last few milliseconds); at the
native rate the result does not depend on the chunking at all.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from deepear.audio import pitch, voicing
from deepear.audio.config import FrontEndConfig
from deepear.audio.features import band_values, frame_energy_db, frame_signal, log_mel_from_power, power_spectrum
from deepear.audio.frontend import FrameFeatures, Windows, summarize_bounds
from deepear.audio.io import RESAMPLE_QUALITY, check_rate
from deepear.audio.silence import NoiseFloorTracker
from deepear.errors import AudioError, ConfigError


@dataclass
class Frames:
    """The frames completed by one chunk: T frames, the first being frame `start` of the stream."""

    start: int
    values: np.ndarray       # (T, n_bands) float32
    energy_db: np.ndarray    # (T,) float32 dBFS
    active: np.ndarray       # (T,) bool
    speech_prob: np.ndarray  # (T,) float32
    pitch: np.ndarray | None = None   # (T, 2) float32 when cfg.pitch_stats is set (FrameFeatures.pitch)

    def __len__(self) -> int:
        return int(self.values.shape[0])


class FrameStream:
    """`frontend.analyze` for a stream fed chunk by chunk (float32 mono samples at cfg.sample_rate)."""

    def __init__(self, cfg: FrontEndConfig, voicing_model: voicing.VoicingModel | None = None) -> None:
        if cfg.power != 2.0:
            raise ConfigError("front end: power must be 2.0 (the silence filter measures frame power)")
        self.cfg = cfg
        self._tracker = NoiseFloorTracker(cfg.silence, cfg.hop_ms / 1000.0)
        self._vmodel = voicing_model or voicing.load_model(cfg.voicing.model_path or None)
        voicing.SpeechProbStream(cfg, self._vmodel)      # checks that the model fits this front end
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next sample is sample 0 of a new one."""
        self._tracker.reset()
        self._context: voicing.Context | None = None      # the voicing indicator's previous frames
        self._buf = np.zeros(0, dtype=np.float32)
        self.n_samples = 0      # samples pushed so far
        self.n_frames = 0       # frames returned so far

    def push(self, y: np.ndarray) -> Frames:
        """Feed (n,) float32 samples (n >= 0); return the frames completed by them (possibly none)."""
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise AudioError(f"front end stream: expected (n,) samples, got shape {y.shape}")
        self.n_samples += y.shape[0]
        buf = np.concatenate([self._buf, y]) if self._buf.size else y
        cfg = self.cfg
        hop = cfg.hop_length
        n = 0 if buf.shape[0] < cfg.n_fft else 1 + (buf.shape[0] - cfg.n_fft) // hop
        start = self.n_frames
        if n == 0:
            self._buf = np.array(buf, dtype=np.float32, copy=True)
            return Frames(start, np.zeros((0, cfg.n_bands), np.float32), np.zeros(0, np.float32),
                          np.zeros(0, bool), np.zeros(0, np.float32),
                          np.zeros((0, 2), np.float32) if cfg.pitch_stats else None)
        whole = buf[: (n - 1) * hop + cfg.n_fft]             # the samples of the n whole frames
        power = power_spectrum(whole, cfg)
        # YIN is per frame (float64 rows): the same numbers however many frames one call holds
        track = pitch.pitch_track(frame_signal(whole, cfg), cfg) if cfg.pitch_stats else None
        self._buf = np.array(buf[n * hop:], dtype=np.float32, copy=True)
        energy = frame_energy_db(power, cfg)
        # log_mel_from_power projects in float64 and rounds once, so a frame's values do not depend on how
        # many frames this call holds: every chunking gives bit for bit the frames of `analyze`.
        lm = log_mel_from_power(power, cfg)
        active = self._tracker.update(energy)
        feats, self._context = voicing.frame_features(power, lm, cfg, self._context)
        speech = (self._vmodel.predict(np.repeat(feats, 2, axis=0))[:1] if n == 1
                  else self._vmodel.predict(feats))
        self.n_frames += n
        return Frames(start, band_values(lm, cfg), energy, active, speech, track)


class WindowAssembler:
    """Cuts a stream of frames into one task group's windows (`window_s` every `hop_s`) and summarises them.

    Keeps only the frames a future window still needs. Windows start at frames 0, h, 2h ... and are emitted
    as soon as their last frame has arrived; `flush` yields the single partial window over all frames when
    the stream never filled a whole one (exactly `frontend.summarize` on the whole signal).
    """

    def __init__(self, cfg: FrontEndConfig, window_s: float, hop_s: float) -> None:
        if window_s <= 0 or hop_s <= 0:
            raise ConfigError(f"task window: window_s and hop_s must be positive, got {window_s}, {hop_s}")
        self.cfg = cfg
        self.window_s, self.hop_s = float(window_s), float(hop_s)
        fps = 1000.0 / cfg.hop_ms
        self.w = max(1, int(round(window_s * fps)))           # as frontend.window_bounds
        self.h = max(1, int(round(hop_s * fps)))
        self.full_w = int(round(window_s * fps))              # as frontend.summarize
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        self._chunks: deque[Frames] = deque()
        self._first = 0          # stream index of the first frame held
        self._held = 0           # frames held
        self._next = 0           # start frame of the next window
        self.n_frames = 0        # frames seen
        self.n_windows = 0       # windows emitted

    def next_window_end(self) -> int:
        """Exclusive stream frame index at which the next window is complete (its last frame + 1)."""
        return self._next + self.w

    def _held_features(self) -> FrameFeatures:
        if len(self._chunks) > 1:
            c = list(self._chunks)
            merged = Frames(self._first, np.concatenate([f.values for f in c]),
                            np.concatenate([f.energy_db for f in c]), np.concatenate([f.active for f in c]),
                            np.concatenate([f.speech_prob for f in c]),
                            None if c[0].pitch is None else np.concatenate([f.pitch for f in c]))
            self._chunks = deque([merged])
        f = self._chunks[0]
        return FrameFeatures(values=f.values, energy_db=f.energy_db, active=f.active, speech_prob=f.speech_prob,
                             hop_s=self.cfg.hop_ms / 1000.0, n_samples=0, pitch=f.pitch)

    def _drop_before(self, frame: int) -> None:
        """Forget the frames before stream index `frame`."""
        while self._chunks and self._first < frame:
            f = self._chunks[0]
            k = len(f)
            if self._first + k <= frame:
                self._chunks.popleft()
                self._first += k
                self._held -= k
            else:
                cut = frame - self._first
                self._chunks[0] = Frames(frame, f.values[cut:], f.energy_db[cut:], f.active[cut:],
                                         f.speech_prob[cut:], None if f.pitch is None else f.pitch[cut:])
                self._first = frame
                self._held -= cut
        if not self._chunks:
            self._first = self.n_frames         # nothing held: the next frame to arrive

    def push(self, frames: Frames) -> Windows | None:
        """Add the next frames; return the windows they complete (None when none did)."""
        k = len(frames)
        if k == 0:
            return None
        if frames.start != self.n_frames:
            raise AudioError(f"window assembler: frames must be contiguous; expected frame {self.n_frames}, "
                             f"got {frames.start}")
        self.n_frames += k
        if frames.start + k <= self._next:      # frames inside a gap between windows (hop > window)
            self._first = self.n_frames
            return None
        self._chunks.append(frames)
        self._held += k
        self._drop_before(self._next)
        last = self.n_frames - self.w           # the last start whose window is complete
        if last < self._next:
            return None
        starts = np.arange(self._next, last + 1, self.h, dtype=np.int64)
        ff = self._held_features()
        rel = starts - self._first
        out = summarize_bounds(ff, self.cfg, np.stack([rel, rel + self.w], axis=1), self.full_w,
                               frame_offset=self._first)
        self._next = int(starts[-1]) + self.h
        self.n_windows += len(starts)
        self._drop_before(self._next)
        return out

    def flush(self) -> Windows | None:
        """End of stream: the one partial window over every frame when no whole window was emitted, else None."""
        if self.n_windows > 0 or self.n_frames == 0:
            return None
        ff = self._held_features()
        self.n_windows += 1
        return summarize_bounds(ff, self.cfg, np.array([[0, self.n_frames]], dtype=np.int64), self.full_w)


class Resampler:
    """Streaming resampler from `in_rate` to `out_rate` Hz (soxr, quality of `io.resample`); mono float32."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = check_rate(in_rate, "stream")
        self.out_rate = int(out_rate)
        self.reset()

    def reset(self) -> None:
        """Forget the filter state."""
        if self.in_rate == self.out_rate:
            self._rs = None
        else:
            import soxr
            self._rs = soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="float32",
                                           quality=RESAMPLE_QUALITY)

    def push(self, y: np.ndarray, last: bool = False) -> np.ndarray:
        """(n,) float32 at in_rate -> the resampled samples now available; `last=True` drains the filter."""
        if self._rs is None:
            return y
        return np.asarray(self._rs.resample_chunk(np.ascontiguousarray(y, dtype=np.float32), last=last),
                          dtype=np.float32).reshape(-1)
