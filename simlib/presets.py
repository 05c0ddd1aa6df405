"""Presets: named, documented scenarios shipped as YAML in ``data/presets/``.

Each file holds a full or partial scenario plus ``name``, ``story`` (one line) and
``sources`` (where its numbers come from). Presets are validated by the same scenario
model as user files; a user file can start from one with ``base: NAME``.

This module reads the files only (it sits below ``simlib.scenario``, which resolves
``base:`` with ``preset_data``); ``simlib.scenario.load_preset`` builds the validated
scenario, so the two modules do not import each other.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from simlib.errors import Problem, ScenarioError
from simlib.paths import data_dir


def _preset_files() -> dict[str, Any]:
    folder = data_dir() / "presets"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


@lru_cache(maxsize=None)
def _raw(name: str) -> dict[str, Any]:
    files = _preset_files()
    if name not in files:
        from simlib.loading import did_you_mean

        hint = did_you_mean(name, files, cutoff=0.4)
        raise ScenarioError([Problem("preset", f"unknown preset {name!r}{hint} (known: {', '.join(files)})")])
    data = yaml.safe_load(files[name].read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ScenarioError([Problem(str(files[name]), "a preset file must be a mapping")])
    return data


def preset_data(name: str) -> dict[str, Any]:
    """The preset's raw mapping (a fresh copy), for use as the ``base`` of a file."""
    import copy

    return copy.deepcopy(_raw(name))


def list_presets() -> list[tuple[str, str]]:
    """(name, one-line story) of every shipped preset, sorted by name."""
    return [(name, str(_raw(name).get("story", ""))) for name in _preset_files()]
