"""What the runtime reports: one `Event` per task per window, carrying a snapshot of the stream's state."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "silent", "not_speech"]


@dataclass
class StreamState:
    """Counters of one stream (a snapshot is attached to every event).

    samples_in / seconds_in count the audio received (at the source's rate); dropped_samples and overflows
    are what the source reported lost (a microphone whose buffer overflowed); windows counts the windows
    completed over all window groups, silent_windows those skipped by the silence filter, inferences the
    window vectors run through the model and model_calls the onnxruntime calls (one per push at most).
    """

    samples_in: int = 0
    seconds_in: float = 0.0
    dropped_samples: int = 0
    overflows: int = 0
    windows: int = 0
    silent_windows: int = 0
    inferences: int = 0
    model_calls: int = 0

    def snapshot(self) -> "StreamState":
        return dataclasses.replace(self)

    @property
    def dropped(self) -> bool:
        """True when the source lost audio at some point of this stream."""
        return self.dropped_samples > 0 or self.overflows > 0


@dataclass
class Event:
    """The result of one task on one window.

    status: "ok" (the task ran: label, probability, probabilities set), "silent" (the silence filter found no
    audible frame: no inference), "not_speech" (a speech task on a window the voicing indicator did not
    call speech: skipped). Times are seconds from the start of the stream (or clip), at the front end's
    rate; `probability` is that of `label`; with smoothing, `probabilities` is the mean of the task's last k
    results and `label` its argmax.
    """

    t_start: float
    t_end: float
    task: str
    label: str | None
    probability: float | None
    probabilities: dict[str, float] | None
    status: Status
    voiced: bool
    speech_score: float
    partial: bool = False
    stream: StreamState | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the stream state nested under "stream")."""
        d = dataclasses.asdict(self)
        d["t_start"], d["t_end"] = round(self.t_start, 4), round(self.t_end, 4)
        if self.stream is None:
            d.pop("stream")
        return d
