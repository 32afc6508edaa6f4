"""`deepear export`: a trained run -> a deployable bundle (ONNX fp32 + int8, C library, golden vectors, manifest).

    report = export_bundle("runs/deepear/0", "exported/deepear-4task", data_root="../shared/datasets",
                           max_drop=0.5, int8=True, target="watch-m4")

Steps (docs/export.md): pick the protocol run's model (`speaker` when the recipe has it — every speaker of
the speaker head is then known — else the first run); optionally compress it with the SVD rank search inside
a validation accuracy budget (`max_drop` points); quantise to int8 calibrated on real training windows; write
model.onnx (fp32 of the shipped, possibly compressed, model) and model.int8.onnx and check them against torch
/ the numpy int8 reference on real test windows; generate the C library, compile it, and check it against
golden vectors computed in Python on real clips of the run's test split; measure flash and RAM; check the
target's limits; evaluate fp32 / compressed / int8 on the run's held-out test split (clean and with held-out
noise); plan the partition for every shipped device profile; write manifest.json and MODEL_CARD.md.

Everything is built in a staging folder next to the destination and renamed into place only when complete:
a failed export leaves no half bundle and an existing bundle is replaced only by a complete new one.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepear.atomic import replace_dir, staging_dir
from deepear.errors import ConfigError, DataError, DeepearError, ExportError

if TYPE_CHECKING:
    from deepear.experiment import ProgressFactory

log = logging.getLogger(__name__)

FORMAT = "deepear-bundle"
FORMAT_VERSION = 1
SPEECH_TASKS = ("emotion", "stress", "speaker")   # routed by the voicing indicator (manifest tasks[t].speech)
ONNX_PARITY_TOL = 1e-4                             # max |logit difference| fp32 ONNX vs torch
DEVICE_PROFILES = ("snapdragon800", "tegrak1", "watch_m4")
CALIBRATION_WINDOWS = 4000
GOLDEN_PER_KIND = {"ravdess": 2, "esc10": 1, "fsdd": 1}   # real clips in golden/: speech, scene, a short clip
GOLDEN_EMOTIONS = ("anger", "happiness")                  # the RAVDESS golden clips: two different emotions

GOLDEN_README = """# golden/ without audio

This bundle was exported with `--no-golden-audio`: golden.json holds the Python reference (window vectors and
per-task outputs) of real clips, and for each clip its source file under the corpora folder and the sha256
of its 16 kHz int16 PCM, but not the PCM itself (the repository holding this bundle does not redistribute
the corpora). Rebuild the PCM files from the corpora with

    python -c "from deepear.export.golden import restore_golden_audio; restore_golden_audio('BUNDLE', 'DATA_ROOT')"

(`check_golden(bundle, data_root=...)` and the tests do this on the fly).
"""



def resolve_model(run: str | Path, protocol_run: str | None = None) -> Path:
    """The model.pt to export from a run folder (runs/<recipe>/<seed>), a protocol run folder, or a model.pt."""
    p = Path(run)
    if p.is_file():
        return p
    if (p / "model.pt").exists():
        return p / "model.pt"
    if not p.is_dir():
        raise DataError(f"{p}: not a run folder or model.pt (train a recipe first: deepear train RECIPE)")
    if protocol_run:
        m = p / protocol_run / "model.pt"
        if not m.exists():
            raise DataError(f"{m}: no trained model for protocol run {protocol_run!r}")
        return m
    runs = sorted(d.name for d in p.iterdir() if (d / "model.pt").exists())
    if not runs:
        raise DataError(f"{p}: no protocol run with a model.pt inside; let `deepear train` finish (it resumes)")
    return p / ("speaker" if "speaker" in runs else runs[0]) / "model.pt"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def task_table(labels: dict[str, list[str]], task_windows: dict[str, Sequence[float]],
               tasks: Sequence[str], runtime_hops: dict[str, float | None] | None = None) -> dict[str, dict[str, Any]]:
    """The manifest's "tasks": labels, deployment window and hop, speech routing.

    The deployment hop is the recipe's `runtime_hop_s` of the task, else the window (DeepEar's duty cycle:
    back-to-back windows), not the overlapping training hop.
    """
    out = {}
    for t in tasks:
        w = float(task_windows[t][0])
        hop = float((runtime_hops or {}).get(t) or w)
        out[t] = {"labels": list(labels[t]), "window_s": w, "hop_s": hop, "speech": t in SPEECH_TASKS}
        if t == "stress":
            out[t]["note"] = "proxy: acted high-arousal negative emotion (angry, fearful) vs neutral/calm (RAVDESS)"
    return out


def window_groups(tasks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Tasks sharing (window_s, hop_s) share one feature vector and one trunk pass; sorted by window length."""
    groups: dict[tuple[float, float], list[str]] = {}
    for t, d in tasks.items():
        groups.setdefault((d["window_s"], d["hop_s"]), []).append(t)
    return [{"window_s": w, "hop_s": h, "tasks": ts} for (w, h), ts in sorted(groups.items())]


class _Evaluator:
    """Accuracy of any predictor on the exported run's held-out test split (clean and with held-out noise)."""

    def __init__(self, exp: Any, split: Any, snrs: Sequence[float | None], adapter: Any = None) -> None:
        self.exp, self.split = exp, split
        self.test = {s: exp.test_data(split, s, keep_frames=False, adapter=adapter) for s in snrs}
        self.scored = dict(split.test)
        self.notes: dict[str, str] = {}
        if split.name == "speaker":
            # the speaker run holds out RAVDESS repetition 2 of every actor: emotion and stress on those
            # recordings are a fair test of unseen recordings, but of *seen* speakers (speaker-dependent)
            for t in ("emotion", "stress"):
                if t in exp.tasks:
                    self.scored[t] = split.test["speaker"]
                    self.notes[t] = "held-out recordings (RAVDESS repetition 2) of training speakers: speaker-dependent"

    def __call__(self, predict: Callable[[np.ndarray], dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
        from deepear.model.metrics import snr_condition

        out: dict[str, dict[str, float]] = {}
        for snr, ws in self.test.items():
            lp = predict(ws.x)
            for t, ids in self.scored.items():
                if t in lp:
                    out.setdefault(t, {})[snr_condition(snr)] = float(self.exp.report(t, ws, lp[t], ids)["accuracy"])
        return out

    def test_windows(self) -> np.ndarray:
        return next(iter(self.test.values())).x


def _golden_clips(exp: Any, split: Any) -> list[Path]:
    """Real clips of the run's test split for golden/: a few per kind (speech, scene, a short FSDD digit)."""
    ids = sorted({int(i) for v in split.test.values() for i in v})
    picked: list[Path] = []
    for corpus, n in GOLDEN_PER_KIND.items():
        cand = [exp.clips[i] for i in ids if exp.clips[i].corpus == corpus]
        if not cand:   # e.g. the speaker run has no scene test: take a clip the run excluded, else any
            cand = [c for c in exp.clips if c.corpus == corpus]
        if corpus == "ravdess":
            by_emotion = [next((c for c in cand if c.tasks.get("emotion") == e), None) for e in GOLDEN_EMOTIONS]
            chosen = [c for c in by_emotion if c is not None][:n]
            if len(chosen) == n:
                picked += [c.path for c in chosen]
                continue
        step = max(1, len(cand) // max(n, 1))
        picked += [c.path for c in cand[::step][:n]]
    return picked


def export_bundle(run: str | Path, out: str | Path, *, data_root: str | Path, cache_dir: str | Path | None = None,
                  max_drop: float | None = None, int8: bool = False, target: str | None = None,
                  protocol_run: str | None = None, name: str | None = None, compile_c: bool = True,
                  cv_metrics: str | Path | None = None, golden_audio: bool = True,
                  snrs: Sequence[float | None] = (None, 10.0, 0.0), progress: ProgressFactory | None = None) -> dict[str, Any]:
    """Export a trained run as a bundle at `out` (see module docstring). Returns the manifest.

    Args:
        run: run folder (runs/<recipe>/<seed>), protocol run folder, or model.pt.
        out: bundle folder (replaced atomically when it exists).
        data_root / cache_dir: the corpora the run was trained on (calibration, evaluation, golden clips).
        max_drop: SVD rank search within this drop of mean validation accuracy (points); None = no SVD.
        int8: deploy int8 (the C build's weights, the fit check); model.int8.onnx is written either way.
        target: a name from deepear.export.targets.TARGETS; the export fails when the build does not fit.
        compile_c: compile and check the C library (needs a C compiler); False skips flash/RAM measurement.
        cv_metrics: a metrics.json of cross-validated runs of the same recipe settings to quote in the manifest
            (default: the run folder's own metrics.json).
        golden_audio: keep the golden clips' PCM in golden/; False leaves them out (golden.json records each
            clip's source under data_root and sha256; `golden.restore_golden_audio` rebuilds them) — for
            bundles committed to a repository that must not hold copies of the corpora.
    Raises: ExportError (does not fit, parity check failed), DataError (missing run or data), ConfigError.
    """
    import onnxruntime as ort
    import torch

    from deepear import __version__
    from deepear.audio.config import FrontEndConfig
    from deepear.audio.features import feature_names
    from deepear.audio.voicing import load_model as load_voicing
    from deepear.data.protocol import make_split
    from deepear.deepx.compress import count_parameters, rank_search, svd_ranks
    from deepear.deepx.onnx_export import export_onnx
    from deepear.deepx.quantize import export_int8_onnx, linear_chain, quantize_model
    from deepear.experiment import Experiment, load_model
    from deepear.model.train import predict_log_proba, window_accuracy
    from deepear.recipe import load_recipe

    t_start = time.perf_counter()
    out = Path(out)
    if target is not None:
        from deepear.export.targets import get_target

        get_target(target)              # fail on a typo before any work
    if max_drop is not None and not (0 <= max_drop <= 100):
        raise ConfigError(f"--max-drop: must be in [0, 100] points, got {max_drop}")
    model_path = resolve_model(run, protocol_run)
    run_dir = model_path.parent
    recipe_path = run_dir / "recipe.yaml"
    if not recipe_path.exists():
        recipe_path = run_dir.parent / "recipe.yaml"
    if not recipe_path.exists():
        raise DataError(f"{run_dir}: no recipe.yaml next to the model; export needs the run folder it was trained in")
    recipe = load_recipe(recipe_path)
    model, meta = load_model(model_path)
    cfg = FrontEndConfig.from_dict(meta["front_end"])
    tasks = task_table(meta["labels"], meta["task_windows"], model.task_names,
                       {t: spec.runtime_hop_s for t, spec in recipe.tasks.items()})
    log.info("exporting %s (%d parameters, tasks %s)", model_path, model.n_parameters(), list(tasks))

    exp = Experiment(recipe, data_root, runs_root=run_dir.parent.parent.parent, cache_dir=cache_dir, progress=progress)
    split = make_split(exp.clips, run_dir.name, exp.bank, exp.tasks, recipe.seed, recipe.protocol.validation_fraction)
    train, val, _, adapter = exp.training_data(split, keep_frames=False)
    scored_val = [t for t in split.test if t in model.task_names]
    adaptation = None
    if adapter is not None:   # the runtime's running rule around the training population (docs/adaptation.md)
        t0 = recipe.adaptation.tasks[0]
        adaptation = adapter.runtime_spec(recipe.adaptation.tasks, tasks[t0]["window_s"], tasks[t0]["hop_s"])

    # 1. compression (SVD rank search on the validation split, no retraining)
    full_model = model
    compression: dict[str, Any] = {"method": "none"}
    if max_drop is not None:
        def evaluate(m: Any) -> dict[str, float]:
            acc = window_accuracy(m, val)
            return {t: acc[t] for t in scored_val if t in acc}

        res = rank_search(model, evaluate, max_drop)
        model = res.model
        compression = {"method": "svd", "max_drop_points": max_drop, "ranks": res.ranks,
                       "validation_drop_points": res.drop, "reduction": res.reduction,
                       "parameters_before": res.params_before, "parameters_after": count_parameters(model)}
    model.eval()

    # 2. int8, calibrated on real training windows (a seeded sample)
    rng = np.random.default_rng([recipe.seed, 8])
    calib = train.x[np.sort(rng.choice(len(train.x), min(CALIBRATION_WINDOWS, len(train.x)), replace=False))]
    q = quantize_model(model, calib)
    chain = linear_chain(model)

    # 3. accuracy of fp32 / compressed / int8 on the run's test split
    evaluator = _Evaluator(exp, split, snrs, adapter)
    accuracy = {"split": split.name, "notes": evaluator.notes,
                "fp32": evaluator(lambda x: predict_log_proba(full_model, x))}
    if max_drop is not None:
        accuracy["compressed"] = evaluator(lambda x: predict_log_proba(model, x))
    untested = [t for t in tasks if t not in accuracy["fp32"]]
    if untested:
        accuracy["not_measured"] = {t: f"the {split.name} run holds out no clip for this task; see cross_validated"
                                    for t in untested}
    cv_path = Path(cv_metrics) if cv_metrics else run_dir.parent / "metrics.json"
    if cv_metrics and not cv_path.is_file():
        raise DataError(f"--cv-metrics {cv_path}: no such file (a metrics.json written by deepear train)")
    cv = _cross_validated(cv_path)
    if cv:
        accuracy["cross_validated"] = cv
        accuracy["cross_validated_source"] = str(cv_path)

    staged = staging_dir(out)
    try:
        # 4. ONNX files, checked on real windows
        xt = evaluator.test_windows()[:2048].astype(np.float32)
        export_onnx(model, staged / "model.onnx", input_dim=cfg.dim)
        export_int8_onnx(q, staged / "model.int8.onnx")
        fp_sess, i8_sess = (_session(staged / f, ort) for f in ("model.onnx", "model.int8.onnx"))
        parity = _check_onnx(fp_sess, i8_sess, model, q, xt, torch)
        accuracy["int8"] = evaluator(lambda x: _log_proba(i8_sess, x))    # the shipped int8 file itself
        accuracy["int8_model"] = "model.int8.onnx run by onnxruntime"

        # 5. C library + golden vectors
        from deepear.export.c_codegen import write_c_library
        from deepear.export.golden import write_golden

        voicing = load_voicing(cfg.voicing.model_path or None)
        c_info = write_c_library(staged / "c", q, chain, cfg, voicing, tasks, adaptation=adaptation)
        golden_paths = _golden_clips(exp, split)
        golden_info = write_golden(staged / "golden", golden_paths, cfg, q, chain, tasks, data_root=Path(data_root),
                                   adaptation=adaptation)
        c_build: dict[str, Any] = dict(c_info)
        if compile_c:
            from deepear.export.c_build import measure_c
            from deepear.export.golden import check_golden

            c_build.update(measure_c(staged / "c"))
            check = check_golden(staged, float_build=False)
            c_build["golden_check_int8"] = check
            if not check.get("ok"):
                raise ExportError(f"the C library disagrees with Python on the golden clips: {json.dumps(check)[:800]}")
            check_f = check_golden(staged, float_build=True)
            c_build["golden_check_float"] = check_f
            if not check_f.get("ok"):
                raise ExportError(f"the float C build disagrees with Python on the golden clips: {json.dumps(check_f)[:800]}")

        if not golden_audio:
            for clip in golden_info["clips"]:
                (staged / "golden" / clip["pcm"]).unlink()
            (staged / "golden" / "README.md").write_text(GOLDEN_README)

        # 6. target fit
        precision = "int8" if int8 else "fp32"
        fit = None
        if target is not None:
            from deepear.export.targets import check_fit

            if not compile_c:
                raise ExportError("--target needs the C build measured; do not combine it with skipping the C build")
            shapes = [(lay.weight.shape[0], lay.weight.shape[1]) for lay in chain.trunk]
            heads = [(lay.weight.shape[0], lay.weight.shape[1]) for t in chain.heads for lay in chain.heads[t]]
            key = "int8" if int8 else "float"
            fit = check_fit(target, c_build[f"flash_bytes_{key}"], c_build[f"ram_bytes_{key}"], shapes, heads,
                            precision, c_build[f"code_bytes_{key}"])

        # 7. partition plans for the shipped device profiles
        plans = _partition_plans(model)

        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": name or out.name,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "deepear_version": __version__,
            "front_end": cfg.to_dict(), "voicing_model": voicing.to_dict(),
            "input": {"name": "x", "dim": cfg.dim, "feature_names": feature_names(cfg)},
            "tasks": tasks, "window_groups": window_groups(tasks),
            "adaptation": adaptation.to_dict() if adaptation is not None else None,
            "normalization": {"mean": chain.input_mean.tolist(), "std": chain.input_std.tolist()},
            "models": {"fp32": {"file": "model.onnx", "sha256": _sha256(staged / "model.onnx"), "opset": 17,
                                "outputs": "logits", "parameters": count_parameters(model)},
                       "int8": {"file": "model.int8.onnx", "sha256": _sha256(staged / "model.int8.onnx"),
                                "opset": 17, "outputs": "logits", "weight_bytes": q.nbytes()}},
            "deployment": {"precision": precision, "target": target, "fit": fit},
            "onnxruntime_version": ort.__version__, "onnx_parity": parity,
            "layers": _layers(model, chain), "svd_ranks": svd_ranks(model), "compression": compression,
            "int8": {"calibration": q.calibration,
                     "layers": [{"name": lay.name, "in_scale": lay.in_scale, "w_scale": lay.w_scale.tolist()}
                                for lay in q.layers()]},
            "c_build": c_build, "golden": golden_info, "accuracy": accuracy, "partition": plans,
            "recipe_hash": recipe.hash(), "recipe": recipe.to_dict(),
            "source": {"model": str(model_path), "protocol_run": split.name,
                       "trained_parameters": count_parameters(full_model)},
            "licences": _licences(exp),
            "export_seconds": round(time.perf_counter() - t_start, 1),
        }
        (staged / "manifest.json").write_text(json.dumps(manifest, indent=1, default=_json_default) + "\n")
        from deepear.export.model_card import render_bundle_card

        (staged / "MODEL_CARD.md").write_text(render_bundle_card(manifest))
        shutil.copy(recipe_path, staged / "recipe.yaml")
        replace_dir(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    log.info("bundle written to %s in %.1f s", out, time.perf_counter() - t_start)
    return manifest


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _session(path: Path, ort: Any) -> Any:
    """An onnxruntime session of a bundle model, one intra-op thread."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _logits(sess: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """{task: (N, C) logits} of a bundle model's session for raw windows x (N, dim)."""
    out = sess.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})
    return dict(zip([o.name for o in sess.get_outputs()], out))


def _log_proba(sess: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    from scipy.special import log_softmax

    return {t: log_softmax(z, axis=1).astype(np.float32) for t, z in _logits(sess, x).items()}


def _check_onnx(fp: Any, i8: Any, model: Any, q: Any, x: np.ndarray, torch: Any) -> dict[str, Any]:
    """fp32 ONNX vs torch (max |logit diff| <= ONNX_PARITY_TOL) and int8 ONNX vs the numpy int8 reference."""
    got = _logits(fp, x)
    with torch.no_grad():
        ref = {t: v.numpy() for t, v in model(torch.as_tensor(x)).items()}
    fp_err = max(float(np.abs(got[t] - ref[t]).max()) for t in ref)
    if fp_err > ONNX_PARITY_TOL:
        raise ExportError(f"model.onnx differs from the torch model by {fp_err:.3g} (> {ONNX_PARITY_TOL}) on real windows")
    got8 = _logits(i8, x)
    ref8 = q.predict_logits(x)
    i8_err = max(float(np.abs(got8[t] - ref8[t]).max()) for t in ref8)
    agree = min(float((got8[t].argmax(1) == ref8[t].argmax(1)).mean()) for t in ref8)
    top_fp_vs_i8 = {t: float((ref8[t].argmax(1) == ref[t].argmax(1)).mean()) for t in ref}
    if agree < 0.999:
        raise ExportError(f"model.int8.onnx and the numpy int8 reference disagree on {100 * (1 - agree):.2f}% of windows")
    return {"windows": int(len(x)), "fp32_max_abs_logit_diff": fp_err, "int8_onnx_vs_numpy_max_abs_logit_diff": i8_err,
            "int8_top1_agreement_with_fp32": top_fp_vs_i8}


def _layers(model: Any, chain: Any) -> list[dict[str, Any]]:
    """Per Linear layer of the shipped model: shape, parameters, MACs, fp32 and int8 bytes."""
    from deepear.deepx.profile import int8_weight_bytes

    rows = []
    for lay in chain.layers():
        o, i = lay.weight.shape
        rows.append({"name": lay.name, "in": int(i), "out": int(o), "activation": lay.activation,
                     "parameters": int(o * i + o), "macs": int(o * i), "fp32_bytes": int(4 * (o * i + o)),
                     "int8_bytes": int(int8_weight_bytes(i, o, True))})
    return rows


def _partition_plans(model: Any) -> dict[str, Any]:
    """The DeepX plan (alpha = beta = 1) of the shipped fp32 model on every shipped device profile."""
    from deepear.deepx.partition import plan, unit_blocks
    from deepear.deepx.processors import load_device

    blocks = unit_blocks(model, slices=2)
    out: dict[str, Any] = {}
    for name in DEVICE_PROFILES:
        dev = load_device(name)
        try:
            p = plan(blocks, dev.processors)
            d = p.to_dict()
            d.pop("blocks", None)
            out[name] = d
        except DeepearError as e:
            out[name] = {"infeasible": str(e)}
    return out


def _licences(exp: Any) -> dict[str, str]:
    from deepear.experiment import LICENCES

    return {c: LICENCES.get(c, "unknown") for c in exp.recipe.data.corpora}


def _cross_validated(p: Path) -> dict[str, Any] | None:
    """Accuracy per task and condition from a run folder's metrics.json (mean over its protocol runs, fp32)."""
    if not p.exists():
        return None
    m = json.loads(p.read_text())
    out = {}
    for t, tr in m.get("tasks", {}).items():
        out[t] = {c: {"accuracy": v.get("accuracy"), "runs": tr.get("runs")} for c, v in tr.get("conditions", {}).items()}
    return out

