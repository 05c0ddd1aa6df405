"""Every notebook under notebooks/ runs top to bottom (at small sizes), and is committed
without outputs.

Small sizes: a notebook's cell tagged ``parameters`` (papermill's convention) sets its sizes;
this test runs a cell right after it that overrides the names listed in ``SMALL`` the
notebook assigns there (``queries = 300``). A notebook without such a cell runs as it is.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SMALL = {"queries": 300}
CELL_TIMEOUT_S = 300


def _assigned_names(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def small(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with a cell after its parameters cell that shrinks its sizes."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            names = _assigned_names(cell.source) & set(SMALL)
            if names:
                override = nbformat.v4.new_code_cell("\n".join(f"{n} = {SMALL[n]!r}" for n in sorted(names)))
                nb.cells.insert(i + 1, override)
            break
    return nb


def test_there_are_notebooks():
    assert {"01_dashboard.ipynb", "03_freshness_and_retraining.ipynb", "04_prompt_caching.ipynb",
            "05_which_strategy.ipynb"} <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: strip them (nbstripout)"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
    assert "widgets" not in nb.metadata, f"{path.name} carries saved widget state"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    # images off (the kernel inherits it): test_executed_story_notebook_has_an_image_for_every_chart
    # checks them; drawing them here too cost a browser start and ~1 s a chart per notebook
    monkeypatch.setenv("SIMLIB_NOTEBOOK_IMAGES", "0")
    nb = small(nbformat.read(path, as_version=4))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


# Charts each notebook draws when run top to bottom, counted from its cells by hand (02's
# interact_manual map draws nothing until its button is pressed).
CHARTS = {
    "01_dashboard": 6,                  # the dashboard: cost, latency, freshness, timeline, cost-quality, comparison
    "02_break_even": 5,                 # cost curves, cheapest map, verdict map, two tornados
    "03_freshness_and_retraining": 4,   # two trade-off charts, the explorer's timeline and freshness
    "04_prompt_caching": 6,             # hit rates, savings, entries, explicit/automatic, the explorer's two
    "05_which_strategy": 2,             # one comparison per questionnaire
    "06_trace_replay": 3,               # load over time, trace against Poisson, reuse by TTL
}
PLOTLY_DIV = re.compile(r'<div [^>]*class="plotly-graph-div"')


def test_every_notebook_has_a_chart_count():
    assert set(CHARTS) == {p.stem for p in NOTEBOOKS}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executed_to_html_shows_every_chart(path, tmp_path, monkeypatch):
    """What `jupyter nbconvert --execute --to html` writes (widget state stored, as nbconvert
    does): every chart as a plotly div, FigureWidgets included, through their static copies."""
    from nbconvert import HTMLExporter

    monkeypatch.setenv("SIMLIB_NOTEBOOK_IMAGES", "0")  # the plotly divs are checked here, the images elsewhere
    nb = small(nbformat.read(path, as_version=4))
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    body, _ = HTMLExporter().from_notebook_node(nb)
    charts = len(PLOTLY_DIV.findall(body))
    assert charts >= CHARTS[path.stem], f"{path.name}: {charts} plotly charts in the HTML, {CHARTS[path.stem]} drawn"


# --- static images for viewers that run no scripts (GitHub's): issue 19 item 7 ---------------

STORY = [p for p in NOTEBOOKS if p.stem != "01_dashboard"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """A PNG's width and height, read from its IHDR chunk (bytes 16-24)."""
    assert data[:8] == PNG_MAGIC, "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_every_story_notebook_asks_for_images():
    """The story notebooks turn the images on in their first code cell (render_everywhere);
    the dashboard's notebook does not (its static copy stays HTML, its first paint unchanged)."""
    for path in NOTEBOOKS:
        first = next(c for c in nbformat.read(path, as_version=4).cells
                     if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
        assert ("render_everywhere()" in first.source) == (path in STORY), path.name


def _chart_outputs(nb: nbformat.NotebookNode) -> list[dict]:
    """The data of every output that draws a chart (a plotly div in its HTML)."""
    return [o.data for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if "data" in o and PLOTLY_DIV.search(o.data.get("text/html", ""))]


@pytest.fixture()
def images_without_browser(monkeypatch):
    """Images asked for, no Chromium to draw them (BROWSER_PATH names no file)."""
    from simlib.export import render
    from simlib.widgets import static

    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    monkeypatch.setattr(render, "_SESSION", None)
    monkeypatch.setattr(render, "_NO_BROWSER", False)
    monkeypatch.setattr(static, "_IMAGES_ON", True)


def test_without_a_browser_charts_keep_their_html_and_get_no_image(images_without_browser):
    import ipywidgets as W
    import plotly.graph_objects as go
    import plotly.io as pio

    from simlib.widgets.static import IMAGE_RENDERER, static_outputs

    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    bundle = pio.renderers._build_mime_bundle(fig.to_dict(), renderers_string=f"notebook+{IMAGE_RENDERER}")
    assert "image/png" not in bundle and PLOTLY_DIV.search(bundle["text/html"]) and "<img" not in bundle["text/html"]
    outputs = static_outputs(W.VBox([W.HTML("<b>hello</b>"), go.FigureWidget(fig)]))
    assert [("image/png" in o, bool(PLOTLY_DIV.search(o["text/html"]))) for o in outputs] == [(False, False), (False, True)]
    assert "hello" in outputs[0]["text/html"]
    assert hash(pio.renderers[IMAGE_RENDERER]) and "StaticImageRenderer()" in repr(pio.renderers[IMAGE_RENDERER])


@pytest.mark.browser
def test_a_chart_output_carries_a_960_by_540_png_where_chromium_exists(monkeypatch):
    """960 x 540: the slide layout (1600 x 900 px / zoom 1.25 = 1280 x 720 CSS px) drawn at 0.75."""
    import base64
    import shutil

    import plotly.graph_objects as go
    import plotly.io as pio

    from simlib.widgets import static

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no Debian chromium on PATH (apt-get install -y chromium): notebook images cannot be drawn")
    monkeypatch.setattr(static, "_IMAGES_ON", True)
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    bundle = pio.renderers._build_mime_bundle(fig.to_dict(), renderers_string=f"notebook+{static.IMAGE_RENDERER}")
    assert png_size(base64.b64decode(bundle["image/png"])) == (960, 540)
    # the same PNG in front of the plotly div, for viewers that pick text/html and run no scripts
    html = bundle["text/html"]
    assert f"src='data:image/png;base64,{bundle['image/png']}'" in html
    assert html.index("<img") < PLOTLY_DIV.search(html).start()
    tall = go.Figure(go.Bar(x=["a"], y=[1]), layout={"height": 400})  # a figure's own height wins
    assert png_size(base64.b64decode(static.image_bundle(tall)["image/png"])) == (960, 300)
    monkeypatch.setenv(static.IMAGES_ENV, "0")
    assert static.image_bundle(fig) == {}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("path", STORY, ids=lambda p: p.stem)
def test_executed_story_notebook_has_an_image_for_every_chart(path, tmp_path):
    """What a user pushes after running a story notebook: every output that draws a chart
    (plotly HTML, blank in GitHub's viewer) also holds an image/png of it, a real PNG."""
    import base64
    import shutil

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no Debian chromium on PATH (apt-get install -y chromium): notebook images cannot be drawn")
    nb = small(nbformat.read(path, as_version=4))
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    charts = _chart_outputs(nb)
    assert len(charts) >= CHARTS[path.stem], f"{path.name}: {len(charts)} chart outputs, {CHARTS[path.stem]} drawn"
    missing = [i for i, data in enumerate(charts) if "image/png" not in data]
    assert not missing, f"{path.name}: chart outputs {missing} of {len(charts)} have no image/png"
    for data in charts:
        width, height = png_size(base64.b64decode(data["image/png"]))
        # 0.75 of the chart's layout width: its own where it sets one, else the slide's 1280
        layout_w = data.get("application/vnd.plotly.v1+json", {}).get("layout", {}).get("width") or 1280
        assert width == round(0.75 * layout_w) and height >= 200


SCRIPT = re.compile(r"<script\b.*?</script>", re.S | re.I)


@pytest.mark.browser
def test_a_chart_shows_as_an_image_without_scripts_and_as_one_plotly_chart_with_them(tmp_path):
    """GitHub's viewer picks an output's text/html and strips its scripts: the chart must still
    show (its PNG in the HTML). An HTML export, where scripts run, shows the interactive chart
    and hides the image. Both checked in chromium on a notebook executed and exported as a
    user would (nbconvert), the no-script view with scripts removed and JavaScript off."""
    import shutil

    from nbconvert import HTMLExporter
    from voila_support import CHROMIUM, CHROMIUM_ARGS

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no Debian chromium on PATH (apt-get install -y chromium): notebook images cannot be drawn")
    from playwright.sync_api import sync_playwright

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from simlib.widgets import render_everywhere\nrender_everywhere()\nimport plotly.graph_objects as go\n"
        "go.Figure(go.Bar(x=['a', 'b'], y=[1, 2]))")])
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    body, _ = HTMLExporter().from_notebook_node(nb)
    (tmp_path / "live.html").write_text(body, encoding="utf-8")
    (tmp_path / "no_scripts.html").write_text(SCRIPT.sub("", body), encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            viewer = browser.new_context(java_script_enabled=False).new_page()
            viewer.goto((tmp_path / "no_scripts.html").as_uri())
            viewer.wait_for_load_state("load")
            img = viewer.locator("img.simlib-chart-image")
            assert img.count() == 1 and img.is_visible()
            assert img.evaluate("i => i.naturalWidth") == 960
            live = browser.new_page()
            live.goto((tmp_path / "live.html").as_uri())
            live.wait_for_function("document.querySelector('.simlib-chart .js-plotly-plot .main-svg .trace')",
                                   timeout=30_000)
            assert not live.locator("img.simlib-chart-image").is_visible()  # one chart on screen: plotly's
        finally:
            browser.close()
