"""Bounded loading (simlib.loading): special files, alias bombs, depth, duplicate keys (issue 13)."""

from __future__ import annotations

import os
import time

import pytest

from simlib.errors import ScenarioError
from simlib.loading import MAX_DEPTH, did_you_mean, read_mapping
from simlib.scenario import load_scenario


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "s.yaml"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(ScenarioError, match="FIFO"):
        load_scenario(fifo)
    assert time.monotonic() - start < 5


def test_devices_are_refused():
    with pytest.raises(ScenarioError, match="device"):
        load_scenario("/dev/zero")


def test_alias_bomb_is_refused_before_it_is_built(tmp_path):
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines.append("story: *a8")  # 9^9 = 387 million values once expanded
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines))
    start = time.monotonic()
    with pytest.raises(ScenarioError, match="expands to more than"):
        load_scenario(path)
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("suffix,text", [
    (".yaml", "a: " + "[" * 50_000 + "]" * 50_000),
    (".json", "{\"a\": " + "[" * 50_000 + "]" * 50_000 + "}"),
    (".yaml", "a: " + "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2)),
])
def test_deep_nesting_is_refused(tmp_path, suffix, text):
    path = tmp_path / f"deep{suffix}"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="nested"):
        read_mapping(path)


@pytest.mark.parametrize("suffix,text", [
    (".yaml", "workload: {queries_per_day: 10}\nworkload: {queries_per_day: 20}\n"),
    (".yaml", "workload:\n  queries_per_day: 10\n  queries_per_day: 20\n"),
    (".json", '{"workload": {"queries_per_day": 10, "queries_per_day": 20}}'),
])
def test_duplicate_keys_are_errors(tmp_path, suffix, text):
    path = tmp_path / f"dup{suffix}"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="duplicate key"):
        read_mapping(path)


def test_huge_integer_is_a_located_error(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("simulation: {seed: " + "9" * 5000 + "}\n")
    with pytest.raises(ScenarioError, match="big.yaml"):
        load_scenario(path)


def test_oversized_file_is_refused(tmp_path, monkeypatch):
    import simlib.loading as loading

    monkeypatch.setattr(loading, "MAX_MAPPING_BYTES", 100)
    path = tmp_path / "big.yaml"
    path.write_text("story: '" + "x" * 200 + "'\n")
    with pytest.raises(ScenarioError, match="at most 100"):
        loading.read_mapping(path)


def test_did_you_mean():
    assert did_you_mean("queries_per_dya", ["queries_per_day", "seed"]) == "; did you mean 'queries_per_day'?"
    assert did_you_mean("zzz", ["queries_per_day"], otherwise=" (none)") == " (none)"
