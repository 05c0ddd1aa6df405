"""Drawing figures to PNG/SVG/PDF bytes with one browser session (kaleido 1.x), and self-contained HTML."""

from __future__ import annotations

import asyncio
import html as _html
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from simlib.export.browser import find_browser
from simlib.export.captions import figure_title
from simlib.export.formats import ExportError, IMAGE_FORMATS, LAYOUT_ZOOM, SLIDE_HEIGHT_PX, SLIDE_WIDTH_PX, RenderError

if TYPE_CHECKING:  # imported lazily at run time: export is optional
    import plotly.graph_objects as go



# --- rendering ------------------------------------------------------------------------

def _run_in_thread(coroutine_fn: Callable[[], Any]) -> Any:
    """Run an async function to completion in its own thread and event loop (safe inside
    Jupyter, whose loop is already running).

    Kept by hand rather than kaleido 1.x's sync API (``start_sync_server`` /
    ``calc_fig_sync``, checked in kaleido's ``_sync_server.py``): that server is one
    process-wide singleton shared by every caller (the dashboard's runner thread and a
    notebook's export would share one browser and its options), and when the browser
    fails to start its thread dies while the caller waits on its return queue, so the
    one-retry fix for kaleido's startup race below could not see the error. Without a
    running server ``calc_fig_sync`` does what this does (one asyncio run per call), one
    browser per figure rather than per batch.
    """
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
