"""Bounded loading of user files: the one reader for scenarios, sweep files and traces.

Nothing a user points the tool at may hang it, exhaust memory or raise a traceback:

- only regular, readable files are read (a FIFO would block forever, ``/dev/zero`` never
  ends, ``/proc/1/environ`` is unreadable): each is refused with a located message;
- a scenario or sweep file is at most ``MAX_MAPPING_BYTES``; a trace at most
  ``MAX_TRACE_BYTES`` (traces are streamed, so the bound is on time, not memory);
- YAML is composed first and its node graph checked before any Python object is built:
  at most ``MAX_NODES`` nodes once aliases are expanded (an alias bomb of nine nested
  aliases is 10^9 nodes), nesting at most ``MAX_DEPTH`` levels, and no duplicate key
  in a mapping (YAML and JSON both silently keep the last value otherwise);
- JSON is parsed with the same duplicate-key and depth rules; a number too long to
  convert (Python refuses integers over 4,300 digits) is a located error.

``did_you_mean`` is the one "did you mean" helper used by every name lookup (``close_names`` its
matching, which the price catalog uses with its own message).
"""

from __future__ import annotations

import difflib
import json
import os
import stat
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from simlib.errors import Problem, ScenarioError

MAX_MAPPING_BYTES = 8 * 1024 * 1024  # scenario and sweep files: a real one is a few kB
MAX_TRACE_BYTES = 4 * 1024**3  # traces are streamed line by line
MAX_NODES = 1_000_000  # YAML/JSON nodes after alias expansion
MAX_DEPTH = 64  # nesting levels (a scenario is 3 deep, a sweep grid 4)


def close_names(word: Any, names: Iterable[str], *, n: int = 3, cutoff: float = 0.5) -> list[str]:
    """Up to ``n`` of ``names`` similar to ``word``, best first (difflib ratio >= ``cutoff``)."""
    return difflib.get_close_matches(str(word), list(names), n=n, cutoff=cutoff)


def did_you_mean(word: Any, names: Iterable[str], *, n: int = 3, cutoff: float = 0.5, otherwise: str = "") -> str:
    """'; did you mean 'a' or 'b'?' for the names close to ``word``, else ``otherwise``."""
    close = close_names(word, names, n=n, cutoff=cutoff)
    if close:
        return f"; did you mean {' or '.join(repr(c) for c in close)}?"
    return otherwise


def _model_in(annotation: Any) -> Any:
    """The pydantic model an annotation holds (``X``, ``X | None``, ``Annotated[X, ...]``), else None."""
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _item_type(annotation: Any) -> Any:
    """What a ``dict[K, V]`` or ``list[V]`` (possibly ``| None``) annotation holds: V, else None."""
    import typing

    origin = typing.get_origin(annotation)
    if origin in (dict, list, tuple):
        args = typing.get_args(annotation)
        return args[-1] if args else None
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) in (dict, list):
            return _item_type(arg)
    return None


def valid_names(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """Field names of a pydantic ``model`` valid at ``loc`` (the parent of a bad key), for 'did you mean'.

    ``loc`` walks nested models, optional ones, and the values of dicts and lists of models
    (a dict key or a list index in ``loc`` steps into the value type).
    """
    current: Any = model
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        cls = _model_in(current)
        field = cls.model_fields.get(part) if cls is not None and isinstance(part, str) else None
        if field is not None:
            current = field.annotation
            continue
        item = _item_type(current)
        if item is None:
            return []
        current = item
    cls = _model_in(current) if _item_type(current) is None or isinstance(current, type) else None
    return list(cls.model_fields) if cls is not None else []


def location(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as the path a user reads: ``grid.retrieval.top_k``, ``metrics[0]``.

    A list index is written ``[i]`` after its list (as ``sweep`` files' line maps spell it);
    pydantic's ``[key]`` marker (the error is about a dict key, named just before) is dropped.
    """
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def explain_validation(exc: Any, model: Any, *, unknown: str = "unknown field", root: str = "scenario",
                       otherwise: Callable[[list[str]], str] | None = None, show_input: bool = True) -> list[Problem]:
    """A pydantic ValidationError of ``model`` as located Problems: the one error path of every input.

    An unknown key reads ``PATH: unknown field; did you mean 'x'?`` (``otherwise(names)`` when
    nothing is close); any other error ``PATH: what is wrong (got VALUE)``, at ``root`` when the
    error is about the whole input. A bad key is named by its path and a message that
    shows the value (``bounds must be positive, got [0, 2]``) already says it, so neither is shown twice
    (``show_input`` False: the messages quote their input themselves).
    """
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = location(loc)
        if err["type"] == "extra_forbidden":
            names = valid_names(model, loc[:-1])
            hint = did_you_mean(loc[-1], names, otherwise=otherwise(names) if otherwise and names else "")
            problems.append(Problem(path, f"{unknown}{hint}"))
            continue
        got = err.get("input")
        shown = repr(got) if not isinstance(got, dict) or not got else "a mapping"
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if not loc:  # about the whole input: showing it back says nothing
            problems.append(Problem(root, msg))
            continue
        shows_value = not show_input or loc[-1] == "[key]" or shown in msg  # said once
        problems.append(Problem(path, msg if shows_value else f"{msg} (got {shown})"))
    return problems


def check_readable(path: Path, *, max_bytes: int, what: str = "file") -> os.stat_result:
    """Refuse, with a located message, anything but a regular readable file of bounded size."""
    where = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ScenarioError([Problem(where, "no such file")]) from None
    except OSError as exc:
        raise ScenarioError([Problem(where, f"cannot be read: {exc.strerror or exc}")]) from None
    if stat.S_ISDIR(st.st_mode):
        raise ScenarioError([Problem(where, f"is a directory, not a {what}")])
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a device or special file"
        raise ScenarioError([Problem(where, f"is {kind}, not a regular {what}; copy it to a file first")])
    if not os.access(path, os.R_OK):
        raise ScenarioError([Problem(where, "permission denied (not readable)")])
    if st.st_size > max_bytes:
        raise ScenarioError([Problem(where, f"is {st.st_size:,} bytes; a {what} may be at most {max_bytes:,}")])
    return st


def read_text(path: Path, *, max_bytes: int = MAX_MAPPING_BYTES, what: str = "file") -> str:
    """The file's text, refusing special files, unreadable paths and files over max_bytes."""
    check_readable(path, max_bytes=max_bytes, what=what)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)  # a file may grow between stat and read
    except OSError as exc:
        raise ScenarioError([Problem(str(path), f"cannot be read: {exc.strerror or exc}")]) from None
    if len(raw) > max_bytes:
        raise ScenarioError([Problem(str(path), f"is over {max_bytes:,} bytes, the limit for a {what}")])
    return raw.decode("utf-8", errors="replace")


class _Bounded(yaml.SafeLoader):
    """SafeLoader whose node graph is checked (size, depth, duplicate keys) before construction."""


def _check_yaml_graph(root: yaml.Node, where: str) -> None:
    """Count nodes with aliases expanded (memoised, so the count itself is cheap), check depth and keys."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise ScenarioError([Problem(where, f"nested more than {MAX_DEPTH} levels deep")])
        key = id(node)
        if key in sizes:
            return sizes[key]
        sizes[key] = 1  # provisional: a recursive alias counts once (PyYAML builds it as a cycle)
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if k.value in seen:
                        line = k.start_mark.line + 1
                        raise ScenarioError([Problem(f"{where}:{line}", (
                            f"duplicate key {k.value!r} (first on line {seen[k.value]}); a key may appear once"))])
                    seen[k.value] = k.start_mark.line + 1
                total += size(k, depth + 1) + size(v, depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item, depth + 1)
        if total > MAX_NODES:
            raise ScenarioError([Problem(where, (
                f"expands to more than {MAX_NODES:,} values (YAML aliases repeated inside aliases?)"))])
        sizes[key] = total
        return total

    size(root, 0)


def _json_no_duplicates(where: str):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise ScenarioError([Problem(where, f"duplicate key {k!r}; a key may appear once")])
            out[k] = v
        return out

    return hook


def parse_text(text: str, where: str, *, as_json: bool) -> Any:
    """Parse YAML (safe, bounded) or JSON text; every failure is a ScenarioError located in ``where``."""
    try:
        if as_json:
            return json.loads(text, object_pairs_hook=_json_no_duplicates(where))
        loader = _Bounded(text)
        try:
            root = loader.get_single_node()
            if root is None:
                return None
            _check_yaml_graph(root, where)
            return loader.construct_document(root)
        finally:
            loader.dispose()
    except ScenarioError:
        raise
    except json.JSONDecodeError as exc:
        raise ScenarioError([Problem(f"{where}:{exc.lineno}:{exc.colno}", f"not valid JSON: {exc.msg}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
        what = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([Problem(at, f"not valid YAML: {what}")]) from None
    except RecursionError:
        raise ScenarioError([Problem(where, f"nested too deeply (more than {MAX_DEPTH} levels are refused)")]) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ScenarioError([Problem(where, f"a value cannot be read: {exc}")]) from None


def read_mapping(path: str | Path, *, what: str = "scenario file") -> dict[str, Any]:
    """A YAML or JSON file that must hold a mapping (scenario, sweep file), read within every bound."""
    path = Path(path)
    text = read_text(path, max_bytes=MAX_MAPPING_BYTES, what=what)
    data = parse_text(text, str(path), as_json=path.suffix.lower() == ".json")
    if data is None:
        raise ScenarioError([Problem(str(path), "the file is empty")])
    if not isinstance(data, dict):
        raise ScenarioError([Problem(str(path), f"a {what} must be a mapping of groups, got {type(data).__name__}")])
    return data
