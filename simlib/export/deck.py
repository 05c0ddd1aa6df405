"""The PowerPoint deck: title slide with the verdict, one slide per chart with its caption, the comparison as a native table."""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from simlib.export.captions import _figure_subtitle, caption_text, figure_title
from simlib.export.formats import (
    _CAPTION_TOP_IN,
    _CHART_BOTTOM_IN,
    _CHART_TOP_IN,
    _INK,
    _MARGIN_IN,
    _MUTED,
    _PX_PER_IN,
    _SLIDE_H_IN,
    _SLIDE_W_IN,
    _SUBTITLE_H_IN,
    _SUBTITLE_TOP_IN,
    _TITLE_H_IN,
    _TITLE_TOP_IN,
    _WIN_FILL,
    DECK_IMAGE_SCALE,
    ExportError,
    SUBTITLE_LONG_CHARS,
    OutputExistsError,
)
from simlib.export.files import _write_atomic
from simlib.export.render import _draw

if TYPE_CHECKING:  # imported lazily at run time: export is optional
    import pandas as pd
    import plotly.graph_objects as go

    from simlib.results import RunResult


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
