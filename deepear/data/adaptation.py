"""Unsupervised per-speaker input adaptation for the speech tasks (recipe section `adaptation`).

Emotion and stress are mostly heard as a change from how a person *usually* sounds: a high pitch or a loud
voice is neutral for one speaker and agitated for another. Speaker-independent models cannot know the usual,
so the classic remedy (speaker normalisation in the speech-emotion literature) standardises each speaker's
feature vectors with that speaker's own statistics, estimated from unlabelled speech:

    x' = ref_mean + ref_std * (x - mean_s) / max(std_s, std_floor * ref_std)

for every window of the adapted window group (the group of `adaptation.tasks`, e.g. emotion + stress on 5 s
windows); windows of other groups (scene, speaker ID) are left as they are. `mean_s`, `std_s` are per
dimension over the speaker's windows *in the same set and condition class*: in a training or validation set
the speaker's clean windows and their noisy copies (random noise types and SNRs) are two "sessions"
standardised separately; a test set is one condition (a held-out actor's test clips at one SNR). So a test
speaker is adapted with their own unlabelled recordings in the conditions being tested, never with labels and
never with another speaker's data.

`ref_mean`, `ref_std` are the training set's mean and std of the raw vectors of the adapted group (stored in
the run folder): every speaker is mapped onto the population's mean and spread, so adapted vectors keep the
scale of the raw ones. That matters for a shared trunk: the model standardises its whole input with one
mean/std over all window groups, and speaker-standardised vectors (mean 0, std 1) would otherwise land as a
near-constant point far from the raw log-mel statistics of the other groups (measured: the DNN's validation
emotion accuracy fell from ~0.58 to ~0.50 before this mapping). The floor keeps a speaker with a
near-constant dimension from being blown up.

What this assumes, and says wherever the numbers are reported: the device has heard the speaker before
(here: all of the held-out actor's test recordings of the condition, the one being classified included,
~2.6 minutes of speech, balanced over emotions by the corpus design — a real wearer's speech is mostly
neutral). docs/benchmarks.md reports the un-adapted model
beside the adapted one.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from deepear.audio.speaker_norm import AdaptationSpec, prior_moments, standardize
from deepear.data.clips import Clip
from deepear.data.windows import WindowSet
from deepear.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeakerAdapter:
    """Applies per-speaker standardisation to the windows of `groups` (window-group indices of a WindowSet)."""

    groups: tuple[int, ...]          # window groups that are adapted
    ref_mean: np.ndarray             # (D,) float32 training-set mean of the raw vectors of those groups
    ref_std: np.ndarray              # (D,) float32 training-set std of the raw vectors of those groups
    group_key: str = "speaker"
    std_floor: float = 0.1
    min_windows: int = 8

    @classmethod
    def fit(cls, train: WindowSet, groups: Sequence[int], group_key: str = "speaker", std_floor: float = 0.1,
            min_windows: int = 8) -> "SpeakerAdapter":
        """Reference mean / std from the raw training windows of `groups`. DataError when there is none."""
        sel = np.isin(train.wgroup, list(groups))
        if not sel.any():
            raise DataError(f"adaptation: the training set has no window of window groups {list(groups)}")
        v = train.x[sel].astype(np.float64)
        ref = v.std(axis=0)
        ref = np.where(ref > 0, ref, 1.0).astype(np.float32)
        return cls(tuple(int(g) for g in groups), v.mean(axis=0).astype(np.float32), ref, group_key, std_floor,
                   min_windows)

    def speakers(self, ws: WindowSet, clips: Sequence[Clip]) -> np.ndarray:
        """(N,) object: each window's speaker id ("" for windows outside the adapted groups or without one)."""
        out = np.full(len(ws), "", dtype=object)
        sel = np.flatnonzero(np.isin(ws.wgroup, self.groups))
        for i in sel:
            out[i] = clips[int(ws.clip[i])].groups.get(self.group_key, "")
        return out

    def apply(self, ws: WindowSet, clips: Sequence[Clip], drop_unknown: bool = False) -> WindowSet:
        """`ws` with every adapted-group window standardised by its speaker's statistics within `ws`.

        drop_unknown: windows of adapted groups whose clip names no speaker (noise, music, ESC clips in
        unlabelled pre-training data) are dropped; otherwise such a window is a DataError naming the clip.
        A session (clean / noisy) with fewer than `min_windows` windows of a speaker uses all of that speaker's
        windows in the set instead; a speaker with fewer than `min_windows` in the whole set gets statistics
        shrunk toward the population by `min_windows` pseudo-windows (`speaker_norm.prior_moments`, the
        runtime's rule).
        """
        if len(ws) == 0:
            return ws
        spk = self.speakers(ws, clips)
        adapted = np.isin(ws.wgroup, self.groups)
        keep = np.ones(len(ws), bool)
        x = ws.x.copy()
        clean = np.array([c == "clean" for c in ws.condition], dtype=bool)
        session = np.where(clean, spk + "|clean", spk + "|noisy")
        for key in sorted(set(session[adapted])):
            rows = np.flatnonzero(adapted & (session == key))
            s = spk[rows[0]]
            if s == "":
                if drop_unknown:
                    keep[rows] = False
                    continue
                clip = clips[int(ws.clip[rows[0]])]
                raise DataError(f"adaptation: cannot adapt the windows of {clip.path} ({clip.corpus}): its clip "
                                f"names no '{self.group_key}' group (the adapted tasks need speaker groups)")
            ref_rows = rows
            if len(rows) < self.min_windows:   # too few in this session: the speaker's whole set
                ref_rows = np.flatnonzero(adapted & (spk == s))
            v = ws.x[ref_rows].astype(np.float64)
            mu, sd = v.mean(axis=0), v.std(axis=0)
            if len(ref_rows) < self.min_windows:
                # still too few: shrink toward the population with min_windows pseudo-windows (the runtime's rule)
                mu, sd = prior_moments(len(ref_rows), mu, sd ** 2 * len(ref_rows), self.ref_mean, self.ref_std,
                                       self.min_windows)
            x[rows] = standardize(ws.x[rows].astype(np.float64), mu, sd, self.ref_mean, self.ref_std, self.std_floor)
        out = WindowSet(ws.tasks, x, ws.y, ws.clip, ws.wgroup, ws.voiced, ws.condition, ws.windows, ws.frames)
        if not keep.all():
            log.info("adaptation: dropped %d windows with no adaptable speaker", int((~keep).sum()))
            out = out.subset(keep)
        return out

    def runtime_spec(self, tasks: Sequence[str], window_s: float, hop_s: float) -> AdaptationSpec:
        """The causal rule a device runs (speaker_norm.RunningSpeakerStats) around this adapter's population,
        with `min_windows` pseudo-windows of prior; `window_s`/`hop_s` of the adapted group as deployed."""
        return AdaptationSpec(tuple(tasks), float(window_s), float(hop_s), self.ref_mean, self.ref_std,
                              self.std_floor, self.min_windows)

    def to_dict(self) -> dict:
        return {"groups": list(self.groups), "group_key": self.group_key, "std_floor": self.std_floor,
                "min_windows": self.min_windows, "ref_mean": [float(v) for v in self.ref_mean],
                "ref_std": [float(v) for v in self.ref_std]}

    @classmethod
    def from_dict(cls, d: dict) -> "SpeakerAdapter":
        """Inverse of `to_dict` (a run folder's adaptation.json)."""
        return cls(tuple(int(g) for g in d["groups"]), np.asarray(d["ref_mean"], np.float32),
                   np.asarray(d["ref_std"], np.float32), d["group_key"], float(d["std_floor"]),
                   int(d["min_windows"]))
