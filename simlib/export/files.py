"""Writing one export file: atomically through simlib.writing, creating its folder, never clobbering."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from simlib.export.formats import OutputExistsError

if TYPE_CHECKING:  # imported lazily at run time: export is optional

    pass


# --- atomic writes --------------------------------------------------------------------

def _write_atomic(path: Path, write: Callable[[IO[bytes]], None], *, force: bool) -> Path:
    """Write ``path`` atomically through simlib.writing.write_atomic (creating its folder).

    Without ``force`` an existing target (or one appearing meanwhile) is not clobbered; on
    any failure the temporary file is removed and ``path`` is left as it was.
    """
    from simlib.writing import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, write, force=force, exists_error=OutputExistsError)
