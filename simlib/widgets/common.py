"""Pieces every notebook widget shares: scenario controls, a result cache, a background
runner that never freezes the page, and in-place figure updates.

- ``Control`` describes one slider (or dropdown, or checkbox) bound to a scenario field by
  its dotted path, with the factor between the number shown (minutes, M tokens) and the
  scenario's unit (seconds, tokens). ``make_widget`` builds it with
  ``continuous_update=False``: a slider fires once, on release, not on every pixel.
- ``ResultCache`` keeps recent ``RunResult`` objects keyed by the scenario's JSON, so an
  identical scenario (back to a previous slider position, or a preset picked again) is
  never simulated twice.
- ``BackgroundRunner`` simulates in a worker thread, reports progress, and drops a run
  as soon as a newer scenario is asked for (the newest request always wins).
- ``update_in_place`` copies a freshly built figure into a ``FigureWidget`` in one
  ``batch_update``: the browser gets one message and redraws once.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import ipywidgets as W
import plotly.graph_objects as go

from simlib import formats
from simlib.engine.run import run
from simlib.results import RunResult
from simlib.scenario import Scenario


# --- controls -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Control:
    """One widget bound to one scenario field.

    ``kind``: "int", "float", "log" (log-scaled float slider), "log_int" (log slider, value
    rounded), "choice" (dropdown of ``options``) or "bool" (checkbox). For sliders the shown
    value times ``scale`` is the scenario's value (minutes x 60 = seconds).
    """

    path: str
    label: str
    kind: str = "float"
    min: float = 0.0
    max: float = 1.0
    step: float = 1.0
    scale: float = 1.0
    options: tuple[Any, ...] = ()
    readout_format: str | None = None

    def to_scenario(self, shown: Any) -> Any:
        if self.kind in ("choice", "bool"):
            return shown
        value = shown * self.scale
        return int(round(value)) if self.kind in ("int", "log_int") else float(value)

    def to_shown(self, value: Any) -> Any:
        if self.kind in ("choice", "bool"):
            return value
        return value / self.scale


def scenario_value(scenario: Scenario, path: str) -> Any:
    node: Any = scenario
    for part in path.split("."):
        node = getattr(node, part)
    return node


def make_widget(control: Control, value: Any, *, width: str = "440px") -> W.Widget:
    """The ipywidget for a control, set to ``value`` (in the scenario's unit).

    Slider ranges grow to include the value, so a preset with an unusual number still
    shows it. Sliders and text fire on release (``continuous_update=False``).
    """
    style = {"description_width": "200px"}
    layout = W.Layout(width=width)
    common = dict(description=control.label, style=style, layout=layout, continuous_update=False)
    shown = control.to_shown(value)
    if control.kind == "choice":
        return W.Dropdown(options=list(control.options), value=value, description=control.label,
                          style=style, layout=layout)
    if control.kind == "bool":
        return W.Checkbox(value=bool(value), description=control.label, style=style, layout=layout, indent=True)
    if control.kind in ("log", "log_int"):
        import math

        lo, hi = control.min, control.max  # exponents of 10
        if shown > 0:
            lo, hi = min(lo, math.floor(math.log10(shown))), max(hi, math.ceil(math.log10(shown)))
        return W.FloatLogSlider(value=max(shown, 10**lo), base=10, min=lo, max=hi, step=control.step,
                                readout_format=control.readout_format or ".3g", **common)
    if control.kind == "int":
        return W.IntSlider(value=int(round(shown)), min=int(min(control.min, shown)), max=int(max(control.max, shown)),
                           step=int(control.step), **common)
    return W.FloatSlider(value=shown, min=min(control.min, shown), max=max(control.max, shown), step=control.step,
                         readout_format=control.readout_format or ".3g", **common)


def readout_text(control: Control, shown: Any) -> str:
    """A slider's readout in ``simlib.formats``: '20k', '2.5M', '0.25', '12.5' (never '2.00e+4');
    the unit is in the control's label."""
    if control.kind in ("choice", "bool"):
        return str(shown)
    return formats.count(float(shown))


def with_readout(control: Control, widget: W.Widget) -> W.Widget:
    """The slider with a readout beside it written by ``readout_text`` (ipywidgets' own readout
    takes a d3 format string: '.3g' printed 2e+4); choices and checkboxes come back as they are."""
    if control.kind in ("choice", "bool"):
        return widget
    widget.readout = False
    label = W.Label(readout_text(control, widget.value), layout=W.Layout(width="70px"))
    label.add_class("simlib-readout")
    widget.observe(lambda change: setattr(label, "value", readout_text(control, change["new"])), names="value")
    return W.HBox([widget, label])


def set_widget_value(control: Control, widget: W.Widget, value: Any) -> None:
    """Show a scenario value on an existing widget, widening a slider's range if needed."""
    import math

    shown = control.to_shown(value)
    if control.kind in ("log", "log_int"):
        if shown > 0:
            widget.min = min(widget.min, math.floor(math.log10(shown)))
            widget.max = max(widget.max, math.ceil(math.log10(shown)))
        widget.value = max(shown, 10**widget.min)
    elif control.kind in ("int", "float"):
        if shown < widget.min:
            widget.min = shown
        if shown > widget.max:
            widget.max = shown
        widget.value = int(round(shown)) if control.kind == "int" else shown
    else:
        widget.value = value


# --- result cache ---------------------------------------------------------------------------

def scenario_key(scenario: Scenario) -> str:
    """A scenario's identity: its full JSON with sorted keys (equal scenarios, equal keys)."""
    return json.dumps(scenario.to_dict(), sort_keys=True)


class ResultCache:
    """The last ``max_entries`` results, keyed by ``scenario_key``; ``runs`` counts simulations."""

    def __init__(self, max_entries: int = 64, runner: Callable[..., RunResult] = run):
        self.max_entries = max_entries
        self.runner = runner
        self.runs = 0
        self._entries: OrderedDict[str, RunResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, scenario: Scenario) -> RunResult | None:
        key = scenario_key(scenario)
        with self._lock:
            result = self._entries.get(key)
            if result is not None:
                self._entries.move_to_end(key)
            return result

    def put(self, scenario: Scenario, result: RunResult) -> None:
        with self._lock:
            self._entries[scenario_key(scenario)] = result
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def run(self, scenario: Scenario, progress: Callable[[int, int], None] | None = None) -> RunResult:
        """The cached result, or a new simulation (then cached)."""
        cached = self.get(scenario)
        if cached is not None:
            return cached
        result = self.runner(scenario, progress=progress)
        result.summary()  # computed once here, off the page's thread
        self.runs += 1
        self.put(scenario, result)
        return result

    def __len__(self) -> int:
        return len(self._entries)


class Superseded(Exception):
    """Raised inside a run's progress callback when a newer scenario was asked for."""


@dataclass
class RunTiming:
    """How long the last update took, for the status line, tests and benchmarks."""

    cached: bool = False
    run_s: float = 0.0
    draw_s: float = 0.0
    finished_at: float = field(default_factory=time.perf_counter)

    @property
    def total_s(self) -> float:
        return self.run_s + self.draw_s


def _kernel_scheduler() -> Callable[..., None] | None:
    """``add_callback`` of the running IPython kernel's IO loop (thread-safe, and it wakes
    the loop: ``asyncio``'s ``call_soon_threadsafe`` on the cell's loop was seen to wait
    for the next message from the page), or None outside a kernel."""
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        io_loop = getattr(kernel, "io_loop", None)
    except ImportError:
        return None
    return io_loop.add_callback if io_loop is not None else None


class BackgroundRunner:
    """Simulate requested scenarios one at a time in a worker thread; the newest wins.

    ``submit(scenario)`` returns at once. The worker runs the latest request (through the
    cache), calling ``on_progress(done_share)`` as it goes and ``on_result(result, timing)``
    when done; a request made during a run stops that run at its next progress report.
    ``on_error(exc)`` receives anything the run raised. With ``background=False`` the run
    happens inside ``submit`` (tests, scripts).

    The callbacks run on the kernel's own thread (its IO loop), not on the worker: widget messages sent from another thread race with the
    kernel's handling of the page's messages, and ipywidgets then merges a FigureWidget's
    update away (seen under load: the status said "drawn", the charts never changed).
    """

    def __init__(self, cache: ResultCache, on_result: Callable[[RunResult, RunTiming], None],
                 on_progress: Callable[[float], None] | None = None,
                 on_error: Callable[[BaseException], None] | None = None, *, background: bool = True):
        self.cache = cache
        self.on_result = on_result
        self.on_progress = on_progress or (lambda share: None)
        self.on_error = on_error or (lambda exc: None)
        self.background = background
        self._schedule = _kernel_scheduler()
        self._pending: tuple[Scenario, ...] | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    def submit(self, scenario: Scenario, *then: Scenario) -> None:
        """Run ``scenario``, then each of ``then`` in turn (each result delivered as it comes:
        a quick preview first, the full run after it); a later ``submit`` replaces them all."""
        with self._lock:
            self._pending = (scenario, *then)
            self._generation += 1
            self._idle.clear()
            if not self.background:
                pass
            elif self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._work, name="simlib-runner", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # no threads on this platform (Pyodide): run inline from now on
                    self.background = False
                else:
                    self._thread = thread
        if not self.background:
            self._work()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until every submitted scenario is drawn (for tests and benchmarks)."""
        return self._idle.wait(timeout_s)

    def _work(self) -> None:
        while True:
            with self._lock:
                queue, generation = self._pending, self._generation
                self._pending = None
                if not queue:
                    self._idle.set()
                    return
            try:
                self._run_one(queue[0], generation)
            except Superseded:
                continue
            except BaseException as exc:  # noqa: BLE001 - shown to the user, the page stays alive
                self._call(self.on_error, exc)
                continue
            with self._lock:  # the rest of the sequence, unless a newer request came meanwhile
                if len(queue) > 1 and self._generation == generation and self._pending is None:
                    self._pending = queue[1:]

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        """Run a callback on the kernel's thread (or here, without an event loop)."""
        if self.background and self._schedule is not None and threading.current_thread() is not threading.main_thread():
            self._schedule(fn, *args)
        else:
            fn(*args)

    def _run_one(self, scenario: Scenario, generation: int) -> None:
        def progress(done: int, total: int) -> None:
            if self._generation != generation:
                raise Superseded
            self._call(self.on_progress, done / max(total, 1))

        t0 = time.perf_counter()
        cached = self.cache.get(scenario) is not None
        result = self.cache.run(scenario, progress=progress)
        t1 = time.perf_counter()
        if self._generation != generation:
            raise Superseded
        timing = RunTiming(cached=cached, run_s=t1 - t0)
        self._call(self._deliver, result, timing, generation)

    def _deliver(self, result: RunResult, timing: RunTiming, generation: int) -> None:
        if self._generation == generation:  # else a newer request is on its way
            self.on_result(result, timing)


# --- figures ----------------------------------------------------------------------------------

_KEEP_LAYOUT = ("template", "width", "height", "autosize")


def update_in_place(widget: go.FigureWidget, figure: go.Figure) -> None:
    """Give ``widget`` the traces and layout of ``figure`` in one ``batch_update``.

    Traces are updated one by one when the two figures have the same trace types in the
    same order (the chart functions keep them so); otherwise they are replaced. The
    widget's own size and the (unchanging) template are kept, so the message stays small.
    """
    new_data = figure.data
    same_shape = len(widget.data) == len(new_data) and all(
        a.type == b.type for a, b in zip(widget.data, new_data)
    )
    if not same_shape:
        with widget.batch_update():
            widget.data = ()
        widget.add_traces(list(new_data))
    layout = figure.layout.to_plotly_json()
    for key in _KEEP_LAYOUT:
        layout.pop(key, None)
    with widget.batch_update():
        if same_shape:
            for old, new in zip(widget.data, new_data):
                old.update(new.to_plotly_json(), overwrite=True)
        widget.layout.update(layout, overwrite=True)


def figure_widget(figure: go.Figure, *, height_px: int) -> go.FigureWidget:
    """A FigureWidget drawn from ``figure``'s own data (its first paint needs no update).

    A ``SharedFigureWidget``: plotly.js reaches the page once for all charts, not once
    per chart (see ``simlib.widgets.figure``). (Not ``_validate=False``: a widget built
    that way never sends later updates to the page.)

    The height goes into the figure before the widget is built: set afterwards, it reaches
    a page that has not drawn the chart yet and is lost (plotly then draws 360 px).
    ``SIMLIB_SHARED_PLOTLY=0`` falls back to plain ``go.FigureWidget``.
    """
    import os

    figure = go.Figure(figure).update_layout(height=height_px, autosize=True)
    if os.environ.get("SIMLIB_SHARED_PLOTLY", "1") == "0":
        return go.FigureWidget(figure)
    from simlib.widgets.figure import SharedFigureWidget

    return SharedFigureWidget(figure)


class RunnerStatus:
    """Progress bar and status line of a widget whose runs go through a BackgroundRunner.

    Mixed into the dashboard and the notebook explorers, which set ``progress``,
    ``status``, ``cache`` and ``runner`` and pass ``_on_progress`` / ``_on_error`` to the runner.
    """

    progress: W.FloatProgress
    status: W.HTML
    cache: Any
    runner: "BackgroundRunner"

    def show_error(self, message: str) -> None:
        self.status.value = f"<span style='color:#B00020'>{html.escape(message)}</span>"

    def submit(self, scenario: Scenario, busy_text: str, *then: Scenario) -> None:
        """Run ``scenario`` (then each of ``then``) in the background (at once if cached),
        saying so while it runs."""
        if self.cache.get(scenario) is None:
            self.progress.value = 0.0
            self.status.value = busy_text
        self.runner.submit(scenario, *then)

    def wait(self, timeout_s: float | None = 60.0) -> bool:
        """Block until the charts show the last requested scenario (tests, benchmarks)."""
        return self.runner.wait(timeout_s)

    def _on_progress(self, share: float) -> None:
        self.progress.value = share

    def _on_error(self, exc: BaseException) -> None:
        self.progress.value = 0.0
        self.show_error(f"Run failed: {exc}")
