"""Long unlabelled recordings: music tracks and background-noise recordings (one Clip per file).

Music: the Asterisk music-on-hold tracks (`moh_music_8k/*.flac` or the official `*.wav`); noise: the Speech
Commands `_background_noise_` recordings (`sc_bg_noise/*.flac` or `_background_noise_/*.wav`; white_noise
and pink_noise are generated, flagged `meta["generated"] = True`). Durations are read from the headers.
groups: track (file stem), source ("<corpus>:<stem>").
"""
from __future__ import annotations

from pathlib import Path

from deepear.data.clips import Clip, audio_files, probe_duration, require_dir
from deepear.errors import DataError

GENERATED_NOISE = frozenset({"white_noise", "pink_noise"})


def read(root: str | Path, corpus: str, label_field: str = "track") -> list[Clip]:
    """One Clip per audio file directly in `root`: labels {label_field: stem}, duration_s from the header.

    DataError when `root` holds no audio file.
    """
    root = require_dir(Path(root), f"{corpus} root")
    clips = [Clip(path=f, corpus=corpus, labels={label_field: f.stem},
                  groups={"track": f.stem, "source": f"{corpus}:{f.stem}"},
                  duration_s=probe_duration(f), meta={"generated": f.stem in GENERATED_NOISE})
             for f in audio_files(root)]
    if not clips:
        raise DataError(f"{corpus}: no audio files in {root}")
    return clips


def read_music(root: str | Path, corpus: str = "music") -> list[Clip]:
    """The music tracks in `root` (labels {"track": stem})."""
    return read(root, corpus, "track")


def read_noise(root: str | Path, corpus: str = "noise") -> list[Clip]:
    """The background-noise recordings in `root` (labels {"noise_type": stem})."""
    return read(root, corpus, "noise_type")
