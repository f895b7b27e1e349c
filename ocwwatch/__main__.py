"""`python -m ocwwatch`: the same entry point as the `ocwwatch` console script."""

from ocwwatch.cli import entry

entry()
