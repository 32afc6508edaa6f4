"""A CSV manifest for your own data: one row per audio file, task labels given directly.

Columns (header row required; order free):
- `path` (required): the audio file, relative to the manifest's folder or absolute; must exist, no duplicates.
- `corpus` (optional): the clip's corpus name; default: the manifest's file stem.
- `duration_s` (optional): length in seconds (empty = unknown).
- one column per task, named as the task (`emotion`, `stress`, `speaker`, `scene`, `esc10`, or any task the
  task map declares): the task label; empty = the clip is not used for that task. Labels of a task with a
  closed label set must be in that set.
- `group_<key>` (optional): group ids used by the splits (`group_speaker`, `group_actor`, `group_fold`,
  `group_track`, `group_freesound_id`, `group_source`, ...); `group_source` defaults to `<corpus>:<path>`.
- `label_<name>` (optional): corpus-native labels kept in `Clip.labels[<name>]` (free text).
Any other column, an unknown task label, a missing file or a duplicated path is a DataError naming the
manifest, the line and the value.
"""
from __future__ import annotations

import csv
from pathlib import Path

from deepear.data.clips import Clip
from deepear.errors import DataError

FIXED_COLUMNS = ("path", "corpus", "duration_s")


def read(manifest: str | Path, taskmap=None) -> list[Clip]:
    """The clips listed in the CSV `manifest` (see module doc for the columns).

    taskmap: a deepear.data.taskmap.TaskMap declaring the tasks and their label sets (default: deepear's).
    """
    from deepear.data.taskmap import load_taskmap
    taskmap = taskmap or load_taskmap()
    manifest = Path(manifest)
    if not manifest.is_file():
        raise DataError(f"manifest {manifest} not found")
    base = manifest.parent
    clips: list[Clip] = []
    seen: set[Path] = set()
    with open(manifest, newline="") as fh:
        rows = csv.DictReader(fh)
        cols = rows.fieldnames or []
        if "path" not in cols:
            raise DataError(f"{manifest}: no `path` column (header: {cols})")
        if len(set(cols)) != len(cols):
            raise DataError(f"{manifest}: duplicate column names in header {cols}")
        task_cols = [c for c in cols if c in taskmap.tasks]
        unknown = [c for c in cols if c not in FIXED_COLUMNS and c not in task_cols
                   and not (c.startswith("group_") and len(c) > 6) and not (c.startswith("label_") and len(c) > 6)]
        if unknown:
            raise DataError(f"{manifest}: unknown columns {unknown}; allowed: {list(FIXED_COLUMNS)}, task columns "
                            f"{sorted(taskmap.tasks)}, group_<key>, label_<name>")
        default_corpus = manifest.stem
        for line, row in enumerate(rows, start=2):
            where = f"{manifest} line {line}"
            if None in row:
                raise DataError(f"{where}: more fields than header columns")
            raw_path = (row["path"] or "").strip()
            if not raw_path:
                raise DataError(f"{where}: empty path")
            path = Path(raw_path) if Path(raw_path).is_absolute() else base / raw_path
            if not path.is_file():
                raise DataError(f"{where}: audio file {path} not found")
            if path in seen:
                raise DataError(f"{where}: {raw_path} is listed twice")
            seen.add(path)
            corpus = (row.get("corpus") or "").strip() or default_corpus
            tasks = {t: taskmap.check_label(t, row[t].strip(), where=where)
                     for t in task_cols if (row[t] or "").strip()}
            groups = {c[6:]: row[c].strip() for c in cols if c.startswith("group_") and (row[c] or "").strip()}
            groups.setdefault("source", f"{corpus}:{raw_path}")
            labels = {c[6:]: row[c].strip() for c in cols if c.startswith("label_") and (row[c] or "").strip()}
            dur = (row.get("duration_s") or "").strip()
            try:
                duration = float(dur) if dur else None
            except ValueError:
                raise DataError(f"{where}: duration_s {dur!r} is not a number") from None
            clips.append(Clip(path=path, corpus=corpus, labels=labels, tasks=tasks, groups=groups,
                              duration_s=duration))
    if not clips:
        raise DataError(f"{manifest}: no rows")
    return clips
