"""Shared fixtures: the real data root, a private feature cache, small generated signals."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def _data_root() -> Path:
    return Path(os.environ.get("DEEPEAR_DATA") or (REPO.parent / "shared" / "datasets")).resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real corpora. Missing data is a failure, never a skip: the tests are meant to run on real audio."""
    root = _data_root()
    if not (root / "ravdess").is_dir():
        pytest.fail(f"real datasets not found at {root}: set DEEPEAR_DATA to the folder holding ravdess/, "
                    f"esc10/, fsdd_8k/ ... (the shared data pack), or place it at ../shared/datasets")
    return root


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEEPEAR_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def speech_file(data_root) -> Path:
    return data_root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac"


@pytest.fixture(scope="session")
def noise_file(data_root) -> Path:
    return data_root / "sc_bg_noise" / "running_tap.flac"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
