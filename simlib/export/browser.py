"""Finding the Chromium that kaleido drives (Debian ``chromium`` on PATH, or ``BROWSER_PATH``); never downloaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from simlib.export.formats import BrowserNotFoundError

if TYPE_CHECKING:  # imported lazily at run time: export is optional

    pass


# --- finding the browser --------------------------------------------------------------

BROWSER_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

INSTALL_HINT = (
    "Install Chromium (Debian/Ubuntu: 'sudo apt-get install chromium'), or set BROWSER_PATH "
    "to a Chrome or Chromium executable. HTML export (format 'html') needs no browser."
)


def find_browser() -> str:
    """The Chromium kaleido will drive: ``BROWSER_PATH`` if set, else the first of
    :data:`BROWSER_NAMES` on ``PATH``.

    Only these two places are looked at (the same order as choreographer's own lookup,
    without its downloaded copy), and nothing is ever downloaded.

    Raises :class:`BrowserNotFoundError` with installation advice when there is none.
    """
    explicit = os.environ.get("BROWSER_PATH")
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise BrowserNotFoundError(
            f"BROWSER_PATH={explicit!r} is not an executable file, so PNG, SVG and PDF "
            f"export cannot start a browser. {INSTALL_HINT}"
        )
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFoundError(
        "PNG, SVG and PDF export draws charts with Chromium, and none was found "
        f"(BROWSER_PATH is not set and none of {', '.join(BROWSER_NAMES)} is on PATH). {INSTALL_HINT}"
    )
