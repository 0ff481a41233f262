"""`hotmess ...` (thin: parses, calls the library, prints), one module per command group.
Errors a user can fix print one line and exit 2; anything else keeps its traceback."""

# Each module registers its commands on import: this order is `hotmess --help`'s.
from hotmess.cli import catalogue, run, sweep, results, imports, sandboxes, demo  # noqa: I001
from hotmess.cli.app import app, main

__all__ = ["app", "catalogue", "demo", "imports", "main", "results", "run", "sandboxes", "sweep"]
