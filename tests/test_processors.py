"""deepear.deepx.processors: shipped device YAMLs load, every number has a source, seed-004 calibration,
strict keys, this-CPU derivation from a measured profile."""
from __future__ import annotations

import math

import pytest
import yaml

from deepear.deepx.processors import (DEVICES_DIR, DRAM_J_PER_BYTE, FP32_WEIGHT_BYTES_PER_MAC,
                                      SEED004_ENERGY_MJ, SEED004_MACS, SEED004_TIME_MS, derive_this_cpu,
                                      device_from_dict, list_devices, load_device, save_device,
                                      seed004_calibration, this_cpu_device, two_point_fit)
from deepear.deepx.profile import LayerProfile, ModelProfile, profile_model
from deepear.errors import ConfigError
from deepear.model.dnn import MultiTaskDNN

NUMERIC = ("macs_per_s", "energy_per_mac_j", "energy_per_byte_j", "memory_bytes", "fixed_cost_s", "fixed_energy_j",
           "latency_s", "bandwidth_bytes_per_s", "radio_energy_per_byte_j", "ram_bytes")
SHIPPED = ("snapdragon800", "tegrak1", "watch_m4", "this_cpu")


def _minimal(**over) -> dict:
    proc = {"name": "p", "kind": "cpu", "macs_per_s": 1e9, "energy_per_mac_j": 1e-9, "energy_per_byte_j": 1e-10,
            "memory_bytes": 1000, "fixed_cost_s": 0.0, "fixed_energy_j": 0.0,
            "sources": {f: "test" for f in ("macs_per_s", "energy_per_mac_j", "energy_per_byte_j", "memory_bytes",
                                            "fixed_cost_s", "fixed_energy_j")}}
    proc.update(over)
    return {"name": "d", "processors": [proc]}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_devices_load_and_every_number_has_a_source(name):
    assert name in list_devices()
    dev = load_device(name)
    assert dev.name == name and dev.processors
    raw = yaml.safe_load((DEVICES_DIR / f"{name}.yaml").read_text())
    for p, rp in zip(dev.processors, raw["processors"]):
        assert p.macs_per_s > 0 and p.memory_bytes > 0
        for f in NUMERIC:
            if f in rp:
                assert rp["sources"].get(f, "").strip(), f"{name}/{p.name}: {f} has no source"
                assert getattr(p, f) is not None
        if p.kind == "cloud":
            assert p.latency_s > 0 and p.bandwidth_bytes_per_s > 0 and p.radio_energy_per_byte_j > 0


def test_required_processors_present():
    assert {p.kind for p in load_device("snapdragon800").processors} == {"cpu", "dsp", "cloud"}
    assert {p.kind for p in load_device("tegrak1").processors} == {"cpu", "gpu", "cloud"}
    dsp = load_device("snapdragon800").processor("hexagon_dsp")
    assert 7e6 <= dsp.memory_bytes <= 9e6                       # ~8 MB for models
    m4 = load_device("watch_m4").processor("cortex_m4f")
    assert m4.memory_bytes == 1024 * 1024 and m4.ram_bytes == 256 * 1024
    with pytest.raises(ConfigError, match="no processor"):
        load_device("watch_m4").processor("gpu")


def test_seed004_arithmetic():
    cal = seed004_calibration()
    # DeepEar on the Tegra CPU: 2.3e6 MACs in 6.7 ms, 18.7 mJ
    assert cal["deepear"]["tegra_cpu"]["macs_per_s"] == pytest.approx(2.3e6 / 6.7e-3)
    assert cal["deepear"]["tegra_cpu"]["energy_per_mac_j"] == pytest.approx(18.7e-3 / 2.3e6)
    assert "snapdragon_dsp" not in cal["alexnet"]                # no AlexNet measurement on the DSP
    assert SEED004_MACS["alexnet"] == 724_406_816
    assert two_point_fit((1.0, 3.0), (2.0, 6.0)) == pytest.approx((0.0, 2.0))


def test_yaml_numbers_match_the_seed004_rows_they_cite():
    cal = seed004_calibration()
    sd = load_device("snapdragon800")

    def all_in(p):      # energy per MAC including the fp32 weight bytes charged per byte
        return p.energy_per_mac_j + FP32_WEIGHT_BYTES_PER_MAC * p.energy_per_byte_j

    for proc, col in (("krait_cpu", "snapdragon_cpu"), ("hexagon_dsp", "snapdragon_dsp")):
        p = sd.processor(proc)
        assert p.macs_per_s == pytest.approx(cal["deepear"][col]["macs_per_s"], rel=0.01)
        assert all_in(p) == pytest.approx(cal["deepear"][col]["energy_per_mac_j"], rel=0.01)
        assert p.energy_per_mac_j < cal["deepear"][col]["energy_per_mac_j"]
    x = (SEED004_MACS["deep_kws"], SEED004_MACS["deepear"])
    tk = load_device("tegrak1")
    for proc, col in (("a15_cpu", "tegra_cpu"), ("kepler_gpu", "tegra_gpu")):
        t0, ts = two_point_fit(x, (SEED004_TIME_MS["deep_kws"][col] * 1e-3, SEED004_TIME_MS["deepear"][col] * 1e-3))
        e0, es = two_point_fit(x, (SEED004_ENERGY_MJ["deep_kws"][col] * 1e-3, SEED004_ENERGY_MJ["deepear"][col] * 1e-3))
        p = tk.processor(proc)
        assert p.macs_per_s == pytest.approx(1 / ts, rel=0.01)
        assert p.fixed_cost_s == pytest.approx(t0, rel=0.01)
        assert all_in(p) == pytest.approx(es, rel=0.01)
        assert p.fixed_energy_j == pytest.approx(e0, rel=0.01)


def test_unknown_keys_are_errors_naming_the_key(tmp_path):
    doc = _minimal()
    doc["bogus_top"] = 1
    with pytest.raises(ConfigError, match="bogus_top"):
        device_from_dict(doc)
    doc = _minimal(bogus_field=3)
    with pytest.raises(ConfigError, match="bogus_field"):
        device_from_dict(doc)
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump(_minimal(macs_per_sec=5)))
    with pytest.raises(ConfigError, match="macs_per_sec"):
        load_device(path)
    with pytest.raises(ConfigError, match="snapdragon800"):            # the message lists shipped devices
        load_device("no_such_device")


def test_missing_source_bad_values_and_cloud_requirements():
    doc = _minimal()
    del doc["processors"][0]["sources"]["memory_bytes"]
    with pytest.raises(ConfigError, match="memory_bytes"):
        device_from_dict(doc)
    with pytest.raises(ConfigError, match="kind"):
        device_from_dict(_minimal(kind="npu"))
    with pytest.raises(ConfigError, match="macs_per_s"):
        device_from_dict(_minimal(macs_per_s=0))
    with pytest.raises(ConfigError, match="energy_per_mac_j"):
        device_from_dict(_minimal(energy_per_mac_j=-1.0))
    with pytest.raises(ConfigError, match="cloud processor needs"):
        device_from_dict(_minimal(kind="cloud"))
    assert device_from_dict(_minimal(macs_per_s="3e9")).processors[0].macs_per_s == 3e9   # YAML 1.1 "3e9" string


def test_cost_model():
    p = device_from_dict(_minimal(fixed_cost_s=1e-3, fixed_energy_j=2e-3)).processors[0]
    assert p.compute_time_s(1e9) == pytest.approx(1.001)
    assert p.compute_energy_j(1e9, bytes_moved=1e6) == pytest.approx(2e-3 + 1.0 + 1e-4)
    assert p.transfer_time_s(1000) == 0.0 and p.transfer_energy_j(1000) == pytest.approx(1e-7)
    cloud = load_device("snapdragon800").processor("cloud")
    assert cloud.transfer_time_s(750_000) == pytest.approx(cloud.latency_s + 1.0)
    assert cloud.transfer_energy_j(1000) == pytest.approx(1000 * cloud.radio_energy_per_byte_j)
    assert cloud.compute_energy_j(1e9) == pytest.approx(cloud.fixed_energy_j)     # device pays no server MACs
    assert load_device("snapdragon800").processor("hexagon_dsp").fits(7_000_000)
    assert not load_device("snapdragon800").processor("hexagon_dsp").fits(9_000_000)


def _synthetic_profile(fixed: float, rate: float) -> ModelProfile:
    layers = []
    for name, (i, o) in {"big1": (256, 512), "big2": (512, 512), "tiny": (512, 2)}.items():
        t = fixed + i * o / rate
        layers.append(LayerProfile(name=name, kind="Linear", in_features=i, out_features=o, bias=True,
                                   params=i * o + o, macs=i * o, weight_bytes_fp32=4 * (i * o + o),
                                   weight_bytes_int8=i * o + 8 * o, stored_bytes=4 * (i * o + o),
                                   activation_bytes=4 * o, activation="", latency_s=t, latency_min_s=t))
    return ModelProfile(name="synthetic", input_dim=256, batch=1, repeats=1, layers=layers)


def test_derive_this_cpu_recovers_a_known_line():
    p = derive_this_cpu(_synthetic_profile(fixed=20e-6, rate=2e9), core_watts=5.0)
    assert p.macs_per_s == pytest.approx(2e9, rel=2e-3)
    assert p.fixed_cost_s == pytest.approx(20e-6, rel=2e-2)
    assert p.energy_per_mac_j == pytest.approx(5.0 / p.macs_per_s - 4 * DRAM_J_PER_BYTE, rel=1e-3)
    assert p.fixed_energy_j == pytest.approx(5.0 * p.fixed_cost_s, rel=1e-3)


def test_derive_this_cpu_from_a_measured_profile(tmp_path):
    model = MultiTaskDNN(64, {"a": 3, "b": 2}, hidden=(256, 256))
    prof = profile_model(model, 64, repeats=20)
    p = derive_this_cpu(prof)
    assert p.kind == "cpu" and p.macs_per_s > 0 and math.isfinite(p.macs_per_s)
    assert p.fixed_cost_s >= 0 and p.energy_per_mac_j > 0 and p.memory_bytes > 0
    for f in ("macs_per_s", "energy_per_mac_j", "energy_per_byte_j", "memory_bytes", "fixed_cost_s", "fixed_energy_j"):
        assert p.sources[f]
    dev = this_cpu_device(prof)
    back = load_device(save_device(dev, tmp_path / "mine.yaml", header="test"))
    assert back.processors[0] == dev.processors[0]
    # the fp32 weights fit this machine; int8 weights of a 224-512x3 model fit the watch's flash, fp32 do not
    m4 = load_device("watch_m4").processor("cortex_m4f")
    big = MultiTaskDNN(224, {"a": 5}, hidden=(512, 512, 512))
    bprof = profile_model(big, 224, repeats=2)
    assert not m4.fits(bprof.weight_bytes_fp32) and m4.fits(bprof.weight_bytes_int8)
