"""ESC-50 / ESC-10 (Piczak 2015) in the three layouts people download.

1. ESC-50 GitHub archive: `<root>/meta/esc50.csv` (filename, fold, target, category, esc10, src_file, take)
   and `<root>/audio/<fold>-<freesound id>-<take>-<target>.wav`; ESC-10 = rows whose `esc10` is True.
2. Class folders (original ESC-10 / ESC-50 releases): `<root>/<NNN - Class name>/<fold>-<id>-<take>.ogg`;
   the class comes from the folder name (`001 - Dog bark` -> `dog`), the fold and freesound id from the file.
3. Flat folder of `<fold>-<id>-<take>-<target>.<ext>` files (the target number gives the class).

Corpus-native labels use ESC-50's category names (`dog`, `crying_baby`, `helicopter`, ...) whatever the
layout. groups: fold ("1".."5"), freesound_id, source ("freesound:<id>": clips cut from one freesound
recording share it).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from deepear.data.clips import Clip, audio_files, is_audio, require_dir
from deepear.errors import DataError

#: ESC-50 category by target number (meta/esc50.csv).
CATEGORIES: tuple[str, ...] = (
    "dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow",
    "rain", "sea_waves", "crackling_fire", "crickets", "chirping_birds", "water_drops", "wind",
    "pouring_water", "toilet_flush", "thunderstorm",
    "crying_baby", "sneezing", "clapping", "breathing", "coughing", "footsteps", "laughing",
    "brushing_teeth", "snoring", "drinking_sipping",
    "door_wood_knock", "mouse_click", "keyboard_typing", "door_wood_creaks", "can_opening",
    "washing_machine", "vacuum_cleaner", "clock_alarm", "clock_tick", "glass_breaking",
    "helicopter", "chainsaw", "siren", "car_horn", "engine", "train", "church_bells", "airplane",
    "fireworks", "hand_saw",
)
TARGET = {c: i for i, c in enumerate(CATEGORIES)}
#: The ten ESC-10 classes.
ESC10: frozenset[str] = frozenset({"dog", "rooster", "rain", "sea_waves", "crackling_fire", "crying_baby",
                                   "sneezing", "clock_tick", "helicopter", "chainsaw"})
#: The eight exterior/urban ESC-50 classes (targets 42-49) deepear reads as `esc50_urban`.
URBAN: frozenset[str] = frozenset(CATEGORIES[42:50])
#: Folder-name spellings of the original releases -> ESC-50 category.
ALIASES = {"dog_bark": "dog", "baby_cry": "crying_baby", "person_sneeze": "sneezing",
           "fire_crackling": "crackling_fire", "door_knock": "door_wood_knock", "door_wood_creak": "door_wood_creaks",
           "crackling": "crackling_fire", "sea_wave": "sea_waves", "church_bell": "church_bells"}

_NAME = re.compile(r"^([1-5])-(\d+)-([A-Z])(?:-(\d{1,2}))?$")
_FOLDER = re.compile(r"^\d+\s*-\s*(.+)$")


def parse_name(path: str | Path) -> dict[str, str]:
    """Fields of an ESC file name `<fold>-<freesound id>-<take>[-<target>]`.

    Returns {fold, freesound_id, take} plus {target, category} when the target is in the name.
    DataError naming the file when the name does not match or the target is not 0-49.
    """
    p = Path(path)
    m = _NAME.match(p.stem)
    if not m:
        raise DataError(f"{p}: not an ESC file name (expected <fold 1-5>-<freesound id>-<take A-Z>[-<target>], "
                        f"e.g. 1-100032-A-0)")
    fold, fid, take, target = m.groups()
    out = {"fold": fold, "freesound_id": fid, "take": take}
    if target is not None:
        t = int(target)
        if t >= len(CATEGORIES):
            raise DataError(f"{p}: ESC target {t} out of range 0-49")
        out.update(target=str(t), category=CATEGORIES[t])
    return out


def category_from_folder(name: str) -> str:
    """ESC-50 category for a class folder name (`007 - Helicopter` -> `helicopter`); DataError if unknown."""
    m = _FOLDER.match(name.strip())
    key = (m.group(1) if m else name).strip().lower().replace(" ", "_").replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in TARGET:
        raise DataError(f"ESC class folder {name!r}: class {key!r} is not an ESC-50 category")
    return key


def _clip(path: Path, corpus: str, fields: dict[str, str], category: str) -> Clip:
    labels = {"category": category, "target": str(TARGET[category]), "take": fields["take"]}
    groups = {"fold": fields["fold"], "freesound_id": fields["freesound_id"],
              "source": f"freesound:{fields['freesound_id']}"}
    return Clip(path=path, corpus=corpus, labels=labels, groups=groups)


def _read_meta(root: Path, corpus: str, keep: frozenset[str], esc10_column: bool) -> list[Clip]:
    meta = root / "meta" / "esc50.csv"
    audio = root / "audio"
    clips = []
    with open(meta, newline="") as fh:
        rows = csv.DictReader(fh)
        need = {"filename", "fold", "target", "category", "esc10"}
        if rows.fieldnames is None or not need <= set(rows.fieldnames):
            raise DataError(f"{meta}: expected columns {sorted(need)}, got {rows.fieldnames}")
        for i, r in enumerate(rows, start=2):
            cat = r["category"]
            if cat not in TARGET:
                raise DataError(f"{meta} line {i}: unknown ESC-50 category {cat!r}")
            selected = (r["esc10"].strip().lower() == "true") if esc10_column else cat in keep
            if not selected:
                continue
            fields = parse_name(r["filename"])
            if fields.get("category", cat) != cat or fields["fold"] != r["fold"].strip():
                raise DataError(f"{meta} line {i}: {r['filename']} disagrees with its fold/category columns")
            path = audio / r["filename"]
            if not path.is_file():
                raise DataError(f"{meta} line {i}: audio file {path} is missing")
            clips.append(_clip(path, corpus, fields, cat))
    return clips


def _read_folders(root: Path, corpus: str, keep: frozenset[str]) -> list[Clip]:
    clips = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        cat = category_from_folder(d.name)
        if cat not in keep:
            continue
        for f in audio_files(d):
            fields = parse_name(f)
            if fields.get("category", cat) != cat:
                raise DataError(f"{f}: target {fields['target']} ({fields['category']}) disagrees with folder {d.name!r}")
            clips.append(_clip(f, corpus, fields, cat))
    return clips


def _read_flat(folder: Path, corpus: str, keep: frozenset[str]) -> list[Clip]:
    clips = []
    for f in audio_files(folder):
        fields = parse_name(f)
        if "category" not in fields:
            raise DataError(f"{f}: a flat ESC folder needs the target in the file name (<fold>-<id>-<take>-<target>)")
        if fields["category"] in keep:
            clips.append(_clip(f, corpus, fields, fields["category"]))
    return clips


def read(root: str | Path, keep: frozenset[str] | set[str], corpus: str, esc10_column: bool = False) -> list[Clip]:
    """The clips of the ESC categories in `keep` under `root`, whatever the layout (see module doc).

    esc10_column: with meta/esc50.csv, select rows by its `esc10` column instead of by category.
    DataError when no layout is recognised or no clip of `keep` is found.
    """
    root = require_dir(Path(root), f"{corpus} root")
    unknown = set(keep) - set(TARGET)
    if unknown:
        raise DataError(f"{corpus}: unknown ESC-50 categories {sorted(unknown)}")
    keep = frozenset(keep)
    if (root / "meta" / "esc50.csv").is_file():
        clips, layout = _read_meta(root, corpus, keep, esc10_column), "meta/esc50.csv"
    elif any(is_audio(p) for p in root.iterdir()):
        clips, layout = _read_flat(root, corpus, keep), "flat fold-id-take-target files"
    elif (root / "audio").is_dir():
        clips, layout = _read_flat(root / "audio", corpus, keep), "audio/ fold-id-take-target files"
    else:
        clips, layout = _read_folders(root, corpus, keep), "class folders"
    if not clips:
        raise DataError(f"{corpus}: no clips of {sorted(keep)} under {root} (layout read: {layout})")
    return clips


def read_esc10(root: str | Path, corpus: str = "esc10") -> list[Clip]:
    """ESC-10's 400 clips (10 classes x 40, 5 official folds) from any ESC-10 / ESC-50 layout under `root`."""
    return read(root, ESC10, corpus, esc10_column=True)


def read_esc50_urban(root: str | Path, corpus: str = "esc50_urban") -> list[Clip]:
    """The ESC-50 clips of the 8 urban classes (URBAN, targets 42-49) under `root`."""
    return read(root, URBAN, corpus)
