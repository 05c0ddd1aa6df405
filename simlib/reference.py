"""The scenario reference (docs/scenario.md), generated from the scenario model itself.

    python -m simlib.reference > docs/scenario.md

A test checks the committed file equals what this prints, so the docs cannot drift.
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from simlib.scenario import Scenario


def _default(field) -> str:
    value = field.default
    if isinstance(value, BaseModel):
        return ""
    if isinstance(value, tuple) and len(value) > 8:
        return f"{len(value)} values"
    return json.dumps(value if not isinstance(value, tuple) else list(value))


_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "length >=", "max_length": "length <="}


def _constraint(meta) -> str:
    for attr, op in _OPS.items():
        if hasattr(meta, attr):
            return f"{op} {getattr(meta, attr)}"
    return str(meta)


def scenario_reference_markdown() -> str:
    from simlib import scenario as sc

    lines = [
        "# Scenario reference",
        "",
        "Generated from `simlib/scenario/schema.py` by `python -m simlib.reference`; do not edit by hand.",
        "A scenario file (YAML or JSON) sets any of these fields; `base: PRESET` starts from a preset.",
        "Units are in the names: `_s` seconds, `_usd` US dollars, `_tokens`, `_per_s`, `_per_day`,",
        "`_share` a fraction in [0, 1], `_per_mtok` per million tokens.",
        "",
        "Every number is finite and bounded (the constraint column); a boolean is not a number.",
        "Only `prompt_cache.ttl_s` may be infinite. Limits relative to the horizon",
        "(`horizon_s = simulation.queries / queries_per_day x 86,400`), checked when the scenario is built:",
        f"the horizon is at most {sc.MAX_HORIZON_S:.3g} s; knowledge changes drawn over the horizon plus the",
        f"look-back (the longest lag or period) at most {sc.MAX_CHANGES_PER_RUN:,}; each periodic process",
        f"(batch re-index, periodic cache rebuild, retraining) fires at most {sc.MAX_PERIODIC_EVENTS_PER_RUN:,} times.",
        "",
    ]
    top = [(n, f) for n, f in Scenario.model_fields.items() if not (isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel))]
    lines += ["## Top level", "", "| field | default | description |", "|---|---|---|"]
    lines += [f"| `{n}` | `{_default(f)}` | {f.description} |" for n, f in top]
    for name, field in Scenario.model_fields.items():
        group = field.annotation
        if not (isinstance(group, type) and issubclass(group, BaseModel)):
            continue
        doc = (group.__doc__ or "").strip().splitlines()[0]
        lines += ["", f"## `{name}`: {doc}", "", "| field | default | constraint | description |", "|---|---|---|---|"]
        for fname, f in group.model_fields.items():
            constraint = ", ".join(_constraint(m) for m in f.metadata) or "-"
            desc = (f.description or "").replace("|", "\\|")
            lines.append(f"| `{name}.{fname}` | `{_default(f)}` | {constraint} | {desc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(scenario_reference_markdown(), end="")
