"""A generic folder-per-class tree: `<root>/<class>/<file>.<ext>` (files may sit in subfolders of a class).

Each clip gets `labels["class"] = <class folder name>`. Its source group is the file itself, or, for a file
inside a subfolder of its class (`<root>/<class>/<recording>/<segment>.wav`), that subfolder: segments cut
from one recording then never straddle a split.
"""
from __future__ import annotations

from pathlib import Path

from deepear.data.clips import Clip, audio_files, is_audio, require_dir
from deepear.errors import DataError


def read(root: str | Path, corpus: str = "folder", task: str | None = None, taskmap=None) -> list[Clip]:
    """Every audio file under `root/<class>/` as a Clip labelled `class`.

    Args:
        root: the tree's root; audio files directly in it are an error (they have no class).
        corpus: the name given to the clips (`Clip.corpus`, prefix of their source ids).
        task: when given, the class folder name is used as the label of this task (`clip.tasks[task]`); the
            task must be declared in `taskmap` (default: deepear's) and a closed label set must contain
            every folder name (DataError naming the folder otherwise).
        taskmap: a deepear.data.taskmap.TaskMap; only used with `task`.
    Returns: clips sorted by class then path. DataError when no class folder holds audio.
    """
    root = require_dir(Path(root), f"{corpus} root")
    stray = [p.name for p in root.iterdir() if is_audio(p)]
    if stray:
        raise DataError(f"{root}: audio files outside class folders ({stray[:3]}...); "
                        f"expected <root>/<class>/<file>")
    if task is not None:
        from deepear.data.taskmap import load_taskmap
        taskmap = taskmap or load_taskmap()
    clips = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in audio_files(d, recursive=True):
            rel = f.relative_to(d)
            unit = rel.parts[0] if len(rel.parts) > 1 else rel.with_suffix("").as_posix()
            tasks = {}
            if task is not None:
                tasks[task] = taskmap.check_label(task, d.name, where=str(f))
            clips.append(Clip(path=f, corpus=corpus, labels={"class": d.name}, tasks=tasks,
                              groups={"source": f"{corpus}:{d.name}/{unit}"}))
    if not clips:
        raise DataError(f"{corpus}: no audio files in class folders under {root}")
    return clips
