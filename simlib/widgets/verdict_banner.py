"""The dashboard's first line: a banner headed "Verdict" (simlib.verdict), with the
requirement controls that decide it and the points where it would flip.

The banner holds no model logic: the sentence is ``simlib.verdict.verdict(result).sentence``
(the same words as the CLI's ``verdict:`` line), and a change of a requirement control is
handed to ``on_change(changes)`` (dotted scenario paths -> values) for the owner to re-run.
"""

from __future__ import annotations

import html
from typing import Any, Callable

import ipywidgets as W

from simlib.results import RunResult
from simlib.scenario import Requirements, Scenario

# requirement field -> (label, step); a value of 0 in a number box means "no requirement"
REQUIREMENT_CONTROLS: dict[str, tuple[str, float]] = {
    "latency_p95_max_s": ("p95 latency at most (s)", 0.5),
    "ttft_p95_max_s": ("p95 TTFT at most (s)", 0.1),
    "fresh_share_min": ("fresh answers at least (share)", 0.01),
    "quality_min": ("quality proxy at least", 0.05),
    "monthly_budget_max_usd": ("monthly budget at most ($)", 100.0),
}


def requirement_changes(values: dict[str, Any]) -> dict[str, Any]:
    """Control values -> scenario changes: a number box at 0 (or empty) means None (no requirement)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "citations_required":
            out[f"requirements.{name}"] = bool(value)
        else:
            out[f"requirements.{name}"] = None if value in (None, 0, 0.0) else float(value)
    return out


class VerdictBanner(W.VBox):
    """Heading "Verdict", the sentence, requirement controls, and (on demand) the flip points."""

    def __init__(self, result: RunResult, on_change: Callable[[dict[str, Any]], None] | None = None):
        self.on_change = on_change
        self.result = result
        self._loading = False
        self.sentence = W.HTML()
        self.sentence.add_class("simlib-verdict-sentence")
        self.controls: dict[str, W.Widget] = {}
        for name, (text, step) in REQUIREMENT_CONTROLS.items():
            w = W.BoundedFloatText(value=0.0, min=0.0, max=1.0 if name.endswith("_min") else 1e9, step=step,
                                   description=text, style={"description_width": "210px"},
                                   layout=W.Layout(width="330px"))
            self.controls[name] = w
        self.controls["citations_required"] = W.Checkbox(value=False, description="every answer cited",
                                                         indent=False, layout=W.Layout(width="180px"))
        for w in self.controls.values():
            w.observe(self._on_control, names="value")
        self.flips = W.HTML("")
        self.flips.add_class("simlib-verdict-flips")
        self.flip_button = W.Button(description="What would flip it?", layout=W.Layout(width="180px"))
        self.flip_button.on_click(lambda _: self.show_flips())
        self._flip_memo: dict[str, str] = {}
        heading = W.HTML("<div style='font-size:20px;font-weight:bold;margin:2px 0'>Verdict</div>")
        box = W.GridBox(list(self.controls.values()),
                        layout=W.Layout(grid_template_columns="repeat(auto-fill, 340px)", grid_gap="2px 8px"))
        hint = W.HTML("<span style='color:#555555'>Requirements (a box at 0 sets no requirement):</span>")
        super().__init__([heading, self.sentence, hint, box, W.HBox([self.flip_button, self.flips])],
                         layout=W.Layout(border="2px solid #2e7d32", padding="6px 12px", margin="0 0 8px 0"))
        self.add_class("simlib-verdict-banner")
        self.update(result)

    def set_requirements(self, scenario: Scenario) -> None:
        """Show a scenario's requirements in the controls (without re-running)."""
        req: Requirements = scenario.requirements
        self._loading = True
        try:
            for name, w in self.controls.items():
                v = getattr(req, name)
                w.value = bool(v) if name == "citations_required" else (0.0 if v is None else float(v))
        finally:
            self._loading = False

    def changes(self) -> dict[str, Any]:
        """The scenario changes the controls stand for (requirements.* paths)."""
        return requirement_changes({name: w.value for name, w in self.controls.items()})

    def update(self, result: RunResult) -> None:
        """Show the verdict of a new result (flips are searched on demand: a few runs)."""
        from simlib.verdict import verdict

        self.result = result
        v = verdict(result)
        colour = "#2e7d32" if v.winner else "#b23b00"
        self.sentence.value = (f"<div class='simlib-verdict-text' style='font-size:16px;color:{colour}'>"
                               f"{html.escape(v.sentence)}</div>")
        self.set_requirements(result.scenario)
        self.flips.value = self._flip_memo.get(self._key(result), "")

    @staticmethod
    def _key(result: RunResult) -> str:
        from simlib.widgets.common import scenario_key

        return scenario_key(result.scenario)

    def show_flips(self) -> str:
        """Search and show where the verdict changes (simlib.verdict flips) for the result on screen."""
        from simlib.verdict import verdict

        key = self._key(self.result)
        if key not in self._flip_memo:
            text = verdict(self.result, flips=True).flips_sentence()
            self._flip_memo[key] = f"<span style='color:#333'>{html.escape(text)}</span>"
        self.flips.value = self._flip_memo[key]
        return self.flips.value

    def _on_control(self, change: dict[str, Any]) -> None:
        if self._loading or self.on_change is None:
            return
        self.on_change(self.changes())
