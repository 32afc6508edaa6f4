"""From window vectors to events: silence filter, voicing routing, one model call, softmax.

Shared by `Pipeline.predict` (a whole clip) and `Stream.push` (the windows a chunk completed), so both report
the same events for the same windows. Rules (bundle spec): a silent window runs nothing; a speech task runs
only on voiced windows (with `speech_gate`, the default; without it on every non-silent window, as the C
library's `deepear_set_routing(&s, 0)`), any other task on every non-silent window; a window is sent to the
model only when one of its group's tasks runs on it, and all windows of one call go to onnxruntime as one
batch.
"""
from __future__ import annotations

import numpy as np

from deepear.audio.frontend import Windows
from deepear.audio.speaker_norm import RunningSpeakerStats
from deepear.runtime.bundle import Bundle
from deepear.runtime.events import Event, StreamState
from deepear.runtime.onnx_model import OnnxModel, softmax


def route(bundle: Bundle, model: OnnxModel, windows: list[Windows | None],
          state: StreamState | None = None, profile: RunningSpeakerStats | None = None,
          speech_gate: bool = True) -> list[Event]:
    """Events of the windows of each window group (`windows[i]` for `bundle.groups[i]`, None = none).

    Events are ordered by window end time, then group, then task (manifest order) — the order in which a
    stream completes them. Updates `state` (windows, silent_windows, inferences, model_calls) when given.
    `profile`: the stream's speaker statistics when the bundle adapts a group (docs/adaptation.md): each
    voiced, non-silent window of that group is added to it, in time order, and then adapted with it.
    `speech_gate`: False runs speech tasks on unvoiced (non-silent) windows too; the speaker profile still
    learns from voiced windows only.
    """
    rows: list[np.ndarray] = []
    need_idx: list[np.ndarray] = []
    for g, w in zip(bundle.groups, windows):
        if w is None or len(w) == 0:
            need_idx.append(np.zeros(0, np.int64))
            continue
        every_window = not speech_gate or any(not bundle.tasks[t].speech for t in g.tasks)
        need = ~w.silent & (w.voiced | every_window)
        idx = np.nonzero(need)[0]
        need_idx.append(idx)
        adapt = profile is not None and bundle.adapt_group >= 0 and g is bundle.groups[bundle.adapt_group]
        rows.append(profile.adapt(w.x[idx], w.voiced[idx] & ~w.silent[idx]) if adapt else w.x[idx])
        if state is not None:
            state.windows += len(w)
            state.silent_windows += int(w.silent.sum())
    n_run = sum(len(i) for i in need_idx)
    probs: dict[str, np.ndarray] = {}
    if n_run:
        logits = model.logits(np.concatenate(rows) if len(rows) > 1 else rows[0])
        probs = {t: softmax(v) for t, v in logits.items()}
        if state is not None:
            state.inferences += n_run
            state.model_calls += 1
    keyed: list[tuple[float, int, int, int, Event]] = []
    offset = 0
    for gi, (g, w, idx) in enumerate(zip(bundle.groups, windows, need_idx)):
        if w is None or len(w) == 0:
            continue
        row_of = np.full(len(w), -1, np.int64)
        row_of[idx] = offset + np.arange(len(idx))
        offset += len(idx)
        for wi in range(len(w)):
            silent, voiced = bool(w.silent[wi]), bool(w.voiced[wi])
            t0, t1 = float(w.t_start[wi]), float(w.t_end[wi])
            for ti, task in enumerate(g.tasks):
                spec = bundle.tasks[task]
                gated = speech_gate and spec.speech and not voiced
                status = "silent" if silent else ("not_speech" if gated else "ok")
                label = prob = pdict = None
                if status == "ok":
                    p = probs[task][row_of[wi]]
                    k = int(np.argmax(p))
                    label, prob = spec.labels[k], float(p[k])
                    pdict = {lab: float(v) for lab, v in zip(spec.labels, p)}
                ev = Event(t0, t1, task, label, prob, pdict, status, voiced, float(w.speech_score[wi]),
                           bool(w.partial[wi]))
                keyed.append((t1, gi, wi, ti, ev))
    keyed.sort(key=lambda k: k[:4])
    return [k[4] for k in keyed]
