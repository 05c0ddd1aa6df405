"""Serve a notebook with Voila on 127.0.0.1 and drive it with Debian's chromium.

Shared by ``tests/test_browser.py`` (does the page work?) and
``benchmarks/bench_dashboard.py`` (how fast is it?). No browser is ever downloaded:
Playwright launches ``/usr/bin/chromium`` (the ``chromium`` apt package).

Timings are taken inside the page with ``performance.now()``:
- first paint: from navigation start to the first chart's bars in the DOM;
- release to redraw: from the pointer release on a slider (a capturing ``pointerup``
  listener) to the last frame in which one of the charts' rendered SVG changed (checked
  on every animation frame, so within ~17 ms of what a user sees).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CHART_SELECTOR = ".js-plotly-plot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def voila_server(notebook: Path, *, extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 log_path: Path | None = None, timeout_s: float = 60.0) -> Iterator[str]:
    """Run ``voila NOTEBOOK`` on 127.0.0.1 at a free port; yield its URL; stop it after."""
    port = free_port()
    voila = Path(sys.executable).with_name("voila")
    cmd = [str(voila), str(notebook), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
           "--show_tracebacks=True", *extra_args]
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"voila exited with code {proc.returncode}; see {log_path}")
            try:  # any HTTP answer means the server is up (GET / would start a kernel)
                with urllib.request.urlopen(url + "api", timeout=2):
                    break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"voila did not answer on {url} within {timeout_s} s") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_path:
            log.close()


@contextlib.contextmanager
def chromium_page(viewport: tuple[int, int] = (1600, 1300)) -> Iterator["object"]:
    """A Playwright page in Debian's chromium (headless)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            browser.close()


def open_dashboard(page, url: str, *, charts: int = 5, timeout_s: float = 90.0) -> dict[str, float]:
    """Load the page; return seconds from navigation start to the first chart painted
    (``first_paint_s``) and to every chart painted (``all_charts_s``)."""
    page.goto(url, wait_until="commit")
    page.wait_for_function(
        f"document.querySelectorAll('{CHART_SELECTOR} .main-svg .trace, {CHART_SELECTOR} .main-svg .table').length > 0",
        timeout=timeout_s * 1000, polling="raf")
    first = page.evaluate("performance.now()") / 1000
    page.wait_for_function(f"document.querySelectorAll('{CHART_SELECTOR}').length >= {charts}",
                           timeout=timeout_s * 1000, polling="raf")
    # every chart drawn (a plotly graph div has ``_fullLayout`` once plotted)
    page.wait_for_function(
        f"Array.from(document.querySelectorAll('{CHART_SELECTOR}')).every(g => g._fullLayout && g.data)",
        timeout=timeout_s * 1000, polling="raf")
    every = page.evaluate("performance.now()") / 1000
    return {"first_paint_s": first, "all_charts_s": every}


INSTALL_LISTENERS = """
() => {
  // release: a capturing pointerup; redraw: a chart's rendered SVG changed (checked each frame);
  // results: the dashboard's status line changed (its data-updates counts results drawn; the
  // kernel sets it after sending a result's charts, so the page has them when it changes)
  const sim = window.__simlib = {released: null, drawn: [], log: [], results: []};
  document.addEventListener('pointerup', () => { sim.released = performance.now(); }, true);
  const signature = () => Array.from(document.querySelectorAll('%s')).map(
      g => Array.from(g.querySelectorAll('.main-svg')).map(s => s.innerHTML).join(''));
  const status = () => document.querySelector('.simlib-status');
  let last = signature(), lastUpdates = status() ? status().dataset.updates : null;
  const tick = () => {
    const now = signature(), t = performance.now();
    now.forEach((s, i) => { if (s !== last[i]) { sim.drawn[i] = t; sim.log.push([i, t]); } });
    last = now;
    const st = status();
    if (st && st.dataset.updates !== lastUpdates) {
      lastUpdates = st.dataset.updates;
      sim.results.push([t, st.classList.contains('simlib-preview')]);
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  return last.length;
}
""" % CHART_SELECTOR


def chart_data(page, index: int) -> list:
    """The traces (x, y, text) of the index-th chart on the page, as plotly.js holds them."""
    return page.evaluate(
        f"""() => Array.from(document.querySelectorAll('{CHART_SELECTOR}')[{index}].data)
               .map(t => ({{name: t.name, meta: t.meta, x: Array.from(t.x || []), y: Array.from(t.y || []),
                            text: t.text}}))""")


def click_tab(page, title: str, settle_ms: float = 1000) -> None:
    """Open a tab of the dashboard's controls and give its widgets ``settle_ms`` to come up
    (the kernel builds a tab's sliders when it is first opened; a drag in the first
    moments after they appear can be lost, as it could be for a very quick human)."""
    page.locator(".lm-TabBar-tab", has_text=title).first.click()
    page.wait_for_timeout(settle_ms)


def drag_slider(page, css_class: str, dx_px: float) -> float:
    """Drag the handle of the slider carrying ``css_class`` by ``dx_px``; release; return
    the in-page time (ms) of the release."""
    handle = page.locator(f".{css_class} .noUi-handle").first
    handle.wait_for(state="visible")
    handle.scroll_into_view_if_needed()  # the verdict banner sits above the controls: mouse coordinates are the viewport's
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.wait_for_timeout(100)
    page.mouse.down()
    steps = 8
    for i in range(1, steps + 1):  # at a hand's pace: ~25 ms a step
        page.mouse.move(x + dx_px * i / steps, y)
        page.wait_for_timeout(25)
    page.mouse.up()
    return page.evaluate("window.__simlib.released")


def wait_redraw(page, released_ms: float, *, must: tuple[int, ...] = (0,), settle_ms: float = 500.0,
                timeout_s: float = 30.0) -> float:
    """Seconds from the release to the last chart redrawn after it.

    Waits until every chart in ``must`` (default: the cost chart, which every slider moves)
    has redrawn after the release and the dashboard's status line reports a final result
    (not its quick preview: ``first_redraw_s``), then until no chart redraws for
    ``settle_ms``; charts whose data did not change keep their SVG and do not count.
    """
    cond = " && ".join(f"(d[{i}] && d[{i}] > {released_ms})" for i in must)
    page.wait_for_function(f"() => {{ const d = window.__simlib.drawn; return {cond}; }}",
                           timeout=timeout_s * 1000, polling="raf")
    page.wait_for_function(f"() => window.__simlib.results.some(([t, preview]) => t > {released_ms} && !preview)",
                           timeout=timeout_s * 1000, polling="raf")
    page.wait_for_function(
        f"""() => {{ const d = window.__simlib.drawn.filter(t => t && t > {released_ms});
                return performance.now() - Math.max(...d) > {settle_ms}; }}""",
        timeout=timeout_s * 1000, polling="raf")
    last = page.evaluate(f"Math.max(...window.__simlib.drawn.filter(t => t && t > {released_ms}))")
    return (last - released_ms) / 1000


def first_redraw_s(page, released_ms: float) -> float:
    """Seconds from the release to the first result drawn after it (the dashboard's preview
    when it draws one, else the final result): the moment its status line changed, which the
    kernel sets after sending that result's charts."""
    times = page.evaluate(f"window.__simlib.results.filter(([t]) => t > {released_ms}).map(([t]) => t)")
    return (min(times) - released_ms) / 1000
