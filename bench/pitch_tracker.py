"""The front end's pitch tracker (`deepear.audio.pitch`) against librosa's pYIN, and what it costs.

    .venv/bin/python bench/pitch_tracker.py [--clips N] [--write]

Agreement: N RAVDESS clips (every actor, spread over the corpus by path), clean. librosa.pyin runs on the same
10 ms grid (frame_length 1024, hop 160, center=True, 60-500 Hz; its frame t is centred on sample 160 t, the front
end's frame t on sample 160 t + 256, so pYIN's frame index is shifted by 256/160 ~ 2 to align them). Reported:
share of frames each calls voiced, how often they agree on voicing, and on frames both call voiced the median
and the share above one semitone of |12 log2(f0 / f0_pyin)|.

Cost: one minute of RAVDESS speech (clips concatenated), one thread, best of 7: `pitch_track` on the front end's
frames against `analyze` without pitch statistics. Writes the "pitch_tracker" section of docs/benchmarks.md with
--write.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import write_section  # noqa: E402
from deepear.audio.config import PITCH_STAT_NAMES, FrontEndConfig  # noqa: E402
from deepear.audio.features import frame_signal  # noqa: E402
from deepear.audio.frontend import analyze  # noqa: E402
from deepear.audio.io import load_audio  # noqa: E402
from deepear.audio.pitch import pitch_track  # noqa: E402
from deepear.cli import default_data_root  # noqa: E402
from deepear.data.catalog import all_clips, load_corpora  # noqa: E402

SHIFT = 2          # pYIN frame t + SHIFT is centred where the front end's frame t is (256 / 160 samples ~ 1.6)


def best_ms(f, n: int = 7) -> float:
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    return 1000.0 * min(t)


def main() -> int:
    import librosa

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    cfg = FrontEndConfig(pitch_stats=PITCH_STAT_NAMES)
    clips = sorted(all_clips(load_corpora(default_data_root(), names=["ravdess"])), key=lambda c: str(c.path))
    clips = clips[::max(1, len(clips) // args.clips)][:args.clips]
    ours_v, pyin_v, agree, err = [], [], [], []
    audio = []
    for c in clips:
        y = load_audio(c.path, cfg.sample_rate)
        audio.append(y)
        tr = pitch_track(frame_signal(y, cfg), cfg)
        v = tr[:, 1] < cfg.pitch.voiced_max
        f0p, vp, _ = librosa.pyin(y.astype(np.float64), fmin=60.0, fmax=500.0, sr=cfg.sample_rate,
                                  frame_length=1024, hop_length=cfg.hop_length, center=True)
        n = min(len(v), len(vp) - SHIFT)
        v, f0, vp, f0p = v[:n], tr[:n, 0], vp[SHIFT:SHIFT + n], f0p[SHIFT:SHIFT + n]
        ours_v.append(v.mean())
        pyin_v.append(vp.mean())
        agree.append((v == vp).mean())
        both = v & vp
        err.append(np.abs(12.0 * np.log2(f0[both] / f0p[both])))
    e = np.concatenate(err)
    y60 = np.concatenate(audio)[:60 * cfg.sample_rate]
    minutes = len(y60) / cfg.sample_rate / 60.0
    frames = frame_signal(y60, cfg)
    t_pitch = best_ms(lambda: pitch_track(frames, cfg)) / minutes
    t_front = best_ms(lambda: analyze(y60, FrontEndConfig())) / minutes
    lines = ["## Pitch tracker: YIN on the front end's frames vs librosa's pYIN, and its cost", "",
             f"{len(clips)} RAVDESS clips, clean; pYIN (librosa {librosa.__version__}) on the same 10 ms grid, "
             "frame_length 1024, 60-500 Hz; the front end's YIN: `front_end.pitch` defaults (75-500 Hz, 512-sample "
             "frames, voiced when aperiodicity < 0.3).", "",
             "| measure | value |", "|---|---:|",
             f"| frames voiced, YIN | {100 * np.mean(ours_v):.0f}% |",
             f"| frames voiced, pYIN | {100 * np.mean(pyin_v):.0f}% |",
             f"| voicing decisions agreeing | {100 * np.mean(agree):.0f}% |",
             f"| frames both call voiced: median F0 difference | {np.median(e):.2f} semitone |",
             f"| frames both call voiced: more than 1 semitone apart | {100 * (e > 1).mean():.1f}% |",
             f"| `pitch_track`, ms per minute of audio (one thread, best of 7) | {t_pitch:.0f} |",
             f"| `analyze` without pitch, ms per minute of audio (same run) | {t_front:.0f} |"]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("pitch_tracker", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
