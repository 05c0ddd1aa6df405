"""Writing one export file: atomically through simlib.writing, checked first, never clobbering."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from simlib.export.formats import OutputExistsError

if TYPE_CHECKING:  # imported lazily at run time: export is optional

    pass


# --- atomic writes --------------------------------------------------------------------

def _write_atomic(path: Path, write: Callable[[IO[bytes]], None], *, force: bool) -> Path:
    """Write ``path`` atomically through simlib.writing.write_atomic (its folder must exist).

    Without ``force`` an existing target (or one appearing meanwhile) is not clobbered; on
    any failure the temporary file is removed and ``path`` is left as it was.
    """
    from simlib.writing import write_atomic

    return write_atomic(Path(path), write, force=force, exists_error=OutputExistsError)


def destination_error(out, format: str, *, force: bool):
    """Why ``out`` cannot receive an export of ``format`` (an ExportError), or None; checked before any work.

    The rule of every writer (simlib.writing): the tool creates what ``--out`` names and
    nothing above it. A deck is the file ``out``: its folder must exist and be writable,
    and an existing deck needs ``force``. A folder of charts is ``out`` itself: created if
    missing, but its parent must exist and be writable (a typo in the parent is refused,
    not silently created).
    """
    import os

    from simlib.export.formats import DECK_FORMAT, ExportError
    from simlib.writing import destination_problem

    out = Path(out)
    if format != DECK_FORMAT and out.is_dir():
        return None if os.access(out, os.W_OK | os.X_OK) else ExportError(f"{out}: the folder is not writable")
    problem = destination_problem(out, force=force)
    if problem is None:
        return None
    return (OutputExistsError if out.is_file() else ExportError)(str(problem))
