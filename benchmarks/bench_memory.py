"""Peak memory of a default dashboard run: does it fit Binder's small machines?

    python benchmarks/bench_memory.py                      # the dashboard's default size
    python benchmarks/bench_memory.py --queries 5000 20000 100000

Each figure comes from a fresh Python process (so nothing else is in its peak), on the
docs-assistant preset, at the size of the dashboard notebook's ``parameters`` cell
(``queries = ...`` in ``notebooks/01_dashboard.ipynb``) unless ``--queries`` says otherwise:

* ``import``: ``import simlib`` plus the widget stack, nothing run (the floor);
* ``run``: ``simlib.run`` on the preset, then its summary table;
* ``dashboard``: what the notebook's cell does, ``Dashboard(...)`` (run, five charts,
  every slider), then one slider moved (one more run, charts updated in place).

Peak RSS is ``ru_maxrss`` of that process, in MB. A Jupyter kernel adds its own ~40 MB
(``scripts/check_binder.py`` reports real kernels' peaks). Target: the dashboard under
500 MB; the exit status is 1 when a dashboard figure misses it.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "notebooks" / "01_dashboard.ipynb"
TARGET_MB = 500

_CHILD = r"""
import json, resource, sys, time
what, preset, queries = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
import simlib
import simlib.widgets
t1 = time.perf_counter()
changes = {"simulation.queries": queries}
if what == "run":
    simlib.run(simlib.load_preset(preset).with_changes(changes)).summary_table()
elif what == "dashboard":
    from simlib.widgets import Dashboard
    board = Dashboard(preset, changes=changes, background=False)
    updates = board.updates
    slider = board.control("retrieval.top_k")
    slider.value = slider.value + 1
    assert board.wait(600) and board.updates == updates + 1, "the slider move did not redraw"
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "work_s": t2 - t1,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def dashboard_default_queries() -> int:
    """``queries`` as assigned in the dashboard notebook's ``parameters`` cell."""
    cells = json.loads(DASHBOARD.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            for node in ast.parse("".join(cell["source"])).body:
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "queries" for t in node.targets):
                    return int(ast.literal_eval(node.value))
    raise SystemExit(f"no `queries = ...` in a parameters cell of {DASHBOARD}")


def measure(what: str, preset: str, queries: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, what, preset, str(queries)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="docs-assistant")
    parser.add_argument("--queries", type=int, nargs="*", help="sizes to measure (default: the dashboard's)")
    args = parser.parse_args()
    sizes = args.queries or [dashboard_default_queries()]

    print(f"preset {args.preset}; peak RSS of a fresh process per row (target: dashboard < {TARGET_MB} MB)")
    print(f"{'what':<10} {'queries':>9} {'import s':>9} {'work s':>8} {'peak RSS MB':>12}")
    missed = False
    floor = measure("import", args.preset, sizes[0])
    print(f"{'import':<10} {'-':>9} {floor['import_s']:>9.1f} {'-':>8} {floor['peak_rss_mb']:>12.0f}")
    for queries in sizes:
        for what in ("run", "dashboard"):
            m = measure(what, args.preset, queries)
            flag = ""
            if what == "dashboard" and m["peak_rss_mb"] >= TARGET_MB:
                missed, flag = True, "  over target"
            print(f"{what:<10} {queries:>9,} {m['import_s']:>9.1f} {m['work_s']:>8.1f} {m['peak_rss_mb']:>12.0f}{flag}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
