"""Loading and checking a bundle folder (manifest.json + model.onnx; see docs/runtime.md and the bundle spec).

    b = load_bundle("exported/deepear-4task")
    b.front_end            # FrontEndConfig from manifest["front_end"]
    b.voicing_model        # VoicingModel embedded in the manifest
    b.tasks                # {name: TaskSpec}, in model output order
    b.groups               # [WindowGroup], tasks sharing (window_s, hop_s)
    b.model_path("int8")   # Path of model.int8.onnx

Every problem is a BundleError naming the manifest path and the key. numpy only (no onnxruntime, no torch).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepear.audio.config import FrontEndConfig
from deepear.audio.speaker_norm import AdaptationSpec
from deepear.audio.voicing import VoicingModel, feature_names as voicing_feature_names
from deepear.errors import ConfigError

log = logging.getLogger(__name__)

FORMAT = "deepear-bundle"
FORMAT_VERSION = 1
PRECISIONS = ("fp32", "int8")
_DEFAULT_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}


class BundleError(ConfigError):
    """A bundle folder that cannot be used: missing files, malformed or inconsistent manifest."""


@dataclass(frozen=True)
class TaskSpec:
    """One task of a bundle: its labels (model output order), window and hop (s), and speech routing."""

    name: str
    labels: tuple[str, ...]
    window_s: float
    hop_s: float
    speech: bool            # True: runs only on voiced windows


@dataclass(frozen=True)
class WindowGroup:
    """Tasks sharing one window length and hop: one feature vector (and one model pass) per window."""

    window_s: float
    hop_s: float
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class Bundle:
    """A checked bundle: everything the runtime needs except the ONNX session."""

    path: Path
    manifest: dict[str, Any]
    front_end: FrontEndConfig
    voicing_model: VoicingModel
    tasks: dict[str, TaskSpec]
    groups: tuple[WindowGroup, ...]
    input_name: str
    input_dim: int
    adaptation: AdaptationSpec | None = None   # per-speaker adaptation of one window group (docs/adaptation.md)
    adapt_group: int = -1                      # index into groups of the adapted group, -1 = none

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.path.name))

    def model_path(self, precision: str = "fp32") -> Path:
        """Path of the ONNX file for `precision` ("fp32" or "int8"); BundleError when the bundle has none."""
        where = self.path / "manifest.json"
        if precision not in PRECISIONS:
            raise BundleError(f"{where}: unknown precision {precision!r}; choose from {list(PRECISIONS)}")
        models = self.manifest.get("models") or {}
        entry = models.get(precision)
        if entry is None:
            raise BundleError(f"{where}: models.{precision} is missing (the bundle has {sorted(models)})")
        p = self.path / str(entry.get("file", _DEFAULT_FILES[precision]))
        if not p.is_file():
            raise BundleError(f"{where}: models.{precision}.file: {p} not found")
        digest = entry.get("sha256")
        if digest:
            actual = hashlib.sha256(p.read_bytes()).hexdigest()
            if actual != digest:
                raise BundleError(f"{where}: models.{precision}.sha256 does not match {p} "
                                  f"(manifest {digest[:12]}..., file {actual[:12]}...): the file was changed")
        return p


def _need(d: dict, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise BundleError(f"{where}: key {key!r} is missing")
    v = d[key]
    if not isinstance(v, kind) or isinstance(v, bool) and kind in ((int, float), float, int):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise BundleError(f"{where}: {key!r} must be {names}, got {type(v).__name__}")
    return v


def _positive(d: dict, key: str, where: str) -> float:
    v = float(_need(d, key, where, (int, float)))
    if not (math.isfinite(v) and v > 0):
        raise BundleError(f"{where}: {key!r} must be a positive number of seconds, got {v}")
    return v


def load_bundle(path: str | Path) -> Bundle:
    """Read and check `path`/manifest.json. Raises BundleError naming the file and key of every problem."""
    root = Path(path)
    mpath = root / "manifest.json"
    if not root.is_dir():
        raise BundleError(f"bundle {root}: not a folder (export one with `deepear export`)")
    if not mpath.is_file():
        raise BundleError(f"bundle {root}: manifest.json not found")
    try:
        m = json.loads(mpath.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise BundleError(f"{mpath}: cannot read ({e})") from e
    except json.JSONDecodeError as e:
        raise BundleError(f"{mpath}: not valid JSON ({e})") from e
    w = str(mpath)
    if not isinstance(m, dict):
        raise BundleError(f"{w}: expected a JSON object, got {type(m).__name__}")
    if m.get("format") != FORMAT:
        raise BundleError(f"{w}: format must be {FORMAT!r}, got {m.get('format')!r}")
    if m.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{w}: format_version {m.get('format_version')!r} is not supported "
                          f"(this deepear reads version {FORMAT_VERSION})")
    try:
        fe = FrontEndConfig.from_dict(_need(m, "front_end", w, dict))
    except (ConfigError, TypeError) as e:
        raise BundleError(f"{w}: front_end: {e}") from e
    try:
        vm = VoicingModel.from_dict(_need(m, "voicing_model", w, dict), where=f"{w}: voicing_model")
    except ConfigError as e:
        raise BundleError(str(e)) from e
    if list(vm.feature_names) != voicing_feature_names(fe):
        raise BundleError(f"{w}: voicing_model was trained on {len(vm.feature_names)} features, the front end "
                          f"gives {len(voicing_feature_names(fe))}")
    inp = _need(m, "input", w, dict)
    input_name = str(_need(inp, "name", f"{w}: input", str))
    dim = int(_need(inp, "dim", f"{w}: input", int))
    if dim != fe.dim:
        raise BundleError(f"{w}: input.dim is {dim} but the front end gives {fe.dim}-dim window vectors")
    tasks: dict[str, TaskSpec] = {}
    for name, t in _need(m, "tasks", w, dict).items():
        tw = f"{w}: tasks.{name}"
        labels = _need(t, "labels", tw, list)
        if not labels or not all(isinstance(x, str) for x in labels) or len(set(labels)) != len(labels):
            raise BundleError(f"{tw}.labels: must be a non-empty list of distinct strings")
        tasks[name] = TaskSpec(name, tuple(labels), _positive(t, "window_s", tw), _positive(t, "hop_s", tw),
                               bool(_need(t, "speech", tw, bool)))
    if not tasks:
        raise BundleError(f"{w}: tasks is empty")
    groups: list[WindowGroup] = []
    seen: set[str] = set()
    for i, g in enumerate(_need(m, "window_groups", w, list)):
        gw = f"{w}: window_groups[{i}]"
        ws, hs = _positive(g, "window_s", gw), _positive(g, "hop_s", gw)
        names = _need(g, "tasks", gw, list)
        if not names:
            raise BundleError(f"{gw}.tasks: is empty")
        for n in names:
            if n not in tasks:
                raise BundleError(f"{gw}.tasks: {n!r} is not in tasks ({sorted(tasks)})")
            if n in seen:
                raise BundleError(f"{gw}.tasks: {n!r} is in more than one window group")
            if (tasks[n].window_s, tasks[n].hop_s) != (ws, hs):
                raise BundleError(f"{gw}: window {ws}/{hs} s differs from tasks.{n} "
                                  f"({tasks[n].window_s}/{tasks[n].hop_s} s)")
            seen.add(n)
        groups.append(WindowGroup(ws, hs, tuple(names)))
    missing = sorted(set(tasks) - seen)
    if missing:
        raise BundleError(f"{w}: window_groups: task(s) {missing} are in no window group")
    _need(m, "models", w, dict)
    adaptation, adapt_group = None, -1
    if m.get("adaptation") is not None:
        try:
            adaptation = AdaptationSpec.from_dict(_need(m, "adaptation", w, dict), dim, where=f"{w}: adaptation")
        except ConfigError as e:
            raise BundleError(str(e)) from e
        adapt_group = adaptation.group_index([g.tasks for g in groups])
        if adapt_group < 0:
            raise BundleError(f"{w}: adaptation.tasks {list(adaptation.tasks)} is not exactly one window group's "
                              f"tasks ({[list(g.tasks) for g in groups]})")
    b = Bundle(root, m, fe, vm, tasks, tuple(groups), input_name, dim, adaptation, adapt_group)
    b.model_path("fp32")
    log.info("bundle %s: %d tasks in %d window groups", root, len(tasks), len(groups))
    return b
