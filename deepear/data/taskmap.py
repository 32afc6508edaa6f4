"""Task maps: configuration (YAML) that turns corpus-native labels into deepear task labels.

The default map is `deepear/data/taskmaps/deepear.yaml` (its header documents the rule forms). A TaskMap
declares the tasks (title, description, closed label set or open) and, per corpus and task, one rule:
`{from, map}` (every native label listed; null drops the clip from the task), `{from, format}` (open sets
such as speaker ids) or `{value}` (a constant).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from deepear.data.clips import Clip
from deepear.errors import ConfigError, DataError

DEFAULT_TASKMAP = Path(__file__).with_name("taskmaps") / "deepear.yaml"


@dataclass(frozen=True)
class TaskSpec:
    """A task: `labels` is the closed label set in output order, or None for an open set (speaker ids)."""
    name: str
    title: str
    description: str = ""
    labels: tuple[str, ...] | None = None
    proxy: bool = False


@dataclass(frozen=True)
class Rule:
    """How one corpus gets one task's label: exactly one of map (with source), format (with source), value."""
    source: str | None = None
    map: dict[str, str | None] | None = None
    format: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class TaskMap:
    """Tasks and the per-corpus rules that label clips for them (see module doc)."""
    tasks: dict[str, TaskSpec]
    rules: dict[str, dict[str, Rule]] = field(default_factory=dict)   # corpus -> task -> rule
    path: str = ""

    def spec(self, task: str) -> TaskSpec:
        """The TaskSpec of `task`; DataError listing the declared tasks otherwise."""
        try:
            return self.tasks[task]
        except KeyError:
            raise DataError(f"unknown task {task!r}; the task map {self.path} declares {sorted(self.tasks)}") from None

    def labels(self, task: str) -> tuple[str, ...] | None:
        """The closed label set of `task` in output order, or None for an open set."""
        return self.spec(task).labels

    def check_label(self, task: str, label: str, where: str = "") -> str:
        """`label` when it is a valid label of `task`; DataError naming the label, task and `where` otherwise."""
        allowed = self.spec(task).labels
        if allowed is not None and label not in allowed:
            raise DataError(f"{where}: label {label!r} is not a {task} label (known: {list(allowed)})")
        return label

    def map_clip(self, clip: Clip) -> Clip:
        """A copy of `clip` with `tasks` set by this map's rules for `clip.corpus`.

        A corpus without rules keeps its clip's tasks. DataError naming the label and the file when a native
        label is not in a rule's map, or the native field is missing.
        """
        rules = self.rules.get(clip.corpus)
        if rules is None:
            return clip
        tasks: dict[str, str] = {}
        for task, rule in rules.items():
            if rule.value is not None:
                tasks[task] = rule.value
                continue
            if rule.source not in clip.labels:
                raise DataError(f"{clip.path}: has no {rule.source!r} label needed for task {task!r} "
                                f"(labels: {sorted(clip.labels)})")
            native = clip.labels[rule.source]
            if rule.map is not None:
                if native not in rule.map:
                    raise DataError(f"{clip.path}: {clip.corpus} {rule.source} label {native!r} is not in the task "
                                    f"map for {task!r} ({self.path}); known: {sorted(rule.map)}")
                mapped = rule.map[native]
                if mapped is not None:
                    tasks[task] = mapped
            else:
                tasks[task] = self.check_label(task, rule.format.format(native), where=str(clip.path))
        return clip.with_tasks(tasks)

    def apply(self, clips: Iterable[Clip]) -> list[Clip]:
        """`map_clip` over `clips`."""
        return [self.map_clip(c) for c in clips]


_TASK_KEYS = {"title", "description", "labels", "proxy"}
_RULE_KEYS = {"from", "map", "format", "value"}


def _str(x, where: str) -> str:
    if not isinstance(x, (str, int)) or isinstance(x, bool):
        raise ConfigError(f"{where}: expected a string, got {x!r}")
    return str(x)


def _parse_rule(raw, tasks: dict[str, TaskSpec], where: str, task: str) -> Rule:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a rule must be a mapping with from/map, from/format or value")
    extra = set(raw) - _RULE_KEYS
    if extra:
        raise ConfigError(f"{where}: unknown keys {sorted(extra)} (allowed: {sorted(_RULE_KEYS)})")
    kinds = [k for k in ("map", "format", "value") if k in raw]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of map, format, value (got {kinds})")
    allowed = tasks[task].labels

    def target(label, w):
        if label is None:
            return None
        label = _str(label, w)
        if allowed is not None and label not in allowed:
            raise ConfigError(f"{w}: {label!r} is not a {task} label (declared: {list(allowed)})")
        return label

    if "value" in raw:
        if "from" in raw:
            raise ConfigError(f"{where}: `value` takes no `from`")
        v = target(raw["value"], where)
        if v is None:
            raise ConfigError(f"{where}: value must not be null (leave the task out instead)")
        return Rule(value=v)
    if "from" not in raw:
        raise ConfigError(f"{where}: `{kinds[0]}` needs `from: <native label field>`")
    source = _str(raw["from"], where)
    if "format" in raw:
        fmt = _str(raw["format"], where)
        if "{}" not in fmt:
            raise ConfigError(f"{where}: format {fmt!r} must contain {{}}")
        return Rule(source=source, format=fmt)
    if not isinstance(raw["map"], dict) or not raw["map"]:
        raise ConfigError(f"{where}: map must be a non-empty mapping native label -> task label or null")
    m = {_str(k, where): target(v, f"{where}.map.{k}") for k, v in raw["map"].items()}
    return Rule(source=source, map=m)


def parse_taskmap(raw: dict, path: str = "<taskmap>") -> TaskMap:
    """A TaskMap from the parsed YAML mapping `raw`; ConfigError naming the key when malformed."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with `tasks` and `corpora`")
    extra = set(raw) - {"version", "tasks", "corpora"}
    if extra:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(extra)} (allowed: version, tasks, corpora)")
    if raw.get("version", 1) != 1:
        raise ConfigError(f"{path}: unsupported version {raw.get('version')!r} (supported: 1)")
    if not isinstance(raw.get("tasks"), dict) or not raw["tasks"]:
        raise ConfigError(f"{path}: `tasks` must be a non-empty mapping")
    tasks: dict[str, TaskSpec] = {}
    for name, t in raw["tasks"].items():
        w = f"{path}: tasks.{name}"
        if not isinstance(t, dict):
            raise ConfigError(f"{w}: expected a mapping with {sorted(_TASK_KEYS)}")
        extra = set(t) - _TASK_KEYS
        if extra:
            raise ConfigError(f"{w}: unknown keys {sorted(extra)} (allowed: {sorted(_TASK_KEYS)})")
        labels = t.get("labels")
        if labels is not None:
            if not isinstance(labels, list) or not labels:
                raise ConfigError(f"{w}.labels: expected a non-empty list or null (open set)")
            labels = tuple(_str(x, f"{w}.labels") for x in labels)
            if len(set(labels)) != len(labels):
                raise ConfigError(f"{w}.labels: duplicate labels in {list(labels)}")
        tasks[str(name)] = TaskSpec(name=str(name), title=_str(t.get("title", name), w),
                                    description=_str(t.get("description", ""), w), labels=labels,
                                    proxy=bool(t.get("proxy", False)))
    corpora = raw.get("corpora") or {}
    if not isinstance(corpora, dict):
        raise ConfigError(f"{path}: `corpora` must be a mapping corpus -> task -> rule")
    rules: dict[str, dict[str, Rule]] = {}
    for corpus, per_task in corpora.items():
        per_task = per_task or {}
        if not isinstance(per_task, dict):
            raise ConfigError(f"{path}: corpora.{corpus} must be a mapping task -> rule")
        rules[str(corpus)] = {}
        for task, rule in per_task.items():
            w = f"{path}: corpora.{corpus}.{task}"
            if task not in tasks:
                raise ConfigError(f"{w}: task {task!r} is not declared under `tasks` ({sorted(tasks)})")
            rules[str(corpus)][str(task)] = _parse_rule(rule, tasks, w, task)
    return TaskMap(tasks=tasks, rules=rules, path=path)


def load_taskmap(path: str | Path | None = None) -> TaskMap:
    """The task map in the YAML file `path` (default: deepear's own, DEFAULT_TASKMAP)."""
    p = Path(path) if path is not None else DEFAULT_TASKMAP
    try:
        raw = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"task map {p} not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"task map {p}: invalid YAML: {e}") from e
    return parse_taskmap(raw, str(p))
