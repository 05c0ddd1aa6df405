"""A terminal progress bar for long runs: the ``progress`` callback ``simlib.run`` takes.

A library module below the CLI, shared by ``simlib run``, ``simlib export`` and the sweep.
"""

from __future__ import annotations

import sys


def progress_bar(enabled: bool):
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr, or None when not ``enabled``."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="query", unit_scale=True, desc="simulating", file=sys.stderr, leave=False)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update
