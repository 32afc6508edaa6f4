"""One recipe, end to end: data -> protocol runs -> pre-training -> fine-tuning -> evaluation -> run folder.

    exp = Experiment(recipe, data_root, runs_root=Path("runs"))
    metrics = exp.run()        # every protocol run of the recipe, resumable, results in runs/<name>/<seed>/

Run folder layout (`runs/<recipe name>/<seed>/`):
    recipe.yaml, environment.json        resolved recipe, package versions, git commit
    labels.json                          label maps (task -> ordered labels)
    metrics.json, MODEL_CARD.md          aggregated over protocol runs; DONE marker when complete
    plots/*.png                          confusion matrices, noise curves, training curves, RBM errors
    <run>/                               one folder per protocol run (fold0 ... speaker):
        log.jsonl, checkpoint.pt          per-epoch log, resumable training state
        model.pt                          best model (config + state dict + input normalisation)
        metrics.json                      this run's test metrics (+ baselines), DONE marker
An interrupted `deepear train` resumes: finished protocol runs are skipped, an unfinished one continues
from its last epoch checkpoint (the data are rebuilt from the feature cache, identically).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, ContextManager, Sequence

import numpy as np
import torch

from deepear.audio.features import mfcc_from_log_mel
from deepear.data import catalog
from deepear.data.adaptation import SpeakerAdapter
from deepear.data.cache import FeatureCache
from deepear.data.clips import Clip
from deepear.data.mixing import NoiseBank
from deepear.data.protocol import RunSplit, make_split, subsample_labelled
from deepear.data.taskmap import load_taskmap
from deepear.data.windows import Builder, Job, WindowSet, unlabel_below_snr
from deepear.errors import DataError
from deepear.model import metrics as M
from deepear.model.baselines import GMMBaseline, SVMBaseline
from deepear.model.dnn import MultiTaskDNN, fit_input_norm
from deepear.model.rbm import RBMConfig, init_trunk_from_rbms, pretrain_stack
from deepear.model.train import fit, predict_log_proba
from deepear.recipe import Recipe, same_experiment
from deepear.runfolder import RunFolder

log = logging.getLogger(__name__)

ProgressFactory = Callable[[str], ContextManager[Callable[[int, int], None]]]
WINDOW_LEVEL_TASKS = ("scene",)   # evaluated per window (the runtime's decision unit); others per clip
SVM_MAX_TRAIN = 15000            # the SVM baseline's training windows per task (a stratified draw): RBF fits grow ~n^2


def _no_progress(desc: str) -> ContextManager[Callable[[int, int], None]]:
    return nullcontext(lambda done, total=None: None)


def run_seed(seed: int, *parts: object) -> list[int]:
    """Seed words for numpy/torch generators derived from the recipe seed and names (no global RNG)."""
    h = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return [int(seed)] + [int.from_bytes(h[i:i + 4], "little") for i in range(0, 12, 4)]


def cap_clips(clips: list[Clip], cap: int | None) -> list[Clip]:
    """Every k-th clip (sorted by path) so that at most `cap` remain: keeps every speaker/fold/class."""
    if cap is None or len(clips) <= cap:
        return clips
    step = int(np.ceil(len(clips) / cap))
    return sorted(clips, key=lambda c: str(c.path))[::step]


class Experiment:
    """Everything a recipe needs, loaded once: clips, label maps, noise bank, feature cache."""

    def __init__(self, recipe: Recipe, data_root: str | Path, runs_root: str | Path = "runs",
                 cache_dir: str | Path | None = None, progress: ProgressFactory | None = None,
                 workers: int = 2) -> None:
        self.recipe = recipe
        self.data_root = Path(recipe.data.root or data_root)
        self.progress = progress or _no_progress
        self.workers = workers
        self.taskmap = load_taskmap(recipe.data.taskmap)
        self.tasks = tuple(recipe.tasks)
        corpora = catalog.load_corpora(self.data_root, names=recipe.data.corpora, taskmap=self.taskmap)
        missing = [n for n in recipe.data.corpora if n not in corpora]
        if missing:
            raise DataError(f"recipe {recipe.name}: corpora {missing} not found under {self.data_root}")
        self.clips: list[Clip] = []
        for name in recipe.data.corpora:
            for c in cap_clips(corpora[name], recipe.data.max_clips_per_corpus):
                # keep only the recipe's tasks: a clip labelled for none of them is not a training clip
                self.clips.append(c.with_tasks({t: v for t, v in c.tasks.items() if t in recipe.tasks}))
        self.labels = self._label_maps()
        self.label_index = {t: {lab: i for i, lab in enumerate(v)} for t, v in self.labels.items()}
        self.cache = FeatureCache(recipe.front_end, cache_dir)
        self.bank = NoiseBank.from_data_root(self.data_root, include_synthetic=recipe.mixing.include_synthetic)
        self.task_windows = {t: (s.window_s, s.hop_s) for t, s in recipe.tasks.items()}
        self.folder = RunFolder(Path(runs_root) / recipe.name / str(recipe.seed))

    def _label_maps(self) -> dict[str, list[str]]:
        out = {}
        for t in self.tasks:
            closed = self.taskmap.labels(t)
            present = sorted({c.tasks[t] for c in self.clips if t in c.tasks})
            if not present:
                raise DataError(f"task {t}: no clip of corpora {list(self.recipe.data.corpora)} is labelled for it")
            out[t] = list(closed) if closed else present
        return out

    # ------------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Every protocol run of the recipe (skipping finished ones), then the aggregate metrics."""
        r = self.recipe
        self.folder.create(r.to_yaml(), r.hash(), compatible=lambda text: same_experiment(text, r))
        self.folder.write_json("labels.json", self.labels)
        t0 = time.perf_counter()
        per_run = {}
        for run in r.protocol.runs:
            per_run[run] = self.run_one(run)
        summary = aggregate(per_run, self.labels)
        summary.update({"recipe": r.name, "recipe_hash": r.hash(), "seed": r.seed,
                        "stress_note": STRESS_NOTE, "seconds": time.perf_counter() - t0,
                        "front_end": r.front_end.to_dict(), "params": next(iter(per_run.values()))["params"]})
        if r.adaptation.tasks:
            summary["adaptation_note"] = self.adaptation_note()
        self._write_report(summary, per_run)
        self.folder.mark_done(summary)
        return summary

    def _builder(self, bank: NoiseBank | None, keep_frames: bool = False, clips: Sequence[Clip] | None = None,
                 snrs_db: Sequence[float | None] | None = None) -> Builder:
        """Window builder; a "draw" job mixes at an SNR drawn from `snrs_db` (None: the recipe's mixing.snrs_db)."""
        snrs = tuple(s for s in (self.recipe.mixing.snrs_db if snrs_db is None else snrs_db) if s is not None) or (20.0,)
        return Builder(list(clips) if clips is not None else self.clips, self.tasks, self.label_index,
                       self.task_windows, self.recipe.front_end, self.cache, bank=bank, snrs_db=snrs,
                       workers=self.workers, keep_frames=keep_frames)

    def adapted_groups(self) -> list[int]:
        """Window-group indices (Builder.windows order) of the recipe's adapted tasks."""
        windows = sorted(set(self.task_windows.values()))
        return sorted({windows.index(self.task_windows[t]) for t in self.recipe.adaptation.tasks})

    def training_data(self, split: RunSplit, keep_frames: bool
                      ) -> tuple[WindowSet, WindowSet, np.ndarray, SpeakerAdapter | None]:
        """(train windows, validation windows, unlabelled pre-training vectors, speaker adapter or None) of a
        protocol run; with `adaptation.tasks` every set is already adapted (deepear.data.adaptation)."""
        r = self.recipe
        labelled = subsample_labelled(self.clips, split.train, r.data.fraction, r.seed)
        b = self._builder(split.train_noise, keep_frames)
        jobs = [Job(int(i)) for i in labelled]
        noisy = [i for i in labelled if self.clips[i].corpus not in r.mixing.clean_corpora]
        jobs += [Job(int(i), "draw", tuple(run_seed(r.seed, "train", self.clips[i].path, c)))
                 for c in range(r.mixing.copies) for i in noisy]
        with self.progress(f"{split.name}: training windows") as p:
            train = b.build(jobs, progress=p)
        val = self.validation_data(split)
        adapter = None
        if r.adaptation.tasks:
            a = r.adaptation
            adapter = SpeakerAdapter.fit(train, self.adapted_groups(), a.group_key, a.std_floor, a.min_windows)
            train, val = adapter.apply(train, self.clips), adapter.apply(val, self.clips)
        pre = [train.x]
        if r.pretrain.enabled:
            rest = sorted(set(split.train.tolist()) - set(labelled.tolist()))
            if rest:
                extra = b.build([Job(int(i)) for i in rest], unlabelled=True)
                pre.append((adapter.apply(extra, self.clips, drop_unknown=True) if adapter else extra).x)
            noise_clips = [Clip(path=split.train_noise.resolve(e), corpus="noise") for e in split.train_noise.entries]
            nb = self._builder(None, clips=noise_clips)
            with self.progress(f"{split.name}: noise windows (pre-training)") as p:
                noise = nb.build([Job(i) for i in range(len(noise_clips))], unlabelled=True, progress=p)
            pre.append((adapter.apply(noise, noise_clips, drop_unknown=True) if adapter else noise).x)
        if r.mixing.label_min_snr_db:      # after pre-training took every window: it uses no labels
            train = unlabel_below_snr(train, r.mixing.label_min_snr_db)
        return train, val, np.concatenate(pre), adapter

    def validation_data(self, split: RunSplit) -> WindowSet:
        """Windows of the run's validation clips (not adapted): each clip clean plus one copy mixed with training
        noise at an SNR drawn from protocol.val_snrs_db (else mixing.snrs_db), from the recipe's seed (the same
        windows every time)."""
        r = self.recipe
        vjobs = [Job(int(i)) for i in split.val]
        vjobs += [Job(int(i), "draw", tuple(run_seed(r.seed, "val", self.clips[i].path))) for i in split.val]
        with self.progress(f"{split.name}: validation windows") as p:
            return self._builder(split.train_noise, snrs_db=r.protocol.val_snrs_db or None).build(vjobs, progress=p)

    def test_data(self, split: RunSplit, snr: float | None, keep_frames: bool,
                  adapter: SpeakerAdapter | None = None) -> WindowSet:
        """Windows of the run's test clips, clean or mixed with held-out noise at `snr` dB (each held-out
        speaker adapted with their own windows of this condition when `adapter` is given)."""
        r = self.recipe
        clips = sorted({int(i) for v in split.test.values() for i in v})
        b = self._builder(split.test_noise, keep_frames)
        jobs = [Job(i) if snr is None else Job(i, float(snr), tuple(run_seed(r.seed, "test", self.clips[i].path)))
                for i in clips]
        with self.progress(f"{split.name}: test windows {M.snr_condition(snr)}") as p:
            test = b.build(jobs, progress=p)
        return adapter.apply(test, self.clips) if adapter else test

    def build_model(self) -> MultiTaskDNN:
        m = self.recipe.model
        return MultiTaskDNN(self.recipe.front_end.dim, {t: len(self.labels[t]) for t in self.tasks}, hidden=m.hidden,
                            activation=m.activation, dropout=m.dropout,
                            generator=torch.Generator().manual_seed(run_seed(self.recipe.seed, "init")[1]))

    def run_one(self, run: str) -> dict[str, Any]:
        """One protocol run: train (or resume), evaluate the model and the baselines on held-out data."""
        r = self.recipe
        sub = RunFolder(self.folder.path / run)
        if sub.is_done():
            log.info("%s: already done, skipped", run)
            return sub.read_json("metrics.json")
        sub.create(r.to_yaml(), r.hash(), compatible=lambda text: same_experiment(text, r))
        torch.set_num_threads(max(1, r.train.threads))
        split = make_split(self.clips, run, self.bank, self.tasks, r.seed, r.protocol.validation_fraction)
        sub.write_json("split.json", {**split.describe(),
                                      "test_noise": sorted({e.group for e in split.test_noise.entries}),
                                      "train_noise_types": list(split.train_noise.noise_types)})
        want_gmm = "gmm" in r.eval.baselines
        t0 = time.perf_counter()
        train, val, pre, adapter = self.training_data(split, keep_frames=want_gmm)
        if adapter is not None:
            sub.write_json("adaptation.json", adapter.to_dict())
        data_s = time.perf_counter() - t0
        model = self.build_model()
        mean, std = fit_input_norm(train.x)
        model.set_input_norm(mean, std)
        pretrain_info: dict[str, Any] = {"enabled": r.pretrain.enabled}
        resume = sub.load_checkpoint("checkpoint.pt", weights_only=False)
        if r.pretrain.enabled and resume is None:
            with self.progress(f"{run}: RBM pre-training (layer x epoch)") as p:
                pretrain_info = self.pretrain(model, pre, run, progress=p)
            sub.write_json("pretrain.json", pretrain_info)
        elif r.pretrain.enabled:
            pretrain_info = sub.read_json("pretrain.json") if sub.path_of("pretrain.json").exists() else pretrain_info
        weights = {t: s.weight for t, s in r.tasks.items()}
        with self.progress(f"{run}: fine-tuning (epochs)") as p:
            def on_epoch(rec: dict[str, Any]) -> None:
                sub.append_log(rec)
                p(rec["epoch"], r.train.epochs)

            res = fit(model, train, val, r.train, weights, seed=run_seed(r.seed, "fit", run)[1], on_epoch=on_epoch,
                      checkpoint=lambda s: sub.save_checkpoint(s, "checkpoint.pt"), resume=resume,
                      score_tasks=list(split.test))
        save_model(model, sub.path_of("model.pt"), self.labels, r, self.task_windows)
        out: dict[str, Any] = {"run": run, "split": split.describe(), "params": model.n_parameters(),
                               "train_windows": len(train), "val_windows": len(val), "pretrain_windows": int(len(pre)),
                               "data_seconds": data_s, "fit_seconds": res.seconds, "best_epoch": res.best_epoch,
                               "epochs": len(res.history), "pretrain": pretrain_info, "tasks": {}}
        base = self.fit_baselines(train, split) if r.eval.baselines else {}
        out["tasks"] = self.evaluate(model, split, base, r.eval.snrs_db, keep_frames=want_gmm, adapter=adapter)
        sub.mark_done(out)
        return out

    def evaluate(self, model: MultiTaskDNN, split: RunSplit, base: dict[str, dict[str, Any]],
                 snrs_db: Sequence[float | None], keep_frames: bool = False,
                 adapter: SpeakerAdapter | None = None) -> dict[str, Any]:
        """Test metrics of `model` (and fitted baselines) on the run's test clips at each SNR of held-out noise."""
        tasks_out: dict[str, Any] = {}
        for snr in snrs_db:
            cond = M.snr_condition(snr)
            test = self.test_data(split, snr, keep_frames=keep_frames, adapter=adapter)
            lp = predict_log_proba(model, test.x)
            for t, clip_ids in split.test.items():
                if t not in lp:
                    continue
                tr = tasks_out.setdefault(t, {"conditions": {}, "baselines": {}})
                tr["conditions"][cond] = self.report(t, test, lp[t], clip_ids)
                for bname, models in base.items():
                    if t not in models:
                        continue
                    sel = test.y[:, self.tasks.index(t)] >= 0
                    blp = np.zeros((len(test), len(self.labels[t])), np.float32)
                    if bname == "gmm":
                        blp[sel] = models[t].predict_log_proba(self._gmm_frames(test, sel))
                    else:
                        blp[sel] = models[t].predict_log_proba(test.x[sel])
                    tr["baselines"].setdefault(bname, {})[cond] = self.report(t, test, blp, clip_ids, brief=True)
        return tasks_out

    def evaluate_saved(self, snrs_db: Sequence[float | None] | None = None) -> dict[str, Any]:
        """Re-evaluate the saved best model of every finished protocol run (DNN only; baselines are
        evaluated during training). Returns aggregated metrics like `run`."""
        snrs = tuple(self.recipe.eval.snrs_db if snrs_db is None else snrs_db)
        per_run = {}
        for run in self.recipe.protocol.runs:
            path = self.folder.path / run / "model.pt"
            if not path.exists():
                raise DataError(f"{path}: no trained model; run `deepear train` on the recipe first")
            model, _ = load_model(path)
            split = make_split(self.clips, run, self.bank, self.tasks, self.recipe.seed,
                               self.recipe.protocol.validation_fraction)
            per_run[run] = {"tasks": self.evaluate(model, split, {}, snrs, adapter=self.load_adapter(run))}
        out = aggregate(per_run, self.labels)
        out["params"] = model.n_parameters()
        if self.recipe.adaptation.tasks:
            out["adaptation_note"] = self.adaptation_note()
        return out

    def adaptation_note(self) -> str:
        """What the adapted tasks' numbers assume (printed and written wherever they are reported)."""
        return (f"{', '.join(self.recipe.adaptation.tasks)}: adapted per speaker — each held-out speaker's windows "
                f"are standardised with that speaker's own unlabelled test recordings of the same condition "
                f"(docs/adaptation.md)")

    def load_adapter(self, run: str) -> SpeakerAdapter | None:
        """The speaker adapter a finished protocol run was trained with (its adaptation.json), or None."""
        if not self.recipe.adaptation.tasks:
            return None
        path = self.folder.path / run / "adaptation.json"
        if not path.exists():
            raise DataError(f"{path}: missing; the recipe adapts {list(self.recipe.adaptation.tasks)} but this run "
                            f"folder has no adapter (retrain the run)")
        return SpeakerAdapter.from_dict(RunFolder(self.folder.path / run).read_json("adaptation.json"))

    def pretrain(self, model: MultiTaskDNN, pre: np.ndarray, run: str,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Greedy RBM pre-training on unlabelled windows, copied into the trunk."""
        p = self.recipe.pretrain
        t0 = time.perf_counter()
        rng = np.random.default_rng(run_seed(self.recipe.seed, "pretrain-sample", run))
        if len(pre) > p.max_windows:
            pre = pre[np.sort(rng.choice(len(pre), p.max_windows, replace=False))]
        data = model.normalize(torch.as_tensor(pre, dtype=torch.float32)).detach()
        cfg = RBMConfig(epochs=p.epochs, batch_size=p.batch_size, k=p.k, gaussian_lr=p.lr_gaussian, lr=p.lr,
                        momentum=p.momentum, weight_decay=p.weight_decay)
        gen = torch.Generator().manual_seed(run_seed(self.recipe.seed, "pretrain", run)[1])
        total = len(model.hidden) * p.epochs
        rbms = pretrain_stack(data, model.hidden, cfg, generator=gen,
                              on_epoch=(lambda layer, epoch, err: progress(layer * p.epochs + epoch, total))
                              if progress else None)
        init_trunk_from_rbms(model, rbms)
        return {"enabled": True, "windows": int(len(pre)), "seconds": time.perf_counter() - t0,
                "recon_errors": {f"layer{i + 1}": list(map(float, r.recon_errors)) for i, r in enumerate(rbms)}}

    def fit_baselines(self, train: WindowSet, split: RunSplit) -> dict[str, dict[str, Any]]:
        """GMM / SVM per tested task, trained on the same (multi-condition) training windows."""
        out: dict[str, dict[str, Any]] = {}
        seed = self.recipe.seed
        for t in split.test:
            j = self.tasks.index(t)
            sel = train.y[:, j] >= 0
            if not sel.any():
                continue
            y = train.y[sel, j]
            n = len(self.labels[t])
            if "svm" in self.recipe.eval.baselines:
                out.setdefault("svm", {})[t] = SVMBaseline(seed=seed, max_train=SVM_MAX_TRAIN).fit(train.x[sel], y, n_classes=n)
            if "gmm" in self.recipe.eval.baselines:
                out.setdefault("gmm", {})[t] = GMMBaseline(seed=seed).fit(self._gmm_frames(train, sel), y, n_classes=n)
        return out

    def _gmm_frames(self, ws: WindowSet, sel: np.ndarray) -> list[np.ndarray]:
        """The GMM baseline's frames: MFCC (13, DCT of the same log-mel), as the classic systems used.
        (A diagonal GMM on correlated log-mel bands is clearly worse: see docs/baselines.md.)"""
        cfg = self.recipe.front_end
        if cfg.feature == "mfcc":
            return [ws.frames[i] for i in np.flatnonzero(sel)]
        mcfg = dataclasses.replace(cfg, feature="mfcc", n_mfcc=13)
        return [mfcc_from_log_mel(ws.frames[i], mcfg) for i in np.flatnonzero(sel)]

    def report(self, task: str, test: WindowSet, log_probs: np.ndarray, clip_ids: np.ndarray,
               brief: bool = False) -> dict[str, Any]:
        """Accuracy / macro-F1 / confusion of `task` on the windows of `clip_ids` (per clip or per window)."""
        j = self.tasks.index(task)
        sel = (test.y[:, j] >= 0) & np.isin(test.clip, clip_ids)
        y, lp, cl = test.y[sel, j], log_probs[sel], test.clip[sel]
        if task not in WINDOW_LEVEL_TASKS:
            ids, lp = M.aggregate_by_clip(lp, cl)
            first = {c: y[np.flatnonzero(cl == c)[0]] for c in ids}
            y = np.array([first[c] for c in ids])
            cl = ids
        rep = M.classification_report(y, lp.argmax(1), self.labels[task])
        corpora = np.array([self.clips[c].corpus for c in cl])
        rep["by_corpus"] = {c: float((lp.argmax(1)[corpora == c] == y[corpora == c]).mean())
                            for c in sorted(set(corpora))}
        if brief:
            rep.pop("per_class", None)
        return rep

    def _write_report(self, summary: dict[str, Any], per_run: dict[str, Any]) -> None:
        from deepear.model import plots
        from deepear.model.model_card import write_model_card

        plot_dir = self.folder.path / "plots"
        plot_dir.mkdir(exist_ok=True)
        for t, s in summary["tasks"].items():
            if "clean" in s.get("confusion", {}):
                plots.plot_confusion(s["confusion"]["clean"], self.labels[t],
                                     f"{M.task_title(t)} (clean, pooled over runs)", plot_dir / f"confusion_{t}.png")
        curves = {}
        for t, s in summary["tasks"].items():
            curves[f"{t} (DNN)"] = {c: v["accuracy"] for c, v in s["conditions"].items()}
            for b, conds in s.get("baselines", {}).items():
                curves[f"{t} ({b.upper()})"] = {c: v["accuracy"] for c, v in conds.items()}
        if curves:
            plots.plot_noise_curves(curves, plot_dir / "noise_robustness.png")
        for run in per_run:
            hist = RunFolder(self.folder.path / run).read_log()
            if hist:
                plots.plot_training_curves(hist, plot_dir / f"training_{run}.png")
        rbm_hist = {f"{run} {k}": v for run, m in per_run.items()
                    for k, v in (m.get("pretrain") or {}).get("recon_errors", {}).items()}
        if rbm_hist:
            from deepear.model.rbm import plot_recon_errors
            plot_recon_errors(rbm_hist, plot_dir / "rbm_reconstruction.png")
        data = [{"corpus": c, "clips": sum(1 for x in self.clips if x.corpus == c), "licence": LICENCES.get(c, "")}
                for c in self.recipe.data.corpora]
        write_model_card(self.folder.path / "MODEL_CARD.md", name=self.recipe.name, recipe_hash=self.recipe.hash(),
                         tasks=self.labels, metrics=summary, data=data, params=summary["params"],
                         notes=[STRESS_NOTE, "Accuracy is the mean over protocol runs (held-out actors / folds); "
                                "scene is scored per 1.28 s window, the other tasks per clip."]
                         + ([summary["adaptation_note"]] if "adaptation_note" in summary else []))


def save_model(model: MultiTaskDNN, path: Path, labels: dict[str, list[str]], recipe: Recipe,
               task_windows: dict[str, tuple[float, float]], extra: dict[str, Any] | None = None) -> Path:
    """Write a trained model with everything needed to use it (atomic): config, weights (incl. input
    normalisation), label maps, front end, task windows, recipe hash, SVD ranks of compressed layers."""
    from deepear.atomic import atomic_write
    from deepear.deepx.compress import svd_ranks

    blob = {"config": model.config(), "state_dict": model.state_dict(), "labels": labels,
            "front_end": recipe.front_end.to_dict(), "task_windows": task_windows,
            "recipe_hash": recipe.hash(), "recipe": recipe.to_dict(), "svd_ranks": svd_ranks(model),
            **(extra or {})}
    return atomic_write(path, lambda f: torch.save(blob, f))


def load_model(path: str | Path) -> tuple[MultiTaskDNN, dict[str, Any]]:
    """(model in eval mode, the saved metadata) from a `model.pt` written by `save_model`."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    model = MultiTaskDNN.from_config(blob["config"])
    if blob.get("svd_ranks"):
        from deepear.deepx.compress import build_compressed

        model = build_compressed(model, blob["svd_ranks"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model, blob


STRESS_NOTE = ("stress is a proxy: acted high-arousal negative emotion (angry, fearful) vs neutral/calm speech "
               "from RAVDESS; no speech-under-stress corpus is used")
LICENCES = {"ravdess": "CC BY-NC-SA 4.0", "esc10": "CC BY 3.0", "esc50_urban": "CC BY-NC 3.0",
            "fsdd": "CC BY-SA 4.0", "music": "CC BY-SA 3.0", "noise": "CC BY 4.0"}


def aggregate(per_run: dict[str, dict[str, Any]], labels: dict[str, list[str]]) -> dict[str, Any]:
    """Mean (and 95% CI) over protocol runs of every task x condition, pooled confusion, baselines."""
    tasks: dict[str, Any] = {}
    for run, m in per_run.items():
        for t, tr in m["tasks"].items():
            agg = tasks.setdefault(t, {"runs": [], "conditions": {}, "confusion": {}, "baselines": {}})
            agg["runs"].append(run)
            for cond, rep in tr["conditions"].items():
                c = agg["conditions"].setdefault(cond, {"acc": [], "f1": [], "n": 0, "by_corpus": {}})
                for corpus, a in rep.get("by_corpus", {}).items():
                    c["by_corpus"].setdefault(corpus, []).append(a)
                c["acc"].append(rep["accuracy"])
                c["f1"].append(rep["macro_f1"])
                c["n"] += rep["n"]
                conf = np.array(rep["confusion"])
                prev = agg["confusion"].get(cond)
                agg["confusion"][cond] = (conf if prev is None else np.array(prev) + conf).tolist()
            for b, conds in tr.get("baselines", {}).items():
                for cond, rep in conds.items():
                    c = agg["baselines"].setdefault(b, {}).setdefault(cond, {"acc": [], "f1": []})
                    c["acc"].append(rep["accuracy"])
                    c["f1"].append(rep["macro_f1"])
    for t, agg in tasks.items():
        for cond, c in list(agg["conditions"].items()):
            mean, ci = M.mean_and_ci(c["acc"])
            agg["conditions"][cond] = {"accuracy": mean, "ci95": ci, "macro_f1": float(np.mean(c["f1"])),
                                       "n": c["n"], "per_run": c["acc"],
                                       "by_corpus": {k: float(np.mean(v)) for k, v in c["by_corpus"].items()}}
        for b, conds in agg["baselines"].items():
            for cond, c in list(conds.items()):
                conds[cond] = {"accuracy": float(np.mean(c["acc"])), "macro_f1": float(np.mean(c["f1"])),
                               "per_run": c["acc"]}
    return {"tasks": tasks, "labels": labels}
