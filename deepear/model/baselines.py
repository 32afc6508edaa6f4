"""The specialist pipelines DeepEar was compared against, rebuilt on deepear's features and splits.

* `GMMBaseline` -- one Gaussian mixture per class over *frames* (log-mel or MFCC vectors), a clip scored by
  its average per-frame log-likelihood under each class model: the classic recipe of SoundSense (scene),
  EmotionSense (emotion), StressSense (stress) and SpeakerSense (speaker ID).
* `SVMBaseline` -- an RBF support-vector machine on the same per-window summary vector the DNN sees.

Both take exactly the arrays the DNN pipeline builds (multi-condition training copies included), are
deterministic for a given `seed`, and return log-probabilities (N, n_classes) whose rows sum to 1 after exp.
All randomness (frame / example subsampling, mixture initialisation) comes from `seed`; no global RNG.
See docs/baselines.md for what each baseline stands for and its settings.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.special import log_softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from deepear.errors import ConfigError, DataError

log = logging.getLogger(__name__)

COVARIANCE_TYPES = ("diag", "full", "tied", "spherical")
GMM_REG_COVAR = 1e-3        # added to every variance, in standardised units (features have unit variance)
GMM_MAX_ITER = 100
GMM_TOL = 1e-3
PREDICT_CHUNK_FRAMES = 65536  # frames scored at once in GMMBaseline.predict_log_proba (bounds memory)
SVM_CACHE_MB = 500.0          # libsvm kernel cache; larger trains faster, costs only memory
# The GMM's GEMMs are skinny ((K, n) @ (n, d)); multi-threaded BLAS only adds synchronisation, and on a
# shared 2-core machine it made fitting 5-8x slower (measured). EM and scoring run with this many threads.
GMM_BLAS_THREADS = 1


# Input checks ---------------------------------------------------------------------------------------------
def _check_frames(frames: Sequence[np.ndarray], where: str, n_bands: int | None = None) -> list[np.ndarray]:
    """Validate a sequence of (t_i >= 1, n_bands) frame arrays; return them as float32 arrays."""
    if isinstance(frames, np.ndarray) and frames.ndim == 2:
        raise DataError(f"{where}: expected a sequence of per-example (t_i, n_bands) frame arrays, got one "
                        f"2-D array of shape {frames.shape}; wrap a single example in a list")
    try:
        items = list(frames)
    except TypeError as e:
        raise DataError(f"{where}: expected a sequence of (t_i, n_bands) arrays, got {type(frames).__name__}") from e
    if not items:
        raise DataError(f"{where}: no examples (empty sequence of frame arrays)")
    out = []
    for i, f in enumerate(items):
        a = np.asarray(f, dtype=np.float32)
        if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
            raise DataError(f"{where}: example {i} must be a (t >= 1, n_bands >= 1) frame array, got shape {a.shape}")
        if n_bands is None:
            n_bands = a.shape[1]
        elif a.shape[1] != n_bands:
            raise DataError(f"{where}: example {i} has {a.shape[1]} bands, expected {n_bands}")
        if not np.all(np.isfinite(a)):
            raise DataError(f"{where}: example {i} contains {int(np.count_nonzero(~np.isfinite(a)))} NaN/Inf "
                            f"feature value(s)")
        out.append(a)
    return out


def _check_matrix(x: np.ndarray, where: str, dim: int | None = None) -> np.ndarray:
    """Validate an (N >= 1, D) feature matrix; return it as float32."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"{where}: expected a non-empty (N, D) feature matrix, got shape {a.shape}")
    if dim is not None and a.shape[1] != dim:
        raise DataError(f"{where}: feature vectors have {a.shape[1]} dims, the model was fitted on {dim}")
    if not np.all(np.isfinite(a)):
        bad_rows = np.flatnonzero(~np.isfinite(a).all(axis=1))
        raise DataError(f"{where}: {bad_rows.size} feature vector(s) contain NaN/Inf (first: row {bad_rows[0]})")
    return a


def _check_labels(labels: np.ndarray, n: int, n_classes: int | None, where: str) -> tuple[np.ndarray, int]:
    """Validate (n,) integer class ids in [0, n_classes); return them as int64 and n_classes."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError(f"{where}: labels must have shape ({n},) (one per example), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise DataError(f"{where}: labels must be integer class ids, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DataError(f"{where}: label {int(y.min())} is negative; class ids must be in [0, n_classes) "
                        f"(filter unlabelled examples, -1, before fitting)")
    if n_classes is None:
        n_classes = int(y.max()) + 1
    elif not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ConfigError(f"{where}: n_classes must be a positive integer, got {n_classes!r}")
    if y.max() >= n_classes:
        raise DataError(f"{where}: label {int(y.max())} is out of range for n_classes={n_classes}")
    return y, int(n_classes)


def _stratified_subsample(y: np.ndarray, max_n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most `max_n` examples, class proportions kept, every present class kept.

    Quotas: largest-remainder rounding of n_c * max_n / N, at least 1 per present class (taken from the
    largest quotas when needed). Returns all indices when len(y) <= max_n.
    """
    n = y.shape[0]
    if n <= max_n:
        return np.arange(n)
    counts = np.bincount(y)
    exact = counts * (max_n / n)
    quota = np.floor(exact).astype(np.int64)
    rest = max_n - int(quota.sum())
    if rest > 0:
        order = np.argsort(-(exact - quota), kind="stable")
        quota[order[:rest]] += 1
    present = counts > 0
    while np.any(present & (quota == 0)):
        c = int(np.flatnonzero(present & (quota == 0))[0])
        quota[int(np.argmax(quota))] -= 1
        quota[c] = 1
    quota = np.minimum(quota, counts)
    idx = [rng.choice(np.flatnonzero(y == c), size=int(q), replace=False)
           for c, q in enumerate(quota) if q > 0]
    return np.sort(np.concatenate(idx))


# GMM ------------------------------------------------------------------------------------------------------
class GMMBaseline:
    """Per-class Gaussian mixture over frames (SoundSense / EmotionSense / StressSense / SpeakerSense style).

    Training: every frame of every training example is standardised with the global per-band mean/std of
    the training frames; for each class up to `max_frames_per_class` of its frames (drawn without
    replacement by np.random.default_rng(seed)) fit one sklearn GaussianMixture (k-means init,
    reg_covar=GMM_REG_COVAR, random_state=seed). A class with fewer frames than `n_components` gets that
    many components; a class with no training frames has no model and scores -inf (probability 0).

    Scoring: an example's score for class c is the mean over its frames of log p(frame | GMM_c) (the
    SpeakerSense sum over frames, normalised by the frame count); `predict_log_proba` is the log-softmax of
    those scores over classes.
    """

    def __init__(self, n_components: int = 16, covariance_type: str = "diag", max_frames_per_class: int = 20000,
                 seed: int = 0, standardize: bool = True) -> None:
        if not isinstance(n_components, (int, np.integer)) or n_components < 1:
            raise ConfigError(f"GMMBaseline: n_components must be a positive integer, got {n_components!r}")
        if covariance_type not in COVARIANCE_TYPES:
            raise ConfigError(f"GMMBaseline: covariance_type must be one of {COVARIANCE_TYPES}, "
                              f"got {covariance_type!r}")
        if not isinstance(max_frames_per_class, (int, np.integer)) or max_frames_per_class < 1:
            raise ConfigError(f"GMMBaseline: max_frames_per_class must be a positive integer, "
                              f"got {max_frames_per_class!r}")
        self.n_components = int(n_components)
        self.covariance_type = covariance_type
        self.max_frames_per_class = int(max_frames_per_class)
        self.seed = int(seed)
        self.standardize = bool(standardize)
        self.n_classes: int | None = None
        self.n_bands: int | None = None
        self.mean_: np.ndarray | None = None      # (n_bands,) float64
        self.std_: np.ndarray | None = None       # (n_bands,) float64
        self.models_: list[GaussianMixture | None] = []
        self.frames_per_class_: np.ndarray | None = None   # (n_classes,) training frames each model used

    def fit(self, frames: Sequence[np.ndarray], labels: np.ndarray, n_classes: int | None = None) -> "GMMBaseline":
        """Fit one mixture per class.

        Args:
            frames: N arrays, frames[i] (t_i >= 1, n_bands) float32 frame features of training example i.
            labels: (N,) int class ids in [0, n_classes).
            n_classes: number of classes; default labels.max() + 1.
        Returns: self. Raises DataError on empty data, mismatched shapes, NaN/Inf or out-of-range labels.
        """
        items = _check_frames(frames, "GMMBaseline.fit frames")
        y, n_cls = _check_labels(labels, len(items), n_classes, "GMMBaseline.fit labels")
        lengths = np.array([a.shape[0] for a in items], dtype=np.int64)
        x = np.concatenate(items, axis=0)
        frame_y = np.repeat(y, lengths)
        self.n_bands = int(x.shape[1])
        self.n_classes = n_cls
        if self.standardize:
            mean = x.mean(axis=0, dtype=np.float64)
            std = x.std(axis=0, dtype=np.float64)
            self.mean_, self.std_ = mean, np.where(std > 1e-8, std, 1.0)
        else:
            self.mean_, self.std_ = np.zeros(self.n_bands), np.ones(self.n_bands)
        rng = np.random.default_rng(self.seed)
        self.models_ = []
        used = np.zeros(n_cls, dtype=np.int64)
        for c in range(n_cls):
            idx = np.flatnonzero(frame_y == c)
            if idx.size == 0:
                log.warning("GMMBaseline: class %d has no training frames; it will score -inf", c)
                self.models_.append(None)
                continue
            if idx.size > self.max_frames_per_class:
                idx = np.sort(rng.choice(idx, size=self.max_frames_per_class, replace=False))
            xc = self._transform(x[idx])
            k = min(self.n_components, xc.shape[0])
            gmm = GaussianMixture(n_components=k, covariance_type=self.covariance_type, reg_covar=GMM_REG_COVAR,
                                  max_iter=GMM_MAX_ITER, tol=GMM_TOL, init_params="kmeans",
                                  random_state=self.seed)
            with threadpool_limits(limits=GMM_BLAS_THREADS, user_api="blas"), warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)   # reported through logging below
                gmm.fit(xc)
            if not gmm.converged_:
                log.info("GMMBaseline: class %d mixture did not converge in %d EM iterations", c, GMM_MAX_ITER)
            self.models_.append(gmm)
            used[c] = xc.shape[0]
        self.frames_per_class_ = used
        log.info("GMMBaseline: fitted %d class mixtures (%d components, %s) on %d of %d frames",
                 sum(m is not None for m in self.models_), self.n_components, self.covariance_type,
                 int(used.sum()), x.shape[0])
        return self

    def _transform(self, x: np.ndarray) -> np.ndarray:
        """Standardise frames; float32 (EM in float32 is ~2x faster than float64 here, same iterations)."""
        return ((x - self.mean_) / self.std_).astype(np.float32)

    def _require_fitted(self, where: str) -> None:
        if self.n_classes is None:
            raise DataError(f"{where}: the model is not fitted; call fit() first")

    def frame_scores(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Mean per-frame log-likelihood of each example under each class mixture, (N, n_classes) float64.

        Classes without a model score -inf. Scored in chunks of about PREDICT_CHUNK_FRAMES frames.
        """
        self._require_fitted("GMMBaseline.predict")
        items = _check_frames(frames, "GMMBaseline.predict frames", self.n_bands)
        lengths = np.array([a.shape[0] for a in items], dtype=np.int64)
        out = np.full((len(items), self.n_classes), -np.inf)
        start = 0
        while start < len(items):
            stop, total = start + 1, int(lengths[start])   # chunk of whole examples
            while stop < len(items) and total + lengths[stop] <= PREDICT_CHUNK_FRAMES:
                total += int(lengths[stop])
                stop += 1
            x = self._transform(np.concatenate(items[start:stop], axis=0))
            offsets = np.concatenate(([0], np.cumsum(lengths[start:stop])[:-1]))
            with threadpool_limits(limits=GMM_BLAS_THREADS, user_api="blas"):
                for c, gmm in enumerate(self.models_):
                    if gmm is not None:
                        ll = gmm.score_samples(x).astype(np.float64)
                        out[start:stop, c] = np.add.reduceat(ll, offsets) / lengths[start:stop]
            start = stop
        return out

    def predict_log_proba(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Log-probabilities (N, n_classes) float64: log-softmax over classes of `frame_scores`."""
        return log_softmax(self.frame_scores(frames), axis=1)

    def predict(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Most likely class id of each example, (N,) int64."""
        return np.argmax(self.frame_scores(frames), axis=1).astype(np.int64)

    def n_parameters(self) -> int:
        """Stored numbers of the fitted model: mixture weights, means and covariances of every class
        (diag: K*d variances, full: K*d*(d+1)/2, tied: d*(d+1)/2, spherical: K), plus the 2*d
        standardisation constants when standardize=True."""
        self._require_fitted("GMMBaseline.n_parameters")
        d = int(self.n_bands)
        total = 2 * d if self.standardize else 0
        for gmm in self.models_:
            if gmm is None:
                continue
            k = gmm.n_components
            cov = {"diag": k * d, "full": k * d * (d + 1) // 2, "tied": d * (d + 1) // 2,
                   "spherical": k}[self.covariance_type]
            total += k + k * d + cov
        return total


# SVM ------------------------------------------------------------------------------------------------------
class SVMBaseline:
    """RBF support-vector machine on the per-window summary vector (the DNN's input), standardised inside.

    A sklearn Pipeline(StandardScaler, SVC(probability=False, decision_function_shape="ovr")) fitted on at
    most `max_train` examples (a stratified draw by np.random.default_rng(seed): class proportions kept,
    every class kept). `predict_log_proba` is the log-softmax of the one-vs-rest decision values (libsvm's
    one-vs-one votes plus a bounded confidence term; for two classes, [-d/2, +d/2] of the signed distance
    d): scores for ranking and argmax, not calibrated probabilities. Classes absent from the training data
    get -inf. `predict` is the argmax of the same scores (sklearn's break_ties=True rule).
    """

    def __init__(self, C: float = 10.0, gamma: str | float = "scale", kernel: str = "rbf",
                 class_weight: str | None = "balanced", max_train: int = 30000, seed: int = 0) -> None:
        if not C > 0:
            raise ConfigError(f"SVMBaseline: C must be positive, got {C!r}")
        if kernel not in ("rbf", "linear", "poly", "sigmoid"):
            raise ConfigError(f"SVMBaseline: kernel must be rbf, linear, poly or sigmoid, got {kernel!r}")
        if isinstance(gamma, str):
            if gamma not in ("scale", "auto"):
                raise ConfigError(f"SVMBaseline: gamma must be 'scale', 'auto' or a positive number, got {gamma!r}")
        elif not gamma > 0:
            raise ConfigError(f"SVMBaseline: gamma must be 'scale', 'auto' or a positive number, got {gamma!r}")
        if class_weight not in ("balanced", None):
            raise ConfigError(f"SVMBaseline: class_weight must be 'balanced' or None, got {class_weight!r}")
        if not isinstance(max_train, (int, np.integer)) or max_train < 2:
            raise ConfigError(f"SVMBaseline: max_train must be an integer >= 2, got {max_train!r}")
        self.C = float(C)
        self.gamma = gamma
        self.kernel = kernel
        self.class_weight = class_weight
        self.max_train = int(max_train)
        self.seed = int(seed)
        self.n_classes: int | None = None
        self.dim: int | None = None
        self.pipeline_: Pipeline | None = None   # fitted StandardScaler + SVC
        self.gamma_: float | None = None         # the RBF width actually used
        self.n_train_: int = 0

    def fit(self, X: np.ndarray, y: np.ndarray, n_classes: int | None = None) -> "SVMBaseline":
        """Fit on summary vectors.

        Args:
            X: (N, D) float32 per-window summary vectors (raw; standardised inside).
            y: (N,) int class ids in [0, n_classes).
            n_classes: number of classes; default y.max() + 1.
        Returns: self. Raises DataError on empty data, mismatched shapes, NaN/Inf, out-of-range labels or
            fewer than two distinct classes.
        """
        x = _check_matrix(X, "SVMBaseline.fit X")
        labels, n_cls = _check_labels(y, x.shape[0], n_classes, "SVMBaseline.fit y")
        present = np.unique(labels)
        if present.size < 2:
            raise DataError(f"SVMBaseline.fit y: needs at least 2 distinct classes, got only class {present.tolist()}")
        idx = _stratified_subsample(labels, self.max_train, np.random.default_rng(self.seed))
        scaler = StandardScaler().fit(x[idx])
        xs = scaler.transform(x[idx])
        gamma = self._resolve_gamma(xs)
        svc = SVC(C=self.C, kernel=self.kernel, gamma=gamma, class_weight=self.class_weight,
                  decision_function_shape="ovr", cache_size=SVM_CACHE_MB, random_state=self.seed)
        svc.fit(xs, labels[idx])
        pipe = Pipeline([("scale", scaler), ("svc", svc)])
        missing = sorted(set(range(n_cls)) - set(svc.classes_.tolist()))
        if missing:
            log.warning("SVMBaseline: classes %s have no training examples; they will score -inf", missing)
        self.pipeline_, self.n_classes, self.dim, self.n_train_ = pipe, n_cls, int(x.shape[1]), int(idx.size)
        self.gamma_ = gamma
        log.info("SVMBaseline: fitted on %d of %d examples, %d support vectors", idx.size, x.shape[0],
                 int(svc.n_support_.sum()))
        return self

    def _resolve_gamma(self, xs: np.ndarray) -> float:
        """The RBF width as a number: sklearn's 'scale' = 1 / (D * var(scaled X)), 'auto' = 1 / D."""
        if self.gamma == "scale":
            var = float(xs.var())
            return 1.0 / (xs.shape[1] * var) if var > 0 else 1.0
        if self.gamma == "auto":
            return 1.0 / xs.shape[1]
        return float(self.gamma)

    def decision_scores(self, X: np.ndarray) -> np.ndarray:
        """One-vs-rest decision values (N, n_classes) float64; classes absent in training get -inf.

        Multi-class: sklearn's ovr transform of the one-vs-one values (votes + a confidence term in
        (-1/3, 1/3)); two classes: [-d/2, +d/2] of the signed decision value d (positive -> the second).
        For kernel="rbf" the one-vs-one values are computed here with BLAS (kernel rows in chunks, equal
        to SVC.decision_function to ~1e-9 and tens of times faster than libsvm's per-pair loop); other
        kernels use SVC.decision_function.
        """
        if self.pipeline_ is None:
            raise DataError("SVMBaseline.predict: the model is not fitted; call fit() first")
        x = _check_matrix(X, "SVMBaseline.predict X", self.dim)
        svc = self.pipeline_.named_steps["svc"]
        xs = self.pipeline_.named_steps["scale"].transform(x)
        classes = svc.classes_
        if self.kernel == "rbf":
            ovo = _rbf_ovo_decision(xs, svc, self.gamma_)
            d = ovo[:, 0] if classes.size == 2 else _ovr_from_ovo(ovo, classes.size)
        else:
            d = np.asarray(svc.decision_function(xs), dtype=np.float64)
        if d.ndim == 1:                       # two classes: signed distance, positive -> classes[1]
            d = np.stack([-0.5 * d, 0.5 * d], axis=1)
        out = np.full((x.shape[0], self.n_classes), -np.inf)
        out[:, classes] = d
        return out

    def predict_log_proba(self, X: np.ndarray) -> np.ndarray:
        """Log-probabilities (N, n_classes) float64: log-softmax of `decision_scores` (not calibrated)."""
        return log_softmax(self.decision_scores(X), axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most likely class id of each example, (N,) int64."""
        return np.argmax(self.decision_scores(X), axis=1).astype(np.int64)

    def n_parameters(self) -> int:
        """Stored numbers of the fitted model: support vectors (n_SV * D), dual coefficients
        (n_SV * (n_classes_trained - 1)), pairwise intercepts, and the scaler's 2*D constants. For
        kernel="linear" the primal form instead: coef_ (n_pairs * D) + intercepts + 2*D."""
        if self.pipeline_ is None:
            raise DataError("SVMBaseline.n_parameters: the model is not fitted; call fit() first")
        svc = self.pipeline_.named_steps["svc"]
        scaler = 2 * int(self.dim)
        if self.kernel == "linear":
            return int(svc.coef_.size + svc.intercept_.size) + scaler
        return int(svc.support_vectors_.size + svc.dual_coef_.size + svc.intercept_.size) + scaler


SVM_KERNEL_CHUNK = 1 << 22   # kernel entries (rows x support vectors) computed at once in _rbf_ovo_decision


def _rbf_ovo_decision(xs: np.ndarray, svc: SVC, gamma: float) -> np.ndarray:
    """One-vs-one decision values of a fitted RBF SVC for scaled inputs xs (N, D), (N, n_pairs) float64.

    Pairs (i, j), i < j, in sklearn's order (0,1), (0,2), ..., (1,2), ...; for more than two classes a
    positive value votes for i (libsvm's convention); for two classes the value is sklearn's
    decision_function (positive -> classes_[1]). Uses only SVC's public attributes: with K the RBF kernel
    between xs and the support vectors, pair (i, j) = K[:, SV_i] @ dual_coef_[j-1, SV_i]
    + K[:, SV_j] @ dual_coef_[i, SV_j] + intercept_[pair].
    """
    sv = np.asarray(svc.support_vectors_, dtype=np.float64)
    coef = np.asarray(svc.dual_coef_, dtype=np.float64)         # (n_classes - 1, n_SV)
    bounds = np.concatenate(([0], np.cumsum(svc.n_support_)))
    n_cls = int(svc.classes_.size)
    pairs = [(i, j) for i in range(n_cls) for j in range(i + 1, n_cls)]
    sv_sq = np.einsum("ij,ij->i", sv, sv)
    out = np.empty((xs.shape[0], len(pairs)))
    step = max(1, SVM_KERNEL_CHUNK // max(1, sv.shape[0]))
    for a in range(0, xs.shape[0], step):
        xb = np.asarray(xs[a:a + step], dtype=np.float64)
        d2 = np.einsum("ij,ij->i", xb, xb)[:, None] + sv_sq[None, :] - 2.0 * (xb @ sv.T)
        np.maximum(d2, 0.0, out=d2)
        k = np.exp(-gamma * d2, out=d2)
        # per class c: the weighted kernel sums of its SVs, one column per other class's row of dual_coef_
        per_class = [k[:, bounds[c]:bounds[c + 1]] @ coef[:, bounds[c]:bounds[c + 1]].T for c in range(n_cls)]
        for p, (i, j) in enumerate(pairs):
            out[a:a + step, p] = per_class[i][:, j - 1] + per_class[j][:, i] + svc.intercept_[p]
    return out


def _ovr_from_ovo(ovo: np.ndarray, n_classes: int) -> np.ndarray:
    """sklearn's ovr transform of one-vs-one values (N, n_pairs) -> (N, n_classes): votes + confidence/(3(|c|+1))."""
    votes = np.zeros((ovo.shape[0], n_classes))
    conf = np.zeros((ovo.shape[0], n_classes))
    p = 0
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            d = ovo[:, p]
            conf[:, i] += d
            conf[:, j] -= d
            votes[:, i] += d >= 0
            votes[:, j] += d < 0
            p += 1
    return votes + conf / (3.0 * (np.abs(conf) + 1.0))
