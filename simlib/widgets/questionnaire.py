"""The reference article's decision tree as a questionnaire (``notebooks/05_which_strategy``).

Four yes/no questions and a preset; the answer shows the tree's recommendation and the path
taken, the practical comparison simulated for the user's numbers (the recommended strategy
starred), the simulation's verdict (simlib.verdict) beside the tree's pick with, where they
differ, why in plain words, and each rule of thumb checked against those numbers,
disagreements first.
The logic is in ``simlib.decision``; this module only lays it out.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W

from simlib.charts.strategies import comparison_figure
from simlib.charts.theme import label
from simlib.decision import Answers, Verdict, answers_for, recommend, rule_checks, scenario_for, tree_vs_verdict
from simlib.presets import list_presets
from simlib.scenario import load_preset
from simlib.results import RunResult
from simlib.widgets.common import BackgroundRunner, ResultCache, RunTiming, figure_widget, update_in_place
from simlib.widgets.static import StaticFallback, hide_static_style

QUESTIONS: dict[str, str] = {
    "changing_data": "Does the model need specific data that changes (daily, weekly, monthly)?",
    "citations": "Must answers cite their sources (compliance, audit)?",
    "per_user_data": "Is the data per user or per tenant?",
    "specialised_behaviour": "Does it need a style, format or reasoning its defaults do not give?",
}


class Questionnaire(StaticFallback, W.VBox):
    """Yes/no questions -> recommendation, simulated evidence, and where they disagree.

    The answers start from what the preset already says (``simlib.decision.answers_for``:
    docs-assistant requires citations, so "cite sources" starts at Yes); picking another
    preset answers again from that preset. ``answers`` overrides the start.
    """

    def __init__(self, preset: str = "docs-assistant", *, changes: dict[str, Any] | None = None,
                 answers: Answers | None = None, background: bool = True, cache: ResultCache | None = None):
        self.changes = dict(changes or {})
        self.cache = cache if cache is not None else ResultCache()
        answers = answers or answers_for(self._preset_scenario(preset))
        self._loading = False
        self.questions = {
            key: W.ToggleButtons(options=[("Yes", True), ("No", False)], value=getattr(answers, key),
                                 description="", style={"button_width": "70px"})
            for key in QUESTIONS
        }
        self.preset_picker = W.Dropdown(options=[n for n, _ in list_presets()], value=preset,
                                        description="Numbers from", layout=W.Layout(width="360px"))
        rows = [W.HBox([W.HTML(f"<div style='width:560px;font-size:15px'>{html.escape(q)}</div>"), self.questions[k]])
                for k, q in QUESTIONS.items()]
        self.recommendation = W.HTML()
        self.verdict_text = W.HTML()
        self.verdict_text.add_class("simlib-verdict-text")
        self.checks = W.HTML()
        self.status = W.HTML()
        self.runner = BackgroundRunner(self.cache, self._on_result, None, self._on_error, background=background)
        self.verdict: Verdict | None = None
        result = self.cache.run(self.scenario())
        self.figure = figure_widget(comparison_figure(result, highlight=recommend(self.answers()).strategy), height_px=440)
        self._show(result)
        for w in [*self.questions.values(), self.preset_picker]:
            w.observe(self._on_change, names="value")
        super().__init__([*rows, self.preset_picker, self.status, self.verdict_text, self.recommendation,
                          self.figure, self.checks, hide_static_style()])

    def answers(self) -> Answers:
        return Answers(**{k: w.value for k, w in self.questions.items()})

    def _preset_scenario(self, name: str):
        base = load_preset(name)
        return base.with_changes(self.changes) if self.changes else base

    def scenario(self):
        return scenario_for(self.answers(), self._preset_scenario(self.preset_picker.value))

    def _on_change(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        if change.get("owner") is self.preset_picker:  # a new preset: its own answers first
            start = answers_for(self._preset_scenario(change["new"]))
            self._loading = True
            try:
                for key, w in self.questions.items():
                    w.value = getattr(start, key)
            finally:
                self._loading = False
        self.status.value = "Simulating…"
        self.runner.submit(self.scenario())

    def wait(self, timeout_s: float | None = 60.0) -> bool:
        return self.runner.wait(timeout_s)

    def _on_error(self, exc: BaseException) -> None:
        self.status.value = f"<span style='color:#B00020'>Run failed: {html.escape(str(exc))}</span>"

    def _on_result(self, result: RunResult, timing: RunTiming) -> None:
        update_in_place(self.figure, comparison_figure(result, highlight=recommend(self.answers()).strategy))
        self._show(result)
        self.status.value = ""

    def _show(self, result: RunResult) -> None:
        from simlib.verdict import verdict

        rec = recommend(self.answers())
        self.verdict = rule_checks(result, rec)
        self.sentence = verdict(result).sentence
        self.verdict_text.value = (
            f"<div style='font-size:16px;border:2px solid #2e7d32;padding:6px 10px;margin:6px 0'>"
            f"<b>Verdict</b>: {html.escape(self.sentence)}<br><i>{html.escape(tree_vs_verdict(result, rec))}</i></div>")
        path = "".join(f"<li>{html.escape(step)}</li>" for step in rec.path)
        also = ", ".join(label(s) for s in rec.also_consider)
        self.recommendation.value = (
            f"<div style='font-size:16px'><b>The tree says: {html.escape(label(rec.strategy))}</b> "
            f"(also consider {html.escape(also)}). {html.escape(rec.rule)}<ol>{path}</ol></div>")
        checks = sorted(self.verdict.checks, key=lambda c: {False: 0, None: 1, True: 2}[c.holds])
        items = "".join(
            f"<li style='color:{'#B00020' if c.holds is False else '#1B5E20'}'>{html.escape(c.sentence)}</li>"
            for c in checks)
        n = len(self.verdict.disagreements)
        head = ("The simulated numbers agree with every rule of thumb." if n == 0 else
                f"The simulated numbers disagree with {n} rule{'s' if n > 1 else ''} of thumb for this scenario:")
        self.checks.value = f"<div style='font-size:15px'><b>{head}</b><ul>{items}</ul></div>"
