"""Free Spoken Digit Dataset: `<digit>_<speaker>_<index>.<ext>`.

Accepted: the official archive (`<root>/recordings/*.wav`) or a flat folder of recordings (deepear's shared
pack: `fsdd_8k/*.flac`). Files that are not audio (speakers.json, README) are ignored.
"""
from __future__ import annotations

import re
from pathlib import Path

from deepear.data.clips import Clip, audio_files, require_dir
from deepear.errors import DataError

_NAME = re.compile(r"^([0-9])_([A-Za-z][A-Za-z0-9]*)_(\d+)$")


def parse_name(path: str | Path) -> dict[str, str]:
    """{digit, speaker, index} from an FSDD file name (`7_theo_32.wav` -> "7", "theo", "32");
    DataError naming the file otherwise."""
    p = Path(path)
    m = _NAME.match(p.stem)
    if not m:
        raise DataError(f"{p}: not an FSDD file name (expected <digit>_<speaker>_<index>, e.g. 0_george_0)")
    digit, speaker, index = m.groups()
    return {"digit": digit, "speaker": speaker, "index": str(int(index))}


def read(root: str | Path, corpus: str = "fsdd") -> list[Clip]:
    """Every FSDD recording under `root` (or `root/recordings`) as a Clip.

    groups: speaker ("fsdd_<name>"), source ("fsdd:<file stem>"). DataError when no recording is found.
    """
    root = require_dir(Path(root), "FSDD root")
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    clips = []
    for f in audio_files(folder):
        labels = parse_name(f)
        clips.append(Clip(path=f, corpus=corpus, labels=labels,
                          groups={"speaker": f"fsdd_{labels['speaker']}", "source": f"fsdd:{f.stem}"}))
    if not clips:
        raise DataError(f"FSDD: no recordings (<digit>_<speaker>_<index>.wav) in {folder}")
    return clips
