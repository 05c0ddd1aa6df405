"""Export timing: a deck of every dashboard chart, and one browser per batch vs per chart.

    python benchmarks/bench_export.py                       # docs-assistant, 3 repeats
    python benchmarks/bench_export.py --preset coaching-app --repeats 5

Measures, after one untimed warm-up (imports, first browser start):

* ``deck``: ``simlib.export.write_deck`` for one result: draws every dashboard chart
  (one browser), builds the slides and the native table, saves the .pptx.
* ``batch``: the same charts drawn to PNG in one browser session (what export does).
* ``per chart``: each chart drawn in a browser session of its own (what calling
  ``plotly.io.write_image`` once per chart would do). The ratio per chart / batch is
  the saving from starting the browser once.

The simulation itself is not timed. Needs Chromium (apt-get install chromium).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import simlib
from simlib import export
from simlib.charts.strategies import dashboard_figures


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="docs-assistant")
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    result = simlib.run(simlib.load_preset(args.preset).with_changes({"simulation.queries": args.queries}))
    figures = dashboard_figures(result)
    slide_figs = {k: export._for_slide(f) for k, f in figures.items()}
    w, h = export._chart_box_px()
    browser = export.find_browser()

    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))

        def deck() -> None:
            export.write_deck(result, Path(tmp) / f"deck-{next(counter)}.pptx")

        def batch() -> None:
            export._draw(slide_figs, "png", w, h, export.DECK_IMAGE_SCALE)

        def per_chart() -> None:
            for key, fig in slide_figs.items():
                export._draw({key: fig}, "png", w, h, export.DECK_IMAGE_SCALE)

        deck()  # warm-up
        results = {"deck": timed(deck, args.repeats), "batch": timed(batch, args.repeats),
                   "per chart": timed(per_chart, args.repeats)}
        size_kb = (Path(tmp) / "deck-1.pptx").stat().st_size / 1024

    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"{args.preset}, {args.queries:,} queries; {len(figures)} dashboard charts "
          f"({len(figures) - len(export.DECK_SKIPS)} chart slides + table slide); browser {browser}")
    print(f"{'':<10} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, values in results.items():
        print(f"{name:<10} {med[name]:>9.2f} {min(values):>7.2f} {max(values):>7.2f}")
    print(f"deck size {size_kb:,.0f} kB; per chart / batch = {med['per chart'] / med['batch']:.1f}x "
          f"({len(slide_figs)} charts)")


if __name__ == "__main__":
    main()
