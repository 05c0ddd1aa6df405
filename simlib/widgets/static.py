"""Static copies of a widget's charts and text, so a notebook shows them where no kernel runs.

A ``FigureWidget`` is drawn by the live widget machinery only: ``jupyter nbconvert --execute
--to html``, nbviewer and GitHub's viewer show nothing for it. A widget with
``StaticFallback`` mixed in displays two outputs:

1. the widget itself (sliders and FigureWidgets, updated in place in a live session);
2. a static copy: every chart as plotly HTML (plotly.js once per notebook, offline; the
   same output plotly's own ``notebook`` renderer writes), every text as HTML, every
   control as "label: value", inside ``<div class="simlib-static-fallback">``.

The widget carries a ``<style>`` that hides ``.simlib-static-fallback``. Only a live widget
view renders that style, so a live session (JupyterLab, Notebook, VS Code) shows the live
widget alone, and a page without a kernel (HTML export, a notebook opened without running
it) shows the static copy. The copy is of the state at display time: what the notebook
draws when it runs top to bottom.

Voila serves only the dashboard's live widgets: under Voila (``in_voila``) no static copy is
written, which keeps its first paint unchanged.

Static images, for viewers that run no scripts: after ``render_everywhere()`` (the story
notebooks' first cell) every chart's output also carries an ``image/png`` of it, drawn by
Debian's Chromium through kaleido (``simlib.export.render.notebook_image``: one browser per
kernel, ~3.5 s to start, ~0.6 s a chart), and the same PNG inside its HTML, in front of the
plotly div (``html_with_image``). GitHub's viewer picks an output's text/html over its
image/png when both are there and strips the scripts, so plotly HTML alone is blank there
(reported 2026-08 in Bigdata-com/bigdata-cookbook#152; not checkable from this machine): the
``<img>`` in the HTML is what it shows. Where scripts run (an nbconvert HTML export), plotly
draws the chart and a CSS rule hides the image once the chart exists
(``.simlib-chart:has(.js-plotly-plot)``), so the page shows one interactive chart. A go.Figure gets it through plotly's renderer list
("plotly_mimetype+notebook+simlib_png"), a widget's static copy chart by chart. Where no
Chromium is found nothing is added and nothing fails; ``SIMLIB_NOTEBOOK_IMAGES=0`` turns the
images off. The dashboard's notebook does not call ``render_everywhere``, so its copy stays
HTML only.
"""

from __future__ import annotations

import html
import os

import ipywidgets as W
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer

STATIC_CLASS = "simlib-static-fallback"


def hide_static_style() -> W.HTML:
    """The widget that hides the static copies wherever widgets are live."""
    return W.HTML(f"<style>.{STATIC_CLASS} {{ display: none; }}</style>",
                  layout=W.Layout(height="0px", margin="0", padding="0"))


def in_voila() -> bool:
    """True inside a kernel started by Voila: it sets ``VOILA_BASE_URL`` for every kernel
    (pre-heated ones too) and the CGI variable ``SERVER_SOFTWARE`` ("voila/0.5.13")."""
    return "VOILA_BASE_URL" in os.environ or os.environ.get("SERVER_SOFTWARE", "").lower().startswith("voila")


EVERYWHERE_RENDERER = "plotly_mimetype+notebook"
IMAGE_RENDERER = "simlib_png"
IMAGES_ENV = "SIMLIB_NOTEBOOK_IMAGES"
_IMAGES_ON = False


def images_on() -> bool:
    """True once ``render_everywhere`` has asked for static images (and ``$SIMLIB_NOTEBOOK_IMAGES``
    is not "0"): charts shown from then on carry an image/png where a browser can draw it."""
    return _IMAGES_ON and os.environ.get(IMAGES_ENV, "1") != "0"


def image_bundle(figure: go.Figure | dict) -> dict[str, str]:
    """``{"image/png": base64}`` of a chart while ``images_on()`` and a browser draws it, else ``{}``."""
    if not images_on():
        return {}
    from simlib.export.render import notebook_image_bundle

    return notebook_image_bundle(figure)


IMAGE_CLASS = "simlib-chart-image"
# hides a chart's image once plotly has drawn the chart beside it (plotly adds js-plotly-plot
# to the chart's div when it draws): only where scripts ran
_SWAP_STYLE = f"<style>.simlib-chart:has(.js-plotly-plot) > img.{IMAGE_CLASS} {{ display: none; }}</style>"


def html_with_image(chart_html: str, image: dict[str, str]) -> str:
    """``chart_html`` (plotly's div and script) with the chart's PNG (``image_bundle``) in front.

    For viewers that render an output's HTML but run no scripts (GitHub's): they show the
    image. Where the scripts run, the chart draws and ``_SWAP_STYLE`` hides the image.
    Without an image, ``chart_html`` unchanged.
    """
    png = image.get("image/png")
    if not png:
        return chart_html
    return (f"<div class='simlib-chart'>{_SWAP_STYLE}<img class='{IMAGE_CLASS}' alt='chart (static image)' "
            f"src='data:image/png;base64,{png}' style='max-width:100%; height:auto'>{chart_html}</div>")


class StaticImageRenderer(MimetypeRenderer):
    """plotly renderer adding a chart's image/png (``image_bundle``) to its output, or nothing.

    plotly merges every renderer named in ``pio.renderers.default`` into one mime bundle, in
    order (a later renderer's key replaces an earlier one's), so a chart's output holds its
    plotly JSON, this image, and its HTML as plotly's ``notebook`` renderer writes it with the
    image in front (``html_with_image``: what GitHub's viewer, which prefers text/html and runs
    no scripts, shows). A viewer picks the richest it can show.
    """

    def __init__(self) -> None:  # plotly's repr and hash read the constructor's arguments: none
        super().__init__()

    def to_mimebundle(self, fig_dict):
        image = image_bundle(fig_dict)
        if not image:
            return {}
        return {**image, "text/html": html_with_image(figure_html(fig_dict), image)}


pio.renderers[IMAGE_RENDERER] = StaticImageRenderer()


def render_everywhere(images: bool = True) -> str:
    """Make every ``go.Figure`` a notebook shows readable without a kernel, and return the
    renderer now in force.

    In a Jupyter kernel plotly's default renderer is "plotly_mimetype" alone: JupyterLab
    draws it, but an HTML export or a viewer has only a JSON blob it cannot show. Adding
    plotly's ``notebook`` renderer puts the chart as HTML beside it (plotly.js embedded once,
    before the first chart; plotly's documented combination for nbconvert). A live
    JupyterLab keeps drawing the mimetype version. With ``images`` (the default) each chart
    also carries an image/png (``StaticImageRenderer``), and so do the charts of widgets'
    static copies displayed afterwards. Called by the story notebooks' first cell; under
    Voila (``in_voila``) nothing changes.
    """
    global _IMAGES_ON
    if in_voila():
        return pio.renderers.default
    if "notebook" not in pio.renderers.default.split("+"):
        pio.renderers.default = EVERYWHERE_RENDERER if pio.renderers.default in ("", "plotly_mimetype") else (
            pio.renderers.default + "+notebook")
    names = pio.renderers.default.split("+")
    _IMAGES_ON = images
    if images and IMAGE_RENDERER not in names:
        pio.renderers.default = "+".join([*names, IMAGE_RENDERER])
    if images_on():
        from simlib.export.render import prewarm_notebook_images

        prewarm_notebook_images()  # the browser starts while the first cells simulate
    elif not images and IMAGE_RENDERER in names:
        pio.renderers.default = "+".join(n for n in names if n != IMAGE_RENDERER)
    return pio.renderers.default


_PLOTLY_JS_SENT = False


def _ensure_plotly_js() -> None:
    """Put plotly.js in the notebook once, the way plotly's ``notebook`` renderer does.

    Where that renderer is among plotly's defaults (a Jupyter kernel's
    "plotly_mimetype+notebook"), plotly sends the script before the first ``go.Figure``
    shown; here we trigger that same once-only activation instead of sending a second copy
    (4.8 MB). ``_to_activate`` and ``_default_renderers`` are plotly's own bookkeeping.
    """
    global _PLOTLY_JS_SENT
    renderers = pio.renderers
    notebook = renderers["notebook"]
    pending = getattr(renderers, "_to_activate", [])
    if any(r is notebook for r in pending):
        renderers._activate_pending_renderers(cls=type(notebook))
        return
    if any(r is notebook for r in getattr(renderers, "_default_renderers", [])):
        return  # activated already by plotly, at the first figure shown
    if not _PLOTLY_JS_SENT:
        notebook.activate()
        _PLOTLY_JS_SENT = True


def figure_html(figure: go.Figure | dict) -> str:
    """One chart as the HTML plotly's ``notebook`` renderer writes (needs ``_ensure_plotly_js``)."""
    return pio.renderers["notebook"].to_mimebundle(go.Figure(figure).to_dict())["text/html"]


def static_parts(widget: W.Widget) -> list[str | go.Figure]:
    """The widget tree as static parts, in order: HTML strings (texts, and each control's
    label and value) and charts (``go.Figure``).

    Boxes are walked in order; hidden parts (``layout.display == "none"``), buttons,
    progress bars and file pickers are left out.
    """
    if isinstance(widget, go.FigureWidget):
        return [go.Figure(widget)]
    if getattr(getattr(widget, "layout", None), "display", None) == "none":
        return []
    if isinstance(widget, W.Tab):
        titles = list(getattr(widget, "titles", ()))
        parts: list[str | go.Figure] = []
        for i, c in enumerate(widget.children):
            parts += [f"<h4>{html.escape(titles[i]) if i < len(titles) else ''}</h4>", *static_parts(c)]
        return parts
    if isinstance(widget, (W.Accordion,)):
        return []  # save / load / export controls: nothing to show without a kernel
    if isinstance(widget, W.Box):
        return [p for c in widget.children for p in static_parts(c)]
    if isinstance(widget, W.HTML):
        return [] if "<style>" in widget.value else [f"<div>{widget.value}</div>"]
    if isinstance(widget, (W.Button, W.FloatProgress, W.IntProgress, W.FileUpload)):
        return []
    if isinstance(widget, W.ToggleButtons):
        return [f"<div><b>{html.escape(str(widget.label))}</b></div>"]
    if isinstance(widget, W.ValueWidget):
        label = getattr(widget, "description", "") or ""
        return [f"<div style='color:#333'>{html.escape(label)}{': ' if label else ''}"
                f"<b>{html.escape(str(widget.value))}</b></div>"]
    return []


def static_html(widget: W.Widget) -> str:
    """The widget tree as one static HTML string: charts as plotly HTML, texts, controls."""
    return "".join(p if isinstance(p, str) else figure_html(p) for p in static_parts(widget))


def static_outputs(widget: W.Widget) -> list[dict[str, str]]:
    """The static copy as display outputs (mime bundles), each wrapped in the hidden class:
    runs of text merged into one output, and each chart its own output holding its plotly
    HTML and, where ``image_bundle`` draws one, its image/png (also in front of the HTML,
    ``html_with_image``)."""
    outputs: list[dict[str, str]] = []
    texts: list[str] = []

    def wrap(body: str) -> str:
        return f"<div class='{STATIC_CLASS}'>{body}</div>"

    for part in static_parts(widget):
        if isinstance(part, str):
            texts.append(part)
            continue
        if texts:
            outputs.append({"text/html": wrap("".join(texts)), "text/plain": ""})
            texts = []
        image = image_bundle(part)
        outputs.append({"text/html": wrap(html_with_image(figure_html(part), image)), "text/plain": "", **image})
    if texts:
        outputs.append({"text/html": wrap("".join(texts)), "text/plain": ""})
    return outputs


class StaticFallback:
    """Mixed into a ``W.Box`` subclass: displays the live widget, then its static copy.

    The class must put ``hide_static_style()`` among its children.
    """

    def static_copy(self) -> str:
        """The HTML of the static copy (charts, texts, controls) as the widget stands."""
        return f"<div class='{STATIC_CLASS}'>{static_html(self)}</div>"  # type: ignore[arg-type]

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)  # type: ignore[attr-defined]
        if in_voila():
            return
        _ensure_plotly_js()
        for bundle in static_outputs(self):  # type: ignore[arg-type]
            display(bundle, raw=True)
