"""`Pipeline`: a loaded bundle that predicts on clips (batch) and opens streams.

    p = Pipeline.load("exported/deepear-4task")          # fp32; precision="int8" for model.int8.onnx
    pred = p.predict(y, sample_rate=44100)                # a clip in memory
    pred["emotion"].label, pred["emotion"].probabilities
    pred.windows                                          # per-window events, as a stream reports them
    for ev in p.stream(FileSource("talk.flac")): ...      # events as the audio arrives

Batch path: validate and resample the clip (soxr HQ), `frontend.analyze` it with the bundle's front end and
voicing model, `frontend.summarize` it per window group, route the windows (`routing.route`). Clip-level
result per task: the mean of the probability vectors of the windows the task ran on, label = its argmax;
when the task ran on no window (all silent, or no voiced window for a speech task) the label is None and
`status` says why. No torch: numpy, soxr, soundfile and onnxruntime only.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepear.audio.frontend import analyze, summarize
from deepear.audio.io import load_audio, prepare
from deepear.audio.speaker_norm import RunningSpeakerStats
from deepear.errors import ConfigError
from deepear.runtime.bundle import Bundle, load_bundle
from deepear.runtime.events import Event
from deepear.runtime.onnx_model import OnnxModel
from deepear.runtime.routing import route
from deepear.runtime.stream import Stream

log = logging.getLogger(__name__)


@dataclass
class TaskResult:
    """Clip-level result of one task (see module docstring for the aggregation)."""

    task: str
    label: str | None
    probability: float | None
    probabilities: dict[str, float] | None
    status: str              # "ok" (ran on >= 1 window), "silent" (every window silent), "not_speech"
    n_windows: int           # windows of the task's group
    n_run: int               # windows the task ran on
    n_silent: int
    n_voiced: int


@dataclass
class Prediction:
    """A clip's result: per task (`pred[task]`), and every window's events in stream order (`windows`)."""

    tasks: dict[str, TaskResult]
    windows: list[Event]
    duration_s: float
    sample_rate: int          # rate of the input audio
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, task: str) -> TaskResult:
        return self.tasks[task]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: duration, per-task results, per-window events."""
        from dataclasses import asdict
        return {"duration_s": round(self.duration_s, 4), "sample_rate": self.sample_rate,
                "tasks": {t: asdict(r) for t, r in self.tasks.items()},
                "windows": [e.to_dict() for e in self.windows], **self.extra}


class Pipeline:
    """A bundle ready to run: front end + voicing + onnxruntime session. Thread-compatible, stream-safe:
    every stream keeps its own state; the session is shared."""

    def __init__(self, bundle: Bundle, model: OnnxModel, speech_gate: bool = True) -> None:
        self.bundle = bundle
        self.model = model
        self.speech_gate = bool(speech_gate)

    @classmethod
    def load(cls, bundle_dir: str | os.PathLike, precision: str = "fp32", threads: int = 1,
             speech_gate: bool = True) -> "Pipeline":
        """Load `bundle_dir` (manifest.json + model.onnx / model.int8.onnx); `threads` onnxruntime intra-op threads.

        `speech_gate`: True (default) runs speech tasks (emotion, stress, speaker ID) only on windows the voicing
        indicator calls speech; False runs them on every non-silent window — an answer for every clip in loud
        noise, where the gate lets through fewer windows (docs/runtime.md; C: `deepear_set_routing(&s, 0)`).
        Raises BundleError (a ConfigError) naming the path and key of any problem.
        """
        b = load_bundle(Path(bundle_dir))
        return cls(b, OnnxModel(b, precision=precision, threads=threads), speech_gate=speech_gate)

    @property
    def tasks(self) -> list[str]:
        """Task names in model output order."""
        return list(self.bundle.tasks)

    @property
    def sample_rate(self) -> int:
        """The front end's rate (Hz); other rates are resampled."""
        return self.bundle.front_end.sample_rate

    @property
    def precision(self) -> str:
        return self.model.precision

    def labels(self, task: str) -> tuple[str, ...]:
        return self.bundle.tasks[task].labels

    # Batch -------------------------------------------------------------------------------------------------
    def predict(self, audio: np.ndarray, sample_rate: int, profile: RunningSpeakerStats | None = None) -> Prediction:
        """Run every task on a clip: `audio` (n,) or (n, channels), float in [-1, 1] or integer PCM, at
        `sample_rate` Hz (4 kHz .. 384 kHz). Raises AudioError for a wrong shape or dtype, NaN/Inf, an
        unsupported rate, or a clip shorter than one frame (32 ms).

        `profile`: for a bundle with speaker adaptation, the speaker's statistics so far (`new_profile()`),
        updated in place by this clip's voiced windows — pass the same profile for every clip of one speaker;
        None = a fresh profile for this clip alone."""
        cfg = self.bundle.front_end
        y = prepare(audio, sample_rate, cfg.sample_rate, min_samples=cfg.n_fft, where="predict audio")
        return self._predict_signal(y, int(sample_rate), np.asarray(audio).shape[0] / float(sample_rate), profile)

    def predict_file(self, path: str | os.PathLike, profile: RunningSpeakerStats | None = None) -> Prediction:
        """`predict` on an audio file (anything soundfile reads; resampled to the bundle's rate)."""
        cfg = self.bundle.front_end
        y = load_audio(path, cfg.sample_rate, min_samples=cfg.n_fft)
        pred = self._predict_signal(y, cfg.sample_rate, y.shape[0] / float(cfg.sample_rate), profile)
        pred.extra["path"] = str(path)
        return pred

    def new_profile(self) -> RunningSpeakerStats | None:
        """An empty speaker profile for this bundle's adaptation (None when the bundle does not adapt)."""
        return RunningSpeakerStats(self.bundle.adaptation) if self.bundle.adaptation is not None else None

    def check_profile(self, profile: RunningSpeakerStats | None) -> None:
        """ConfigError unless `profile` is None or was made for this bundle's adaptation."""
        if profile is None:
            return
        a = self.bundle.adaptation
        if a is None:
            raise ConfigError(f"bundle {self.bundle.name}: it does not adapt to speakers (no 'adaptation' in its "
                              f"manifest); do not pass a profile")
        if not isinstance(profile, RunningSpeakerStats) or profile.spec.ref_mean.shape != a.ref_mean.shape or not (
                np.array_equal(profile.spec.ref_mean, a.ref_mean) and np.array_equal(profile.spec.ref_std, a.ref_std)):
            raise ConfigError(f"bundle {self.bundle.name}: the speaker profile was not made for this bundle "
                              f"(use pipeline.new_profile(), or RunningSpeakerStats.from_dict(bundle.adaptation, d))")

    def _predict_signal(self, y: np.ndarray, in_rate: int, duration_s: float,
                        profile: RunningSpeakerStats | None = None) -> Prediction:
        self.check_profile(profile)
        cfg = self.bundle.front_end
        ff = analyze(y, cfg, self.bundle.voicing_model)
        wins = [summarize(ff, cfg, g.window_s, g.hop_s) for g in self.bundle.groups]
        events = route(self.bundle, self.model, wins, profile=profile if profile is not None else self.new_profile(),
                       speech_gate=self.speech_gate)
        return Prediction(aggregate(self.bundle, events), events, duration_s, in_rate)

    # Streaming ---------------------------------------------------------------------------------------------
    def stream(self, source: Any = None, sample_rate: int | None = None, smoothing: int = 1,
               profile: RunningSpeakerStats | None = None) -> Stream:
        """A new independent stream (see `Stream`): iterate it over `source`, or `push` chunks yourself.
        `profile`: a speaker profile to start from (adapted bundles; default: a fresh one)."""
        return Stream(self, source=source, sample_rate=sample_rate, smoothing=smoothing, profile=profile)


def aggregate(bundle: Bundle, events: list[Event]) -> dict[str, TaskResult]:
    """Clip-level result per task from per-window events (mean probabilities over the windows it ran on)."""
    out: dict[str, TaskResult] = {}
    for task, spec in bundle.tasks.items():
        evs = [e for e in events if e.task == task]
        ran = [e for e in evs if e.status == "ok"]
        n_silent = sum(e.status == "silent" for e in evs)
        n_voiced = sum(e.voiced for e in evs)
        if ran:
            mean = np.mean([[e.probabilities[lab] for lab in spec.labels] for e in ran], axis=0)
            k = int(np.argmax(mean))
            out[task] = TaskResult(task, spec.labels[k], float(mean[k]),
                                   {lab: float(v) for lab, v in zip(spec.labels, mean)}, "ok", len(evs),
                                   len(ran), n_silent, n_voiced)
        else:
            status = "silent" if n_silent == len(evs) else "not_speech"
            out[task] = TaskResult(task, None, None, None, status, len(evs), 0, n_silent, n_voiced)
    return out
