"""Write one named section of docs/benchmarks.md, leaving every other section as it is.

Each bench script owns the text between `<!-- BEGIN name -->` and `<!-- END name -->`; the file is
rewritten atomically (temp file + rename).
"""
from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nEvery section is written by a script in `bench/`; the command that produced it is given.\n"


def machine_line() -> str:
    """One line describing where the numbers were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=DOC.parent.parent).stdout.strip()
    except OSError:
        commit = ""
    return (f"Measured on {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
            + (f", commit {commit}" if commit else ""))


def write_section(name: str, body: str, command: str | None = None, doc: Path = DOC) -> None:
    """Replace (or append) section `name` of the benchmarks document with `body`."""
    cmd = command or "python " + shlex.join([Path(sys.argv[0]).as_posix()] + sys.argv[1:])   # copy-pastable
    block = (f"<!-- BEGIN {name} -->\n{body.rstrip()}\n\nProduced by: `{cmd}`  \n{machine_line()}\n"
             f"<!-- END {name} -->\n")
    text = doc.read_text() if doc.exists() else HEADER
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    if begin in text and end in text:
        a = text.index(begin)
        b = text.index(end) + len(end)
        text = text[:a] + block.rstrip("\n") + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    doc.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=doc.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, doc)
