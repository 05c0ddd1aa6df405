"""Scenarios from files and presets: ``load_scenario``, ``load_preset`` and ``base: PRESET``.

A file is read within the bounds of ``simlib.loading`` (size, aliases, depth, duplicate
keys); a mapping may start from a shipped preset (``base: docs-assistant``) and override
any field; either way the result is built by ``build_scenario``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simlib.errors import Problem, ScenarioError
from simlib.loading import read_mapping
from simlib.presets import preset_data
from simlib.scenario.build import Scenario, deep_merge, build_scenario


def _read_mapping(path: Path) -> dict[str, Any]:
    """A scenario file's mapping, read within the bounds of simlib.loading (size, aliases, depth, duplicates)."""
    return read_mapping(path, what="scenario file")


def scenario_from_mapping(data: dict[str, Any], *, source: str | None = None) -> Scenario:
    """Build a scenario from a mapping that may name a preset as its ``base``."""
    data = dict(data)
    has_base = "base" in data
    base = data.pop("base", None)
    if has_base:
        if not isinstance(base, str):
            raise ScenarioError([Problem("base", f"must be a preset name, got {base!r}")], source=source)
        data = deep_merge(preset_data(base), data)
    return build_scenario(data, source=source)


def load_preset(name: str) -> Scenario:
    """The validated scenario of a shipped preset (data/presets/NAME.yaml)."""
    return build_scenario(preset_data(name), source=f"preset {name}")


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario from a YAML or JSON file (safe loading; ``base:`` names a preset)."""
    path = Path(path)
    data = _read_mapping(path)
    return scenario_from_mapping(data, source=str(path))
