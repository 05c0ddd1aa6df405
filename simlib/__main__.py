"""``python -m simlib ...``: the same command line as the ``simlib`` script (simlib.cli)."""

import sys

from simlib.cli import main

sys.exit(main())
