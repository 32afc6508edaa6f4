"""Atomic file writes: a temp file in the destination's folder, flushed and fsync'ed, then renamed over it.

Readers never see a partial file and an interrupted write leaves the previous version intact (nothing a
user made is lost). Files get mode 0644 (mkstemp's 0600 would hide results from other users).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

TMP_PREFIX = ".deepear-tmp-"


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call write(binary_file) on a temp file next to `path`, fsync, then os.replace it over `path`."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=TMP_PREFIX + out.name + ".", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def staging_dir(dest: str | os.PathLike) -> Path:
    """A fresh empty folder next to `dest` to build a whole tree in before `replace_dir` publishes it.

    Staging folders left behind by an interrupted earlier attempt (same destination) are removed first; if
    that attempt died between the two renames of `replace_dir`, the old folder is first put back at `dest`.
    """
    import shutil

    out = Path(dest)
    out.parent.mkdir(parents=True, exist_ok=True)
    asides = sorted(out.parent.glob(f"{TMP_PREFIX}{out.name}.old.*"))
    if asides and not out.exists():
        os.replace(asides[-1], out)
    for stale in out.parent.glob(f"{TMP_PREFIX}{out.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=out.parent, prefix=f"{TMP_PREFIX}{out.name}."))


def replace_dir(staged: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Publish a complete folder built in `staged` (from `staging_dir`) at `dest`.

    An existing `dest` is first renamed aside, then the new folder renamed into place, then the old one
    deleted: at every moment `dest` is either the complete old folder or the complete new one (a crash
    between the two renames leaves the old folder under its aside name, never a half one).
    """
    import shutil

    staged, out = Path(staged), Path(dest)
    os.chmod(staged, 0o755)
    aside = None
    if out.exists():
        aside = Path(tempfile.mkdtemp(dir=out.parent, prefix=f"{TMP_PREFIX}{out.name}.old."))
        os.rmdir(aside)
        os.replace(out, aside)
    os.replace(staged, out)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return out
