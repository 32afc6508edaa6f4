"""deepear.data.mixing: noise bank, train/test split, exact-SNR mixing, reproducibility, bad input."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import soundfile as sf

from deepear.audio.config import FrontEndConfig
from deepear.audio.features import frame_energy_db, log_mel_from_power, power_spectrum, summary_stats
from deepear.audio.io import load_audio
from deepear.audio.silence import active_frames
from deepear.data.mixing import (
    DEFAULT_ESC_NOISE_TYPES, DEFAULT_TEST_GROUPS, MixInfo, Mixer, NoiseBank, NoiseRecording,
    active_sample_mask, mix_at_snr, split_bank, synthesize)
from deepear.errors import AudioError, ConfigError, DataError

CFG = FrontEndConfig()
SNRS = [20.0, 10.0, 5.0, 0.0]
SPEECH = ["ravdess/Actor_01/03-01-05-02-01-01-01.flac", "ravdess/Actor_12/03-01-03-01-02-02-12.flac",
          "ravdess/Actor_20/03-01-01-01-01-01-20.flac"]
NOISES = ["sc_bg_noise/running_tap.flac", "sc_bg_noise/doing_the_dishes.flac",
          "esc10/002 - Rain/1-17367-A.flac", "esc10/010 - Fire crackling/1-17150-A.flac",
          "esc10/005 - Clock tick/2-127108-A.flac", "moh_music_8k/macroform-cold_day.flac"]


@pytest.fixture(scope="module")
def bank(data_root) -> NoiseBank:
    return NoiseBank.from_data_root(data_root)


@pytest.fixture(scope="module")
def mixer(bank) -> Mixer:
    return Mixer(bank, [None, *SNRS])


@pytest.fixture(scope="module")
def clips(data_root) -> list[np.ndarray]:
    return [load_audio(data_root / p) for p in SPEECH]


def measured_snr_db(clip: np.ndarray, mixed: np.ndarray, info: MixInfo) -> float:
    """SNR as defined: active-speech power of the clean clip over the power of what was added."""
    added = mixed.astype(np.float64) / 10.0 ** (info.out_gain_db / 20.0) - clip.astype(np.float64)
    act = active_sample_mask(clip, CFG)
    return 10.0 * np.log10(np.mean(clip[act].astype(np.float64) ** 2) / np.mean(added ** 2))


# Bank and split -------------------------------------------------------------------------------------------
def test_bank_reads_the_three_layouts(data_root, bank):
    summary = bank.summary()
    for t in DEFAULT_ESC_NOISE_TYPES:
        assert summary[t] == 40                       # 8 clips x 5 folds per ESC-10 class
    assert summary["music"] == 5
    assert {"running_tap", "doing_the_dishes", "exercise_bike", "dude_miaowing"} <= set(summary)
    assert "white_noise" not in summary and "pink_noise" not in summary     # generated: opt-in only
    rain = bank.get("esc10/002 - Rain/3-142005-A.flac")
    assert (rain.noise_type, rain.esc_fold, rain.group, rain.source) == ("rain", 3, "esc10/3-142005", "esc10")
    assert all(bank.resolve(e).is_file() for e in bank.entries)
    with_synth = NoiseBank.from_data_root(data_root, sources=["sc_bg_noise"], include_synthetic=True)
    assert {e.noise_type for e in with_synth.entries if e.synthetic} == {"white_noise", "pink_noise"}
    assert len(with_synth) == 6


def test_bank_errors_name_the_problem(tmp_path, data_root):
    with pytest.raises(DataError, match="sc_bg_noise.*esc10.*moh_music_8k.*not found"):
        NoiseBank.from_data_root(tmp_path)
    with pytest.raises(DataError, match="unknown source"):
        NoiseBank.from_data_root(data_root, sources=["nope"])
    with pytest.raises(DataError, match="ESC noise type"):
        NoiseBank.from_data_root(data_root, esc_noise_types=["thunder"])
    e = NoiseRecording("a.flac", "rain", "g", "esc10", esc_fold=1)
    with pytest.raises(DataError, match="listed twice"):
        NoiseBank((e, e))
    with pytest.raises(DataError, match="reserved"):
        NoiseRecording("a.flac", "clean", "g", "x")


@pytest.mark.parametrize("fold", [1, 2, 3, 4, 5])
def test_split_keeps_groups_apart_and_scene_test_clips_out_of_training(bank, fold):
    train, test = split_bank(bank, scene_test_folds={fold})
    assert len(train) + len(test) == len(bank)
    assert not {e.path for e in train.entries} & {e.path for e in test.entries}
    assert not train.groups & test.groups
    assert not any(e.esc_fold == fold for e in train.entries)
    assert all(e.esc_fold == fold for e in test.entries if e.source == "esc10")
    assert set(DEFAULT_TEST_GROUPS) & bank.groups <= test.groups
    # held-out household noise and music types are unseen in training; ESC types have held-out recordings
    assert {"running_tap", "exercise_bike"} <= set(test.noise_types) - set(train.noise_types)
    assert set(DEFAULT_ESC_NOISE_TYPES) <= set(train.noise_types) & set(test.noise_types)


def test_split_groups_move_together_and_bad_rules_raise(bank):
    a = NoiseRecording("x/1.flac", "music", "track", "moh_music_8k")
    b = NoiseRecording("x/2.flac", "music", "track", "moh_music_8k")
    c = NoiseRecording("x/3.flac", "rain", "esc10/1-1", "esc10", esc_fold=1)
    train, test = split_bank(NoiseBank((a, b, c)), scene_test_folds=set(), test_groups={"track"})
    assert [e.path for e in test.entries] == ["x/1.flac", "x/2.flac"] and len(train) == 1
    with pytest.raises(ConfigError, match="not groups of the bank"):
        split_bank(bank, scene_test_folds={5}, test_groups={"sc_bg_noise/runing_tap"})
    with pytest.raises(DataError, match="both sides"):
        split_bank(NoiseBank((c,)), scene_test_folds={1})


# SNR accuracy ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("snr", SNRS)
def test_mix_lands_within_half_a_db_of_the_requested_snr(mixer, clips, snr):
    for i, clip in enumerate(clips):
        for j, path in enumerate(NOISES):
            offset = 0.0 if path.startswith("esc10") else 3.0 + 7.0 * i + j
            y, info = mixer.apply(clip, snr, path, offset)
            assert y.dtype == np.float32 and y.shape == clip.shape
            assert info.snr_db == snr and info.noise_path == path and info.offset_s == offset
            assert abs(measured_snr_db(clip, y, info) - snr) < 0.5, (SPEECH[i], path)


def test_drawn_mixtures_hit_their_snr_with_level_augmentation_and_limiter(bank, clips):
    m = Mixer(bank, SNRS, level_db=(-12.0, 6.0), peak_limit=0.9)
    rng = np.random.default_rng(7)
    limited = 0
    for _ in range(12):
        clip = clips[int(rng.integers(len(clips)))]
        y, info = m.mix(clip, rng)
        assert abs(measured_snr_db(clip, y, info) - info.snr_db) < 0.5, info
        assert float(np.max(np.abs(y))) <= 0.9 + 1e-6
        assert info.out_gain_db <= info.level_db + 1e-9
        limited += info.out_gain_db < info.level_db - 1e-6
    assert limited > 0                                   # the limiter did act in this draw


def test_mix_at_snr_keeps_its_contract(clips, data_root):
    clip = clips[0]
    noise = load_audio(data_root / NOISES[0])[: clip.shape[0]]
    act = active_sample_mask(clip, CFG)
    for snr in SNRS:
        y = mix_at_snr(clip, noise, snr, act)
        added = y.astype(np.float64) - clip
        got = 10 * np.log10(np.mean(clip[act].astype(np.float64) ** 2) / np.mean(added ** 2))
        assert abs(got - snr) < 0.5
    whole = mix_at_snr(clip, noise, 10.0)
    got = 10 * np.log10(np.mean(clip.astype(np.float64) ** 2) / np.mean((whole - clip.astype(np.float64)) ** 2))
    assert abs(got - 10.0) < 0.5


def test_gain_matches_audiomentations_add_background_noise(mixer, clips, data_root):
    """Same noise segment, AddBackgroundNoise with frozen parameters and its whole-clip SNR converted."""
    from audiomentations import AddBackgroundNoise

    clip, path, offset, snr = clips[1], "sc_bg_noise/running_tap.flac", 12.345, 7.0
    y, info = mixer.apply(clip, snr, path, offset)
    act = active_sample_mask(clip, CFG)
    whole_vs_active_db = 10 * np.log10(np.mean(clip.astype(np.float64) ** 2)
                                       / np.mean(clip[act].astype(np.float64) ** 2))
    ref = AddBackgroundNoise(sounds_path=str(data_root / path), p=1.0)
    ref.parameters = {"should_apply": True, "snr_db": snr + whole_vs_active_db, "rms_db": 0.0,
                      "noise_file_path": str(data_root / path), "offset": offset,
                      "duration": clip.shape[0] / 16000}
    ref.freeze_parameters()
    z = ref(clip, 16000)
    assert z.shape == y.shape
    assert float(np.max(np.abs(z - y))) < 1e-4


# Reproducibility ------------------------------------------------------------------------------------------
def _run(mixer: Mixer, clips: list[np.ndarray], seed: int, n: int = 8) -> list[tuple[np.ndarray, MixInfo]]:
    rng = np.random.default_rng(seed)
    return [mixer.mix(clips[k % len(clips)], rng) for k in range(n)]


def test_one_seed_gives_identical_data_another_seed_differs(mixer, clips):
    a, b, c = _run(mixer, clips, 11), _run(mixer, clips, 11), _run(mixer, clips, 12)
    assert all(np.array_equal(x, y) and i == j for (x, i), (y, j) in zip(a, b))
    assert [i for _, i in a] != [i for _, i in c]
    assert any(not np.array_equal(x, y) for (x, _), (y, _) in zip(a, c))
    fresh = Mixer(mixer.bank, mixer.snrs_db)            # a new mixer (empty cache) gives the same data
    assert all(np.array_equal(x, y) for (x, _), (y, _) in zip(a, _run(fresh, clips, 11)))


def test_global_rng_state_is_neither_used_nor_touched(bank, clips):
    m = Mixer(bank, SNRS, level_db=(-6.0, 6.0), peak_limit=1.0)   # level changes go through audiomentations

    def run() -> list[np.ndarray]:
        return [y for y, _ in _run(m, clips, 5, n=6)] + [y for _, y, _ in synthesize(clips[:2], m, 2, seed=3)]

    outs = []
    for g in (1, 2):
        random.seed(g)
        np.random.seed(g)
        py_state, np_state = random.getstate(), np.random.get_state()
        outs.append(run())
        assert random.getstate() == py_state
        after = np.random.get_state()
        assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    assert all(np.array_equal(x, y) for x, y in zip(*outs))      # output does not depend on global seeds


def test_synthesize_copies_depend_only_on_seed_and_clip_index(mixer, clips):
    first = list(synthesize([clips[0], clips[1]], mixer, copies=3, seed=9))
    again = list(synthesize([clips[0], clips[1]], mixer, copies=3, seed=9))
    other_first = list(synthesize([clips[2], clips[1]], mixer, copies=3, seed=9))
    assert [i for i, _, _ in first] == [0, 0, 0, 1, 1, 1]
    assert all(np.array_equal(a[1], b[1]) and a[2] == b[2] for a, b in zip(first, again))
    # clip 1's copies are the same whatever clip 0 was
    assert all(np.array_equal(a[1], b[1]) and a[2] == b[2] for a, b in zip(first[3:], other_first[3:]))
    assert len({json.dumps(info.to_dict(), sort_keys=True) for _, _, info in first}) > 1
    with pytest.raises(ConfigError, match="copies"):
        list(synthesize(clips, mixer, copies=0, seed=1))


def test_info_is_json_and_reproduces_the_mixture(bank, clips):
    m = Mixer(bank, SNRS, level_db=(-6.0, 3.0), peak_limit=1.0)
    rng = np.random.default_rng(21)
    for k in range(4):
        y, info = m.mix(clips[k % len(clips)], rng)
        back = MixInfo.from_dict(json.loads(json.dumps(info.to_dict())))
        assert back == info
        again, info2 = m.apply(clips[k % len(clips)], back.snr_db, back.noise_path, back.offset_s, back.level_db)
        assert np.array_equal(again, y) and info2 == info
        assert info.condition == f"{info.noise_type}@{info.snr_db:g}dB"
    with pytest.raises(DataError, match="unknown key"):
        MixInfo.from_dict({**info.to_dict(), "loudness": 1.0})


def test_same_seed_at_other_snrs_uses_the_same_noise_segment(mixer, clips):
    infos = [mixer.with_snrs([s]).mix(clips[0], np.random.default_rng(4))[1] for s in SNRS]
    assert len({(i.noise_path, i.offset_s) for i in infos}) == 1
    assert [i.snr_db for i in infos] == SNRS


def test_draws_cover_the_noise_types(data_root, clips):
    _, test = split_bank(NoiseBank.from_data_root(data_root), scene_test_folds={5})
    m = Mixer(test, [0.0])
    rng = np.random.default_rng(0)
    clip = clips[0][:16000]
    act = active_sample_mask(clip, CFG)
    seen = set()
    for _ in range(60):
        y, info = m.mix(clip, rng, act)
        seen.add(info.noise_type)
        start = round(info.offset_s * 16000)
        full = load_audio(data_root / info.noise_path)
        assert 0 <= start <= full.shape[0] - clip.shape[0]
    assert seen == set(test.noise_types)


# Clean, loops, front end on noisy audio ------------------------------------------------------------------
def test_clean_returns_the_input_unchanged(bank, clips):
    m = Mixer(bank, [None])
    y, info = m.mix(clips[0], np.random.default_rng(0))
    assert np.array_equal(y, clips[0]) and y is not clips[0]
    assert info.snr_db is None and info.noise_type == "clean" and info.noise_path is None
    assert info.condition == "clean"


def test_noise_shorter_than_the_clip_is_looped(mixer, clips):
    clip = np.concatenate(clips + clips)                 # ~23 s, longer than a 5 s ESC clip
    path = "esc10/003 - Sea waves/1-28135-A.flac"
    noise = mixer.noise(path)                            # decoded, end padding trimmed
    full = load_audio(mixer.bank.resolve(mixer.bank.get(path)))
    lead = int(np.flatnonzero(np.abs(full) > 1e-4)[0])
    assert noise.shape[0] < clip.shape[0] and lead < 16000
    y, info = mixer.apply(clip, 5.0, path, 1.0)
    added = y.astype(np.float64) - clip
    expect = info.noise_gain * noise[(16000 - lead + np.arange(clip.shape[0])) % noise.shape[0]]
    np.testing.assert_allclose(added, expect, atol=1e-6)
    assert abs(measured_snr_db(clip, y, info) - 5.0) < 0.5


def test_silence_filter_and_statistics_still_work_on_noisy_audio(mixer, clips):
    def front(y):
        p = power_spectrum(y, CFG)
        act = active_frames(frame_energy_db(p, CFG), CFG.hop_ms / 1000.0, CFG.silence)
        return act, summary_stats(log_mel_from_power(p, CFG)[act], CFG.stats)

    for clip in clips:
        clean_act, _ = front(clip)
        for path in NOISES:
            for snr in SNRS:
                y, _ = mixer.apply(clip, snr, path, 0.0 if path.startswith("esc10") else 20.0)
                act, stats = front(y)
                assert act.sum() >= CFG.silence.min_active_frames and np.all(np.isfinite(stats))
        # steady noise at 20 dB: the filter still keeps most speech frames and drops the noise-only ones
        y, _ = mixer.apply(clip, 20.0, "sc_bg_noise/running_tap.flac", 20.0)
        act, _ = front(y)
        assert (act & clean_act).sum() >= 0.6 * clean_act.sum()
        assert (act & ~clean_act).sum() <= 0.1 * (~clean_act).sum()


# Bad input ------------------------------------------------------------------------------------------------
def test_bad_clips_and_masks_raise_clear_errors(mixer, clips):
    rng = np.random.default_rng(0)
    bad = clips[0].copy()
    bad[100] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        mixer.mix(bad, rng)
    with pytest.raises(AudioError, match="1-D"):
        mixer.mix(np.stack([clips[0], clips[0]]), rng)
    with pytest.raises(AudioError, match="bool sample mask"):
        mixer.apply(clips[0], 5.0, NOISES[0], 3.0, active=np.ones(10, dtype=bool))
    with pytest.raises(AudioError, match="no active or audible frame"):
        mixer.apply(np.zeros(16000, dtype=np.float32), 5.0, NOISES[0], 3.0)
    with pytest.raises(AudioError, match="too short"):
        mixer.apply(clips[0][:100], 5.0, NOISES[0], 3.0)
    with pytest.raises(ConfigError, match="Generator"):
        mixer.mix(clips[0], 1234)
    with pytest.raises(ConfigError, match="offset_s"):
        mixer.apply(clips[0], 5.0, NOISES[0], 1e6)
    with pytest.raises(DataError, match="no recording"):
        mixer.apply(clips[0], 5.0, "sc_bg_noise/missing.flac", 0.0)


def test_mix_at_snr_rejects_mismatch_nan_and_zero_power(clips):
    clip = clips[0]
    with pytest.raises(AudioError, match="same shape"):
        mix_at_snr(clip, clip[:-1], 5.0)
    with pytest.raises(ValueError, match="zero power"):        # AudioError is a ValueError
        mix_at_snr(clip, np.zeros_like(clip), 5.0)
    noisy = clip.copy()
    noisy[0] = np.inf
    with pytest.raises(AudioError, match="NaN/Inf"):
        mix_at_snr(clip, noisy, 5.0)


def test_zero_power_noise_raises(tmp_path, clips):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "silent.flac", np.zeros(32000, dtype=np.float32), 16000)
    burst = rng.normal(0.0, 0.1, 16000).astype(np.float32)
    gap = np.concatenate([burst, np.zeros(48000, dtype=np.float32), burst])
    sf.write(tmp_path / "gap.flac", gap, 16000)
    bank = NoiseBank((NoiseRecording(str(tmp_path / "silent.flac"), "hum", "a", "test"),
                      NoiseRecording(str(tmp_path / "gap.flac"), "hum", "b", "test")))
    m = Mixer(bank, [5.0])
    with pytest.raises(DataError, match="silent.flac.*cannot be used as noise"):
        m.noise(str(tmp_path / "silent.flac"))
    with pytest.raises(AudioError, match="zero power"):
        m.apply(clips[0][:8000], 5.0, str(tmp_path / "gap.flac"), 1.5)


def test_bad_mixer_settings_raise(bank):
    with pytest.raises(ConfigError, match="empty"):
        Mixer(bank, [])
    with pytest.raises(ConfigError, match="finite"):
        Mixer(bank, [float("nan")])
    with pytest.raises(ConfigError, match="level_db"):
        Mixer(bank, [5.0], level_db=(6.0, -6.0))
    with pytest.raises(ConfigError, match="noise bank is empty"):
        Mixer(NoiseBank(()), [5.0])
    with pytest.raises(ConfigError, match="sample_rate"):
        Mixer(bank, [5.0], sample_rate=8000, cfg=CFG)
