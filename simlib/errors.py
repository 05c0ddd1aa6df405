"""User-facing errors: every problem located (file, field path, line) and explained.

The CLI turns a :class:`ScenarioError` into a message and exit code 2, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem with the input: where it is and what is wrong with it."""

    location: str  # e.g. "workload.queries_per_day" or "my.yaml:12"
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ScenarioError(ValueError):
    """Bad input: a scenario, preset, trace or sweep that cannot be used as given.

    ``problems`` lists every problem found (not only the first), so a user fixes a file
    in one pass.
    """

    def __init__(self, problems: list[Problem] | str, *, source: str | None = None):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        self.problems = list(problems)
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.source}: " if self.source else ""
        if len(self.problems) == 1:
            return head + str(self.problems[0])
        lines = [f"{head}{len(self.problems)} problems:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)
