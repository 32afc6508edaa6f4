"""The `Clip` record every corpus reader returns, and small helpers over lists of clips.

A clip is one audio file (or one long recording) with three kinds of metadata:
- `labels`: the corpus's own labels, as the corpus names them (RAVDESS `emotion="calm"`, ESC `category="dog"`);
- `tasks`: the label per deepear task after the task map was applied (`tasks["emotion"] == "neutral"`);
  a task absent from the dict means the clip is not used for that task;
- `groups`: ids that must never straddle a train/test split (actor, speaker, fold, source recording,
  freesound id, music track). `groups["source"]` is always present and globally unique per recording.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from deepear.errors import DataError

#: File name endings read as audio by every reader (case-insensitive).
AUDIO_EXTENSIONS: frozenset[str] = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif"})


@dataclass(frozen=True)
class Clip:
    """One labelled audio file.

    Attributes:
        path: the audio file.
        corpus: the reader's corpus name (`ravdess`, `esc10`, `esc50_urban`, `fsdd`, `music`, `noise`, ...).
        labels: corpus-native labels, field -> value (e.g. {"emotion": "calm", "actor": "07"}).
        tasks: task -> task label after mapping (e.g. {"emotion": "neutral", "stress": "not_stressed"}).
        groups: group key -> id; `source` always present (e.g. {"actor": "07", "source": "ravdess:03-01-..."}).
        duration_s: length in seconds when known (readers of long recordings fill it; others on request).
        meta: anything else (free-form; e.g. {"generated": True} for synthetic noise).
    """
    path: Path
    corpus: str
    labels: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    duration_s: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def label(self, task: str) -> str | None:
        """The clip's label for `task`, or None when the clip is not used for it."""
        return self.tasks.get(task)

    def with_tasks(self, tasks: dict[str, str]) -> "Clip":
        """A copy with `tasks` replaced."""
        return replace(self, tasks=dict(tasks))


def is_audio(path: Path) -> bool:
    """True when `path` is a file whose ending is one of AUDIO_EXTENSIONS."""
    return path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file()


def audio_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Audio files in `folder` (sorted; hidden files skipped), optionally descending into subfolders."""
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if not p.name.startswith(".") and is_audio(p))


def require_dir(folder: Path, what: str) -> Path:
    """`folder` as a Path; DataError naming `what` and the path when it is not a directory."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{what}: {folder} is not a directory")
    return folder


def probe_duration(path: Path) -> float:
    """Duration of an audio file in seconds from its header (soundfile.info; no decoding)."""
    import soundfile as sf
    try:
        return float(sf.info(str(path)).duration)
    except Exception as e:  # soundfile raises RuntimeError/LibsndfileError on unreadable files
        raise DataError(f"cannot read the header of {path}: {e}") from e


def with_durations(clips: Sequence[Clip]) -> list[Clip]:
    """Copies of `clips` with `duration_s` filled from the file headers (~0.15 ms per FLAC file)."""
    return [c if c.duration_s is not None else replace(c, duration_s=probe_duration(c.path)) for c in clips]


def for_task(clips: Iterable[Clip], task: str) -> list[Clip]:
    """The clips that have a label for `task`, in order."""
    return [c for c in clips if task in c.tasks]


def label_counts(clips: Iterable[Clip], task: str) -> dict[str, int]:
    """Task label -> number of clips, sorted by label."""
    cnt = Counter(c.tasks[task] for c in clips if task in c.tasks)
    return dict(sorted(cnt.items()))


def native_counts(clips: Iterable[Clip], field_name: str) -> dict[str, int]:
    """Corpus-native label value of `field_name` -> number of clips, sorted by value."""
    cnt = Counter(c.labels[field_name] for c in clips if field_name in c.labels)
    return dict(sorted(cnt.items()))


def group_values(clips: Iterable[Clip], key: str) -> set[str]:
    """The distinct ids of group `key` among `clips` (clips without that group are ignored)."""
    return {c.groups[key] for c in clips if key in c.groups}
