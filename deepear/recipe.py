"""Training recipes: YAML -> typed, validated dataclasses. An unknown key or a wrong type is a ConfigError
that names the key (`train.epochs: expected int, got str 'ten'`).

    recipe = load_recipe("recipes/deepear.yaml", overrides=["train.epochs=5", "seed=1"])
    print(recipe.to_yaml())          # the resolved recipe, saved in every run folder
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from deepear.audio.config import FrontEndConfig, without_later_defaults
from deepear.errors import ConfigError


@dataclass(frozen=True)
class TaskSpec:
    """One task head: the window its input vector summarises, and its loss weight."""

    window_s: float = 5.0          # seconds of audio per input vector
    hop_s: float = 2.5             # hop between training windows (seconds)
    weight: float = 1.0            # loss weight
    runtime_hop_s: float | None = None  # how often the runtime runs it (default: window_s, as DeepEar)


@dataclass(frozen=True)
class DataSpec:
    root: str | None = None        # data root (default: --data-root / $DEEPEAR_DATA / data/)
    corpora: tuple[str, ...] = ("ravdess", "esc10", "esc50_urban", "fsdd", "music")
    taskmap: str | None = None     # task-map YAML (default: deepear/data/taskmaps/deepear.yaml)
    fraction: float = 1.0          # share of labelled training clips kept (grouped, per run)
    max_clips_per_corpus: int | None = None  # cap per corpus (quick runs); stratified, deterministic


@dataclass(frozen=True)
class ProtocolSpec:
    """Which held-out evaluations to run (see deepear/train/protocol.py)."""

    runs: tuple[str, ...] = ("fold0", "fold1", "fold2", "fold3", "fold4", "fold5", "speaker")
    validation_fraction: float = 0.15  # of training groups, for early stopping
    scene_band_limit_hz: float | None = None  # also evaluate scene with every clip low-passed to this
    val_snrs_db: tuple[float, ...] = ()  # SNRs (dB) the validation clips' noisy copy is drawn from;
                                         # () = from mixing.snrs_db (then a mixing knob also moves validation)


# Protocol parameters added after the first release, with their defaults: left out of Recipe.hash while default.
LATER_PROTOCOL_DEFAULTS: dict[str, Any] = {"val_snrs_db": []}


@dataclass(frozen=True)
class ModelSpec:
    hidden: tuple[int, ...] = (512, 512, 512)
    activation: str = "sigmoid"
    dropout: float = 0.1


@dataclass(frozen=True)
class PretrainSpec:
    enabled: bool = True
    epochs: int = 8
    batch_size: int = 128
    lr_gaussian: float = 0.002     # first layer (Gaussian-Bernoulli)
    lr: float = 0.02               # Bernoulli-Bernoulli layers
    k: int = 1                     # CD-k
    momentum: float = 0.9
    weight_decay: float = 2e-4
    max_windows: int = 40000       # unlabelled windows drawn for pre-training


@dataclass(frozen=True)
class MixingSpec:
    snrs_db: tuple[float | None, ...] = (None, 20.0, 10.0, 5.0, 0.0)  # null = clean
    copies: int = 2                # noisy copies of every training clip (plus the clean original)
    include_synthetic: bool = False  # white/pink noise in the bank
    clean_corpora: tuple[str, ...] = ()  # corpora whose training clips get no noisy copies (used clean only);
                                         # validation and test are mixed as for every corpus
    label_min_snr_db: dict[str, float] = field(default_factory=dict)  # task -> lowest SNR (dB) of a noisy
    # training copy that still carries the task's label; below it the copy is unlabelled for that task only


# Mixing parameters added after the first release, with their defaults: left out of Recipe.hash while default.
LATER_MIXING_DEFAULTS: dict[str, Any] = {"clean_corpora": [], "label_min_snr_db": {}}


@dataclass(frozen=True)
class TrainSpec:
    epochs: int = 60
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8              # early stopping on validation mean accuracy
    class_balance: bool = True     # inverse-frequency class weights per task
    threads: int = 2
    ema_epochs: float = 0.0        # > 0: validate, keep and save an exponential moving average of the weights
                                   # with this time constant (epochs); 0 = the raw weights (see fit)


# Train parameters added after the first release, with their defaults: left out of Recipe.hash while default.
LATER_TRAIN_DEFAULTS: dict[str, Any] = {"ema_epochs": 0.0}


@dataclass(frozen=True)
class EvalSpec:
    snrs_db: tuple[float | None, ...] = (None, 20.0, 10.0, 5.0, 0.0)
    baselines: tuple[str, ...] = ("gmm", "svm")


@dataclass(frozen=True)
class AdaptationSpec:
    """Unsupervised per-speaker input adaptation (deepear/data/adaptation.py): the window vectors of these
    tasks' window group are standardised with the statistics of the same speaker's unlabelled windows."""

    tasks: tuple[str, ...] = ()    # e.g. [emotion, stress]; () = off. Every task sharing their window must be listed
    group_key: str = "speaker"     # the clip group that names the speaker (RAVDESS, FSDD readers fill it)
    std_floor: float = 0.1         # a speaker's per-dimension std is at least this share of the set's std
    min_windows: int = 8           # fewer windows of a speaker in a set: statistics shrunk toward the population


@dataclass(frozen=True)
class Recipe:
    name: str = "deepear"
    seed: int = 0
    data: DataSpec = field(default_factory=DataSpec)
    front_end: FrontEndConfig = field(default_factory=FrontEndConfig)
    tasks: dict[str, TaskSpec] = field(default_factory=lambda: {
        "emotion": TaskSpec(5.0, 2.5), "stress": TaskSpec(5.0, 2.5), "speaker": TaskSpec(5.0, 2.5),
        "scene": TaskSpec(1.28, 0.64)})
    protocol: ProtocolSpec = field(default_factory=ProtocolSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    pretrain: PretrainSpec = field(default_factory=PretrainSpec)
    mixing: MixingSpec = field(default_factory=MixingSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    eval: EvalSpec = field(default_factory=EvalSpec)
    adaptation: AdaptationSpec = field(default_factory=AdaptationSpec)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)

    def hash(self) -> str:
        """Stable hash of the resolved recipe (recorded in run folders and bundles).

        Sections and front-end parameters added after the first release are left out while they hold their
        defaults, so older recipes keep their hash (see FrontEndConfig.hash)."""
        d = self.to_dict()
        if self.adaptation == AdaptationSpec():
            del d["adaptation"]
        d["front_end"] = without_later_defaults(d["front_end"])
        d["train"] = without_later_defaults(d["train"], LATER_TRAIN_DEFAULTS)
        d["mixing"] = without_later_defaults(d["mixing"], LATER_MIXING_DEFAULTS)
        d["protocol"] = without_later_defaults(d["protocol"], LATER_PROTOCOL_DEFAULTS)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def same_experiment(stored_yaml: str, recipe: "Recipe") -> bool:
    """True when a stored recipe (a run folder's recipe.yaml) equals `recipe` except for `protocol.runs`.

    Every protocol run is trained and seeded on its own, so a recipe that only adds (or drops) runs is the same
    experiment: its folder resumes, finished runs are kept.
    """
    try:
        old = parse_recipe(yaml.safe_load(stored_yaml), where="stored recipe")
    except (ConfigError, yaml.YAMLError, TypeError, AttributeError):
        return False

    def key(r: "Recipe") -> dict[str, Any]:
        d = r.to_dict()
        d.get("protocol", {}).pop("runs", None)
        return d

    return key(old) == key(recipe)


# Parsing ---------------------------------------------------------------------------------------------------
def _to_plain(obj: Any) -> Any:
    if isinstance(obj, FrontEndConfig):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    return obj


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`, converting lists to tuples; ConfigError otherwise."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    if tp is FrontEndConfig:
        if isinstance(value, FrontEndConfig):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        base = FrontEndConfig().to_dict()
        merged = {**base, **value}
        for sub in ("silence", "voicing", "pitch"):
            if isinstance(value.get(sub), dict):
                merged[sub] = {**base[sub], **value[sub]}
        try:
            return FrontEndConfig.from_dict(merged)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}: {e}") from None
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return _from_dict(tp, value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        kt, vt = typing.get_args(tp)
        return {_coerce(k, kt, f"{where} key"): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise ConfigError(f"{where}: unsupported type {tp}")
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")


def _from_dict(cls: type, d: dict, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        keys = ", ".join(f"{where}.{k}" if where else k for k in unknown)
        raise ConfigError(f"unknown key(s) {keys}; known at {where or 'top level'}: {names}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in d.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or 'recipe'}: {e}") from None


def _set_path(d: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    cur = d
    for k in keys[:-1]:
        nxt = cur.get(k)
        if nxt is None:
            nxt = cur[k] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {dotted}: {k} is not a mapping")
        cur = nxt
    cur[keys[-1]] = value


def parse_recipe(raw: dict[str, Any], overrides: list[str] | None = None, where: str = "recipe") -> Recipe:
    """Validate a recipe mapping (+ `key.sub=value` overrides, values parsed as YAML) into a Recipe."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a recipe must be a YAML mapping, got {type(raw).__name__}")
    d = json.loads(json.dumps(raw))  # deep copy, plain types
    for ov in overrides or []:
        if "=" not in ov:
            raise ConfigError(f"--set {ov!r}: expected key.sub=value")
        k, v = ov.split("=", 1)
        _set_path(d, k.strip(), yaml.safe_load(v))
    if "tasks" in d and isinstance(d["tasks"], dict):
        d["tasks"] = {k: ({} if v is None else v) for k, v in d["tasks"].items()}
    rec = _from_dict(Recipe, d, "")
    _check(rec)
    return rec


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read and validate a YAML recipe file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"recipe {p}: file not found")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"recipe {p}: not valid YAML ({e})") from None
    try:
        return parse_recipe(raw or {}, overrides, str(p))
    except ConfigError as e:
        raise ConfigError(f"recipe {p}: {e}") from None


KNOWN_TASKS = ("emotion", "stress", "speaker", "scene", "esc10")


def _check(r: Recipe) -> None:
    if not r.tasks:
        raise ConfigError("tasks: at least one task is needed")
    for t, s in r.tasks.items():
        if t not in KNOWN_TASKS:
            raise ConfigError(f"tasks.{t}: unknown task; known: {list(KNOWN_TASKS)}")
        if s.window_s <= 0 or s.hop_s <= 0 or s.weight < 0:
            raise ConfigError(f"tasks.{t}: window_s and hop_s must be > 0 and weight >= 0")
    if not 0 < r.data.fraction <= 1:
        raise ConfigError(f"data.fraction: must be in (0, 1], got {r.data.fraction}")
    if r.model.activation not in ("sigmoid", "relu", "tanh"):
        raise ConfigError(f"model.activation: must be sigmoid, relu or tanh, got {r.model.activation!r}")
    if not r.model.hidden or any(h <= 0 for h in r.model.hidden):
        raise ConfigError(f"model.hidden: positive layer widths needed, got {list(r.model.hidden)}")
    if r.train.epochs <= 0 or r.train.batch_size <= 0 or r.train.lr <= 0:
        raise ConfigError("train: epochs, batch_size and lr must be positive")
    if not (r.train.ema_epochs >= 0 and math.isfinite(r.train.ema_epochs)):
        raise ConfigError(f"train.ema_epochs: must be a finite number >= 0 (0 = off; time constant in epochs), "
                          f"got {r.train.ema_epochs}")
    if not all(math.isfinite(v) for v in r.protocol.val_snrs_db):
        raise ConfigError(f"protocol.val_snrs_db: SNRs must be finite numbers in dB (the clean original is always "
                          f"validated too), got {list(r.protocol.val_snrs_db)}")
    if r.mixing.copies < 0:
        raise ConfigError("mixing.copies: must be >= 0")
    for c in r.mixing.clean_corpora:
        if c not in r.data.corpora:
            raise ConfigError(f"mixing.clean_corpora: {c!r} is not one of data.corpora {list(r.data.corpora)}")
    for t, v in r.mixing.label_min_snr_db.items():
        if t not in r.tasks:
            raise ConfigError(f"mixing.label_min_snr_db: {t!r} is not one of the recipe's tasks {list(r.tasks)}")
        if not math.isfinite(v):
            raise ConfigError(f"mixing.label_min_snr_db.{t}: must be a finite SNR in dB, got {v}")
    for b in r.eval.baselines:
        if b not in ("gmm", "svm"):
            raise ConfigError(f"eval.baselines: unknown baseline {b!r}; known: gmm, svm")
    a = r.adaptation
    for t in a.tasks:
        if t not in r.tasks:
            raise ConfigError(f"adaptation.tasks: {t!r} is not one of the recipe's tasks {list(r.tasks)}")
    for t in a.tasks:
        w = (r.tasks[t].window_s, r.tasks[t].hop_s)
        others = [u for u, s in r.tasks.items() if (s.window_s, s.hop_s) == w and u not in a.tasks]
        if others:
            raise ConfigError(f"adaptation.tasks: {t} shares its window ({w[0]:g} s / {w[1]:g} s) with {others}, "
                              f"which are not adapted; adaptation acts on a whole window group: list them too "
                              f"or give {t} its own window")
    if not 0 < a.std_floor <= 1 or a.min_windows < 2:
        raise ConfigError("adaptation: std_floor must be in (0, 1] and min_windows >= 2")
    for run in r.protocol.runs:
        if not (run == "speaker" or (run.startswith("fold") and run[4:].isdigit())):
            raise ConfigError(f"protocol.runs: {run!r} is neither 'foldN' nor 'speaker'")
