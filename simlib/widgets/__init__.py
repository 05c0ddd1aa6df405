"""Notebook widgets: controls bound to scenario fields, charts that update in place.

Widgets sit at the end of the chain (scenario -> engine -> results -> charts -> widgets):
they build scenarios from slider values, run them through a cache, and hand the results
to the chart functions of ``simlib.charts``. Nothing else in ``simlib`` imports them.
"""

from simlib.widgets.common import Control
from simlib.widgets.dashboard import Dashboard
from simlib.widgets.explorer import ScenarioExplorer
from simlib.widgets.questionnaire import Questionnaire
from simlib.widgets.static import render_everywhere

__all__ = ["Control", "Dashboard", "Questionnaire", "ScenarioExplorer", "render_everywhere"]
