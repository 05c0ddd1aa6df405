"""What a sweep can vary: every scenario field as a dotted path, checked with "did you mean"."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from simlib.errors import Problem
from simlib.scenario import Scenario


# --- field paths and values -------------------------------------------------------------

def field_paths() -> list[str]:
    """Every leaf field of a scenario as a dotted path (what a sweep can vary)."""
    out = []
    for group, f in Scenario.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += [f"{group}.{name}" for name in ann.model_fields]
        else:
            out.append(group)
    return out


def check_path(path: Any, where: str) -> Problem | None:
    """A located problem if ``path`` is not a scenario field, with the closest names."""
    from simlib.loading import did_you_mean

    if not isinstance(path, str):
        return Problem(where, f"a field is named by a dotted path such as 'workload.queries_per_day', got {path!r}")
    paths = field_paths()
    if path in paths:
        return None
    head = path.split(".")[0]
    groups = [p.split(".")[0] for p in paths]
    if head in groups and "." in path:
        names = [p for p in paths if p.startswith(head + ".")]
        hint = did_you_mean(path, names, cutoff=0.6)
    elif head in groups:
        names = [p for p in paths if p.startswith(head + ".")]
        return Problem(where, f"'{path}' is a group; name one of its fields ({', '.join(n.split('.')[1] for n in names[:8])}, ...)")
    else:
        hint = did_you_mean(path, paths, cutoff=0.6)
    return Problem(where, f"unknown field{hint}")


def is_int_field(path: str) -> bool:
    """True if the field at ``path`` holds whole numbers (a sweep rounds its values)."""
    group, _, name = path.partition(".")
    ann = Scenario.model_fields[group].annotation
    f = ann.model_fields.get(name) if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return f is not None and f.annotation is int


def base_value(base: Scenario, path: str) -> Any:
    """The value of the field at a dotted ``path`` in a scenario (a whole group for a group name)."""
    group, _, name = path.partition(".")
    node = getattr(base, group)
    return getattr(node, name) if name else node
