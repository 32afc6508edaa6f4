"""Real-time factor of the front end on real audio, one core: read + resample + silence + voicing +
log-mel features + window statistics, stage by stage, against librosa's log-mel alone in the same run.

    .venv/bin/python bench/frontend.py [--recipe recipes/deepear.yaml] [--data-root DIR] [--minutes 10] [--repeats 3]

The front end measured is the recipe's (`front_end` section: bands, statistics, delta statistics);
`--recipe none` measures the library defaults.

Writes the "frontend" section of docs/benchmarks.md.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"  # one core, before numpy is imported

import argparse  # noqa: E402
import glob  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import soundfile as sf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import write_section  # noqa: E402
from deepear.audio import silence, voicing  # noqa: E402
from deepear.audio.config import DEEPEAR_TASK_WINDOWS, FrontEndConfig  # noqa: E402
from deepear.audio.features import frame_energy_db, log_mel_from_power, power_spectrum  # noqa: E402
from deepear.audio.frontend import FrameFeatures, summarize  # noqa: E402
from deepear.audio.io import prepare  # noqa: E402
from deepear.recipe import load_recipe  # noqa: E402

STAGES = ("read", "resample", "spectrum", "log-mel", "silence", "voicing", "windows")


def pick_files(root: Path, minutes: float) -> dict[str, list[str]]:
    """A fixed, varied selection of real files: short clips of every corpus plus long recordings."""
    sel = {
        "RAVDESS (speech, 16 kHz)": sorted(glob.glob(str(root / "ravdess/Actor_0[12]/*.flac"))),
        "ESC-10 fold 1 (16 kHz)": sorted(glob.glob(str(root / "esc10/*/1-*.flac"))),
        "FSDD (8 kHz speech)": sorted(glob.glob(str(root / "fsdd_8k/*_0.flac")) + glob.glob(str(root / "fsdd_8k/*_1.flac"))),
        "music tracks (8 kHz)": sorted(glob.glob(str(root / "moh_music_8k/*.flac")))[:1],
        "noise recordings (16 kHz)": sorted(glob.glob(str(root / "sc_bg_noise/*.flac")))[:2],
    }
    total = sum(sf.info(f).duration for fs in sel.values() for f in fs) / 60
    if total < minutes:
        raise SystemExit(f"only {total:.1f} min of audio found under {root}; need {minutes}")
    return sel


def run_file(path: str, cfg: FrontEndConfig, t: dict[str, float]) -> float:
    """Run the whole front end on one file, adding each stage's seconds into `t`. Returns audio seconds."""
    c = time.perf_counter
    a = c()
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    b = c()
    y = prepare(data, rate, cfg.sample_rate, min_samples=cfg.n_fft, where=path)
    d = c()
    power = power_spectrum(y, cfg)
    e = c()
    energy = frame_energy_db(power, cfg)
    lm = log_mel_from_power(power, cfg)
    f = c()
    active = silence.active_frames(energy, cfg.hop_ms / 1000.0, cfg.silence)
    g = c()
    sp = voicing.speech_prob(power, lm, energy, cfg)
    h = c()
    ff = FrameFeatures(values=lm, energy_db=energy, active=active, speech_prob=sp, hop_s=cfg.hop_ms / 1000,
                       n_samples=len(y))
    for task in ("scene", "emotion"):
        summarize(ff, cfg, *DEEPEAR_TASK_WINDOWS[task])
    i = c()
    for k, dt in zip(STAGES, (b - a, d - b, e - d, f - e, g - f, h - g, i - h)):
        t[k] += dt
    return len(y) / cfg.sample_rate


def run_librosa(path: str, cfg: FrontEndConfig) -> float:
    import librosa

    y, rate = sf.read(path, dtype="float32")
    if rate != cfg.sample_rate:
        y = librosa.resample(y, orig_sr=rate, target_sr=cfg.sample_rate, res_type="soxr_hq")
    S = librosa.feature.melspectrogram(y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                       win_length=cfg.win_length, center=False, n_mels=cfg.n_mels,
                                       fmax=cfg.fmax_hz)
    librosa.power_to_db(S, ref=1.0, amin=cfg.log_amin, top_db=None)
    return len(y) / cfg.sample_rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path,
                    default=Path(os.environ.get("DEEPEAR_DATA") or Path(__file__).resolve().parents[2] / "shared/datasets"))
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--recipe", default="recipes/deepear.yaml", help="whose front_end to measure ('none': defaults)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    cfg = FrontEndConfig() if args.recipe == "none" else load_recipe(args.recipe).front_end
    sel = pick_files(args.data_root, args.minutes)
    # warm-up: imports, caches, page cache
    for fs in sel.values():
        run_file(fs[0], cfg, dict.fromkeys(STAGES, 0.0))
        run_librosa(fs[0], cfg)
    per_group: dict[str, list[tuple[float, dict[str, float]]]] = {g: [] for g in sel}
    lib: dict[str, list[float]] = {g: [] for g in sel}
    audio: dict[str, float] = {}
    for _ in range(args.repeats):
        for g, fs in sel.items():
            t = dict.fromkeys(STAGES, 0.0)
            audio[g] = sum(run_file(f, cfg, t) for f in fs)
            per_group[g].append((sum(t.values()), t))
            a = time.perf_counter()
            for f in fs:
                run_librosa(f, cfg)
            lib[g].append(time.perf_counter() - a)

    def median_run(g: str) -> dict[str, float]:
        runs = sorted(per_group[g], key=lambda r: r[0])
        return runs[len(runs) // 2][1]

    lines = ["## Front end: real-time factor (one core)", "",
             f"Read + resample + log-mel ({cfg.n_mels} bands, {cfg.win_ms:g} ms / {cfg.hop_ms:g} ms, "
             f"FFT {cfg.n_fft}) + silence filter + voicing indicator + window statistics ({cfg.dim} values per "
             f"window: {', '.join(cfg.stats)}"
             + (f"; delta {', '.join(cfg.delta_stats)}" if cfg.delta_stats else "")
             + f"; scene 1.28 s and speech 5 s windows; front end of `{args.recipe}`), on "
             f"{sum(audio.values()) / 60:.1f} min of real audio; median of "
             f"{args.repeats} passes, `OMP/OPENBLAS_NUM_THREADS=1`, one process. Baseline in the same run: "
             "librosa 0.11 read + `soxr_hq` resample + `melspectrogram` + `power_to_db` (no silence, voicing "
             "or statistics).", "",
             "| audio | minutes | deepear x RT | librosa log-mel x RT | " + " | ".join(f"{s} ms/min" for s in STAGES) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(STAGES)]
    tot_t = dict.fromkeys(STAGES, 0.0)
    tot_lib = 0.0
    for g in sel:
        t = median_run(g)
        mins = audio[g] / 60
        for k in STAGES:
            tot_t[k] += t[k]
        lt = statistics.median(lib[g])
        tot_lib += lt
        lines.append(f"| {g} | {mins:.1f} | {audio[g] / sum(t.values()):.0f} | {audio[g] / lt:.0f} | "
                     + " | ".join(f"{1000 * t[k] / mins:.1f}" for k in STAGES) + " |")
    mins = sum(audio.values()) / 60
    rtf = sum(audio.values()) / sum(tot_t.values())
    lines.append(f"| **all** | {mins:.1f} | **{rtf:.0f}** | {sum(audio.values()) / tot_lib:.0f} | "
                 + " | ".join(f"{1000 * tot_t[k] / mins:.1f}" for k in STAGES) + " |")
    lines += ["", f"Target: >= 1000x real time. Result: {rtf:.0f}x ({'met' if rtf >= 1000 else 'missed'})."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("frontend", text)


if __name__ == "__main__":
    main()
