"""Build, run and measure the portable C library of a bundle (`<bundle>/c/`).

    exe = compile_c(bundle / "c", tmp / "deepear_run")               # int8 build, -Werror
    events = run_c(exe, bundle / "golden" / "clip.pcm")               # one dict per window event
    m = measure_c(bundle / "c")                                       # flash / RAM of the library

Flash and RAM (`measure_c`) are measured on the library object `deepear_model.o` compiled for the host
(x86-64, `gcc -std=c99 -O2`): flash = .text + every .rodata* + .data* (incl. .data.rel.ro: the layer and
label tables), RAM = the arena (sizeof(deepear_stream), the caller's state) + .data/.bss of the object (none)
+ the worst-case stack of `deepear_push` / `deepear_flush`. The stack is the longest path through GCC's
call graph with per-function frame sizes (`-fstack-usage -fcallgraph-info=su`); libm functions (expf,
log10f, ...) and the user's event callback are not counted (they are outside the library; on a
Cortex-M4 expf/log10f need well under 100 bytes). It is a host-build estimate: code size and frames differ
on an ARM Cortex-M (Thumb-2 code is smaller, pointers are 4 bytes); when `arm-none-eabi-gcc` is on PATH the
same measurement is repeated for `-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2`.
The weights dominate flash either way and are the same bytes on every target.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from deepear.errors import ConfigError, DeepearError

log = logging.getLogger(__name__)

CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")
ARM_CC = "arm-none-eabi-gcc"
ARM_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
ENTRY_POINTS = ("deepear_push", "deepear_flush", "deepear_init")
# Deployment targets a bundle can be checked against (bytes).
def _find_cc(cc: str) -> str:
    path = shutil.which(cc)
    if path is None:
        raise ConfigError(f"C compiler {cc!r} not found on PATH; install gcc (or pass cc=...) to build the C library")
    return path


def _check_c_dir(c_dir: Path) -> Path:
    c_dir = Path(c_dir)
    missing = [f for f in ("deepear_model.c", "deepear_model.h", "deepear_weights.h", "deepear_run.c")
               if not (c_dir / f).is_file()]
    if missing:
        raise ConfigError(f"C library {c_dir}: missing {missing}")
    return c_dir


def compile_c(c_dir: Path, out: Path, float_build: bool = False, cc: str = "gcc") -> Path:
    """Compile deepear_run (+ the library) from `c_dir` into executable `out` with -std=c99 -Wall -Wextra -Werror -O2.

    Args: float_build: -DDEEPEAR_FLOAT (the fp32 model) instead of the int8 path.
    Raises: ConfigError when the compiler or a source file is missing; DeepearError with the compiler's output
        when the build fails (any warning fails it).
    """
    c_dir = _check_c_dir(c_dir)
    exe = _find_cc(cc)
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, *CFLAGS, *(["-DDEEPEAR_FLOAT"] if float_build else []), "-o", str(out), "deepear_run.c",
           "deepear_model.c", "-lm"]
    r = subprocess.run(cmd, cwd=c_dir, capture_output=True, text=True)
    if r.returncode != 0:
        raise DeepearError(f"C library {c_dir}: build failed ({' '.join(cmd[1:])}):\n{r.stderr.strip()}")
    log.info("compiled %s (%s)", out, "float" if float_build else "int8")
    return out


def run_c(exe: Path, pcm: Path, routing: bool = False, chunk: int | None = None) -> list[dict]:
    """Run deepear_run on a raw int16 LE 16 kHz PCM file; one dict per window event (features included).

    Args: routing: False runs speech tasks on unvoiced windows too (--all), as the golden comparison needs;
        chunk: push size in samples (default deepear_run's 1024).
    Raises: DeepearError when the program fails or prints something that is not JSON.
    """
    cmd = [str(exe), "--features"] + ([] if routing else ["--all"]) + (["--chunk", str(chunk)] if chunk else [])
    r = subprocess.run(cmd + [str(pcm)], capture_output=True, text=True)
    if r.returncode != 0:
        raise DeepearError(f"deepear_run {pcm}: exit {r.returncode}: {r.stderr.strip()}")
    try:
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        raise DeepearError(f"deepear_run {pcm}: output is not JSON lines ({e})") from None


def _sections(obj: Path) -> dict[str, int]:
    size = shutil.which("size")
    if size is None:
        raise ConfigError("`size` (binutils) not found on PATH; needed to measure the C library")
    r = subprocess.run([size, "-A", str(obj)], capture_output=True, text=True, check=True)
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _max_stack(ci_text: str) -> tuple[int, dict[str, int], list[str]]:
    """Worst-case stack over ENTRY_POINTS from a GCC -fcallgraph-info=su file: (bytes, per entry, path)."""
    frames: dict[str, int] = {}
    edges: dict[str, set[str]] = {}
    short: dict[str, str] = {}
    for m in re.finditer(r'node: \{ title: "([^"]+)" label: "([^"]*)"', ci_text):
        title, label = m.group(1), m.group(2)
        short[title] = label.split("\\n")[0]
        s = re.search(r"(\d+) bytes", label)
        frames[title] = int(s.group(1)) if s else 0
    for m in re.finditer(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', ci_text):
        edges.setdefault(m.group(1), set()).add(m.group(2))
    memo: dict[str, tuple[int, list[str]]] = {}

    def worst(node: str, seen: frozenset) -> tuple[int, list[str]]:
        if node in memo:
            return memo[node]
        if node in seen:
            raise DeepearError(f"C library: recursion through {node}; the stack is unbounded")
        best = (0, [])
        for nxt in edges.get(node, ()):
            best = max(best, worst(nxt, seen | {node}), key=lambda x: x[0])
        memo[node] = (frames.get(node, 0) + best[0], [short.get(node, node)] + best[1])
        return memo[node]

    per_entry, top = {}, (0, [])
    for entry in ENTRY_POINTS:
        node = next((t for t in frames if short.get(t) == entry), None)
        if node is None:
            continue
        per_entry[entry] = worst(node, frozenset())[0]
        top = max(top, worst(node, frozenset()), key=lambda x: x[0])
    return top[0], per_entry, top[1]


def _header_macro(c_dir: Path, name: str) -> int:
    m = re.search(rf"#define DEEPEAR_{name} (\d+)", (c_dir / "deepear_weights.h").read_text()[:20000])
    if not m:
        raise ConfigError(f"C library {c_dir}: deepear_weights.h lacks DEEPEAR_{name}")
    return int(m.group(1))


def _measure_object(c_dir: Path, cc: str, flags: tuple[str, ...], float_build: bool, tmp: Path) -> dict[str, Any]:
    obj = tmp / ("deepear_model_f.o" if float_build else "deepear_model.o")
    cmd = [cc, *CFLAGS, *flags, *(["-DDEEPEAR_FLOAT"] if float_build else []), "-fstack-usage",
           "-fcallgraph-info=su", "-c", "-o", str(obj), "deepear_model.c"]
    r = subprocess.run(cmd, cwd=c_dir, capture_output=True, text=True)
    if r.returncode != 0:
        raise DeepearError(f"C library {c_dir}: build failed ({' '.join(cmd[1:])}):\n{r.stderr.strip()}")
    sec = _sections(obj)
    text = sum(v for k, v in sec.items() if k.startswith(".text"))
    rodata = sum(v for k, v in sec.items() if k.startswith(".rodata") or k.startswith(".data.rel.ro"))
    data = sum(v for k, v in sec.items() if k.startswith(".data") and not k.startswith(".data.rel.ro"))
    bss = sum(v for k, v in sec.items() if k.startswith(".bss"))
    ci = obj.with_suffix(".ci")
    stack, per_entry, path = _max_stack(ci.read_text()) if ci.exists() else (0, {}, [])
    return {"text_bytes": text, "rodata_bytes": rodata, "data_bytes": data, "bss_bytes": bss,
            "flash_bytes": text + rodata + data, "stack_bytes": stack, "stack_per_entry": per_entry,
            "stack_path": path}


def measure_c(c_dir: Path, cc: str = "gcc") -> dict[str, Any]:
    """Flash and RAM of the C library in `c_dir`, int8 and float builds (method in the module docstring).

    Returns: {"int8": {...}, "float": {...}, "arena_bytes", "weights_bytes_int8", "weights_bytes_fp32",
        "target": "host-x86_64 ...", "arm": {...} or None, "method": str}; each build dict holds text_bytes,
        rodata_bytes, data_bytes, bss_bytes, flash_bytes, stack_bytes, ram_bytes (= arena + data + bss + stack);
        the same figures flat as flash_bytes_<build>, ram_bytes_<build>, code_bytes_<build> (.text),
        stack_bytes_<build> for build in int8, float.
    """
    c_dir = _check_c_dir(c_dir)
    exe = _find_cc(cc)
    arena = _header_macro(c_dir, "ARENA_BYTES")
    out: dict[str, Any] = {"arena_bytes": arena, "weights_bytes_int8": _header_macro(c_dir, "WEIGHTS_BYTES_INT8"),
                           "weights_bytes_fp32": _header_macro(c_dir, "WEIGHTS_BYTES_FP32"),
                           "target": f"host build ({cc} {' '.join(CFLAGS[:1] + CFLAGS[-1:])}, x86-64): an estimate, "
                                     f"not an ARM measurement",
                           "method": "flash = .text + .rodata* + .data* of deepear_model.o; RAM = arena "
                                     "(sizeof(deepear_stream)) + .data + .bss + worst-case stack of deepear_push/"
                                     "deepear_flush from gcc -fstack-usage -fcallgraph-info=su (libm and the event "
                                     "callback excluded)"}
    with tempfile.TemporaryDirectory(prefix="deepear-cmeasure-") as t:
        tmp = Path(t)
        for name, fb in (("int8", False), ("float", True)):
            m = _measure_object(c_dir, exe, (), fb, tmp)
            m["ram_bytes"] = arena + m["data_bytes"] + m["bss_bytes"] + m["stack_bytes"]
            out[name] = m
            out[f"flash_bytes_{name}"], out[f"ram_bytes_{name}"] = m["flash_bytes"], m["ram_bytes"]
            out[f"code_bytes_{name}"], out[f"stack_bytes_{name}"] = m["text_bytes"], m["stack_bytes"]
        arm = shutil.which(ARM_CC)
        out["arm"] = None
        if arm:
            m = _measure_object(c_dir, arm, ARM_FLAGS, False, tmp)
            m["ram_bytes"] = arena + m["data_bytes"] + m["bss_bytes"] + m["stack_bytes"]
            out["arm"] = {"int8": m, "flags": " ".join(ARM_FLAGS)}
    return out


def fits_target(measure: dict[str, Any], target: str, build: str = "int8") -> dict[str, Any]:
    """Does a `measure_c` result fit a deployment target (deepear.export.targets, e.g. "watch-m4": 256 KB RAM,
    1 MB flash; limits from the shipped device profiles)?

    Returns: {target, ram_bytes, flash_bytes, ram_limit, flash_limit, fits_ram, fits_flash, fits} (ram_limit
    None = the profile has no separate RAM limit). The ARM measurement is used when there is one, the host
    estimate otherwise. Raises ExportError for an unknown target.
    """
    from deepear.export.targets import limits

    lim = limits(target)
    m = (measure.get("arm") or {}).get(build) or measure[build]
    res = {"target": target, "build": build, "ram_bytes": m["ram_bytes"], "flash_bytes": m["flash_bytes"],
           "ram_limit": lim["ram_bytes"], "flash_limit": lim["flash_bytes"],
           "fits_ram": lim["ram_bytes"] is None or m["ram_bytes"] <= lim["ram_bytes"],
           "fits_flash": m["flash_bytes"] <= lim["flash_bytes"],
           "measured_on": "arm" if measure.get("arm") else "host"}
    res["fits"] = res["fits_ram"] and res["fits_flash"]
    return res
