"""The distribution builds as a wheel that works outside the repository (issue 12).

`simlib` on PyPI is an unrelated package, so the distribution is named in pyproject.toml
(llm-knowledge-sim) while the import package stays `simlib`. This builds the wheel, installs
it with --no-deps into a fresh venv, and runs the CLI from a folder outside the checkout:
the presets and prices must come from the wheel's `simlib/_data`, not from `data/`.
The dependencies are taken from the running interpreter's site-packages (added after the
fresh venv's own, through a .pth file) so the test needs no network and runs in seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]

def test_the_distribution_name_is_not_the_unrelated_pypi_simlib():
    assert DIST != "simlib" and "simlib" not in DIST.split("-")


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs_outside_the_repository(tmp_path):
    out = tmp_path / "wheel"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, ROOT],
                           capture_output=True, text=True)
    if build.returncode and "hatchling" in build.stderr:  # no hatchling here: let pip fetch it
        build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, ROOT],
                               capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = out.glob(f"{DIST.replace('-', '_')}-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for data in (ROOT / "data").rglob("[!.]*"):
        if data.is_file():
            assert f"simlib/_data/{data.relative_to(ROOT / 'data').as_posix()}" in names, data

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    own = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip())
    (own / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "-q", wheel],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([py, "-c", "import simlib, simlib.paths; print(simlib.__file__); print(simlib.paths.data_dir())"],
                           capture_output=True, text=True, cwd=elsewhere, env=clean, check=True).stdout.split()
    assert all(Path(p).is_relative_to(env_dir) for p in where), where
    assert where[1].endswith("_data")

    cli = env_dir / "bin" / "simlib"
    presets = subprocess.run([cli, "presets"], capture_output=True, text=True, cwd=elsewhere, env=clean)
    assert presets.returncode == 0, presets.stderr[-3000:]
    assert {p.stem for p in (ROOT / "data" / "presets").glob("*.yaml")} <= {line.split()[0] for line in presets.stdout.splitlines() if line.strip()}
    run = subprocess.run([cli, "run", "--preset", "docs-assistant", "--queries", "200", "--replications", "1", "--json"],
                         capture_output=True, text=True, cwd=elsewhere, env=clean)
    assert run.returncode == 0, run.stderr[-3000:]
    assert '"strategies"' in run.stdout and '"prompt_only"' in run.stdout
