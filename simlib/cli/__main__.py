"""``python -m simlib.cli``: the same command line as the ``simlib`` console script."""

import sys

from simlib.cli import main

sys.exit(main())
