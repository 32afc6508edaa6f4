"""RAVDESS (Livingstone & Russo 2018): `Actor_NN/MM-VV-EE-II-SS-RR-AA.<ext>`.

File name fields: modality (01 audio-video, 02 video-only, 03 audio-only), vocal channel (01 speech,
02 song), emotion (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised),
intensity (01 normal, 02 strong), statement (01 "Kids are talking by the door", 02 "Dogs are sitting by the
door"), repetition (01, 02), actor (01-24; odd = male, even = female).
"""
from __future__ import annotations

import re
from pathlib import Path

from deepear.data.clips import Clip, audio_files, require_dir
from deepear.errors import DataError

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad",
            "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised"}
MODALITIES = {"01": "audio_video", "02": "video_only", "03": "audio_only"}
CHANNELS = {"01": "speech", "02": "song"}
INTENSITIES = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "kids", "02": "dogs"}
REPETITIONS = {"01": "1", "02": "2"}

_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_ACTOR_DIR = re.compile(r"^Actor_(\d\d)$")


def parse_name(path: str | Path) -> dict[str, str]:
    """Corpus-native labels from a RAVDESS file name.

    Returns {modality, vocal_channel, emotion, intensity, statement, repetition, actor, sex}; e.g.
    `03-01-06-02-01-02-12.wav` -> emotion "fearful", intensity "strong", statement "kids", repetition "2",
    actor "12", sex "female". DataError naming the file when a field is malformed or out of range.
    """
    p = Path(path)
    m = _NAME.match(p.stem)
    if not m:
        raise DataError(f"{p}: not a RAVDESS file name (expected MM-VV-EE-II-SS-RR-AA, e.g. 03-01-05-01-02-01-16)")
    mod, ch, emo, inten, stmt, rep, actor = m.groups()
    tables = (("modality", MODALITIES, mod), ("vocal channel", CHANNELS, ch), ("emotion", EMOTIONS, emo),
              ("intensity", INTENSITIES, inten), ("statement", STATEMENTS, stmt), ("repetition", REPETITIONS, rep))
    for what, table, code in tables:
        if code not in table:
            raise DataError(f"{p}: RAVDESS {what} code {code!r} unknown (known: {sorted(table)})")
    n = int(actor)
    if not 1 <= n <= 24:
        raise DataError(f"{p}: RAVDESS actor {actor!r} out of range 01-24")
    return {"modality": MODALITIES[mod], "vocal_channel": CHANNELS[ch], "emotion": EMOTIONS[emo],
            "intensity": INTENSITIES[inten], "statement": STATEMENTS[stmt], "repetition": REPETITIONS[rep],
            "actor": actor, "sex": "male" if n % 2 else "female"}


def read(root: str | Path, corpus: str = "ravdess") -> list[Clip]:
    """Every RAVDESS audio file under `root/Actor_NN/` as a Clip.

    groups: actor ("01".."24"), speaker ("ravdess_actorNN"), source ("ravdess:<file stem>").
    DataError when `root` has no Actor_NN folders, a file name is malformed, or a file's actor field
    disagrees with its folder.
    """
    root = require_dir(Path(root), "RAVDESS root")
    actor_dirs = sorted(d for d in root.iterdir() if d.is_dir() and _ACTOR_DIR.match(d.name))
    if not actor_dirs:
        raise DataError(f"RAVDESS: no Actor_NN folders under {root} (expected e.g. {root}/Actor_01/03-01-01-01-01-01-01.wav)")
    clips: list[Clip] = []
    for d in actor_dirs:
        folder_actor = _ACTOR_DIR.match(d.name).group(1)
        for f in audio_files(d):
            labels = parse_name(f)
            if labels["actor"] != folder_actor:
                raise DataError(f"{f}: actor field {labels['actor']} disagrees with folder {d.name}")
            clips.append(Clip(path=f, corpus=corpus, labels=labels,
                              groups={"actor": labels["actor"], "speaker": f"ravdess_actor{labels['actor']}",
                                      "source": f"ravdess:{f.stem}"}))
    if not clips:
        raise DataError(f"RAVDESS: no audio files in the Actor_NN folders under {root}")
    return clips
