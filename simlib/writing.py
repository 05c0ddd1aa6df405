"""The one way the tool writes a file: checked first, written atomically, never clobbered.

Every file simlib writes (sweep tables, traces, chart exports, the deck) goes through
:func:`write_atomic`:

1. a temporary file is created beside the target with ``os.open(..., O_CREAT | O_EXCL,
   0o666)``, so the user's umask applies (without changing the process umask, which
   is not thread-safe) and no existing file is ever opened;
2. the content is written, flushed and ``fsync``-ed;
3. the temporary file is renamed over the target (``os.replace``, atomic on POSIX), or,
   without ``force``, hard-linked to it (which fails if the target appeared meanwhile).

A reader sees the old file or the whole new one, never a truncated one (a ``kill -9``
can at worst leave a hidden ``.NAME.*.tmp`` beside the target, never a half target).
On any error or interrupt the temporary file is removed.

:func:`destination_problem` checks a target before the work that produces it, so a bad
``--out`` fails in a second, not after an hour of simulation.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import IO, Callable

from simlib.errors import Problem, ScenarioError


class OutputExistsError(ScenarioError, FileExistsError):
    """The target exists and ``force`` was not given (exit 2 in the CLI)."""


def _exists_message(path: Path) -> str:
    return "already exists; not overwriting it (use --force, or force=True, to replace it)"


def destination_problem(path: str | Path, *, force: bool) -> Problem | None:
    """Why ``path`` cannot be written (missing or unwritable folder, a folder, exists), or None."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return Problem(str(path), "is a folder; give a file name")
    if not parent.exists():
        return Problem(str(path), f"the folder {str(parent)!r} does not exist")
    if not parent.is_dir():
        return Problem(str(path), f"{str(parent)!r} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        return Problem(str(path), f"the folder {str(parent)!r} is not writable")
    if path.exists() and not force:
        return Problem(str(path), _exists_message(path))
    return None


def check_destination(path: str | Path, *, force: bool) -> None:
    """Raise ScenarioError (OutputExistsError if it exists) unless ``path`` can be written."""
    problem = destination_problem(path, force=force)
    if problem is not None:
        cls = OutputExistsError if problem.message == _exists_message(Path(path)) else ScenarioError
        raise cls([problem])


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], None], *, force: bool,
                 exists_error: Callable[[str], BaseException] | None = None) -> Path:
    """Write ``path`` through ``write(binary_file)`` atomically (see the module docstring).

    ``exists_error(message)`` builds the error raised when the target exists and ``force``
    is not given (default :class:`OutputExistsError`).
    """
    path = Path(path)

    def exists() -> BaseException:
        message = f"{path}: {_exists_message(path)}"
        return exists_error(message) if exists_error else OutputExistsError([Problem(str(path), _exists_message(path))])

    if not force and path.exists():
        raise exists()
    parent = path.parent if str(path.parent) else Path(".")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies to 0o666
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 random collisions
        raise OSError(f"cannot create a temporary file beside {path}")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise exists() from None
            except OSError:  # no hard links on this file system
                if path.exists():
                    raise exists() from None
                os.replace(tmp, path)
        _fsync_dir(parent)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
