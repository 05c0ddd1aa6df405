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

One module per job: ``formats`` (formats, sizes, errors), ``browser`` (finding Chromium),
``render`` (drawing images and HTML), ``files`` (the atomic write of one file), ``captions``
(figure titles, key parameters, price sources), ``deck`` (the PowerPoint deck); this module
writes a batch of figures and holds the one ``export`` call. ``simlib export`` is in
``simlib.cli.export``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simlib.export.browser import BROWSER_NAMES, INSTALL_HINT, find_browser
from simlib.export.captions import caption_text, figure_title, key_parameters, price_sources, short_source
from simlib.export.deck import (
    DECK_SKIPS,
    TIED_MARK,
    VERDICT_MARK,
    WINNER_MARK,
    DeckChart,
    build_deck,
    comparison_table,
    dashboard_figures,
    deck_charts,
    write_deck,
)
from simlib.export.files import _write_atomic
from simlib.export.formats import (
    DECK_FORMAT,
    DECK_IMAGE_SCALE,
    FORMATS,
    IMAGE_FORMATS,
    LAYOUT_ZOOM,
    SLIDE_HEIGHT_PX,
    SLIDE_WIDTH_PX,
    BrowserNotFoundError,
    ExportError,
    OutputExistsError,
    RenderError,
)
from simlib.export.render import _check_size, figure_html, render_images

if TYPE_CHECKING:  # imported lazily at run time: export is optional
    import pandas as pd
    import plotly.graph_objects as go

    from simlib.results import RunResult

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
    "DECK_IMAGE_SCALE", "DECK_SKIPS", "INSTALL_HINT", "TIED_MARK", "VERDICT_MARK", "WINNER_MARK", "DeckChart",
    "comparison_table", "dashboard_figures", "deck_charts",
]


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
