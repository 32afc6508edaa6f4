"""Generate `deepear_weights.h`: every constant the portable C library needs, from the Python objects.

    info = write_weights_header(c_dir / "deepear_weights.h", int8_model, fp32_chain, cfg, voicing, tasks, adaptation)

The header holds (1) size macros the state struct `deepear_stream` is built from, including
DEEPEAR_ARENA_BYTES = sizeof(deepear_stream), computed here from the same layout (`arena_layout`) and checked
by a compile-time assert in deepear_model.c; (2) under `DEEPEAR_WEIGHTS_IMPL` (defined by deepear_model.c
only) the tables: Hann window, FFT twiddles, the sparse mel filterbank, the voicing MLP (standardisation
folded into the first layer, exactly as `VoicingModel.predict` does), the input standardisation, task and
window-group tables, label strings, and per layer either int8 weights + int32 bias + per-channel rescale +
input scale (default) or fp32 weights + bias (only under `DEEPEAR_FLOAT`, so the int8 build's flash holds int8
weights only).

Only the default front end is supported by the C port (16 kHz, log-mel of 32 Slaney bands over 0-8 kHz,
periodic Hann, power spectrum, power-of-two FFT; any statistics, delta statistics and pitch statistics, over
the active or the voiced frames); anything else raises ConfigError naming the parameter. The pitch tracker and
its statistics are compiled only for a front end that sets `pitch_stats` (the header then defines DEEPEAR_PITCH
and its constants), the voiced-frame rule only for `stat_frames="voiced"` (DEEPEAR_STAT_VOICED), so the header
of a front end without them is what it was before the ports.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepear.atomic import atomic_write_bytes, atomic_write_text
from deepear.audio import pitch, silence, voicing
from deepear.audio.config import STAT_NAMES, FrontEndConfig
from deepear.audio.features import analysis_window, mel_filterbank
from deepear.audio.speaker_norm import AdaptationSpec
from deepear.audio.voicing import N_CONTEXT, N_SHORT, VoicingModel
from deepear.deepx.quantize import Int8Model, LinearChain
from deepear.errors import ConfigError

log = logging.getLogger(__name__)

ACT_CODES = {None: 0, "sigmoid": 1, "relu": 2, "tanh": 3}
C_SRC = Path(__file__).with_name("c_src")
STATIC_SOURCES = ("deepear_model.h", "deepear_model.c", "deepear_run.c", "Makefile")
# The C library's index of each pitch statistic (the PS_* macros in deepear_model.c).
C_PITCH_CODES = {"voiced_frac": 0, "st_mean": 1, "st_std": 2, "st_p10": 3, "st_median": 4, "st_p90": 5,
                 "st_range": 6, "dst_absmed": 7, "dst_std": 8, "aper_mean": 9, "aper_p25": 10}


# ---------------------------------------------------------------------------------------------------------
# What the C port supports
def check_supported(cfg: FrontEndConfig) -> None:
    """Raise ConfigError when `cfg` is a front end the C library does not implement (it implements the defaults)."""
    ref = voicing.reference_mel_config(cfg)
    problems = []
    if cfg.sample_rate != 16000:
        problems.append(f"sample_rate={cfg.sample_rate} (the C library takes 16 kHz PCM only)")
    if cfg.feature != "logmel":
        problems.append(f"feature={cfg.feature!r} (only 'logmel' is ported)")
    if cfg.window != "hann":
        problems.append(f"window={cfg.window!r} (only 'hann')")
    if cfg.power != 2.0:
        problems.append(f"power={cfg.power} (only 2.0)")
    if cfg.n_fft < 4 or cfg.n_fft & (cfg.n_fft - 1):
        problems.append(f"n_fft={cfg.n_fft} (must be a power of two for the radix-2 FFT)")
    if (cfg.n_mels, cfg.fmin_hz, cfg.fmax_hz, cfg.mel_htk, cfg.mel_norm) != (
            ref.n_mels, ref.fmin_hz, ref.fmax_hz, ref.mel_htk, ref.mel_norm):
        problems.append(f"mel layout n_mels={cfg.n_mels}, fmin_hz={cfg.fmin_hz}, fmax_hz={cfg.fmax_hz}, "
                        f"mel_htk={cfg.mel_htk}, mel_norm={cfg.mel_norm!r} (the C port shares the voicing "
                        f"indicator's 32 Slaney bands over 0-{ref.fmax_hz:g} Hz)")
    unknown = sorted(set(cfg.pitch_stats) - set(C_PITCH_CODES))
    if unknown:
        problems.append(f"pitch_stats {unknown} (the C library computes {sorted(C_PITCH_CODES)})")
    if problems:
        raise ConfigError("C library: unsupported front-end configuration: " + "; ".join(problems))


def window_groups(tasks: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Tasks sharing (window_s, hop_s) share one window: [{window_s, hop_s, tasks}], sorted by (window_s, hop_s).

    Args: tasks: the manifest's "tasks" dict in model output order (each with window_s, hop_s).
    """
    groups: dict[tuple[float, float], list[str]] = {}
    for name, t in tasks.items():
        try:
            key = (float(t["window_s"]), float(t["hop_s"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"C library: task {name!r} needs numeric window_s and hop_s ({e!r})") from None
        if not (key[0] > 0 and key[1] > 0):
            raise ConfigError(f"C library: task {name!r}: window_s and hop_s must be positive, got {key}")
        groups.setdefault(key, []).append(name)
    return [{"window_s": k[0], "hop_s": k[1], "tasks": v} for k, v in sorted(groups.items())]


def _frames(seconds: float, cfg: FrontEndConfig) -> int:
    """Frames of a window or hop, as `frontend.window_bounds` counts them."""
    return max(1, int(round(seconds * (1000.0 / cfg.hop_ms))))


# ---------------------------------------------------------------------------------------------------------
# The state struct's layout (must mirror `deepear_stream` in deepear_model.h field by field)
def arena_layout(sizes: Mapping[str, int]) -> list[tuple[str, int]]:
    """[(field, bytes)] of `deepear_stream` in declaration order, without implicit padding (see the header).
    The pitch fields (a double array right after the leading double, so 8-byte aligned; two float rings) are
    there only when `sizes` has PITCH_N_LAGS."""
    s = sizes
    pitch_lags = s.get("PITCH_N_LAGS", 0)   # only with pitch_stats (DEEPEAR_PITCH)
    fields = [
        ("floor_run_min", 8), *([("pitch_dn", 8 * pitch_lags)] if pitch_lags else []),
        ("n_frames", 4), ("n_pcm", 4), ("routing", 4), ("voi_n", 4), ("voi_pos", 4),
        ("n_emitted", 4 * s["N_GROUPS_PAD"]), ("pcm", 2 * s["N_FFT"]), ("fft", 4 * s["N_FFT"]),
        ("power", 4 * s["N_BINS_PAD"]), ("ring_values", 4 * s["MAX_WIN"] * s["N_MELS"]),
        ("ring_energy", 4 * s["MAX_WIN"]), ("ring_speech", 4 * s["MAX_WIN"]),
        *([("ring_st", 4 * s["MAX_WIN"]), ("ring_aper", 4 * s["MAX_WIN"])] if pitch_lags else []),
        ("ring_active", s["MAX_WIN_PAD4"]),
        ("voi_low", 4 * s["VOI_CTX"] * s["VOI_N_LOW"]), ("voi_lev", 4 * s["VOI_CTX"]),
        ("voi_flux", 4 * s["VOI_CTX"]), ("voi_flat", 4 * s["VOI_CTX"]), ("voi_feat", 4 * s["VOI_N_FEAT"]),
        ("voi_hidden", 4 * s["VOI_HIDDEN"]), ("sort_buf", 4 * s["MAX_WIN"]), ("features", 4 * s["DIM"]),
        ("ad_n", 4), ("ad_pad", 4), ("ad_mean", 4 * s["AD_DIM"]), ("ad_m2", 4 * s["AD_DIM"]),
        ("ad_x", 4 * s["AD_DIM"]),
        ("act_a", 4 * s["MAX_WIDTH"]), ("act_b", 4 * s["MAX_WIDTH"]), ("trunk_out", 4 * s["MAX_WIDTH"]),
        ("act_q", s["MAX_WIDTH_PAD4"]), ("probs", 4 * s["TOTAL_CLASSES"]),
    ]
    if any(b % 4 for _, b in fields):
        raise AssertionError("every arena field must be a multiple of 4 bytes")
    total = sum(b for _, b in fields)
    fields.append(("tail_pad", 4 * tail_pad(total)))   # DEEPEAR_TAIL_PAD: the size becomes a multiple of 8
    return fields


def tail_pad(total_without_pad: int) -> int:
    """uint32 words of tail padding that make the arena a multiple of 8 bytes (C99 has no empty arrays: >= 1)."""
    return 2 if total_without_pad % 8 == 0 else 1


def _pad4(n: int) -> int:
    return (n + 3) // 4 * 4


# ---------------------------------------------------------------------------------------------------------
# C text helpers
def _f32(v: float) -> str:
    """A float32 as a C literal that round-trips (9 significant digits)."""
    s = "%.9g" % float(np.float32(v))
    if s in ("inf", "-inf", "nan"):
        raise ConfigError(f"C library: non-finite constant {s} in the model")
    return s


def _short_f32(v: np.float32) -> str:
    """The shortest decimal that reads back as exactly this float32 (numpy's repr), as a C float literal."""
    s = str(v)
    if "." not in s and "e" not in s:
        s += ".0"
    return s + "f"


def _f64(v: float) -> str:
    return repr(float(v))


def _array(ctype: str, name: str, values: Sequence[Any] | np.ndarray, kind: str = "f", per_line: int = 16) -> str:
    arr = np.asarray(values)
    flat = arr.reshape(-1).tolist()
    if kind == "f":
        a32 = np.asarray(flat, dtype=np.float32)
        if not np.isfinite(a32).all():
            raise ConfigError(f"C library: {name} holds NaN/Inf")
        items = [_short_f32(v) for v in a32]
    else:
        items = [str(int(v)) for v in flat]
    if not items:
        items = ["0"]   # C99 has no empty arrays; a 1-element placeholder is never read
    lines = [",".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return f"static const {ctype} {name}[{len(items)}] = {{\n    " + ",\n    ".join(lines) + "\n};\n"


def _c_string(s: str) -> str:
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        out.append(c if 32 <= b < 127 and c not in '"\\?' else "\\%03o" % b)
    return '"' + "".join(out) + '"'


# ---------------------------------------------------------------------------------------------------------
def _check_models(int8_model: Int8Model, fp32_chain: LinearChain, cfg: FrontEndConfig,
                  tasks: Mapping[str, Mapping[str, Any]]) -> None:
    names = list(tasks)
    if int8_model.task_names != names or list(fp32_chain.heads) != names:
        raise ConfigError(f"C library: task order differs: manifest {names}, int8 model {int8_model.task_names}, "
                          f"fp32 chain {list(fp32_chain.heads)}")
    if int8_model.input_dim != cfg.dim or fp32_chain.input_mean.shape[0] != cfg.dim:
        raise ConfigError(f"C library: the model takes {int8_model.input_dim} inputs, the front end gives {cfg.dim}")
    q_layers, f_layers = int8_model.layers(), fp32_chain.layers()
    if len(int8_model.trunk) != len(fp32_chain.trunk) or len(q_layers) != len(f_layers) or any(
            q.weight.shape != f.weight.shape or q.activation != f.activation for q, f in zip(q_layers, f_layers)):
        raise ConfigError("C library: the int8 model and the fp32 chain have different layers")
    for t in names:
        n_out = int8_model.heads[t][-1].weight.shape[0]
        if len(tasks[t].get("labels", [])) != n_out:
            raise ConfigError(f"C library: task {t!r} has {len(tasks[t].get('labels', []))} labels, its head "
                              f"{n_out} outputs")
        if [lay.weight.shape for lay in int8_model.heads[t]] != [lay.weight.shape for lay in fp32_chain.heads[t]]:
            raise ConfigError(f"C library: head {t!r} differs between int8 and fp32")
    width = cfg.dim
    for lay in int8_model.trunk:
        if lay.weight.shape[1] != width:
            raise ConfigError(f"C library: trunk layer {lay.name} takes {lay.weight.shape[1]} inputs, gets {width}")
        width = lay.weight.shape[0]
    for lay in q_layers:
        if lay.activation not in ACT_CODES:
            raise ConfigError(f"C library: layer {lay.name}: activation {lay.activation!r} not supported")


def render_weights_header(int8_model: Int8Model, fp32_chain: LinearChain, cfg: FrontEndConfig,
                          voicing_model: VoicingModel, tasks: Mapping[str, Mapping[str, Any]],
                          adaptation: AdaptationSpec | None = None) -> tuple[str, dict]:
    """The text of deepear_weights.h and a summary dict {arena_bytes, weights_bytes_int8, weights_bytes_fp32, ...}.
    `adaptation`: per-speaker adaptation of one window group (the running rule of deepear.audio.speaker_norm)."""
    check_supported(cfg)
    _check_models(int8_model, fp32_chain, cfg, tasks)
    lay_v = voicing._layout(cfg)
    voicing._check_model(voicing_model, cfg)
    names = list(tasks)
    groups = window_groups(tasks)
    q_layers, f_layers = int8_model.layers(), fp32_chain.layers()
    n_trunk = len(int8_model.trunk)
    trunk_out = int8_model.trunk[-1].weight.shape[0] if n_trunk else cfg.dim
    n_classes = [len(tasks[t]["labels"]) for t in names]
    offsets = np.concatenate([[0], np.cumsum(n_classes)[:-1]]).astype(int).tolist()
    first_layer, n_layers, i = [], [], n_trunk
    for t in names:
        first_layer.append(i)
        n_layers.append(len(int8_model.heads[t]))
        i += len(int8_model.heads[t])
    g_win = [_frames(g["window_s"], cfg) for g in groups]
    g_hop = [_frames(g["hop_s"], cfg) for g in groups]
    max_group_tasks = max(len(g["tasks"]) for g in groups)
    max_width = max([cfg.dim] + [d for lay in q_layers for d in lay.weight.shape])
    n_feat_v, hidden_v = voicing_model.w1.shape
    sizes = {
        "N_FFT": cfg.n_fft, "N_BINS": cfg.n_fft // 2 + 1, "N_BINS_PAD": cfg.n_fft // 2 + 1, "N_MELS": cfg.n_mels,
        "N_GROUPS": len(groups), "N_GROUPS_PAD": len(groups), "MAX_WIN": max(g_win),
        "MAX_WIN_PAD4": _pad4(max(g_win)), "VOI_CTX": N_CONTEXT, "VOI_N_LOW": lay_v.n_low_mels,
        "VOI_N_FEAT": n_feat_v, "VOI_HIDDEN": hidden_v, "DIM": cfg.dim, "MAX_WIDTH": max_width,
        "MAX_WIDTH_PAD4": _pad4(max_width), "TOTAL_CLASSES": sum(n_classes),
        "AD_DIM": cfg.dim if adaptation is not None else 1,
    }
    if cfg.pitch_stats:
        p = cfg.pitch
        tau_min = int(math.floor(cfg.sample_rate / p.fmax_hz))      # as pitch.pitch_track
        tau_max = int(math.ceil(cfg.sample_rate / p.fmin_hz))
        sizes["PITCH_N_LAGS"] = tau_max - tau_min + 1
    adapt_group = -1
    if adaptation is not None:
        adapt_group = adaptation.group_index([g["tasks"] for g in groups])
        if adapt_group < 0 or adaptation.ref_mean.shape != (cfg.dim,):
            raise ConfigError(f"C library: adaptation of tasks {list(adaptation.tasks)} needs exactly one window "
                              f"group with those tasks and {cfg.dim}-value reference statistics")
    layout = arena_layout(sizes)
    sizes["TAIL_PAD"] = layout[-1][1] // 4
    arena = sum(b for _, b in layout)

    tracker = silence.NoiseFloorTracker(cfg.silence, cfg.hop_ms / 1000.0)
    win_full = analysis_window(cfg)
    pad = (cfg.n_fft - cfg.win_length) // 2
    energy_denom = cfg.n_fft * float(np.dot(win_full, win_full))
    range_factor = 0.0 if cfg.log_range_db is None else float(np.float32(10.0 ** (-cfg.log_range_db / 10.0)))
    std_bytes = 2 * 4 * cfg.dim
    w_int8 = std_bytes + sum(lay.weight.size + 4 * lay.bias.size + 4 * lay.w_scale.size + 4 for lay in q_layers)
    w_fp32 = std_bytes + sum(4 * lay.weight.size + 4 * lay.bias.size for lay in f_layers)

    o: list[str] = []
    o.append("/* deepear_weights.h: generated by deepear.export.c_codegen; do not edit. */\n"
             "#ifndef DEEPEAR_WEIGHTS_H\n#define DEEPEAR_WEIGHTS_H\n\n#include <stdint.h>\n\n")
    macros = {
        "SAMPLE_RATE": cfg.sample_rate, "LOG2_N_FFT": int(math.log2(cfg.n_fft)), "HOP": cfg.hop_length,
        "WIN_LEN": cfg.win_length, "WIN_PAD": pad, "N_STATS": len(cfg.stats),
        "N_DSTATS": len(cfg.delta_stats), "DELTA_WIDTH": cfg.delta_width, "N_TASKS": len(names),
        "MAX_GROUP_TASKS": max_group_tasks, "N_LAYERS": len(q_layers), "N_TRUNK": n_trunk, "TRUNK_OUT": trunk_out,
        "VOI_SHORT": N_SHORT, "HARM_LO_A": lay_v.harm_lo[0], "HARM_LO_B": lay_v.harm_lo[1],
        "HARM_HI_A": lay_v.harm_hi[0], "HARM_HI_B": lay_v.harm_hi[1], "N_INIT": tracker.n_init,
        "MIN_ACTIVE": int(cfg.silence.min_active_frames), **sizes, "ARENA_BYTES": arena,
        "WEIGHTS_BYTES_INT8": w_int8, "WEIGHTS_BYTES_FP32": w_fp32, "ADAPT_GROUP": adapt_group,
    }
    if cfg.pitch_stats:   # only then: a front end without pitch keeps the header it had before the port
        macros.update({"PITCH": 1, "N_PITCH": len(cfg.pitch_stats), "PITCH_TAU_MIN": tau_min,
                       "PITCH_TAU_MAX": tau_max, "PITCH_W": cfg.n_fft - tau_max,
                       "PITCH_MIN_VOICED": pitch.MIN_VOICED,
                       "PITCH_MASK": sum(1 << C_PITCH_CODES[n] for n in cfg.pitch_stats)})
    if cfg.stat_frames == "voiced":   # only then: the default front end keeps the header it had before
        macros.update({"STAT_VOICED": 1, "VOICED_MIN": int(cfg.voiced_min_frames)})
    o.append("/* sizes (the state struct deepear_stream is built from these) */\n")
    o.extend(f"#define DEEPEAR_{k} {int(v)}\n" for k, v in macros.items())
    o.append("\n/* front-end constants */\n")
    consts = {
        "ABS_FLOOR_DB": _f64(cfg.silence.abs_floor_db), "MARGIN_DB": _f64(cfg.silence.margin_db),
        "RISE_PER_FRAME_DB": _f64(tracker.rise_per_frame_db), "HOP_S": _f64(cfg.hop_ms / 1000.0),
        "FRAME_S": _f64(cfg.n_fft / cfg.sample_rate), "ENERGY_DENOM": _f64(energy_denom),
        "WINDOW_THRESHOLD": f"((float){_f32(cfg.voicing.window_threshold)})",
        "LOG_AMIN": f"((float){_f32(cfg.log_amin)})", "LOG_RANGE_FACTOR": f"((float){_f32(range_factor)})",
        "VOI_B2": f"((float){_f32(voicing_model.b2)})",
        "AD_PRIOR": f"((float){_f32(adaptation.prior_windows if adaptation else 1)})",
        "AD_FLOOR": f"((float){_f32(adaptation.std_floor if adaptation else 1)})",
    }
    if cfg.pitch_stats:   # the threshold is compared in float64 with the normalised difference, voiced_max in
        consts.update({   # float32 with the stored aperiodicity, as in deepear.audio.pitch
            "PITCH_THRESHOLD": _f64(cfg.pitch.threshold),
            "PITCH_VOICED_MAX": f"((float){_f32(cfg.pitch.voiced_max)})"})
    if cfg.stat_frames == "voiced":   # compared in float32 with the stored P(speech), as in frontend.summarize
        consts["FRAME_THRESHOLD"] = f"((float){_f32(cfg.voicing.frame_threshold)})"
    o.extend(f"#define DEEPEAR_{k} {v}\n" for k, v in consts.items())

    o.append("\n#ifdef DEEPEAR_WEIGHTS_IMPL\n")
    o.append(_array("float", "deepear_window", win_full[pad:pad + cfg.win_length]))
    k = np.arange(cfg.n_fft // 2)
    tw = np.stack([np.cos(2 * np.pi * k / cfg.n_fft), np.sin(2 * np.pi * k / cfg.n_fft)], axis=1)
    o.append(_array("float", "deepear_twiddle", tw))
    fb = mel_filterbank(cfg)
    starts, lens, offs, ws = [], [], [], []
    for row in fb:
        nz = np.nonzero(row)[0]
        a, b = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
        starts.append(a)
        lens.append(b - a)
        offs.append(sum(len(w) for w in ws))
        ws.append(row[a:b])
    o.append(_array("uint16_t", "deepear_mel_start", starts, "i"))
    o.append(_array("uint16_t", "deepear_mel_len", lens, "i"))
    o.append(_array("uint16_t", "deepear_mel_off", offs, "i"))
    o.append(_array("float", "deepear_mel_w", np.concatenate(ws) if ws else []))
    w1f, b1f = voicing_model._folded()
    o.append(_array("float", "deepear_voi_w1", w1f))
    o.append(_array("float", "deepear_voi_b1", b1f))
    o.append(_array("float", "deepear_voi_w2", voicing_model.w2))
    o.append(_array("uint8_t", "deepear_stat_code", [STAT_NAMES.index(s) for s in cfg.stats], "i"))
    # C99 has no zero-length arrays: a front end without deltas gets one unused entry
    o.append(_array("uint8_t", "deepear_dstat_code", [STAT_NAMES.index(s) for s in cfg.delta_stats] or [0], "i"))
    if cfg.pitch_stats:
        o.append(_array("uint8_t", "deepear_pitch_code", [C_PITCH_CODES[n] for n in cfg.pitch_stats], "i"))
    o.append(_array("float", "deepear_ad_ref_mean", adaptation.ref_mean if adaptation else [0.0]))
    o.append(_array("float", "deepear_ad_ref_std", adaptation.ref_std if adaptation else [1.0]))
    o.append(_array("float", "deepear_in_mean", int8_model.input_mean))
    o.append(_array("float", "deepear_in_std", int8_model.input_std))
    o.append(_array("uint16_t", "deepear_group_win", g_win, "i"))
    o.append(_array("uint16_t", "deepear_group_hop", g_hop, "i"))
    o.append(_array("uint8_t", "deepear_group_n_tasks", [len(g["tasks"]) for g in groups], "i"))
    o.append("static const double deepear_group_window_sec[] = {" + ", ".join(_f64(g["window_s"]) for g in groups)
             + "};\nstatic const double deepear_group_hop_sec[] = {"
             + ", ".join(_f64(g["hop_s"]) for g in groups) + "};\n")
    o.append("static const uint8_t deepear_group_tasks[DEEPEAR_N_GROUPS][DEEPEAR_MAX_GROUP_TASKS] = {"
             + ", ".join("{" + ", ".join(str(names.index(t)) for t in g["tasks"]) + "}" for g in groups) + "};\n")
    o.append("static const char *const deepear_task_names[] = {" + ", ".join(_c_string(t) for t in names) + "};\n")
    o.append(_array("uint8_t", "deepear_task_speech", [int(bool(tasks[t].get("speech", False))) for t in names], "i"))
    o.append(_array("uint16_t", "deepear_task_n_cls", n_classes, "i"))
    o.append(_array("uint16_t", "deepear_task_offset", offsets, "i"))
    o.append(_array("uint16_t", "deepear_task_first_layer", first_layer, "i"))
    o.append(_array("uint16_t", "deepear_task_n_layers", n_layers, "i"))
    o.append("static const char *const deepear_labels[] = {\n    "
             + ",\n    ".join(_c_string(str(lab)) for t in names for lab in tasks[t]["labels"]) + "\n};\n")

    o.append("\n#ifndef DEEPEAR_FLOAT\n/* int8 layers: y = act(float(int32(q(x) . w_q) + bias) * rescale) */\n"
             "typedef struct {\n    int32_t n_in, n_out, act;\n    float in_scale;\n    const int8_t *w;\n"
             "    const int32_t *bias;\n    const float *rescale;\n} deepear_qlayer;\n")
    for li, lay in enumerate(q_layers):
        o.append(f"/* L{li} {lay.name}: ({lay.weight.shape[0]}, {lay.weight.shape[1]}) {lay.activation} */\n")
        o.append(_array("int8_t", f"deepear_q{li}_w", lay.weight, "i", per_line=32))
        o.append(_array("int32_t", f"deepear_q{li}_b", lay.bias, "i"))
        o.append(_array("float", f"deepear_q{li}_r", lay.rescale))
    o.append("static const deepear_qlayer deepear_qlayers[DEEPEAR_N_LAYERS] = {\n" + ",\n".join(
        f"    {{{lay.weight.shape[1]}, {lay.weight.shape[0]}, {ACT_CODES[lay.activation]}, (float){_f32(lay.in_scale)}, "
        f"deepear_q{li}_w, deepear_q{li}_b, deepear_q{li}_r}}" for li, lay in enumerate(q_layers)) + "\n};\n")
    o.append("#else\n/* fp32 layers: y = act(x . w + b) */\n"
             "typedef struct {\n    int32_t n_in, n_out, act;\n    const float *w;\n    const float *b;\n"
             "} deepear_flayer;\n")
    for li, lay in enumerate(f_layers):
        o.append(f"/* L{li} {lay.name}: ({lay.weight.shape[0]}, {lay.weight.shape[1]}) {lay.activation} */\n")
        o.append(_array("float", f"deepear_f{li}_w", lay.weight, per_line=8))
        o.append(_array("float", f"deepear_f{li}_b", lay.bias, per_line=8))
    o.append("static const deepear_flayer deepear_flayers[DEEPEAR_N_LAYERS] = {\n" + ",\n".join(
        f"    {{{lay.weight.shape[1]}, {lay.weight.shape[0]}, {ACT_CODES[lay.activation]}, deepear_f{li}_w, "
        f"deepear_f{li}_b}}" for li, lay in enumerate(f_layers)) + "\n};\n")
    o.append("#endif /* DEEPEAR_FLOAT */\n#endif /* DEEPEAR_WEIGHTS_IMPL */\n#endif /* DEEPEAR_WEIGHTS_H */\n")
    info = {"arena_bytes": arena, "weights_bytes_int8": w_int8, "weights_bytes_fp32": w_fp32,
            "window_groups": [{**g, "window_frames": w, "hop_frames": h} for g, w, h in zip(groups, g_win, g_hop)],
            "max_window_frames": max(g_win), "n_layers": len(q_layers)}
    return "".join(o), info


def write_weights_header(path: str | Path, int8_model: Int8Model, fp32_chain: LinearChain, cfg: FrontEndConfig,
                         voicing_model: VoicingModel, tasks: Mapping[str, Mapping[str, Any]],
                         adaptation: AdaptationSpec | None = None) -> dict:
    """Write deepear_weights.h (atomically) and return `render_weights_header`'s summary dict."""
    text, info = render_weights_header(int8_model, fp32_chain, cfg, voicing_model, tasks, adaptation)
    atomic_write_text(path, text)
    log.info("wrote %s (%d bytes; arena %d bytes)", path, len(text), info["arena_bytes"])
    return info


def write_c_library(c_dir: Path, int8_model: Int8Model, fp32_chain: LinearChain, cfg: FrontEndConfig,
                    voicing: VoicingModel, tasks: Mapping[str, Mapping[str, Any]],
                    adaptation: AdaptationSpec | None = None) -> dict:
    """Copy the static C sources into `c_dir` and generate deepear_weights.h for this model.

    Args: tasks: the manifest's "tasks" dict (labels, window_s, hop_s, speech) in model output order.
    Returns: {arena_bytes, weights_bytes_int8, weights_bytes_fp32, window_groups, max_window_frames, n_layers,
        files}. Raises ConfigError for a front end or model the C port does not support.
    """
    check_supported(cfg)
    c_dir = Path(c_dir)
    c_dir.mkdir(parents=True, exist_ok=True)
    info = write_weights_header(c_dir / "deepear_weights.h", int8_model, fp32_chain, cfg, voicing, tasks, adaptation)
    for name in STATIC_SOURCES:
        atomic_write_bytes(c_dir / name, (C_SRC / name).read_bytes())
    info["files"] = sorted([*STATIC_SOURCES, "deepear_weights.h"])
    return info
