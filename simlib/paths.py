"""Where the shipped data files are: ``simlib/_data`` in a wheel, ``data/`` in a checkout."""

from __future__ import annotations

from pathlib import Path


def data_dir() -> Path:
    """The folder holding prices, presets and traces (see data/README.md)."""
    packaged = Path(__file__).parent / "_data"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "data"
