"""The C library of a bundle: flash, RAM and instructions per inference (valgrind --tool=callgrind).

    .venv/bin/python bench/c_library.py exported/deepear-4task [--write]

Flash / RAM: deepear.export.c_build.measure_c (host x86-64 -O2 build of deepear_model.o: flash = code +
read-only data incl. weights; RAM = arena + static data + worst-case stack along GCC's call graph). When
arm-none-eabi-gcc is on PATH the Cortex-M4 build is measured too.

Instructions: deepear_run (int8 and float builds, -O2) runs every golden clip of the bundle under
`valgrind --tool=callgrind` with routing off (every task of a group runs on every non-silent window). From
callgrind's inclusive function totals: the whole run per window event; the MLP (deepear_mlp_trunk +
deepear_mlp_head) per inference (one trunk pass + the group's heads); the front end per frame (deepear_push +
deepear_flush minus emit_window: FFT, mel, log, silence filter, voicing) and the window statistics per
window (emit_window minus the MLP). With a front end that sets pitch_stats (the header defines DEEPEAR_PITCH)
the pitch tracker is broken out: deepear_pitch_frame's instructions per frame (part of the front end's), and
its CPU time per frame on a voiced and on a noise frame (`deepear_run --time-pitch 20000`). Instruction counts
are x86-64 instructions (a proxy for the work, not Cortex-M cycles). Writes the "c_library" section of
docs/benchmarks.md only with --write.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deepear.export.golden import golden_pcm  # noqa: E402
from deepear.export.c_build import compile_c, fits_target, measure_c  # noqa: E402

FUNCS = ("main", "deepear_push", "deepear_flush", "emit_window", "deepear_mlp_trunk", "deepear_mlp_head",
         "deepear_frame_features", "deepear_pitch_frame")


DATA_ROOT = Path(os.environ.get("DEEPEAR_DATA") or Path(__file__).resolve().parents[2] / "shared" / "datasets")


def callgrind(exe: Path, pcm: Path, tmp: Path) -> tuple[dict[str, int], list[dict]]:
    """({function: inclusive instructions}, events) of one deepear_run --all run under callgrind."""
    out = tmp / f"cg.{exe.name}.{pcm.stem}.out"
    r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(exe), "--all", str(pcm)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"callgrind failed on {pcm}: {r.stderr[-2000:]}")
    events = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(out)],
                         capture_output=True, text=True, check=True).stdout
    totals: dict[str, int] = {}
    for line in ann.splitlines():
        m = re.match(r"^\s*([\d,]+) \([^)]*\)\s+\S*?:([A-Za-z_][\w.]*)(?:'\d+)? \[", line)
        if m:
            name = m.group(2).split(".")[0]
            if name in FUNCS:
                totals[name] = totals.get(name, 0) + int(m.group(1).replace(",", ""))
    return totals, events


def count_instructions(bundle: Path, float_build: bool, tmp: Path) -> dict:
    """Summed callgrind totals over every golden clip, and the per-unit figures."""
    exe = compile_c(bundle / "c", tmp / ("deepear_run_float" if float_build else "deepear_run"), float_build)
    golden = json.loads((bundle / "golden" / "golden.json").read_text())
    tot = {f: 0 for f in FUNCS}
    n_frames = n_windows = n_inferences = 0
    seconds = 0.0
    for clip in golden["clips"]:
        t, events = callgrind(exe, golden_pcm(bundle, clip, DATA_ROOT, tmp), tmp)
        for f in FUNCS:
            tot[f] += t.get(f, 0)
        n = int(clip["n_samples"])
        n_frames += 0 if n < 512 else 1 + (n - 512) // 160
        seconds += n / 16000.0
        n_windows += len(events)
        n_inferences += sum(1 for e in events if any(v["status"] == "ran" for v in e["tasks"].values()))
    mlp = tot["deepear_mlp_trunk"] + tot["deepear_mlp_head"]
    lib = tot["deepear_push"] + tot["deepear_flush"]
    return {"clips": len(golden["clips"]), "seconds": seconds, "frames": n_frames, "windows": n_windows,
            "inferences": n_inferences, "total": tot["main"], "library": lib,
            "per_window": lib / max(n_windows, 1), "mlp_per_inference": mlp / max(n_inferences, 1),
            "frontend_per_frame": (lib - tot["emit_window"]) / max(n_frames, 1),
            "stats_per_window": (tot["emit_window"] - mlp) / max(n_windows, 1),
            "pitch_per_frame": tot["deepear_pitch_frame"] / max(n_frames, 1),
            "per_audio_second": lib / max(seconds, 1e-9)}


def has_pitch(bundle: Path) -> bool:
    """Whether the bundle's front end computes pitch statistics (its C library is built with DEEPEAR_PITCH)."""
    fe = json.loads((bundle / "manifest.json").read_text())["front_end"]
    return bool(fe.get("pitch_stats"))


def pitch_latency(bundle: Path, tmp: Path, n: int = 20000) -> dict[str, float]:
    """Microseconds per frame of the C pitch tracker (int8 build; the tracker is integer + double either way):
    `deepear_run --time-pitch n` on a 150 Hz harmonic tone and on uniform noise (every lag searched)."""
    exe = compile_c(_copy_c(bundle, tmp, False), tmp / "run_pitch", float_build=False)
    r = subprocess.run([str(exe), "--time-pitch", str(n)], capture_output=True, text=True, check=True)
    doc = json.loads(r.stdout)
    return {"voiced": float(doc["voiced"]["us_per_frame"]), "noise": float(doc["noise"]["us_per_frame"])}


def latency_batch1(bundle: Path, tmp: Path, n: int = 20000) -> dict[str, float]:
    """Microseconds per inference of the network alone at batch 1, one core: onnxruntime fp32 / int8 (median of
    timed runs on a real golden window) and the C library's int8 / float builds (`deepear_run --time-mlp`)."""
    import time

    import numpy as np
    import onnxruntime as ort

    out: dict[str, float] = {}
    doc = json.loads((bundle / "golden" / "golden.json").read_text())
    x = np.asarray(doc["clips"][0]["groups"][0]["windows"][0]["features"], np.float32)[None]
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    for name, f in (("onnxruntime fp32", "model.onnx"), ("onnxruntime int8", "model.int8.onnx")):
        sess = ort.InferenceSession(str(bundle / f), so, providers=["CPUExecutionProvider"])
        for _ in range(200):
            sess.run(None, {"x": x})
        ts = []
        for _ in range(2000):
            t0 = time.perf_counter()
            sess.run(None, {"x": x})
            ts.append(time.perf_counter() - t0)
        out[name] = 1e6 * float(np.median(ts))
    for name, fb in (("C int8", False), ("C float", True)):
        exe = compile_c(_copy_c(bundle, tmp, fb), tmp / f"run_{int(fb)}", float_build=fb)
        r = subprocess.run([str(exe), "--time-mlp", str(n)], capture_output=True, text=True, check=True)
        out[name] = float(json.loads(r.stdout)["us_per_inference"])
    return out


def _copy_c(bundle: Path, tmp: Path, fb: bool) -> Path:
    d = tmp / f"c_{int(fb)}"
    if not d.exists():
        shutil.copytree(bundle / "c", d)
    return d


def table(m: dict, ins: dict[str, dict], pitch: bool = False) -> str:
    i8, f32 = m["int8"], m["float"]
    fit = fits_target(m, "watch-m4")
    rows = [
        ("weights (bytes)", f"{m['weights_bytes_int8']:,}", f"{m['weights_bytes_fp32']:,}"),
        ("flash: code .text (bytes)", f"{i8['text_bytes']:,}", f"{f32['text_bytes']:,}"),
        ("flash: total = code + rodata + data (bytes)", f"{i8['flash_bytes']:,}", f"{f32['flash_bytes']:,}"),
        ("RAM: arena = sizeof(deepear_stream) (bytes)", f"{m['arena_bytes']:,}", f"{m['arena_bytes']:,}"),
        ("RAM: worst-case stack (bytes)", f"{i8['stack_bytes']:,}", f"{f32['stack_bytes']:,}"),
        ("RAM: total (bytes)", f"{i8['ram_bytes']:,}", f"{f32['ram_bytes']:,}"),
    ]
    if ins:
        a, b = ins["int8"], ins["float"]
        rows += [
            ("instructions per inference, MLP (trunk + heads)", f"{a['mlp_per_inference']:,.0f}",
             f"{b['mlp_per_inference']:,.0f}"),
            ("instructions per window event, whole library", f"{a['per_window']:,.0f}", f"{b['per_window']:,.0f}"),
            ("instructions per frame, front end (10 ms)", f"{a['frontend_per_frame']:,.0f}",
             f"{b['frontend_per_frame']:,.0f}"),
            ("instructions per window, statistics", f"{a['stats_per_window']:,.0f}", f"{b['stats_per_window']:,.0f}"),
        ]
        if pitch:
            rows += [("instructions per frame, of which pitch tracker (deepear_pitch_frame)",
                      f"{a['pitch_per_frame']:,.0f}", f"{b['pitch_per_frame']:,.0f}")]
        rows += [
            ("instructions per second of audio (routing off)", f"{a['per_audio_second']:,.0f}",
             f"{b['per_audio_second']:,.0f}"),
        ]
    lines = ["| | int8 build | float build (-DDEEPEAR_FLOAT) |", "|---|---:|---:|"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} |" for r in rows]
    text = "\n".join(lines) + "\n\n"
    text += (f"watch-m4 target (256 KB RAM, 1 MB flash), int8 build: RAM {fit['ram_bytes']:,} B, flash "
             f"{fit['flash_bytes']:,} B: {'fits' if fit['fits'] else 'does NOT fit'} "
             f"({fit['measured_on']} measurement).\n\n")
    text += ("Flash and RAM: " + m["method"] + "; " + m["target"] + ".")
    if m.get("arm"):
        text += f" ARM ({m['arm']['flags']}): flash {m['arm']['int8']['flash_bytes']:,} B, stack {m['arm']['int8']['stack_bytes']:,} B."
    if ins:
        a = ins["int8"]
        text += (f"\n\nInstructions: valgrind --tool=callgrind (x86-64 instructions, -O2) over the bundle's "
                 f"{a['clips']} golden clips ({a['seconds']:.1f} s, {a['frames']} frames, {a['windows']} window "
                 f"events, {a['inferences']} with inference), routing off; inclusive function totals.")
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path, help="bundle folder with c/ and golden/")
    ap.add_argument("--no-callgrind", action="store_true", help="flash/RAM only")
    ap.add_argument("--write", action="store_true", help="write the c_library section of docs/benchmarks.md")
    args = ap.parse_args()
    m = measure_c(args.bundle / "c")
    pitch = has_pitch(args.bundle)
    ins: dict[str, dict] = {}
    if not args.no_callgrind:
        if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
            raise SystemExit("valgrind / callgrind_annotate not found (use --no-callgrind)")
        with tempfile.TemporaryDirectory(prefix="deepear-cbench-") as t:
            for name, fb in (("int8", False), ("float", True)):
                ins[name] = count_instructions(args.bundle, fb, Path(t))
    text = (f"## C library: flash, RAM, instructions and latency\n\nC library of "
            f"`{args.bundle.as_posix().rstrip('/')}`.\n\n" + table(m, ins, pitch))
    with tempfile.TemporaryDirectory(prefix="deepear-clat-") as t:
        lat = latency_batch1(args.bundle, Path(t))
    text += ("\n\nLatency of the network alone at batch 1 on this machine's CPU (one core; onnxruntime: median of "
             "2000 runs on a real window, 1 intra-op thread; C: CPU time of `deepear_run --time-mlp 20000`, "
             "portable C99 at -O2 without SIMD intrinsics):\n\n| onnxruntime fp32 | onnxruntime int8 | C int8 | "
             "C float |\n|---:|---:|---:|---:|\n| " + " | ".join(f"{lat[k]:.0f} us" for k in
                                                        ("onnxruntime fp32", "onnxruntime int8", "C int8", "C float"))
             + " |")
    if pitch:
        with tempfile.TemporaryDirectory(prefix="deepear-cpitch-") as t:
            pl = pitch_latency(args.bundle, Path(t))
        text += ("\n\nPitch tracker of the C library (the front end sets pitch_stats): CPU time of "
                 f"`deepear_run --time-pitch 20000`, one core: {pl['voiced']:.1f} us per voiced frame (150 Hz "
                 f"harmonic tone), {pl['noise']:.1f} us per noise frame (every lag searched); at 100 frames per second "
                 f"the worst case is {pl['noise'] * 100 / 1e4:.2f}% of this core in real time.")
        if ins:
            a = ins["int8"]
            text += (f" Instructions (callgrind, golden clips): {a['pitch_per_frame']:,.0f} per frame for the tracker "
                     f"of {a['frontend_per_frame']:,.0f} for the whole front end "
                     f"({a['pitch_per_frame'] / max(a['frontend_per_frame'], 1):.0%}).")
    print(text)
    if args.write:
        from bench.report import write_section
        write_section("c_library", text)


if __name__ == "__main__":
    main()
