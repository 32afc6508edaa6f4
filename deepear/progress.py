"""Progress reporting for the CLI: library functions take a `progress(done, total)` callback, the CLI
passes one that draws a tqdm bar on stderr (nothing with --quiet)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from tqdm import tqdm


@contextmanager
def bar(desc: str, quiet: bool = False, unit: str = "file") -> Iterator[Callable[[int, int | None], None]]:
    """Yield a `progress(done, total)` callback drawing a bar (a no-op when quiet)."""
    if quiet:
        yield lambda done, total=None: None
        return
    # disable=None: no bar when stderr is not a terminal (CI logs, pipes)
    t = tqdm(desc=desc, unit=unit, leave=False, dynamic_ncols=True, disable=None)

    def update(done: int, total: int | None = None) -> None:
        if total is not None and t.total != total:
            t.total = total
            t.refresh()
        t.update(done - t.n)

    try:
        yield update
    finally:
        t.close()
