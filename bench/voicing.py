"""Silence filter and voicing indicator on real audio: speech vs non-speech windows, clean and in noise.

    .venv/bin/python bench/voicing.py            # evaluate the shipped model on the TEST split
    .venv/bin/python bench/voicing.py --train    # first train deepear/audio/voicing_model.json on TRAIN

Splits (disjoint; fixed seed): RAVDESS actors 1-12 train / 13-24 test; FSDD speakers george, jackson, lucas
train / nicolas, theo, yweweler test; ESC-10 folds 1-3 / 4-5; music tracks macroform-* (3) train /
manolo_camp, reno_project test; noise recordings doing_the_dishes, exercise_bike, white_noise (+ generated
white/pink/brown) train / dude_miaowing, running_tap, pink_noise test; ESC-50 urban clips (fold 4 only in the
data pack) split by freesound id, alternate ids train / test. Test-time noise for mixing: the test noise
recordings and the test urban clips, none of which the classifier saw.
Writes the "voicing" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report import write_section  # noqa: E402
from deepear.audio import silence, voicing  # noqa: E402
from deepear.audio.config import FrontEndConfig  # noqa: E402
from deepear.audio.features import frame_energy_db, log_mel_from_power, power_spectrum  # noqa: E402
from deepear.audio.frontend import FrameFeatures, summarize  # noqa: E402
from deepear.audio.io import load_audio, resample  # noqa: E402
from deepear.data.mixing import mix_at_snr  # noqa: E402

CFG = FrontEndConfig()
SR = CFG.sample_rate
HOP_S = CFG.hop_ms / 1000.0
SEED = 20240601
WINDOWS = {"1.28 s": 1.28, "5 s": 5.0}

FSDD_TRAIN = ("george", "jackson", "lucas")
FSDD_TEST = ("nicolas", "theo", "yweweler")
MUSIC_TRAIN = ("macroform-cold_day", "macroform-robot_dity", "macroform-the_simplicity")
MUSIC_TEST = ("manolo_camp-morning_coffee", "reno_project-system")
NOISE_TRAIN = ("doing_the_dishes", "exercise_bike", "white_noise")
NOISE_TEST = ("dude_miaowing", "running_tap", "pink_noise")


def data_root() -> Path:
    return Path(os.environ.get("DEEPEAR_DATA") or (REPO.parent / "shared" / "datasets"))


# Clips ----------------------------------------------------------------------------------------------------
@dataclass
class Clip:
    y: np.ndarray
    source: str           # ravdess, fsdd, esc10, music, noise, urban, generated
    speech: bool
    band_limited: bool = False
    ref_active: np.ndarray | None = field(default=None, repr=False)  # speech frames of the clean clip (speech_ref)


def band_limit(y: np.ndarray) -> np.ndarray:
    """Through 8 kHz and back: no energy above 4 kHz (what FSDD and the music tracks look like)."""
    return resample(resample(y, SR, 8000), 8000, SR)[: y.shape[0]]


def segments(y: np.ndarray, seg_s: float, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """n random segments of seg_s seconds (or all consecutive ones if n <= 0)."""
    L = int(seg_s * SR)
    if n <= 0:
        return [y[i:i + L] for i in range(0, y.shape[0] - L + 1, L)]
    starts = rng.integers(0, y.shape[0] - L, size=n)
    return [y[s:s + L] for s in starts]


def colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    w = rng.standard_normal(n)
    if kind == "white":
        y = w
    else:
        f = np.fft.rfftfreq(n, 1.0 / SR)
        f[0] = f[1]
        spec = np.fft.rfft(w) / (np.sqrt(f) if kind == "pink" else f)
        y = np.fft.irfft(spec, n)
    return (0.1 * y / np.std(y)).astype(np.float32)


def ravdess(actors: range, per_actor: int, rng: np.random.Generator) -> list[Clip]:
    out = []
    for a in actors:
        files = sorted((data_root() / "ravdess" / f"Actor_{a:02d}").glob("*.flac"))
        for f in rng.choice(files, size=min(per_actor, len(files)), replace=False):
            out.append(Clip(load_audio(f, SR), "ravdess", True))
    return out


def fsdd(speakers: tuple[str, ...], per_speaker: int, rng: np.random.Generator) -> list[Clip]:
    out = []
    for s in speakers:
        files = sorted((data_root() / "fsdd_8k").glob(f"*_{s}_*.flac"))
        for f in rng.choice(files, size=per_speaker, replace=False):
            out.append(Clip(load_audio(f, SR), "fsdd", True, band_limited=True))
    return out


def esc10(folds: tuple[int, ...]) -> list[Clip]:
    files = sorted(f for f in (data_root() / "esc10").glob("*/*.flac") if int(f.name.split("-")[0]) in folds)
    return [Clip(load_audio(f, SR), "esc10", False) for f in files]


def urban(part: int) -> list[np.ndarray]:
    """ESC-50 urban clips (fold 4 only), split by freesound id: part 0 = TRAIN, part 1 = TEST (no id in both)."""
    files = sorted((data_root() / "esc50_urban8").glob("*.flac"))
    ids = sorted({f.name.split("-")[1] for f in files})
    keep = set(ids[part::2])
    return [load_audio(f, SR) for f in files if f.name.split("-")[1] in keep]


def long_files(folder: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {n: load_audio(data_root() / folder / f"{n}.flac", SR) for n in names}


# Frame analysis -------------------------------------------------------------------------------------------
@dataclass
class Frames:
    power: np.ndarray
    lm: np.ndarray
    energy: np.ndarray
    active: np.ndarray


def frames(y: np.ndarray) -> Frames:
    p = power_spectrum(y, CFG)
    e = frame_energy_db(p, CFG)
    return Frames(p, log_mel_from_power(p, CFG), e, silence.active_frames(e, HOP_S, CFG.silence))


def sample_mask(active: np.ndarray, n: int) -> np.ndarray:
    """Frame mask -> sample mask (each frame owns the hop samples around its centre)."""
    h = CFG.hop_length
    m = np.zeros(n, dtype=bool)
    off = (CFG.n_fft - h) // 2
    rep = np.repeat(active, h)
    m[off:off + rep.shape[0]] = rep[: max(0, n - off)]
    return m


def speech_ref(y: np.ndarray) -> np.ndarray:
    """Reference speech frames of a *clean* clip: within 30 dB of its loudest frame and above the absolute floor."""
    e = frames(y).energy
    return (e > e.max() - 30.0) & (e > CFG.silence.abs_floor_db)


def mix(clip: Clip, noise_pool: list[np.ndarray], snr_db: float, rng: np.random.Generator) -> Clip:
    ref = speech_ref(clip.y)
    nz = noise_pool[int(rng.integers(len(noise_pool)))]
    n = clip.y.shape[0]
    if nz.shape[0] <= n:
        nz = np.tile(nz, n // nz.shape[0] + 1)
    s = int(rng.integers(0, nz.shape[0] - n + 1))
    y = mix_at_snr(clip.y, nz[s:s + n], snr_db, signal_active=sample_mask(ref, n))
    peak = float(np.max(np.abs(y)))
    if peak > 0.99:
        y = y * (0.99 / peak)
    return Clip(y.astype(np.float32), clip.source, True, clip.band_limited, ref_active=ref)


# Training -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    """The recordings of one split (each corpus's own unit: actor, speaker, fold, track, recording)."""

    actors: range
    fsdd: tuple[str, ...]
    esc_folds: tuple[int, ...]
    urban_part: int                 # `urban(part)`; with urban_half, only that half of it
    music: tuple[str, ...]
    noise: tuple[str, ...]
    urban_half: int | None = None


TRAIN = Split(range(1, 13), FSDD_TRAIN, (1, 2, 3), 0, MUSIC_TRAIN, NOISE_TRAIN)


def urban_clips(split: Split) -> list[np.ndarray]:
    u = urban(split.urban_part)
    return u if split.urban_half is None else u[split.urban_half::2]


def training_frames(rng: np.random.Generator, split: Split = TRAIN) -> tuple[np.ndarray, np.ndarray]:
    """Frame features X (n, F) and labels (n,) from `split` (default TRAIN; clean, noisy, band-limited)."""
    speech = ravdess(split.actors, 25, rng) + fsdd(split.fsdd, 100, rng)
    neg = esc10(split.esc_folds) + [Clip(y, "urban", False) for y in urban_clips(split)]
    music = long_files("moh_music_8k", split.music)
    noise = long_files("sc_bg_noise", split.noise)
    gen = [colored_noise(SR * 30, k, rng) for k in ("white", "pink", "brown")]
    for y in music.values():
        neg += [Clip(s, "music", False, True) for s in segments(y, 5.0, 60, rng)]
    for y in list(noise.values()) + gen:
        neg += [Clip(s, "noise", False) for s in segments(y, 5.0, 12, rng)]
    mix_pool = list(noise.values()) + gen + list(music.values()) + [c.y for c in neg if c.source in ("esc10", "urban")]
    xs, ys = [], []
    for c in neg:
        y = band_limit(c.y) if (not c.band_limited and rng.random() < 0.5) else c.y
        y = y * np.float32(10 ** (rng.uniform(-20, 0) / 20))
        f = frames(y)
        sel = f.energy > CFG.silence.abs_floor_db
        if sel.any():
            xs.append(voicing.frame_features(f.power, f.lm, CFG)[0][sel])
            ys.append(np.zeros(int(sel.sum())))
    for c in speech:
        y0 = band_limit(c.y) if (not c.band_limited and rng.random() < 0.5) else c.y
        c = Clip(y0, c.source, True, True)
        r = rng.random()
        if r < 0.3:
            m = Clip(c.y, c.source, True, ref_active=speech_ref(c.y))
        else:
            m = mix(c, mix_pool, float(rng.uniform(-5.0, 20.0)), rng)
        f = frames(m.y)
        feats = voicing.frame_features(f.power, f.lm, CFG)[0]
        pos = m.ref_active & (f.active if r >= 0.3 else True)
        negm = ~m.ref_active & f.active
        xs += [feats[pos], feats[negm]]
        ys += [np.ones(int(pos.sum())), np.zeros(int(negm.sum()))]
    return np.concatenate(xs), np.concatenate(ys)


def train(rng: np.random.Generator, hidden: int, split: Split = TRAIN) -> voicing.VoicingModel:
    from sklearn.neural_network import MLPClassifier

    x, y = training_frames(rng, split)
    # balance the classes by subsampling the larger one
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n = min(pos.size, neg.size, 60000)
    idx = np.concatenate([rng.choice(pos, n, replace=False), rng.choice(neg, n, replace=False)])
    x, y = x[idx], y[idx]
    print(f"training frames: {pos.size} speech, {neg.size} non-speech; using {2 * n}", flush=True)
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-6
    z = (x - mean) / std
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", alpha=1e-3, max_iter=300,
                        early_stopping=True, random_state=int(rng.integers(2**31)))
    clf.fit(z, y)
    print(f"train frame accuracy {clf.score(z, y):.3f}", flush=True)
    pk = x[:, voicing.feature_names(CFG).index("peak_lo")]
    ths = np.arange(0.0, 15.0, 0.25)
    bal = [0.5 * (np.mean(pk[y == 1] > t) + np.mean(pk[y == 0] <= t)) for t in ths]
    print(f"rule baseline: best frame threshold on TRAIN peak_lo > {ths[int(np.argmax(bal))]:.2f} dB "
          f"(balanced frame accuracy {max(bal):.3f}); RULE_PEAK_DB = {RULE_PEAK_DB}", flush=True)
    return voicing.VoicingModel(
        mean=mean.astype(np.float32), scale=(1.0 / std).astype(np.float32),
        w1=clf.coefs_[0].astype(np.float32), b1=clf.intercepts_[0].astype(np.float32),
        w2=clf.coefs_[1][:, 0].astype(np.float32), b2=float(clf.intercepts_[1][0]),
        feature_names=tuple(voicing.feature_names(CFG)))


# Evaluation -----------------------------------------------------------------------------------------------
RULE_PEAK_DB = 4.25   # rule baseline: frame harmonic when the 60 Hz-1 kHz peakiness exceeds this (dB;
                      # the best single threshold on the TRAIN frames, printed by --train)
SWEEP = (0.4, 0.5, 0.6, 0.7, 0.8)
RULE_FRAC = 0.5       # ... and the window is speech when more than this share of its frames is harmonic


def window_results(c: Clip, model: voicing.VoicingModel) -> dict[str, list[tuple[int, int, int, bool]]]:
    """Per window size: (truth, model, rule) per scored window (truth -1 = ambiguous, excluded)."""
    f = frames(c.y)
    feats = voicing.frame_features(f.power, f.lm, CFG)[0]
    prob = model.predict(feats)
    peak = feats[:, voicing.feature_names(CFG).index("peak_lo")]
    ff = FrameFeatures(values=f.lm, energy_db=f.energy, active=f.active, speech_prob=prob, hop_s=HOP_S,
                       n_samples=c.y.shape[0])
    rule_ff = FrameFeatures(values=f.lm, energy_db=f.energy, active=f.active,
                            speech_prob=(peak > RULE_PEAK_DB).astype(np.float32), hop_s=HOP_S,
                            n_samples=c.y.shape[0])
    ref = c.ref_active if c.ref_active is not None else (speech_ref(c.y) if c.speech else None)
    out = {}
    for name, w in WINDOWS.items():
        wm = summarize(ff, CFG, w, w)
        wr = summarize(rule_ff, CFG, w, w)
        rows = []
        for i in range(len(wm)):
            if c.speech:
                a = int(round(wm.t_start[i] / HOP_S))
                b = a + int(round(min(w, wm.t_end[i] - wm.t_start[i]) / HOP_S))
                frac = float(ref[a:b].mean()) if b > a else 0.0
                truth = 1 if frac >= 0.2 else (-1 if frac > 0 else 0)
            else:
                truth = 0
            rows.append((truth, int(wm.voiced[i]), int(wr.speech_score[i] > RULE_FRAC), bool(wm.silent[i]),
                         float(wm.speech_score[i])))
        out[name] = rows
    return out


def scores(rows: list[tuple[int, int, int, bool]], col: int) -> dict[str, float]:
    a = np.array([r[:4] for r in rows if r[0] >= 0], dtype=np.int64).reshape(-1, 4)
    t, p = a[:, 0], a[:, col]
    tp, fp, fn = int(np.sum((t == 1) & (p == 1))), int(np.sum((t == 0) & (p == 1))), int(np.sum((t == 1) & (p == 0)))
    return {"n": len(t), "n_speech": int(t.sum()), "acc": float(np.mean(t == p)) if len(t) else float("nan"),
            "prec": tp / (tp + fp) if tp + fp else float("nan"), "rec": tp / (tp + fn) if tp + fn else float("nan"),
            "bal": 0.5 * (np.mean(p[t == 1] == 1) + np.mean(p[t == 0] == 0)) if 0 < t.sum() < len(t) else float("nan")}


def silence_report(speech_test: list[Clip], noise_pool: list[np.ndarray], noise_files: dict[str, np.ndarray],
                   music: dict[str, np.ndarray], rng: np.random.Generator) -> str:
    lines = ["| audio | frames active (adaptive floor) | frames active (fixed 40 dB below max) |",
             "|---|---|---|"]
    act = lambda e: silence.active_frames(e, HOP_S, CFG.silence)  # noqa: E731
    fixed = silence.fixed_rule_active
    pause_rows = []
    for cond in ("clean", 10.0, 0.0):
        a_ad, a_fx, p_ad, p_fx, s_ad, s_fx = [], [], [], [], [], []
        for c in speech_test:
            fc = frames(c.y)
            y = c.y if cond == "clean" else mix(c, noise_pool, cond, rng).y
            e = frames(y).energy
            ad, fx = act(e), fixed(e)
            a_ad.append(ad.mean())
            a_fx.append(fx.mean())
            # clear pauses / clear speech in the clean reference
            pause = fc.energy < fc.energy.max() - 40.0
            loud = fc.energy > fc.energy.max() - 20.0
            if pause.any():
                p_ad.append((~ad[pause]).mean())
                p_fx.append((~fx[pause]).mean())
            s_ad.append(ad[loud].mean())
            s_fx.append(fx[loud].mean())
        lbl = "clean speech" if cond == "clean" else f"speech + noise at {cond:.0f} dB"
        lines.append(f"| {lbl} (RAVDESS+FSDD test, {len(speech_test)} clips) | {np.mean(a_ad):.1%} | "
                     f"{np.mean(a_fx):.1%} |")
        pause_rows.append(f"| {lbl} | {np.mean(p_ad):.1%} | {np.mean(p_fx):.1%} | {np.mean(s_ad):.1%} | "
                          f"{np.mean(s_fx):.1%} |")
    for name, y in list(noise_files.items()) + list(music.items()):
        e = frames(y).energy
        lines.append(f"| {name} ({y.shape[0] / SR:.0f} s) | {act(e).mean():.1%} | {fixed(e).mean():.1%} |")
    z = np.zeros(SR * 3, dtype=np.float32)
    e = frames(z).energy
    lines.append(f"| digital silence (3 s) | {act(e).mean():.1%} | {fixed(e).mean():.1%} |")
    # dropout: 2 s of digital silence, then 4 s of running tap; how long until the tap is learnt as floor
    tap = noise_files.get("running_tap", next(iter(noise_files.values())))[: 4 * SR]
    e = frames(np.concatenate([np.zeros(2 * SR, np.float32), tap])).energy
    a = act(e)[int(2.0 / HOP_S):]
    last = np.flatnonzero(a)
    lines.append(f"| 2 s digital silence then running tap: tap frames active | {a.mean():.1%} "
                 f"(last active at +{(last[-1] + 1) * HOP_S if last.size else 0:.2f} s) | "
                 f"{fixed(e)[int(2.0 / HOP_S):].mean():.1%} |")
    return ("\n".join(lines) + "\n\nSpeech pauses in noise (clean-reference frames > 40 dB below the clip's peak "
            "= pause; within 20 dB of the peak = speech):\n\n"
            "| condition | pauses marked silent (adaptive) | pauses marked silent (fixed) | speech frames kept "
            "(adaptive) | speech frames kept (fixed) |\n|---|---|---|---|---|\n" + "\n".join(pause_rows))


def timing(model: voicing.VoicingModel) -> tuple[float, float]:
    """(voicing indicator, log-mel front end) seconds per 60 s of audio, one thread, best of 7 interleaved."""
    from threadpoolctl import threadpool_limits

    y = load_audio(data_root() / "sc_bg_noise" / "dude_miaowing.flac", SR)[: 60 * SR]
    f = frames(y)
    tv = tm = np.inf
    with threadpool_limits(1):
        for _ in range(7):
            t0 = time.perf_counter()
            voicing.speech_prob(f.power, f.lm, f.energy, CFG, model=model)
            t1 = time.perf_counter()
            log_mel_from_power(power_spectrum(y, CFG), CFG)
            t2 = time.perf_counter()
            tv, tm = min(tv, t1 - t0), min(tm, t2 - t1)
    return tv, tm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", action="store_true", help="train and write deepear/audio/voicing_model.json first")
    ap.add_argument("--hidden", type=int, default=24, help="hidden units of the MLP (with --train)")
    ap.add_argument("--no-write", action="store_true", help="print the section, do not write docs/benchmarks.md")
    args = ap.parse_args()
    t_start = time.time()
    rng = np.random.default_rng(SEED)
    if args.train:
        model = train(np.random.default_rng(SEED + 1), args.hidden)
        model.save(voicing.MODEL_PATH)
        voicing._load_cached.cache_clear()
        print(f"wrote {voicing.MODEL_PATH} ({time.time() - t_start:.0f} s)", flush=True)
    model = voicing.load_model()

    # TEST split
    speech_clean = ravdess(range(13, 25), 20, rng) + fsdd(FSDD_TEST, 80, rng)
    noise_test = long_files("sc_bg_noise", NOISE_TEST)
    music_test = long_files("moh_music_8k", MUSIC_TEST)
    urban_test = urban(1)
    nonspeech = esc10((4, 5)) + [Clip(y, "urban", False) for y in urban_test]
    for y in music_test.values():
        nonspeech += [Clip(s, "music", False, True) for s in segments(y, 5.12, 0, rng)]
    for y in noise_test.values():
        nonspeech += [Clip(s, "noise", False) for s in segments(y, 5.12, 0, rng)]
    mix_pool = list(noise_test.values()) + urban_test
    conditions: dict[str, list[Clip]] = {"clean": speech_clean}
    for snr in (10.0, 0.0):
        conditions[f"{snr:.0f} dB"] = [mix(c, mix_pool, snr, rng) for c in speech_clean]
    neg_rows = [window_results(c, model) for c in nonspeech]
    by_cond = {k: [window_results(c, model) for c in v] for k, v in conditions.items()}
    # band-limited TEST audio: RAVDESS speech and ESC-10 through 8 kHz
    bl = ([Clip(band_limit(c.y), "ravdess", True, True) for c in speech_clean if c.source == "ravdess"]
          + [Clip(band_limit(c.y), "esc10", False, True) for c in nonspeech if c.source == "esc10"])
    bl_rows = [window_results(c, model) for c in bl]

    out = ["Speech vs non-speech windows on the TEST split (disjoint from training: see `bench/voicing.py`). "
           f"Speech: {sum(c.source == 'ravdess' for c in speech_clean)} RAVDESS clips (actors 13-24), "
           f"{sum(c.source == 'fsdd' for c in speech_clean)} FSDD clips (nicolas, theo, yweweler). Non-speech: "
           + ", ".join(f"{sum(c.source == s for c in nonspeech)} {s}" for s in ("esc10", "urban", "music", "noise"))
           + " clips/segments (ESC-10 folds 4-5, ESC-50 urban fold 4 test ids, music manolo_camp + reno_project, noise "
           "dude_miaowing, running_tap, pink_noise; 5.12 s segments). Noisy speech: mixed at the SNR "
           "(active-speech power) into the test noise recordings and the test urban clips. A speech-clip window "
           "counts as speech when >= 20% of its frames are speech in the clean clip (within 30 dB of its peak), is left out when 0-20%, "
           "and counts as non-speech when none is. Model = the MLP voicing indicator (mean P(speech) over the "
           "window's selected frames > 0.5); rule = energy + harmonicity baseline (of the window's selected "
           f"frames, the share whose 60 Hz-1 kHz spectral peakiness exceeds {RULE_PEAK_DB:.0f} dB; speech when "
           f"> {RULE_FRAC:.0%}).", ""]
    out += ["| window | condition | n (speech) | model acc | model prec | model rec | rule acc | rule prec | "
            "rule rec |", "|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    for wname in WINDOWS:
        for cname, res in by_cond.items():
            rows = [r for d in res for r in d[wname]] + [r for d in neg_rows for r in d[wname]]
            m, r = scores(rows, 1), scores(rows, 2)
            summary[(wname, cname)] = m
            out.append(f"| {wname} | {cname} | {m['n']} ({m['n_speech']}) | **{m['acc']:.1%}** | {m['prec']:.1%} | "
                       f"{m['rec']:.1%} | {r['acc']:.1%} | {r['prec']:.1%} | {r['rec']:.1%} |")
        rows = [r for d in bl_rows for r in d[wname]]
        m, r = scores(rows, 1), scores(rows, 2)
        out.append(f"| {wname} | band-limited to 4 kHz (RAVDESS + ESC-10 test) | {m['n']} ({m['n_speech']}) | "
                   f"{m['acc']:.1%} | {m['prec']:.1%} | {m['rec']:.1%} | {r['acc']:.1%} | {r['prec']:.1%} | "
                   f"{r['rec']:.1%} |")
    out += ["", "Per source, 1.28 s windows (speech: share called speech; non-speech: share called non-speech):", "",
            "| source | clean | 10 dB | 0 dB |", "|---|---|---|---|"]
    for src in ("ravdess", "fsdd"):
        cells = []
        for cname, res in by_cond.items():
            rows = [r for c, d in zip(conditions[cname], res) if c.source == src for r in d["1.28 s"] if r[0] == 1]
            cells.append(f"{np.mean([r[1] for r in rows]):.1%} of {len(rows)}")
        out.append(f"| {src} (speech) | " + " | ".join(cells) + " |")
    for src in ("esc10", "urban", "music", "noise"):
        rows = [r for c, d in zip(nonspeech, neg_rows) if c.source == src for r in d["1.28 s"]]
        out.append(f"| {src} (non-speech) | {np.mean([1 - r[1] for r in rows]):.1%} of {len(rows)} | | |")
    sweep = ["", "Window threshold sweep (diagnostic on TEST, the shipped default stays 0.5): model accuracy", "",
             "| window | condition | " + " | ".join(f"> {t:.2f}" for t in SWEEP) + " |",
             "|---|---|" + "---|" * len(SWEEP)]
    for wname in WINDOWS:
        for cname, res in by_cond.items():
            rows = [r for d in res for r in d[wname]] + [r for d in neg_rows for r in d[wname]]
            rows = [r for r in rows if r[0] >= 0]
            accs = [np.mean([(r[0] == 1) == (not r[3] and r[4] > t) for r in rows]) for t in SWEEP]
            sweep.append(f"| {wname} | {cname} | " + " | ".join(f"{a:.1%}" for a in accs) + " |")
    out += sweep
    t_v, t_m = timing(model)
    out += ["", f"Voicing indicator cost (features + MLP, one thread, best of 7): {1000 * t_v:.2f} ms per 60 s of "
            f"audio, against {1000 * t_m:.1f} ms for the power spectrum + log-mel it reads "
            f"({t_v / t_m:.0%} of it; the machine was shared and loaded, so both are inflated alike).", "",
            "### Silence filter", "",
            silence_report(speech_clean[::4], mix_pool, {**noise_test, **long_files("sc_bg_noise", NOISE_TRAIN)},
                           music_test, rng)]
    body = "\n".join(out)
    print(body)
    print(f"\n(bench time {time.time() - t_start:.0f} s)")
    if not args.no_write:
        write_section("voicing", "## Silence filter and voicing indicator\n\n" + body,
                      command=".venv/bin/python bench/voicing.py" + (" --train" if args.train else ""))


if __name__ == "__main__":
    main()
