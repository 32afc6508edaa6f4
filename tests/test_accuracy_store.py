"""bench/accuracy.py's run store: one folder per recipe version, whose small files git keeps and whose models and
checkpoints it ignores (so a retrain of the accuracy table resumes on another machine)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from bench.accuracy import default_runs_dir

REPO = Path(__file__).resolve().parent.parent


def _ignored(path: Path) -> bool:
    r = subprocess.run(["git", "check-ignore", "-q", str(path.relative_to(REPO))], cwd=REPO)
    assert r.returncode in (0, 1), "git check-ignore failed"
    return r.returncode == 0


def test_store_keeps_what_the_bench_reads_and_ignores_models():
    run = default_runs_dir() / "bench-multitask" / "0" / "fold0"
    for kept in ("metrics.json", "DONE", "recipe.yaml", "environment.json", "adaptation.json"):
        assert not _ignored(run / kept), kept
    for dropped in ("model.pt", "checkpoint.pt", "confusion_emotion.png", "log.jsonl"):
        assert _ignored(run / dropped), dropped


def test_one_folder_per_recipe_version(tmp_path):
    a = default_runs_dir()
    assert a.parent == REPO / "bench" / "accuracy_runs" and a.name.startswith("deepear-")
    changed = tmp_path / "deepear.yaml"
    changed.write_text((REPO / "recipes" / "deepear.yaml").read_text().replace("seed: 0", "seed: 1"))
    assert default_runs_dir(changed) != a
