"""Load every known corpus found under a data root, and summarise what was found (`deepear data list`).

The data root is `--data-root` when given, else $DEEPEAR_DATA, else `data/` (resolve_data_root). Each corpus
is located by deepear.data.registry (candidate folder names) and read by its reader; the task map then sets
the task labels.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from deepear.data import registry
from deepear.data.clips import Clip, group_values, label_counts, native_counts, with_durations
from deepear.data.corpora import esc, fsdd, ravdess, recordings
from deepear.data.taskmap import TaskMap, load_taskmap
from deepear.errors import DataError

log = logging.getLogger(__name__)

DEFAULT_DATA_ROOT = "data"
ENV_DATA_ROOT = "DEEPEAR_DATA"

#: corpus name (registry) -> reader(folder) -> clips (corpus-native labels and groups; no tasks yet).
READERS: dict[str, Callable[[Path], list[Clip]]] = {
    "ravdess": ravdess.read,
    "esc10": esc.read_esc10,
    "esc50_urban": esc.read_esc50_urban,
    "fsdd": fsdd.read,
    "music": recordings.read_music,
    "noise": recordings.read_noise,
}
#: the native label fields counted per corpus in summaries.
SUMMARY_FIELDS: dict[str, tuple[str, ...]] = {
    "ravdess": ("emotion",), "esc10": ("category",), "esc50_urban": ("category",),
    "fsdd": ("speaker", "digit"), "music": ("track",), "noise": ("noise_type",),
}


def resolve_data_root(data_root: str | Path | None = None) -> Path:
    """`data_root` if given, else $DEEPEAR_DATA if set and non-empty, else `data` (relative to the cwd)."""
    if data_root is not None and str(data_root) != "":
        return Path(data_root)
    return Path(os.environ.get(ENV_DATA_ROOT) or DEFAULT_DATA_ROOT)


def load_corpus(name: str, data_root: str | Path | None = None, taskmap: TaskMap | None = None,
                durations: bool = False) -> list[Clip]:
    """The clips of corpus `name` under the data root, with task labels from `taskmap` (default: deepear's).

    durations: fill `Clip.duration_s` from the file headers (about 0.15 ms per file).
    DataError (from registry.locate) naming the paths tried and the download address when it is missing.
    """
    if name not in READERS:
        raise DataError(f"no reader for corpus {name!r}; known: {sorted(READERS)}")
    folder = registry.locate(name, resolve_data_root(data_root))
    clips = (taskmap or load_taskmap()).apply(READERS[name](folder))
    log.info("%s: %d clips from %s", name, len(clips), folder)
    return with_durations(clips) if durations else clips


def load_corpora(data_root: str | Path | None = None, names: Iterable[str] | None = None,
                 taskmap: TaskMap | None = None, skip_missing: bool = False,
                 durations: bool = False) -> dict[str, list[Clip]]:
    """name -> clips for each corpus in `names` (default: every corpus with a reader, in READERS order).

    skip_missing: leave out (with a logged warning) corpora whose folder is not found instead of raising.
    Malformed corpora always raise.
    """
    taskmap = taskmap or load_taskmap()
    root = resolve_data_root(data_root)
    out: dict[str, list[Clip]] = {}
    for name in (list(names) if names is not None else list(READERS)):
        try:
            folder = registry.locate(name, root)
        except DataError as e:
            if skip_missing and name in registry.CORPORA:
                log.warning("%s", e)
                continue
            raise
        if name not in READERS:
            raise DataError(f"no reader for corpus {name!r}; known: {sorted(READERS)}")
        clips = taskmap.apply(READERS[name](folder))
        out[name] = with_durations(clips) if durations else clips
    return out


def all_clips(corpora: dict[str, list[Clip]]) -> list[Clip]:
    """The clips of every corpus in `corpora`, concatenated in dict order."""
    return [c for clips in corpora.values() for c in clips]


@dataclass
class CorpusSummary:
    """What `deepear data list` reports for one corpus."""
    name: str
    title: str
    found: bool
    path: str | None                       # folder read (None when missing)
    tried: list[str]                       # every folder looked for
    url: str                               # official download address
    n_clips: int = 0
    native: dict[str, dict[str, int]] = field(default_factory=dict)   # native field -> label -> clips
    tasks: dict[str, dict[str, int]] = field(default_factory=dict)    # task -> task label -> clips
    groups: dict[str, int] = field(default_factory=dict)              # group key -> distinct ids
    duration_s: float | None = None        # total, when the reader knows durations
    error: str | None = None               # why the corpus is missing or unreadable


@dataclass
class Summary:
    """`summary()`'s result: the data root and one CorpusSummary per corpus, plus the task titles."""
    data_root: str
    corpora: list[CorpusSummary]
    task_titles: dict[str, str]

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def summarize_clips(name: str, clips: Sequence[Clip], taskmap: TaskMap) -> dict:
    """n_clips / native / tasks / groups / duration_s of `clips` (the counting part of a CorpusSummary)."""
    fields = SUMMARY_FIELDS.get(name) or tuple(sorted({k for c in clips for k in c.labels}))
    tasks = sorted({t for c in clips for t in c.tasks}, key=lambda t: (list(taskmap.tasks).index(t)
                                                                       if t in taskmap.tasks else 99, t))
    keys = sorted({k for c in clips for k in c.groups})
    durs = [c.duration_s for c in clips]
    return {"n_clips": len(clips),
            "native": {f: native_counts(clips, f) for f in fields},
            "tasks": {t: label_counts(clips, t) for t in tasks},
            "groups": {k: len(group_values(clips, k)) for k in keys},
            "duration_s": float(sum(durs)) if clips and all(d is not None for d in durs) else None}


def summary(data_root: str | Path | None = None, names: Iterable[str] | None = None,
            taskmap: TaskMap | None = None) -> Summary:
    """Per corpus (default: every corpus with a reader): the folder read, clip counts per native and task
    label, distinct ids per group; a missing or malformed corpus is reported with its error, not raised."""
    taskmap = taskmap or load_taskmap()
    root = resolve_data_root(data_root)
    out = []
    for name in (list(names) if names is not None else list(READERS)):
        info = registry.get(name)
        tried = [str(root / c) for c in info.candidates]
        try:
            folder = registry.locate(name, root)
        except DataError as e:
            out.append(CorpusSummary(name, info.title, False, None, tried, info.url, error=str(e)))
            continue
        cs = CorpusSummary(name, info.title, True, str(folder), tried, info.url)
        try:
            if name not in READERS:
                raise DataError(f"no reader for corpus {name!r}")
            clips = taskmap.apply(READERS[name](folder))
            for k, v in summarize_clips(name, clips, taskmap).items():
                setattr(cs, k, v)
        except DataError as e:
            cs.error = str(e)
            log.warning("%s: %s", name, e)
        out.append(cs)
    return Summary(str(root), out, {t: s.title for t, s in taskmap.tasks.items()})


def _counts(d: dict[str, int], limit: int = 12) -> str:
    items = [f"{k} {v}" for k, v in d.items()]
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def format_summary(s: Summary) -> str:
    """Human-readable text of a Summary: per corpus the folder, clip count, groups, native and task counts;
    for a missing corpus the paths tried and where to download it."""
    lines = [f"data root: {s.data_root}"]
    for c in s.corpora:
        lines.append("")
        if not c.found:
            lines.append(f"{c.name} ({c.title}): MISSING")
            lines.append(f"  {c.error}")
            continue
        lines.append(f"{c.name} ({c.title}): {c.path}")
        if c.error:
            lines.append(f"  ERROR: {c.error}")
            continue
        head = f"  {c.n_clips} clips"
        head += "".join(f", {len(v)} {f} labels" for f, v in c.native.items())
        if c.groups:
            head += "; groups: " + ", ".join(f"{n} {k}" for k, n in c.groups.items())
        if c.duration_s is not None:
            head += f"; {c.duration_s / 60:.1f} min"
        lines.append(head)
        for f, counts in c.native.items():
            lines.append(f"  {f}: {_counts(counts)}")
        for t, counts in c.tasks.items():
            lines.append(f"  -> {t} [{s.task_titles.get(t, t)}] ({sum(counts.values())} clips): {_counts(counts)}")
        if not c.tasks:
            lines.append("  -> no task labels (used for mixing / unlabelled)")
    return "\n".join(lines)
