"""Where each known corpus lives under the data root, and where to get it.

A corpus is looked for under `<data root>/<candidate>` for each candidate folder name in order: first the
name used in deepear's shared data pack, then the folder the official archive unpacks to.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from deepear.errors import DataError


@dataclass(frozen=True)
class CorpusInfo:
    name: str                      # deepear's name for it (`deepear data fetch NAME`)
    title: str                     # what to call it in messages
    candidates: tuple[str, ...]    # folder names looked for under the data root, in order
    url: str                       # official download address of the archive
    archive_root: str              # folder inside the archive that holds the corpus ("" = archive root)
    licence: str
    homepage: str
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)


CORPORA: dict[str, CorpusInfo] = {
    "ravdess": CorpusInfo(
        name="ravdess", title="RAVDESS speech (audio only)",
        candidates=("ravdess", "Audio_Speech_Actors_01-24", "RAVDESS"),
        url="https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip",
        archive_root="", licence="CC BY-NC-SA 4.0", homepage="https://zenodo.org/records/1188976"),
    "esc10": CorpusInfo(
        name="esc10", title="ESC-10 (the 10-class subset of ESC-50)",
        candidates=("esc10", "ESC-10", "ESC-50-master", "esc50"),
        url="https://github.com/karolpiczak/ESC-50/archive/refs/heads/master.zip",
        archive_root="ESC-50-master", licence="CC BY 3.0 (ESC-10 clips)",
        homepage="https://github.com/karolpiczak/ESC-50",
        note="ESC-10 is read from ESC-50's meta/esc50.csv (column esc10) when the full ESC-50 is present"),
    "esc50_urban": CorpusInfo(
        name="esc50_urban", title="ESC-50 urban/exterior clips (8 classes)",
        candidates=("esc50_urban8", "ESC-50-master", "esc50"),
        url="https://github.com/karolpiczak/ESC-50/archive/refs/heads/master.zip",
        archive_root="ESC-50-master", licence="CC BY-NC 3.0",
        homepage="https://github.com/karolpiczak/ESC-50"),
    "fsdd": CorpusInfo(
        name="fsdd", title="Free Spoken Digit Dataset",
        candidates=("fsdd_8k", "free-spoken-digit-dataset-master", "fsdd"),
        url="https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip",
        archive_root="free-spoken-digit-dataset-master", licence="CC BY-SA 4.0",
        homepage="https://github.com/Jakobovski/free-spoken-digit-dataset"),
    "noise": CorpusInfo(
        name="noise", title="Speech Commands background noise",
        candidates=("sc_bg_noise", "_background_noise_", "speech_commands/_background_noise_"),
        url="http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        archive_root="_background_noise_", licence="CC BY 4.0",
        homepage="https://www.tensorflow.org/datasets/catalog/speech_commands",
        note="the official archive is 2.3 GB; only its _background_noise_ folder is used"),
    "music": CorpusInfo(
        name="music", title="Music-on-hold tracks (Asterisk opsound)",
        candidates=("moh_music_8k", "asterisk-moh-opsound-wav", "music"),
        url="https://downloads.asterisk.org/pub/telephony/sounds/asterisk-moh-opsound-wav.tar.gz",
        archive_root="", licence="CC BY-SA 3.0",
        homepage="https://downloads.asterisk.org/pub/telephony/sounds/"),
}


def get(name: str) -> CorpusInfo:
    """The registry entry for `name`; DataError listing the known names otherwise."""
    try:
        return CORPORA[name]
    except KeyError:
        raise DataError(f"unknown corpus {name!r}; known: {sorted(CORPORA)}") from None


def locate(name: str, data_root: str | Path) -> Path:
    """The folder that holds corpus `name` under `data_root`.

    Raises DataError naming every path tried and where to download the corpus.
    """
    info = get(name)
    root = Path(data_root)
    tried = [root / c for c in info.candidates]
    for p in tried:
        if p.is_dir():
            return p
    raise DataError(
        f"{info.title} not found: looked in {', '.join(str(p) for p in tried)}. "
        f"Get it with `deepear data fetch {name}` or download {info.url} "
        f"(see {info.homepage}; licence {info.licence}) and unpack it under {root}")
