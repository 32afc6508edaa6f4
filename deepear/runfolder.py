"""Run folders (`runs/<recipe>/<seed>/`): everything one training run leaves behind, written so that nothing
is ever half-written or overwritten by a different run.

    rf = RunFolder(Path("runs/deepear/0")).create(recipe.to_yaml(), recipe.hash())
    state = rf.load_checkpoint()                      # None on a fresh run -> start; else resume
    rf.append_log({"epoch": 1, "train_loss": 0.9})   # log.jsonl, one JSON object per line, fsync'ed
    rf.save_checkpoint(state)                         # checkpoint.pt (and rf.save_checkpoint(state, "best.pt"))
    rf.mark_done(metrics)                             # metrics.json + DONE

Layout: recipe.yaml (first line `# recipe_hash: <hash>`), environment.json (at creation), resumes.jsonl (the
environment of every later start), log.jsonl, checkpoint.pt, best.pt, labels.json, normalisation.json,
metrics.json, MODEL_CARD.md, *.png, DONE. Every file except the logs is written to a temp file in the same
folder and renamed over the target (os.replace); the logs are appended line by line and fsync'ed, and a torn
last line is skipped on reading.
"""
from __future__ import annotations

from deepear.atomic import TMP_PREFIX as _ATOMIC_PREFIX, atomic_write

import datetime as _dt
import json
import logging
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from deepear.errors import ConfigError, DataError

__all__ = ["PACKAGES", "RunFolder", "environment"]

log = logging.getLogger(__name__)

#: Distributions whose versions environment() records (None when not installed).
PACKAGES: tuple[str, ...] = ("numpy", "scipy", "torch", "librosa", "soundfile", "soxr", "scikit-learn", "onnx",
                             "onnxruntime", "audiomentations", "deepear")

_HASH_PREFIX = "# recipe_hash: "
_TMP_PREFIX = _ATOMIC_PREFIX


# Environment ------------------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        if name == "deepear":  # running from a checkout that was not pip-installed
            import deepear
            return getattr(deepear, "__version__", None)
        return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def _git_info() -> dict[str, Any]:
    """Commit of the deepear checkout and whether deepear/ differs from it; Nones when git or a commit is absent."""
    import deepear

    pkg = Path(deepear.__file__).resolve().parent
    info: dict[str, Any] = {"commit": None, "dirty": None, "root": None}
    top = _git(["rev-parse", "--show-toplevel"], pkg)
    if not top or (Path(top).resolve() / "deepear" / "__init__.py").resolve() != pkg / "__init__.py":
        return info  # not in a git checkout of deepear (e.g. installed in site-packages of another repo)
    info["root"] = str(Path(top).resolve())
    info["commit"] = _git(["rev-parse", "HEAD"], pkg)  # None before the first commit
    status = _git(["status", "--porcelain", "--", str(pkg)], pkg)
    info["dirty"] = None if status is None else bool(status)
    return info


def environment() -> dict[str, Any]:
    """Where and with what a run ran: python, platform, CPU model, cores, package versions, git commit, time.

    Returns {"python", "platform", "cpu", "cpu_count", "packages": {name: version | None},
             "git": {"commit": sha | None, "dirty": bool | None, "root": str | None}, "utc": ISO-8601 time}.
    Imports no heavy package (versions come from installed metadata).
    """
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "packages": {name: _package_version(name) for name in PACKAGES},
        "git": _git_info(),
        "utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# Atomic writes -----------------------------------------------------------------------------------------------
def _jsonable(obj: Any) -> Any:
    """numpy scalars/arrays, Paths, tuples and sets -> plain JSON types (json.dumps `default`)."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a hard dependency
        np = None
    if np is not None:
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return float(obj)
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def _dumps(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(obj, indent=indent, default=_jsonable, ensure_ascii=False)


def _atomic_write(path: Path, write) -> None:
    atomic_write(path, write)


class RunFolder:
    """One run's folder. Construct with its path, then call create() before writing anything."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # Creation / ownership ---------------------------------------------------------------------------------
    def recipe_hash(self) -> str | None:
        """Hash recorded in this folder's recipe.yaml, or None when there is none."""
        f = self.path / "recipe.yaml"
        if not f.is_file():
            return None
        with open(f, encoding="utf-8") as fh:
            first = fh.readline().rstrip("\n")
        return first[len(_HASH_PREFIX):].strip() if first.startswith(_HASH_PREFIX) else None

    def create(self, recipe_yaml: str, recipe_hash: str,
               compatible: Callable[[str], bool] | None = None) -> RunFolder:
        """Make the folder (parents too) for the recipe with `recipe_hash`, or reuse it if it already is its folder.

        A new folder gets recipe.yaml and environment.json. A folder of the same recipe is reused as it is
        (a resumed run; its environment is appended to resumes.jsonl). `compatible(stored recipe.yaml text)`
        may accept a stored recipe with another hash as the same experiment (e.g. only the list of protocol
        runs differs): the folder is then reused and its recipe.yaml replaced by this one. Raises ConfigError if
        the folder holds another recipe's run, or files but no recipe.yaml: nothing in it is touched.
        """
        if not recipe_hash or not str(recipe_hash).strip() or "\n" in str(recipe_hash):
            raise ConfigError(f"RunFolder.create: recipe_hash must be a non-empty single-line string, "
                              f"got {recipe_hash!r}")
        recipe_hash = str(recipe_hash).strip()
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"run folder {self.path} exists but is not a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        recipe_file = self.path / "recipe.yaml"
        if recipe_file.is_file():
            existing = self.recipe_hash()
            if existing is None:
                same = recipe_file.read_text(encoding="utf-8").strip() == recipe_yaml.strip()
            else:
                same = existing == recipe_hash
            if not same and compatible is not None and compatible(recipe_file.read_text(encoding="utf-8")):
                log.info("run folder %s: recipe %s extends %s (same experiment); recipe.yaml updated",
                         self.path, recipe_hash, existing)
                self.write_text("recipe.yaml", f"{_HASH_PREFIX}{recipe_hash}\n{recipe_yaml.rstrip()}\n")
                same = True
            if not same:
                raise ConfigError(
                    f"run folder {self.path} belongs to another recipe (hash {existing or 'unknown'}, this one "
                    f"{recipe_hash}); use another seed or run name, or delete the folder if you no longer "
                    f"need that run")
            log.info("reusing run folder %s (recipe %s)", self.path, recipe_hash)
            self._remove_stale_temps()
            if not (self.path / "environment.json").is_file():  # killed between the two writes below
                self.write_json("environment.json", environment())
            else:
                with open(self.path / "resumes.jsonl", "a", encoding="utf-8") as f:
                    f.write(_dumps(environment(), indent=None) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            return self
        others = sorted(p.name for p in self.path.iterdir() if not p.name.startswith(_TMP_PREFIX))
        if others:
            raise ConfigError(f"run folder {self.path} is not empty and has no recipe.yaml (it holds "
                              f"{', '.join(others[:5])}{' ...' if len(others) > 5 else ''}); refusing to write "
                              f"into it: choose another run name or seed, or empty it")
        self._remove_stale_temps()
        # recipe.yaml first: it marks the folder as this recipe's, so a crash before environment.json is
        # repaired by the next create() instead of leaving a folder nobody may reuse.
        self.write_text("recipe.yaml", f"{_HASH_PREFIX}{recipe_hash}\n{recipe_yaml.rstrip()}\n")
        self.write_json("environment.json", environment())
        log.info("created run folder %s (recipe %s)", self.path, recipe_hash)
        return self

    def _remove_stale_temps(self, min_age_s: float = 600.0) -> None:
        """Delete temp files a killed process left: only names this module makes, older than `min_age_s`
        (a younger one may belong to a process still writing)."""
        now = time.time()
        for p in self.path.rglob(_TMP_PREFIX + "*.tmp"):
            try:
                if now - p.stat().st_mtime < min_age_s:
                    continue
                p.unlink()
                log.info("removed stale temp file %s", p)
            except OSError:
                pass

    # Files --------------------------------------------------------------------------------------------------
    def path_of(self, name: str) -> Path:
        """Path of file `name` inside the folder ("metrics.json", "plots/confusion_emotion.png")."""
        rel = Path(name)
        if not name or rel.is_absolute() or ".." in rel.parts:
            raise ConfigError(f"run folder file name must be a relative path inside the folder, got {name!r}")
        return self.path / rel

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write `data` to file `name` atomically. Returns its path."""
        p = self.path_of(name)
        _atomic_write(p, lambda f: f.write(data))
        return p

    def write_text(self, name: str, text: str) -> Path:
        """Write UTF-8 `text` to file `name` atomically. Returns its path."""
        return self.write_bytes(name, text.encode("utf-8"))

    def write_json(self, name: str, obj: Any) -> Path:
        """Write `obj` as indented JSON (numpy values converted) to file `name` atomically. Returns its path."""
        return self.write_text(name, _dumps(obj) + "\n")

    def read_json(self, name: str) -> Any:
        """Parsed JSON file `name`, or None when it does not exist."""
        p = self.path_of(name)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"{p}: not valid JSON ({err})") from err

    # Per-epoch log ------------------------------------------------------------------------------------------
    def append_log(self, record: dict) -> None:
        """Append `record` as one JSON line to log.jsonl; flushed and fsync'ed before returning."""
        if not isinstance(record, dict):
            raise DataError(f"append_log: record must be a dict, got {type(record).__name__}")
        line = _dumps(record, indent=None)
        p = self.path_of("log.jsonl")
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "ab") as f:
            if p.stat().st_size > 0:  # a torn last line (killed mid-write) must not swallow this record
                with open(p, "rb") as r:
                    r.seek(-1, os.SEEK_END)
                    if r.read(1) != b"\n":
                        f.write(b"\n")
            f.write(line.encode("utf-8") + b"\n")
            f.flush()
            os.fsync(f.fileno())

    def read_log(self) -> list[dict]:
        """Records of log.jsonl in order ([] when absent); lines that do not parse (a torn write) are skipped."""
        p = self.path_of("log.jsonl")
        if not p.is_file():
            return []
        out: list[dict] = []
        with open(p, encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s line %d is not valid JSON (interrupted write?); skipped", p, i)
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
        return out

    # Checkpoints --------------------------------------------------------------------------------------------
    def save_checkpoint(self, state: dict, name: str = "checkpoint.pt") -> Path:
        """torch.save `state` to file `name` atomically (temp file + os.replace). Use name="best.pt" for the
        best model so far. Returns its path."""
        import torch

        if not isinstance(state, dict):
            raise DataError(f"save_checkpoint: state must be a dict, got {type(state).__name__}")
        p = self.path_of(name)
        _atomic_write(p, lambda f: torch.save(state, f))
        return p

    def load_checkpoint(self, name: str = "checkpoint.pt", *, weights_only: bool = True) -> dict | None:
        """The state saved as `name`, loaded to CPU, or None when there is none.

        weights_only=True (default) loads tensors and plain Python containers/numbers/strings only (safe for
        folders from elsewhere); pass False for states holding other objects from a trusted folder.
        Raises DataError when the file exists but cannot be read.
        """
        import torch

        p = self.path_of(name)
        if not p.is_file():
            return None
        try:
            state = torch.load(p, map_location="cpu", weights_only=weights_only)
        except Exception as err:  # noqa: BLE001 - torch raises many types for bad files
            raise DataError(f"checkpoint {p} cannot be loaded ({type(err).__name__}: {err}); delete it to "
                            f"restart the run from scratch") from err
        if not isinstance(state, dict):
            raise DataError(f"checkpoint {p} holds a {type(state).__name__}, expected a dict")
        return state

    # Completion ---------------------------------------------------------------------------------------------
    def mark_done(self, metrics: dict) -> None:
        """Write metrics.json, then the DONE marker (time of completion): is_done() is True only after both."""
        self.write_json("metrics.json", metrics)
        self.write_json("DONE", {"utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})

    def is_done(self) -> bool:
        """True when mark_done() completed for this folder."""
        return (self.path / "DONE").is_file() and (self.path / "metrics.json").is_file()
