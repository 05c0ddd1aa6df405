"""Export: charts to PNG, SVG, PDF and self-contained HTML, and a PowerPoint deck.

The last step of the flow (scenario -> engine -> results -> charts -> export). Export
only reads a :class:`~simlib.results.RunResult` and calls chart functions on it.

    >>> from simlib import export
    >>> paths = export.write_figures(figures, "charts/", "png")            # doctest: +SKIP
    >>> export.write_deck(result, "deck.pptx")                             # doctest: +SKIP

* **Images** (``png``, ``svg``, ``pdf``) are drawn by kaleido 1.x, which drives a
  Chromium already on the machine (Debian ``chromium``, found on ``PATH`` or through
  ``BROWSER_PATH``). One browser is started for a whole batch, not one per chart, and it
  loads plotly.js from the installed plotly package with MathJax off: nothing is fetched
  from a CDN and nothing is downloaded (kaleido's ``get_chrome`` is never called).
  Without a browser, :class:`BrowserNotFoundError` says how to install one.
* **HTML** is one self-contained file per chart (plotly.js inlined): it needs no browser
  to write and no network to open.
* **Deck** (``pptx``): a title slide (scenario name, story, the verdict's sentence, date,
  tool version), one slide per chart with its title and a caption of the scenario's key
  parameters and the price sources and dates, and a closing slide holding the practical
  comparison as a native table: the verdict's column header marked (its ties too), and
  each row's winners (several where not distinguishable beyond noise).

Every file is written to a temporary name in the target folder and renamed into place,
so a failure never leaves a half-written file; an existing file is never replaced unless
``force=True`` (``--force`` on the command line).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import html as _html
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily at run time: export is optional
    import pandas as pd
    import plotly.graph_objects as go

    from simlib.results import RunResult
    from simlib.scenario import Scenario

__all__ = [
    "BROWSER_NAMES",
    "DECK_FORMAT",
    "FORMATS",
    "IMAGE_FORMATS",
    "LAYOUT_ZOOM",
    "SLIDE_HEIGHT_PX",
    "SLIDE_WIDTH_PX",
    "BrowserNotFoundError",
    "ExportError",
    "OutputExistsError",
    "RenderError",
    "build_deck",
    "caption_text",
    "export",
    "figure_html",
    "figure_title",
    "find_browser",
    "key_parameters",
    "price_sources",
    "render_images",
    "short_source",
    "write_deck",
    "write_figures",
]

# --- formats and sizes ----------------------------------------------------------------

IMAGE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
DECK_FORMAT = "pptx"
FORMATS: tuple[str, ...] = (DECK_FORMAT, *IMAGE_FORMATS, "html")

SLIDE_WIDTH_PX, SLIDE_HEIGHT_PX = 1600, 900  # 16:9 image size in pixels at scale 1
# Charts are laid out as on a 13.33 in slide at 96 CSS px per inch (1280 x 720), where the
# theme's 16 px text prints at 12 pt, then drawn LAYOUT_ZOOM times larger: 1600 x 900 pixels.
# Laid out at 1600 x 900 instead, the same text would shrink to 9.6 pt on a full slide.
LAYOUT_ZOOM = 1.25

# The deck: a 16:9 slide (13.333 x 7.5 in), laid out in inches.
_SLIDE_W_IN, _SLIDE_H_IN = 40 / 3, 7.5  # 12,192,000 x 6,858,000 EMU: PowerPoint's 16:9
_MARGIN_IN = 0.45
_TITLE_TOP_IN, _TITLE_H_IN = 0.25, 0.65
_SUBTITLE_TOP_IN, _SUBTITLE_H_IN = 0.85, 0.4
_CHART_TOP_IN, _CHART_BOTTOM_IN = 1.3, 6.4
_CAPTION_TOP_IN = 6.45
# Charts on slides are drawn at 96 px per inch of the picture (CSS pixels), so a 16 px
# chart font prints as 12 pt on the slide; DECK_IMAGE_SCALE sharpens the bitmap.
_PX_PER_IN = 96
DECK_IMAGE_SCALE = 2.0

_INK, _MUTED, _WIN_FILL, _HEAD_FILL = "222222", "555555", "D9F2E4", "E8E8E8"
SUBTITLE_LONG_CHARS = 110  # a slide subtitle longer than this is set at 12 pt (two lines fit) instead of 16


# --- errors ---------------------------------------------------------------------------

class ExportError(RuntimeError):
    """An export that cannot be done as asked (the CLI prints it and exits 2)."""

    exit_code = 2


class OutputExistsError(ExportError, FileExistsError):
    """The target file exists and ``force`` was not given."""


class BrowserNotFoundError(ExportError):
    """No Chromium to draw PNG, SVG or PDF with."""


class RenderError(ExportError):
    """The browser failed while drawing a chart (the CLI exits 1)."""

    exit_code = 1


# --- finding the browser --------------------------------------------------------------

BROWSER_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

INSTALL_HINT = (
    "Install Chromium (Debian/Ubuntu: 'sudo apt-get install chromium'), or set BROWSER_PATH "
    "to a Chrome or Chromium executable. HTML export (format 'html') needs no browser."
)


def find_browser() -> str:
    """The Chromium kaleido will drive: ``BROWSER_PATH`` if set, else the first of
    :data:`BROWSER_NAMES` on ``PATH``.

    Only these two places are looked at (the same order as choreographer's own lookup,
    without its downloaded copy), and nothing is ever downloaded.

    Raises :class:`BrowserNotFoundError` with installation advice when there is none.
    """
    explicit = os.environ.get("BROWSER_PATH")
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise BrowserNotFoundError(
            f"BROWSER_PATH={explicit!r} is not an executable file, so PNG, SVG and PDF "
            f"export cannot start a browser. {INSTALL_HINT}"
        )
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFoundError(
        "PNG, SVG and PDF export draws charts with Chromium, and none was found "
        f"(BROWSER_PATH is not set and none of {', '.join(BROWSER_NAMES)} is on PATH). {INSTALL_HINT}"
    )


# --- rendering ------------------------------------------------------------------------

def _run_in_thread(coroutine_fn: Callable[[], Any]) -> Any:
    """Run an async function to completion in its own thread and event loop (safe inside
    Jupyter, whose loop is already running)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coroutine_fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name="simlib-export-render", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def render_images(
    figures: Mapping[str, go.Figure],
    format: str = "png",
    *,
    width: int = SLIDE_WIDTH_PX,
    height: int = SLIDE_HEIGHT_PX,
    scale: float = 1.0,
    zoom: float = LAYOUT_ZOOM,
    timeout_s: float = 90.0,
) -> dict[str, bytes]:
    """Draw every figure to ``format`` bytes with one browser session.

    A PNG is ``width * scale`` by ``height * scale`` pixels. The chart is laid out at
    ``width / zoom`` by ``height / zoom`` CSS pixels and magnified ``zoom`` times, so text
    keeps the size it has on a slide (see ``LAYOUT_ZOOM``); SVG and PDF are vector
    drawings of that layout at the same size. Returns key -> bytes, in the input's order.
    """
    format = format.lower()
    if format not in IMAGE_FORMATS:
        raise ExportError(f"format must be one of {', '.join(IMAGE_FORMATS)} to draw an image, got {format!r}")
    _check_size(width, height, scale)
    if not (0 < zoom <= 10):
        raise ExportError(f"zoom must be above 0 and at most 10, got {zoom!r}")
    return _draw(figures, format, round(width / zoom), round(height / zoom), scale * zoom, timeout_s)


def _draw(figures: Mapping[str, go.Figure], format: str, layout_w: int, layout_h: int, scale: float,
          timeout_s: float = 90.0) -> dict[str, bytes]:
    """Draw figures laid out at layout_w x layout_h CSS px, magnified ``scale`` times."""
    if not figures:
        return {}
    browser = find_browser()
    import kaleido

    opts = {"format": format, "width": int(layout_w), "height": int(layout_h), "scale": float(scale)}

    async def draw_all() -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        # mathjax=False: kaleido would otherwise load MathJax from a CDN. plotly.js comes
        # from the installed plotly package (kaleido's default when plotly is importable).
        async with kaleido.Kaleido(n=1, timeout=timeout_s, mathjax=False, path=browser) as k:
            for key, fig in figures.items():
                out[key] = await k.calc_fig(fig, opts=opts)
        return out

    for attempt in (1, 2):
        try:
            return _run_in_thread(draw_all)
        except ExportError:
            raise
        except Exception as exc:
            # kaleido's page sometimes runs its first script before its own scripts have
            # loaded ("kaleido_scopes is not defined"), seen about once in a few dozen
            # starts on a loaded 2-core machine: a fresh browser draws it; anything else fails.
            if attempt == 1 and "kaleido_scopes is not defined" in str(exc):
                continue
            raise RenderError(f"drawing charts with {browser} failed: {type(exc).__name__}: {exc}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _check_size(width: int, height: int, scale: float) -> None:
    if not (isinstance(width, int) and isinstance(height, int)) or width < 50 or height < 50:
        raise ExportError(f"width and height must be whole numbers of pixels, at least 50; got {width!r} x {height!r}")
    if not (0 < scale <= 10):
        raise ExportError(f"scale must be above 0 and at most 10, got {scale!r}")


def figure_html(fig: go.Figure, *, width: int = SLIDE_WIDTH_PX, height: int = SLIDE_HEIGHT_PX,
                zoom: float = LAYOUT_ZOOM, title: str | None = None) -> str:
    """A self-contained HTML page for one chart: plotly.js inlined, nothing from a CDN.

    The chart is laid out at ``width / zoom`` x ``height / zoom`` CSS pixels, as the images
    are; its camera button saves a ``width`` x ``height`` PNG.
    """
    import plotly.io as pio

    layout_w, layout_h = round(width / zoom), round(height / zoom)
    body = pio.to_html(
        fig,
        include_plotlyjs=True,
        include_mathjax=False,
        full_html=False,
        default_width=f"{layout_w}px",
        default_height=f"{layout_h}px",
        config={"displaylogo": False,
                "toImageButtonOptions": {"format": "png", "width": layout_w, "height": layout_h, "scale": zoom}},
    )
    name = _html.escape(title or figure_title(fig) or "chart")
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\" />\n"
        f"<title>{name}</title>\n</head>\n<body style=\"margin:0\">\n{body}\n</body>\n</html>\n"
    )


# --- atomic writes --------------------------------------------------------------------

def _write_atomic(path: Path, write: Callable[[IO[bytes]], None], *, force: bool) -> Path:
    """Write ``path`` atomically through simlib.writing.write_atomic (creating its folder).

    Without ``force`` an existing target (or one appearing meanwhile) is not clobbered; on
    any failure the temporary file is removed and ``path`` is left as it was.
    """
    from simlib.writing import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, write, force=force, exists_error=OutputExistsError)


def _write_all(files: Mapping[Path, bytes], *, force: bool) -> list[Path]:
    """Write several files atomically; if one fails, remove the ones this call created."""
    if not force:
        existing = [p for p in files if p.exists()]
        if existing:
            names = ", ".join(str(p) for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
            raise OutputExistsError(f"{len(existing)} file(s) already exist: {names}; not overwriting (use --force to replace them)")
    created: list[Path] = []
    try:
        for path, data in files.items():
            existed = path.exists()
            _write_atomic(path, lambda f, data=data: f.write(data), force=force)
            if not existed:
                created.append(path)
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise
    return list(files)


# --- figures to files -----------------------------------------------------------------

def _slug(key: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-.")
    return slug or "chart"


def figure_title(fig: go.Figure) -> str:
    """A figure's title as plain text (its first line; HTML tags dropped)."""
    text = fig.layout.title.text or ""
    first = re.split(r"<br\s*/?>", text, maxsplit=1, flags=re.I)[0]
    return re.sub(r"<[^>]+>", "", first).strip()


def _figure_subtitle(fig: go.Figure) -> str:
    text = fig.layout.title.text or ""
    parts = re.split(r"<br\s*/?>", text, maxsplit=1, flags=re.I)
    sub = parts[1] if len(parts) > 1 else ""
    try:
        sub = sub or (fig.layout.title.subtitle.text or "")
    except AttributeError:  # plotly < 6 has no subtitles
        pass
    sub = re.sub(r"<br\s*/?>", " \u00b7 ", sub, flags=re.I)  # one line on the slide: the lines joined
    return re.sub(r"<[^>]+>", "", sub).strip()


def _file_names(figures: Mapping[str, Any], folder: Path, extension: str) -> dict[str, Path]:
    names: dict[str, Path] = {}
    used: set[str] = set()
    for key in figures:
        stem = _slug(key)
        candidate, n = stem, 2
        while candidate.lower() in used:
            candidate, n = f"{stem}-{n}", n + 1
        used.add(candidate.lower())
        names[key] = folder / f"{candidate}.{extension}"
    return names


def write_figures(
    figures: Mapping[str, go.Figure],
    folder: str | os.PathLike[str],
    format: str = "png",
    *,
    width: int = SLIDE_WIDTH_PX,
    height: int = SLIDE_HEIGHT_PX,
    scale: float = 1.0,
    force: bool = False,
) -> list[Path]:
    """Write each figure to ``folder/KEY.FORMAT`` (png, svg, pdf or html); return the paths.

    Images are drawn with one browser for the whole batch. Nothing is written until every
    chart has been drawn, and existing files are refused (before drawing) unless ``force``.
    """
    format = format.lower()
    if format not in (*IMAGE_FORMATS, "html"):
        raise ExportError(f"format must be one of {', '.join((*IMAGE_FORMATS, 'html'))} for a folder of charts, got {format!r}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder} is a file; give a folder to write the charts into")
    _check_size(width, height, scale)
    targets = _file_names(figures, folder, format)
    if not force:
        existing = [p for p in targets.values() if p.exists()]
        if existing:
            names = ", ".join(str(p) for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
            raise OutputExistsError(f"{len(existing)} file(s) already exist: {names}; not overwriting (use --force to replace them)")
    if format == "html":
        data = {key: figure_html(fig, width=width, height=height).encode("utf-8") for key, fig in figures.items()}
    else:
        data = render_images(figures, format, width=width, height=height, scale=scale)
    return _write_all({targets[key]: data[key] for key in figures}, force=force)


# --- captions -------------------------------------------------------------------------

def key_parameters(scenario: Scenario) -> list[tuple[str, str]]:
    """The scenario's key parameters as (group, plain text) pairs, for slide captions."""
    w, k, r, m, ft, pc, sim = (scenario.workload, scenario.knowledge, scenario.retrieval, scenario.model,
                               scenario.fine_tuning, scenario.prompt_cache, scenario.simulation)
    index = f"streaming index ({k.index_lag_s:g} s lag)" if k.index_refresh == "streaming" else (
        f"batch re-index every {k.reindex_interval_s / 3600:g} h")
    reps = "replication" if sim.replications == 1 else "replications"
    workload = f"{w.queries_per_day:,.0f} queries/day ({w.query_tokens_mean:,.0f} tokens in, {w.output_tokens_mean:,.0f} out)"
    if w.arrival_process == "trace":
        workload += f", trace {w.trace} (time x{w.trace_time_scale:g})"
    return [
        ("workload", workload),
        ("knowledge", f"{k.facts_count:,} facts, {k.changes_per_day:g} changes/day, {index}"),
        ("model", f"{m.name} ({m.context_window_tokens:,}-token window, {m.concurrency_limit} slots)"),
        ("retrieval", f"top {r.top_k} x {r.chunk_tokens}-token chunks" + (", reranked" if r.rerank else "")),
        ("fine-tuning", f"retrained every {ft.retrain_interval_days:g} days"),
        ("prompt cache", f"{pc.mode}, {pc.ttl_s:g} s TTL"),
        ("run", f"{sim.queries:,} queries x {sim.replications} {reps}, seed {sim.seed}"),
    ]


def price_sources(scenario: Scenario) -> list[tuple[str, str, str]]:
    """(what, source, as of) for every price set the scenario uses."""
    p, ft = scenario.prices, scenario.fine_tuning
    token = "tokens" + (f" ({p.model})" if p.model else "")
    tuning = "fine-tuning" + (f" ({ft.model})" if ft.model else "")
    return [(token, p.source, p.as_of), (tuning, ft.source, ft.as_of)]


def short_source(source: str, limit: int = 70) -> str:
    """A source fit for a caption line: parenthesised remarks dropped, cut at ``limit``."""
    text = re.sub(r"\s*\([^)]*\)", "", source).strip() or source.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;") + "\u2026"


def caption_text(scenario: Scenario, *, full: bool = False) -> str:
    """Two lines: the scenario's key parameters, then the price sources with their dates.

    ``full=False`` shortens long sources to fit under a chart (the title slide and every
    slide's notes carry them in full).
    """
    params = " \u00b7 ".join(f"{group}: {text}" for group, text in key_parameters(scenario))
    sources = " \u00b7 ".join(f"{what}: {source if full else short_source(source)}, as of {as_of}"
                               for what, source, as_of in price_sources(scenario))
    return f"Scenario {scenario.name} \u00b7 {params}\nPrices \u00b7 {sources}"


# --- the deck -------------------------------------------------------------------------

def _rgb(hex6: str):
    from pptx.dml.color import RGBColor

    return RGBColor.from_string(hex6)


def _set_text(frame, lines: Iterable[str], *, size_pt: float, bold: bool = False, colour: str = _INK) -> None:
    from pptx.util import Pt

    frame.clear()
    frame.word_wrap = True
    for i, line in enumerate(lines):
        para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        run = para.add_run()
        run.text = line
        run.font.size = Pt(size_pt)
        run.font.bold = bold
        run.font.color.rgb = _rgb(colour)


def _place(shape, left: float, top: float, width: float, height: float) -> None:
    from pptx.util import Inches

    shape.left, shape.top, shape.width, shape.height = Inches(left), Inches(top), Inches(width), Inches(height)


def _slide_title(slide, text: str) -> None:
    title = slide.shapes.title
    _place(title, _MARGIN_IN, _TITLE_TOP_IN, _SLIDE_W_IN - 2 * _MARGIN_IN, _TITLE_H_IN)
    _set_text(title.text_frame, [text], size_pt=28, bold=True)
    from pptx.enum.text import PP_ALIGN

    title.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT


def _slide_subtitle(slide, text: str, size_pt: float = 16) -> None:
    from pptx.util import Inches

    box = slide.shapes.add_textbox(Inches(_MARGIN_IN), Inches(_SUBTITLE_TOP_IN), Inches(_SLIDE_W_IN - 2 * _MARGIN_IN),
                                   Inches(_SUBTITLE_H_IN))
    box.name = "Subtitle"
    _set_text(box.text_frame, [text], size_pt=size_pt, colour=_MUTED)


def _caption(slide, text: str, top: float = _CAPTION_TOP_IN) -> None:
    from pptx.util import Inches

    box = slide.shapes.add_textbox(Inches(_MARGIN_IN), Inches(top), Inches(_SLIDE_W_IN - 2 * _MARGIN_IN),
                                   Inches(_SLIDE_H_IN - top - 0.1))
    box.name = "Caption"
    _set_text(box.text_frame, text.split("\n"), size_pt=10.5, colour=_MUTED)


def _notes(slide, text: str) -> None:
    slide.notes_slide.notes_text_frame.text = text


def _chart_box_px() -> tuple[int, int]:
    """The chart picture's size in CSS pixels: the slide's chart area at 96 px per inch."""
    w_in = _SLIDE_W_IN - 2 * _MARGIN_IN
    h_in = _CHART_BOTTOM_IN - _CHART_TOP_IN
    return round(w_in * _PX_PER_IN), round(h_in * _PX_PER_IN)


def _for_slide(fig: go.Figure) -> go.Figure:
    """A copy of the chart for a slide: its title moves to the slide's title, so the chart
    drops it (and the room above the plot it took)."""
    import plotly.graph_objects as go

    copy = go.Figure(fig)
    if copy.layout.title.text:
        copy.layout.title.text = None
        try:
            copy.layout.title.subtitle.text = None
        except AttributeError:
            pass
        top = copy.layout.margin.t
        template_top = copy.layout.template.layout.margin.t if copy.layout.template else None
        current = top if top is not None else (template_top if template_top is not None else 80)
        copy.layout.margin.t = min(current, 50)  # room for subplot titles
    return copy


def _table_rows(table: pd.DataFrame, result: RunResult) -> tuple[list[str], list[list[str]], list[set[int]]]:
    """Header, body cells and, per row, the column indexes of the winners' cells.

    ``table`` is ``simlib.charts.strategies.comparison_table(result)``: one row per
    dimension, one column per strategy, and ``best`` naming the row's winners
    (comma-separated when tied). Cells are formatted by the chart layer's
    ``format_comparison``, so the deck shows the same text as the dashboard.
    """
    from simlib.charts.strategies import format_comparison
    from simlib.charts.theme import label

    strategies = [s for s in result.strategies if s in table.columns]
    text = format_comparison(table, strategies)
    from simlib.verdict import verdict

    v = verdict(result)
    mark = {v.winner: VERDICT_MARK, **{t: TIED_MARK for t in v.tied_with}} if v.winner else {}
    header = ([str(table.index.name or "Dimension").capitalize()] + [mark.get(s, "") + label(s) for s in strategies]
              + ["Best"])
    body: list[list[str]] = []
    marks: list[set[int]] = []
    for i, dimension in enumerate(table.index):
        cells = [str(dimension)]
        for s in strategies:
            reason = result.feasibility.get(s)
            cells.append("infeasible" if reason else str(text[label(s)].iloc[i]))
        best = [w for w in str(table["best"].iloc[i]).split(", ") if w]
        cells.append(", ".join(label(w) for w in best) or "-")
        body.append(cells)
        marks.append({1 + strategies.index(w) for w in best if w in strategies})
    return header, body, marks


WINNER_MARK = "\u2605 "  # a star before each winning cell's text (besides its shading)
VERDICT_MARK = "\u2714 "  # before the verdict's column header (simlib.verdict)
TIED_MARK = "= "  # before the header of a strategy tied with the verdict


def _add_table(slide, table: pd.DataFrame, result: RunResult, top: float, bottom: float) -> None:
    from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
    from pptx.util import Inches

    from simlib.charts.theme import colour

    header, body, marks = _table_rows(table, result)
    strategies = [s for s in result.strategies if s in table.columns]  # header order (as _table_rows)
    rows, cols = len(body) + 1, len(header)
    width = _SLIDE_W_IN - 2 * _MARGIN_IN
    row_h = min(0.6, (bottom - top) / rows)
    shape = slide.shapes.add_table(rows, cols, Inches(_MARGIN_IN), Inches(top), Inches(width), Inches(row_h * rows))
    shape.name = "Practical comparison"
    grid = shape.table
    first_w, last_w = 2.0, 2.9
    grid.columns[0].width = Inches(first_w)
    grid.columns[cols - 1].width = Inches(last_w)
    for j in range(1, cols - 1):
        grid.columns[j].width = Inches((width - first_w - last_w) / (cols - 2))
    size = 13 if cols <= 8 else 11
    for i in range(rows):
        grid.rows[i].height = Inches(row_h)
        for j in range(cols):
            cell = grid.cell(i, j)
            winner = i > 0 and j in marks[i - 1]
            text = header[j] if i == 0 else (WINNER_MARK if winner else "") + body[i - 1][j]
            ink = "FFFFFF" if i == 0 else _INK
            _set_text(cell.text_frame, [text], size_pt=size, bold=(i == 0 or j == 0 or winner), colour=ink)
            cell.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT if j == 0 else PP_ALIGN.CENTER
            cell.vertical_anchor = MSO_ANCHOR.MIDDLE
            cell.margin_left = cell.margin_right = Inches(0.06)
            cell.fill.solid()
            head = "333333" if j in (0, cols - 1) else colour(strategies[j - 1]).lstrip("#").upper()
            cell.fill.fore_color.rgb = _rgb(head if i == 0 else _WIN_FILL if winner else ("F7F7F7" if i % 2 == 0 else "FFFFFF"))


@dataclass(frozen=True)
class DeckChart:
    """One chart slide: its key, slide title and the picture's PNG bytes."""

    key: str
    title: str
    subtitle: str
    png: bytes


def build_deck(
    result: RunResult,
    charts: list[DeckChart],
    table: pd.DataFrame | None,
    *,
    date: _dt.date | None = None,
):
    """A ``pptx.Presentation``: title slide, one slide per chart, the comparison table."""
    import simlib
    from pptx import Presentation
    from pptx.util import Inches

    scenario = result.scenario
    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(_SLIDE_W_IN), Inches(_SLIDE_H_IN)
    on = (date or _dt.date.today()).isoformat()
    caption, full_caption = caption_text(scenario), caption_text(scenario, full=True)

    slide = deck.slides.add_slide(deck.slide_layouts[0])  # Title Slide
    _place(slide.shapes.title, _MARGIN_IN + 0.3, 1.6, _SLIDE_W_IN - 2 * _MARGIN_IN - 0.6, 1.4)
    _set_text(slide.shapes.title.text_frame, [scenario.name], size_pt=44, bold=True)
    subtitle = slide.placeholders[1]
    _place(subtitle, _MARGIN_IN + 0.3, 3.1, _SLIDE_W_IN - 2 * _MARGIN_IN - 0.6, 2.0)
    from simlib.verdict import verdict

    lines = ([scenario.story] if scenario.story else []) + [f"Verdict: {verdict(result).sentence}",
                                                             f"{on} \u00b7 simlib {simlib.__version__}"]
    _set_text(subtitle.text_frame, lines, size_pt=16, colour=_MUTED)
    _caption(slide, full_caption, top=5.4)
    _notes(slide, full_caption)

    chart_w_px, chart_h_px = _chart_box_px()
    for chart in charts:
        slide = deck.slides.add_slide(deck.slide_layouts[5])  # Title Only
        _slide_title(slide, chart.title)
        left = _MARGIN_IN
        width = _SLIDE_W_IN - 2 * _MARGIN_IN
        pic = slide.shapes.add_picture(_bytes_io(chart.png), Inches(left), Inches(_CHART_TOP_IN), Inches(width),
                                       Inches(width * chart_h_px / chart_w_px))
        pic.name = f"Chart {chart.key}"
        if chart.subtitle:  # a long one (scenario, models, a note) in smaller type: two lines fit above the chart
            _slide_subtitle(slide, chart.subtitle, size_pt=16 if len(chart.subtitle) <= SUBTITLE_LONG_CHARS else 12)
        _caption(slide, caption)
        _notes(slide, full_caption)

    if table is not None:
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        _slide_title(slide, "Practical comparison")
        _add_table(slide, table, result, _CHART_TOP_IN, _CHART_BOTTOM_IN)
        _slide_subtitle(slide, _table_note(result), size_pt=12)
        _caption(slide, caption)
        _notes(slide, full_caption)
    return deck


def _table_note(result: RunResult) -> str:
    """One line under the table slide's title: the models, how to read the marks, why cells are empty."""
    from simlib.charts.strategies import model_line, saturation_line, short_reason
    from simlib.charts.theme import label

    from simlib.verdict import verdict

    v = verdict(result)
    pick = f"{model_line(result.scenario)}. "
    pick += f"Verdict: {label(v.winner)}" if v.winner else "Verdict: no strategy meets every requirement"
    if v.tied_with:
        pick += " (tied with " + ", ".join(label(t) for t in v.tied_with) + ")"
    note = (f"{pick}; its column is headed {VERDICT_MARK.strip()}, tied ones {TIED_MARK.strip()}. "
            f"{WINNER_MARK.strip()} and green: the best in each row, several where they are not "
            "distinguishable beyond noise (95% intervals overlap, or within 0.5%). n/a: does not apply.")
    for s in result.strategies:
        if result.feasibility.get(s):
            note += f" {label(s)}: {short_reason(result.feasibility[s])}."
    saturated = saturation_line(result)
    if saturated:
        note += f" {saturated}."
    return note


def _bytes_io(data: bytes):
    import io

    return io.BytesIO(data)


# The dashboard's "comparison" chart is the practical-comparison table drawn as a picture;
# the deck shows that table natively on its last slide instead.
DECK_SKIPS: frozenset[str] = frozenset({"comparison"})


def dashboard_figures(result: RunResult) -> dict[str, go.Figure]:
    """Every chart the dashboard shows for ``result`` (``simlib.charts.board``)."""
    from simlib.charts.board import dashboard_figures as figures

    return figures(result)


def comparison_table(result: RunResult) -> pd.DataFrame:
    """The practical-comparison table (``simlib.charts.strategies.comparison_table``)."""
    from simlib.charts.strategies import comparison_table as table

    return table(result)


def deck_charts(figures: Mapping[str, go.Figure], *, scale: float = DECK_IMAGE_SCALE) -> list[DeckChart]:
    """Draw the figures as slide pictures (one browser for all)."""
    w, h = _chart_box_px()
    slide_figs = {key: _for_slide(fig) for key, fig in figures.items()}
    pngs = _draw(slide_figs, "png", w, h, scale)
    return [
        DeckChart(key, figure_title(fig) or key.replace("_", " ").capitalize(), _figure_subtitle(fig), pngs[key])
        for key, fig in figures.items()
    ]


def write_deck(
    result: RunResult,
    path: str | os.PathLike[str],
    *,
    figures: Mapping[str, go.Figure] | None = None,
    table: pd.DataFrame | None = None,
    force: bool = False,
    scale: float = DECK_IMAGE_SCALE,
    date: _dt.date | None = None,
) -> Path:
    """Write the PowerPoint deck of ``result`` to ``path`` (a ``.pptx`` file).

    ``figures`` defaults to the dashboard's charts except the comparison picture, and
    ``table`` to the practical comparison (``comparison_table``), drawn as a native table.
    """
    path = Path(path)
    if path.suffix.lower() != ".pptx":
        raise ExportError(f"a deck is written to a .pptx file; got {str(path)!r}")
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the deck's file name (e.g. {path / 'deck.pptx'})")
    if not force and path.exists():
        raise OutputExistsError(f"{path} already exists; not overwriting it (use --force, or force=True, to replace it)")
    if figures is None:
        figures = {k: f for k, f in dashboard_figures(result).items() if k not in DECK_SKIPS}
    if table is None:
        table = comparison_table(result)
    charts = deck_charts(figures, scale=scale)
    deck = build_deck(result, charts, table, date=date)
    return _write_atomic(path, deck.save, force=force)


# --- one call for the CLI and the widget -----------------------------------------------

def export(
    result: RunResult,
    out: str | os.PathLike[str],
    format: str = DECK_FORMAT,
    *,
    figures: Mapping[str, go.Figure] | None = None,
    table: pd.DataFrame | None = None,
    scale: float | None = None,
    force: bool = False,
) -> list[Path]:
    """Export a result's dashboard charts: a deck to the file ``out`` (``pptx``), or one file
    per chart into the folder ``out`` (png, svg, pdf, html). Returns the written paths.

    ``figures`` defaults to ``dashboard_figures(result)``; in a deck, the dashboard's
    ``comparison`` picture gives way to the native table slide.
    """
    format = format.lower()
    if format not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format == DECK_FORMAT:
        if figures is not None:  # the dashboard's own figures: the table slide replaces the table picture
            figures = {key: fig for key, fig in figures.items() if key not in DECK_SKIPS}
        return [write_deck(result, out, figures=figures, table=table, force=force,
                           scale=DECK_IMAGE_SCALE if scale is None else scale)]
    if Path(out).suffix.lower() in {f".{f}" for f in FORMATS}:
        raise ExportError(f"--format {format} writes one file per chart into a folder; {str(out)!r} looks like a file name")
    if figures is None:
        figures = dashboard_figures(result)
    return write_figures(figures, out, format, scale=1.0 if scale is None else scale, force=force)


# --- command line ---------------------------------------------------------------------

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """``simlib export``: simulate a preset or scenario file and export its charts."""
    from simlib.scenario_source import add_scenario_arguments

    p = subparsers.add_parser(
        "export",
        help="simulate and export the dashboard charts (PowerPoint deck, PNG, SVG, PDF or HTML)",
        description="Simulate a scenario and export its dashboard charts: a PowerPoint deck "
        "(--format pptx --out deck.pptx) or one file per chart (--format png|svg|pdf|html --out FOLDER). "
        "Images need Chromium (Debian: apt-get install chromium, or set BROWSER_PATH); HTML does not.",
    )
    add_scenario_arguments(p)
    p.add_argument("--format", choices=FORMATS, default=DECK_FORMAT, help="output format (default: pptx)")
    p.add_argument("--out", required=True, metavar="PATH", help="the .pptx file for a deck, else the folder for the charts")
    p.add_argument("--scale", type=_scale, help=f"pixel scale of images (default 1: {SLIDE_WIDTH_PX}x{SLIDE_HEIGHT_PX} PNG; deck pictures 2)")
    p.add_argument("--force", action="store_true", help="replace files that already exist")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (0 < value <= 10):
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 10, got {value:g}")
    return value


def handles(command: str) -> bool:
    return command == "export"


def _unwritable_ancestor(folder: Path) -> Path | None:
    """The nearest existing folder on the way to ``folder`` if it cannot be written (missing ones are created)."""
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if folder.is_dir() and os.access(folder, os.W_OK | os.X_OK):
        return None
    return folder


def run_command(args: argparse.Namespace) -> int:
    import simlib
    from simlib.progress import progress_bar as _progress_bar
    from simlib.scenario_source import scenario_from_args

    out = Path(args.out)
    if args.format == DECK_FORMAT and out.suffix.lower() != ".pptx":
        print(f"error: --format pptx writes one file; give --out a name ending in .pptx (got {args.out!r})", file=sys.stderr)
        return 2
    if args.format != DECK_FORMAT and out.suffix.lower() in {f".{f}" for f in FORMATS}:
        print(f"error: --format {args.format} writes one file per chart into a folder; "
              f"{args.out!r} looks like a file name", file=sys.stderr)
        return 2
    if args.format != DECK_FORMAT and out.exists() and not out.is_dir():
        print(f"error: --format {args.format} writes one file per chart; --out must be a folder, and {args.out!r} is a file", file=sys.stderr)
        return 2
    if args.format == DECK_FORMAT and out.exists() and not args.force:
        print(f"error: {out} already exists; not overwriting it (use --force to replace it)", file=sys.stderr)
        return 2
    blocked = _unwritable_ancestor(out if args.format != DECK_FORMAT else out.parent)
    if blocked is not None:  # checked before simulating, not after
        print(f"error: {out}: the folder {str(blocked)!r} is not writable", file=sys.stderr)
        return 2
    if args.format in IMAGE_FORMATS or args.format == DECK_FORMAT:
        try:  # fail before simulating, not after
            find_browser()
        except BrowserNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
    scenario = scenario_from_args(args)
    show = not args.no_progress and sys.stderr.isatty()
    result = simlib.run(scenario, progress=_progress_bar(show))
    try:
        paths = export(result, out, args.format, scale=args.scale, force=args.force)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.format == DECK_FORMAT:
        print(f"wrote {paths[0]}")
    else:
        print(f"wrote {len(paths)} {args.format} file(s) to {out}/")
        for p in paths:
            print(f"  {p.name}")
    return 0
