"""The browser-only site (JupyterLite + Pyodide): built by ``scripts/build_lite.py``.

What can be proven here without a browser or the Pyodide CDN: the site holds the
notebooks, ``data/`` and the simlib wheel; every requirement of every wheel it serves is
met by Pyodide's lock, the kernel's wheels or the site's own (so micropip never needs
PyPI); and the dashboard still works where threads cannot start, as in Pyodide.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "lite"
sys.path.insert(0, str(ROOT / "scripts"))

import build_lite  # noqa: E402


def build_site() -> dict:
    if shutil.which("npm") is None:
        pytest.skip("npm is needed to read the Pyodide lock (npm pack pyodide)")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_lite.py")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return json.loads((ROOT / "build" / "lite-report.json").read_text())


def check_wheel(site: dict) -> None:
    import simlib

    wheel_name = build_lite.DIST.replace("-", "_")  # llm-knowledge-sim, the distribution of package simlib
    (wheel,) = (SITE / "pypi").glob(f"{wheel_name}-*.whl")
    assert wheel.name == f"{wheel_name}-{simlib.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for data in (ROOT / "data" / "presets").glob("*.yaml"):
        assert f"simlib/_data/presets/{data.name}" in names
    index = json.loads((SITE / "pypi" / "all.json").read_text())
    (entry,) = [info for name, info in index.items() if name.replace("_", "-").lower() == build_lite.DIST]
    assert simlib.__version__ in entry["releases"]


def check_notebooks(site: dict) -> None:
    sources = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert sources
    for src in sources:
        original = json.loads(src.read_text(encoding="utf-8"))["cells"]
        shipped = json.loads((SITE / "files" / "notebooks" / src.name).read_text(encoding="utf-8"))["cells"]
        assert "".join(shipped[0]["source"]).splitlines()[-1] == f"%pip install -q {build_lite.DIST} ipywidgets anywidget"
        assert [c["source"] for c in shipped[1:]] == [c["source"] for c in original], src.name
    listed = json.loads((SITE / "api" / "contents" / "notebooks" / "all.json").read_text())
    assert {item["name"] for item in listed["content"]} >= {src.name for src in sources}


def check_data(site: dict) -> None:
    for data in (p for p in (ROOT / "data").rglob("[!.]*") if p.is_file()):
        assert (SITE / "files" / data.relative_to(ROOT)).read_bytes() == data.read_bytes(), data


def check_sources(site: dict) -> None:
    # numpy, pandas, scipy and pyyaml have no WebAssembly wheel on PyPI: Pyodide's CDN it is
    cdn = {entry.split("==")[0] for entry in site["from_pyodide_cdn"]}
    assert {"numpy", "pandas", "scipy", "pyyaml", "pydantic"} <= cdn
    shipped = {entry.split("==")[0] for entry in site["site_wheels"]}
    assert {build_lite.DIST, "simpy", "plotly", "ipywidgets", "anywidget", "genai-prices"} <= shipped
    settings = json.loads((SITE / "jupyter-lite.json").read_text())["jupyter-config-data"]["litePluginSettings"]
    assert settings["@jupyterlite/pyodide-kernel-extension:kernel"]["disablePyPIFallback"] is True


@pytest.mark.slow
def test_lite_site_holds_wheel_notebooks_and_data_and_needs_only_pyodide():
    # one test, one build: build/lite is shared, so parallel workers must not build it twice
    site = build_site()
    assert site["problems"] == []
    assert build_lite.check_site(SITE) == []  # contents + the dependency closure, read from the site
    check_wheel(site)
    check_notebooks(site)
    check_data(site)
    check_sources(site)


def test_dashboard_works_where_threads_cannot_start(monkeypatch):
    """Pyodide has no threads: Thread.start raises. The notebook's own call must still
    draw the charts and redraw them when a slider moves."""
    from simlib.widgets import Dashboard

    def no_threads(self):
        raise RuntimeError("can't start new thread")

    Dashboard("docs-assistant", changes={"simulation.queries": 100}, background=False)  # imports done here:
    # httpx2 (via genai-prices) picks its transport by sys.platform when first imported
    monkeypatch.setattr(sys, "platform", "emscripten")
    monkeypatch.setattr(threading.Thread, "start", no_threads)
    board = Dashboard("docs-assistant", changes={"simulation.queries": 300})  # as in 01_dashboard.ipynb
    before = board.updates
    board.control("retrieval.top_k").value += 1
    assert board.wait(60)
    assert board.updates == before + 1, board.status.value
