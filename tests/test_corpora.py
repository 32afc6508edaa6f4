"""Corpus readers, task map and catalog: label parsing on real file names (the shared data pack) and on
small generated layouts (tmp_path)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from deepear.data import catalog
from deepear.data.clips import Clip, for_task, group_values, label_counts, native_counts
from deepear.data.corpora import esc, folder, fsdd, manifest, ravdess
from deepear.data.taskmap import load_taskmap, parse_taskmap
from deepear.errors import ConfigError, DataError



def _wav(path: Path, seconds: float = 0.05, sr: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(str(path), (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)
    return path


@pytest.fixture(scope="module")
def taskmap():
    return load_taskmap()


@pytest.fixture(scope="module")
def corpora(taskmap, data_root):
    return catalog.load_corpora(data_root, taskmap=taskmap)


# ---------------------------------------------------------------- RAVDESS
def test_ravdess_parse_name():
    lab = ravdess.parse_name("Actor_12/03-01-06-02-01-02-12.wav")
    assert lab == {"modality": "audio_only", "vocal_channel": "speech", "emotion": "fearful",
                   "intensity": "strong", "statement": "kids", "repetition": "2", "actor": "12", "sex": "female"}
    lab = ravdess.parse_name("03-02-02-01-02-01-07.flac")
    assert (lab["vocal_channel"], lab["emotion"], lab["statement"], lab["repetition"], lab["sex"]) == \
        ("song", "calm", "dogs", "1", "male")
    for bad in ("03-01-09-01-01-01-01.wav", "03-01-01-01-01-01-25.wav", "03-01-01-01-01-01.wav", "x.wav",
                "03-01-01-03-01-01-01.wav"):
        with pytest.raises(DataError, match="RAVDESS"):
            ravdess.parse_name(bad)


def test_ravdess_real(corpora):
    clips = corpora["ravdess"]
    assert len(clips) == 1440
    assert len(group_values(clips, "actor")) == 24
    assert set(native_counts(clips, "actor").values()) == {60}
    assert native_counts(clips, "emotion") == {"angry": 192, "calm": 192, "disgust": 192, "fearful": 192,
                                               "happy": 192, "neutral": 96, "sad": 192, "surprised": 192}
    # calm merged into neutral; disgust and surprised dropped from emotion
    assert label_counts(clips, "emotion") == {"anger": 192, "fear": 192, "happiness": 192,
                                              "neutral": 288, "sadness": 192}
    assert all("emotion" not in c.tasks for c in clips if c.labels["emotion"] in ("disgust", "surprised"))
    # stress proxy: {angry, fearful} vs {neutral, calm}
    assert label_counts(clips, "stress") == {"not_stressed": 288, "stressed": 384}
    c = next(c for c in clips if c.path.name == "03-01-05-02-01-02-07.flac")
    assert c.tasks == {"emotion": "anger", "stress": "stressed", "speaker": "ravdess_actor07", "scene": "voicing"}
    assert c.groups["actor"] == "07" and c.path.parent.name == "Actor_07"


def test_ravdess_actor_folder_mismatch(tmp_path):
    _wav(tmp_path / "Actor_01" / "03-01-01-01-01-01-02.wav")
    with pytest.raises(DataError, match="disagrees with folder Actor_01"):
        ravdess.read(tmp_path)
    with pytest.raises(DataError, match="no Actor_NN folders"):
        ravdess.read(tmp_path / "Actor_01")


# ---------------------------------------------------------------- ESC
def test_esc_parse_name():
    assert esc.parse_name("1-100032-A.ogg") == {"fold": "1", "freesound_id": "100032", "take": "A"}
    assert esc.parse_name("4-102844-C-49.flac") == {"fold": "4", "freesound_id": "102844", "take": "C",
                                                     "target": "49", "category": "hand_saw"}
    assert esc.parse_name("5-9032-A-0.wav")["category"] == "dog"
    for bad in ("6-100032-A.wav", "1-100032-A-50.wav", "1-abc-A.wav", "1-100032.wav"):
        with pytest.raises(DataError):
            esc.parse_name(bad)


def test_esc_folder_names():
    assert esc.category_from_folder("001 - Dog bark") == "dog"
    assert esc.category_from_folder("004 - Baby cry") == "crying_baby"
    assert esc.category_from_folder("006 - Person sneeze") == "sneezing"
    assert esc.category_from_folder("010 - Fire crackling") == "crackling_fire"
    assert esc.category_from_folder("car_horn") == "car_horn"
    with pytest.raises(DataError, match="Lawn mower"):
        esc.category_from_folder("011 - Lawn mower")


def test_esc10_real_class_folders(corpora):
    clips = corpora["esc10"]
    assert len(clips) == 400
    assert set(native_counts(clips, "category").values()) == {40} and len(native_counts(clips, "category")) == 10
    assert set(native_counts(clips, "category")) == esc.ESC10
    folds = {f: sum(c.groups["fold"] == f for c in clips) for f in group_values(clips, "fold")}
    assert folds == {"1": 80, "2": 80, "3": 80, "4": 80, "5": 80}
    assert label_counts(clips, "scene") == {"other": 320, "traffic": 80}
    heli = [c for c in clips if c.path.parent.name == "007 - Helicopter"]
    assert len(heli) == 40 and all(c.tasks["scene"] == "traffic" and c.tasks["esc10"] == "helicopter" for c in heli)
    c = next(c for c in clips if c.path.name == "1-100032-A.flac")
    assert c.labels["category"] == "dog" and c.groups == {"fold": "1", "freesound_id": "100032",
                                                           "source": "freesound:100032"}


def test_esc50_urban_real_flat(corpora):
    clips = corpora["esc50_urban"]
    assert len(clips) == 64
    assert native_counts(clips, "category") == {k: 8 for k in sorted(esc.URBAN)}
    assert {c.labels["target"] for c in clips} == {str(t) for t in range(42, 50)}
    assert group_values(clips, "fold") == {"4"}
    assert label_counts(clips, "scene") == {"traffic": 64}
    assert all("esc10" not in c.tasks for c in clips)


def test_esc50_meta_layout(tmp_path):
    rows = [("1-100032-A-0.wav", 1, 0, "dog", "True", 100032, "A"),
            ("2-1-A-41.wav", 2, 41, "chainsaw", "True", 1, "A"),
            ("3-2-A-42.wav", 3, 42, "siren", "False", 2, "A"),
            ("4-3-B-2.wav", 4, 2, "pig", "False", 3, "B")]
    (tmp_path / "meta").mkdir()
    lines = ["filename,fold,target,category,esc10,src_file,take"] + [",".join(map(str, r)) for r in rows]
    (tmp_path / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    for r in rows:
        _wav(tmp_path / "audio" / r[0])
    e10 = esc.read_esc10(tmp_path)
    assert [(c.labels["category"], c.groups["fold"], c.groups["freesound_id"]) for c in e10] == \
        [("dog", "1", "100032"), ("chainsaw", "2", "1")]
    urban = esc.read_esc50_urban(tmp_path)
    assert [c.labels["category"] for c in urban] == ["siren"] and urban[0].corpus == "esc50_urban"
    # a row whose file name disagrees with its category is an error naming the line
    (tmp_path / "meta" / "esc50.csv").write_text("\n".join(lines[:1] + ["1-100032-A-0.wav,1,1,rooster,True,1,A"]))
    with pytest.raises(DataError, match="line 2"):
        esc.read_esc10(tmp_path)


def test_esc_class_folder_target_mismatch(tmp_path):
    _wav(tmp_path / "009 - Rooster" / "1-1-A-0.wav")
    with pytest.raises(DataError, match="disagrees with folder"):
        esc.read_esc10(tmp_path)


# ---------------------------------------------------------------- FSDD
def test_fsdd_parse_and_real(corpora):
    assert fsdd.parse_name("7_theo_32.wav") == {"digit": "7", "speaker": "theo", "index": "32"}
    for bad in ("10_theo_1.wav", "7-theo-32.wav", "7_theo.wav"):
        with pytest.raises(DataError, match="FSDD"):
            fsdd.parse_name(bad)
    clips = corpora["fsdd"]
    assert len(clips) == 3000
    assert native_counts(clips, "speaker") == {s: 500 for s in
                                               ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")}
    assert set(native_counts(clips, "digit").values()) == {300}
    assert label_counts(clips, "scene") == {"voicing": 3000}
    assert label_counts(clips, "speaker")["fsdd_theo"] == 500


def test_fsdd_official_layout(tmp_path):
    for n in ("0_jackson_0.wav", "9_theo_49.wav"):
        _wav(tmp_path / "recordings" / n)
    (tmp_path / "README.md").write_text("x")
    clips = fsdd.read(tmp_path)
    assert [(c.labels["digit"], c.groups["speaker"]) for c in clips] == [("0", "fsdd_jackson"), ("9", "fsdd_theo")]


# ---------------------------------------------------------------- music and noise
def test_recordings_real(corpora):
    music, noise = corpora["music"], corpora["noise"]
    assert len(music) == 5 and len(noise) == 6
    assert all(c.duration_s >= 60 for c in music + noise)
    assert group_values(music, "track") == {c.path.stem for c in music}
    assert label_counts(music, "scene") == {"music": 5}
    assert all(not c.tasks for c in noise)
    assert {c.labels["noise_type"] for c in noise if c.meta["generated"]} == {"white_noise", "pink_noise"}


# ---------------------------------------------------------------- generic folder and CSV manifest
def test_folder_reader(tmp_path, taskmap):
    _wav(tmp_path / "music" / "a.wav")
    _wav(tmp_path / "traffic" / "street1" / "seg0.wav")
    _wav(tmp_path / "traffic" / "street1" / "seg1.wav")
    _wav(tmp_path / "traffic" / "b.wav")
    clips = folder.read(tmp_path, corpus="mine", task="scene", taskmap=taskmap)
    assert [(c.labels["class"], c.tasks["scene"]) for c in clips] == \
        [("music", "music"), ("traffic", "traffic"), ("traffic", "traffic"), ("traffic", "traffic")]
    sources = [c.groups["source"] for c in clips]
    assert sources == ["mine:music/a", "mine:traffic/b", "mine:traffic/street1", "mine:traffic/street1"]
    _wav(tmp_path / "beach" / "c.wav")
    with pytest.raises(DataError, match="'beach' is not a scene label"):
        folder.read(tmp_path, task="scene", taskmap=taskmap)
    assert len(folder.read(tmp_path)) == 5          # no task: any class name is fine
    _wav(tmp_path / "stray.wav")
    with pytest.raises(DataError, match="outside class folders"):
        folder.read(tmp_path)


def test_manifest_reader(tmp_path, taskmap):
    _wav(tmp_path / "a.wav")
    _wav(tmp_path / "sub" / "b.wav")
    m = tmp_path / "mydata.csv"
    m.write_text("path,emotion,stress,scene,group_speaker,label_mood,duration_s\n"
                 "a.wav,anger,stressed,voicing,s1,cross,0.05\n"
                 "sub/b.wav,,,music,,,\n")
    clips = manifest.read(m, taskmap)
    assert clips[0].tasks == {"emotion": "anger", "stress": "stressed", "scene": "voicing"}
    assert clips[0].groups == {"speaker": "s1", "source": "mydata:a.wav"} and clips[0].labels == {"mood": "cross"}
    assert clips[0].duration_s == pytest.approx(0.05) and clips[0].corpus == "mydata"
    assert clips[1].tasks == {"scene": "music"} and clips[1].duration_s is None
    m.write_text("path,emotion,colour\na.wav,anger,red\n")
    with pytest.raises(DataError, match=r"unknown columns \['colour'\]"):
        manifest.read(m, taskmap)
    m.write_text("path,emotion\na.wav,boredom\n")
    with pytest.raises(DataError, match=r"mydata.csv line 2: label 'boredom' is not a emotion label"):
        manifest.read(m, taskmap)
    m.write_text("path,scene\nmissing.wav,music\n")
    with pytest.raises(DataError, match="missing.wav not found"):
        manifest.read(m, taskmap)
    m.write_text("path,scene\na.wav,music\na.wav,music\n")
    with pytest.raises(DataError, match="listed twice"):
        manifest.read(m, taskmap)


def test_manifest_rejects_shared_pack_manifest(taskmap, data_root):
    """The shared pack's manifest.csv uses its own columns (source, stress_proxy, ...): not our format."""
    with pytest.raises(DataError, match="unknown columns.*stress_proxy"):
        manifest.read(data_root / "manifest.csv", taskmap)


# ---------------------------------------------------------------- task map
def test_taskmap_unknown_label_names_label_and_file(taskmap):
    clip = Clip(path=Path("x/03-01-09-01-01-01-01.wav"), corpus="ravdess",
                labels={"emotion": "bored", "actor": "01"})
    with pytest.raises(DataError, match=r"03-01-09-01-01-01-01.wav: ravdess emotion label 'bored'"):
        taskmap.map_clip(clip)
    with pytest.raises(DataError, match="has no 'category' label"):
        taskmap.map_clip(Clip(path=Path("y.wav"), corpus="esc10", labels={}))


def test_taskmap_is_configuration(tmp_path):
    raw = {"tasks": {"emotion": {"labels": ["neutral", "other"]}, "stress": {"title": "stress proxy (acted)",
                                                                            "labels": ["stressed", "not_stressed"]}},
           "corpora": {"ravdess": {"emotion": {"from": "emotion", "map": {"neutral": "neutral", "calm": None,
                                                                          "happy": "other"}}}}}
    tm = parse_taskmap(raw)
    mk = lambda e: Clip(path=Path(f"{e}.wav"), corpus="ravdess", labels={"emotion": e})
    assert tm.map_clip(mk("calm")).tasks == {}              # null drops the clip from the task
    assert tm.map_clip(mk("happy")).tasks == {"emotion": "other"}
    with pytest.raises(DataError, match="'sad'"):
        tm.map_clip(mk("sad"))
    bad = {"tasks": {"emotion": {"labels": ["a"]}}, "corpora": {"ravdess": {"emotion": {"from": "emotion",
                                                                                     "map": {"x": "b"}}}}}
    with pytest.raises(ConfigError, match="'b' is not a emotion label"):
        parse_taskmap(bad)
    with pytest.raises(ConfigError, match="unknown keys"):
        parse_taskmap({"tasks": {"emotion": {"labels": ["a"], "colour": 1}}})
    with pytest.raises(ConfigError, match="not declared"):
        parse_taskmap({"tasks": {"emotion": {"labels": ["a"]}}, "corpora": {"x": {"scene": {"value": "a"}}}})
    p = tmp_path / "tm.yaml"
    p.write_text("tasks:\n  scene: {labels: [a, b]}\ncorpora:\n  music:\n    scene: {value: b}\n")
    assert load_taskmap(p).map_clip(Clip(path=Path("m.wav"), corpus="music")).tasks == {"scene": "b"}


def test_default_taskmap_tasks(taskmap):
    assert list(taskmap.tasks) == ["emotion", "stress", "speaker", "scene", "esc10"]
    assert taskmap.labels("emotion") == ("happiness", "sadness", "fear", "anger", "neutral")
    assert taskmap.labels("scene") == ("music", "traffic", "voicing", "other")
    assert taskmap.spec("stress").title == "stress proxy (acted)" and taskmap.spec("stress").proxy
    assert taskmap.labels("speaker") is None
    with pytest.raises(DataError, match="unknown task 'mood'"):
        taskmap.spec("mood")


# ---------------------------------------------------------------- catalog
def test_catalog_summary_real(data_root):
    s = catalog.summary(data_root)
    by = {c.name: c for c in s.corpora}
    assert all(c.found and c.error is None for c in s.corpora)
    assert (by["ravdess"].n_clips, by["ravdess"].groups["actor"]) == (1440, 24)
    assert (by["esc10"].n_clips, len(by["esc10"].native["category"]), by["esc10"].groups["fold"]) == (400, 10, 5)
    assert (by["fsdd"].n_clips, len(by["fsdd"].native["speaker"])) == (3000, 6)
    assert (by["esc50_urban"].n_clips, by["music"].n_clips, by["noise"].n_clips) == (64, 5, 6)
    assert by["ravdess"].tasks["stress"] == {"not_stressed": 288, "stressed": 384}
    text = catalog.format_summary(s)
    assert "1440 clips" in text and "24 actor" in text and "stress proxy (acted)" in text
    assert "400 clips, 10 category labels; groups: 5 fold" in text


def test_catalog_missing_corpus_reported_and_others_listed(tmp_path):
    _wav(tmp_path / "fsdd_8k" / "3_theo_7.wav")
    s = catalog.summary(tmp_path)
    by = {c.name: c for c in s.corpora}
    assert by["fsdd"].found and by["fsdd"].n_clips == 1
    miss = by["ravdess"]
    assert not miss.found and str(tmp_path / "ravdess") in miss.error and "zenodo.org" in miss.error
    text = catalog.format_summary(s)
    assert "ravdess (RAVDESS speech (audio only)): MISSING" in text
    assert "https://github.com/karolpiczak/ESC-50" in text
    with pytest.raises(DataError, match="not found: looked in"):
        catalog.load_corpora(tmp_path)
    assert list(catalog.load_corpora(tmp_path, skip_missing=True)) == ["fsdd"]


def test_catalog_malformed_corpus_reported(tmp_path):
    _wav(tmp_path / "ravdess" / "Actor_01" / "not-a-ravdess-name.wav")
    by = {c.name: c for c in catalog.summary(tmp_path, names=["ravdess"]).corpora}
    assert by["ravdess"].found and "not a RAVDESS file name" in by["ravdess"].error


def test_resolve_data_root(monkeypatch):
    monkeypatch.setenv("DEEPEAR_DATA", "/some/where")
    assert catalog.resolve_data_root() == Path("/some/where")
    assert catalog.resolve_data_root("x") == Path("x")
    monkeypatch.delenv("DEEPEAR_DATA")
    assert catalog.resolve_data_root() == Path("data")


def test_durations_on_request(data_root):
    clips = catalog.load_corpus("esc50_urban", data_root, durations=True)
    assert all(c.duration_s == pytest.approx(5.0, abs=0.01) for c in clips)
    assert len(for_task(clips, "scene")) == 64
