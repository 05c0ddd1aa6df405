"""The one loader of ``data/prices/`` files: header, rows and key columns validated, every problem located."""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simlib.paths import data_dir
from simlib.prices.catalog import _catalog_prices_cached
from simlib.prices.errors import PriceDataError, UnknownModelError, _near
from simlib.prices.rows import (
    BatchDiscountRow,
    CacheRuleRow,
    EmbeddingRow,
    FineTuneRow,
    GpuRow,
    LatencyRow,
    OutputLimitRow,
    RateLimitRow,
    RateLimitTierRow,
    RerankerRow,
    RetrievalLatencyRow,
    VectorStoreRow,
    _Row,
)


_TABLES: dict[str, tuple[str, type[_Row]]] = {
    "fine_tuning": ("fine_tuning.csv", FineTuneRow),
    "embeddings": ("embeddings.csv", EmbeddingRow),
    "vector_stores": ("vector_stores.csv", VectorStoreRow),
    "rerankers": ("rerankers.csv", RerankerRow),
    "cache_rules": ("cache_rules.csv", CacheRuleRow),
    "latency": ("latency.csv", LatencyRow),
    "output_limits": ("output_limits.csv", OutputLimitRow),
    "retrieval_latency": ("retrieval_latency.csv", RetrievalLatencyRow),
    "rate_limits": ("rate_limits.csv", RateLimitRow),
    "rate_limit_tiers": ("rate_limit_tiers.csv", RateLimitTierRow),
    "gpus": ("gpus.csv", GpuRow),
    "batch_discounts": ("batch_discounts.csv", BatchDiscountRow),
}


def prices_dir() -> Path:
    """Folder of the price data files: ``data/prices`` (``simlib/_data/prices`` in a wheel)."""
    return data_dir() / "prices"


def load_table(table: str, path: Path | str | None = None) -> tuple[_Row, ...]:
    """Read and validate one data file; the only place data files are parsed.

    ``table`` is one of: fine_tuning, embeddings, vector_stores, rerankers, cache_rules,
    latency, output_limits, retrieval_latency, rate_limits, rate_limit_tiers, gpus, batch_discounts. ``path`` overrides the file (tests, user catalogs). The
    header must hold exactly the table's columns (any order); empty cells mean "not
    given"; key columns must be unique. Results are cached per path.
    """
    if table not in _TABLES:
        raise UnknownModelError(table, _near(table, list(_TABLES)), kind="price table")
    filename, _ = _TABLES[table]
    resolved = Path(path) if path is not None else prices_dir() / filename
    return _load_table_cached(table, str(resolved))


@functools.lru_cache(maxsize=64)
def _load_table_cached(table: str, path_str: str) -> tuple[_Row, ...]:
    _, row_model = _TABLES[table]
    path = Path(path_str)
    if not path.is_file():
        raise PriceDataError(path, f"missing data file for table '{table}'")
    columns = list(row_model.model_fields)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames
        if not header:
            raise PriceDataError(path, "empty file: the first line must be the header " + ",".join(columns))
        header = [h.strip() for h in header]
        for position, name in enumerate(header):
            if name in header[:position]:
                raise PriceDataError(path, "column appears twice in the header", line=1, column=name)
            if name not in columns:
                raise PriceDataError(path, f"unknown column (expected: {', '.join(columns)})", line=1, column=name)
        for name in columns:
            if name not in header:
                raise PriceDataError(path, "missing column in the header", line=1, column=name)
        reader.fieldnames = header
        rows: list[_Row] = []
        seen: dict[str, int] = {}
        for row_number, raw in enumerate(reader, start=1):
            line = reader.line_num
            if None in raw:
                raise PriceDataError(path, f"{len(raw[None])} more cell(s) than the header has columns",
                                     row=row_number, line=line)
            if any(value is None for value in raw.values()):
                short = next(k for k, v in raw.items() if v is None)
                raise PriceDataError(path, "fewer cells than the header has columns", row=row_number, line=line,
                                     column=short)
            values = {k: v.strip() for k, v in raw.items() if v is not None and v.strip() != ""}
            if not values:
                continue  # blank line
            try:
                row = row_model.model_validate(values)
            except ValidationError as exc:
                error = exc.errors()[0]
                column = str(error["loc"][0]) if error["loc"] else None
                if error["type"] == "missing":
                    message = "empty cell; this column needs a value"
                else:
                    message = error["msg"].removeprefix("Value error, ")
                    if column is not None:
                        message += f" (got {raw.get(column, '')!r})"
                raise PriceDataError(path, message, row=row_number, line=line, column=column) from None
            key = row.key().lower()
            if key in seen:
                raise PriceDataError(path, f"duplicate entry '{row.key()}' (first on row {seen[key]})",
                                     row=row_number, line=line, column=row_model.key_columns[0])
            seen[key] = row_number
            rows.append(row)
    return tuple(rows)


def validate_all(directory: Path | str | None = None) -> dict[str, int]:
    """Load every data file (from ``directory`` or the default) and return table -> row count.

    Raises PriceDataError on the first malformed file.
    """
    base = Path(directory) if directory is not None else prices_dir()
    return {table: len(load_table(table, base / filename)) for table, (filename, _) in _TABLES.items()}


def names(table: str) -> list[str]:
    """The keys of a data table (e.g. names('vector_stores')), in file order."""
    return [row.key() for row in load_table(table)]


def clear_caches() -> None:
    """Forget loaded data files and computed catalog prices (after editing a data file)."""
    _load_table_cached.cache_clear()
    _catalog_prices_cached.cache_clear()


def _find_row(table: str, name: str, kind: str) -> _Row:
    rows = load_table(table)
    wanted = name.strip().lower() if isinstance(name, str) else name
    for row in rows:
        if row.key().lower() == wanted:
            return row
    raise UnknownModelError(name, _near(str(name), [r.key() for r in rows]), kind=kind)


def _provenance(row: _Row) -> dict[str, Any]:
    return {"notes": row.notes, "source": row.source, "as_of": row.as_of.isoformat()}


def row_fields(row: _Row, *columns: str, **derived: Any) -> dict[str, Any]:
    """A lookup's result: the row's ``columns`` as validated, the ``derived`` values, then where the
    figures come from (notes, source, as_of, the date as ISO text). The one copy of row fields
    into the plain dicts the lookups return."""
    return {**{c: getattr(row, c) for c in columns}, **derived, **_provenance(row)}
