"""A plotly ``FigureWidget`` whose 5 MB JavaScript bundle is sent to the page once.

plotly's ``FigureWidget`` is an anywidget: every instance carries the whole plotly.js
bundle (about 5 MB) as its ``_esm`` and the page imports it once per widget. A dashboard
with five charts therefore ships 25 MB over the kernel's websocket and evaluates plotly.js
five times; in Voila that made the first paint about 8 s slower than a page with one
chart (measured here: 17 s against 9-12 s with the machine under load).

``SharedFigureWidget`` is a ``FigureWidget`` with a small loader as its ``_esm``. The
bundle itself travels once, in a hidden ``PlotlyBundle`` widget that every chart points to
by model id; the first chart to initialise imports it, every other chart awaits the same
module, and each chart then runs plotly's own widget code unchanged (plotly's default
export is a factory, so charts keep separate state). The module is keyed by a hash of the
bundle, so a different plotly version in a restarted kernel loads its own copy.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import ipywidgets as W
import plotly.graph_objects as go
import traitlets


@lru_cache(maxsize=1)
def plotly_bundle_source() -> str:
    """The JavaScript of plotly's FigureWidget (what each instance would otherwise carry)."""
    esm = go.FigureWidget._esm
    if hasattr(esm, "read_text"):
        return esm.read_text(encoding="utf-8")
    return str(go.FigureWidget()._esm)


def _loader_esm(bundle_key: str) -> str:
    return f"""
const KEY = "__simlibPlotlyBundle_{bundle_key}";
const shared = globalThis[KEY] ??= (() => {{
  let resolve, reject;
  const promise = new Promise((res, rej) => {{ resolve = res; reject = rej; }});
  return {{ promise, resolve, reject, started: false }};
}})();

async function plotlyWidgetModule(model) {{
  if (!shared.started) {{
    shared.started = true;
    try {{
      const id = model.get("_bundle_id").replace("IPY_MODEL_", "");
      const holder = await model.widget_manager.get_model(id);
      const url = URL.createObjectURL(new Blob([holder.get("source")], {{ type: "text/javascript" }}));
      try {{ shared.resolve(await import(/* webpackIgnore: true */ url)); }}
      finally {{ URL.revokeObjectURL(url); }}
    }} catch (err) {{ shared.started = false; shared.reject(err); throw err; }}
  }}
  return shared.promise;
}}

// The page's next idle moment (after the tasks already queued: other widgets' set-up).
const idle = () => new Promise((res) =>
  globalThis.requestIdleCallback ? requestIdleCallback(() => res(), {{ timeout: 1000 }}) : setTimeout(res, 50));

export default () => {{
  let inner, initCtx, innerReady;
  // Load plotly and run its own model set-up once, after the page's queued work.
  const ensureInner = (model) => innerReady ??= (async () => {{
    await idle();
    const mod = await plotlyWidgetModule(model);
    inner = typeof mod.default === "function" ? await mod.default() : mod.default;
    if (inner.initialize) await inner.initialize(initCtx);
  }})();
  return {{
    // Returns at once. anywidget (0.10+) rejects a model's ready promise 2 s after the model
    // is created if its initialize has not finished by then, and every later comm message of
    // that model (every chart update) awaits that promise and is dropped for good. Importing
    // plotly's 5 MB bundle blocks the page's main thread for seconds on a cold or loaded
    // browser (7 s measured here), so awaiting it here lost every update of most charts.
    initialize(ctx) {{
      initCtx = ctx;
      ensureInner(ctx.model).catch((err) => console.error("[simlib] plotly widget failed to load", err));
    }},
    async render(ctx) {{
      await ensureInner(ctx.model);
      return inner.render(ctx);
    }},
  }};
}};
"""


class PlotlyBundle(W.Widget):
    """Holds plotly's widget JavaScript once per kernel; never displayed.

    A plain ipywidgets model (``@jupyter-widgets/base`` WidgetModel), not an anywidget: it
    has no code to load, so it is ready as soon as the page receives it, and it cannot fall
    foul of anywidget's initialization timeout while plotly's bundle is compiling."""

    source = traitlets.Unicode("").tag(sync=True)


_BUNDLE: PlotlyBundle | None = None


def shared_bundle() -> PlotlyBundle:
    """The kernel's one ``PlotlyBundle`` (created on first use, kept open)."""
    global _BUNDLE
    if _BUNDLE is None or _BUNDLE.comm is None:
        _BUNDLE = PlotlyBundle(source=plotly_bundle_source())
    return _BUNDLE


class SharedFigureWidget(go.FigureWidget):
    """A ``go.FigureWidget`` that loads plotly.js from the shared ``PlotlyBundle``."""

    _esm = _loader_esm(hashlib.sha1(plotly_bundle_source().encode("utf-8")).hexdigest()[:12])
    _bundle_id = traitlets.Unicode("").tag(sync=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._bundle_id = "IPY_MODEL_" + shared_bundle().model_id
