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
def test_notebook_runs_top_to_bottom(path, tmp_path):
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
def test_notebook_executed_to_html_shows_every_chart(path, tmp_path):
    """What `jupyter nbconvert --execute --to html` writes (widget state stored, as nbconvert
    does): every chart as a plotly div, FigureWidgets included, through their static copies."""
    from nbconvert import HTMLExporter

    nb = small(nbformat.read(path, as_version=4))
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    body, _ = HTMLExporter().from_notebook_node(nb)
    charts = len(PLOTLY_DIV.findall(body))
    assert charts >= CHARTS[path.stem], f"{path.name}: {charts} plotly charts in the HTML, {CHARTS[path.stem]} drawn"
