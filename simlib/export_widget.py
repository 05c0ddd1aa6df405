"""The dashboard's "Export" control: a format picker, an output folder and a button.

    from simlib.export_widget import export_box
    box = export_box(lambda: (result, figures))   # or lambda: result
    display(box)

``export_box`` takes a callable returning what is on screen now: a ``RunResult``, or a
``(RunResult, {key: figure})`` pair when the dashboard has its own figures. Each click
writes the current charts with :func:`simlib.export.export` and lists the files written
(or says why it could not). A deck goes to ``FOLDER/SCENARIO.pptx``; per-chart formats go
to ``FOLDER/SCENARIO/KEY.FORMAT``. Existing files are kept unless "Replace existing files"
is ticked. FOLDER is what the box names, so a click creates it if it is missing (its parent
must exist, as for every writer: ``simlib.export.destination_error``).
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import ipywidgets as widgets

from simlib import export as _export

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from simlib.results import RunResult

    Current = Callable[[], Union["RunResult", tuple["RunResult", Mapping[str, "go.Figure"]]]]

FORMAT_CHOICES: tuple[tuple[str, str], ...] = (
    ("PowerPoint deck (.pptx)", "pptx"),
    ("PNG images (1600x900)", "png"),
    ("SVG images", "svg"),
    ("PDF files", "pdf"),
    ("Interactive HTML (offline)", "html"),
)


def output_path(result: RunResult, folder: str | os.PathLike[str], format: str) -> Path:
    """Where a click writes: ``FOLDER/SCENARIO.pptx`` for a deck, else the folder
    ``FOLDER/SCENARIO/`` for one file per chart."""
    name = _export._slug(result.scenario.name)
    folder = Path(folder).expanduser()
    return folder / f"{name}.pptx" if format == _export.DECK_FORMAT else folder / name


class ExportBox(widgets.VBox):
    """The export controls (build with :func:`export_box`)."""

    def __init__(self, current: Current, *, folder: str | os.PathLike[str] = "exports", format: str = "pptx") -> None:
        self._current = current
        self.format_picker = widgets.Dropdown(options=list(FORMAT_CHOICES), value=format, description="Format",
                                              layout=widgets.Layout(width="320px"))
        self.folder = widgets.Text(value=str(folder), description="Folder", placeholder="output folder",
                                   layout=widgets.Layout(width="360px"))
        self.force = widgets.Checkbox(value=False, description="Replace existing files", indent=False,
                                      layout=widgets.Layout(width="190px"))
        self.button = widgets.Button(description="Export", icon="download", button_style="primary",
                                     tooltip="Write the charts on screen in the chosen format")
        self.status = widgets.HTML(value="")
        for w, name in ((self.format_picker, "format"), (self.folder, "folder"), (self.button, "button"), (self.status, "status")):
            w.add_class(f"simlib-export-{name}")  # the browser test finds them by these
        self.written: list[Path] = []
        self.button.on_click(lambda _button: self.export())
        row = widgets.HBox([self.format_picker, self.folder, self.force, self.button],
                           layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        super().__init__([row, self.status])

    def export(self) -> list[Path]:
        """Write the current charts; show and return the paths (empty on failure)."""
        self.button.disabled = True
        self.written = []
        fmt = self.format_picker.value
        self.status.value = f"<i>Exporting {html.escape(fmt)}...</i>"
        try:
            result, figures = _unpack(self._current())
            folder = Path(self.folder.value or ".").expanduser()
            problem = None if folder.is_dir() else _export.destination_error(folder, "html", force=False)
            if problem is not None:  # "html": a folder of charts, created if missing below an existing parent
                raise problem
            folder.mkdir(exist_ok=True)
            out = output_path(result, folder, fmt)
            self.written = _export.export(result, out, fmt, figures=figures, force=self.force.value)
        except _export.OutputExistsError as exc:
            text = str(exc).split("; not overwriting")[0]
            self.status.value = _message(f"{text}: kept. Tick 'Replace existing files' to replace.", error=True)
        except _export.ExportError as exc:
            self.status.value = _message(str(exc), error=True)
        except Exception as exc:  # noqa: BLE001 - a dashboard shows the problem instead of a traceback
            self.status.value = _message(f"export failed: {type(exc).__name__}: {exc}", error=True)
        else:
            where = out if fmt == _export.DECK_FORMAT else f"{out}{os.sep}"
            items = "".join(f"<li><code>{html.escape(str(p.resolve()))}</code></li>" for p in self.written)
            self.status.value = (f"<span style='color:#1a7f37'>Wrote {len(self.written)} file(s) to "
                                 f"<code>{html.escape(str(where))}</code>:</span><ul style='margin:2px 0'>{items}</ul>")
        finally:
            self.button.disabled = False
        return self.written


def _unpack(current: Any) -> tuple[RunResult, Mapping[str, go.Figure] | None]:
    if isinstance(current, tuple):
        result, figures = current
        return result, figures
    return current, None


def _message(text: str, *, error: bool) -> str:
    colour = "#b42318" if error else "#222222"
    return f"<span style='color:{colour}; white-space:pre-wrap'>{html.escape(text)}</span>"


def export_box(current: Current, *, folder: str | os.PathLike[str] = "exports", format: str = "pptx") -> ExportBox:
    """An "Export" button with a format picker and an output folder, for the dashboard.

    ``current()`` returns the result on screen, or ``(result, figures)``; it is called on
    each click, so the export always matches what the dashboard shows.
    """
    return ExportBox(current, folder=folder, format=format)
