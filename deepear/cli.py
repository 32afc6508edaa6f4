"""`deepear` command line. The library logs; this module shows progress bars and prints results.

    deepear [--data-root DIR] [--cache-dir DIR] [--quiet] [-v] COMMAND ...
    deepear data list                     corpora found, the path looked in, clip counts per label
    deepear data fetch NAME               download and unpack an official archive (resumable)
    deepear data cache [--recipe R]       extract and cache front-end features for every corpus (of R)
    deepear train RECIPE / eval RUN / profile / compress / partition / export RUN --out DIR
    deepear analyze FILE [--bundle B]     timeline of scene / emotion / stress / speaker of a file
    deepear listen [--bundle B]           the same, live from a microphone
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from deepear.errors import ConfigError, DeepearError

log = logging.getLogger("deepear")


def default_data_root() -> Path:
    """`$DEEPEAR_DATA`, else `data/` (relative to the working directory)."""
    return Path(os.environ.get("DEEPEAR_DATA") or "data")


def _cmd_data_list(args: argparse.Namespace) -> int:
    from deepear.data import catalog

    summ = catalog.summary(args.data_root)
    print(catalog.format_summary(summ))
    return 0


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    from deepear.data import fetch, registry
    from deepear.progress import bar

    if not args.force:
        try:
            where = registry.locate(args.name, args.data_root)
        except DeepearError:
            where = None
        if where is not None and fetch.read_marker(where) is None:
            print(f"{args.name}: already present in {where} (not downloaded by deepear); nothing fetched. "
                  f"Use --force to download the official archive and replace it.", file=sys.stderr)
            return 0
    with bar(f"fetch {args.name}", args.quiet, unit="B") as progress:
        dest = fetch.fetch_corpus(args.name, Path(args.data_root), url=args.url, progress=progress)
    print(f"{args.name}: ready in {dest}")
    return 0


def _cmd_data_cache(args: argparse.Namespace) -> int:
    from deepear.audio.config import FrontEndConfig
    from deepear.data import catalog
    from deepear.data.cache import FeatureCache
    from deepear.data.summary import corpus_feature_summary, format_feature_summary
    from deepear.progress import bar

    names = args.corpus or None
    if args.recipe is not None:   # the recipe's front end (pitch track included when it sets pitch_stats)
        from deepear.recipe import load_recipe

        if args.front_end:
            raise ConfigError("data cache: give --recipe or --front-end, not both")
        recipe = load_recipe(args.recipe)
        cfg = recipe.front_end
        names = names or list(recipe.data.corpora)
    else:
        cfg = FrontEndConfig.from_json(Path(args.front_end).read_text()) if args.front_end else FrontEndConfig()
    corpora = catalog.load_corpora(args.data_root, names=names)
    if not corpora:
        print(f"no corpus found under {args.data_root}; run `deepear data list` to see what was looked for",
              file=sys.stderr)
        return 2
    cache = FeatureCache(cfg, args.cache_dir)
    rows = []
    t0 = time.perf_counter()
    for name, clips in corpora.items():
        paths = sorted({str(c.path) for c in clips})
        with bar(f"features {name}", args.quiet) as progress:
            rep = cache.build(paths, workers=args.workers, progress=progress)
        rows.append(corpus_feature_summary(name, clips, cache, rep))
    deltas = f" + {len(cfg.delta_stats)} delta statistics" if cfg.delta_stats else ""
    deltas += f" + {len(cfg.pitch_stats)} pitch statistics" if cfg.pitch_stats else ""
    print(f"front end {cfg.hash()}: {cfg.n_mels} mel bands, {cfg.feature}, {len(cfg.stats)} statistics{deltas} "
          f"-> {cfg.dim}-dim window vectors; cache {cache.dir}")
    print(format_feature_summary(rows))
    print(f"total {time.perf_counter() - t0:.1f} s")
    bad = sum(len(r["errors"]) for r in rows)
    return 1 if bad else 0


def _cmd_train(args: argparse.Namespace) -> int:
    from deepear.experiment import Experiment
    from deepear.progress import bar
    from deepear.recipe import load_recipe
    from deepear.report import format_metrics

    recipe = load_recipe(args.recipe, overrides=args.set)
    if not args.quiet:
        print(f"# resolved recipe ({args.recipe}, hash {recipe.hash()})")
        print(recipe.to_yaml())
    exp = Experiment(recipe, args.data_root, runs_root=args.runs_dir, cache_dir=args.cache_dir,
                     progress=lambda desc: bar(desc, args.quiet), workers=args.workers)
    metrics = exp.run()
    print(format_metrics(metrics))
    print(f"run folder: {exp.folder.path}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from deepear.experiment import Experiment
    from deepear.progress import bar
    from deepear.recipe import load_recipe
    from deepear.report import format_confusions, format_metrics
    from deepear.runfolder import RunFolder

    folder = RunFolder(args.run)
    if not folder.path_of("recipe.yaml").exists():
        print(f"error: {args.run} is not a run folder (no recipe.yaml); train a recipe first", file=sys.stderr)
        return 2
    if args.snrs is None:
        metrics = folder.read_json("metrics.json")
        if metrics is None:
            print(f"error: {args.run} has no metrics.json yet: let `deepear train` finish (it resumes), or pass "
                  f"--snrs to evaluate the saved models", file=sys.stderr)
            return 2
    else:
        recipe = load_recipe(folder.path_of("recipe.yaml"))
        exp = Experiment(recipe, args.data_root, runs_root=folder.path.parent.parent, cache_dir=args.cache_dir,
                         progress=lambda desc: bar(desc, args.quiet))
        snrs = [None if s.lower() == "clean" else float(s) for s in args.snrs.split(",")]
        metrics = exp.evaluate_saved(snrs)
        folder.write_json("eval.json", metrics)
    print(format_metrics(metrics))
    if args.confusion:
        print(format_confusions(metrics))
    return 0


def _cmd_profile(args: argparse.Namespace) -> int:
    from deepear.deepx.profile import main_profile

    print(main_profile(args.path, args.json, args.repeats, args.batch))
    return 0


def _validation_setup(args: argparse.Namespace, model, model_path: Path):
    """(recipe, train windows, validation windows, evaluate) of the protocol run a saved model belongs to;
    evaluate(model) -> {task: validation accuracy} over the tasks that run tests."""
    from deepear.data.protocol import make_split
    from deepear.experiment import Experiment
    from deepear.model.train import window_accuracy
    from deepear.progress import bar
    from deepear.recipe import load_recipe

    run_dir = model_path.parent
    recipe = load_recipe(run_dir.parent / "recipe.yaml")
    exp = Experiment(recipe, args.data_root, runs_root=run_dir.parent.parent.parent, cache_dir=args.cache_dir,
                     progress=lambda d: bar(d, args.quiet))
    split = make_split(exp.clips, run_dir.name, exp.bank, exp.tasks, recipe.seed, recipe.protocol.validation_fraction)
    train, val, _, _ = exp.training_data(split, keep_frames=False)
    scored = [t for t in split.test if t in model.task_names]

    def evaluate(m):
        acc = window_accuracy(m, val)
        return {t: acc[t] for t in scored if t in acc}

    return recipe, train, val, evaluate


def _rlc_options(args: argparse.Namespace, model, model_path: Path):
    """Per-layer SVD options with their validation accuracy cost (each layer alone), for joint planning."""
    from deepear.deepx.compress import break_even_rank, rank_search
    from deepear.deepx.partition import FULL, LayerOption

    _, _, _, evaluate = _validation_setup(args, model, model_path)
    res = rank_search(model, evaluate, args.max_drop)
    options = {}
    for layer, rows in res.sensitivity.items():
        lin = model.get_submodule(layer)
        opts = [FULL] + [LayerOption(f"svd{r['rank']}", rank=int(r["rank"]), accuracy_cost=max(0.0, float(r["drop"])))
                         for r in rows if r["rank"] < break_even_rank(lin.out_features, lin.in_features)]
        options[layer] = opts
    return options, evaluate


def _cmd_partition(args: argparse.Namespace) -> int:
    import json

    from deepear.deepx.partition import baseline_plans, format_plan, plan, unit_blocks
    from deepear.deepx.processors import load_device
    from deepear.deepx.profile import resolve_model_path
    from deepear.experiment import load_model

    model_path = resolve_model_path(args.path)
    model, _ = load_model(model_path)
    device = load_device(args.device)
    options = None
    if args.max_drop is not None:
        options, evaluate = _rlc_options(args, model, model_path)
    blocks = unit_blocks(model, slices=args.slices, options=options)
    best = plan(blocks, device.processors, alpha=args.alpha, beta=args.beta, accuracy_budget=args.max_drop)
    base = baseline_plans(blocks, device.processors, alpha=args.alpha, beta=args.beta, accuracy_budget=args.max_drop)
    if options is not None:
        from deepear.deepx.compress import compress_model

        ranks = {layer: o.rank for layer, o in best.options.items() if o.rank is not None}
        acc_full, acc_plan = evaluate(model), evaluate(compress_model(model, ranks))
        drop = 100 * (sum(acc_full.values()) - sum(acc_plan.values())) / max(1, len(acc_full))
        print(f"joint compression + partition: ranks {ranks or 'none'}; estimated drop {best.accuracy_cost:.2f} "
              f"points (sum of per-layer drops), measured on validation {drop:.2f} points")
    if args.json:
        print(json.dumps({"device": device.name, "plan": best.to_dict(),
                          "baselines": {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in base.items()}},
                         indent=2))
    else:
        print(f"device {device.name}: {', '.join(p.name for p in device.processors)}")
        print(format_plan(best, base))
    return 0


def _cmd_compress(args: argparse.Namespace) -> int:
    import json

    from deepear.atomic import atomic_write_text
    from deepear.deepx.compress import count_parameters, fine_tune, plot_tradeoff, rank_search, tradeoff
    from deepear.deepx.profile import resolve_model_path
    from deepear.experiment import load_model, save_model

    model_path = resolve_model_path(args.path)
    run_dir = model_path.parent
    model, meta = load_model(model_path)
    recipe, train, val, evaluate = _validation_setup(args, model, model_path)
    scored = list(evaluate(model))

    if args.tradeoff:
        rows = tradeoff(model, evaluate, refine=args.refine)
        png = plot_tradeoff(rows, run_dir / "compression_tradeoff.png")
        atomic_write_text(run_dir / "compression_tradeoff.json", json.dumps(rows, indent=2, default=float))
        for r in rows:
            print(f"budget {r['budget']}: {r['parameters']:,} parameters ({r['reduction']:.1f}x), "
                  f"mean validation accuracy {100 * r['mean_accuracy']:.1f}%")
        print(f"plot: {png}")
    res = rank_search(model, evaluate, args.max_drop, refine=args.refine)
    out = res.model
    note = {"max_drop": args.max_drop, "validation_drop": res.drop, "reduction": res.reduction}
    if args.fine_tune:
        out = fine_tune(out, train, val, epochs=args.fine_tune, lr=3e-4, seed=recipe.seed, score_tasks=scored)
        note["fine_tuned_epochs"] = args.fine_tune
        note["fine_tuned_validation"] = evaluate(out)
    dest = run_dir / f"model.svd-{args.max_drop:g}{'-ft' if args.fine_tune else ''}.pt"
    save_model(out, dest, meta["labels"], recipe, meta["task_windows"], extra={"compression": note})
    print(f"ranks {res.ranks}")
    print(f"parameters {res.params_before:,} -> {count_parameters(out):,} ({res.reduction:.1f}x fewer); "
          f"mean validation accuracy {100 * res.mean_before:.2f}% -> {100 * res.mean_after:.2f}% "
          f"(budget {args.max_drop} points, no retraining)")
    if args.fine_tune:
        print(f"after {args.fine_tune} fine-tuning epochs: validation {note['fine_tuned_validation']}")
    print(f"saved {dest}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from deepear.export.bundle import export_bundle
    from deepear.progress import bar

    m = export_bundle(args.run, args.out, data_root=args.data_root, cache_dir=args.cache_dir, max_drop=args.max_drop,
                      int8=args.int8, target=args.target, protocol_run=args.protocol_run, name=args.name,
                      cv_metrics=args.cv_metrics, golden_audio=not args.no_golden_audio,
                      progress=lambda d: bar(d, args.quiet))
    acc = m["accuracy"]
    print(f"bundle {args.out}: {m['models']['fp32']['parameters']:,} parameters shipped "
          f"(from {m['source']['trained_parameters']:,}; {m['compression']['method']}), "
          f"deployment precision {m['deployment']['precision']}")
    for t in m["tasks"]:
        if t in acc["fp32"]:
            row = "  ".join(f"{p} {100 * acc[p][t].get('clean', float('nan')):.1f}%"
                            for p in ("fp32", "compressed", "int8") if p in acc and t in acc[p])
            print(f"  {t:8s} clean accuracy ({acc['split']} test split): {row}")
    cb = m["c_build"]
    if "flash_bytes_int8" in cb:
        print(f"  C library int8: flash {cb['flash_bytes_int8']:,} B, RAM {cb['ram_bytes_int8']:,} B; golden check ok")
    if m["deployment"]["fit"]:
        f = m["deployment"]["fit"]
        print(f"  fits {f['target']}: flash {f['flash_used_bytes']:,}/{f['flash_bytes']:,} B"
              + (f", RAM {f['ram_used_bytes']:,}/{f['ram_bytes']:,} B" if f.get("ram_bytes") else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepear", description="Multi-task audio sensing for small devices.")
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder holding the corpora (default: $DEEPEAR_DATA or data/)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="feature cache (default: $DEEPEAR_CACHE or ~/.cache/deepear)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="corpora: list, fetch, cache features")
    dsub = data.add_subparsers(dest="data_command", required=True)
    dl = dsub.add_parser("list", help="each corpus, where it was looked for, clip counts per label")
    dl.set_defaults(func=_cmd_data_list)
    df = dsub.add_parser("fetch", help="download and unpack a corpus's official archive")
    df.add_argument("name", help="corpus name (see `deepear data list`)")
    df.add_argument("--url", default=None, help="download from this address instead of the official one")
    df.add_argument("--force", action="store_true",
                    help="replace a copy of the corpus that deepear did not download itself")
    df.set_defaults(func=_cmd_data_fetch)
    dc = dsub.add_parser("cache", help="extract and cache front-end features of every corpus")
    dc.add_argument("--corpus", action="append", help="only this corpus (repeatable)")
    dc.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    dc.add_argument("--front-end", default=None, help="FrontEndConfig JSON file (default: built-in defaults)")
    dc.add_argument("--recipe", type=Path, default=None,
                    help="cache the front end (and corpora) of this recipe, e.g. recipes/deepear.yaml")
    dc.set_defaults(func=_cmd_data_cache)
    tr = sub.add_parser("train", help="train and evaluate a recipe (resumes an interrupted run)")
    tr.add_argument("recipe", type=Path, help="YAML recipe, e.g. recipes/quickstart.yaml")
    tr.add_argument("--set", action="append", default=[], metavar="KEY.SUB=VALUE",
                    help="override a recipe value (YAML syntax), repeatable")
    tr.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run folders go (default runs/)")
    tr.add_argument("--workers", type=int, default=2, help="processes for feature extraction (default 2)")
    tr.set_defaults(func=_cmd_train)
    ev = sub.add_parser("eval", help="per-task accuracy, macro-F1 and noise robustness of a trained run")
    ev.add_argument("run", type=Path, help="run folder, e.g. runs/quickstart/0")
    ev.add_argument("--snrs", default=None, metavar="clean,20,10,5,0",
                    help="re-evaluate the saved models at these SNRs of held-out noise (writes eval.json)")
    ev.add_argument("--confusion", action="store_true", help="also print the confusion matrices (clean)")
    ev.set_defaults(func=_cmd_eval)
    pr = sub.add_parser("profile", help="per-layer parameters, MACs, bytes and measured latency of a model")
    pr.add_argument("path", type=Path, help="run folder (runs/<recipe>/<seed>[/<run>]) or model.pt")
    pr.add_argument("--json", action="store_true", help="print JSON for tools instead of a table")
    pr.add_argument("--repeats", type=int, default=200, help="timed repetitions per layer (median reported)")
    pr.add_argument("--batch", type=int, default=1, help="batch size of the timed inputs")
    pr.set_defaults(func=_cmd_profile)
    co = sub.add_parser("compress", help="runtime layer compression (SVD) within an accuracy-drop budget")
    co.add_argument("path", type=Path, help="run folder (first protocol run) or <run>/model.pt")
    co.add_argument("--max-drop", type=float, default=1.0, help="allowed drop of mean validation accuracy (points)")
    co.add_argument("--fine-tune", type=int, default=0, metavar="EPOCHS", help="short fine-tune after (reported apart)")
    co.add_argument("--tradeoff", action="store_true", help="also the 0.5/1/3/5/10-point trade-off table and PNG")
    co.add_argument("--refine", action="store_true",
                    help="bisect ranks down to the validation cliff: smaller, but overfits a small validation split")
    co.set_defaults(func=_cmd_compress)
    pa = sub.add_parser("partition", help="split a model into unit blocks across a device's processors (DeepX DAD)")
    pa.add_argument("path", type=Path, help="run folder or model.pt")
    pa.add_argument("--device", default="snapdragon800", help="device profile name or YAML path")
    pa.add_argument("--alpha", type=float, default=1.0, help="weight of total energy (J) in the objective")
    pa.add_argument("--beta", type=float, default=1.0, help="weight of latency (s) in the objective")
    pa.add_argument("--slices", type=int, default=2, help="column slices per layer (unit blocks per layer)")
    pa.add_argument("--max-drop", type=float, default=None, metavar="POINTS",
                    help="joint compression + partition: let the planner pick an SVD rank per layer within this "
                         "validation accuracy budget (needs the run's data)")
    pa.add_argument("--json", action="store_true", help="print JSON instead of text")
    pa.set_defaults(func=_cmd_partition)
    ex = sub.add_parser("export", help="write a deployable bundle: ONNX fp32 + int8, C library, golden vectors, manifest")
    ex.add_argument("run", type=Path, help="run folder (runs/<recipe>/<seed>), protocol run folder or model.pt")
    ex.add_argument("--out", type=Path, required=True, help="bundle folder, e.g. exported/NAME (replaced atomically)")
    ex.add_argument("--max-drop", type=float, default=None, metavar="POINTS",
                    help="compress with the SVD rank search within this drop of mean validation accuracy")
    ex.add_argument("--int8", action="store_true", help="deploy int8 weights (C build, fit check)")
    ex.add_argument("--target", default=None, help="fail unless the C build fits: watch-m4, snapdragon800-dsp, ...")
    ex.add_argument("--run-name", dest="protocol_run", default=None,
                    help="protocol run whose model to export (default: speaker if present, else the first)")
    ex.add_argument("--name", default=None, help="bundle name in the manifest (default: the folder name)")
    ex.add_argument("--cv-metrics", type=Path, default=None, metavar="METRICS_JSON",
                    help="quote the cross-validated accuracy of this metrics.json (default: the run folder's own)")
    ex.add_argument("--no-golden-audio", action="store_true",
                    help="leave the golden clips' PCM out of golden/ (rebuilt from the corpora when checked)")
    ex.set_defaults(func=_cmd_export)
    from deepear.runtime.commands import add_parsers as add_runtime_parsers

    add_runtime_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.data_root is None:
        args.data_root = default_data_root()
    try:
        return int(args.func(args) or 0)
    except DeepearError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
