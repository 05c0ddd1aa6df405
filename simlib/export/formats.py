"""Export formats, slide and image sizes, and the errors every export step raises."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily at run time: export is optional

    pass


# --- formats and sizes ----------------------------------------------------------------

IMAGE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
DECK_FORMAT = "pptx"
FORMATS: tuple[str, ...] = (DECK_FORMAT, *IMAGE_FORMATS, "html")

SLIDE_WIDTH_PX, SLIDE_HEIGHT_PX = 1600, 900  # 16:9 image size in pixels at scale 1
# Charts are laid out as on a 13.33 in slide at 96 CSS px per inch (1280 x 720), where the
# theme's 16 px text prints at 12 pt, then drawn LAYOUT_ZOOM times larger: 1600 x 900 pixels.
# Laid out at 1600 x 900 instead, the same text would shrink to 9.6 pt on a full slide.
LAYOUT_ZOOM = 1.25

# A notebook's static copy of a chart (simlib.widgets.static, for viewers that run no
# scripts, e.g. GitHub's): laid out as on a slide (1280 x 720 CSS px, so labels sit where the
# slide's do) and drawn at 0.75 of that, 960 x 540 pixels: about a viewer's column width,
# ~40-80 kB a chart.
NOTEBOOK_IMAGE_LAYOUT_PX = (round(SLIDE_WIDTH_PX / LAYOUT_ZOOM), round(SLIDE_HEIGHT_PX / LAYOUT_ZOOM))
NOTEBOOK_IMAGE_SCALE = 0.75

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
