"""What the dashboard saves, shares and parses: a scenario as its changes from a preset.

- ``changes_from(base, scenario)``: the dotted paths whose values differ, e.g.
  ``{"workload.queries_per_day": 50000.0}`` (what the "changed from preset" list shows).
- ``scenario_yaml(preset, scenario)``: a YAML file ``base: PRESET`` plus the changed fields,
  nested by group: the same file ``simlib run --scenario FILE`` reads, and
  ``load_scenario(FILE)`` gives back an equal scenario.
- ``to_query`` / ``from_query``: the same changes as a URL query string
  (``?preset=docs-assistant&workload.queries_per_day=50000``); Voila hands the page's query
  string to the kernel as ``$QUERY_STRING``, so opening a shared link restores the screen.
- ``parse_number(text)``: a typed number read exactly as a person writes it ("50,000",
  "50 000", "50k", "2.5M", "1e5", "12%"), or a ``ValueError`` saying what was not understood.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

import yaml

from simlib.scenario import load_preset
from simlib.scenario import Scenario, scenario_from_mapping

# Fields that never travel: bookkeeping the scenario sets itself.
_NOT_SHARED = ("catalog_filled",)

_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "%": 0.01}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$")


def parse_number(text: str) -> float:
    """The number a person typed: thousands separators (``,`` ``_`` space) are dropped,
    a trailing k/M/B multiplies by 1e3/1e6/1e9 and ``%`` divides by 100. Anything else
    raises ``ValueError`` (never a guess)."""
    raw = str(text).strip()
    cleaned = raw.replace(",", "").replace("_", "").replace(" ", "").replace("\u00a0", "").lower()
    factor = 1.0
    if cleaned and cleaned[-1] in _SUFFIXES:
        factor = _SUFFIXES[cleaned[-1]]
        cleaned = cleaned[:-1]
    if not _NUMBER.match(cleaned):
        raise ValueError(f"{raw!r} is not a number (write e.g. 50000, 50,000, 50k or 2.5M)")
    value = float(cleaned) * factor
    if not math.isfinite(value):
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def changes_from(base: Scenario, scenario: Scenario) -> dict[str, Any]:
    """Dotted path -> new value for every field of ``scenario`` that differs from ``base``
    (JSON values: lists for tuples), in the scenario's field order."""
    old, new = _flatten(base.to_dict()), _flatten(scenario.to_dict())
    return {p: v for p, v in new.items() if p not in _NOT_SHARED and old.get(p, object()) != v}


def _nest(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in changes.items():
        node = out
        *groups, leaf = path.split(".")
        for g in groups:
            node = node.setdefault(g, {})
        node[leaf] = value
    return out


def scenario_yaml(preset: str, scenario: Scenario) -> str:
    """The scenario as a file ``simlib run --scenario`` reads: ``base: PRESET`` and its changes."""
    data = {"base": preset, **_nest(changes_from(load_preset(preset), scenario))}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def to_query(preset: str, changes: dict[str, Any]) -> str:
    """``preset=NAME&path=value...``; values are JSON (numbers, strings, lists) so they read back exactly."""
    items = [("preset", preset)] + [(p, json.dumps(v)) for p, v in changes.items()]
    return urlencode(items)


def from_query(query: str) -> tuple[str | None, dict[str, Any]]:
    """The preset and changes of a query string made by ``to_query`` (a leading ``?`` is fine).
    A value that is not JSON is kept as text (so ``index_refresh=batch`` works typed by hand)."""
    preset: str | None = None
    changes: dict[str, Any] = {}
    for key, value in parse_qsl(query.lstrip("?"), keep_blank_values=True):
        if key == "preset":
            preset = value
            continue
        if "." not in key:
            continue  # not a scenario field (e.g. Voila's own parameters)
        try:
            changes[key] = json.loads(value)
        except ValueError:
            changes[key] = value
    return preset, changes


def scenario_from_query(query: str, default_preset: str) -> tuple[str, Scenario]:
    """The preset name and scenario a shared link describes (may raise ScenarioError)."""
    preset, changes = from_query(query)
    preset = preset or default_preset
    return preset, scenario_from_mapping({"base": preset, **_nest(changes)}, source="the shared link")
