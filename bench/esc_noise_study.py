"""ESC-10 clean accuracy vs the noise its training copies are mixed with (an SVM; the check behind mixing.clean_corpora).

    .venv/bin/python bench/esc_noise_study.py        (about 10 minutes on 2 cores; prints four lines)

SVM on the recipe's 1.28 s window vectors, clip decision = mean log-probability of its windows. Nested: for each
outer ESC fold, train on 3 of the other 4 folds and score the 4th (20 fits; the outer fold is never read). Each
clip gets 2 noisy copies whose ESC noise comes from the clip's own fold only, so no noise comes from a scored
fold. Regimes: clean only; the recipe's training bank (ESC-10 noise classes + other recordings + music) at
20/10/5/0 dB; non-ESC noise only; the recipe's bank at 20/10 dB. Result (docs/training.md, bench/clean_corpora_sweep.py):
82.8 / 79.9 / 81.2 / 80.9%. SVC(probability=True) is deprecated from scikit-learn 1.9 (kept: it reproduces
these numbers).
"""
import os
import sys
import warnings
from pathlib import Path

import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deepear.audio.frontend import analyze, summarize
from deepear.audio.io import load_audio
from deepear.data.cache import FeatureCache
from deepear.data.catalog import load_corpora, all_clips
from deepear.data.mixing import DEFAULT_TEST_GROUPS, Mixer, NoiseBank
from deepear.recipe import load_recipe
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

warnings.filterwarnings("ignore", message=".*probability.*", category=FutureWarning)
REPO = Path(__file__).resolve().parent.parent
cfg = load_recipe(REPO / "recipes" / "deepear.yaml").front_end
root = os.environ.get("DEEPEAR_DATA") or str(REPO.parent / "shared" / "datasets")
clips = all_clips(load_corpora(root, names=["esc10"]))
cache = FeatureCache(cfg, os.environ.get("DEEPEAR_CACHE") or None)
labels = sorted({c.label("esc10") for c in clips})
y = np.array([labels.index(c.label("esc10")) for c in clips])
fold = np.array([int(c.groups["fold"]) for c in clips])
bank = NoiseBank.from_data_root(root)
held = set(DEFAULT_TEST_GROUPS)   # the recipe's held-out test noise recordings: never used
def sub(f, esc):
    """Training noise for a clip of ESC fold f: its own fold's ESC noise clips (if esc) + non-ESC recordings."""
    return bank.subset(e for e in bank.entries if e.group not in held and
                       ((e.esc_fold == f) if e.esc_fold is not None else True) and (esc or e.esc_fold is None))
print("types", bank.subset(e for e in bank.entries if e.group not in held).noise_types, flush=True)

def windows(ff):
    w = summarize(ff, cfg, 1.28, 0.64)
    keep = ~w.silent
    if not keep.any():
        keep[:] = True
    return w.x[keep]

clean = [windows(cache.compute(c.path)) for c in clips]
audio = [load_audio(c.path, 16000) for c in clips]
REGIMES = {"clean only": None, "recipe noise (ESC + other), 20-0 dB": (True, [20, 10, 5, 0]),
           "non-ESC noise only, 20-0 dB": (False, [20, 10, 5, 0]), "recipe noise, 20-10 dB": (True, [20, 10])}
noisy = {}
for name, spec in REGIMES.items():
    if spec is None:
        continue
    esc, snrs = spec
    out = []
    for i, c in enumerate(clips):
        m = Mixer(sub(fold[i], esc), snrs, 16000, cfg)
        rng = np.random.default_rng([7, i])
        out.append([windows(analyze(m.mix(audio[i], rng)[0], cfg)) for _ in range(2)])
    noisy[name] = out
    print("mixed", name, flush=True)

for name in REGIMES:
    accs = []
    for outer in range(1, 6):
        inner = [f for f in range(1, 6) if f != outer]
        for v in inner:
            tr = [i for i in range(len(clips)) if fold[i] in inner and fold[i] != v]
            va = [i for i in range(len(clips)) if fold[i] == v]
            xs = [clean[i] for i in tr] + ([w for i in tr for w in noisy[name][i]] if name in noisy else [])
            ys = [np.full(len(clean[i]), y[i]) for i in tr] + ([np.full(len(w), y[i]) for i in tr for w in noisy[name][i]] if name in noisy else [])
            X, Y = np.concatenate(xs), np.concatenate(ys)
            if len(X) > 15000:
                sel = np.random.default_rng(0).choice(len(X), 15000, replace=False); X, Y = X[sel], Y[sel]
            m = make_pipeline(StandardScaler(), SVC(C=1.0, gamma="scale", probability=True, random_state=0)).fit(X, Y)
            accs.append(np.mean([np.log(m.predict_proba(clean[i]) + 1e-9).mean(0).argmax() == y[i] for i in va]))
    print(f"{name}: {100*np.mean(accs):.1f} (inner folds, n={len(accs)})", flush=True)
