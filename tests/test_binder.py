"""The Binder set-up: a fresh environment built only from ``binder/`` runs every notebook.

The slow tests call ``scripts/check_binder.py`` (a cached venv under ``build/binder/``;
the first run on a machine builds it, about two minutes). The fast ones check what can be
read statically: pins against pyproject.toml, the postBuild contract, the README's links.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, unquote

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
CHECK = ROOT / "scripts" / "check_binder.py"

#: Binder's URL scheme: https://mybinder.org/v2/gh/<owner>/<repo>/<ref>?urlpath=<path>
BINDER_LINK = re.compile(r"https://mybinder\.org/v2/gh/(?P<slug>[^/\s)]+/[^/\s)]+)/(?P<ref>[^?\s)]+)\?(?P<query>[^\s)\"]+)")


def pins() -> dict[str, str]:
    found = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version and re.fullmatch(r"[A-Za-z0-9_.\-]+", name), f"not an exact pin: {line!r}"
            found[canonicalize_name(name)] = version
    return found


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_requirements_pin_every_runtime_dashboard_and_export_dependency():
    meta, pinned = project(), pins()
    wanted = [*meta["dependencies"], *meta["optional-dependencies"]["dashboard"],
              *meta["optional-dependencies"]["export"]]
    for spec in map(Requirement, wanted):
        name = canonicalize_name(spec.name)
        assert name in pinned, f"{spec.name} (pyproject.toml) is not pinned in binder/requirements.txt"
        assert spec.specifier.contains(pinned[name], prereleases=True), \
            f"binder pins {spec.name}=={pinned[name]}, pyproject.toml asks for {spec.specifier}"
    assert {"voila", "anywidget", "kaleido"} <= pinned.keys()


def test_requirements_hold_third_party_packages_only():
    # the project (llm-knowledge-sim, package simlib) comes from postBuild, so editing it
    # never invalidates the pip layer
    assert canonicalize_name(project()["name"]) not in pins() and "simlib" not in pins()


def test_runtime_names_a_python_the_project_supports():
    text = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", text), text
    assert SpecifierSet(project()["requires-python"]).contains(text.removeprefix("python-") + ".0")


def test_postbuild_is_executable_strict_and_installs_the_project():
    post = BINDER / "postBuild"
    text = post.read_text()
    assert os.access(post, os.X_OK)
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert re.search(r"pip install .*--no-deps \.$", text, re.MULTILINE)


def test_readme_binder_links_open_files_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = list(BINDER_LINK.finditer(readme))
    targets = {}
    for link in links:
        urlpath = unquote(parse_qs(link["query"])["urlpath"][0])
        app, _, path = urlpath.partition("/render/") if urlpath.startswith("voila/") else urlpath.partition("/tree/")
        assert (ROOT / path).is_file(), f"{link[0]} opens {path}, which is not in the repository"
        targets[app] = path
    assert targets.get("voila") == "notebooks/01_dashboard.ipynb", "no 'open the dashboard' (Voila) Binder link"
    assert targets.get("lab") == "notebooks/01_dashboard.ipynb", "no 'open in JupyterLab' Binder link"
    # one repository and ref for every link (the slug is set in one place: docs/binder.md)
    assert len({(link["slug"], link["ref"]) for link in links}) == 1


def run_check(*args: str) -> dict:
    python = "python" + (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    if "notebooks" in args and shutil.which(python) is None:
        pytest.skip(f"{python} (binder/runtime.txt) is not on PATH")
    # no notebook images: Binder's image has no chromium, so its notebooks draw none either
    result = subprocess.run([sys.executable, str(CHECK), *args], capture_output=True, text=True,
                            env={**os.environ, "SIMLIB_NOTEBOOK_IMAGES": "0"})
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    part = "repo2docker" if "repo2docker" in args else "notebooks"
    return json.loads((ROOT / "build" / "binder" / f"report-{part}.json").read_text())


@pytest.mark.slow
def test_repo2docker_accepts_the_repository():
    report = run_check("--only", "repo2docker")
    assert report["ok"] and not report["problems"]


@pytest.mark.slow
def test_every_notebook_runs_in_a_fresh_binder_venv():
    report = run_check("--only", "notebooks")
    ran = {r["notebook"] for r in report["notebooks"]}
    assert ran == {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    for r in report["notebooks"]:
        assert r["ok"], r["error"]
        # well inside Binder's smallest machines (1-2 GB) at the check's small sizes
        assert r["kernel_peak_rss_mb"] < 1024, r
