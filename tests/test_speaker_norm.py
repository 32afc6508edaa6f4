"""Per-speaker adaptation at run time: deepear.audio.speaker_norm, bundles that carry it, the Python runtime."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bundle_fixture import build_bundle
from deepear.audio.io import load_audio
from deepear.audio.speaker_norm import AdaptationSpec, RunningSpeakerStats, standardize
from deepear.errors import ConfigError
from deepear.runtime.bundle import BundleError


def _spec(d: int = 6, prior: int = 4) -> AdaptationSpec:
    rng = np.random.default_rng(0)
    return AdaptationSpec(("emotion",), 5.0, 5.0, rng.normal(size=d).astype(np.float32),
                          (1.0 + rng.random(d)).astype(np.float32), 0.1, prior)


def test_a_new_profile_is_the_identity():
    spec = _spec()
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_allclose(RunningSpeakerStats(spec).apply(x), x, rtol=1e-5, atol=1e-5)


def test_running_statistics_converge_to_the_batch_rule():
    spec = _spec(prior=4)
    rng = np.random.default_rng(2)
    xs = (3.0 + 0.5 * rng.normal(size=(20000, 6))).astype(np.float32)
    p = RunningSpeakerStats(spec)
    for x in xs:
        p.update(x)
    np.testing.assert_allclose(p.mean, xs.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(p.m2 / p.n, xs.var(axis=0), rtol=2e-3)
    batch = standardize(xs[:3], xs.mean(axis=0), xs.std(axis=0), spec.ref_mean, spec.ref_std, spec.std_floor)
    np.testing.assert_allclose(p.apply(xs[:3]), batch, rtol=1e-2, atol=2e-2)   # a prior of 4 in 20000 windows


def test_profile_round_trips_and_bad_specs_fail():
    spec = _spec()
    p = RunningSpeakerStats(spec)
    p.update(np.ones(6, np.float32))
    q = RunningSpeakerStats.from_dict(spec, json.loads(json.dumps(p.to_dict())))
    assert q.n == 1 and np.array_equal(q.mean, p.mean)
    d = spec.to_dict()
    assert AdaptationSpec.from_dict(d, 6).prior_windows == 4
    with pytest.raises(ConfigError, match="must have 7 values"):
        AdaptationSpec.from_dict(d, 7)
    with pytest.raises(ConfigError, match="ref_std finite and > 0"):
        AdaptationSpec.from_dict({**d, "ref_std": [0.0] * 6}, 6)
    with pytest.raises(ConfigError, match="malformed"):
        AdaptationSpec.from_dict({k: v for k, v in d.items() if k != "ref_mean"}, 6)


@pytest.fixture(scope="module")
def adapted_dir(tmp_path_factory):
    return build_bundle(tmp_path_factory.mktemp("adapted") / "b", adapt=True)


def test_stream_and_predict_adapt_alike_and_profiles_carry_over(adapted_dir, data_root):
    from deepear import Pipeline

    p = Pipeline.load(adapted_dir)
    assert p.bundle.adaptation is not None and p.bundle.groups[p.bundle.adapt_group].tasks == ("emotion", "speaker")
    y = np.concatenate([load_audio(data_root / "ravdess" / "Actor_01" / f"03-01-0{e}-01-01-01-01.flac")
                        for e in (1, 5, 6)] * 3)
    pred = p.predict(y, 16000)
    s = p.stream()
    events = []
    for i in range(0, len(y), 1600):
        events += s.push(y[i:i + 1600])
    events += s.flush()
    key = [(e.task, e.t_start, e.label, e.status) for e in events]
    assert key == [(e.task, e.t_start, e.label, e.status) for e in pred.windows]
    for a, b in zip(events, pred.windows):
        if a.probabilities:
            assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)
    voiced5 = sum(1 for e in pred.windows if e.task == "emotion" and e.status == "ok")
    assert s.profile.n == voiced5 > 0                    # only voiced, non-silent windows of the group count
    # a profile passed in keeps learning across clips and changes the result of the same clip
    prof = p.new_profile()
    first = p.predict(y, 16000, profile=prof)
    second = p.predict(y, 16000, profile=prof)
    assert prof.n == 2 * voiced5
    a = [e.probabilities["neutral"] for e in first.windows if e.task == "emotion" and e.probabilities]
    b = [e.probabilities["neutral"] for e in second.windows if e.task == "emotion" and e.probabilities]
    assert not np.allclose(a, b)
    # reset() empties the stream's own profile, keeps a profile the caller gave
    s.reset()
    assert s.profile.n == 0
    s2 = p.stream(profile=prof)
    s2.reset()
    assert s2.profile is prof and prof.n == 2 * voiced5


def test_a_bundle_without_adaptation_has_no_profile_and_a_bad_one_is_refused(adapted_dir, tmp_path):
    from deepear import Pipeline

    plain = build_bundle(tmp_path / "plain")
    assert Pipeline.load(plain).new_profile() is None
    bad = tmp_path / "bad"
    shutil.copytree(adapted_dir, bad)
    m = json.loads((bad / "manifest.json").read_text())
    m["adaptation"]["tasks"] = ["emotion"]                 # not a whole window group
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="not exactly one window group"):
        Pipeline.load(bad)


def test_batch_prior_rule_is_the_running_rule():
    spec = _spec(prior=5)
    xs = np.random.default_rng(3).normal(2.0, 0.7, size=(12, 6)).astype(np.float32)
    p = RunningSpeakerStats(spec)
    for x in xs:
        p.update(x)
    from deepear.audio.speaker_norm import prior_moments
    mu, sd = prior_moments(12, xs.mean(axis=0), xs.var(axis=0) * 12, spec.ref_mean, spec.ref_std, 5)
    rmu, rsd = p.moments()
    np.testing.assert_allclose(rmu, mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rsd, sd, rtol=1e-4)


def test_a_profile_of_another_bundle_or_for_a_plain_bundle_is_refused(adapted_dir, tmp_path):
    from deepear import Pipeline

    p = Pipeline.load(adapted_dir)
    y = np.zeros(16000, np.float32)
    alien = RunningSpeakerStats(_spec(d=p.bundle.input_dim))
    with pytest.raises(ConfigError, match="not made for this bundle"):
        p.predict(y, 16000, profile=alien)
    with pytest.raises(ConfigError, match="not made for this bundle"):
        p.stream(profile=alien)
    plain = Pipeline.load(build_bundle(tmp_path / "plain2"))
    with pytest.raises(ConfigError, match="does not adapt"):
        plain.predict(y, 16000, profile=p.new_profile())


def test_adapt_updates_only_where_asked_in_order():
    spec = _spec()
    xs = np.random.default_rng(4).normal(size=(5, 6)).astype(np.float32)
    upd = np.array([True, False, True, True, False])
    a, b = RunningSpeakerStats(spec), RunningSpeakerStats(spec)
    got = a.adapt(xs, upd)
    for i in range(5):
        if upd[i]:
            b.update(xs[i])
        np.testing.assert_array_equal(got[i], b.apply(xs[i]))
    assert a.n == b.n == 3
