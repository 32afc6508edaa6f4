"""How onnxruntime computes the bundle's int8 graph with each weight encoding: exactness and latency, one core.

    .venv/bin/python bench/int8_encoding.py [--bundle exported/deepear-4task] [--clips 160] [--write]

`MatMulInteger` with uint8 activations (int8 code + 128) and int8 weights runs onnxruntime's u8 x s8 kernel,
which on x86 CPUs with AVX2 but no VNNI adds pairs of products in int16 with saturation; with uint8 weights
(code + 128, zero point 128: what `deepear export` writes since November 2026) it runs the u8 x u8 kernel,
which is exact. Both graphs hold the same codes and scales. On the 1.28 s windows of real clips (ESC-10 and
RAVDESS, the bundle's own front end) this measures each encoding's top-1 agreement and largest logit difference
with the exact integer arithmetic (the graph interpreted node by node in numpy, int64 products), and latency
at batch 1 and 256 (median of 5 interleaved rounds, each the median of 300 / 30 runs; onnxruntime and BLAS on one thread). fp32 (model.onnx) is the baseline. Writes the "int8_encoding"
section of docs/benchmarks.md with --write.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"  # one core, before numpy is imported

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.report import write_section  # noqa: E402
from deepear.audio.frontend import analyze, summarize  # noqa: E402
from deepear.audio.io import load_audio  # noqa: E402
from deepear.cli import default_data_root  # noqa: E402
from deepear.runtime.bundle import load_bundle  # noqa: E402


def real_windows(bundle_dir: Path, root: Path, n_clips: int) -> np.ndarray:
    """(N, input_dim) float32 vectors of the bundle's 1.28 s windows (non-silent) of n_clips real clips."""
    b = load_bundle(bundle_dir)
    g = min(b.groups, key=lambda grp: grp.window_s)
    esc = sorted((root / "esc10").rglob("*.flac"))
    rav = sorted((root / "ravdess").rglob("*.flac"))
    if not esc or not rav:
        raise SystemExit(f"need ESC-10 and RAVDESS under {root} (deepear data list says where they are looked for)")
    files = [f for pair in zip(esc[::max(1, len(esc) // n_clips)], rav[::max(1, len(rav) // n_clips)])
             for f in pair][:n_clips]
    xs = []
    for f in files:
        w = summarize(analyze(load_audio(f), b.front_end, b.voicing_model), b.front_end, g.window_s, g.hop_s)
        xs.append(w.x[~w.silent])
    return np.concatenate(xs).astype(np.float32)


def reference(model) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """The int8 graph interpreted in numpy, node by node, with int64 products (exact): {output: logits}."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    nodes = list(model.graph.node)

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        v = {"x": x.astype(np.float32)}
        for n in nodes:
            a = [v[i] if i in v else inits.get(i) for i in n.input]
            if n.op_type == "Sub":
                out = (a[0] - a[1]).astype(np.float32)
            elif n.op_type == "Div":
                out = (a[0] / a[1]).astype(np.float32)
            elif n.op_type == "QuantizeLinear":
                out = np.clip(np.rint(a[0] / a[1]) + a[2].astype(np.int32), 0, 255).astype(np.uint8)
            elif n.op_type == "MatMulInteger":
                bz = a[3].astype(np.int64) if len(a) > 3 and a[3] is not None else 0
                out = ((a[0].astype(np.int64) - a[2].astype(np.int64)) @ (a[1].astype(np.int64) - bz)).astype(np.int32)
            elif n.op_type == "Add":
                out = a[0] + a[1]
            elif n.op_type == "Cast":
                out = a[0].astype(np.float32)
            elif n.op_type == "Mul":
                out = (a[0] * a[1]).astype(np.float32)
            elif n.op_type == "Sigmoid":
                out = (1.0 / (1.0 + np.exp(-a[0].astype(np.float64)))).astype(np.float32)
            elif n.op_type == "Relu":
                out = np.maximum(a[0], 0)
            elif n.op_type == "Tanh":
                out = np.tanh(a[0])
            else:
                raise SystemExit(f"reference: unexpected op {n.op_type}")
            v[n.output[0]] = out
        return {o.name: v[o.name] for o in model.graph.output}
    return run


def latency(sess, x: np.ndarray, batch: int, runs: int) -> float:
    """Median ms of `runs` calls on the first `batch` windows."""
    xb = np.ascontiguousarray(x[:batch])
    name = sess.get_inputs()[0].name
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {name: xb})
        ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=REPO / "exported" / "deepear-4task")
    ap.add_argument("--clips", type=int, default=160)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    import onnx
    import onnxruntime as ort

    x = real_windows(args.bundle, default_data_root(), args.clips)
    if len(x) < 256:
        raise SystemExit(f"only {len(x)} non-silent windows; raise --clips")
    new = onnx.load(str(args.bundle / "model.int8.onnx"))
    from deepear.runtime.int8_graph import exact_u8u8, legacy_u8s8
    exact_u8u8(new)                                   # a bundle exported before the change: re-encoded first
    graphs = {"fp32 (model.onnx)": onnx.load(str(args.bundle / "model.onnx")),
              "int8, weights uint8 + 128 (u8 x u8 kernel)": new,
              "int8, weights int8 (u8 x s8 kernel; before Nov 2026)": legacy_u8s8(new)}
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sessions = {k: ort.InferenceSession(g.SerializeToString(), so, providers=["CPUExecutionProvider"])
                for k, g in graphs.items()}
    exact = reference(new)(x)
    rows = []
    lat = {k: {1: [], 256: []} for k in sessions}
    for _ in range(5):                                # interleaved rounds
        for k, s in sessions.items():
            lat[k][1].append(latency(s, x, 1, 300))
            lat[k][256].append(latency(s, x, 256, 30))
    for k, s in sessions.items():
        out = dict(zip([o.name for o in s.get_outputs()], s.run(None, {"x": x})))
        if k.startswith("fp32"):
            agree, diff = "-", "-"
        else:
            agree = f"{100 * min(float((out[t].argmax(1) == exact[t].argmax(1)).mean()) for t in exact):.2f}"
            diff = f"{max(float(np.abs(out[t] - exact[t]).max()) for t in exact):.3g}"
        rows.append(f"| {k} | {agree} | {diff} | {np.median(lat[k][1]):.3f} | {np.median(lat[k][256]):.2f} |")
    cpu_flags = ""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
        cpu_flags = ", ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f in flags)
    except (OSError, StopIteration):
        pass
    body = "\n".join([
        "## int8 graph encodings in onnxruntime", "",
        f"Bundle `{args.bundle.relative_to(REPO) if args.bundle.is_relative_to(REPO) else args.bundle}`, "
        f"{len(x)} non-silent 1.28 s windows of {args.clips} real clips (ESC-10, RAVDESS). Top-1 agreement: the "
        "lowest over the bundle's tasks, against the exact integer arithmetic of the same codes and scales (numpy); "
        "latency: median ms, one thread. CPU flags: " + (cpu_flags or "unknown") + ".", "",
        "| graph | top-1 = exact (%) | max abs logit diff | batch 1 (ms) | batch 256 (ms) |",
        "|---|---:|---:|---:|---:|", *rows])
    print(body)
    if args.write:
        write_section("int8_encoding", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
