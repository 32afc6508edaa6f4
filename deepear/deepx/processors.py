"""Processor and device profiles: what a block of MACs costs in time and energy on each processor of a device.

A `Device` (one YAML file in deepear/deepx/devices/) lists its `Processor`s. Every number carries a
`sources[field]` string saying where it came from (a table row of seed 004, a datasheet, a measurement here,
or a stated assumption); loading a YAML without a source for a field is a ConfigError.

Cost model (units: seconds, joules, bytes, MACs):

    compute_time_s(macs)               = fixed_cost_s + macs / macs_per_s
    compute_energy_j(macs, bytes_moved) = fixed_energy_j + macs * energy_per_mac_j + bytes_moved * energy_per_byte_j
    transfer_time_s(nbytes)            = latency_s + nbytes / bandwidth_bytes_per_s     (0 where not given)
    transfer_energy_j(nbytes)          = nbytes * radio_energy_per_byte_j  (cloud: the device's radio)
                                       = nbytes * energy_per_byte_j        (local processors: shared DRAM)

For a cloud processor the compute energy is not the device's: energy_per_mac_j is 0 and the device pays the
radio (transfer_energy_j) plus fixed_energy_j per invocation.

Calibration (`SEED004_*`, `seed004_calibration`): seed 004 measured whole-model execution time (ms) and
energy (mJ) of Deep KWS, DeepEar, SVHN and AlexNet on Tegra K1 CPU/GPU, Snapdragon 800 CPU/DSP and Edison.
Throughput = model MACs / time and energy per MAC = energy / MACs; MAC counts are derived in `SEED004_MACS`.
A measured DNN energy per MAC is all-inclusive: it already pays for reading one fp32 weight (4 bytes) per MAC.
Because the partitioner charges the bytes a block moves (weights included) at energy_per_byte_j, the YAML's
energy_per_mac_j is the measured figure minus FP32_WEIGHT_BYTES_PER_MAC * energy_per_byte_j, so that
MACs * energy_per_mac_j + weight bytes * energy_per_byte_j reproduces the measurement.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deepear.deepx.profile import ModelProfile
from deepear.errors import ConfigError

log = logging.getLogger(__name__)

DEVICES_DIR = Path(__file__).resolve().parent / "devices"
KINDS = ("cpu", "dsp", "gpu", "cloud")
FP32_WEIGHT_BYTES_PER_MAC = 4      # a dense layer reads one fp32 weight per MAC

# ---- seed 004 (Lane et al., IoT-App 2015), as OCR'd in ../shared/seeds/004_7516cd5c9b460a02.txt ----------
# "Table 3: Execution Time (msec.)" -- columns Tegra CPU, Tegra GPU, Snapdragon CPU, Snapdragon DSP, Edison CPU.
SEED004_TIME_MS: dict[str, dict[str, float | None]] = {
    "deep_kws": {"tegra_cpu": 0.8, "tegra_gpu": 1.1, "snapdragon_cpu": 7.1, "snapdragon_dsp": 7.0,
                 "edison_cpu": 63.1},
    "deepear": {"tegra_cpu": 6.7, "tegra_gpu": 3.2, "snapdragon_cpu": 71.2, "snapdragon_dsp": 379.2,
                "edison_cpu": 109.0},
    "alexnet": {"tegra_cpu": 600.2, "tegra_gpu": 49.1, "snapdragon_cpu": 159383.1, "snapdragon_dsp": None,
                "edison_cpu": 283038.6},
    "svhn": {"tegra_cpu": 15.1, "tegra_gpu": 2.8, "snapdragon_cpu": 1616.5, "snapdragon_dsp": None,
             "edison_cpu": 3562.3},
}
# "Table 2: Energy Consumption (mJ.)" -- same columns.
SEED004_ENERGY_MJ: dict[str, dict[str, float | None]] = {
    "deep_kws": {"tegra_cpu": 2.2, "tegra_gpu": 5.2, "snapdragon_cpu": 11.3, "snapdragon_dsp": 10.2,
                 "edison_cpu": 12.1},
    "deepear": {"tegra_cpu": 18.7, "tegra_gpu": 15.2, "snapdragon_cpu": 119.1, "snapdragon_dsp": 19.9,
                "edison_cpu": 21.3},
    "alexnet": {"tegra_cpu": 1678.6, "tegra_gpu": 232.2, "snapdragon_cpu": 256925.3, "snapdragon_dsp": None,
                "edison_cpu": 110385.3},
    "svhn": {"tegra_cpu": 43.1, "tegra_gpu": 13.3, "snapdragon_cpu": 2604.9, "snapdragon_dsp": None,
             "edison_cpu": 1389.2},
}
# MACs per inference. DNN: MACs = weights ~= the "Size" column of seed 004's model table (biases < 0.5%).
#   deep_kws: "Deep KWS DNN 241K h:3 n:{all 128}"                      -> 241,000
#   deepear:  "DeepEar DNN 2.3M h:3 n:{all 512 or 256}"                -> 2,300,000 (whole composite model;
#             one emotion DNN 224-512-512-512-14 alone is 647,694 parameters, seed 004 layer table)
# CNN: from layer shapes consistent with the parameter counts in seed 004.
#   alexnet: the Caffe (grouped) AlexNet whose per-layer parameters seed 004 lists (34,944 / 307,456 / 885,120 /
#            663,936 / 442,624 / 37,752,832 / 16,781,312 / 4,097,000): conv1 55x55x96x363 + conv2 27x27x256x1200
#            + conv3 13x13x384x2304 + conv4 13x13x384x1728 + conv5 13x13x256x1728 + fc 9216x4096 + 4096x4096
#            + 4096x1000 = 724,406,816
#   svhn:    "SVHN CNN 313K c:2 p:2 h:2 n:{1600,128}" read as 32x32x3 -> conv5x5x64 (valid, 28x28) -> pool ->
#            conv5x5x64 (10x10) -> pool (5x5x64 = 1600) -> fc128 -> fc10: 313,546 parameters (matches 313K),
#            3,763,200 + 10,240,000 + 204,800 + 1,280 = 14,209,280 MACs (an assumption: input size not stated)
SEED004_MACS: dict[str, int] = {"deep_kws": 241_000, "deepear": 2_300_000, "alexnet": 724_406_816,
                                "svhn": 14_209_280}


def seed004_calibration() -> dict[str, dict[str, dict[str, float]]]:
    """{model: {processor column: {"macs_per_s", "energy_per_mac_j", "power_w"}}} from seed 004's tables.

    macs_per_s = SEED004_MACS / time; energy_per_mac_j = energy / SEED004_MACS; power_w = energy / time.
    Cells without a measurement (AlexNet, SVHN on the DSP) are left out.
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for model, times in SEED004_TIME_MS.items():
        for proc, t_ms in times.items():
            e_mj = SEED004_ENERGY_MJ[model][proc]
            if t_ms is None or e_mj is None:
                continue
            macs = SEED004_MACS[model]
            out.setdefault(model, {})[proc] = {"macs_per_s": macs / (t_ms * 1e-3),
                                               "energy_per_mac_j": e_mj * 1e-3 / macs, "power_w": e_mj / t_ms}
    return out


def two_point_fit(x: tuple[float, float], y: tuple[float, float]) -> tuple[float, float]:
    """(intercept, slope) of the line through (x0, y0) and (x1, y1); x0 != x1."""
    if x[0] == x[1]:
        raise ConfigError("two_point_fit: the two x values must differ")
    slope = (y[1] - y[0]) / (x[1] - x[0])
    return y[0] - slope * x[0], slope


# ---- profiles ----------------------------------------------------------------------------------------------
_NUMERIC = ("macs_per_s", "energy_per_mac_j", "energy_per_byte_j", "memory_bytes", "fixed_cost_s", "fixed_energy_j",
            "latency_s", "bandwidth_bytes_per_s", "radio_energy_per_byte_j", "ram_bytes")
_REQUIRED = ("name", "kind", "macs_per_s", "energy_per_mac_j", "energy_per_byte_j", "memory_bytes", "fixed_cost_s",
             "fixed_energy_j")
_CLOUD_REQUIRED = ("latency_s", "bandwidth_bytes_per_s", "radio_energy_per_byte_j")


@dataclass(frozen=True)
class Processor:
    """One processor of a device (or the cloud behind a radio link).

    Fields (units): macs_per_s (MAC/s); energy_per_mac_j (J/MAC, device energy); energy_per_byte_j (J per byte
    moved in or out through memory); memory_bytes (capacity for model weights); fixed_cost_s / fixed_energy_j
    (per invocation); latency_s (one-way + return link latency per invocation, cloud), bandwidth_bytes_per_s
    (link or memory bus rate for moving activations), radio_energy_per_byte_j (device radio energy, cloud);
    ram_bytes (working RAM where it differs from memory_bytes, e.g. a microcontroller whose weights sit in
    flash). `sources[field]` says where each number came from.
    """

    name: str
    kind: str
    macs_per_s: float
    energy_per_mac_j: float
    energy_per_byte_j: float
    memory_bytes: int
    fixed_cost_s: float
    fixed_energy_j: float
    latency_s: float | None = None
    bandwidth_bytes_per_s: float | None = None
    radio_energy_per_byte_j: float | None = None
    ram_bytes: int | None = None
    description: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate(self)

    def compute_time_s(self, macs: float) -> float:
        """Seconds to run `macs` MACs in one invocation: fixed_cost_s + macs / macs_per_s."""
        return self.fixed_cost_s + float(macs) / self.macs_per_s

    def compute_energy_j(self, macs: float, bytes_moved: float = 0.0) -> float:
        """Device joules for one invocation of `macs` MACs touching `bytes_moved` bytes of memory."""
        return self.fixed_energy_j + float(macs) * self.energy_per_mac_j + float(bytes_moved) * self.energy_per_byte_j

    def transfer_time_s(self, nbytes: float) -> float:
        """Seconds to move `nbytes` to or from this processor: latency_s + nbytes / bandwidth (0 where unknown)."""
        t = self.latency_s or 0.0
        return t + (float(nbytes) / self.bandwidth_bytes_per_s if self.bandwidth_bytes_per_s else 0.0)

    def transfer_energy_j(self, nbytes: float) -> float:
        """Device joules to move `nbytes` to or from this processor (radio for cloud, memory otherwise)."""
        per_byte = self.radio_energy_per_byte_j if self.kind == "cloud" else self.energy_per_byte_j
        return float(nbytes) * float(per_byte or 0.0)

    def fits(self, weight_bytes: int) -> bool:
        """True if `weight_bytes` of model weights fit in memory_bytes."""
        return weight_bytes <= self.memory_bytes

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the YAML layout (None fields left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None and v != ""}


@dataclass(frozen=True)
class Device:
    """A named set of processors, e.g. a Snapdragon 800 phone: Krait CPU + Hexagon DSP + cloud link."""

    name: str
    processors: list[Processor]
    description: str = ""

    def processor(self, name: str) -> Processor:
        """The processor called `name` (ConfigError naming the known ones otherwise)."""
        for p in self.processors:
            if p.name == name:
                return p
        raise ConfigError(f"device {self.name}: no processor {name!r}; it has {[p.name for p in self.processors]}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "processors": [p.to_dict() for p in self.processors]}


def _validate(p: Processor) -> None:
    where = f"processor {p.name!r}"
    if not p.name or not isinstance(p.name, str):
        raise ConfigError(f"processor name: must be a non-empty string, got {p.name!r}")
    if p.kind not in KINDS:
        raise ConfigError(f"{where}: kind {p.kind!r} is not one of {list(KINDS)}")
    for f in _NUMERIC:
        v = getattr(p, f)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"{where}: {f} must be a finite number >= 0, got {v!r}")
    if p.macs_per_s <= 0:
        raise ConfigError(f"{where}: macs_per_s must be > 0, got {p.macs_per_s!r}")
    if p.memory_bytes <= 0:
        raise ConfigError(f"{where}: memory_bytes must be > 0, got {p.memory_bytes!r}")
    if p.kind == "cloud":
        missing = [f for f in _CLOUD_REQUIRED if getattr(p, f) is None]
        if missing:
            raise ConfigError(f"{where}: a cloud processor needs {missing}")
        if not p.bandwidth_bytes_per_s:
            raise ConfigError(f"{where}: bandwidth_bytes_per_s must be > 0")
    unsourced = [f for f in _NUMERIC if getattr(p, f) is not None and not str(p.sources.get(f, "")).strip()]
    if unsourced:
        raise ConfigError(f"{where}: no source given for {unsourced} (add sources: {{field: where it came from}})")
    stray = sorted(set(p.sources) - set(_NUMERIC))
    if stray:
        raise ConfigError(f"{where}: sources name unknown field(s) {stray}")


# ---- YAML ----------------------------------------------------------------------------------------------------
_DEVICE_KEYS = {"name", "description", "processors"}
_PROC_KEYS = {f.name for f in dataclasses.fields(Processor)}


def list_devices() -> list[str]:
    """Names of the device profiles shipped in deepear/deepx/devices/ (sorted)."""
    return sorted(p.stem for p in DEVICES_DIR.glob("*.yaml"))


def _number(v: Any, where: str) -> Any:
    if isinstance(v, str):               # YAML 1.1 reads "3e-8" (no dot) as a string
        try:
            return float(v)
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {v!r}") from None
    return v


def device_from_dict(doc: Mapping[str, Any], origin: str = "<dict>") -> Device:
    """Build a Device from the YAML layout; unknown keys are a ConfigError naming the key."""
    if not isinstance(doc, Mapping):
        raise ConfigError(f"device {origin}: expected a mapping at top level, got {type(doc).__name__}")
    unknown = sorted(set(doc) - _DEVICE_KEYS)
    if unknown:
        raise ConfigError(f"device {origin}: unknown key(s) {unknown} (allowed: {sorted(_DEVICE_KEYS)})")
    if "name" not in doc or "processors" not in doc:
        raise ConfigError(f"device {origin}: needs 'name' and 'processors'")
    procs_doc = doc["processors"]
    if not isinstance(procs_doc, list) or not procs_doc:
        raise ConfigError(f"device {origin}: 'processors' must be a non-empty list")
    procs = []
    for i, pd in enumerate(procs_doc):
        if not isinstance(pd, Mapping):
            raise ConfigError(f"device {origin}: processors[{i}] must be a mapping")
        pname = pd.get("name", f"#{i}")
        unknown = sorted(set(pd) - _PROC_KEYS)
        if unknown:
            raise ConfigError(f"device {origin}: processor {pname!r}: unknown key(s) {unknown} "
                              f"(allowed: {sorted(_PROC_KEYS)})")
        missing = [k for k in _REQUIRED if k not in pd]
        if missing:
            raise ConfigError(f"device {origin}: processor {pname!r}: missing {missing}")
        kw = {k: (_number(v, f"device {origin}: processor {pname!r}: {k}") if k in _NUMERIC else v)
              for k, v in pd.items()}
        for k in ("memory_bytes", "ram_bytes"):
            if kw.get(k) is not None and isinstance(kw[k], float) and kw[k].is_integer():
                kw[k] = int(kw[k])
        kw["sources"] = {str(k): str(v) for k, v in (kw.get("sources") or {}).items()}
        try:
            procs.append(Processor(**kw))
        except ConfigError as e:
            raise ConfigError(f"device {origin}: {e}") from None
    names = [p.name for p in procs]
    if len(set(names)) != len(names):
        raise ConfigError(f"device {origin}: processor names repeat: {names}")
    return Device(name=str(doc["name"]), processors=procs, description=str(doc.get("description") or ""))


def load_device(name_or_path: str | os.PathLike) -> Device:
    """A Device from a shipped name (`list_devices()`) or from a YAML file path."""
    s = str(name_or_path)
    path = Path(s)
    if not (path.suffix in (".yaml", ".yml") or os.sep in s or path.is_file()):
        path = DEVICES_DIR / f"{s}.yaml"
        if not path.is_file():
            raise ConfigError(f"device {s!r}: unknown; shipped devices are {list_devices()} (or give a YAML path)")
    if not path.is_file():
        raise ConfigError(f"device file {path}: not found")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"device file {path}: not valid YAML: {e}") from None
    return device_from_dict(doc, origin=str(path))


def save_device(device: Device, path: str | os.PathLike, header: str = "") -> Path:
    """Write `device` as YAML (atomic: temp file then os.replace); `header` becomes leading # comments."""
    path = Path(path)
    text = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    text += yaml.safe_dump(device.to_dict(), sort_keys=False, width=110, allow_unicode=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


# ---- this machine ------------------------------------------------------------------------------------------
# Energy of this CPU is not measured (no power meter in a VM). Assumption: an active core draws the TDP share of
# a comparable part. This CPU reports "Intel Xeon Processor @ 2.50GHz", family 6 model 85 stepping 7 (Cascade
# Lake); a comparable listed part is the Xeon Gold 6248 (20 cores, 2.50 GHz base, 150 W TDP, Intel ARK)
# -> 150 W / 20 cores = 7.5 W per busy core.
ASSUMED_CORE_WATTS = 7.5
ASSUMED_CORE_WATTS_SOURCE = ("assumption, not measured: TDP share of one core, Intel Xeon Gold 6248 (Cascade Lake, "
                             "20 cores, 2.50 GHz, 150 W TDP per Intel ARK) -> 7.5 W per busy core")
# Energy per byte moved through DRAM: 640 pJ per 32-bit DRAM read (45 nm) -> 160 pJ/byte. Horowitz, "Computing's
# energy problem", ISSCC 2014, as tabulated in Han et al., "Deep Compression", ICLR 2016, Table/Fig. 1.
DRAM_J_PER_BYTE = 640e-12 / 4
DRAM_J_PER_BYTE_SOURCE = "Horowitz ISSCC 2014 (via Han et al. ICLR 2016 Fig. 1): 32-bit DRAM read 640 pJ -> 160 pJ/byte"


def _mem_total_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 30


def derive_this_cpu(profile: ModelProfile, core_watts: float = ASSUMED_CORE_WATTS, name: str = "this_cpu",
                    big_fraction: float = 0.25) -> Processor:
    """A Processor for this machine's CPU (1 thread) from a measured `ModelProfile`.

    Time model t = fixed + macs * batch / rate, fitted in two steps:
      1. rate0 = sum(MACs) / sum(latency) over the big layers (MACs >= big_fraction * the largest layer's);
      2. fixed = latency of the smallest layer minus its MACs / rate0 (>= 0): the per-call overhead;
      3. rate  = sum(MACs) / (sum(latency) - n_big * fixed) over the big layers.
    With a single layer size, fixed = 0 and rate = MACs / latency. Energy is `core_watts` (an assumption,
    ASSUMED_CORE_WATTS) times time: energy_per_mac_j = core_watts / rate - 4 * DRAM_J_PER_BYTE (the fp32 weight
    bytes are charged at energy_per_byte_j; floored at 0), fixed_energy_j = core_watts * fixed.
    """
    layers = [l for l in profile.layers if l.latency_s > 0 and l.macs > 0]
    if not layers:
        raise ConfigError(f"derive_this_cpu: profile {profile.name!r} has no layer with MACs and a positive latency")
    if not (core_watts > 0 and math.isfinite(core_watts)):
        raise ConfigError(f"derive_this_cpu: core_watts must be > 0, got {core_watts!r}")
    b = profile.batch
    top = max(l.macs for l in layers)
    big = [l for l in layers if l.macs >= big_fraction * top]
    small = min(layers, key=lambda l: (l.macs, l.latency_s))
    m_big = sum(l.macs * b for l in big)
    t_big = sum(l.latency_s for l in big)
    rate = m_big / t_big
    fixed = 0.0
    if small.macs < big_fraction * top:
        fixed = max(0.0, small.latency_s - small.macs * b / rate)
        fixed = min(fixed, 0.9 * min(l.latency_s for l in big))        # never eat a big layer's whole time
        rate = m_big / (t_big - len(big) * fixed)
    how = (f"measured here: deepear profile of {profile.name} ({len(layers)} layers, input {profile.input_dim}, "
           f"batch {b}, median of {profile.repeats} runs, 1 thread, torch {profile.torch_version}) on {profile.cpu}")
    watts_source = (ASSUMED_CORE_WATTS_SOURCE if core_watts == ASSUMED_CORE_WATTS
                    else f"assumption given by the caller: {core_watts} W per busy core")
    sources = {
        "macs_per_s": f"{how}; rate = MACs / (latency - fixed) over the {len(big)} big layers "
                      f"({', '.join(l.name for l in big)})",
        "fixed_cost_s": f"{how}; smallest layer {small.name} ({small.macs} MACs, {small.latency_s * 1e6:.1f} us) "
                        f"minus its MAC time",
        "energy_per_mac_j": f"{watts_source} divided by the measured macs_per_s, minus 4 fp32 weight bytes per MAC "
                            f"charged at energy_per_byte_j",
        "fixed_energy_j": "the same per-core power times fixed_cost_s",
        "energy_per_byte_j": DRAM_J_PER_BYTE_SOURCE,
        "memory_bytes": "MemTotal of /proc/meminfo on this machine",
    }
    r4 = lambda v: float(f"{v:.4g}")  # noqa: E731 -- 4 significant digits: the measurement is not better
    e_mac = max(0.0, core_watts / rate - FP32_WEIGHT_BYTES_PER_MAC * DRAM_J_PER_BYTE)
    return Processor(name=name, kind="cpu", macs_per_s=r4(rate), energy_per_mac_j=r4(e_mac),
                     energy_per_byte_j=DRAM_J_PER_BYTE, memory_bytes=_mem_total_bytes(), fixed_cost_s=r4(fixed),
                     fixed_energy_j=r4(core_watts * fixed),
                     description=f"{profile.cpu}, one thread, PyTorch fp32 (batch {b})", sources=sources)


def this_cpu_device(profile: ModelProfile, core_watts: float = ASSUMED_CORE_WATTS) -> Device:
    """A one-processor Device for this machine, derived from `profile` (see `derive_this_cpu`)."""
    proc = derive_this_cpu(profile, core_watts=core_watts)
    return Device(name="this_cpu", processors=[proc],
                  description=f"this machine's CPU ({profile.cpu}), one PyTorch thread, derived from deepear profile")


def write_this_cpu(profile: ModelProfile, path: str | os.PathLike | None = None,
                   core_watts: float = ASSUMED_CORE_WATTS) -> Path:
    """Derive this machine's profile from `profile` and write it (default: devices/this_cpu.yaml)."""
    dev = this_cpu_device(profile, core_watts=core_watts)
    header = ("This machine's CPU, derived by deepear.deepx.processors.write_this_cpu from a measured\n"
              f"deepear profile ({profile.name}, batch {profile.batch}, {profile.repeats} repeats, 1 thread).\n"
              "Time numbers are measured; energy numbers rest on the stated per-core power assumption.\n"
              "Regenerate: python -c \"from deepear.deepx.profile import profile_path; from deepear.deepx.processors "
              "import write_this_cpu; write_this_cpu(profile_path('RUN'))\"")
    return save_device(dev, Path(path) if path is not None else DEVICES_DIR / "this_cpu.yaml", header=header)
