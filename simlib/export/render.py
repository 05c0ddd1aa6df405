"""Drawing figures to PNG/SVG/PDF bytes with one browser session (kaleido 1.x), and self-contained HTML."""

from __future__ import annotations

import asyncio
import atexit
import base64
import html as _html
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from simlib.export.browser import find_browser
from simlib.export.captions import figure_title
from simlib.export.formats import (
    ExportError, IMAGE_FORMATS, LAYOUT_ZOOM, NOTEBOOK_IMAGE_LAYOUT_PX, NOTEBOOK_IMAGE_SCALE, SLIDE_HEIGHT_PX,
    SLIDE_WIDTH_PX, BrowserNotFoundError, RenderError,
)

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


_STARTUP_RACE = "kaleido_scopes is not defined"


class BrowserSession:
    """One Chromium (kaleido 1.x) kept open for a whole process, drawing one figure at a time.

    ``render_images`` starts a browser per batch, which suits an export (one batch). A
    notebook draws its charts one cell at a time, minutes apart: starting Chromium for each
    (~3.5 s on this project's 2-core machine) would dominate, while drawing one figure in an
    open browser takes ~0.6 s (measured 2026-12-02, 960 x 540 PNG). The browser runs on an
    event loop in its own daemon thread, so it works inside Jupyter's running loop, and it
    is closed at interpreter exit. Kept apart from kaleido's own process-wide sync server
    for the reasons given at ``_run_in_thread``.
    """

    def __init__(self, browser: str, timeout_s: float = 60.0):
        self.browser = browser
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simlib-browser-session", daemon=True)
        self._thread.start()
        self._kaleido: Any = None
        atexit.register(self.close)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(self.timeout_s + 30)

    async def _open(self) -> Any:
        import kaleido

        k = kaleido.Kaleido(n=1, timeout=self.timeout_s, mathjax=False, path=self.browser)
        await k.open()
        return k

    def open(self) -> None:
        """Start the browser now, not at the first ``draw`` (``prewarm_notebook_images``)."""
        with self._lock:
            if self._kaleido is None:
                self._kaleido = self._call(self._open())

    def draw(self, fig: go.Figure, format: str, layout_w: int, layout_h: int, scale: float) -> bytes:
        """``fig`` as ``format`` bytes, laid out at layout_w x layout_h CSS px, magnified ``scale``
        times; a first failure from kaleido's startup race gets a fresh browser once."""
        opts = {"format": format, "width": int(layout_w), "height": int(layout_h), "scale": float(scale)}
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._kaleido is None:
                        self._kaleido = self._call(self._open())
                    return self._call(self._kaleido.calc_fig(fig, opts=opts))
                except Exception as exc:
                    self._close_browser()
                    if attempt == 1 and _STARTUP_RACE in str(exc):
                        continue
                    raise RenderError(f"drawing a chart with {self.browser} failed: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _close_browser(self) -> None:
        k, self._kaleido = self._kaleido, None
        if k is not None:
            try:
                self._call(k.close())
            except Exception:  # noqa: BLE001 - closing a browser that already failed
                pass

    def close(self) -> None:
        """Close the browser and stop the loop (also run at interpreter exit)."""
        with self._lock:
            self._close_browser()
        self._loop.call_soon_threadsafe(self._loop.stop)


_log = logging.getLogger(__name__)
_SESSION: BrowserSession | None = None
_NO_BROWSER = False
_SESSION_LOCK = threading.Lock()
_FAILURES = 0
MAX_IMAGE_FAILURES = 3


def _notebook_session() -> BrowserSession | None:
    """The process's ``BrowserSession`` (made at the first call), or None without a browser."""
    global _SESSION, _NO_BROWSER
    if _NO_BROWSER:
        return None
    with _SESSION_LOCK:
        if _SESSION is None:
            try:
                _SESSION = BrowserSession(find_browser())
            except BrowserNotFoundError:
                _NO_BROWSER = True
                return None
        return _SESSION


def prewarm_notebook_images() -> None:
    """Start the notebook images' browser in a background thread and return at once.

    Starting Chromium (and importing kaleido) takes 3.5-12 s on this project's 2-core
    machine (2026-12-02; the longer under load), most of it waiting on the browser, so it
    is started while the notebook's first cells simulate rather than at its first chart.
    Failures are left for ``notebook_image`` to meet (and log) at the first chart.
    """
    def start() -> None:
        session = _notebook_session()
        if session is not None:
            try:
                session.open()
            except Exception:  # noqa: BLE001 - the first draw retries and logs
                pass

    threading.Thread(target=start, name="simlib-browser-prewarm", daemon=True).start()


def notebook_image(fig: go.Figure | dict, format: str = "png") -> bytes | None:
    """A chart as a notebook's static image (``NOTEBOOK_IMAGE_LAYOUT_PX`` magnified
    ``NOTEBOOK_IMAGE_SCALE``; a figure's own layout width or height wins), drawn by one
    ``BrowserSession`` per process; None, and no error, where no Chromium is found (looked
    for once) or drawing fails (logged; after ``MAX_IMAGE_FAILURES`` failures no more are tried):
    the image is an extra, the chart's HTML stays.
    """
    global _NO_BROWSER, _FAILURES
    session = _notebook_session()
    if session is None:
        return None
    layout = fig.get("layout", {}) if isinstance(fig, dict) else fig.layout.to_plotly_json()
    layout_w = layout.get("width") or NOTEBOOK_IMAGE_LAYOUT_PX[0]
    layout_h = layout.get("height") or NOTEBOOK_IMAGE_LAYOUT_PX[1]
    try:
        return session.draw(fig, format, layout_w, layout_h, NOTEBOOK_IMAGE_SCALE)
    except RenderError as exc:
        _FAILURES += 1
        _NO_BROWSER = _FAILURES >= MAX_IMAGE_FAILURES  # a browser that keeps failing is given up on
        _log.warning("no static image of a chart: %s", exc)
        return None


def notebook_image_bundle(fig: go.Figure | dict) -> dict[str, str]:
    """``{"image/png": base64}`` for ``notebook_image(fig)``, or ``{}`` without one."""
    data = notebook_image(fig, "png")
    return {"image/png": base64.b64encode(data).decode("ascii")} if data else {}


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
