"""The catalog's errors: an unknown name (with its near matches) and a data file that cannot be used."""

from __future__ import annotations

from pathlib import Path
from typing import Any


from simlib.loading import close_names


# --- errors ---------------------------------------------------------------------------

class UnknownModelError(ValueError):
    """A name that is not in the catalog or in a data file.

    Attributes: ``name`` (as given), ``near_matches`` (up to five similar known names, best
    first) and ``kind`` ('model', 'vector store', ...). ``str()`` reads
    ``unknown model "x"; did you mean: a, b, c?``.
    """

    def __init__(self, name: str, near_matches: list[str], kind: str = "model") -> None:
        self.name = name
        self.near_matches = list(near_matches)
        self.kind = kind
        if self.near_matches:
            message = f'unknown {kind} "{name}"; did you mean: {", ".join(self.near_matches)}?'
        else:
            message = f'unknown {kind} "{name}"; no similar names (see simlib.prices.search_models / names)'
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.near_matches, self.kind))


class PriceDataError(ValueError):
    """A data file in ``data/prices/`` that cannot be used: names the file, row and column.

    ``row`` is the data row number (1 = first row under the header) and ``line`` the line
    in the file; either is None for a problem with the file as a whole (e.g. its header).
    """

    def __init__(self, path: Path | str, message: str, *, row: int | None = None,
                 line: int | None = None, column: str | None = None) -> None:
        self.path = Path(path)
        self.row = row
        self.line = line
        self.column = column
        self.message = message
        where = str(self.path)
        if row is not None:
            where += f", row {row}" + (f" (line {line})" if line is not None else "")
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_price_data_error, (str(self.path), self.message, self.row, self.line, self.column))


def _rebuild_price_data_error(path: str, message: str, row: int | None, line: int | None,
                              column: str | None) -> PriceDataError:
    return PriceDataError(path, message, row=row, line=line, column=column)


def _near(name: str, candidates: list[str], n: int = 5) -> list[str]:
    """Up to ``n`` candidates similar to ``name`` (difflib ratio >= 0.6, case-insensitive).

    Also compares the part after the first '/', so 'claude-sonnet-4-5' finds
    'anthropic/claude-sonnet-4-5' and 'antropic/gpt-4o' finds 'openai/gpt-4o'.
    """
    lowered = {c.lower(): c for c in candidates}
    key = name.lower().strip()
    found = close_names(key, lowered, n=n, cutoff=0.6)
    tail = key.split("/", 1)[-1]
    by_tail: dict[str, list[str]] = {}
    for low in lowered:
        by_tail.setdefault(low.split("/", 1)[-1], []).append(low)
    for t in close_names(tail, by_tail, n=n, cutoff=0.75):
        found.extend(by_tail[t])
    out: list[str] = []
    for low in found:
        if lowered[low] not in out:
            out.append(lowered[low])
    return out[:n]
