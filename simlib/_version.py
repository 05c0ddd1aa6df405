"""The version, in a module of its own so that modules inside the package can read it without
importing the package facade (``simlib/__init__.py``), which would close an import cycle."""

__version__ = "0.1.0"
