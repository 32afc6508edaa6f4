"""`deepear analyze` and `deepear listen`: the runtime's command-line entry points.

    deepear analyze FILE [--bundle B] [--json] [--plot out.png] [--int8] [--no-speech-gate]
    deepear listen [--bundle B] [--device N] [--json] [--seconds S] [--smoothing K] [--int8] [--no-speech-gate]

Without --bundle the reference bundle `exported/deepear-4task` is used (next to the deepear package, then
under the working directory). `deepear.cli` calls `add_parsers(subparsers)`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import deepear

DEFAULT_BUNDLE = Path("exported") / "deepear-4task"


def default_bundle_candidates() -> list[Path]:
    """Where the reference bundle is looked for, in order."""
    out = [Path(deepear.__file__).resolve().parents[1] / DEFAULT_BUNDLE, Path.cwd().resolve() / DEFAULT_BUNDLE]
    return out[:1] if out[0] == out[1] else out


def resolve_bundle(path: Path | None) -> Path:
    """`path`, or the first reference bundle that exists; BundleError naming every path tried."""
    from deepear.runtime.bundle import BundleError

    if path is not None:
        return path
    tried = default_bundle_candidates()
    for p in tried:
        if (p / "manifest.json").is_file():
            return p
    raise BundleError("no bundle given and no reference bundle found (tried "
                      + ", ".join(str(p) for p in tried)
                      + "); pass --bundle DIR or build one with `deepear export`")


def _load(args: argparse.Namespace):
    from deepear.runtime.pipeline import Pipeline
    return Pipeline.load(resolve_bundle(args.bundle), precision="int8" if args.int8 else "fp32",
                         threads=args.threads, speech_gate=not args.no_speech_gate)


def _cmd_analyze(args: argparse.Namespace) -> int:
    from deepear.runtime import timeline

    pipe = _load(args)
    pred = pipe.predict_file(args.file)
    title = (f"{args.file}: {pred.duration_s:.2f} s, bundle {pipe.bundle.name} ({pipe.precision}), "
             f"{len(pipe.tasks)} tasks")
    if args.json:
        for line in timeline.json_lines(pred, {"file": str(args.file), "bundle": str(pipe.bundle.path),
                                               "precision": pipe.precision}):
            print(line)
    else:
        print(timeline.format_text(pred, title))
    if args.plot:
        out = timeline.plot_png(pred, args.plot, title)
        print(f"plot: {out}", file=sys.stderr)
    return 0


def _cmd_listen(args: argparse.Namespace) -> int:
    from deepear.runtime import timeline
    from deepear.runtime.sources import Microphone

    pipe = _load(args)
    device = int(args.device) if args.device is not None and str(args.device).isdigit() else args.device
    mic = Microphone(device=device, sample_rate=args.sample_rate, block_ms=args.block_ms, duration_s=args.seconds)
    stream = pipe.stream(mic, smoothing=args.smoothing)
    live = sys.stdout.isatty() and not args.json
    latest: dict[str, str] = {}
    if not args.json:
        print(f"listening on {mic.device_name!r} at {mic.sample_rate} Hz with {pipe.bundle.name} "
              f"({pipe.precision}); Ctrl-C to stop", file=sys.stderr)
    pending: list = []

    def emit(ev) -> None:
        if args.json:
            print(json.dumps({"type": "event", **ev.to_dict()}), flush=True)
        elif live:
            latest[ev.task] = timeline._cell(ev)
            st = ev.stream
            lost = f"  LOST {st.dropped_samples} samples / {st.overflows} overflows" if st and st.dropped else ""
            line = (f"{ev.t_end:8.2f} s  {timeline._sound(ev):8s} "
                    + "  ".join(latest[t] for t in pipe.tasks if t in latest) + lost)
            sys.stdout.write("\r\033[K" + line[: _width()])
            sys.stdout.flush()
        else:
            if pending and (pending[0].t_start, pending[0].t_end) != (ev.t_start, ev.t_end):
                print(timeline.format_event_line(pending), flush=True)
                pending.clear()
            pending.append(ev)

    try:
        for ev in stream:
            emit(ev)
    except KeyboardInterrupt:             # Ctrl-C: stop the device, report what the stream still holds
        mic.close()
        for ev in stream.flush():
            emit(ev)
    if pending:
        print(timeline.format_event_line(pending), flush=True)
    if live:
        sys.stdout.write("\n")
    st = stream.state
    msg = (f"stopped after {st.seconds_in:.1f} s: {st.windows} windows, {st.silent_windows} silent, "
           f"{st.inferences} inferences; lost audio: {st.dropped_samples} samples dropped, {st.overflows} overflows")
    if args.json:
        print(json.dumps({"type": "summary", "stream": st.__dict__}), flush=True)
    else:
        print(msg, file=sys.stderr)
    return 0


def _width() -> int:
    import shutil
    return max(40, shutil.get_terminal_size((120, 20)).columns - 1)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", type=Path, default=None,
                   help=f"bundle folder (default: the reference bundle {DEFAULT_BUNDLE})")
    p.add_argument("--int8", action="store_true", help="run model.int8.onnx instead of the fp32 model.onnx")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    p.add_argument("--no-speech-gate", action="store_true",
                   help="run emotion / stress / speaker ID on unvoiced windows too (an answer in loud noise, "
                        "where the voicing indicator lets fewer windows through)")
    p.add_argument("--json", action="store_true", help="JSON lines (one per event, then a summary)")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add `analyze` and `listen` to the deepear command line."""
    an = subparsers.add_parser("analyze", help="timeline of scene / emotion / stress / speaker over an audio file")
    an.add_argument("file", type=Path, help="audio file (WAV, FLAC, OGG, MP3; any rate)")
    _common(an)
    an.add_argument("--plot", type=Path, default=None, metavar="OUT.png", help="also draw the timeline to a PNG")
    an.set_defaults(func=_cmd_analyze)
    li = subparsers.add_parser("listen", help="live events from a microphone (needs pip install 'deepear[mic]')")
    _common(li)
    li.add_argument("--device", default=None, help="input device index or name (default: the system default)")
    li.add_argument("--sample-rate", type=int, default=None, help="capture rate in Hz (default: the device's)")
    li.add_argument("--block-ms", type=float, default=100.0, help="audio block length (default 100 ms)")
    li.add_argument("--smoothing", type=int, default=1, metavar="K", help="average each task's last K results")
    li.add_argument("--seconds", type=float, default=None, help="stop after this much audio (default: Ctrl-C)")
    li.set_defaults(func=_cmd_listen)
