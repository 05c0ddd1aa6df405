"""The one atomic writer (simlib.writing) and the destination checks before the work (issue 13)."""

from __future__ import annotations

import os
import stat

import pytest

from simlib.errors import ScenarioError
from simlib.writing import OutputExistsError, check_destination, write_atomic


def test_new_file_gets_the_umask_and_no_temporary_is_left(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_atomic(tmp_path / "a.csv", lambda f: f.write(b"x,y\n"), force=False)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"x,y\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # 0o666 & ~0o027
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]


def test_never_overwrites_without_force(tmp_path):
    path = tmp_path / "keep.csv"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        write_atomic(path, lambda f: f.write(b"new"), force=False)
    assert path.read_bytes() == b"precious"
    write_atomic(path, lambda f: f.write(b"new"), force=True)
    assert path.read_bytes() == b"new"


def test_a_write_failing_half_way_leaves_the_old_file_whole(tmp_path):
    path = tmp_path / "keep.csv"
    path.write_bytes(b"precious")

    def half(f):
        f.write(b"half a tab")
        raise KeyboardInterrupt  # an interrupt mid-write

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, half, force=True)
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.csv"]


@pytest.mark.parametrize("target,match", [("missing/out.csv", "does not exist"), ("exists.csv", "already exists")])
def test_destination_checked(tmp_path, target, match):
    (tmp_path / "exists.csv").write_text("x")
    with pytest.raises(ScenarioError, match=match):
        check_destination(tmp_path / target, force=False)


@pytest.mark.parametrize("out,match", [("keep.csv", "already exists"), ("nowhere/out.csv", "does not exist")])
def test_sweep_checks_its_out_before_running(tmp_path, out, match, capsys, monkeypatch):
    """A bad --out fails at once (exit 2), before any point is simulated."""
    import simlib.sweep as sweep
    from simlib.cli import main

    (tmp_path / "keep.csv").write_text("precious")
    monkeypatch.setattr(sweep, "run_sweep", lambda *a, **k: pytest.fail("the sweep ran before the --out check"))
    code = main(["sweep", "--preset", "docs-assistant", "--grid", "simulation.seed=0,1", "--queries", "50",
                 "--no-progress", "--out", str(tmp_path / out)])
    assert code == 2
    assert match in capsys.readouterr().err
    assert (tmp_path / "keep.csv").read_text() == "precious"
