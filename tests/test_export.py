"""Export (simlib.export): the files a user gets are opened and checked, not just written.

The deck is made by the real command line and read back with python-pptx: slide count,
titles, captions, and the comparison table's cells against an independent run of the same
seeded scenario (the winners recomputed here from the summary). Images are decoded:
PNG size and pixel variance, SVG parsed as XML, PDF magic bytes. The no-browser path is
tested by pointing the browser lookup at nothing (empty PATH, no BROWSER_PATH), never by
uninstalling. Needs Debian ``chromium`` for the tests marked ``browser``.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import simlib
from simlib import export
from simlib.charts.board import dashboard_figures
from simlib.charts.strategies import COMPARISON_DIMENSIONS, WAIT_METRICS, comparison_table
from simlib.charts.theme import label

PRESET, QUERIES = "docs-assistant", 2_000
DECK_KEYS = ("cost", "cost_quality", "latency", "freshness", "timeline")  # dashboard charts minus the comparison picture

try:
    HAVE_BROWSER = bool(export.find_browser())
except export.BrowserNotFoundError:
    HAVE_BROWSER = False


def browser(test):
    """Draws with Chromium: marked ``browser`` (skipped by ``scripts/test --fast``) and skipped without one."""
    return pytest.mark.browser(pytest.mark.skipif(not HAVE_BROWSER, reason="needs Chromium: apt-get install chromium")(test))


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simlib.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def no_browser_env(tmp_path: Path) -> dict[str, str]:
    """The environment with the browser lookup pointed at nothing: an empty PATH folder."""
    empty = tmp_path / "empty-path"
    empty.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "BROWSER_PATH"}
    env["PATH"] = str(empty)
    return env


@pytest.fixture(scope="module")
def result():
    return simlib.run(simlib.load_preset(PRESET).with_changes({"simulation.queries": QUERIES}))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=float)


def assert_not_blank(data: bytes) -> None:
    grey = pixels(data)
    assert grey.std() > 10, f"image looks blank (pixel std {grey.std():.1f})"
    assert (grey < 200).mean() > 0.01, "under 1% of pixels are dark: nothing drawn"


def no_leftovers(folder: Path) -> None:
    left = [p.name for p in folder.rglob("*") if p.name.endswith((".part", ".tmp"))]
    assert not left, f"a temporary file was left behind: {left}"


# --- the deck, made by the command line ---------------------------------------------------

@pytest.fixture(scope="module")
def deck(tmp_path_factory):
    from pptx import Presentation

    out = tmp_path_factory.mktemp("deck") / "deck.pptx"
    proc = cli("export", "--preset", PRESET, "--queries", str(QUERIES), "--format", "pptx", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    no_leftovers(out.parent)
    return Presentation(str(out))


def texts(slide) -> list[str]:
    return [s.text_frame.text for s in slide.shapes if s.has_text_frame]


@browser
def test_deck_has_title_slide_one_slide_per_chart_and_the_table(deck, result):
    """Slides: title, one per dashboard chart (the comparison picture is the table slide)."""
    slides = list(deck.slides)
    assert len(slides) == 1 + len(DECK_KEYS) + 1
    assert deck.slide_width * 9 == deck.slide_height * 16  # 16:9
    title = slides[0]
    assert title.shapes.title.text == result.scenario.name
    body = "\n".join(texts(title))
    assert f"simlib {simlib.__version__}" in body
    today = dt.date.today()
    assert today.isoformat() in body or (today - dt.timedelta(days=1)).isoformat() in body
    assert result.scenario.story in body
    figures = dashboard_figures(result)
    for slide, key in zip(slides[1:-1], DECK_KEYS):
        assert slide.shapes.title.text == export.figure_title(figures[key])
    assert slides[-1].shapes.title.text == "Practical comparison"


@browser
def test_every_slide_caption_lists_key_parameters_and_price_sources(deck, result):
    """Each slide names the key parameters and each price source with its date; long
    sources are shortened under charts and given in full on the title slide and in the notes."""
    s = result.scenario
    params = [f"{s.workload.queries_per_day:,.0f} queries/day", f"{s.knowledge.facts_count:,} facts",
              s.model.name, f"top {s.retrieval.top_k}", f"{s.simulation.queries:,} queries"]
    short = [f"{export.short_source(s.prices.source)}, as of {s.prices.as_of}",
             f"{export.short_source(s.fine_tuning.source)}, as of {s.fine_tuning.as_of}"]
    full = [f"{s.prices.source}, as of {s.prices.as_of}", f"{s.fine_tuning.source}, as of {s.fine_tuning.as_of}"]
    slides = list(deck.slides)
    for i, slide in enumerate(slides):
        body = "\n".join(texts(slide))
        for needle in params + (full if i == 0 else short):
            assert needle in body, (i, needle)
        notes = slide.notes_slide.notes_text_frame.text
        for needle in full:
            assert needle in notes, (i, needle)


def test_short_source_drops_remarks_and_keeps_the_name():
    assert export.short_source("https://openai.com/api/pricing/ (Fine-tuning table)") == "https://openai.com/api/pricing/"
    long = "a" * 100
    assert export.short_source(long) == "a" * 69 + "\u2026"
    assert export.short_source("hand-set scenario prices") == "hand-set scenario prices"


@browser
def test_chart_slides_hold_sharp_non_blank_pictures_at_their_own_aspect(deck):
    for slide in list(deck.slides)[1:-1]:
        pictures = [s for s in slide.shapes if s.shape_type == 13]  # MSO_SHAPE_TYPE.PICTURE
        assert len(pictures) == 1
        pic = pictures[0]
        blob = pic.image.blob
        w, h = png_size(blob)
        assert w >= 2000, "deck pictures are drawn at 2x for projection"
        assert abs(w / h - pic.width / pic.height) < 0.01, "picture stretched"
        assert pic.left >= 0 and pic.left + pic.width <= deck.slide_width
        assert pic.top + pic.height <= deck.slide_height
        assert_not_blank(blob)


def parse_cell(text: str) -> tuple[float, float]:
    """'$0.0161' -> (0.0161, 0.00005), '$9.8k/month' -> (9800, 50), '13 s', '450 ms', '84.8%' -> (0.848, 0.0005):
    the value shown and half a unit of its last digit (the most rounding can move it); a bound
    ('<0.1%', '>99.9%') allows a whole unit."""
    t = text.replace(export.WINNER_MARK, "").replace(",", "").strip().removesuffix("/month")
    bound = t[:1] in "<>"
    t = t.lstrip("<>")
    factor = 1.0
    if t.endswith("%"):
        t, factor = t[:-1], 0.01
    for suffix, seconds in ((" ms", 1e-3), (" min", 60.0), (" h", 3600.0), (" days", 86400.0), (" s", 1.0)):
        if t.endswith(suffix):
            t, factor = t.removesuffix(suffix), factor * seconds
            break
    t = t.removeprefix("$")
    for suffix, mult in (("k", 1e3), ("M", 1e6)):
        if t.endswith(suffix):
            t, factor = t[:-1], factor * mult
    decimals = len(t.split(".")[1]) if "." in t else 0
    return float(t) * factor, (1.0 if bound else 0.5) * 10.0 ** -decimals * factor


@browser
def test_table_slide_is_a_native_table_matching_the_results(deck, result):
    """Cells against the summary; winners recomputed here (best within 0.5% or overlapping 95% intervals)."""
    slide = list(deck.slides)[-1]
    tables = [s for s in slide.shapes if s.has_table]
    assert len(tables) == 1, "the comparison must be a native table, not a picture"
    assert not [s for s in slide.shapes if s.shape_type == 13]
    grid = tables[0].table
    strategies = result.strategies
    assert len(grid.rows) == 1 + len(COMPARISON_DIMENSIONS)
    assert len(grid.columns) == 2 + len(strategies)
    header = [grid.cell(0, j).text for j in range(len(grid.columns))]
    from simlib.verdict import verdict

    v = verdict(result)
    marks = {v.winner: export.VERDICT_MARK, **{t: export.TIED_MARK for t in v.tied_with}} if v.winner else {}
    assert header[1:-1] == [marks.get(s, "") + label(s) for s in strategies]  # the verdict, not per-row maxima
    summary = result.summary()
    for i, dim in enumerate(COMPARISON_DIMENSIONS, start=1):
        assert grid.cell(i, 0).text == dim.label
        values = {}
        for j, s in enumerate(strategies, start=1):
            text = grid.cell(i, j).text
            if not summary[s]["feasible"]:
                assert text == "infeasible"
                continue
            if summary[s]["saturated"] and dim.metric in WAIT_METRICS:  # waits of a saturated stage: no number
                assert text == "saturated", (dim.label, s, text)
                continue
            mean = summary[s][dim.metric]["mean"]
            if mean is None or (isinstance(mean, float) and np.isnan(mean)):
                assert text == "n/a", (dim.label, s, text)
                continue
            values[s] = mean
            shown, half_unit = parse_cell(text)
            assert abs(shown - mean) <= half_unit * 1.0001, (dim.label, s, text, mean)
        best = min(values.values()) if dim.better == "lower" else max(values.values())
        pick = [s for s, x in values.items() if x == best][0]
        ci_best = summary[pick][dim.metric]["ci95"]

        def overlaps(s):  # not distinguishable from the best beyond noise: 95% intervals overlap
            ci = summary[s][dim.metric]["ci95"]
            return bool(ci and ci_best) and ci[0] <= ci_best[1] and ci_best[0] <= ci[1]

        expected = {s for s, x in values.items() if abs(x - best) <= 0.005 * max(abs(best), 1e-12) or overlaps(s)}
        marked = {s for j, s in enumerate(strategies, start=1) if grid.cell(i, j).text.startswith(export.WINNER_MARK)}
        assert marked == expected, dim.label
        for j, s in enumerate(strategies, start=1):
            fill = str(grid.cell(i, j).fill.fore_color.rgb)
            assert (fill == "D9F2E4") == (s in expected), (dim.label, s, fill)
        assert grid.cell(i, len(strategies) + 1).text == ", ".join(label(s) for s in strategies if s in expected)


@browser
def test_existing_deck_is_refused_without_force_before_simulating(tmp_path):
    out = tmp_path / "deck.pptx"
    out.write_bytes(b"keep me")
    proc = cli("export", "--preset", PRESET, "--queries", "200", "--out", str(out))
    assert proc.returncode == 2
    assert "exists" in proc.stderr and "--force" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_bytes() == b"keep me"


# --- images ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def png_folder(result, tmp_path_factory):
    """All dashboard charts as PNG, counting how many browsers kaleido starts."""
    import choreographer.cli
    import kaleido

    folder = tmp_path_factory.mktemp("png")
    opened, pages = [], []
    original, original_page = kaleido.Kaleido.open, kaleido.PageGenerator.generate_index

    async def counting_open(self):
        opened.append(self)
        return await original(self)

    def recording_page(self):
        pages.append(original_page(self))
        return pages[-1]

    def no_download(*args, **kwargs):
        raise AssertionError("export must never download Chrome")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kaleido.Kaleido, "open", counting_open)
        mp.setattr(kaleido.PageGenerator, "generate_index", recording_page)
        mp.setattr(kaleido, "get_chrome", no_download)
        mp.setattr(kaleido, "get_chrome_sync", no_download)
        mp.setattr(choreographer.cli, "get_chrome_sync", no_download)
        paths = export.write_figures(dashboard_figures(result), folder, "png")
    return folder, paths, len(opened), pages


@browser
def test_png_batch_is_slide_sized_not_blank_and_drawn_by_one_browser(png_folder, result):
    folder, paths, browsers_started, pages = png_folder
    assert [p.name for p in paths] == [f"{k}.png" for k in dashboard_figures(result)]
    assert browsers_started == 1, "a batch must start the browser once, not once per chart"
    for path in paths:
        data = path.read_bytes()
        assert png_size(data) == (export.SLIDE_WIDTH_PX, export.SLIDE_HEIGHT_PX) == (1600, 900)
        assert_not_blank(data)
    no_leftovers(folder)


@browser
def test_the_drawing_page_loads_nothing_from_the_network(png_folder):
    """kaleido's page must take plotly.js from the installed package and skip MathJax's CDN."""
    pages = png_folder[3]
    assert pages
    for page in pages:
        sources = re.findall(r'<script src="([^"]+)"', page)
        assert sources and all(src.startswith("file://") for src in sources), sources
        assert any(src.endswith("plotly.min.js") for src in sources)


@browser
def test_scale_multiplies_the_pixel_size(result):
    fig = dashboard_figures(result)["cost"]
    data = export.render_images({"cost": fig}, "png", scale=0.5)["cost"]
    assert png_size(data) == (800, 450)
    assert_not_blank(data)


@browser
def test_svg_parses_and_pdf_is_a_pdf(result, tmp_path):
    figures = {k: f for k, f in dashboard_figures(result).items() if k in ("cost", "freshness")}
    svgs = export.write_figures(figures, tmp_path / "svg", "svg")
    for path in svgs:
        root = ET.parse(path).getroot()
        assert root.tag.endswith("svg")
        assert (root.get("width"), root.get("height")) == ("1600", "900")
        assert "Fine-tuning" in path.read_text(), "strategy labels are text in the SVG"
    pdfs = export.write_figures(figures, tmp_path / "pdf", "pdf")
    for path in pdfs:
        data = path.read_bytes()
        assert data.startswith(b"%PDF")
        assert len(data) > 5_000
    no_leftovers(tmp_path)


# --- no browser -------------------------------------------------------------------------

def test_no_browser_gives_a_clear_error_saying_how_to_install_one(tmp_path, monkeypatch):
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setenv("PATH", str(no_browser_env(tmp_path)["PATH"]))
    with pytest.raises(export.BrowserNotFoundError) as err:
        export.find_browser()
    message = str(err.value)
    assert "apt-get install chromium" in message and "BROWSER_PATH" in message and "html" in message
    fig = {"a": _tiny_figure()}
    with pytest.raises(export.BrowserNotFoundError):
        export.write_figures(fig, tmp_path / "out", "png")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_wrong_browser_path_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chromium"))
    with pytest.raises(export.BrowserNotFoundError, match="no-such-chromium.*apt-get install chromium"):
        export.find_browser()


def test_cli_without_browser_exits_2_with_the_hint_before_simulating(tmp_path):
    for fmt, out in (("png", tmp_path / "charts"), ("pptx", tmp_path / "deck.pptx")):
        proc = cli("export", "--preset", PRESET, "--queries", "200", "--format", fmt, "--out", str(out),
                   env=no_browser_env(tmp_path))
        assert proc.returncode == 2, proc.stderr
        assert "apt-get install chromium" in proc.stderr and "BROWSER_PATH" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert not out.exists()


def test_html_needs_no_browser_and_inlines_plotly_js(tmp_path):
    """From a scenario file, with no browser on PATH: one self-contained page per chart."""
    scenario = tmp_path / "mine.yaml"
    scenario.write_text("base: docs-assistant\nname: mine\nsimulation:\n  queries: 300\n")
    out = tmp_path / "html"
    proc = cli("export", "--scenario", str(scenario), "--format", "html", "--out", str(out), env=no_browser_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    pages = sorted(p.name for p in out.iterdir())
    assert pages == sorted(f"{k}.html" for k in ("cost", "cost_quality", "latency", "freshness", "timeline", "comparison"))
    page = (out / "cost.html").read_text()
    assert not re.search(r"<script[^>]+src=", page), "no script may come from a URL"
    assert "<script src=" not in page
    assert len(page) > 1_000_000, "plotly.js must be inlined"
    assert "Cost per query, by component" in page


# --- never overwrite, never half-write ---------------------------------------------------

def _tiny_figure(title: str = "tiny"):
    import plotly.graph_objects as go

    return go.Figure(go.Bar(x=["a", "b"], y=[1, 2]), layout=dict(title=title))


def test_existing_files_are_refused_before_anything_is_drawn(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(no_browser_env(tmp_path)["PATH"]))  # drawing would fail differently
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    (tmp_path / "b.png").write_bytes(b"old")
    with pytest.raises(export.OutputExistsError, match="b.png"):
        export.write_figures({"a": _tiny_figure(), "b": _tiny_figure()}, tmp_path, "png")
    assert (tmp_path / "b.png").read_bytes() == b"old"
    assert not (tmp_path / "a.png").exists()


def test_force_replaces_and_no_force_keeps(tmp_path):
    first = export.write_figures({"chart": _tiny_figure("title-one-x7")}, tmp_path, "html")
    with pytest.raises(export.OutputExistsError):
        export.write_figures({"chart": _tiny_figure("title-two-x7")}, tmp_path, "html")
    assert "title-one-x7" in first[0].read_text() and "title-two-x7" not in first[0].read_text()
    export.write_figures({"chart": _tiny_figure("title-two-x7")}, tmp_path, "html", force=True)
    assert "title-two-x7" in first[0].read_text() and "title-one-x7" not in first[0].read_text()
    no_leftovers(tmp_path)


def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    def half_then_fail(handle):
        handle.write(b"half a fi")
        raise OSError("disk full")

    target = tmp_path / "deck.pptx"
    with pytest.raises(OSError, match="disk full"):
        export._write_atomic(target, half_then_fail, force=False)
    assert not target.exists()
    target.write_bytes(b"previous deck")
    with pytest.raises(OSError, match="disk full"):
        export._write_atomic(target, half_then_fail, force=True)
    assert target.read_bytes() == b"previous deck"
    no_leftovers(tmp_path)


def test_a_failing_deck_save_leaves_nothing(tmp_path, result, monkeypatch):
    """The deck is saved through a temporary file: a crash mid-save leaves no .pptx."""
    from pptx.presentation import Presentation

    def broken_save(self, file):
        file.write(b"PK\x03\x04 partial zip")
        raise RuntimeError("crashed while saving")

    monkeypatch.setattr(Presentation, "save", broken_save)
    target = tmp_path / "deck.pptx"
    with pytest.raises(RuntimeError, match="crashed while saving"):
        export.write_deck(result, target, figures={}, table=comparison_table(result))  # no charts: no browser needed
    assert list(tmp_path.iterdir()) == []


def test_a_failure_midway_through_a_batch_removes_the_files_it_created(tmp_path, monkeypatch):
    calls = []
    original = export._write_atomic

    def fail_on_second(path, write, *, force):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(path, write, force=force)

    monkeypatch.setattr(export, "_write_atomic", fail_on_second)
    with pytest.raises(OSError):
        export.write_figures({"a": _tiny_figure(), "b": _tiny_figure(), "c": _tiny_figure()}, tmp_path, "html")
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_outputs_exit_2(tmp_path):
    (tmp_path / "file").write_text("x")
    cases = [
        (("--format", "pptx", "--out", str(tmp_path / "deck.txt")), ".pptx"),
        (("--format", "html", "--out", str(tmp_path / "file")), "folder"),
        (("--format", "png", "--out", str(tmp_path / "chart.png")), "folder"),
        (("--scale", "0", "--out", str(tmp_path / "d.pptx")), "--scale"),
    ]
    for args, needle in cases:
        proc = cli("export", "--preset", PRESET, "--queries", "200", *args)
        assert proc.returncode == 2 and needle in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    proc = cli("export", "--preset", "no-such-preset", "--format", "html", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "unknown preset" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# --- the dashboard's Export button ----------------------------------------------------------

def test_export_button_writes_current_charts_and_says_where(tmp_path, result, monkeypatch):
    from simlib.export_widget import export_box

    monkeypatch.setenv("PATH", str(no_browser_env(tmp_path)["PATH"]))
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    figures = {"cost": _tiny_figure("current cost")}
    box = export_box(lambda: (result, figures), folder=tmp_path / "exports")
    box.format_picker.value = "html"
    box.button.click()
    written = tmp_path / "exports" / PRESET / "cost.html"
    assert box.written == [written]
    assert "current cost" in written.read_text()
    assert "Wrote 1 file(s)" in box.status.value and str(written.resolve()) in box.status.value
    assert not box.button.disabled

    box.button.click()  # again: refused, the file kept
    assert box.written == [] and "already exist" in box.status.value and "Replace existing files" in box.status.value
    assert "current cost" in written.read_text()
    box.force.value = True
    box.button.click()
    assert box.written == [written]

    box.format_picker.value = "pptx"  # no browser: the install hint, not a traceback
    box.button.click()
    assert box.written == [] and "apt-get install chromium" in box.status.value
    assert not (tmp_path / "exports" / f"{PRESET}.pptx").exists()


def test_a_preset_is_exported_at_the_dashboards_horizon_unless_a_size_is_given(tmp_path):
    """`simlib export --preset` makes the dashboard's deck: a week or one retraining interval (simlib.horizon),
    not the preset's 5,000 queries (9.75 hours of docs-assistant, no doc release, no retraining)."""
    low = ("--set", "workload.queries_per_day=100")  # 100 a day x the 30-day retraining interval = 3,000 queries
    for extra, wanted in (((), "days simulated (3,000 queries)"), (("--queries", "300"), "(300 queries)"),
                          (("--set", "simulation.queries=400"), "(400 queries)")):
        out = tmp_path / f"html{len(extra)}{wanted[-12:-9]}"
        proc = cli("export", "--preset", PRESET, *low, *extra, "--format", "html", "--out", str(out),
                   env=no_browser_env(tmp_path))
        assert proc.returncode == 0, proc.stderr
        assert wanted in (out / "cost.html").read_text(), extra
